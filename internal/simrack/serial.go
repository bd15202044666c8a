package simrack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
)

// serialPort is the machine side of a BMC's serial console. ipmi_sim's
// `sol "tcp:HOST:PORT"` makes the simulator connect to HOST:PORT as if it
// were the machine's serial port: bytes written to that connection are the
// machine's console output (sent to the active SOL session, dropped when
// there is none), bytes read from it are what the SOL client typed. The
// simulator connects at start and, after losing the connection, again every
// 10 seconds.
type serialPort struct {
	ln net.Listener

	mu      sync.Mutex
	conn    net.Conn      // the simulator's latest connection
	changed chan struct{} // closed and replaced when conn changes
	closed  bool
	wg      sync.WaitGroup
}

func newSerialPort() (*serialPort, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("simrack: serial port: %w", err)
	}
	s := &serialPort{ln: ln, changed: make(chan struct{})}
	s.wg.Go(s.serve)
	return s, nil
}

func (s *serialPort) addr() string { return s.ln.Addr().String() }

func (s *serialPort) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		if s.conn != nil {
			s.conn.Close()
		}
		s.conn = c
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
	}
}

// get returns the simulator's connection, waiting for it until ctx ends.
func (s *serialPort) get(ctx context.Context) (net.Conn, error) {
	for {
		s.mu.Lock()
		c, changed, closed := s.conn, s.changed, s.closed
		s.mu.Unlock()
		if closed {
			return nil, net.ErrClosed
		}
		if c != nil {
			return c, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("simrack: wait for the simulator's serial connection: %w", ctx.Err())
		}
	}
}

// drop forgets the current connection (its simulator was killed).
func (s *serialPort) drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

func (s *serialPort) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	close(s.changed)
	s.mu.Unlock()
	s.ln.Close()
	s.wg.Wait()
}

// Serial returns the machine side of the BMC's serial console (Options.SOL):
// write to it what the machine prints, read from it what a SOL client
// typed. Output written while no SOL session is active is dropped by the
// simulator, so write only once a session is up. Serial waits until the
// simulator has connected or ctx ends; after a Stop and StartAgain it
// returns the new simulator's connection. The Rack owns the connection:
// don't close it.
func (b BMC) Serial(ctx context.Context) (net.Conn, error) {
	if b.serial == nil {
		return nil, fmt.Errorf("simrack: %s has no serial console (set Options.SOL)", b.Name)
	}
	return b.serial.get(ctx)
}
