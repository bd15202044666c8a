package bmc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"time"

	bmclib "github.com/bmc-toolbox/bmclib/v2"
	"github.com/bmc-toolbox/bmclib/v2/providers/ipmitool"
	"github.com/jacobweinstock/registrar"
)

// Defaults for Config.
const (
	DefaultTimeout  = 5 * time.Second
	DefaultRetries  = 1
	DefaultParallel = 32
	// LANChannel is the IPMI LAN channel used for users and lan settings.
	LANChannel = 1
)

// Target is one BMC to talk to.
type Target struct {
	// Node names the machine; it appears in errors and ForEach results.
	Node string
	// Address is "host" (the protocol's port, DefaultPort) or "host:port".
	Address string
	// Protocol selects the driver (ProtocolIPMI, ProtocolRedfish; ""
	// is IPMI). Drivers dispatches on it; a single driver ignores it.
	Protocol string
	// Credentials, when set (User not empty), override Config.Credentials.
	Credentials Credentials
}

// Config configures a Client. The zero value of every field but Credentials
// is usable.
type Config struct {
	// Credentials used for targets that carry none.
	Credentials Credentials
	// Timeout bounds one operation (all its retries together). Default 5 s.
	Timeout time.Duration
	// Retries is how many times a failed attempt that may be transient
	// (timeout, unreachable) is tried again within Timeout. Default 1;
	// negative means none.
	Retries int
	// Parallel bounds ForEach. Default 32.
	Parallel int
	// Ipmitool is the ipmitool binary (default: looked up in PATH).
	Ipmitool string
	// PowerStatus selects the power-status implementation: "rmcp" (default,
	// the pure-Go RMCP+ provider) or "ipmitool" (bmclib's ipmitool provider).
	PowerStatus string
	// Logger receives debug logs (never a password). Default: discard.
	Logger *slog.Logger
	// Redfish configures the Redfish driver (certificate checks).
	Redfish RedfishOptions
	// KeepSessions keeps one RMCP+ session per IPMI BMC open between calls
	// until Close, renewed when idle for Keepalive and opened again when
	// the BMC lost it: power, boot device and LAN address source reads
	// are then one round trip each (for the watch loop, which reads the
	// rack every drift interval). Without it every call opens and closes
	// its own session.
	KeepSessions bool
	// Keepalive is how long a kept session may idle before it is renewed
	// (default DefaultKeepalive).
	Keepalive time.Duration
}

// Client talks to BMCs. Without Config.KeepSessions it holds no
// connection: every call opens its own session. It is safe for
// concurrent use.
type Client struct {
	cfg  Config
	log  *slog.Logger
	pool *sessionPool // kept RMCP+ sessions, nil without KeepSessions
}

// withDefaults fills in the defaults every driver shares.
func withDefaults(cfg Config) Config {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Retries == 0 {
		cfg.Retries = DefaultRetries
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = DefaultParallel
	}
	return cfg
}

