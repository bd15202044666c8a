package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rackctl/rackctl/racker"
)

func newImportCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Take over an existing rack",
	}
	cmd.AddCommand(newImportRackerCmd(g))
	return cmd
}

func newImportRackerCmd(g *globals) *cobra.Command {
	var out, domain, report string
	var mgmtMACs []string
	var force bool
	cmd := &cobra.Command{
		Use:   "racker -o rack.yaml",
		Short: "Write rack.yaml and the IP allocation from what a Racker management node holds",
		Long: `import racker reads /usr/share/oem/nodes.csv, the dnsmasq config, /etc/hosts
and ~core/lokomotive or ~core/flatcar-container-linux under --root, and writes
a rack.yaml plus the state directory's allocation.json that keep every current
IP, name, public IP, SSH key and excluded node. Anything that does not add up
is reported with file and line, and an error among the findings writes
nothing and exits 1: fix the Racker files (or their copy) and import again.
Every read stays beneath --root and follows no symbolic link; functions in
the HCL files (file(), …) are never evaluated but reported; the BMC
credential files are never read. Review the report, then run 'rackctl plan'
before the first apply.

Here -o/--output names the rack.yaml to write (as kubectl's -o names a
format elsewhere, the report's format is --report-format).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("-o is required: where to write rack.yaml")
			}
			if report != "human" && report != "json" {
				return fmt.Errorf("--report-format %q: want human or json", report)
			}
			eng, err := g.engine(nil)
			if err != nil {
				return err
			}
			if err := eng.CheckImportTargets(out, force); err != nil {
				return err
			}
			res, err := eng.ImportRacker(mgmtMACs, domain)
			if err != nil {
				return err
			}
			// A spec made from inputs that do not add up would be committed
			// and applied as if they did: with an error, only the report.
			if res.HasErrors() {
				if err := printFindings(g, report, res.Findings); err != nil {
					return err
				}
				if report != "json" {
					n := countErrors(res.Findings)
					fmt.Fprintf(g.stdout, "\nNothing written: %d error%s above. Fix them in the Racker files under %s and run the import again.\n", n, plural(n), g.root)
				}
				return exitCodeError{exitError}
			}
			if err := eng.WriteImport(out, res); err != nil {
				return err
			}
			if err := printFindings(g, report, res.Findings); err != nil {
				return err
			}
			if report != "json" {
				fmt.Fprintf(g.stdout, "\nWrote %s and %s (%d findings). Next: rackctl plan -f %s --root %s\n", out, eng.AllocationPath(), len(res.Findings), out, g.root)
			}
			return nil
		},
	}
	f := cmd.Flags()
	// -o shadows the global output-format flag on this command: the
	// issue's and the runbook's spelling is `import racker -o rack.yaml`.
	f.StringVarP(&out, "output", "o", "", "where to write the generated rack.yaml")
	f.StringVar(&out, "spec-out", "", "old name of --output")
	_ = f.MarkDeprecated("spec-out", "use -o/--output")
	f.StringVar(&report, "report-format", "human", "format of the findings: human or json")
	f.StringVar(&domain, "domain", "", "domain for plain Flatcar nodes, whose Racker names have none")
	f.StringSliceVar(&mgmtMACs, "management-mac", nil, "MACs of the management node, dropped from nodes.csv; repeatable")
	f.BoolVar(&force, "force", false, "overwrite an existing rack.yaml and allocation")
	return cmd
}

func printFindings(g *globals, format string, fs []racker.Finding) error {
	if format == "json" {
		return writeJSON(g.stdout, fs)
	}
	for _, f := range fs {
		fmt.Fprintln(g.stdout, f)
	}
	return nil
}

func countErrors(fs []racker.Finding) int {
	n := 0
	for _, f := range fs {
		if f.Severity == racker.SeverityError {
			n++
		}
	}
	return n
}
