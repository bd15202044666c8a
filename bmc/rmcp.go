package bmc

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/bmc-toolbox/bmclib/v2/bmc"
	"github.com/bmc-toolbox/bmclib/v2/providers"
	"github.com/jacobweinstock/registrar"
)

// A minimal IPMI 2.0 / RMCP+ client for cipher suite 3 (RAKP-HMAC-SHA1,
// HMAC-SHA1-96 integrity, AES-CBC-128 confidentiality). It serves the
// calls that run across the whole rack (power status, test login): no
// process is started, which matters on a small management node, and an
// ICMP port-unreachable is seen at once. The password only keys the HMACs.

const (
	privUser     = 2
	privOperator = 3
	privAdmin    = 4

	payloadIPMI       = 0x00
	payloadOpenReq    = 0x10
	payloadOpenResp   = 0x11
	payloadRAKP1      = 0x12
	payloadRAKP2      = 0x13
	payloadRAKP3      = 0x14
	payloadRAKP4      = 0x15
	payloadEncrypted  = 0x80
	payloadAuthentic  = 0x40
	retransmitDefault = time.Second
)

var rmcpHeader = []byte{0x06, 0x00, 0xff, 0x07}

// rmcpStatus names the RMCP+ status codes; the ones that mean the
// credentials or the role were refused map to ErrAuth.
var rmcpStatus = map[byte]string{
	0x01: "insufficient resources to create a session",
	0x02: "invalid session id",
	0x04: "invalid authentication algorithm",
	0x05: "invalid integrity algorithm",
	0x08: "inactive session id",
	0x09: "invalid role",
	0x0a: "unauthorized role or privilege level requested",
	0x0b: "insufficient resources for the requested role",
	0x0c: "invalid name length",
	0x0d: "unauthorized name",
	0x0e: "unauthorized guid",
	0x0f: "invalid integrity check value",
	0x10: "invalid confidentiality algorithm",
	0x11: "no cipher suite match",
	0x12: "illegal or unrecognized parameter",
}

func statusErr(step string, code byte) error {
	msg, ok := rmcpStatus[code]
	if !ok {
		msg = fmt.Sprintf("status 0x%02x", code)
	}
	switch code {
	case 0x09, 0x0a, 0x0c, 0x0d, 0x0e, 0x0f:
		return fmt.Errorf("%w: %s: %s", ErrAuth, step, msg)
	}
	return fmt.Errorf("%w: %s: %s", ErrCommand, step, msg)
}

type rmcpSession struct {
	conn       *net.UDPConn
	sidM, sidC uint32
	k1         []byte
	block      cipher.Block
	seq        uint32
	rqSeq      byte
	retransmit time.Duration
}

// ipmiRequest is one IPMI command: network function, command, data.
type ipmiRequest struct {
	netfn, cmd byte
	data       []byte
}

var (
	getChassisStatus = ipmiRequest{netfn: 0x00, cmd: 0x01}
	getDeviceID      = ipmiRequest{netfn: 0x06, cmd: 0x01}
)

// dialRMCP opens an authenticated session at privilege priv.
func dialRMCP(ctx context.Context, host, port string, creds Credentials, priv byte) (*rmcpSession, error) {
	s, _, err := dialRMCPWith(ctx, host, port, creds, priv, nil)
	return s, err
}

// dialRMCPWith opens an authenticated session at privilege priv and, when
// first is set, runs it in the same round trip as RAKP 3, returning its
// response data. A power query is then three round trips (Open Session,
// RAKP 1/2, RAKP 3/4 with the command) where one after the other it was
// four. Get Channel Authentication Capabilities (IPMI v2.0 §22.13) is not
// sent: it discovers what a console does not know yet, and RMCP+ session
// setup starts at the Open Session Request (§13.17) with the cipher suite
// asked for there (ours is always 3).
func dialRMCPWith(ctx context.Context, host, port string, creds Credentials, priv byte, first *ipmiRequest) (*rmcpSession, []byte, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	s := &rmcpSession{conn: c.(*net.UDPConn), retransmit: retransmitDefault}
	resp, err := s.handshake(ctx, creds, priv, first)
	if err != nil {
		s.close(ctx)
		return nil, nil, err
	}
	return s, resp, nil
}

