package bmc

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	bmclib "github.com/bmc-toolbox/bmclib/v2"
	"github.com/bmc-toolbox/bmclib/v2/providers/redfish"
	"github.com/go-logr/logr"
	"github.com/jacobweinstock/registrar"
	"github.com/stmcginnis/gofish"
)

// RedfishOptions configure the Redfish driver.
type RedfishOptions struct {
	// RootCAs, when set, are the only CAs a BMC certificate may chain to.
	RootCAs *x509.CertPool
	// Fingerprint, when set, pins the BMC's leaf certificate: "sha256:"
	// and the hex SHA-256 of its DER form (colons allowed); the chain is
	// not checked then.
	Fingerprint string
	// InsecureSkipVerify turns every certificate check off.
	InsecureSkipVerify bool
	// BasicAuth sends the credentials with every request instead of
	// opening a session (BMCs without a SessionService).
	BasicAuth bool
}

// Redfish drives Redfish BMCs through bmclib's Redfish provider (gofish
// underneath) for power and boot, and through gofish's client for the
// AccountService, inventory and health, which bmclib covers only by user
// name and without enable/disable. Sessions are opened on first use and
// kept until Close: one run logs in to a BMC once (per account used).
// It is safe for concurrent use; calls to one BMC are serialized.
type Redfish struct {
	cfg   Config
	log   *slog.Logger
	tls   *tls.Config
	mu    sync.Mutex
	conns map[string]*rfConn
}

var _ Driver = (*Redfish)(nil)

// NewRedfish returns a Redfish driver for cfg (cfg.Redfish holds the
// certificate policy).
func NewRedfish(cfg Config) (*Redfish, error) {
	cfg = withDefaults(cfg)
	tc, err := cfg.Redfish.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("bmc: redfish: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Redfish{cfg: cfg, log: log, tls: tc, conns: map[string]*rfConn{}}, nil
}

// Config returns the effective configuration.
func (r *Redfish) Config() Config { return r.cfg }

func (o RedfishOptions) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case o.Fingerprint != "":
		want, err := parseFingerprint(o.Fingerprint)
		if err != nil {
			return nil, err
		}
		// The chain of a BMC's self-signed certificate cannot be checked;
		// the pin replaces it.
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("%w: no certificate presented", ErrCertificate)
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if hex.EncodeToString(got[:]) != want {
				return fmt.Errorf("%w: certificate fingerprint sha256:%s is not the pinned one", ErrCertificate, hex.EncodeToString(got[:]))
			}
			return nil
		}
	case o.RootCAs != nil:
		tc.RootCAs = o.RootCAs
	case o.InsecureSkipVerify:
		tc.InsecureSkipVerify = true
	}
	return tc, nil
}

func parseFingerprint(s string) (string, error) {
	h, ok := strings.CutPrefix(s, "sha256:")
	h = strings.ToLower(strings.ReplaceAll(h, ":", ""))
	if b, err := hex.DecodeString(h); !ok || err != nil || len(b) != sha256.Size {
		return "", errors.New("certificate fingerprint: want sha256: and 64 hex digits")
	}
	return h, nil
}

// rfConn is one BMC as one account: its sessions, opened on first use.
type rfConn struct {
	mu    sync.Mutex
	host  string
	port  string
	creds Credentials
	bl    *bmclib.Client
	gf    *gofish.APIClient
}

func (r *Redfish) httpClient() *http.Client {
	tr := &http.Transport{
		TLSClientConfig:     r.tls.Clone(),
		DialContext:         (&net.Dialer{Timeout: r.cfg.Timeout}).DialContext,
		TLSHandshakeTimeout: r.cfg.Timeout,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     30 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: r.cfg.Timeout}
}

// conn returns the cached connection of t as creds (its credentials or
// the configured ones); a password is only ever a map key as a digest.
func (r *Redfish) conn(t Target) (*rfConn, string, error) {
	creds := r.cfg.Credentials
	if t.Credentials.User != "" {
		creds = t.Credentials
	}
	if err := creds.Validate(); err != nil {
		return nil, "", err
	}
	e, err := ParseEndpoint(ProtocolRedfish, t.Address)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256([]byte(creds.Password))
	key := e.Address() + "\x00" + creds.User + "\x00" + hex.EncodeToString(sum[:])
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.conns[key]
	if !ok {
		c = &rfConn{host: e.Host, port: e.Port, creds: creds}
		r.conns[key] = c
	}
	return c, key, nil
}

