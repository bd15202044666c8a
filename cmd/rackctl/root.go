package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/rackctl/rackctl/config"
	"github.com/rackctl/rackctl/schema"
	"github.com/rackctl/rackctl/state"
)

// Exit codes, as terraform's: 0 ok or no changes, 1 error, 2 changes
// present (only with --detailed-exitcode).
const (
	exitOK      = 0
	exitError   = 1
	exitChanges = 2
)

// exitError carries a specific exit code out of a command without printing
// anything more than the command already did.
type exitCodeError struct{ code int }

func (e exitCodeError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// globals are the flags every command shares.
type globals struct {
	ctx      context.Context // the command's context (signals cancel it), set by execute
	specFile string
	root     string
	stateDir string
	output   string
	noColor  bool
	logLevel string
	timeout  time.Duration
	parallel int

	kubeconfigPath string

	// configFile is --config; origins says where each setting of the
	// running command came from (config.go).
	configFile string
	configPath string // the file read, "" when none
	origins    map[string]origin
	// notifications are the targets of the config file's notifications:
	// section (notify.go).
	notifications []config.Notification

	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
}

func run(args []string) int {
	g := &globals{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return execute(ctx, g, args)
}

// execute runs the CLI with the given streams; tests call it directly.
func execute(ctx context.Context, g *globals, args []string) int {
	g.ctx = ctx
	cmd := newRootCmd(g)
	cmd.SetArgs(normalizeArgs(args))
	cmd.SetIn(g.stdin)
	cmd.SetOut(g.stdout)
	cmd.SetErr(g.stderr)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var code exitCodeError
	if errors.As(err, &code) {
		return code.code
	}
	fmt.Fprintln(g.stderr, "Error:", err)
	return exitError
}

func newRootCmd(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "rackctl",
		Short: "Keep a bare-metal Flatcar/Lokomotive rack in the state rack.yaml describes",
		Long: `rackctl reconciles a rack of bare-metal servers with one declarative file,
rack.yaml: DHCP reservations, /etc/hosts, the Lokomotive or Flatcar/Terraform
configuration, per-node Container Linux Configs, BMCs and the provisioner run.

Review changes with 'rackctl plan', carry them out with 'rackctl apply'.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.applyConfig(cmd); err != nil {
				return err
			}
			return g.setup()
		},
	}
	f := root.PersistentFlags()
	f.StringVarP(&g.specFile, "file", "f", "rack.yaml", "path of the rack spec")
	f.StringVar(&g.root, "root", "/", "host root that every managed path is relative to ($RACKCTL_ROOT)")
	f.StringVar(&g.configFile, "config", "", "management node config ($RACKCTL_CONFIG; default <root>/"+config.DefaultPath+" when it exists): settings of every flag below and of the driver and watch flags, overridden by RACKCTL_* variables and flags")
	f.StringVar(&g.stateDir, "state-dir", "", "state directory (default <root>/var/lib/rackctl)")
	f.StringVarP(&g.output, "output", "o", "human", "output format: human or json")
	f.BoolVar(&g.noColor, "no-color", false, "disable colors (also when NO_COLOR is set)")
	f.StringVar(&g.logLevel, "log-level", "warn", "log level on stderr: debug, info, warn, error")
	f.DurationVar(&g.timeout, "timeout", 5*time.Second, "timeout of each BMC, DHCP and cluster call")
	f.IntVar(&g.parallel, "parallel", 32, "how many BMCs to talk to at once")
	f.StringVar(&g.kubeconfigPath, "kubeconfig", "", "kubeconfig of the cluster (default: Lokomotive's assets kubeconfig under --root, else $KUBECONFIG)")

	root.AddCommand(
		newVersionCmd(g),
		newValidateCmd(g),
		newRenderCmd(g),
		newPlanCmd(g),
		newShowCmd(g),
		newApplyCmd(g),
		newHistoryCmd(g),
		newStatusCmd(g),
		newIPMICmd(g),
		newImportCmd(g),
		newWatchCmd(g),
		newServeCmd(g),
		newApproveCmd(g),
		newPinCmd(g),
		newUnpinCmd(g),
		newRollbackCmd(g),
		newMaintenanceCmd(g),
		newUITokenCmd(g),
		newRotateCmd(g),
		newConfigCmd(g),
		newInitCmd(g),
		newNotifyCmd(g),
		newFleetCmd(g),
	)
	return root
}

func (g *globals) setup() error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", g.logLevel)
	}
	g.log = slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level}))
	if g.output != "human" && g.output != "json" {
		return fmt.Errorf("--output %q: want human or json", g.output)
	}
	if os.Getenv("NO_COLOR") != "" {
		g.noColor = true
	}
	if g.stateDir == "" {
		g.stateDir = filepath.Join(g.root, state.DefaultDir)
	}
	return nil
}

// color reports whether human output may use ANSI colors.
func (g *globals) color() bool {
	if g.noColor {
		return false
	}
	f, ok := g.stdout.(*os.File)
	return ok && isTerminal(f)
}

// loadSpec loads and validates the spec; validation errors are printed in
// full, positioned, and turned into exit code 1.
func (g *globals) loadSpec() (*schema.Rack, error) {
	ctx := g.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	// Under the command's context: SIGINT/SIGTERM end a slow read.
	rack, err := schema.LoadContext(ctx, g.specFile)
	if err != nil {
		return nil, g.printDiagnostics(g.specFile, err)
	}
	return rack, nil
}

// printDiagnostics prints a file's positioned problems in full and turns
// them into exit code 1; another error is returned as it is.
func (g *globals) printDiagnostics(file string, err error) error {
	var diags schema.Errors
	if !errors.As(err, &diags) {
		return err
	}
	fmt.Fprintf(g.stderr, "%s is not valid (%d problem%s):\n", file, len(diags), plural(len(diags)))
	for _, d := range diags {
		fmt.Fprintf(g.stderr, "  %s\n", d)
	}
	return exitCodeError{exitError}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