// handshake opens an RMCP+ session and authenticates it (RAKP 1-4),
// deriving the integrity and confidentiality keys, then raises the
// session's privilege above User and runs first, both pipelined behind
// RAKP 3.
//
// Why pipelining is legal: the keys follow from what RAKP 2 brought (the
// BMC's random number, already proven by RAKP 2's HMAC to come from a BMC
// that knows the password), so the console can seal a message before RAKP
// 4 is in. The BMC activates the session once RAKP 3 checks out (IPMI
// v2.0 §13.22-13.23: RAKP 4 reports that check) and handles the session's
// messages in their order; a message that arrives first anyway (a
// reordering network) is dropped like any message of an inactive session
// and resent after the retransmit interval. RAKP 4 is still checked when
// it comes, and every answer's integrity is checked with K1, which only a
// BMC holding the same SIK can produce. Set Session Privilege Level
// (§22.18) is sent only above User: the session comes up at User level
// whatever RAKP 1 asked for (ipmi_sim answers Operator commands with 0xd4,
// insufficient privilege, until it is sent), and Get Chassis Status needs
// no more than User.
func (s *rmcpSession) handshake(ctx context.Context, creds Credentials, priv byte, first *ipmiRequest) ([]byte, error) {
	if err := s.openSession(ctx, priv); err != nil {
		return nil, err
	}
	k := rakp{role: 0x10 | priv, user: []byte(creds.User), kuid: []byte(creds.Password)} // 0x10: name-only lookup
	rand.Read(k.rm[:])
	if err := s.rakp12(ctx, &k); err != nil {
		return nil, err
	}
	r3, sik := s.rakp3(&k)
	s.k1 = keyFrom(sik, 0x01)
	s.block, _ = aes.NewCipher(keyFrom(sik, 0x02)[:16])
	reqs := []*pending{r3}
	var setPriv, cmd *pending
	if priv > privUser {
		setPriv = s.request(ipmiRequest{netfn: 0x06, cmd: 0x3b, data: []byte{priv}})
		reqs = append(reqs, setPriv)
	}
	if first != nil {
		cmd = s.request(*first)
		reqs = append(reqs, cmd)
	}
	if err := s.roundTrips(ctx, reqs...); err != nil {
		return nil, err
	}
	if err := s.checkRAKP4(&k, sik, r3.resp); err != nil {
		return nil, err // checked first: a refused RAKP 3 leaves the rest unanswered
	}
	if setPriv != nil {
		if _, err := completion(setPriv); err != nil {
			return nil, fmt.Errorf("%w: set session privilege: %v", ErrAuth, err)
		}
	}
	if cmd == nil {
		return nil, nil
	}
	return completion(cmd)
}

// openSession asks for a session with our random ID and the algorithms we
// speak, and keeps the ID the BMC gives it.
func (s *rmcpSession) openSession(ctx context.Context, priv byte) error {
	var sid [4]byte
	for binary.LittleEndian.Uint32(sid[:]) == 0 {
		rand.Read(sid[:])
	}
	s.sidM = binary.LittleEndian.Uint32(sid[:])

	open := []byte{0, priv, 0, 0}
	open = append(open, sid[:]...)
	open = append(open,
		0x00, 0, 0, 0x08, 0x01, 0, 0, 0, // RAKP-HMAC-SHA1
		0x01, 0, 0, 0x08, 0x01, 0, 0, 0, // HMAC-SHA1-96
		0x02, 0, 0, 0x08, 0x01, 0, 0, 0) // AES-CBC-128
	resp, err := s.exchange(ctx, payloadOpenReq, open, payloadOpenResp, 2)
	if err != nil {
		return err
	}
	if resp[1] != 0 {
		return statusErr("open session", resp[1])
	}
	if len(resp) < 12 {
		return fmt.Errorf("%w: short open session response", ErrCommand)
	}
	s.sidC = binary.LittleEndian.Uint32(resp[8:12])
	return nil
}

// rakp is what RAKP messages 1-4 share: our random number, the BMC's
// random number and GUID (from RAKP 2), the role and the user's key.
type rakp struct {
	rm       [16]byte
	rc, guid []byte
	role     byte
	user     []byte
	kuid     []byte
}

