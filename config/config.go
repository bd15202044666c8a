// Package config reads the management node's config file: the settings
// that belong to the host rackctl runs on (drivers, watch) rather than to
// the rack. Each setting is also a command-line flag and a RACKCTL_*
// environment variable; the CLI applies them with the precedence
// flag > environment > file > built-in default.
//
// The file is validated like rack.yaml: an embedded CUE schema
// (config.cue) with closed structs, every problem positioned
// file:line:col, secrets only by file reference.
package config

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"cuelang.org/go/cue"

	"github.com/rackctl/rackctl/internal/childenv"
	"github.com/rackctl/rackctl/internal/inputlimit"
	"github.com/rackctl/rackctl/internal/rootfs"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/watch"
)

// DefaultPath is where rackctl looks for its config, relative to --root.
const DefaultPath = "etc/rackctl/config.yaml"

// MaxSize bounds the config file; a real one is a few kilobytes.
const MaxSize = 1 << 20

//go:embed config.cue
var configCUE []byte

// CUE returns the embedded schema.
func CUE() []byte { return append([]byte(nil), configCUE...) }

// Kind is the type of a setting's value.
type Kind int

const (
	String Kind = iota
	Int
	Bool
	Duration
	List
)

// Setting is one setting: its key in the file, the flag that sets it and
// the environment variable derived from the flag's name.
type Setting struct {
	Key  string // path in the file, e.g. "driver.terraform"
	Flag string // flag name, e.g. "terraform"
	Kind Kind
	// Sep splits a list given in the environment (a disruptive window
	// holds commas itself).
	Sep string
	// URL values may carry a credential; it is redacted wherever shown.
	URL bool
}

// Env is the environment variable of the setting: RACKCTL_ and the flag
// name in upper case with "-" as "_".
func (s Setting) Env() string {
	return "RACKCTL_" + strings.ToUpper(strings.ReplaceAll(s.Flag, "-", "_"))
}

// Settings lists every setting, in the order of the file.
var Settings = []Setting{
	{Key: "stateDir", Flag: "state-dir"},
	{Key: "logLevel", Flag: "log-level"},
	{Key: "timeout", Flag: "timeout", Kind: Duration},
	{Key: "parallel", Flag: "parallel", Kind: Int},
	{Key: "kubeconfig", Flag: "kubeconfig"},

	{Key: "driver.dhcp", Flag: "dhcp"},
	{Key: "driver.dnsmasq", Flag: "dnsmasq"},
	{Key: "driver.dnsmasqReloadCmd", Flag: "dnsmasq-reload-cmd"},
	{Key: "driver.dnsmasqLeases", Flag: "dnsmasq-leases"},
	{Key: "driver.dnsmasqInterface", Flag: "dnsmasq-interface"},
	{Key: "driver.dhcpReleasePrefix", Flag: "dhcp-release-prefix"},
	{Key: "driver.driftFix", Flag: "drift-fix"},
	{Key: "driver.bmc", Flag: "bmc"},
	{Key: "driver.provisionerRun", Flag: "provisioner-run"},
	{Key: "driver.terraform", Flag: "terraform"},
	{Key: "driver.terraformrc", Flag: "terraformrc"},
	{Key: "driver.parallelism", Flag: "parallelism", Kind: Int},
	{Key: "driver.lokoctl", Flag: "lokoctl"},
	{Key: "driver.verify", Flag: "verify"},
	{Key: "driver.verifyTimeout", Flag: "verify-timeout", Kind: Duration},
	{Key: "driver.sshKey", Flag: "ssh-key"},
	{Key: "driver.sshProxyCommand", Flag: "ssh-proxy-command"},
	{Key: "driver.passEnv", Flag: "pass-env", Kind: List, Sep: ","},

	{Key: "watch.repo", Flag: "repo", URL: true},
	{Key: "watch.branch", Flag: "branch"},
	{Key: "watch.path", Flag: "path"},
	{Key: "watch.interval", Flag: "interval", Kind: Duration},
	{Key: "watch.fetchTimeout", Flag: "fetch-timeout", Kind: Duration},
	{Key: "watch.verifyKeyring", Flag: "verify-keyring"},
	{Key: "watch.allowedSigners", Flag: "allowed-signers"},
	{Key: "watch.allowNonFastForward", Flag: "allow-non-fast-forward", Kind: Bool},
	{Key: "watch.webhookSecretFile", Flag: "webhook-secret-file"},
	{Key: "watch.repoPasswordFile", Flag: "repo-password-file"},
	{Key: "watch.maxDisruptiveControllers", Flag: "max-disruptive-controllers", Kind: Int},
	{Key: "watch.maxDisruptiveWorkersPercent", Flag: "max-disruptive-workers-percent", Kind: Int},
	{Key: "watch.maxDisruptiveNodesPercent", Flag: "max-disruptive-nodes-percent", Kind: Int},
	{Key: "watch.disruptiveWindows", Flag: "disruptive-window", Kind: List, Sep: ";"},
	{Key: "watch.driftInterval", Flag: "drift-interval", Kind: Duration},
	{Key: "watch.backoffMin", Flag: "backoff-min", Kind: Duration},
	{Key: "watch.backoffMax", Flag: "backoff-max", Kind: Duration},
	{Key: "watch.approvalPoll", Flag: "approval-poll", Kind: Duration},
	{Key: "watch.listen", Flag: "listen"},
	{Key: "watch.httpTimeout", Flag: "http-timeout", Kind: Duration},
	{Key: "watch.statusInterval", Flag: "status-interval", Kind: Duration},
	{Key: "watch.approveTokenFile", Flag: "approve-token-file"},
	{Key: "watch.tlsCertFile", Flag: "tls-cert-file"},
	{Key: "watch.tlsKeyFile", Flag: "tls-key-file"},

	{Key: "web.fleetEndpoints", Flag: "fleet-endpoints"},
	{Key: "web.fleetTimeout", Flag: "fleet-timeout", Kind: Duration},
}

