package simredfish

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Options configure one simulated Redfish BMC.
type Options struct {
	// Dir holds the BMC's certificate, key and state (bmc.json); required.
	// Starting again on the same Dir keeps accounts and certificate.
	Dir string
	// ChassisDir holds the simulated server's power, resets and boot files
	// (default Dir/chassis). Created with power off when missing.
	ChassisDir string
	// Addr is the loopback address to listen on (default 127.0.0.1:0, a
	// free port); a restart passes the old BMC's Addr to keep it.
	Addr string
	// User and Password make the first Administrator account when the
	// state is new (default user "admin"; Password is required then).
	User, Password string
	// CA signs the server certificate (default: the BMC's own CA in Dir).
	CA *CA
	// Serial is the system's and chassis' serial number (default from Dir).
	Serial string
}

// BMC is one running simulated Redfish BMC.
type BMC struct {
	// Addr is "127.0.0.1:PORT" and URL "https://127.0.0.1:PORT".
	Addr, URL string
	// CAPEM is the CA that signed the certificate; CAFile holds it.
	CAPEM  []byte
	CAFile string
	// Fingerprint pins the server certificate ("sha256:AB:CD:...").
	Fingerprint string
	// User and Password are the first Administrator's credentials.
	User, Password  string
	Dir, ChassisDir string
	SystemID        string
	ManagerID       string
	ChassisID       string
	serialNumber    string
	srv             *http.Server
	gate            *gate
	done            chan struct{}
	mu              sync.Mutex // guards everything below and the files
	st              *persisted
	sessions        map[string]*session // by token
	nextSession     int
	refuseNext      bool
	conflictOnce    bool
	slow            time.Duration
	sharedCA        *CA
}

type session struct {
	ID, Token, AccountID string
}

// Start starts a simulated Redfish BMC and returns once it accepts
// connections. Close stops it.
func Start(ctx context.Context, opts Options) (*BMC, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	dir := opts.Dir
	st, err := loadState(dir, opts.User, opts.Password)
	if err != nil {
		return nil, err
	}
	if err := prepareChassis(opts.ChassisDir, st.Boot); err != nil {
		return nil, err
	}
	ca := opts.CA
	if ca == nil {
		if ca, err = NewCA(dir); err != nil {
			return nil, err
		}
	}
	caFile := filepath.Join(dir, "ca.pem")
	if opts.CA != nil {
		// A shared CA's certificate is copied beside the BMC's, so CAFile
		// always names this BMC's issuer.
		caFile = filepath.Join(dir, "issuer-ca.pem")
		if err := os.WriteFile(caFile, ca.PEM, 0o644); err != nil {
			return nil, fmt.Errorf("simredfish: %w", err)
		}
	}
	cert, err := serverCert(dir, ca)
	if err != nil {
		return nil, err
	}
	if err := st.save(dir); err != nil {
		return nil, err
	}
	serialNumber := opts.Serial
	if serialNumber == "" {
		serialNumber = fmt.Sprintf("SIM%08X", fnv(dir))
	}
	g, err := newGate(ctx, opts.Addr)
	if err != nil {
		return nil, err
	}
	b := &BMC{
		Addr: g.addr, URL: "https://" + g.addr,
		CAPEM: ca.PEM, CAFile: caFile, Fingerprint: Fingerprint(cert.Certificate[0]),
		User: opts.User, Password: opts.Password,
		Dir: dir, ChassisDir: opts.ChassisDir,
		SystemID: "1", ManagerID: "bmc", ChassisID: "1",
		serialNumber: serialNumber,
		gate:         g, done: make(chan struct{}),
		st: st, sessions: map[string]*session{},
		sharedCA: opts.CA,
	}
	b.srv = &http.Server{
		Handler:           b,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ConnState:         g.track,
		// TLS handshakes a test cuts short are expected, not news.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() {
		defer close(b.done)
		b.srv.ServeTLS(g, "", "")
	}()
	return b, nil
}