// rakp12 sends RAKP 1 and checks the BMC's RAKP 2 proves it knows the
// password.
func (s *rmcpSession) rakp12(ctx context.Context, k *rakp) error {
	r1 := []byte{0, 0, 0, 0}
	r1 = binary.LittleEndian.AppendUint32(r1, s.sidC)
	r1 = append(r1, k.rm[:]...)
	r1 = append(r1, k.role, 0, 0, byte(len(k.user)))
	r1 = append(r1, k.user...)
	resp, err := s.exchange(ctx, payloadRAKP1, r1, payloadRAKP2, 2)
	if err != nil {
		return err
	}
	if resp[1] != 0 {
		return statusErr("rakp 2", resp[1])
	}
	if len(resp) < 60 {
		return fmt.Errorf("%w: short rakp 2 (%d bytes)", ErrCommand, len(resp))
	}
	var got []byte
	k.rc, k.guid, got = resp[8:24], resp[24:40], resp[40:60]
	mac := hmac.New(sha1.New, k.kuid)
	mac.Write(binary.LittleEndian.AppendUint32(nil, s.sidM))
	mac.Write(binary.LittleEndian.AppendUint32(nil, s.sidC))
	mac.Write(k.rm[:])
	mac.Write(k.rc)
	mac.Write(k.guid)
	mac.Write([]byte{k.role, byte(len(k.user))})
	mac.Write(k.user)
	if !hmac.Equal(mac.Sum(nil), got) {
		return fmt.Errorf("%w: rakp 2 hmac is invalid (wrong password)", ErrAuth)
	}
	return nil
}

// rakp3 builds RAKP 3, proving we know the password, and returns it with
// the session integrity key.
func (s *rmcpSession) rakp3(k *rakp) (*pending, []byte) {
	mac := hmac.New(sha1.New, k.kuid)
	mac.Write(k.rm[:])
	mac.Write(k.rc)
	mac.Write([]byte{k.role, byte(len(k.user))})
	mac.Write(k.user)
	sik := mac.Sum(nil)

	mac = hmac.New(sha1.New, k.kuid)
	mac.Write(k.rc)
	mac.Write(binary.LittleEndian.AppendUint32(nil, s.sidM))
	mac.Write([]byte{k.role, byte(len(k.user))})
	mac.Write(k.user)
	r3 := []byte{0, 0, 0, 0}
	r3 = binary.LittleEndian.AppendUint32(r3, s.sidC)
	r3 = append(r3, mac.Sum(nil)...)
	req := s.setupRequest(payloadRAKP3, r3, payloadRAKP4, 2)
	req.final = func(resp []byte) bool { return resp[1] != 0 } // refused: no session
	return req, sik
}

// checkRAKP4 checks the BMC's RAKP 4 against the session integrity key.
func (s *rmcpSession) checkRAKP4(k *rakp, sik, resp []byte) error {
	if resp[1] != 0 {
		return statusErr("rakp 4", resp[1])
	}
	if len(resp) < 20 {
		return fmt.Errorf("%w: short rakp 4 (%d bytes)", ErrCommand, len(resp))
	}
	mac := hmac.New(sha1.New, sik)
	mac.Write(k.rm[:])
	mac.Write(binary.LittleEndian.AppendUint32(nil, s.sidC))
	mac.Write(k.guid)
	if !hmac.Equal(mac.Sum(nil)[:12], resp[8:20]) {
		return fmt.Errorf("%w: rakp 4 integrity check failed", ErrAuth)
	}
	return nil
}

func keyFrom(sik []byte, c byte) []byte {
	mac := hmac.New(sha1.New, sik)
	mac.Write(bytes.Repeat([]byte{c}, 20))
	return mac.Sum(nil)
}

// exchange sends an unauthenticated session-setup payload and waits for
// the reply of type want carrying our session id, retransmitting.
func (s *rmcpSession) exchange(ctx context.Context, ptype byte, payload []byte, want byte, minLen int) ([]byte, error) {
	r := s.setupRequest(ptype, payload, want, minLen)
	if err := s.roundTrips(ctx, r); err != nil {
		return nil, err
	}
	return r.resp, nil
}

// setupRequest is a session-setup payload and what its reply looks like.
func (s *rmcpSession) setupRequest(ptype byte, payload []byte, want byte, minLen int) *pending {
	pkt := append([]byte{}, rmcpHeader...)
	pkt = append(pkt, 0x06, ptype, 0, 0, 0, 0, 0, 0, 0, 0)
	pkt = binary.LittleEndian.AppendUint16(pkt, uint16(len(payload)))
	pkt = append(pkt, payload...)
	return &pending{pkt: pkt, match: func(b []byte) ([]byte, bool) {
		if len(b) < 16 || !bytes.Equal(b[:4], rmcpHeader) || b[4] != 0x06 || b[5]&0x3f != want {
			return nil, false
		}
		n := int(binary.LittleEndian.Uint16(b[14:16]))
		if len(b) < 16+n || n < minLen || n < 8 {
			return nil, false
		}
		p := b[16 : 16+n]
		if binary.LittleEndian.Uint32(p[4:8]) != s.sidM {
			return nil, false
		}
		return p, true
	}}
}