// New returns a Client. It fails when ipmitool cannot be found.
func New(cfg Config) (*Client, error) {
	cfg = withDefaults(cfg)
	if cfg.Ipmitool == "" {
		cfg.Ipmitool = "ipmitool"
	}
	p, err := exec.LookPath(cfg.Ipmitool)
	if err != nil {
		return nil, fmt.Errorf("bmc: find ipmitool: %w", err)
	}
	cfg.Ipmitool = p
	switch cfg.PowerStatus {
	case "":
		cfg.PowerStatus = "rmcp"
	case "rmcp", "ipmitool":
	default:
		return nil, fmt.Errorf("bmc: unknown power status implementation %q", cfg.PowerStatus)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{cfg: cfg, log: log}
	if cfg.KeepSessions {
		c.pool = newSessionPool(cfg.Keepalive, log)
	}
	return c, nil
}

// Config returns the effective configuration (defaults filled in).
func (c *Client) Config() Config { return c.cfg }

// conn is everything one call needs for one target.
type conn struct {
	t     Target
	creds Credentials
	host  string
	port  string
	run   ipmitoolRun
}

func (c *Client) conn(t Target) (*conn, error) {
	creds := c.cfg.Credentials
	if t.Credentials.User != "" {
		creds = t.Credentials
	}
	if err := creds.Validate(); err != nil {
		return nil, err
	}
	host, port, err := splitAddress(t.Address)
	if err != nil {
		return nil, err
	}
	return &conn{t: t, creds: creds, host: host, port: port,
		run: ipmitoolRun{path: c.cfg.Ipmitool, host: host, port: port, creds: creds}}, nil
}

// do runs op for target t under the call timeout with bounded retries and
// wraps the error with node and action.
func (c *Client) do(ctx context.Context, t Target, action string, op func(ctx context.Context, cn *conn) error) error {
	cn, err := c.conn(t)
	if err != nil {
		return wrap(t.Node, action, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	start := time.Now()
	for attempt := 0; ; attempt++ {
		err = op(ctx, cn)
		if err == nil {
			c.log.Debug("bmc call", "node", t.Node, "action", action, "attempts", attempt+1, "elapsed", time.Since(start))
			return nil
		}
		if ctx.Err() != nil && !errors.Is(err, ErrTimeout) {
			err = fmt.Errorf("%w (%v)", ctxError(ctx, time.Since(start)), err)
		}
		if attempt >= c.cfg.Retries || ctx.Err() != nil || !retryable(err) {
			break
		}
		c.log.Debug("bmc call retry", "node", t.Node, "action", action, "error", err)
	}
	return wrap(t.Node, action, err)
}

// retryable: failures that a second try may fix. Auth failures, command
// failures and read-back mismatches are not retried.
func retryable(err error) bool {
	return errors.Is(err, ErrUnreachable) && !errors.Is(err, ErrTimeout)
}

// bmclibClient returns a bmclib client whose registry holds only drv: the
// rack speaks IPMI, so no other protocol is swept and the whole call
// deadline goes to the one provider.
func (cn *conn) bmclibClient(name, protocol string, features registrar.Features, drv any) *bmclib.Client {
	reg := registrar.NewRegistry()
	reg.Register(name, protocol, features, nil, drv)
	return bmclib.NewClient(cn.host, cn.creds.User, cn.creds.Password, bmclib.WithRegistry(reg))
}

// ipmitoolProvider returns bmclib's ipmitool provider for cn (cipher suite
// 3; it passes the password through the environment and -E).
func (c *Client) ipmitoolProvider(cn *conn) (*bmclib.Client, error) {
	drv, err := ipmitool.New(cn.host, cn.creds.User, cn.creds.Password,
		ipmitool.WithPort(cn.port), ipmitool.WithCipherSuite("3"), ipmitool.WithIpmitoolPath(c.cfg.Ipmitool))
	if err != nil {
		return nil, fmt.Errorf("ipmitool provider: %w", err)
	}
	return cn.bmclibClient(ipmitool.ProviderName, ipmitool.ProviderProtocol, ipmitool.Features, drv), nil
}

// bmclibErr turns an error from bmclib's ipmitool provider into the
// package's errors.
func bmclibErr(ctx context.Context, err error, elapsed time.Duration) error {
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return timeoutError{after: elapsed.Round(time.Millisecond)}
	}
	var d *driverError
	if errors.As(err, &d) {
		return d.err
	}
	return classify(strings.Join(strings.Fields(err.Error()), " "), elapsed)
}

// PowerState returns "on" or "off".
func (c *Client) PowerState(ctx context.Context, t Target) (string, error) {
	var state string
	err := c.do(ctx, t, "power status", func(ctx context.Context, cn *conn) error {
		var cl *bmclib.Client
		if c.cfg.PowerStatus == "rmcp" {
			cl = cn.bmclibClient(rmcpProviderName, "ipmi", rmcpFeatures, newRMCPDriver(cn, c.pool))
		} else {
			var err error
			if cl, err = c.ipmitoolProvider(cn); err != nil {
				return err
			}
		}
		start := time.Now()
		out, err := cl.GetPowerState(ctx)
		if err != nil {
			return bmclibErr(ctx, err, time.Since(start))
		}
		state, err = ParsePowerStatus(out)
		return err
	})
	return state, err
}

// Power actions for SetPower.
const (
	PowerOn    = "on"
	PowerOff   = "off"
	PowerCycle = "cycle"
	PowerReset = "reset"
	PowerSoft  = "soft"
)

// SetPower switches the machine: PowerOn, PowerOff, PowerCycle, PowerReset
// or PowerSoft. It goes through bmclib's ipmitool provider.
func (c *Client) SetPower(ctx context.Context, t Target, action string) error {
	switch action {
	case PowerOn, PowerOff, PowerCycle, PowerReset, PowerSoft:
	default:
		return wrap(t.Node, "set power", fmt.Errorf("unknown power action %q", action))
	}
	return c.do(ctx, t, "set power "+action, func(ctx context.Context, cn *conn) error {
		cl, err := c.ipmitoolProvider(cn)
		if err != nil {
			return err
		}
		start := time.Now()
		ok, err := cl.SetPowerState(ctx, action)
		if err != nil {
			return bmclibErr(ctx, err, time.Since(start))
		}
		if !ok {
			return fmt.Errorf("%w: bmc did not confirm power %s", ErrCommand, action)
		}
		return nil
	})
}

// BootDevice reads boot parameter 5 (device, persistent, EFI).
func (c *Client) BootDevice(ctx context.Context, t Target) (BootParam, error) {
	var bp BootParam
	err := c.do(ctx, t, "get boot device", func(ctx context.Context, cn *conn) error {
		d := &driver{run: cn.run}
		cl, last := cn.bmclibClient(driverName, "ipmi", driverFeatures, d), &d.last
		if c.pool != nil {
			rd := newRMCPDriver(cn, c.pool)
			cl, last = cn.bmclibClient(rmcpProviderName, "ipmi", rmcpKeptFeatures, rd), &rd.last
		}
		start := time.Now()
		ov, err := cl.GetBootDeviceOverride(ctx)
		if err != nil {
			if *last != nil {
				err = *last
			}
			return bmclibErr(ctx, err, time.Since(start))
		}
		bp = BootParam{Device: string(ov.Device), Persistent: ov.IsPersistent, EFI: ov.IsEFIBoot}
		return nil
	})
	return bp, err
}

// SetBootDevice sets the boot device (BootPXE, BootDisk, ...) with raw
// IPMI writes (working around ipmitool's `chassis bootdev` option bugs),
// then reads parameter 5 back; a difference is an error matching
// ErrBootParamMismatch.
func (c *Client) SetBootDevice(ctx context.Context, t Target, device string, persistent, efi bool) error {
	if _, err := bootFlagBytes(device, persistent, efi); err != nil {
		return wrap(t.Node, "set boot device", err)
	}
	return c.do(ctx, t, "set boot device", func(ctx context.Context, cn *conn) error {
		d := &driver{run: cn.run}
		cl := cn.bmclibClient(driverName, "ipmi", driverFeatures, d)
		start := time.Now()
		ok, err := cl.SetBootDevice(ctx, device, persistent, efi)
		if err != nil {
			return bmclibErr(ctx, err, time.Since(start))
		}
		if !ok {
			return fmt.Errorf("%w: boot device not set", ErrCommand)
		}
		return nil
	})
}

// Users lists the named users on the LAN channel, read through bmclib's
// UserReader interface.
func (c *Client) Users(ctx context.Context, t Target) ([]User, error) {
	var users []User
	err := c.do(ctx, t, "read users", func(ctx context.Context, cn *conn) error {
		d := &driver{run: cn.run}
		cl := cn.bmclibClient(driverName, "ipmi", driverFeatures, d)
		start := time.Now()
		maps, err := cl.ReadUsers(ctx)
		if err != nil {
			return bmclibErr(ctx, err, time.Since(start))
		}
		users = usersFromMaps(maps)
		return nil
	})
	return users, err
}

// DiagReport is the raw text of the BMC's chassis status and boot flags,
// for humans, and the server's inventory as the BMC reports it.
type DiagReport struct {
	ChassisStatus string
	BootParam5    string
	Inventory     Inventory
	// Err is set when one of the reads failed; the other may still be there.
	Err error
}

// Diag reads `chassis status` and `chassis bootparam get 5`, then the
// inventory (`mc info`, `fru print 0`) as a call of its own: four ipmitool
// runs under one timeout would not fit it on a loaded management node. A
// BMC that did not answer the first is not asked again (a dead BMC costs
// one timeout).
func (c *Client) Diag(ctx context.Context, t Target) DiagReport {
	var r DiagReport
	r.Err = c.do(ctx, t, "diag", func(ctx context.Context, cn *conn) error {
		out, err := cn.run.run(ctx, "chassis", "status")
		if err != nil {
			return err
		}
		r.ChassisStatus = string(out)
		out, err = cn.run.run(ctx, "chassis", "bootparam", "get", "5")
		if err != nil {
			return err
		}
		r.BootParam5 = string(out)
		return nil
	})
	if r.Err == nil {
		r.Inventory, r.Err = c.Inventory(ctx, t)
	}
	return r
}

// DHCPRenew sets the BMC's LAN channel to take its address from DHCP
// (`lan set 1 ipsrc dhcp`).
func (c *Client) DHCPRenew(ctx context.Context, t Target) error {
	return c.do(ctx, t, "lan set ipsrc dhcp", func(ctx context.Context, cn *conn) error {
		_, err := cn.run.run(ctx, "lan", "set", strconv.Itoa(LANChannel), "ipsrc", "dhcp")
		return err
	})
}

// Exec runs ipmitool with args against t (session options, cipher suite 3
// and credentials are added) and returns its standard output. It is not
// retried: args may not be idempotent.
func (c *Client) Exec(ctx context.Context, t Target, args ...string) ([]byte, error) {
	if len(args) == 0 {
		return nil, wrap(t.Node, "ipmitool", errors.New("no ipmitool arguments"))
	}
	for _, a := range args {
		// Session options are ours to set; refuse -P and friends.
		switch a {
		case "-P", "-H", "-U", "-p", "-I", "-C", "-E", "-f", "-k", "-y", "-K":
			return nil, wrap(t.Node, "ipmitool", fmt.Errorf("option %s is set by rackctl", a))
		}
		if strings.HasPrefix(a, "-P") {
			return nil, wrap(t.Node, "ipmitool", errors.New("passwords on the command line are refused"))
		}
	}
	var out []byte
	cn, err := c.conn(t)
	if err != nil {
		return nil, wrap(t.Node, "ipmitool", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	out, err = cn.run.run(ctx, args...)
	return out, wrap(t.Node, "ipmitool "+strings.Join(args, " "), err)
}

// SOL attaches stdin and stdout to the serial-over-LAN console of t until
// ctx ends, the session ends (the user typed ~., or the BMC closed it) or
// stdin reaches EOF. A dangling session (an earlier client's) is deactivated
// first, and a session cut short by ctx is deactivated after. SOL has no
// timeout beyond ctx; ending the session by ~. or EOF returns nil.
//
// A terminal stdin (an *os.File) is handed to ipmitool, which switches it
// to raw mode; its settings are restored afterwards. Any other reader is fed
// through a pipe, so ipmitool never touches a terminal. A nil stdin attaches
// no input at all: the console is shown until ctx ends or the BMC closes
// the session.
func (c *Client) SOL(ctx context.Context, t Target, stdin io.Reader, stdout io.Writer) error {
	cn, err := c.conn(t)
	if err != nil {
		return wrap(t.Node, "sol", err)
	}
	dctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	_, err = cn.run.run(dctx, "sol", "deactivate")
	cancel()
	if err != nil && (errors.Is(err, ErrAuth) || errors.Is(err, ErrUnreachable)) {
		return wrap(t.Node, "sol deactivate", err)
	}
	err = cn.run.sol(ctx, stdin, stdout)
	if ctx.Err() != nil {
		// ipmitool was killed: leave no session behind on the BMC.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Timeout)
		cn.run.run(dctx, "sol", "deactivate")
		cancel()
	}
	return wrap(t.Node, "sol activate", err)
}