// withDefaults fills in the defaults, makes Dir absolute and creates it,
// and refuses an address off loopback.
func (opts Options) withDefaults() (Options, error) {
	if opts.Dir == "" {
		return opts, errors.New("simredfish: no directory")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return opts, fmt.Errorf("simredfish: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return opts, fmt.Errorf("simredfish: %w", err)
	}
	opts.Dir = dir
	if opts.ChassisDir == "" {
		opts.ChassisDir = filepath.Join(dir, "chassis")
	}
	if opts.User == "" {
		opts.User = "admin"
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if host, _, err := net.SplitHostPort(opts.Addr); err != nil || !net.ParseIP(host).IsLoopback() {
		return opts, fmt.Errorf("simredfish: address %q: want a loopback host:port", opts.Addr)
	}
	return opts, nil
}

func prepareChassis(dir string, boot bootOverride) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("simredfish: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "power")); errors.Is(err, os.ErrNotExist) {
		if err := setPower(dir, false); err != nil {
			return err
		}
	}
	return writeBootFile(dir, boot)
}

func fnv(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

// Close stops the BMC; a hanging or refused BMC is stopped too.
func (b *BMC) Close() error {
	b.gate.close()
	err := b.srv.Close()
	<-b.done
	if err != nil {
		return fmt.Errorf("simredfish: close: %w", err)
	}
	return nil
}

// Restart stops the BMC and starts it again on the same address and
// directory, as a BMC reboot does: accounts, certificate and boot
// override stay, sessions are gone.
func (b *BMC) Restart(ctx context.Context) (*BMC, error) {
	if err := b.Close(); err != nil {
		return nil, err
	}
	return Start(ctx, Options{Dir: b.Dir, ChassisDir: b.ChassisDir, Addr: b.Addr, User: b.User, Password: b.Password, Serial: b.serialNumber, CA: b.sharedCA})
}

// DeadMode says how a dead BMC behaves.
type DeadMode int

const (
	// Alive answers as usual.
	Alive DeadMode = iota
	// Hang accepts TCP connections but never answers on them (a BMC whose
	// web server is wedged): only a client timeout ends the wait.
	Hang
	// Refuse closes the port: new connections are refused and open ones
	// are cut (a BMC that is rebooting or unplugged).
	Refuse
)

// SetDead makes the BMC hang or refuse connections, or revives it.
func (b *BMC) SetDead(mode DeadMode) error {
	return b.gate.set(mode)
}

// SetSlow delays every answer by d (0: no delay).
func (b *BMC) SetSlow(d time.Duration) {
	b.mu.Lock()
	b.slow = d
	b.mu.Unlock()
}

// RefuseNextLogin makes the next credentials a client creates — a new
// account, or a new password of an existing one — stored but never
// accepted for login, like a BMC that acknowledges a user change it did
// not apply. A rotation must notice it before it switches over.
func (b *BMC) RefuseNextLogin() {
	b.mu.Lock()
	b.refuseNext = true
	b.mu.Unlock()
}

// ConflictOnce makes the next PATCH that carries If-Match fail with 412,
// as though another client had changed the resource in between.
func (b *BMC) ConflictOnce() {
	b.mu.Lock()
	b.conflictOnce = true
	b.mu.Unlock()
}

// NextBoot is what the simulated server's firmware asks when it boots:
// the override target ("Pxe", "Hdd", "Cd", ...; "None" for the firmware's
// own boot order) and whether it boots in UEFI mode. A Once override is
// consumed, as a real BMC clears it when the system boots.
func (b *BMC) NextBoot() (target string, uefi bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bo := b.st.Boot
	target, uefi = bo.Target, bo.Mode == "UEFI"
	if bo.Enabled == "Disabled" {
		target = "None"
	}
	if bo.Enabled == "Once" {
		b.st.Boot.Enabled, b.st.Boot.Target = "Disabled", "None"
		if err := b.saveLocked(); err != nil {
			return "", false, err
		}
	}
	return target, uefi, nil
}

// Media is the image in the virtual CD drive ("" when none is inserted).
func (b *BMC) Media() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.st.Media.Inserted {
		return ""
	}
	return b.st.Media.Image
}

// Power reads the chassis power file.
func (b *BMC) Power() (bool, error) {
	return readPower(b.ChassisDir)
}

// saveLocked persists the state and refreshes the boot file.
func (b *BMC) saveLocked() error {
	if err := b.st.save(b.Dir); err != nil {
		return err
	}
	return writeBootFile(b.ChassisDir, b.st.Boot)
}
