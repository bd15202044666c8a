// Package childenv builds the environment of the programs rackctl starts:
// terraform, lokoctl and the dnsmasq commands (check, reload, release).
//
// rackctl runs as root and may hold the BMC password in its own environment
// (RACKCTL_BMC_PASSWORD). A child inherits nothing by default: it gets the
// variables a Policy names, the ones the operator passes on by name
// (--pass-env), and the ones its caller sets explicitly. Variables that hold
// rackctl's own secrets are never passed on, whatever asks for them.
package childenv

import (
	"fmt"
	"slices"
	"strings"
)

// Policy names what one kind of child may receive from rackctl's
// environment.
type Policy struct {
	// Names are variables passed on when set.
	Names []string
	// Prefixes pass on every variable whose name starts with one of them.
	Prefixes []string
}

// Common is what every child gets when rackctl has it: the search path, the
// user and locale, temp dir, and the proxy and CA settings a program that
// reaches the network needs.
var Common = Policy{
	Names: []string{
		"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "NO_COLOR",
		"LANG", "LANGUAGE", "TZ", "TMPDIR",
		"http_proxy", "https_proxy", "no_proxy", "all_proxy",
		"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
		"SSL_CERT_FILE", "SSL_CERT_DIR",
	},
	Prefixes: []string{"LC_"},
}

// Terraform adds terraform's own settings (TF_CLI_CONFIG_FILE,
// TF_PLUGIN_CACHE_DIR, TF_DATA_DIR, TF_VAR_*; terraform-exec drops the ones
// it manages) and CHECKPOINT_DISABLE.
var Terraform = Policy{
	Names:    []string{"CHECKPOINT_DISABLE"},
	Prefixes: []string{"TF_"},
}

// Lokoctl adds what lokoctl reads: KUBECONFIG, terraform's settings (it
// runs terraform inside) and the SSH agent Lokomotive's bare-metal module
// copies assets to the controllers with.
var Lokoctl = Policy{
	Names:    []string{"KUBECONFIG", "CHECKPOINT_DISABLE", "SSH_AUTH_SOCK"},
	Prefixes: []string{"TF_"},
}

// DHCP adds what the usual reload and release commands need to reach
// dnsmasq: systemd's bus (systemctl) and a container engine's socket
// (docker exec / podman exec on a Racker node).
var DHCP = Policy{
	Names: []string{
		"DBUS_SYSTEM_BUS_ADDRESS", "XDG_RUNTIME_DIR",
		"DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY",
		"CONTAINER_HOST", "CONTAINERS_CONF",
	},
}

// SSHProxy adds what a proxy command that reaches the nodes needs: the
// SSH agent, for a jump host (ssh -W %h:%p bastion).
var SSHProxy = Policy{Names: []string{"SSH_AUTH_SOCK"}}

// Secret reports whether name holds one of rackctl's secrets: the BMC
// credentials and any RACKCTL_ variable named like a password, token or
// secret. Such a variable never reaches a child.
func Secret(name string) bool {
	up := strings.ToUpper(name)
	rest, ok := strings.CutPrefix(up, "RACKCTL_")
	if !ok {
		return false
	}
	if strings.HasPrefix(rest, "BMC_") {
		return true
	}
	for _, w := range []string{"PASSWORD", "PASSWD", "SECRET", "TOKEN", "KEY", "CREDENTIAL"} {
		if strings.Contains(rest, w) {
			return true
		}
	}
	return false
}

// CheckPass refuses pass-through names that are empty, malformed or
// secrets; the error names the first one.
func CheckPass(names []string) error {
	for _, n := range names {
		if n == "" || strings.ContainsAny(n, "= \t\n\x00") {
			return fmt.Errorf("--pass-env %q: not a variable name", n)
		}
		if Secret(n) {
			return fmt.Errorf("--pass-env %s: rackctl's own secrets are never passed on to other programs", n)
		}
	}
	return nil
}

// allows reports whether the policy (with Common) lets name through.
func (p Policy) allows(name string, pass []string) bool {
	if Secret(name) {
		return false
	}
	for _, q := range []Policy{Common, p} {
		if slices.Contains(q.Names, name) {
			return true
		}
		for _, pre := range q.Prefixes {
			if strings.HasPrefix(name, pre) {
				return true
			}
		}
	}
	return slices.Contains(pass, name)
}

// Filter returns the entries of environ ("NAME=value", as os.Environ
// gives them) that the policy, Common or pass let through, in their order.
// Secrets are dropped even when pass names them.
func (p Policy) Filter(environ, pass []string) []string {
	var out []string
	for _, kv := range environ {
		name, _, ok := strings.Cut(kv, "=")
		if ok && name != "" && p.allows(name, pass) {
			out = append(out, kv)
		}
	}
	return out
}

// Map is Filter as a map, for APIs that take one (terraform-exec).
func (p Policy) Map(environ, pass []string) map[string]string {
	m := make(map[string]string)
	for _, kv := range p.Filter(environ, pass) {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}
