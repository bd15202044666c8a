package simnode

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/coreos/ignition/v2/config/v3_4/types"
	"golang.org/x/crypto/ssh"

	"github.com/rackctl/rackctl/internal/testenv"
)

// ramDisk is the empty root a live (PXE, not installed) boot runs from;
// it is wiped at every live boot and never read by a disk boot.
func (n *Node) ramDisk() (*disk, error) {
	d := &disk{dir: filepath.Join(n.disk.dir, "ram"), dead: func() bool { return false }}
	if err := os.RemoveAll(d.dir); err != nil {
		return nil, fmt.Errorf("live boot: %w", err)
	}
	if err := d.init(); err != nil {
		return nil, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, err
	}
	r, err := d.root()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return d, writeFile(r, HostKeyPath, pem.EncodeToMemory(blk), 0o600)
}

// runOS is the booted system on root d: Ignition applied when cfg is set
// (first boot), the primary address up, SSH served, the cluster joined.
// It returns when the machine stops or reboots.
func (n *Node) runOS(ctx context.Context, d *disk, cfg *types.Config, lease testenv.Lease) error {
	if cfg != nil {
		get := func(u string) ([]byte, error) { return n.fetch(ctx, u) }
		if err := d.apply(*cfg, get); err != nil {
			return err
		}
		r, err := d.root()
		if err != nil {
			return fmt.Errorf("first boot: %w", err)
		}
		err = r.Remove(rel(FirstBootPath))
		r.Close()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("first boot: clear %s: %w", FirstBootPath, err)
		}
		n.logf("Ignition applied (%d files, %d units, %d users)", len(cfg.Storage.Files), len(cfg.Systemd.Units), len(cfg.Passwd.Users))
	}
	addr, err := n.bringUp(ctx, d, lease)
	if err != nil {
		return err
	}
	defer n.cfg.Net.SetAddr(context.Background(), netip.Prefix{})
	hostKey, err := d.readFile(HostKeyPath)
	if err != nil {
		return fmt.Errorf("sshd: host key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(hostKey)
	if err != nil {
		return fmt.Errorf("sshd: host key %s: %w", HostKeyPath, err)
	}
	srv := &sshServer{node: n, disk: d, signer: signer, reboot: make(chan struct{}, 1)}
	ln, err := testenv.ListenIn(n.cfg.Net.NS, net.JoinHostPort(addr.Addr().String(), "22"))
	if err != nil {
		return fmt.Errorf("sshd: %w", err)
	}
	go srv.serve(ln)
	defer srv.close()
	n.logf("%s on %s:22 (host key %s)", LogSSHUp, addr.Addr(), ssh.FingerprintSHA256(signer.PublicKey()))
	if n.kube != nil {
		// The kubelet registers under the hostname; a config that sets
		// none would make every node "localhost".
		name := d.hostname()
		if name == "localhost" {
			name = n.cfg.Name
		}
		n.kube.start(name)
		defer n.kube.stop()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-srv.reboot:
		return errReboot
	}
}

// bringUp configures the primary address: the installed networkd config's,
// else the PXE lease's, else a fresh DHCP lease.
func (n *Node) bringUp(ctx context.Context, d *disk, lease testenv.Lease) (netip.Prefix, error) {
	units := map[string]string{}
	if r, err := d.root(); err == nil {
		if ents, err := fs.ReadDir(r.FS(), rel(NetworkUnitsDir)); err == nil {
			for _, e := range ents {
				if b, err := r.ReadFile(rel(NetworkUnitsDir + "/" + e.Name())); err == nil {
					units[e.Name()] = string(b)
				}
			}
		}
		r.Close()
	}
	addr, ok := primaryAddr(units, n.cfg.Net.MAC)
	src := "networkd"
	if !ok {
		src = "DHCP"
		addr = lease.Addr
		if !addr.IsValid() {
			dctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
			l, err := n.cfg.Net.Request(dctx)
			cancel()
			if err != nil {
				return netip.Prefix{}, fmt.Errorf("network: %w", err)
			}
			addr = l.Addr
		}
	}
	if err := n.cfg.Net.SetAddr(ctx, addr); err != nil {
		return netip.Prefix{}, fmt.Errorf("network: %w", err)
	}
	n.logf("network: %s up on %s (%s)", addr, n.cfg.Net.Iface, src)
	return addr, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// shellWords splits a command line on blanks, honouring single and double
// quotes (no expansions: the commands served take plain paths).
func shellWords(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool
		quote rune
	)
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unterminated quote")
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}
