package simrack

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Proxy forwards UDP datagrams between clients and one loopback target,
// delaying every datagram in both directions by the same fixed amount and
// keeping their order, as a long cable or netem's fixed delay would (this
// kernel has no sch_netem, so the delay is this relay's). It counts the
// datagrams and the exchanges of each client (see Counts).
type Proxy struct {
	listen *net.UDPConn
	target *net.UDPAddr
	delay  time.Duration
	line   chan delayed // the one delay line: FIFO, so no datagram overtakes another

	mu     sync.Mutex
	peers  map[string]*net.UDPConn // client address -> upstream socket
	counts map[string]*peerCount   // client address -> what it sent
	closed bool
	wg     sync.WaitGroup // the readers, which queue on line
	sender sync.WaitGroup // deliver
}

// delayed is a datagram waiting in the delay line.
type delayed struct {
	due  time.Time
	send func()
}

// Counts is what the clients of a proxy sent, summed over clients.
type Counts struct {
	// Datagrams the clients sent towards the target.
	Datagrams int
	// Exchanges counts the bursts of client datagrams: a burst starts with
	// a client's first datagram and with each datagram it sends after an
	// answer came back to it. Datagrams a client sends without waiting in
	// between (pipelined) are one exchange; a client that waits for each
	// answer makes one exchange per round trip.
	Exchanges int
}

type peerCount struct {
	Counts
	answered bool // an answer came back since the client last sent
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
	p := &Proxy{listen: l, target: ta, delay: delay, line: make(chan delayed, 4096),
		peers: map[string]*net.UDPConn{}, counts: map[string]*peerCount{}}
	p.wg.Go(p.serve)
	p.sender.Go(p.deliver)
	return p, nil
}

// Counts returns what the proxy's clients sent so far.
func (p *Proxy) Counts() Counts {
	p.mu.Lock()
	defer p.mu.Unlock()
	var c Counts
	for _, pc := range p.counts {
		c.Datagrams += pc.Datagrams
		c.Exchanges += pc.Exchanges
	}
	return c
}

// ResetCounts zeroes the counts (between two phases of a test).
func (p *Proxy) ResetCounts() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts = map[string]*peerCount{}
}

// count records a datagram from the client (toTarget) or to it.
func (p *Proxy) count(client string, toTarget bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pc := p.counts[client]
	if pc == nil {
		pc = &peerCount{answered: true}
		p.counts[client] = pc
	}
	if !toTarget {
		pc.answered = true
		return
	}
	pc.Datagrams++
	if pc.answered {
		pc.Exchanges++
		pc.answered = false
	}
}

// Addr is the proxy's "127.0.0.1:PORT".
func (p *Proxy) Addr() string { return p.listen.LocalAddr().String() }

// later queues send on the delay line. One timer per datagram
// (time.AfterFunc) would run each send in its own goroutine and let two
// datagrams sent back to back swap places.
func (p *Proxy) later(send func()) {
	select {
	case p.line <- delayed{due: time.Now().Add(p.delay), send: send}:
	default: // the line is full: the datagram is lost, as on a congested link
	}
}

// deliver sends each queued datagram when it is due, in queue order, until
// Close; datagrams still queued then are dropped.
func (p *Proxy) deliver() {
	for d := range p.line {
		time.Sleep(time.Until(d.due))
		d.send()
	}
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
		p.count(from.String(), true)
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
			p.count(client.String(), false)
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
	p.wg.Wait() // no reader queues any more
	close(p.line)
	p.sender.Wait()
	return err
}
