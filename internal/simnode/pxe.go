package simnode

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/coreos/ignition/v2/config/v3_4"
	"github.com/coreos/ignition/v2/config/v3_4/types"
)

// maxFetch bounds what a node reads from one URL: configs and scripts are
// small, and a runaway server must not exhaust the test's memory.
const maxFetch = 8 << 20

// ErrBadIgnition is wrapped by errors about an Ignition config the node
// refuses (empty, unparsable, invalid for its spec).
var ErrBadIgnition = errors.New("invalid Ignition config")

// rewrite maps u through cfg.Rewrite (longest prefix first).
func (n *Node) rewrite(u string) string {
	best := ""
	for from := range n.cfg.Rewrite {
		if strings.HasPrefix(u, from) && len(from) > len(best) {
			best = from
		}
	}
	if best == "" {
		return u
	}
	return n.cfg.Rewrite[best] + u[len(best):]
}

// fetch GETs u (after rewriting) and returns a 200 body.
func (n *Node) fetch(ctx context.Context, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	real := n.rewrite(u)
	pu, err := url.Parse(real)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") {
		return nil, fmt.Errorf("fetch %s: not an http(s) URL", u)
	}
	if err := onLoopback(pu); err != nil {
		return nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, real, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxFetch+1))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch %s: %s: %s", u, resp.Status, strings.TrimSpace(string(b[:min(len(b), 200)])))
	}
	if len(b) > maxFetch {
		return nil, fmt.Errorf("fetch %s: more than %d bytes", u, maxFetch)
	}
	return b, nil
}

// onLoopback refuses a URL off loopback: the node fetches from the test's
// own namespace, where only loopback is the simulation's and nothing else
// may be touched (an unmapped URL names the management node).
func onLoopback(u *url.URL) error {
	h := u.Hostname()
	if h == "localhost" {
		return nil
	}
	if a, err := netip.ParseAddr(h); err == nil && a.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s is not on loopback, where the simulation serves: map it with Config.Rewrite", u.Host)
}

// ipxeVars are the iPXE settings a script may expand.
func (n *Node) ipxeVars() map[string]string {
	mac := n.cfg.Net.MAC
	return map[string]string{
		"uuid": n.cfg.UUID, "mac": mac, "mac:hexhyp": strings.ReplaceAll(mac, ":", "-"),
		"net0/mac": mac, "mac:hexraw": strings.ReplaceAll(mac, ":", ""),
	}
}

// expand replaces ${name} with iPXE settings; unknown settings expand to
// nothing, as in iPXE.
func expand(s string, vars map[string]string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(vars[s[i+2:i+j]])
		s = s[i+j+1:]
	}
}

// kernelBoot is what an iPXE script boots.
type kernelBoot struct {
	Kernel string
	Args   []string
}

// Arg returns the value of kernel argument key= ("" and false if absent).
func (k kernelBoot) Arg(key string) (string, bool) {
	for _, a := range k.Args {
		if v, ok := strings.CutPrefix(a, key+"="); ok {
			return v, true
		}
	}
	return "", false
}

// maxChain bounds iPXE chain loading (a script chaining to itself).
const maxChain = 8

// ipxe fetches the script at u and follows chain commands until one boots
// a kernel.
func (n *Node) ipxe(ctx context.Context, u string) (kernelBoot, error) {
	vars := n.ipxeVars()
	for range maxChain {
		body, err := n.fetch(ctx, u)
		if err != nil {
			return kernelBoot{}, fmt.Errorf("iPXE: %w", err)
		}
		k, next, err := parseIPXE(string(body), vars)
		if err != nil {
			return kernelBoot{}, fmt.Errorf("iPXE script %s: %w", u, err)
		}
		if next == "" {
			if k.Kernel, err = resolve(u, k.Kernel); err != nil {
				return kernelBoot{}, fmt.Errorf("iPXE script %s: kernel: %w", u, err)
			}
			return k, nil
		}
		if u, err = resolve(u, next); err != nil {
			return kernelBoot{}, fmt.Errorf("iPXE script %s: chain: %w", u, err)
		}
		n.logf("iPXE: chain %s", u)
	}
	return kernelBoot{}, fmt.Errorf("iPXE: more than %d chained scripts", maxChain)
}

