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

// dialRMCP opens an authenticated session at privilege priv.
func dialRMCP(ctx context.Context, host, port string, creds Credentials, priv byte) (*rmcpSession, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	s := &rmcpSession{conn: c.(*net.UDPConn), retransmit: retransmitDefault}
	if err := s.handshake(ctx, creds, priv); err != nil {
		s.conn.Close()
		return nil, err
	}
	if priv > privUser {
		if _, err := s.command(ctx, 0x06, 0x3b, []byte{priv}); err != nil {
			s.close(ctx)
			if errors.Is(err, ErrCommand) {
				err = fmt.Errorf("%w: set session privilege: %v", ErrAuth, err)
			}
			return nil, err
		}
	}
	return s, nil
}

// handshake opens an RMCP+ session and authenticates it (RAKP 1-4), then
// derives the integrity and confidentiality keys.
func (s *rmcpSession) handshake(ctx context.Context, creds Credentials, priv byte) error {
	if err := s.openSession(ctx, priv); err != nil {
		return err
	}
	k := rakp{role: 0x10 | priv, user: []byte(creds.User), kuid: []byte(creds.Password)} // 0x10: name-only lookup
	rand.Read(k.rm[:])
	if err := s.rakp12(ctx, &k); err != nil {
		return err
	}
	sik, err := s.rakp34(ctx, &k)
	if err != nil {
		return err
	}
	s.k1 = keyFrom(sik, 0x01)
	s.block, _ = aes.NewCipher(keyFrom(sik, 0x02)[:16])
	return nil
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

// rakp34 sends RAKP 3, proving we know the password, and checks the
// BMC's RAKP 4 against the session integrity key, which it returns.
func (s *rmcpSession) rakp34(ctx context.Context, k *rakp) (sik []byte, err error) {
	mac := hmac.New(sha1.New, k.kuid)
	mac.Write(k.rm[:])
	mac.Write(k.rc)
	mac.Write([]byte{k.role, byte(len(k.user))})
	mac.Write(k.user)
	sik = mac.Sum(nil)

	mac = hmac.New(sha1.New, k.kuid)
	mac.Write(k.rc)
	mac.Write(binary.LittleEndian.AppendUint32(nil, s.sidM))
	mac.Write([]byte{k.role, byte(len(k.user))})
	mac.Write(k.user)
	r3 := []byte{0, 0, 0, 0}
	r3 = binary.LittleEndian.AppendUint32(r3, s.sidC)
	r3 = append(r3, mac.Sum(nil)...)
	resp, err := s.exchange(ctx, payloadRAKP3, r3, payloadRAKP4, 2)
	if err != nil {
		return nil, err
	}
	if resp[1] != 0 {
		return nil, statusErr("rakp 4", resp[1])
	}
	if len(resp) < 20 {
		return nil, fmt.Errorf("%w: short rakp 4 (%d bytes)", ErrCommand, len(resp))
	}
	mac = hmac.New(sha1.New, sik)
	mac.Write(k.rm[:])
	mac.Write(binary.LittleEndian.AppendUint32(nil, s.sidC))
	mac.Write(k.guid)
	if !hmac.Equal(mac.Sum(nil)[:12], resp[8:20]) {
		return nil, fmt.Errorf("%w: rakp 4 integrity check failed", ErrAuth)
	}
	return sik, nil
}

func keyFrom(sik []byte, c byte) []byte {
	mac := hmac.New(sha1.New, sik)
	mac.Write(bytes.Repeat([]byte{c}, 20))
	return mac.Sum(nil)
}

// exchange sends an unauthenticated session-setup payload and waits for
// the reply of type want carrying our session id, retransmitting.
func (s *rmcpSession) exchange(ctx context.Context, ptype byte, payload []byte, want byte, minLen int) ([]byte, error) {
	pkt := append([]byte{}, rmcpHeader...)
	pkt = append(pkt, 0x06, ptype, 0, 0, 0, 0, 0, 0, 0, 0)
	pkt = binary.LittleEndian.AppendUint16(pkt, uint16(len(payload)))
	pkt = append(pkt, payload...)
	return s.roundTrip(ctx, pkt, func(b []byte) ([]byte, bool) {
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
	})
}

// roundTrip sends pkt and returns the first reply accepted by match,
// resending every retransmit interval until ctx ends.
func (s *rmcpSession) roundTrip(ctx context.Context, pkt []byte, match func([]byte) ([]byte, bool)) ([]byte, error) {
	buf := make([]byte, 1024)
	for {
		if err := ctx.Err(); err != nil {
			return nil, ctxError(ctx, 0)
		}
		if _, err := s.conn.Write(pkt); err != nil {
			return nil, netErr(ctx, err)
		}
		resend := time.Now().Add(s.retransmit)
		for {
			dl := resend
			if d, ok := ctx.Deadline(); ok && d.Before(dl) {
				dl = d
				if !time.Now().Before(d) {
					// The context's timer may fire late on a loaded machine;
					// never spin on a passed deadline.
					return nil, timeoutError{}
				}
			}
			s.conn.SetReadDeadline(dl)
			n, err := s.conn.Read(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break // resend (or ctx expired: checked above)
				}
				return nil, netErr(ctx, err)
			}
			if p, ok := match(buf[:n]); ok {
				return append([]byte(nil), p...), nil
			}
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
	s.rqSeq = (s.rqSeq + 1) & 0x3f
	seq := s.rqSeq
	msg := []byte{0x20, netfn << 2}
	msg = append(msg, checksum(msg))
	body := append([]byte{0x81, seq << 2, cmd}, data...)
	msg = append(msg, body...)
	msg = append(msg, checksum(body))

	s.seq++
	pkt := s.seal(msg)
	resp, err := s.roundTrip(ctx, pkt, func(b []byte) ([]byte, bool) {
		m, ok := s.open(b)
		if !ok || len(m) < 8 || m[1]>>2 != netfn+1 || m[4]>>2 != seq || m[5] != cmd {
			return nil, false
		}
		return m[6 : len(m)-1], true
	})
	if err != nil {
		return nil, err
	}
	if resp[0] != 0 {
		return nil, &CompletionError{NetFn: netfn, Cmd: cmd, Code: resp[0]}
	}
	return resp[1:], nil
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

var rmcpFeatures = registrar.Features{providers.FeaturePowerState}

type rmcpDriver struct {
	cn *conn
}

var _ bmc.PowerStateGetter = (*rmcpDriver)(nil)

func newRMCPDriver(cn *conn) *rmcpDriver { return &rmcpDriver{cn: cn} }

func (d *rmcpDriver) Name() string { return rmcpProviderName }

// PowerStateGet returns ipmitool's wording ("Chassis Power is on") so both
// providers parse alike.
func (d *rmcpDriver) PowerStateGet(ctx context.Context) (string, error) {
	s, err := dialRMCP(ctx, d.cn.host, d.cn.port, d.cn.creds, privUser)
	if err != nil {
		return "", derr(err)
	}
	data, err := s.command(ctx, 0x00, 0x01, nil) // Get Chassis Status
	s.close(ctx)                                 // the answer is in; a lost Close Session reply is harmless
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
