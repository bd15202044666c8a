package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/rackctl/rackctl/internal/childenv"
	"github.com/rackctl/rackctl/nodessh"
	"github.com/rackctl/rackctl/state"
)

// DefaultSSHKey is the management node's key in Racker's layout, the one
// the spec's SSH keys authorize on the nodes; used when no --ssh-key is
// given and no SSH agent runs.
const DefaultSSHKey = "/home/core/.ssh/id_rsa"

// sshVerifier records an install only once the node answered SSH and ran
// the config it was given (/ignition_ran, seen and removed): the contract
// of Lokomotive's matchbox-flatcar module.
type sshVerifier struct {
	ssh     *sshNodes
	timeout time.Duration
	human   io.Writer
}

func (v *sshVerifier) Verify(ctx context.Context, node string) error {
	c, err := v.ssh.open()
	if err != nil {
		return fmt.Errorf("verify over SSH: %w", err)
	}
	t := v.ssh.target(node)
	fmt.Fprintf(v.human, "verify: %s: waiting for it to run its config (SSH as core to %s, up to %s)\n", node, t.Host, v.timeout)
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	err = c.WaitIgnitionRan(ctx, t)
	var notYet *nodessh.NotYetError
	if errors.As(err, &notYet) {
		return fmt.Errorf("timed out after %s: %w; the install is not recorded: the next apply boots it again (or set nodes[].reprovision)", v.timeout, err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(v.human, "verify: %s: ran its config\n", node)
	return nil
}

// sshOptions are the engine's settings for reaching nodes over SSH: the
// key (--ssh-key, else the SSH agent, else Racker's core key beneath the
// root), host keys pinned in the state dir, and the proxy command.
func (e *Engine) sshOptions(log *slog.Logger) nodessh.Options {
	d := e.cfg.Drivers
	key := d.SSHKey
	if key == "" && os.Getenv("SSH_AUTH_SOCK") == "" {
		key = e.HostPath(DefaultSSHKey)
	}
	return nodessh.Options{
		KeyFile:      key,
		KnownHosts:   state.New(e.cfg.StateDir).File(state.KnownHostsFile),
		ProxyCommand: strings.Fields(d.SSHProxyCommand),
		ProxyEnv:     childenv.SSHProxy.Filter(os.Environ(), d.PassEnv),
		Log:          log,
	}
}
