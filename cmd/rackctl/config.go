package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rackctl/rackctl/config"
	"github.com/rackctl/rackctl/internal/termtext"
	"github.com/rackctl/rackctl/notify"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/source"
)

// Where a setting's value came from, strongest first.
const (
	fromFlag    = "flag"
	fromEnv     = "env"
	fromFile    = "file"
	fromDefault = "default"
)

// origin is where one setting of the running command came from.
type origin struct {
	Source string // fromFlag, fromEnv, fromFile or fromDefault
	Where  string // --flag, RACKCTL_X or file:line:col
}

// noConfigAnnotation marks a command that must not read the config file
// (init writes it, and must work when the file there is broken).
const noConfigAnnotation = "rackctl/no-config"

// envName is the environment variable of a flag that is no setting of
// the file (--root, --config).
func envName(flag string) string {
	return config.Setting{Flag: flag}.Env()
}

// applyConfig fills every flag the command line left unset from its
// RACKCTL_* variable, else from the config file, and records where each
// setting came from: flag > environment > file > default, as kubectl and
// terraform users expect. Values from the environment and the file go
// through the flag's own parser, so they are checked as flags are.
func (g *globals) applyConfig(cmd *cobra.Command) error {
	fs := cmd.Flags()
	g.origins = make(map[string]origin)
	// --root and --config say where the file is: flag or environment only.
	for _, name := range []string{"root", "config"} {
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		if f.Changed {
			g.origins[name] = origin{fromFlag, "--" + name}
			continue
		}
		if v, ok := os.LookupEnv(envName(name)); ok {
			if err := fs.Set(name, v); err != nil {
				return fmt.Errorf("%s=%q: %w", envName(name), v, err)
			}
			g.origins[name] = origin{fromEnv, envName(name)}
			continue
		}
		g.origins[name] = origin{fromDefault, ""}
	}

	var file *config.File
	if cmd.Annotations[noConfigAnnotation] == "" {
		var err error
		if g.configFile != "" {
			file, err = config.Load(cmd.Context(), g.configFile)
		} else {
			file, err = config.LoadRoot(g.root)
		}
		if err != nil {
			var diags schema.Errors
			if errors.As(err, &diags) {
				fmt.Fprintf(g.stderr, "config %s is not valid (%d problem%s):\n", diags[0].File, len(diags), plural(len(diags)))
				for _, d := range diags {
					fmt.Fprintf(g.stderr, "  %s\n", d)
				}
				return exitCodeError{exitError}
			}
			return fmt.Errorf("%w (fix the file, choose another with --config, or move it away)", err)
		}
		if file != nil {
			g.configPath = file.Path
			g.notifications = file.Notifications()
		}
	}

	for _, s := range config.Settings {
		f := fs.Lookup(s.Flag)
		if f == nil {
			continue // not a setting of this command
		}
		if f.Changed {
			g.origins[s.Flag] = origin{fromFlag, "--" + s.Flag}
			continue
		}
		if v, ok := os.LookupEnv(s.Env()); ok {
			vals := []string{v}
			if s.Kind == config.List {
				vals = splitList(v, s.Sep)
			}
			if err := setFlag(fs, s, vals); err != nil {
				return fmt.Errorf("%s=%q: %w", s.Env(), redactSetting(s, v), err)
			}
			g.origins[s.Flag] = origin{fromEnv, s.Env()}
			continue
		}
		if v, ok := file.Lookup(s.Key); ok {
			if err := setFlag(fs, s, v.Values); err != nil {
				return fmt.Errorf("%s: %s: %w", v.Pos(), s.Key, err)
			}
			g.origins[s.Flag] = origin{fromFile, v.Pos()}
			continue
		}
		g.origins[s.Flag] = origin{fromDefault, ""}
	}
	return nil
}

// setFlag gives the flag of s the values vals; a list replaces the
// flag's default with its first element and appends the others (no
// element of a comma-split list holds a comma: the config schema and
// --pass-env's own check refuse one in a variable name).
func setFlag(fs *pflag.FlagSet, s config.Setting, vals []string) error {
	if s.Kind == config.List && len(vals) == 0 {
		if sv, ok := fs.Lookup(s.Flag).Value.(pflag.SliceValue); ok {
			return sv.Replace(nil)
		}
	}
	for _, v := range vals {
		if err := fs.Set(s.Flag, v); err != nil {
			return err
		}
	}
	return nil
}