// drop forgets a connection whose session is gone or in doubt.
func (r *Redfish) drop(key string, c *rfConn) {
	r.mu.Lock()
	if r.conns[key] == c {
		delete(r.conns, key)
	}
	r.mu.Unlock()
	go c.close()
}

func (c *rfConn) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bl != nil {
		c.bl.Close(ctx)
		c.bl = nil
	}
	if c.gf != nil {
		c.gf.Logout()
		c.gf = nil
	}
}

// Close ends every session opened by r.
func (r *Redfish) Close() error {
	r.mu.Lock()
	conns := r.conns
	r.conns = map[string]*rfConn{}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(c.close)
	}
	wg.Wait()
	return nil
}

func (r *Redfish) hostURL(c *rfConn) string {
	return "https://" + net.JoinHostPort(c.host, c.port)
}

// bmclib returns the open bmclib client of c (a session on first use).
func (r *Redfish) bmclib(ctx context.Context, c *rfConn) (*bmclib.Client, error) {
	if c.bl != nil {
		return c.bl, nil
	}
	host := c.host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	drv := redfish.New(host, c.creds.User, c.creds.Password, logr.Discard(),
		redfish.WithHttpClient(r.httpClient()), redfish.WithPort(c.port), redfish.WithUseBasicAuth(r.cfg.Redfish.BasicAuth))
	reg := registrar.NewRegistry()
	reg.Register(redfish.ProviderName, redfish.ProviderProtocol, redfish.Features, nil, drv)
	cl := bmclib.NewClient(c.host, c.creds.User, c.creds.Password, bmclib.WithRegistry(reg))
	if err := cl.Open(ctx); err != nil {
		return nil, fmt.Errorf("open session: %w", err)
	}
	c.bl = cl
	return cl, nil
}

// gofish returns the open gofish client of c (a session on first use).
func (r *Redfish) gofish(ctx context.Context, c *rfConn) (*gofish.APIClient, error) {
	if c.gf != nil {
		return c.gf, nil
	}
	// Not ConnectContext: gofish keeps that context for every later
	// request of the session, which outlives this call; do bounds it.
	gf, err := gofish.Connect(gofish.ClientConfig{
		Endpoint: r.hostURL(c), Username: c.creds.User, Password: c.creds.Password,
		HTTPClient: r.httpClient(), BasicAuth: r.cfg.Redfish.BasicAuth,
	})
	if err != nil {
		return nil, fmt.Errorf("open session: %w", err)
	}
	c.gf = gf
	return gf, nil
}

// do runs op on t's connection under the call timeout, with the retries
// of the IPMI client plus two Redfish ones: a 412 (the resource changed
// between read and write) is read and written again, and a session the BMC
// dropped (401 on a reused session) is opened again once.
func (r *Redfish) do(ctx context.Context, t Target, action string, op func(ctx context.Context, c *rfConn) error) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	start := time.Now()
	var err error
	relogged := false
	for attempt := 0; ; attempt++ {
		var c *rfConn
		var key string
		c, key, err = r.conn(t)
		if err != nil {
			return wrap(t.Node, action, err)
		}
		reused := c.bl != nil || c.gf != nil
		err = bounded(ctx, func() error {
			c.mu.Lock()
			defer c.mu.Unlock()
			return op(ctx, c)
		})
		if err == nil {
			r.log.Debug("bmc call", "node", t.Node, "protocol", ProtocolRedfish, "action", action, "attempts", attempt+1, "elapsed", time.Since(start))
			return nil
		}
		err = classifyRedfish(ctx, err, time.Since(start))
		if errors.Is(err, ErrTimeout) || (errors.Is(err, ErrAuth) && reused) {
			// An abandoned call may still hold the session; a refused one
			// is stale.
			r.drop(key, c)
		}
		switch {
		case ctx.Err() != nil:
		case errors.Is(err, ErrAuth) && reused && !relogged:
			relogged = true
			continue
		case errors.Is(err, ErrPreconditionFailed) && attempt < 3:
			r.log.Debug("bmc call retry: etag changed", "node", t.Node, "action", action)
			continue
		case retryable(err) && attempt < r.cfg.Retries:
			continue
		}
		break
	}
	return wrap(t.Node, action, err)
}

