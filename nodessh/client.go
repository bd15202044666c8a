package nodessh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// DefaultUser is the account rackctl logs in as (Flatcar's core user, the
// one the spec's SSH keys are authorized for).
const DefaultUser = "core"

// Options configure a Client.
type Options struct {
	// User to log in as; default DefaultUser.
	User string
	// KeyFile is the private key to log in with (OpenSSH or PEM format,
	// unencrypted). Empty: the keys of the SSH agent at SSH_AUTH_SOCK.
	KeyFile string
	// KnownHosts is the file host keys are pinned in (required).
	KnownHosts string
	// ProxyCommand, when set, is run for each connection with %h and %p in
	// its arguments replaced by the node's address and port; its standard
	// input and output carry the SSH connection.
	ProxyCommand []string
	// ProxyEnv is the proxy command's environment (nil: none but PATH).
	ProxyEnv []string
	// Port is the nodes' SSH port; default 22.
	Port int
	// DialTimeout bounds one connection attempt (TCP and SSH handshake);
	// default 10s.
	DialTimeout time.Duration
	// Poll is the pause between attempts while waiting; default 2s.
	Poll time.Duration
	// Log receives progress lines; nil discards them.
	Log *slog.Logger
}

// Client logs in to nodes. It is safe for concurrent use.
type Client struct {
	opts  Options
	auth  []ssh.AuthMethod
	hosts *knownHosts
	close func() error
}

// New loads the key (or connects to the agent) and the known hosts file.
func New(o Options) (*Client, error) {
	if o.User == "" {
		o.User = DefaultUser
	}
	if o.Port == 0 {
		o.Port = 22
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = 2 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.KnownHosts == "" {
		return nil, errors.New("ssh: no known_hosts file to pin node host keys in")
	}
	c := &Client{opts: o, hosts: &knownHosts{path: o.KnownHosts}, close: func() error { return nil }}
	if err := c.hosts.load(); err != nil {
		return nil, err
	}
	if err := c.loadAuth(); err != nil {
		return nil, err
	}
	return c, nil
}

// Close releases the agent connection, if any.
func (c *Client) Close() error { return c.close() }

func (c *Client) loadAuth() error {
	if c.opts.KeyFile != "" {
		b, err := os.ReadFile(c.opts.KeyFile)
		if err != nil {
			return fmt.Errorf("ssh key: %w (--ssh-key names the private key rackctl logs in to nodes with)", err)
		}
		signer, err := ssh.ParsePrivateKey(b)
		if err != nil {
			var missing *ssh.PassphraseMissingError
			if errors.As(err, &missing) {
				return fmt.Errorf("ssh key %s is protected by a passphrase: load it into an SSH agent and leave --ssh-key unset", c.opts.KeyFile)
			}
			return fmt.Errorf("ssh key %s: %w", c.opts.KeyFile, err)
		}
		c.auth = []ssh.AuthMethod{ssh.PublicKeys(signer)}
		return nil
	}
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return errors.New("ssh: no key to log in to nodes with: pass --ssh-key FILE or run an SSH agent (SSH_AUTH_SOCK)")
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return fmt.Errorf("ssh agent at SSH_AUTH_SOCK: %w", err)
	}
	c.close = conn.Close
	c.auth = []ssh.AuthMethod{ssh.PublicKeysCallback(agent.NewClient(conn).Signers)}
	return nil
}

// Target is one node to reach.
type Target struct {
	Node string // the node's name, the key its host key is pinned under
	Host string // its address
}

func (t Target) addr(port int) string { return net.JoinHostPort(t.Host, strconv.Itoa(port)) }

// HostKeyPolicy says what a host key that differs from the pinned one means.
type HostKeyPolicy int

const (
	// KeepPinned refuses a host key other than the pinned one (a plain
	// reboot keeps the key); a node seen for the first time is pinned.
	KeepPinned HostKeyPolicy = iota
	// Reinstalled accepts a new host key and pins it: an install generates
	// a new one.
	Reinstalled
)

// ExitError is a command that ran and exited non-zero.
type ExitError struct {
	Node   string
	Cmd    string
	Status int
	Stderr string
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("node %s: `%s` exited %d", e.Node, e.Cmd, e.Status)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += ": " + s
	}
	return msg
}

// Session is one SSH connection to a node.
type Session struct {
	t      Target
	client *ssh.Client
}

// Dial connects and logs in to t, checking its host key under policy.
func (c *Client) Dial(ctx context.Context, t Target, policy HostKeyPolicy) (*Session, error) {
	dctx, cancel := context.WithTimeout(ctx, c.opts.DialTimeout)
	defer cancel()
	conn, err := c.connect(dctx, t)
	if err != nil {
		return nil, fmt.Errorf("node %s: connect to %s: %w", t.Node, t.addr(c.opts.Port), err)
	}
	stop := context.AfterFunc(dctx, func() { conn.Close() }) // bounds the handshake
	cfg := &ssh.ClientConfig{
		User:            c.opts.User,
		Auth:            c.auth,
		HostKeyCallback: c.hosts.callback(t.Node, policy),
		Timeout:         c.opts.DialTimeout,
	}
	sc, chans, reqs, err := ssh.NewClientConn(conn, t.addr(c.opts.Port), cfg)
	if !stop() && err == nil {
		sc.Close()
		err = dctx.Err()
	}
	if err != nil {
		conn.Close()
		// A handshake cut by closing its connection reports a read of a
		// closed pipe or socket: say what cut it.
		switch {
		case ctx.Err() != nil:
			err = fmt.Errorf("login abandoned: %w", ctx.Err())
		case dctx.Err() != nil:
			err = fmt.Errorf("no login within %s: %w", c.opts.DialTimeout, dctx.Err())
		}
		return nil, fmt.Errorf("node %s: ssh login as %s: %w", t.Node, c.opts.User, err)
	}
	return &Session{t: t, client: ssh.NewClient(sc, chans, reqs)}, nil
}

// Close ends the connection.
func (s *Session) Close() error { return s.client.Close() }

// Run runs cmd on the node with stdin, returning its standard output; a
// non-zero exit is an *ExitError. ctx cancelled closes the connection.
func (s *Session) Run(ctx context.Context, cmd string, stdin []byte) ([]byte, error) {
	sess, err := s.client.NewSession()
	if err != nil {
		return nil, fmt.Errorf("node %s: ssh session: %w", s.t.Node, err)
	}
	defer sess.Close()
	var out, errb bytes.Buffer
	sess.Stdout = &out
	sess.Stderr = &limitedWriter{w: &errb, n: 4096}
	if stdin != nil {
		sess.Stdin = bytes.NewReader(stdin)
	}
	stop := context.AfterFunc(ctx, func() { s.client.Close() })
	defer stop()
	err = sess.Run(cmd)
	var exit *ssh.ExitError
	switch {
	case errors.As(err, &exit):
		return out.Bytes(), &ExitError{Node: s.t.Node, Cmd: cmd, Status: exit.ExitStatus(), Stderr: errb.String()}
	case err != nil && ctx.Err() != nil:
		return nil, fmt.Errorf("node %s: `%s`: %w", s.t.Node, cmd, ctx.Err())
	case err != nil:
		return nil, fmt.Errorf("node %s: `%s`: %w", s.t.Node, cmd, err)
	}
	return out.Bytes(), nil
}

type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.n -= k
		l.w.Write(p[:k])
	}
	return len(p), nil
}