// pending is a datagram sent and the reply it waits for: match accepts
// the reply and returns its payload, which lands in resp.
type pending struct {
	pkt   []byte
	match func([]byte) ([]byte, bool)
	resp  []byte
	done  bool
	// final, when set, tells from this request's answer that the others
	// sent with it will not be answered (a refused RAKP 3: the session
	// never becomes active), so they are not waited for.
	final func(resp []byte) bool
	// netfn and cmd name an IPMI request in errors (0 for session setup).
	netfn, cmd byte
}

// roundTrips sends every request back to back, then collects their
// replies in any order, resending those still unanswered every retransmit
// interval until ctx ends. One request is one round trip; several sent
// together (pipelined) cost one round trip too.
func (s *rmcpSession) roundTrips(ctx context.Context, reqs ...*pending) error {
	buf := make([]byte, 1024)
	left := len(reqs)
	for {
		if err := ctx.Err(); err != nil {
			return ctxError(ctx, 0)
		}
		for _, r := range reqs {
			if r.done {
				continue
			}
			if _, err := s.conn.Write(r.pkt); err != nil {
				return netErr(ctx, err)
			}
		}
		resend := time.Now().Add(s.retransmit)
		for left > 0 {
			dl := resend
			if d, ok := ctx.Deadline(); ok && d.Before(dl) {
				dl = d
				if !time.Now().Before(d) {
					// The context's timer may fire late on a loaded machine;
					// never spin on a passed deadline.
					return timeoutError{}
				}
			}
			s.conn.SetReadDeadline(dl)
			n, err := s.conn.Read(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break // resend (or ctx expired: checked above)
				}
				return netErr(ctx, err)
			}
			for _, r := range reqs {
				if p, ok := r.match(buf[:n]); ok && !r.done {
					r.resp, r.done = append([]byte(nil), p...), true
					left--
					if r.final != nil && r.final(r.resp) {
						return nil
					}
					break
				}
			}
		}
		if left == 0 {
			return nil
		}
	}
}

func netErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctxError(ctx, 0)
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%w: nothing listens (connection refused)", ErrUnreachable)
	}
	return fmt.Errorf("%w: %v", ErrUnreachable, err)
}

// command sends one IPMI request in the session and returns the response
// data after the completion code.
func (s *rmcpSession) command(ctx context.Context, netfn, cmd byte, data []byte) ([]byte, error) {
	r := s.request(ipmiRequest{netfn: netfn, cmd: cmd, data: data})
	if err := s.roundTrips(ctx, r); err != nil {
		return nil, err
	}
	return completion(r)
}

// request seals one IPMI request of the session (taking the next session
// and request sequence numbers) with the match for its response.
func (s *rmcpSession) request(q ipmiRequest) *pending {
	s.rqSeq = (s.rqSeq + 1) & 0x3f
	seq := s.rqSeq
	msg := []byte{0x20, q.netfn << 2}
	msg = append(msg, checksum(msg))
	body := append([]byte{0x81, seq << 2, q.cmd}, q.data...)
	msg = append(msg, body...)
	msg = append(msg, checksum(body))

	s.seq++
	return &pending{pkt: s.seal(msg), netfn: q.netfn, cmd: q.cmd, match: func(b []byte) ([]byte, bool) {
		m, ok := s.open(b)
		if !ok || len(m) < 8 || m[1]>>2 != q.netfn+1 || m[4]>>2 != seq || m[5] != q.cmd {
			return nil, false
		}
		return m[6 : len(m)-1], true
	}}
}

// completion returns an answered request's data after its completion
// code, or the *CompletionError of a non-zero code.
func completion(r *pending) ([]byte, error) {
	if len(r.resp) < 1 {
		return nil, fmt.Errorf("%w: netfn 0x%02x cmd 0x%02x: empty response", ErrCommand, r.netfn, r.cmd)
	}
	if r.resp[0] != 0 {
		return nil, &CompletionError{NetFn: r.netfn, Cmd: r.cmd, Code: r.resp[0]}
	}
	return r.resp[1:], nil
}

// CompletionError is a command the BMC answered with a non-zero
// completion code; it matches ErrCommand. Callers that give some codes a
// meaning of their own (Set User Password's 0x80/0x81) read Code.
type CompletionError struct {
	NetFn, Cmd, Code byte
}

