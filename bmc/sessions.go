package bmc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// DefaultKeepalive is how long a kept RMCP+ session may stay idle before
// it is renewed: well inside the session inactivity timeout, which the
// BMC sets (IPMI v2.0 leaves it to the implementation; 60 s is common).
const DefaultKeepalive = 20 * time.Second

// Bounds of the wait for an answer in a kept session before the session
// is taken for lost (staleWait). The floor is generous: a BMC busy for a
// moment (ipmi_sim forks a script per chassis read) must not cost a new
// session, while a rebooted BMC costs this wait once.
const (
	minStaleWait = 500 * time.Millisecond
	maxStaleWait = retransmitDefault
)

// sessionPool keeps one RMCP+ session per BMC and account open between
// calls (Config.KeepSessions), so a call on a BMC already met is one
// round trip instead of three. It renews every session idle for a
// keepalive interval with Get Device ID (a User-level no-op) so the BMC
// never times it out, and opens a session again when one no longer
// answers (the BMC rebooted or dropped it): the call that finds it so
// waits a few round trips more, and nobody else notices. Close ends every
// session with a Close Session.
//
// A kept session holds one of the BMC's few session slots for as long as
// the pool lives: one per BMC, for the watch loop that reads the rack
// every drift interval, where the slot saves three of four round trips.
type sessionPool struct {
	keepalive time.Duration
	log       *slog.Logger

	mu       sync.Mutex
	sessions map[string]*keptSession
	closed   bool
	stop     chan struct{}
	done     sync.WaitGroup
}

// keptSession is one BMC's session; lock (a one-slot semaphore that a
// context can give up on) lets one call at a time use it.
type keptSession struct {
	lock chan struct{}
	addr string // host:port, for logs
	s    *rmcpSession
	// rtt is the mean round trip of the handshake that opened s; used is
	// when s last answered.
	rtt  time.Duration
	used time.Time
}

func newSessionPool(keepalive time.Duration, log *slog.Logger) *sessionPool {
	if keepalive <= 0 {
		keepalive = DefaultKeepalive
	}
	p := &sessionPool{keepalive: keepalive, log: log, sessions: map[string]*keptSession{}, stop: make(chan struct{})}
	p.done.Go(p.renew)
	return p
}

// entry returns the kept session of cn's BMC and account, made on first
// use; a password is a map key only as its digest.
func (p *sessionPool) entry(cn *conn) (*keptSession, error) {
	sum := sha256.Sum256([]byte(cn.creds.Password))
	addr := net.JoinHostPort(cn.host, cn.port)
	key := addr + "\x00" + cn.creds.User + "\x00" + hex.EncodeToString(sum[:])
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("bmc sessions closed")
	}
	ks, ok := p.sessions[key]
	if !ok {
		ks = &keptSession{lock: make(chan struct{}, 1), addr: addr}
		p.sessions[key] = ks
	}
	return ks, nil
}

// call runs q in cn's kept session, opening one (at Operator privilege:
// boot options and LAN parameters need it) when there is none or the one
// there no longer answers.
func (p *sessionPool) call(ctx context.Context, cn *conn, q ipmiRequest) ([]byte, error) {
	ks, err := p.entry(cn)
	if err != nil {
		return nil, err
	}
	select {
	case ks.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, ctxError(ctx, 0)
	}
	defer func() { <-ks.lock }()
	if ks.s != nil {
		resp, err := ks.command(ctx, q)
		if err == nil || ctx.Err() != nil || !errors.Is(err, ErrUnreachable) {
			return resp, err // answered (a completion code too), or out of time
		}
		p.log.Debug("bmc session not answering: opening a new one", "bmc", ks.addr)
		ks.drop(ctx)
	}
	start := time.Now()
	s, resp, err := dialRMCPWith(ctx, cn.host, cn.port, cn.creds, privOperator, &q)
	if err != nil {
		return nil, err
	}
	ks.s, ks.rtt, ks.used = s, time.Since(start)/3, time.Now()
	return resp, nil
}

// command sends q in the kept session and waits staleWait for the answer:
// a BMC that lost the session discards the message without a word (a
// message of a session the BMC does not hold has no one to answer to;
// ipmi_sim is silent), and waiting out the call's whole timeout for it
// would make a rebooted BMC look dead.
func (ks *keptSession) command(ctx context.Context, q ipmiRequest) ([]byte, error) {
	wctx, cancel := context.WithTimeout(ctx, ks.staleWait())
	defer cancel()
	r := ks.s.request(q)
	if err := ks.s.roundTrips(wctx, r); err != nil {
		return nil, err
	}
	ks.used = time.Now()
	return completion(r)
}

// staleWait is how long an answer in a kept session may take before the
// session is taken for lost: four of the round trips its handshake took,
// within [minStaleWait, maxStaleWait]. A BMC merely slow costs a new
// session (three round trips), never a wrong answer.
func (ks *keptSession) staleWait() time.Duration {
	return min(max(4*ks.rtt, minStaleWait), maxStaleWait)
}

// drop ends the session: Close Session is sent (not awaited) in case the
// BMC still holds it.
func (ks *keptSession) drop(ctx context.Context) {
	ks.s.close(ctx)
	ks.s = nil
}

// renew sends Get Device ID in every session idle for a keepalive
// interval, checking twice per interval, until Close. A session in use is
// skipped (it is not idle); one that does not answer is dropped and
// opened again by the next call.
func (p *sessionPool) renew() {
	t := time.NewTicker(p.keepalive / 2)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		p.mu.Lock()
		kept := make([]*keptSession, 0, len(p.sessions))
		for _, ks := range p.sessions {
			kept = append(kept, ks)
		}
		p.mu.Unlock()
		var wg sync.WaitGroup
		for _, ks := range kept {
			wg.Go(func() { p.renewOne(ks) })
		}
		wg.Wait()
	}
}

func (p *sessionPool) renewOne(ks *keptSession) {
	select {
	case ks.lock <- struct{}{}:
	default:
		return // in use
	}
	defer func() { <-ks.lock }()
	if ks.s == nil || time.Since(ks.used) < p.keepalive {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), maxStaleWait)
	defer cancel()
	if _, err := ks.command(ctx, getDeviceID); err != nil {
		p.log.Debug("bmc session keepalive failed: dropped", "bmc", ks.addr, "error", err)
		ks.drop(ctx)
	}
}

// close stops the renewal and ends every session with Close Session.
func (p *sessionPool) close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.stop)
	kept := p.sessions
	p.sessions = nil
	p.mu.Unlock()
	p.done.Wait()
	for _, ks := range kept {
		ks.lock <- struct{}{} // a call still running finishes first
		if ks.s != nil {
			ks.drop(context.Background())
		}
		<-ks.lock
	}
	return nil
}
