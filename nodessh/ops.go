package nodessh

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rackctl/rackctl/render"
)

// The node-side paths of the contract: render writes the first two into
// each node's config (one definition, there); the others are Flatcar's.
const (
	IgnitionRanPath = render.IgnitionRanPath
	ConfigHashPath  = render.ConfigHashPath
	FirstBootPath   = "/boot/flatcar/first_boot"
	OEMGrubPath     = "/usr/share/oem/grub.cfg"
)

// NotYetError is why a wait has not finished: the last thing observed.
type NotYetError struct {
	Node string
	Last error
}

func (e *NotYetError) Error() string {
	return fmt.Sprintf("node %s did not report a finished Ignition run in time: last seen: %v", e.Node, e.Last)
}

func (e *NotYetError) Unwrap() error { return e.Last }

var errNoFlag = errors.New(IgnitionRanPath + " not there yet (the node has not run its new config)")

// WaitIgnitionRan waits until t answers SSH and has /ignition_ran, removes
// the flag and returns: the node booted and ran the config it was given.
// The host key may change (an install generates a new one); it is pinned
// anew. ctx bounds the wait (rackctl's --verify-timeout); on expiry the
// error is a *NotYetError with the last observation.
func (c *Client) WaitIgnitionRan(ctx context.Context, t Target) error {
	return c.waitFlag(ctx, t, Reinstalled)
}

// WaitReignited is WaitIgnitionRan after Reignite: the node rebooted but
// was not reinstalled, so its host key must not change (a changed key is
// a *HostKeyChangedError).
func (c *Client) WaitReignited(ctx context.Context, t Target) error {
	return c.waitFlag(ctx, t, KeepPinned)
}

func (c *Client) waitFlag(ctx context.Context, t Target, policy HostKeyPolicy) error {
	var last error
	for attempt := 0; ; attempt++ {
		done, err := c.checkFlag(ctx, t, policy)
		if done {
			return nil
		}
		var changed *HostKeyChangedError
		if errors.As(err, &changed) {
			return err
		}
		if err != nil && ctx.Err() == nil {
			last = err
		}
		if attempt%5 == 0 {
			c.opts.Log.Info("waiting for the node to run its config", "node", t.Node, "last", last)
		}
		select {
		case <-ctx.Done():
			if last == nil {
				last = ctx.Err()
			}
			return &NotYetError{Node: t.Node, Last: last}
		case <-time.After(c.opts.Poll):
		}
	}
}

// checkFlag makes one attempt: done once the flag was seen and removed.
func (c *Client) checkFlag(ctx context.Context, t Target, policy HostKeyPolicy) (bool, error) {
	s, err := c.Dial(ctx, t, policy)
	if err != nil {
		return false, err
	}
	defer s.Close()
	if _, err := s.Run(ctx, "test -f "+IgnitionRanPath, nil); err != nil {
		var exit *ExitError
		if errors.As(err, &exit) && exit.Status == 1 {
			return false, errNoFlag
		}
		return false, err
	}
	if _, err := s.Run(ctx, "sudo rm -f "+IgnitionRanPath, nil); err != nil {
		return false, err
	}
	c.opts.Log.Info("node ran its config", "node", t.Node, "host_key", c.Pinned(t.Node))
	return true, nil
}

// ConfigHash reads the hash of the config t runs ("" when the node has
// none: installed before rackctl wrote it).
func (c *Client) ConfigHash(ctx context.Context, t Target) (string, error) {
	s, err := c.Dial(ctx, t, KeepPinned)
	if err != nil {
		return "", err
	}
	defer s.Close()
	out, err := s.Run(ctx, "cat "+ConfigHashPath, nil)
	var exit *ExitError
	if errors.As(err, &exit) && exit.Status != 0 {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// Reignite makes an installed node run Ignition again from ignitionURL
// without a PXE boot, as the matchbox-flatcar module does for a changed
// config: set the first-boot flag, point the OEM grub.cfg at the URL, and
// reboot. The reboot drops the connection; that is not an error.
func (c *Client) Reignite(ctx context.Context, t Target, ignitionURL string) error {
	if strings.ContainsAny(ignitionURL, "\"'\\$`\n\r ;") {
		return fmt.Errorf("node %s: ignition URL %q has characters grub.cfg cannot carry", t.Node, ignitionURL)
	}
	s, err := c.Dial(ctx, t, KeepPinned)
	if err != nil {
		return err
	}
	defer s.Close()
	grub := "set linux_append=\"ignition.config.url=" + ignitionURL + "\"\n"
	// A flag left from an earlier run (an install recorded without
	// looking) would make the wait that follows end before the reboot.
	steps := []struct {
		cmd   string
		stdin []byte
	}{
		{"sudo rm -f " + IgnitionRanPath, nil},
		{"sudo touch " + FirstBootPath, nil},
		{"sudo tee " + OEMGrubPath, []byte(grub)},
	}
	for _, st := range steps {
		if _, err := s.Run(ctx, st.cmd, st.stdin); err != nil {
			return fmt.Errorf("re-run Ignition: %w", err)
		}
	}
	// The node goes down under us: an error without an exit status is the
	// connection dropping, as expected.
	_, err = s.Run(ctx, "sudo systemctl reboot", nil)
	var exit *ExitError
	if errors.As(err, &exit) {
		return fmt.Errorf("re-run Ignition: %w", err)
	}
	c.opts.Log.Info("node rebooting to run Ignition again", "node", t.Node, "url", ignitionURL)
	return nil
}