func (e *CompletionError) Error() string {
	return fmt.Sprintf("%v: netfn 0x%02x cmd 0x%02x: completion code 0x%02x", ErrCommand, e.NetFn, e.Cmd, e.Code)
}

func (e *CompletionError) Is(target error) bool { return target == ErrCommand }

func checksum(b []byte) byte {
	var s byte
	for _, x := range b {
		s += x
	}
	return -s
}

// seal builds an encrypted, authenticated IPMI payload packet.
func (s *rmcpSession) seal(msg []byte) []byte {
	padLen := (16 - (len(msg)+1)%16) % 16
	plain := append([]byte{}, msg...)
	for i := 1; i <= padLen; i++ {
		plain = append(plain, byte(i))
	}
	plain = append(plain, byte(padLen))
	payload := make([]byte, 16+len(plain))
	rand.Read(payload[:16])
	cipher.NewCBCEncrypter(s.block, payload[:16]).CryptBlocks(payload[16:], plain)

	pkt := append([]byte{}, rmcpHeader...)
	pkt = append(pkt, 0x06, payloadEncrypted|payloadAuthentic|payloadIPMI)
	pkt = binary.LittleEndian.AppendUint32(pkt, s.sidC)
	pkt = binary.LittleEndian.AppendUint32(pkt, s.seq)
	pkt = binary.LittleEndian.AppendUint16(pkt, uint16(len(payload)))
	pkt = append(pkt, payload...)
	// Integrity pad: authtype..next header a multiple of 4.
	ipad := (4 - (len(pkt)-4+2)%4) % 4
	for range ipad {
		pkt = append(pkt, 0xff)
	}
	pkt = append(pkt, byte(ipad), 0x07)
	mac := hmac.New(sha1.New, s.k1)
	mac.Write(pkt[4:])
	return append(pkt, mac.Sum(nil)[:12]...)
}

// open checks and decrypts a session packet, returning the IPMI message.
func (s *rmcpSession) open(b []byte) ([]byte, bool) {
	if len(b) < 16+12 || !bytes.Equal(b[:4], rmcpHeader) || b[4] != 0x06 ||
		b[5] != payloadEncrypted|payloadAuthentic|payloadIPMI ||
		binary.LittleEndian.Uint32(b[6:10]) != s.sidM {
		return nil, false
	}
	mac := hmac.New(sha1.New, s.k1)
	mac.Write(b[4 : len(b)-12])
	if !hmac.Equal(mac.Sum(nil)[:12], b[len(b)-12:]) {
		return nil, false
	}
	n := int(binary.LittleEndian.Uint16(b[14:16]))
	if n < 32 || n%16 != 0 || len(b) < 16+n {
		return nil, false
	}
	p := b[16 : 16+n]
	plain := make([]byte, n-16)
	cipher.NewCBCDecrypter(s.block, p[:16]).CryptBlocks(plain, p[16:])
	pad := int(plain[len(plain)-1])
	if pad+1 > len(plain) {
		return nil, false
	}
	return plain[:len(plain)-1-pad], true
}

// close ends the session and the socket. Close Session is sent once and
// not awaited: ipmi_sim answers it outside the (then closed) session, and
// the caller already has its answer. It is sent even when ctx has expired:
// a BMC has few session slots, and a session left open holds one until
// the BMC times it out.
func (s *rmcpSession) close(context.Context) error {
	defer s.conn.Close()
	if s.block == nil {
		return nil
	}
	s.rqSeq = (s.rqSeq + 1) & 0x3f
	msg := []byte{0x20, 0x06 << 2}
	msg = append(msg, checksum(msg))
	body := append([]byte{0x81, s.rqSeq << 2, 0x3c}, binary.LittleEndian.AppendUint32(nil, s.sidC)...)
	msg = append(msg, body...)
	msg = append(msg, checksum(body))
	s.seq++
	if _, err := s.conn.Write(s.seal(msg)); err != nil {
		return fmt.Errorf("%w: close session: %v", ErrUnreachable, err)
	}
	return nil
}

// rmcpProviderName is the bmclib provider backed by the pure-Go client.
const rmcpProviderName = "rackctl-rmcp"

var (
	rmcpFeatures = registrar.Features{providers.FeaturePowerState}
	// rmcpKeptFeatures: with kept sessions the boot flags are read over
	// RMCP+ too, one round trip instead of an ipmitool run's session.
	rmcpKeptFeatures = registrar.Features{providers.FeaturePowerState, featureBootDeviceOverrideGet}
)

