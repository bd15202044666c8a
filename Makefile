# rackctl — see README.md. Every target works on a fresh Debian machine with Go.
SHELL := /bin/bash
GO ?= go
export GONOSUMDB := github.com/bmc-toolbox
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN := bin/rackctl

.PHONY: all build deps tools kube-tools test test-short bench fuzz lint examples demo demo-down clean

all: build

# The released binary: without the build tag rackctl_testhooks, so the
# test-only RACKCTL_TEST_PAUSE_PHASE hook is not in it.
build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/rackctl

# Debian packages the tests and the demo run for real (ipmi_sim, ipmitool,
# dnsmasq, dhcp_release, busybox udhcpc, ip, sushy and redfishtool for the
# simulated Redfish BMC, promtool from Debian's prometheus for the alert
# rules' tests), then the pinned Go tools.
deps:
	bash scripts/install-deps.sh
	bash scripts/build-tools.sh

tools:
	bash scripts/build-tools.sh

# The Kubernetes control plane the cluster tests start (kube-apiserver and
# kube-controller-manager v1.37.2, etcd v3.7.0), built from tools/kube into
# a cache outside the repository ($$RACKCTL_KUBE_CACHE, default
# /var/cache/rackctl/kube-v1.37.2-etcd-v3.7.0): seconds when cached, about
# 15 minutes cold on 2 cores. Tests never build it; they fail naming this.
kube-tools:
	bash scripts/build-kube.sh

# All tests, against the real programs. Needs root for network namespaces.
test: deps kube-tools build examples
	$(GO) test -count=1 -timeout 30m ./...

# The packages whose tests start no real programs (no simulators,
# namespaces, dnsmasq or terraform): quick feedback while editing.
test-short:
	$(GO) test ./schema ./render ./ipam ./reconcile ./racker ./watch ./internal/atomicfile

examples: build
	bash scripts/check-examples.sh

bench: deps build
	bash scripts/bench.sh

# Each parser of untrusted input; found cases go to testdata/fuzz and stay
# as regression tests.
FUZZTIME ?= 60s
fuzz:
	$(GO) test ./schema -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./dhcp -run '^$$' -fuzz '^FuzzParseLeases$$' -fuzztime $(FUZZTIME)
	$(GO) test ./render -run '^$$' -fuzz '^FuzzSameMeaning$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/inputlimit -run '^$$' -fuzz '^FuzzHCLDepthGuard$$' -fuzztime $(FUZZTIME)
	$(GO) test ./racker -run '^$$' -fuzz '^FuzzParseHCLSafe$$' -fuzztime $(FUZZTIME)

lint:
	@out=$$(gofmt -l . | grep -v '^tools/'); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags rackctl_testhooks ./cmd/rackctl
	@if [ -x tools/bin/staticcheck ]; then tools/bin/staticcheck ./...; else echo "staticcheck not built (make tools)"; fi

demo: deps build
	bash scripts/demo.sh

demo-down:
	bash scripts/demo.sh down

clean:
	rm -rf bin