func splitList(v, sep string) []string {
	var out []string
	for _, e := range strings.Split(v, sep) {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// redactSetting hides a credential a URL setting carries.
func redactSetting(s config.Setting, v string) string {
	if s.URL {
		return source.RedactURL(v)
	}
	return v
}

func newConfigCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show the management node's settings",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newConfigViewCmd(g))
	return cmd
}

// settingView is one setting as `config view -o json` shows it.
type settingView struct {
	Key    string `json:"key"`
	Flag   string `json:"flag"`
	Env    string `json:"env"`
	Value  any    `json:"value"`
	Source string `json:"source"`
	Where  string `json:"where,omitempty"`
}

type configView struct {
	ConfigFile string        `json:"configFile"`
	Found      bool          `json:"configFileFound"`
	Settings   []settingView `json:"settings"`
	// The BMC credentials in the environment: shown as set or not, never
	// their value.
	BMCCredentialsFromEnv bool `json:"bmcCredentialsFromEnv"`
	// Notifications are the file's targets: the files that hold URLs and
	// secrets are named, never read.
	Notifications []notificationView `json:"notifications"`
}

// notificationView is one notification target in `config view`.
type notificationView struct {
	Name       string   `json:"name"`
	Kind       string   `json:"kind"`
	URLFile    string   `json:"urlFile,omitempty"`
	SecretFile string   `json:"secretFile,omitempty"`
	Command    []string `json:"command,omitempty"`
	Events     []string `json:"events"` // the effective filter
	Timeout    string   `json:"timeout"`
	Where      string   `json:"where"`
}

func notificationViews(ns []config.Notification) []notificationView {
	out := []notificationView{}
	for _, n := range ns {
		v := notificationView{Name: n.Name, Kind: string(n.Kind), URLFile: n.URLFile, SecretFile: n.SecretFile,
			Command: n.Command, Timeout: cmp.Or(n.Timeout, notify.DefaultTimeout).String(), Where: n.Pos()}
		evs := n.Events
		if len(evs) == 0 {
			evs = notify.DefaultKinds()
		}
		for _, e := range evs {
			v.Events = append(v.Events, string(e))
		}
		out = append(out, v)
	}
	return out
}

// printNotifications is the human form: a URL shows as the file that
// holds it.
func printNotifications(w io.Writer, ns []notificationView) error {
	if len(ns) == 0 {
		fmt.Fprintln(w, "\nnotifications: none")
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NOTIFICATION\tKIND\tSENDS TO\tSIGNED\tEVENTS\tTIMEOUT\tSOURCE")
	for _, n := range ns {
		to := "URL in " + n.URLFile + " (not shown)"
		if n.Kind == string(notify.KindCommand) {
			to = strings.Join(n.Command, " ")
		}
		signed := "no"
		if n.SecretFile != "" {
			signed = "key in " + n.SecretFile
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\tfile %s\n", termtext.Cell(n.Name), n.Kind, termtext.Cell(to),
			termtext.Cell(signed), strings.Join(n.Events, ","), n.Timeout, termtext.Cell(n.Where))
	}
	return tw.Flush()
}

func newConfigViewCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "view",
		Short: "Print the effective settings and where each came from",
		Long: `view prints every setting of the management node config with its effective
value and where it came from: flag, env (RACKCTL_*), file (file:line:col) or
default. It takes the driver and watch flags too, so a command line can be
checked before it is run. A credential in the repository URL is redacted;
secrets are never part of the config (only the files that hold them).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.configView(cmd)
		},
	}
	// Every driver and watch setting is a flag here as well.
	settingFlags(cmd.Flags(), newWatchCmd(g).Flags())
	return cmd
}

// settingFlags adds to dst the flags of src that are config settings.
func settingFlags(dst, src *pflag.FlagSet) {
	for _, s := range config.Settings {
		if f := src.Lookup(s.Flag); f != nil && dst.Lookup(s.Flag) == nil {
			dst.AddFlag(f)
		}
	}
}

func (g *globals) configView(cmd *cobra.Command) error {
	v := configView{ConfigFile: g.configPath, Found: g.configPath != "",
		BMCCredentialsFromEnv: os.Getenv("RACKCTL_BMC_PASSWORD") != "",
		Notifications:         notificationViews(g.notifications)}
	if !v.Found {
		v.ConfigFile = g.configFile
		if v.ConfigFile == "" {
			v.ConfigFile = config.DefaultPath
			if g.root != "" {
				v.ConfigFile = strings.TrimRight(g.root, "/") + "/" + config.DefaultPath
			}
		}
	}
	for _, s := range config.Settings {
		f := cmd.Flags().Lookup(s.Flag)
		if f == nil {
			continue
		}
		o := g.origins[s.Flag]
		sv := settingView{Key: s.Key, Flag: "--" + s.Flag, Env: s.Env(), Source: o.Source, Where: o.Where}
		if sl, ok := f.Value.(pflag.SliceValue); ok {
			vals := sl.GetSlice()
			if vals == nil {
				vals = []string{}
			}
			sv.Value = vals
		} else {
			sv.Value = redactSetting(s, f.Value.String())
		}
		v.Settings = append(v.Settings, sv)
	}
	if g.output == "json" {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	if v.Found {
		fmt.Fprintf(g.stdout, "config file: %s\n", v.ConfigFile)
	} else {
		fmt.Fprintf(g.stdout, "config file: %s (not present; 'rackctl init' writes one)\n", v.ConfigFile)
	}
	if v.BMCCredentialsFromEnv {
		fmt.Fprintln(g.stdout, "bmc credentials: from RACKCTL_BMC_USER/RACKCTL_BMC_PASSWORD (redacted)")
	}
	fmt.Fprintln(g.stdout)
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tVALUE\tSOURCE")
	for _, s := range v.Settings {
		val := fmt.Sprint(s.Value)
		if l, ok := s.Value.([]string); ok {
			val = strings.Join(l, ", ")
		}
		if val == "" {
			val = `""`
		}
		src := s.Source
		if s.Where != "" {
			src += " " + s.Where
		}
		// A value from the environment was never validated as text.
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Key, termtext.Cell(val), termtext.Cell(src))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return printNotifications(g.stdout, v.Notifications)
}
