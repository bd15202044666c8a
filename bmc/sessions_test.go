package bmc_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/simrack"
)

// countDelay puts the BMCs of the round-trip tests behind a delay proxy
// that counts exchanges: long enough that datagrams sent back to back all
// reach the proxy before any answer does, so a pipelined burst counts as
// the one exchange it is.
const countDelay = 20 * time.Millisecond

// perBMC fails unless the rack's proxies counted at most max exchanges
// for each of its BMCs (and at most maxDatagrams datagrams, when > 0).
func perBMC(t *testing.T, rack *simrack.Rack, what string, maxExchanges, maxDatagrams int) {
	t.Helper()
	for i, m := range rack.BMCs {
		c := rack.Proxy(i).Counts()
		t.Logf("%s, %s: %d exchanges, %d datagrams", what, m.Name, c.Exchanges, c.Datagrams)
		if c.Exchanges > maxExchanges {
			t.Errorf("%s, %s: %d exchanges, want at most %d", what, m.Name, c.Exchanges, maxExchanges)
		}
		if maxDatagrams > 0 && c.Datagrams > maxDatagrams {
			t.Errorf("%s, %s: %d datagrams, want at most %d", what, m.Name, c.Datagrams, maxDatagrams)
		}
	}
}

// TestPowerQueryRoundTrips counts what one power query (a session of its
// own, as `rackctl status` runs it) sends: Open Session, RAKP 1, RAKP 3
// with Get Chassis Status behind it, and Close Session, not awaited: three
// round trips and a parting datagram, four exchanges and five datagrams.
// One after the other (RAKP 3, then the command) it was five exchanges.
func TestPowerQueryRoundTrips(t *testing.T) {
	needTools(t)
	rack := simrack.StartT(t, simrack.Options{N: 2, Delay: countDelay})
	if err := os.WriteFile(filepath.Join(rack.BMCs[1].StateDir, "chassis", "power"), []byte("1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, bmc.Config{})
	for i, want := range []string{"off", "on"} {
		got, err := c.PowerState(t.Context(), target(rack.BMCs[i]))
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: power %q, want %q", rack.BMCs[i].Name, got, want)
		}
	}
	perBMC(t, rack, "power query", 4, 5)
}

// TestKeptSessionsRoundTrips reads the rack as watch's drift check does,
// with kept sessions: the first read opens a session per BMC, the second
// is one round trip per read (boot device and LAN address source: at
// most two per BMC; power: one). What the kept sessions read equals what
// ipmitool reads, so the raw decoding agrees with the parsed output.
func TestKeptSessionsRoundTrips(t *testing.T) {
	needTools(t)
	rack := simrack.StartT(t, simrack.Options{N: 2, Delay: countDelay})
	ctx := t.Context()
	plain := newClient(t, bmc.Config{})
	if err := plain.SetBootDevice(ctx, target(rack.BMCs[1]), bmc.BootPXE, false, false); err != nil {
		t.Fatal(err)
	}
	kept := newClient(t, bmc.Config{KeepSessions: true})
	t.Cleanup(func() { kept.Close() })
	check := func(round string) {
		for _, m := range rack.BMCs {
			tg := target(m)
			boot, err := kept.BootDevice(ctx, tg)
			if err != nil {
				t.Fatalf("%s, %s: boot device: %v", round, m.Name, err)
			}
			src, err := kept.LANAddressSource(ctx, tg)
			if err != nil {
				t.Fatalf("%s, %s: lan address source: %v", round, m.Name, err)
			}
			wantBoot, err := plain.BootDevice(ctx, tg) // ipmitool
			if err != nil {
				t.Fatal(err)
			}
			wantSrc, err := plain.LANAddressSource(ctx, tg) // ipmitool
			if err != nil {
				t.Fatal(err)
			}
			if boot != wantBoot || src != wantSrc {
				t.Errorf("%s, %s: kept session read boot %v, source %q; ipmitool %v, %q", round, m.Name, boot, src, wantBoot, wantSrc)
			}
		}
	}
	check("first check")
	// Counted alone, without the ipmitool reads.
	rack.ResetCounts()
	for _, m := range rack.BMCs {
		if _, err := kept.BootDevice(ctx, target(m)); err != nil {
			t.Fatal(err)
		}
		if _, err := kept.LANAddressSource(ctx, target(m)); err != nil {
			t.Fatal(err)
		}
	}
	perBMC(t, rack, "second drift check (boot device, address source)", 2, 2)
	rack.ResetCounts()
	for _, m := range rack.BMCs {
		if _, err := kept.PowerState(ctx, target(m)); err != nil {
			t.Fatal(err)
		}
	}
	perBMC(t, rack, "power read in a kept session", 1, 1)
}

// TestKeptSessionReconnects restarts a BMC between two reads: the kept
// session is gone with the old process, and the second read opens a new
// one without an error and reports the power the restarted BMC has.
func TestKeptSessionReconnects(t *testing.T) {
	needTools(t)
	rack := simrack.StartT(t, simrack.Options{N: 1, Delay: countDelay})
	m := rack.BMCs[0]
	c := newClient(t, bmc.Config{KeepSessions: true})
	t.Cleanup(func() { c.Close() })
	if got, err := c.PowerState(t.Context(), target(m)); err != nil || got != "off" {
		t.Fatalf("before the restart: power %q, %v; want off", got, err)
	}
	if err := rack.Stop(0); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(m.StateDir, "chassis", "power"), []byte("1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := rack.StartAgain(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	rack.ResetCounts()
	got, err := c.PowerState(t.Context(), target(m))
	if err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	if got != "on" {
		t.Errorf("after the restart: power %q, want on", got)
	}
	// The old session's unanswered command, then a new session (three).
	if n := rack.Counts().Exchanges; n < 4 {
		t.Errorf("after the restart: %d exchanges, want at least 4 (a lost session, then a new one)", n)
	}
}

// TestKeptSessionsClose: Close ends every kept session with a Close
// Session (one datagram each), and a read after Close fails.
func TestKeptSessionsClose(t *testing.T) {
	needTools(t)
	rack := simrack.StartT(t, simrack.Options{N: 2, Delay: countDelay})
	c := newClient(t, bmc.Config{KeepSessions: true})
	for _, m := range rack.BMCs {
		if _, err := c.PowerState(t.Context(), target(m)); err != nil {
			t.Fatal(err)
		}
	}
	rack.ResetCounts()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// The proxy reads what Close sent on its own goroutine: wait for it
	// (not a timing assertion), then for any stray datagram behind it.
	deadline := time.Now().Add(10 * time.Second)
	for rack.Counts().Datagrams < len(rack.BMCs) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(3 * countDelay)
	for i, m := range rack.BMCs {
		if got := rack.Proxy(i).Counts().Datagrams; got != 1 {
			t.Errorf("%s: Close sent %d datagrams, want 1 (Close Session)", m.Name, got)
		}
	}
	if _, err := c.PowerState(t.Context(), target(rack.BMCs[0])); err == nil {
		t.Error("a read after Close succeeded")
	}
}

// TestKeptSessionKeepalive: a session idle for the keepalive interval is
// renewed (an exchange the caller did not ask for), and stays usable: the
// next read is one exchange.
func TestKeptSessionKeepalive(t *testing.T) {
	needTools(t)
	rack := simrack.StartT(t, simrack.Options{N: 1, Delay: countDelay})
	m := rack.BMCs[0]
	c := newClient(t, bmc.Config{KeepSessions: true, Keepalive: 200 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	if _, err := c.PowerState(t.Context(), target(m)); err != nil {
		t.Fatal(err)
	}
	rack.ResetCounts()
	// Not a timing assertion: the renewal must come, however late.
	deadline := time.Now().Add(20 * time.Second)
	for rack.Counts().Exchanges == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no keepalive in 20 s with a 200 ms interval")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Let the renewal's answer come back before counting the read.
	time.Sleep(3 * countDelay)
	rack.ResetCounts()
	if _, err := c.PowerState(t.Context(), target(m)); err != nil {
		t.Fatal(err)
	}
	if n := rack.Counts().Exchanges; n > 2 {
		t.Errorf("read after a keepalive: %d exchanges, want 1 (at most 2 with a keepalive in between)", n)
	}
}

// manglingRelay forwards UDP between clients and target (loopback) and
// flips the last byte of every datagram that mangle picks (toTarget: sent
// by a client): a real ipmi_sim whose traffic an attacker on the path, or
// broken key derivation on either side, has altered. No BMC or client
// here can be made to send a bad RAKP message by itself.
func manglingRelay(t *testing.T, target string, mangle func(b []byte, toTarget bool) bool) string {
	t.Helper()
	l, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ta, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ups := map[string]*net.UDPConn{}
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, up := range ups {
			up.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := l.ReadFromUDP(buf)
			if err != nil {
				return
			}
			mu.Lock()
			up, ok := ups[from.String()]
			if !ok {
				if up, err = net.DialUDP("udp", nil, ta); err != nil {
					mu.Unlock()
					continue
				}
				ups[from.String()] = up
				wg.Go(func() {
					b := make([]byte, 2048)
					for {
						n, err := up.Read(b)
						if err != nil {
							return
						}
						if mangle(b[:n], false) {
							b[n-1] ^= 0xff
						}
						l.WriteToUDP(b[:n], from)
					}
				})
			}
			mu.Unlock()
			if mangle(buf[:n], true) {
				buf[n-1] ^= 0xff
			}
			up.Write(buf[:n])
		}
	})
	return l.LocalAddr().String()
}

// TestPipelinedCommandStillChecksRAKP4: Get Chassis Status goes out
// behind RAKP 3 before RAKP 4 is in, yet a RAKP 4 whose integrity check
// fails still fails the call as an authentication error, though the
// command's own answer came back intact.
func TestPipelinedCommandStillChecksRAKP4(t *testing.T) {
	needTools(t)
	rack := simrack.StartT(t, simrack.Options{N: 1})
	m := rack.BMCs[0]
	m.Addr = manglingRelay(t, m.SimAddr, func(b []byte, toTarget bool) bool { return !toTarget && isPayload(b, payloadRAKP4) })
	c := newClient(t, bmc.Config{Retries: -1})
	_, err := c.PowerState(t.Context(), target(m))
	if !errors.Is(err, bmc.ErrAuth) || !strings.Contains(err.Error(), "rakp 4") {
		t.Fatalf("power read with a bad RAKP 4: %v, want an authentication error naming rakp 4", err)
	}
}

const (
	payloadRAKP3 = 0x14
	payloadRAKP4 = 0x15
)

// isPayload tells an RMCP+ datagram of payload type pt.
func isPayload(b []byte, pt byte) bool { return len(b) > 6 && b[4] == 0x06 && b[5]&0x3f == pt }

// TestRefusedRAKP3FailsAtOnce: a BMC that refuses RAKP 3 (here its
// integrity check value was corrupted on the way) never activates the
// session, so the command pipelined behind it is never answered; the call
// must fail with the BMC's refusal, an authentication error, not wait for
// that answer until its timeout.
func TestRefusedRAKP3FailsAtOnce(t *testing.T) {
	needTools(t)
	rack := simrack.StartT(t, simrack.Options{N: 1})
	m := rack.BMCs[0]
	m.Addr = manglingRelay(t, m.SimAddr, func(b []byte, toTarget bool) bool { return toTarget && isPayload(b, payloadRAKP3) })
	c := newClient(t, bmc.Config{Retries: -1, Timeout: 30 * time.Second})
	_, err := c.PowerState(t.Context(), target(m))
	if !errors.Is(err, bmc.ErrAuth) || errors.Is(err, bmc.ErrTimeout) {
		t.Fatalf("power read with a refused RAKP 3: %v, want the BMC's refusal (an authentication error), not a timeout", err)
	}
}
