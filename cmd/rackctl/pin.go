package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/spf13/cobra"

	"github.com/rackctl/rackctl/internal/termtext"
	"github.com/rackctl/rackctl/source"
	"github.com/rackctl/rackctl/state"
	"github.com/rackctl/rackctl/watch"
)

// pinFlags are the watch settings a pin is checked with (the git source's
// repository, branch, spec path and keys: the config file's watch
// section), and the operator's reason.
type pinFlags struct {
	wf     watchFlags
	reason string
}

func registerPinFlags(cmd *cobra.Command, pf *pinFlags, withSource bool) {
	f := cmd.Flags()
	f.StringVar(&pf.reason, "reason", "", "why, recorded in the history with who and when")
	if !withSource {
		return
	}
	f.StringVar(&pf.wf.repo, "repo", "", "the git repository rackctl watch follows (its clone in the state dir is read, not fetched)")
	f.StringVar(&pf.wf.branch, "branch", source.DefaultBranch, "the branch rackctl watch follows: the commit must be its head or an ancestor")
	f.StringVar(&pf.wf.path, "path", source.DefaultSpecPath, "path of the spec in the repository")
	f.StringVar(&pf.wf.verifyKeyring, "verify-keyring", "", "as for watch: the commit must be signed by a key of this OpenPGP keyring")
	f.StringVar(&pf.wf.allowedSigners, "allowed-signers", "", "as for watch: the commit must be signed by an SSH key of this allowed-signers file")
}

func newPinCmd(g *globals) *cobra.Command {
	var pf pinFlags
	cmd := &cobra.Command{
		Use:   "pin COMMIT",
		Short: "Make 'rackctl watch' reconcile COMMIT instead of the branch head until unpinned",
		Long: `pin records in the state directory (pin.json) that the watch loop reconciles
COMMIT, drift checks included, instead of the head of its branch, until
'rackctl unpin'. New commits are recorded as "not applied: pinned". The pin
survives restarts and is recorded in the history with who, when and --reason.

COMMIT is a full hash or a prefix of at least 7 hex digits, read from the
watch loop's clone (not fetched): it must be the branch head or one of its
ancestors and, when watch verifies signatures (--verify-keyring,
--allowed-signers, or the config's watch section), signed by a trusted key;
the loop checks the same again before it applies the commit.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rev, err := g.readPinnable(cmd.Context(), &pf.wf, args[0])
			if err != nil {
				return fmt.Errorf("pin %s: %w", args[0], err)
			}
			return g.writePin(rev, pf.reason, false)
		},
	}
	registerPinFlags(cmd, &pf, true)
	return cmd
}

func newRollbackCmd(g *globals) *cobra.Command {
	var pf pinFlags
	cmd := &cobra.Command{
		Use:   "rollback",
		Short: "Pin the last commit whose apply succeeded and verified its installs",
		Long: `rollback pins (as 'rackctl pin') the newest commit of the apply history whose
apply succeeded and whose verify phase saw at least one node run its config
(over SSH or in the cluster). An apply that merely succeeded, or recorded
installs without looking (--verify flag), does not count. The commit is
checked as pin checks it. 'rackctl unpin' returns to the branch head.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			good, err := watch.LastGood(g.stateDir)
			if errors.Is(err, watch.ErrNoGoodCommit) {
				return fmt.Errorf("rollback: %w: nothing to roll back to; pin a commit by hand with 'rackctl pin COMMIT'", err)
			}
			if err != nil {
				return fmt.Errorf("rollback: %w", err)
			}
			rev, err := g.readPinnable(cmd.Context(), &pf.wf, good.Commit)
			if err != nil {
				return fmt.Errorf("rollback to %s (applied and verified %s): %w", shortCommit(good.Commit),
					good.Finished.Local().Format("2006-01-02 15:04"), err)
			}
			return g.writePin(rev, pf.reason, true)
		},
	}
	registerPinFlags(cmd, &pf, true)
	return cmd
}

func newUnpinCmd(g *globals) *cobra.Command {
	var pf pinFlags
	cmd := &cobra.Command{
		Use:   "unpin",
		Short: "Let 'rackctl watch' follow the branch head again",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			had, err := watch.Unpin(g.stateDir, operatorName(), pf.reason, time.Now())
			if err != nil {
				return err
			}
			if g.output == "json" {
				return writeJSON(g.stdout, map[string]bool{"unpinned": had})
			}
			if !had {
				fmt.Fprintln(g.stdout, "Nothing was pinned.")
				return nil
			}
			fmt.Fprintln(g.stdout, "Unpinned; the watch loop applies the branch head at its next poll.")
			return nil
		},
	}
	registerPinFlags(cmd, &pf, false)
	return cmd
}

// readPinnable resolves name in the watch loop's clone under watch's rules
// (on the branch, signed when watch verifies).
func (g *globals) readPinnable(ctx context.Context, wf *watchFlags, name string) (*source.Revision, error) {
	if wf.repo == "" {
		return nil, errors.New("a pin needs the git source of rackctl watch: give --repo (or set watch.repo in the config)")
	}
	cfg, err := g.gitConfig(wf)
	if err != nil {
		return nil, err
	}
	src, err := source.NewGit(cfg)
	if err != nil {
		return nil, err
	}
	return src.ReadCommit(ctx, name)
}

func (g *globals) writePin(rev *source.Revision, reason string, rollback bool) error {
	p := state.Pin{Commit: rev.Commit, By: operatorName(), At: time.Now().UTC(), Reason: reason, Rollback: rollback}
	if err := watch.SetPin(g.stateDir, p); err != nil {
		return err
	}
	if g.output == "json" {
		return writeJSON(g.stdout, p)
	}
	fmt.Fprintf(g.stdout, "Pinned %s (%s, %s); the watch loop reconciles it instead of the branch head from its next poll.\n",
		rev.Commit, termtext.Cell(firstLine(rev.Message)), termtext.Cell(rev.Author))
	fmt.Fprintln(g.stdout, "'rackctl unpin' follows the branch again.")
	return nil
}

// operatorName is who runs the command, for the history: the login name,
// with the sudo user when there is one.
func operatorName() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if su := os.Getenv("SUDO_USER"); su != "" && su != name {
		name += " (sudo " + su + ")"
	}
	return name
}
