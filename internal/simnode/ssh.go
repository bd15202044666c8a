package simnode

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// maxStdin bounds what `sudo tee` accepts.
const maxStdin = 1 << 20

// sshServer is the node's sshd: the user core, the keys in core's
// authorized_keys on the node's disk, and the few commands rackctl's
// verify and re-Ignition steps run.
type sshServer struct {
	node   *Node
	disk   *disk
	signer ssh.Signer
	reboot chan struct{}

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
	closed bool
}

const authorizedKeysPath = "/home/core/.ssh/authorized_keys"

// authorized reads core's keys at each login, as sshd does.
func (s *sshServer) authorized(key ssh.PublicKey) bool {
	b, err := s.disk.readFile(authorizedKeysPath)
	if err != nil {
		return false
	}
	want := key.Marshal()
	for len(b) > 0 {
		pk, _, _, rest, err := ssh.ParseAuthorizedKey(b)
		if err != nil {
			return false
		}
		if bytes.Equal(pk.Marshal(), want) {
			return true
		}
		b = rest
	}
	return false
}

func (s *sshServer) config() *ssh.ServerConfig {
	c := &ssh.ServerConfig{
		PublicKeyCallback: func(md ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if md.User() != "core" {
				return nil, fmt.Errorf("user %q: only core logs in", md.User())
			}
			if !s.authorized(key) {
				return nil, errors.New("key not in core's authorized_keys")
			}
			return nil, nil
		},
	}
	c.AddHostKey(s.signer)
	return c
}

func (s *sshServer) serve(ln net.Listener) {
	s.mu.Lock()
	s.ln, s.conns = ln, map[net.Conn]bool{}
	s.mu.Unlock()
	cfg := s.config()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = true
		s.mu.Unlock()
		go s.handle(c, cfg)
	}
}

// close stops accepting and drops every connection (power off).
func (s *sshServer) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
}

func (s *sshServer) handle(c net.Conn, cfg *ssh.ServerConfig) {
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		s.node.logf("sshd: refused %s: %v", c.RemoteAddr(), err)
		return
	}
	c.SetDeadline(time.Time{})
	defer sc.Close()
	s.node.logf("sshd: %s logged in from %s", sc.User(), c.RemoteAddr())
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go s.session(ch, creqs)
	}
}

// session runs one exec request; shells and other requests are refused.
func (s *sshServer) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			req.Reply(req.Type == "env", nil)
			continue
		}
		var p struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &p); err != nil {
			req.Reply(false, nil)
			return
		}
		req.Reply(true, nil)
		code, reboot := s.run(p.Command, ch, ch, ch.Stderr())
		status := make([]byte, 4)
		binary.BigEndian.PutUint32(status, uint32(code))
		ch.SendRequest("exit-status", false, status)
		ch.Close()
		if reboot {
			select {
			case s.reboot <- struct{}{}:
			default:
			}
		}
		return
	}
}

// run executes one command line against the node's disk and returns its
// exit status, and whether it asked for a reboot.
func (s *sshServer) run(line string, stdin io.Reader, stdout, stderr io.Writer) (int, bool) {
	w, err := shellWords(line)
	if err != nil {
		fmt.Fprintf(stderr, "sh: %v\n", err)
		return 2, false
	}
	if len(w) > 0 && w[0] == "sudo" {
		w = w[1:]
	}
	if len(w) == 0 {
		return 0, false
	}
	switch {
	case len(w) == 1 && w[0] == "hostname":
		fmt.Fprintln(stdout, s.disk.hostname())
		return 0, false
	case len(w) == 2 && w[0] == "systemctl" && w[1] == "reboot":
		s.node.logf("sshd: systemctl reboot")
		return 0, true
	}
	status, err := s.fileCommand(w, stdin, stdout)
	switch {
	case err != nil:
		msg := err.Error()
		switch {
		case errors.Is(err, fs.ErrNotExist):
			msg = "No such file or directory"
		case errors.Is(err, ErrDiskDead):
			msg = "Input/output error"
		}
		fmt.Fprintf(stderr, "%s: %s\n", w[0], msg)
		return 1, false
	case status < 0:
		fmt.Fprintf(stderr, "sh: %s: command not served by this simulated node\n", w[0])
		return 127, false
	}
	return status, false
}

// fileCommand runs the commands that touch the disk's files (test, cat,
// rm -f, touch, tee) and returns their exit status: -1 for a command it
// does not serve, 1 with err for one that failed.
func (s *sshServer) fileCommand(w []string, stdin io.Reader, stdout io.Writer) (int, error) {
	switch {
	case len(w) == 3 && w[0] == "test" && (w[1] == "-f" || w[1] == "-e"):
		r, err := s.disk.root()
		if err != nil {
			return 1, err
		}
		defer r.Close()
		fi, err := r.Stat(rel(w[2]))
		if err != nil || (w[1] == "-f" && !fi.Mode().IsRegular()) {
			return 1, nil
		}
		return 0, nil
	case len(w) == 2 && w[0] == "cat":
		b, err := s.disk.readFile(w[1])
		if err != nil {
			return 1, err
		}
		stdout.Write(b)
		return 0, nil
	case len(w) == 3 && w[0] == "rm" && w[1] == "-f":
		r, err := s.disk.root()
		if err != nil {
			return 1, err
		}
		defer r.Close()
		if err := r.Remove(rel(w[2])); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 1, err
		}
		return 0, nil
	case len(w) == 2 && w[0] == "touch":
		return 0, s.touch(w[1])
	case len(w) == 2 && w[0] == "tee":
		return 0, s.tee(w[1], stdin, stdout)
	}
	return -1, nil
}

// touch updates a file's times, creating it empty if it is missing.
func (s *sshServer) touch(name string) error {
	r, err := s.disk.root()
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := r.Stat(rel(name)); err == nil {
		now := time.Now()
		r.Chtimes(rel(name), now, now)
		return nil
	}
	return r.WriteFile(rel(name), nil, 0o644)
}

// tee writes stdin (at most maxStdin bytes) to a file and echoes it.
func (s *sshServer) tee(name string, stdin io.Reader, stdout io.Writer) error {
	b, err := io.ReadAll(io.LimitReader(stdin, maxStdin+1))
	if err != nil {
		return err
	}
	if len(b) > maxStdin {
		return fmt.Errorf("more than %d bytes on stdin", maxStdin)
	}
	r, err := s.disk.root()
	if err != nil {
		return err
	}
	defer r.Close()
	if err := writeFile(r, name, b, 0o644); err != nil {
		return err
	}
	stdout.Write(b)
	return nil
}
