package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/rackctl/rackctl/render"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/terraform"
)

// cluster is what provision reads of the cluster block, evaluated as
// lokoctl would (var.* from the vars file, file() relative to the
// configuration directory).
type cluster struct {
	AssetDir          string              `json:"asset_dir"`
	SSHPubKeys        []string            `json:"ssh_pubkeys"`
	CachedInstall     bool                `json:"cached_install"`
	SmallestDisk      bool                `json:"install_to_smallest_disk"`
	CA                string              `json:"matchbox_ca_path"`
	ClientCert        string              `json:"matchbox_client_cert_path"`
	ClientKey         string              `json:"matchbox_client_key_path"`
	Endpoint          string              `json:"matchbox_endpoint"`
	HTTPEndpoint      string              `json:"matchbox_http_endpoint"`
	ControllerNames   []string            `json:"controller_names"`
	ControllerMACs    []string            `json:"controller_macs"`
	WorkerNames       []string            `json:"worker_names"`
	WorkerMACs        []string            `json:"worker_macs"`
	CLCSnippets       map[string][]string `json:"clc_snippets"`
	InstallerSnippets map[string][]string `json:"installer_clc_snippets"`
	KernelConsole     []string            `json:"kernel_console"`
	KernelArgs        []string            `json:"kernel_args"`
	PreRebootCmds     string              `json:"install_pre_reboot_cmds"`
}

// provision does what lokoctl's bare-metal module does with matchbox,
// through terraform (binary tf) and rackctl's own module, which follows
// the same contract: per node an install profile until its flag file
// <asset_dir>/cluster-assets/<mac> exists, then its final profile. The
// terraform working directory is <asset_dir>/terraform, as lokoctl's.
func provision(tf, cfgDir, varsFile string) error {
	c, err := readCluster(cfgDir, varsFile)
	if err != nil {
		return err
	}
	assets := c.AssetDir
	if !filepath.IsAbs(assets) {
		assets = filepath.Join(cfgDir, assets)
	}
	// terraform runs in another directory: every path it gets is absolute.
	if assets, err = filepath.Abs(assets); err != nil {
		return err
	}
	work := filepath.Join(assets, "terraform")
	if err := writeModule(filepath.Join(work, "modules")); err != nil {
		return err
	}
	names := append(append([]string{}, c.ControllerNames...), c.WorkerNames...)
	macs := append(append([]string{}, c.ControllerMACs...), c.WorkerMACs...)
	if len(names) != len(macs) {
		return fmt.Errorf("%d node names but %d MACs", len(names), len(macs))
	}
	ign, inst := map[string]string{}, map[string]string{}
	for _, name := range names {
		final, installer, err := render.LokoctlIgnition(render.LokoctlNode{
			Domain: name, SSHKeys: c.SSHPubKeys,
			Snippets: contents(c.CLCSnippets[name]), InstallerSnippets: contents(c.InstallerSnippets[name]),
		}, schema.Install{CachedInstall: c.CachedInstall, InstallToSmallestDisk: c.SmallestDisk, InstallPreRebootCmds: c.PreRebootCmds},
			schema.Matchbox{HTTPEndpoint: c.HTTPEndpoint})
		if err != nil {
			return err
		}
		ign[name], inst[name] = "ignition/"+name+".ign", "ignition/"+name+"-installer.ign"
		for p, b := range map[string][]byte{ign[name]: final, inst[name]: installer} {
			if err := writeFile(filepath.Join(work, p), b); err != nil {
				return err
			}
		}
	}
	file := func(p string) string { b, _ := json.Marshal(p); return "${file(" + string(b) + ")}" }
	main := map[string]any{
		"terraform": map[string]any{"required_providers": map[string]any{
			"matchbox": map[string]any{"source": "poseidon/matchbox"},
		}},
		"module": map[string]any{"cluster": map[string]any{
			"source":                 "./modules/flatcar-baremetal",
			"matchbox_http_endpoint": c.HTTPEndpoint,
			"asset_dir":              filepath.Join(assets, "cluster-assets"),
			"node_names":             names, "node_macs": macs,
			"ignition": ign, "installer_ignition": inst,
			"kernel_console": orEmpty(c.KernelConsole), "kernel_args": orEmpty(c.KernelArgs),
			"install_to_smallest_disk": c.SmallestDisk, "cached_install": c.CachedInstall,
		}},
		"provider": map[string]any{"matchbox": map[string]any{
			"endpoint": c.Endpoint, "client_cert": file(c.ClientCert), "client_key": file(c.ClientKey), "ca": file(c.CA),
		}},
	}
	b, err := json.MarshalIndent(main, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(work, "main.tf.json"), b); err != nil {
		return err
	}
	for _, args := range [][]string{{"init", "-input=false", "-no-color"}, {"apply", "-auto-approve", "-input=false", "-no-color"}} {
		cmd := exec.Command(tf, args...)
		cmd.Dir, cmd.Stdout, cmd.Stderr = work, os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("terraform %s: %w", args[0], err)
		}
	}
	return nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func contents(s []string) [][]byte {
	out := make([][]byte, len(s))
	for i, c := range s {
		out[i] = []byte(c)
	}
	return out
}

func writeFile(p string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o644)
}

func writeModule(dir string) error {
	return fs.WalkDir(terraform.Modules, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := terraform.Modules.ReadFile(p)
		if err != nil {
			return err
		}
		return writeFile(filepath.Join(dir, p), b)
	})
}

// readCluster evaluates the cluster block of cfgDir/baremetal.lokocfg.
func readCluster(cfgDir, varsFile string) (cluster, error) {
	var c cluster
	vars, err := attrs(varsFile, nil)
	if err != nil {
		return c, err
	}
	src, err := os.ReadFile(filepath.Join(cfgDir, "baremetal.lokocfg"))
	if err != nil {
		return c, err
	}
	f, diags := hclsyntax.ParseConfig(src, "baremetal.lokocfg", hcl.InitialPos)
	if diags.HasErrors() {
		return c, diags
	}
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)},
		Functions: map[string]function.Function{"file": fileFunc(cfgDir)},
	}
	out := map[string]json.RawMessage{}
	for _, b := range f.Body.(*hclsyntax.Body).Blocks {
		if b.Type != "cluster" {
			continue
		}
		for name, a := range b.Body.Attributes {
			v, diags := a.Expr.Value(ctx)
			if diags.HasErrors() {
				return c, fmt.Errorf("cluster.%s: %w", name, diags)
			}
			raw, err := ctyjson.Marshal(v, v.Type())
			if err != nil {
				return c, fmt.Errorf("cluster.%s: %w", name, err)
			}
			out[name] = raw
		}
	}
	if len(out) == 0 {
		return c, errors.New("baremetal.lokocfg has no cluster block")
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return c, err
	}
	return c, json.Unmarshal(raw, &c)
}

// attrs evaluates the top-level attributes of an HCL file.
func attrs(path string, ctx *hcl.EvalContext) (map[string]cty.Value, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, diags := hclsyntax.ParseConfig(src, filepath.Base(path), hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	out := map[string]cty.Value{}
	for name, a := range f.Body.(*hclsyntax.Body).Attributes {
		v, diags := a.Expr.Value(ctx)
		if diags.HasErrors() {
			return nil, fmt.Errorf("%s: %s: %w", path, name, diags)
		}
		out[name] = v
	}
	return out, nil
}

// fileFunc is HCL's file(): a path relative to dir.
func fileFunc(dir string) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return cty.NilVal, err
			}
			return cty.StringVal(string(b)), nil
		},
	})
}
