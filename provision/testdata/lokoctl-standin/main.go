// Command lokoctl-standin stands in for lokoctl, which no longer builds
// (Lokomotive is archived). It accepts `cluster apply` with lokoctl's flags,
// records how it was called, checks the Lokomotive directory looks like one,
// prints lokoctl-like progress and exits with a chosen code.
//
// Environment:
//
//	RACKCTL_LOKOCTL_RECORD  file to append one JSON record per run to
//	                        (argv, working directory, names of env variables)
//	RACKCTL_LOKOCTL_EXIT    exit code to end with after the progress (default 0)
//	RACKCTL_LOKOCTL_SLEEP   duration to wait before finishing (e.g. "10s")
//	RACKCTL_LOKOCTL_TERRAFORM  a terraform binary: serve the nodes through
//	                        matchbox as lokoctl's bare-metal module does, so
//	                        that simulated servers can boot (see provision.go;
//	                        the provider comes from TF_CLI_CONFIG_FILE's mirror)
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Record is what one run writes to RACKCTL_LOKOCTL_RECORD.
type Record struct {
	Args []string `json:"args"`
	Dir  string   `json:"dir"`
	Env  []string `json:"env"`
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if err := record(args); err != nil {
		fmt.Fprintf(os.Stderr, "lokoctl-standin: %v\n", err)
		return 3
	}
	if len(args) < 2 || args[0] != "cluster" || args[1] != "apply" {
		fmt.Fprintf(os.Stderr, "Error: unknown command %q for \"lokoctl\" (stand-in knows only \"cluster apply\")\n", strings.Join(args, " "))
		return 1
	}
	fs := flag.NewFlagSet("lokoctl cluster apply", flag.ContinueOnError)
	lokocfg := fs.String("lokocfg", "./", "Path to lokocfg directory or file")
	vars := fs.String("lokocfg-vars", "./lokocfg.vars", "Path to lokocfg.vars file")
	confirm := fs.Bool("confirm", false, "Upgrade cluster without asking for confirmation")
	fs.Bool("verbose", false, "Show output from Terraform")
	skip := fs.Bool("skip-components", false, "Skip applying component configuration")
	fs.Bool("upgrade-kubelets", false, "Experimentally upgrade self-hosted kubelets")
	if err := fs.Parse(args[2:]); err != nil {
		return 1
	}
	if !*confirm {
		fmt.Fprintln(os.Stderr, "Error: stand-in cannot ask for confirmation; pass --confirm")
		return 1
	}
	cfgDir := *lokocfg
	if st, err := os.Stat(cfgDir); err == nil && !st.IsDir() {
		cfgDir = filepath.Dir(cfgDir)
	}
	for _, f := range []string{filepath.Join(cfgDir, "baremetal.lokocfg"), *vars} {
		st, err := os.Stat(f)
		if err != nil || st.Size() == 0 {
			fmt.Fprintf(os.Stderr, "level=fatal msg=\"Errors found while loading cluster configuration\" file=%s\n", f)
			return 1
		}
	}

	fmt.Println("Initializing the backend...")
	fmt.Println("Initializing provider plugins...")
	fmt.Println("Terraform has been successfully initialized!")
	fmt.Println("module.baremetal-lokomotive: Refreshing state...")
	if tf := os.Getenv("RACKCTL_LOKOCTL_TERRAFORM"); tf != "" && os.Getenv("RACKCTL_LOKOCTL_EXIT") == "" {
		if err := provision(tf, cfgDir, *vars); err != nil {
			fmt.Fprintf(os.Stderr, "level=fatal msg=\"error applying cluster: %v\"\n", err)
			return 1
		}
	}
	if d := os.Getenv("RACKCTL_LOKOCTL_SLEEP"); d != "" {
		dur, err := time.ParseDuration(d)
		if err == nil {
			time.Sleep(dur)
		}
	}
	code := 0
	if s := os.Getenv("RACKCTL_LOKOCTL_EXIT"); s != "" {
		c, err := strconv.Atoi(s)
		if err != nil {
			fmt.Fprintf(os.Stderr, "lokoctl-standin: bad RACKCTL_LOKOCTL_EXIT %q\n", s)
			return 3
		}
		code = c
	}
	if code != 0 {
		fmt.Fprintln(os.Stderr, "level=fatal msg=\"error applying cluster: terraform apply failed\"")
		return code
	}
	fmt.Println("Apply complete! Resources: 0 added, 0 changed, 0 destroyed.")
	fmt.Println("Your configurations are stored in ./lokoctl-assets")
	fmt.Println("Now checking health and readiness of the cluster nodes ...")
	if !*skip {
		fmt.Println("Applying component configuration")
	}
	return 0
}

func record(args []string) error {
	path := os.Getenv("RACKCTL_LOKOCTL_RECORD")
	if path == "" {
		return nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("get working dir: %w", err)
	}
	var names []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		names = append(names, name)
	}
	sort.Strings(names)
	b, err := json.Marshal(Record{Args: args, Dir: dir, Env: names})
	if err != nil {
		return fmt.Errorf("encode record: %w", err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("open record: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write record: %w", err)
	}
	return f.Close()
}
