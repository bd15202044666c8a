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

// MinimalRoundTrip is one round trip to the BMC at addr and nothing else:
// a sessionless Get Channel Authentication Capabilities (IPMI v2.0
// §22.13, the RMCP "ping" every console may send), answered from the
// BMC's memory. The kept-session benchmarks' floor is N of these.
func MinimalRoundTrip(ctx context.Context, addr string) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	s := &rmcpSession{conn: c.(*net.UDPConn), retransmit: retransmitDefault}
	defer c.Close()
	msg := []byte{0x20, 0x06 << 2}
	msg = append(msg, checksum(msg))
	body := []byte{0x81, 0x00, 0x38, 0x8e, privAdmin} // channel: this one, IPMI v2.0 data
	msg = append(msg, body...)
	msg = append(msg, checksum(body))
	pkt := append([]byte{}, rmcpHeader...)
	pkt = append(pkt, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, byte(len(msg))) // auth type none, sequence 0, session 0
	pkt = append(pkt, msg...)
	return s.roundTrips(ctx, &pending{pkt: pkt, match: func(b []byte) ([]byte, bool) { return b, len(b) > 4 }})
}
