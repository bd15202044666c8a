package simrack

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Proxy forwards UDP datagrams between clients and one loopback target,
// delaying every datagram in both directions.
type Proxy struct {
	listen *net.UDPConn
	target *net.UDPAddr
	delay  time.Duration

	mu      sync.Mutex
	peers   map[string]*net.UDPConn // client address -> upstream socket
	closed  bool
	wg      sync.WaitGroup
	pending sync.WaitGroup
}

// NewDelayProxy listens on a free 127.0.0.1 UDP port and forwards to target
// (a loopback "host:port") with delay added to each datagram.
func NewDelayProxy(target string, delay time.Duration) (*Proxy, error) {
	ta, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return nil, fmt.Errorf("delay proxy: target %q: %w", target, err)
	}
	if !ta.IP.IsLoopback() {
		return nil, fmt.Errorf("delay proxy: target %s is not a loopback address", target)
	}
	l, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("delay proxy: listen: %w", err)
	}
	p := &Proxy{listen: l, target: ta, delay: delay, peers: map[string]*net.UDPConn{}}
	p.wg.Go(p.serve)
	return p, nil
}

// Addr is the proxy's "127.0.0.1:PORT".
func (p *Proxy) Addr() string { return p.listen.LocalAddr().String() }

func (p *Proxy) later(f func()) {
	p.pending.Add(1)
	time.AfterFunc(p.delay, func() {
		defer p.pending.Done()
		f()
	})
}

func (p *Proxy) serve() {
	buf := make([]byte, 65536)
	for {
		n, from, err := p.listen.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		up, err := p.upstream(from)
		if err != nil {
			continue
		}
		pkt := append([]byte(nil), buf[:n]...)
		p.later(func() { up.Write(pkt) })
	}
}

func (p *Proxy) upstream(client *net.UDPAddr) (*net.UDPConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, net.ErrClosed
	}
	if up, ok := p.peers[client.String()]; ok {
		return up, nil
	}
	up, err := net.DialUDP("udp", nil, p.target)
	if err != nil {
		return nil, err
	}
	p.peers[client.String()] = up
	p.wg.Go(func() {
		buf := make([]byte, 65536)
		for {
			n, err := up.Read(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue // e.g. connection refused while the target is down
			}
			pkt := append([]byte(nil), buf[:n]...)
			p.later(func() { p.listen.WriteToUDP(pkt, client) })
		}
	})
	return up, nil
}

// Close stops the proxy and waits for its goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	err := p.listen.Close()
	for _, up := range p.peers {
		up.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	p.pending.Wait()
	return err
}