// bounded runs fn and returns its error, or a timeout when ctx ends
// first: gofish takes no context, so a BMC that accepts a connection and
// never answers would otherwise hold the caller for the HTTP timeout of
// every request of the call.
func bounded(ctx context.Context, fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// PowerState returns "on" or "off" (other Redfish states lower-cased,
// e.g. "poweringon").
func (r *Redfish) PowerState(ctx context.Context, t Target) (string, error) {
	var state string
	err := r.do(ctx, t, "power status", func(ctx context.Context, c *rfConn) error {
		cl, err := r.bmclib(ctx, c)
		if err != nil {
			return err
		}
		s, err := cl.GetPowerState(ctx)
		state = strings.ToLower(strings.TrimSpace(s))
		return err
	})
	return state, err
}

// SetPower switches the machine (PowerOn, PowerOff, PowerCycle,
// PowerReset, PowerSoft) with the system's Reset action.
func (r *Redfish) SetPower(ctx context.Context, t Target, action string) error {
	switch action {
	case PowerOn, PowerOff, PowerCycle, PowerReset, PowerSoft:
	default:
		return wrap(t.Node, "set power", fmt.Errorf("unknown power action %q", action))
	}
	return r.do(ctx, t, "set power "+action, func(ctx context.Context, c *rfConn) error {
		cl, err := r.bmclib(ctx, c)
		if err != nil {
			return err
		}
		ok, err := cl.SetPowerState(ctx, action)
		if err == nil && !ok {
			err = fmt.Errorf("%w: bmc did not confirm power %s", ErrCommand, action)
		}
		return err
	})
}

// BootDevice reads the system's boot override.
func (r *Redfish) BootDevice(ctx context.Context, t Target) (BootParam, error) {
	var bp BootParam
	err := r.do(ctx, t, "get boot device", func(ctx context.Context, c *rfConn) error {
		cl, err := r.bmclib(ctx, c)
		if err != nil {
			return err
		}
		ov, err := cl.GetBootDeviceOverride(ctx)
		bp = BootParam{Device: string(ov.Device), Persistent: ov.IsPersistent, EFI: ov.IsEFIBoot}
		return err
	})
	return bp, err
}

// SetBootDevice sets the boot override (Once or Continuous, UEFI or
// Legacy) and reads it back; a difference is an ErrBootParamMismatch.
func (r *Redfish) SetBootDevice(ctx context.Context, t Target, device string, persistent, efi bool) error {
	if _, ok := bootSelector(device); !ok {
		return wrap(t.Node, "set boot device", fmt.Errorf("unknown boot device %q", device))
	}
	return r.do(ctx, t, "set boot device", func(ctx context.Context, c *rfConn) error {
		cl, err := r.bmclib(ctx, c)
		if err != nil {
			return err
		}
		ok, err := cl.SetBootDevice(ctx, device, persistent, efi)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: boot device not set", ErrCommand)
		}
		ov, err := cl.GetBootDeviceOverride(ctx)
		if err != nil {
			return fmt.Errorf("read back boot override: %w", err)
		}
		want := BootParam{Device: device, Persistent: persistent, EFI: efi}
		if got := (BootParam{Device: string(ov.Device), Persistent: ov.IsPersistent, EFI: ov.IsEFIBoot}); got != want {
			return &BootParamMismatchError{Want: want, Got: got}
		}
		return nil
	})
}

// SOL is refused: Redfish has no serial console rackctl can attach to.
func (r *Redfish) SOL(ctx context.Context, t Target, stdin io.Reader, stdout io.Writer) error {
	return wrap(t.Node, "sol", fmt.Errorf("%w: redfish BMCs offer no serial-over-LAN here; use the BMC's web console, or set nodes[].bmcProtocol: ipmi if it also speaks IPMI", ErrNoSerialConsole))
}

// DHCPRenew is not offered over Redfish.
func (r *Redfish) DHCPRenew(ctx context.Context, t Target) error {
	return wrap(t.Node, "lan set ipsrc dhcp", fmt.Errorf("%w over redfish", ErrNotSupported))
}

// LANAddressSource is not offered over Redfish.
func (r *Redfish) LANAddressSource(ctx context.Context, t Target) (string, error) {
	return "", wrap(t.Node, "lan print", fmt.Errorf("%w over redfish", ErrNotSupported))
}
