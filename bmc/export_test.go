package bmc

import (
	"context"
	"crypto/aes"
	"crypto/rand"
	"fmt"
	"net"
)

// MinimalPowerQuery is the floor of the power-status benchmarks: the least
// exchange that reads a BMC's power over RMCP+ (cipher suite 3), written
// out step by step apart from the Client so that no change to rackctl's
// own path moves it. Three round trips: Open Session, RAKP 1/2, RAKP 3/4
// with Get Chassis Status sent behind RAKP 3; Close Session is sent and
// not awaited. No bmclib, no retries beyond the socket's retransmit, no
// checks beyond what the answers' integrity needs.
func MinimalPowerQuery(ctx context.Context, addr, user, password string) (on bool, err error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return false, err
	}
	s := &rmcpSession{conn: c.(*net.UDPConn), retransmit: retransmitDefault}
	defer s.close(ctx)
	if err := s.openSession(ctx, privUser); err != nil { // round trip 1
		return false, err
	}
	k := rakp{role: 0x10 | privUser, user: []byte(user), kuid: []byte(password)}
	rand.Read(k.rm[:])
	if err := s.rakp12(ctx, &k); err != nil { // round trip 2
		return false, err
	}
	r3, sik := s.rakp3(&k)
	s.k1 = keyFrom(sik, 0x01)
	s.block, _ = aes.NewCipher(keyFrom(sik, 0x02)[:16])
	status := s.request(ipmiRequest{netfn: 0x00, cmd: 0x01})
	if err := s.roundTrips(ctx, r3, status); err != nil { // round trip 3
		return false, err
	}
	data, err := completion(status)
	if err != nil {
		return false, err
	}
	if len(data) < 1 {
		return false, fmt.Errorf("short chassis status")
	}
	return data[0]&0x01 != 0, nil
}

// MinimalPowerRoundTrips is how many round trips MinimalPowerQuery makes.
const MinimalPowerRoundTrips = 3

// MinimalSession is the kept-session benchmarks' floor: a bare RMCP+
// session at Operator privilege, opened once, in which MinimalDriftReads
// sends a drift check's two reads one after the other, nothing else: no
// Client, bmclib, pool or fan-out. The BMC does the same work for it as
// for rackctl, so the floor is two round trips plus the BMC's own time.
type MinimalSession struct{ s *rmcpSession }

// OpenMinimalSession opens the floor's session (RAKP 3 with Set Session
// Privilege Level behind it).
func OpenMinimalSession(ctx context.Context, addr, user, password string) (*MinimalSession, error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return nil, err
	}
	s := &rmcpSession{conn: c.(*net.UDPConn), retransmit: retransmitDefault}
	if err := s.openSession(ctx, privOperator); err != nil {
		c.Close()
		return nil, err
	}
	k := rakp{role: 0x10 | privOperator, user: []byte(user), kuid: []byte(password)}
	rand.Read(k.rm[:])
	if err := s.rakp12(ctx, &k); err != nil {
		c.Close()
		return nil, err
	}
	r3, sik := s.rakp3(&k)
	s.k1 = keyFrom(sik, 0x01)
	s.block, _ = aes.NewCipher(keyFrom(sik, 0x02)[:16])
	priv := s.request(ipmiRequest{netfn: 0x06, cmd: 0x3b, data: []byte{privOperator}})
	if err := s.roundTrips(ctx, r3, priv); err != nil {
		s.close(ctx)
		return nil, err
	}
	return &MinimalSession{s: s}, nil
}

// MinimalDriftReads reads boot parameter 5, then the LAN address source:
// two round trips.
func (m *MinimalSession) MinimalDriftReads(ctx context.Context) error {
	for _, q := range []ipmiRequest{getBootFlags, getLANAddressSource} {
		r := m.s.request(q)
		if err := m.s.roundTrips(ctx, r); err != nil {
			return err
		}
		if _, err := completion(r); err != nil {
			return err
		}
	}
	return nil
}

// Close ends the floor's session.
func (m *MinimalSession) Close() { m.s.close(context.Background()) }