// rmcpDriver reads a BMC over RMCP+: in a session of its own, closed
// after the call, or in the pool's kept session when pool is set.
type rmcpDriver struct {
	cn   *conn
	pool *sessionPool
	// last keeps the most recent error: bmclib drops some provider
	// errors (GetBootDeviceOverride), the caller takes it from here.
	last error
}

var (
	_ bmc.PowerStateGetter         = (*rmcpDriver)(nil)
	_ bmc.BootDeviceOverrideGetter = (*rmcpDriver)(nil)
)

func newRMCPDriver(cn *conn, pool *sessionPool) *rmcpDriver { return &rmcpDriver{cn: cn, pool: pool} }

func (d *rmcpDriver) Name() string { return rmcpProviderName }

// call runs q in the kept session, or in a session of its own at priv.
func (d *rmcpDriver) call(ctx context.Context, priv byte, q ipmiRequest) ([]byte, error) {
	if d.pool != nil {
		return d.pool.call(ctx, d.cn, q)
	}
	s, data, err := dialRMCPWith(ctx, d.cn.host, d.cn.port, d.cn.creds, priv, &q)
	if err != nil {
		return nil, err
	}
	s.close(ctx) // the answer is in; Close Session is not awaited (see close)
	return data, nil
}

// PowerStateGet returns ipmitool's wording ("Chassis Power is on") so both
// providers parse alike.
func (d *rmcpDriver) PowerStateGet(ctx context.Context) (string, error) {
	data, err := d.call(ctx, privUser, getChassisStatus)
	if err != nil {
		return "", derr(err)
	}
	if len(data) < 1 {
		return "", derr(fmt.Errorf("%w: short chassis status", ErrCommand))
	}
	if data[0]&0x01 != 0 {
		return "Chassis Power is on", nil
	}
	return "Chassis Power is off", nil
}

// getBootFlags is Get System Boot Options, parameter 5 (boot flags), set
// 0, block 0; an Operator command.
var getBootFlags = ipmiRequest{netfn: 0x00, cmd: 0x09, data: []byte{5, 0, 0}}

// BootDeviceOverrideGet reads boot parameter 5: the same bytes `ipmitool
// chassis bootparam get 5` prints as "Boot parameter data".
func (d *rmcpDriver) BootDeviceOverrideGet(ctx context.Context) (bmc.BootDeviceOverride, error) {
	data, err := d.call(ctx, privOperator, getBootFlags)
	if err != nil {
		d.last = derr(err)
		return bmc.BootDeviceOverride{}, d.last
	}
	// data: parameter version, parameter selector, then the 5 flag bytes.
	if len(data) < 7 || data[1]&0x7f != 5 {
		d.last = derr(fmt.Errorf("%w: boot options response % x is not parameter 5", ErrCommand, data))
		return bmc.BootDeviceOverride{}, d.last
	}
	bp, err := decodeBootFlags(data[2:])
	if err != nil {
		d.last = derr(fmt.Errorf("%w: %w", ErrCommand, err))
		return bmc.BootDeviceOverride{}, d.last
	}
	return bmc.BootDeviceOverride{Device: bmc.BootDeviceType(bp.Device), IsPersistent: bp.Persistent, IsEFIBoot: bp.EFI}, nil
}

// getLANAddressSource is Get LAN Configuration Parameters, channel
// LANChannel, parameter 4 (IP address source); an Operator command.
var getLANAddressSource = ipmiRequest{netfn: 0x0c, cmd: 0x02, data: []byte{LANChannel, 4, 0, 0}}

// lanAddressSource reads the LAN channel's address source: the value
// `ipmitool lan print` shows as "IP Address Source".
func (d *rmcpDriver) lanAddressSource(ctx context.Context) (string, error) {
	data, err := d.call(ctx, privOperator, getLANAddressSource)
	if err != nil {
		return "", err
	}
	if len(data) < 2 {
		return "", fmt.Errorf("%w: short lan parameter 4 response % x", ErrCommand, data)
	}
	switch data[1] & 0x0f {
	case 0:
		return AddrSourceUnspecified, nil
	case 1:
		return AddrSourceStatic, nil
	case 2:
		return AddrSourceDHCP, nil
	case 3:
		return AddrSourceBIOS, nil
	}
	return AddrSourceOther, nil
}
