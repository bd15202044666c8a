package simredfish

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
)

// gate is the BMC's listener with the dead knob in front of it: while it
// hangs, accepted connections are parked unanswered; while it refuses,
// the port is closed and open connections are cut.
type gate struct {
	addr string

	mu      sync.Mutex
	ln      net.Listener // nil while refusing
	mode    DeadMode
	closed  bool
	changed chan struct{} // closed and replaced on every change
	parked  []net.Conn
	conns   map[net.Conn]bool
}

func newGate(ctx context.Context, addr string) (*gate, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("simredfish: listen on %s: %w", addr, err)
	}
	return &gate{addr: ln.Addr().String(), ln: ln, changed: make(chan struct{}), conns: map[net.Conn]bool{}}, nil
}

func (g *gate) Accept() (net.Conn, error) {
	for {
		g.mu.Lock()
		ln, closed, changed := g.ln, g.closed, g.changed
		g.mu.Unlock()
		if closed {
			return nil, net.ErrClosed
		}
		if ln == nil {
			<-changed
			continue
		}
		c, err := ln.Accept()
		if err != nil {
			g.mu.Lock()
			replaced := g.closed || g.ln != ln
			g.mu.Unlock()
			if replaced {
				continue
			}
			return nil, err
		}
		g.mu.Lock()
		if g.mode == Hang && !g.closed {
			g.parked = append(g.parked, c)
			g.mu.Unlock()
			continue
		}
		g.mu.Unlock()
		return c, nil
	}
}

func (g *gate) set(mode DeadMode) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return net.ErrClosed
	}
	switch mode {
	case Refuse:
		if g.ln != nil {
			g.ln.Close()
			g.ln = nil
		}
		for c := range g.conns {
			c.Close()
		}
	case Alive, Hang:
		if g.ln == nil {
			ln, err := net.Listen("tcp", g.addr)
			if err != nil {
				return fmt.Errorf("simredfish: listen again on %s: %w", g.addr, err)
			}
			g.ln = ln
		}
	default:
		return fmt.Errorf("simredfish: unknown dead mode %d", mode)
	}
	if mode != Hang {
		// Parked clients see their connection cut, as after a BMC reset.
		for _, c := range g.parked {
			c.Close()
		}
		g.parked = nil
	}
	g.mode = mode
	close(g.changed)
	g.changed = make(chan struct{})
	return nil
}

// hung returns a channel closed once the BMC stops hanging (nil if it
// does not hang): requests on connections opened before wait on it.
func (g *gate) hung() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.mode != Hang {
		return nil
	}
	return g.changed
}

func (g *gate) track(c net.Conn, s http.ConnState) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch s {
	case http.StateNew:
		g.conns[c] = true
	case http.StateClosed, http.StateHijacked:
		delete(g.conns, c)
	}
}

func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	g.closed = true
	if g.ln != nil {
		g.ln.Close()
	}
	for _, c := range g.parked {
		c.Close()
	}
	g.parked = nil
	close(g.changed)
	g.changed = make(chan struct{})
}

func (g *gate) Close() error {
	g.close()
	return nil
}

func (g *gate) Addr() net.Addr {
	a, _ := net.ResolveTCPAddr("tcp", g.addr)
	return a
}