// Value is a setting's value as the file gives it, with its position.
type Value struct {
	Values []string // one element unless the setting is a List
	File   string
	Line   int
	Col    int
}

// Pos is "file:line:col".
func (v Value) Pos() string { return fmt.Sprintf("%s:%d:%d", v.File, v.Line, v.Col) }

// File is a validated config file.
type File struct {
	Path          string
	values        map[string]Value
	notifications []Notification
}

// Lookup returns the value the file gives key.
func (f *File) Lookup(key string) (Value, bool) {
	if f == nil {
		return Value{}, false
	}
	v, ok := f.values[key]
	return v, ok
}

// LoadRoot reads DefaultPath beneath root without following links. A
// missing file is no error: it returns nil.
func LoadRoot(root string) (*File, error) {
	r, err := rootfs.New(root)
	if err != nil {
		return nil, err
	}
	src, _, err := r.ReadFile(DefaultPath, MaxSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(r.HostPath(DefaultPath), src)
}

// Load reads the config file the operator named (--config).
func Load(ctx context.Context, path string) (*File, error) {
	src, err := inputlimit.ReadFile(ctx, path, MaxSize)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, src)
}

// Parse validates src, the content of filename. An invalid file gives
// schema.Errors, every problem positioned.
func Parse(filename string, src []byte) (*File, error) {
	doc, err := schema.ParseDocument(filename, src, "config.cue", configCUE, "#Config")
	if err != nil {
		var diags schema.Errors
		if errors.As(err, &diags) {
			return nil, withoutNullNoise(diags)
		}
		return nil, err
	}
	f := &File{Path: filename, values: make(map[string]Value)}
	var diags schema.Errors
	for _, s := range Settings {
		if !doc.Has(s.Key) {
			continue
		}
		v := doc.Value.LookupPath(cue.ParsePath(s.Key))
		vals, err := scalars(s, v)
		if err != nil {
			return nil, fmt.Errorf("config %s: %w", s.Key, err)
		}
		if msg := check(s, vals); msg != "" {
			diags = append(diags, doc.Diagnostic(s.Key, msg))
			continue
		}
		d := doc.Diagnostic(s.Key, "")
		f.values[s.Key] = Value{Values: vals, File: d.File, Line: d.Line, Col: d.Col}
	}
	notes, ndiags, err := parseNotifications(doc)
	if err != nil {
		return nil, err
	}
	f.notifications = notes
	if diags = append(diags, ndiags...); len(diags) > 0 {
		return nil, diags
	}
	return f, nil
}

// withoutNullNoise drops the complaint of a section's null alternative
// (a section whose lines are all commented out is null) when the section
// is a mapping with problems of its own, reported beside it.
func withoutNullNoise(diags schema.Errors) schema.Errors {
	var out schema.Errors
	for _, d := range diags {
		if d.Message != "want null, got a mapping" {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return diags
	}
	return out
}

// scalars turns a validated value into the strings its flag takes.
func scalars(s Setting, v cue.Value) ([]string, error) {
	switch s.Kind {
	case Int:
		n, err := v.Int64()
		return []string{strconv.FormatInt(n, 10)}, err
	case Bool:
		b, err := v.Bool()
		return []string{strconv.FormatBool(b)}, err
	case List:
		it, err := v.List()
		if err != nil {
			return nil, err
		}
		out := []string{}
		for it.Next() {
			e, err := it.Value().String()
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, nil
	default:
		str, err := v.String()
		return []string{str}, err
	}
}

// check holds the rules CUE cannot say; "" when vals are fine.
func check(s Setting, vals []string) string {
	switch {
	case s.Kind == Duration:
		if _, err := time.ParseDuration(vals[0]); err != nil {
			return fmt.Sprintf("%q is not a duration (want e.g. 30s, 5m or 1h30m)", vals[0])
		}
	case s.Flag == "disruptive-window":
		for _, w := range vals {
			if _, err := watch.ParseWindow(w); err != nil {
				return err.Error()
			}
		}
	case s.Flag == "pass-env":
		if err := childenv.CheckPass(vals); err != nil {
			return strings.TrimPrefix(err.Error(), "--pass-env ")
		}
	}
	return ""
}
