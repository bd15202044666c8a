package nodessh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// connect opens the byte stream the SSH connection runs over: TCP to the
// node, or a proxy command's standard input and output.
func (c *Client) connect(ctx context.Context, t Target) (net.Conn, error) {
	if len(c.opts.ProxyCommand) == 0 {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", t.addr(c.opts.Port))
	}
	return c.proxy(t)
}

// ProxyArgs is the proxy command for t: %h, %p and %% replaced in each
// argument (OpenSSH's tokens), with no shell in between.
func ProxyArgs(cmd []string, host string, port int) []string {
	r := strings.NewReplacer("%h", host, "%p", strconv.Itoa(port), "%%", "%")
	out := make([]string, len(cmd))
	for i, a := range cmd {
		out[i] = r.Replace(a)
	}
	return out
}

func (c *Client) proxy(t Target) (net.Conn, error) {
	args := ProxyArgs(c.opts.ProxyCommand, t.Host, c.opts.Port)
	// Not CommandContext: the command lives as long as the connection,
	// which outlives the dial's context; closing the connection ends it.
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = c.opts.ProxyEnv
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &limitedWriter{w: &stderr, n: 2048}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("proxy command %s: %w", args[0], err)
	}
	return &proxyConn{cmd: cmd, in: stdin, out: stdout, stderr: &stderr}, nil
}

// proxyConn is a net.Conn over a proxy command's pipes.
type proxyConn struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    io.ReadCloser
	stderr *strings.Builder
	once   sync.Once
	err    error
}

func (p *proxyConn) Read(b []byte) (int, error) {
	n, err := p.out.Read(b)
	if errors.Is(err, io.EOF) && p.stderr.Len() > 0 {
		return n, fmt.Errorf("proxy command closed the connection: %s", strings.TrimSpace(p.stderr.String()))
	}
	return n, err
}

func (p *proxyConn) Write(b []byte) (int, error) { return p.in.Write(b) }

func (p *proxyConn) Close() error {
	p.once.Do(func() {
		p.in.Close()
		p.out.Close()
		if p.cmd.Process != nil {
			p.cmd.Process.Kill()
		}
		p.cmd.Wait()
	})
	return p.err
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "proxy-command" }

func (p *proxyConn) LocalAddr() net.Addr              { return pipeAddr{} }
func (p *proxyConn) RemoteAddr() net.Addr             { return pipeAddr{} }
func (p *proxyConn) SetDeadline(time.Time) error      { return nil }
func (p *proxyConn) SetReadDeadline(time.Time) error  { return nil }
func (p *proxyConn) SetWriteDeadline(time.Time) error { return nil }