func resolve(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	r, err := url.Parse(ref)
	if err != nil {
		return "", err
	}
	return b.ResolveReference(r).String(), nil
}

// parseIPXE reads the commands of an iPXE script this simulation knows:
// chain (returned as next), kernel/imgexec with arguments, initrd, boot.
func parseIPXE(script string, vars map[string]string) (k kernelBoot, next string, err error) {
	sc := bufio.NewScanner(strings.NewReader(script))
	first := true
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if first {
			first = false
			if line != "#!ipxe" {
				return k, "", fmt.Errorf("first line %q, want #!ipxe", line)
			}
			continue
		}
		f := strings.Fields(expand(line, vars))
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "chain", "chainload":
			if args := skipOpts(f[1:]); len(args) > 0 {
				return k, args[0], nil
			}
			return k, "", errors.New("chain without a URL")
		case "kernel", "imgexec":
			args := skipOpts(f[1:])
			if len(args) == 0 {
				return k, "", fmt.Errorf("%s without an image", f[0])
			}
			k.Kernel, k.Args = args[0], args[1:]
		case "boot":
			if k.Kernel == "" {
				return k, "", errors.New("boot without a kernel")
			}
			return k, "", nil
		}
	}
	if err := sc.Err(); err != nil {
		return k, "", err
	}
	if k.Kernel == "" {
		return k, "", errors.New("boots nothing (no kernel)")
	}
	return k, "", nil
}

func skipOpts(f []string) []string {
	for len(f) > 0 && strings.HasPrefix(f[0], "--") {
		f = f[1:]
	}
	return f
}

// parseIgnition parses and validates raw as Ignition spec 3.x (what
// matchbox serves raw); empty, unparsable or invalid configs wrap
// ErrBadIgnition.
func parseIgnition(raw []byte) (types.Config, error) {
	if len(strings.TrimSpace(string(raw))) == 0 {
		return types.Config{}, fmt.Errorf("%w: empty", ErrBadIgnition)
	}
	cfg, rpt, err := v3_4.ParseCompatibleVersion(raw)
	if err != nil {
		msg := err.Error()
		if !rpt.IsFatal() {
			return types.Config{}, fmt.Errorf("%w: %s", ErrBadIgnition, msg)
		}
		return types.Config{}, fmt.Errorf("%w: %s: %s", ErrBadIgnition, msg, strings.TrimSpace(rpt.String()))
	}
	return cfg, nil
}

// ignition fetches the config at u, through the stale-config cache, and
// parses it.
func (n *Node) ignition(ctx context.Context, u string) (types.Config, []byte, error) {
	raw, err := n.fetch(ctx, u)
	if err != nil {
		return types.Config{}, nil, fmt.Errorf("fetch the Ignition config: %w", err)
	}
	key := sha256.Sum256([]byte(u))
	name := "ign-" + hex.EncodeToString(key[:8])
	if old, ok := n.disk.cached(name); ok && n.Knobs().StaleConfig {
		n.logf("Ignition: using the stale config first fetched from %s", u)
		raw = old
	} else if !ok {
		n.disk.cache(name, raw)
	}
	cfg, err := parseIgnition(raw)
	if err != nil {
		n.logf("Ignition invalid: %v", err)
		return types.Config{}, nil, err
	}
	sum := sha256.Sum256(raw)
	n.logf("Ignition ok: %s (sha256 %s, %d files, %d units)", u, hex.EncodeToString(sum[:6]), len(cfg.Storage.Files), len(cfg.Systemd.Units))
	return cfg, raw, nil
}
