package bmc_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackctl/rackctl/bmc"
	"github.com/rackctl/rackctl/internal/simrack"
)

func needTools(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"ipmitool", "ipmi_sim"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required (apt-get install ipmitool openipmi): %v", tool, err)
		}
	}
}

func target(b simrack.BMC) bmc.Target {
	return bmc.Target{Node: b.Name, Address: b.Addr, Credentials: bmc.Credentials{User: b.User, Password: b.Password}}
}

func newClient(t testing.TB, cfg bmc.Config) *bmc.Client {
	t.Helper()
	c, err := bmc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPowerAgainstSim(t *testing.T) {
	needTools(t)
	rack := simrack.StartT(t, simrack.Options{N: 1})
	b := rack.BMCs[0]
	tg := target(b)
	ctx := t.Context()
	for _, impl := range []string{"rmcp", "ipmitool"} {
		t.Run(impl, func(t *testing.T) {
			c := newClient(t, bmc.Config{PowerStatus: impl})
			steps := []struct {
				action, want, file string
			}{
				{bmc.PowerOn, "on", "1"},
				{bmc.PowerOff, "off", "0"},
				{bmc.PowerOn, "on", "1"},
				{bmc.PowerReset, "on", "1"},
				{bmc.PowerCycle, "", ""}, // cycle powers off, then on after a delay
				{bmc.PowerOff, "off", "0"},
			}
			for _, s := range steps {
				if err := c.SetPower(ctx, tg, s.action); err != nil {
					t.Fatalf("set power %s: %v", s.action, err)
				}
				if s.want == "" {
					continue
				}
				got, err := c.PowerState(ctx, tg)
				if err != nil {
					t.Fatalf("power state after %s: %v", s.action, err)
				}
				if got != s.want {
					t.Errorf("after %s: power %q, want %q", s.action, got, s.want)
				}
				if f, _ := b.PowerFile(); f != s.file {
					t.Errorf("after %s: chassis power file %q, want %q", s.action, f, s.file)
				}
			}
		})
	}
	c := newClient(t, bmc.Config{})
	if err := c.SetPower(ctx, tg, "explode"); err == nil {
		t.Error("unknown power action accepted")
	}
}

func TestBootDeviceAgainstSim(t *testing.T) {
	needTools(t)
	rack := simrack.StartT(t, simrack.Options{N: 1})
	tg := target(rack.BMCs[0])
	c := newClient(t, bmc.Config{})
	ctx := t.Context()
	for _, dev := range []string{bmc.BootPXE, bmc.BootDisk, bmc.BootPXE} {
		if err := c.SetBootDevice(ctx, tg, dev, false, false); err != nil {
			t.Fatalf("set boot device %s: %v", dev, err)
		}
		got, err := c.BootDevice(ctx, tg)
		if err != nil {
			t.Fatal(err)
		}
		if got.Device != dev {
			t.Errorf("boot device %q, want %q", got.Device, dev)
		}
	}
	// ipmi_sim drops the persistent and EFI flags: the read-back must catch it.
	err := c.SetBootDevice(ctx, tg, bmc.BootDisk, true, true)
	var mm *bmc.BootParamMismatchError
	if !errors.Is(err, bmc.ErrBootParamMismatch) || !errors.As(err, &mm) {
		t.Fatalf("set disk persistent efi on ipmi_sim: %v, want ErrBootParamMismatch", err)
	}
	if mm.Got.Device != bmc.BootDisk || mm.Got.Persistent || !mm.Want.Persistent {
		t.Errorf("mismatch = %+v", mm)
	}
	if !strings.HasPrefix(err.Error(), "bmc bmc-0: set boot device: ") {
		t.Errorf("error %q lacks node and action", err)
	}
	if err := c.SetBootDevice(ctx, tg, "usb", false, false); err == nil {
		t.Error("unknown device accepted")
	}
}

func TestUnreachable(t *testing.T) {
	needTools(t)
	rack := simrack.StartT(t, simrack.Options{N: 2})
	if err := rack.Stop(0); err != nil {
		t.Fatal(err)
	}
	// BMC 1 is stopped behind a proxy: its packets vanish, as on a network.
	if _, err := rack.Slow(1, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := rack.Stop(1); err != nil {
		t.Fatal(err)
	}
	const timeout = 1500 * time.Millisecond
	c := newClient(t, bmc.Config{Timeout: timeout})
	ctx := t.Context()
	calls := map[string]func(bmc.Target) error{
		"power status": func(tg bmc.Target) error { _, err := c.PowerState(ctx, tg); return err },
		"set power":    func(tg bmc.Target) error { return c.SetPower(ctx, tg, bmc.PowerOn) },
		"boot device":  func(tg bmc.Target) error { _, err := c.BootDevice(ctx, tg); return err },
		"users":        func(tg bmc.Target) error { _, err := c.Users(ctx, tg); return err },
	}
	for i, b := range rack.BMCs {
		for name, call := range calls {
			t.Run(b.Name+"/"+name, func(t *testing.T) {
				start := time.Now()
				err := call(target(b))
				elapsed := time.Since(start)
				if !errors.Is(err, bmc.ErrUnreachable) {
					t.Fatalf("err = %v, want ErrUnreachable", err)
				}
				if elapsed > timeout+700*time.Millisecond {
					t.Errorf("took %s, timeout %s", elapsed, timeout)
				}
				if i == 1 && !errors.Is(err, bmc.ErrTimeout) {
					t.Errorf("silent BMC: %v, want ErrTimeout too", err)
				}
			})
		}
	}
	// Brought back, it answers again.
	if err := rack.StartAgain(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PowerState(ctx, target(rack.BMCs[0])); err != nil {
		t.Errorf("after StartAgain: %v", err)
	}
}

func TestWrongCredentials(t *testing.T) {
	needTools(t)
	rack := simrack.StartT(t, simrack.Options{N: 1})
	b := rack.BMCs[0]
	c := newClient(t, bmc.Config{Timeout: 3 * time.Second})
	ctx := t.Context()
	for name, creds := range map[string]bmc.Credentials{
		"wrong password": {User: b.User, Password: "not-it"},
		"unknown user":   {User: "nobody", Password: b.Password},
	} {
		tg := bmc.Target{Node: b.Name, Address: b.Addr, Credentials: creds}
		calls := map[string]func() error{
			"power status": func() error { _, err := c.PowerState(ctx, tg); return err },
			"set power":    func() error { return c.SetPower(ctx, tg, bmc.PowerOn) },
			"boot device":  func() error { _, err := c.BootDevice(ctx, tg); return err },
			"test login":   func() error { return c.TestLogin(ctx, tg, creds) },
		}
		for call, f := range calls {
			t.Run(name+"/"+call, func(t *testing.T) {
				err := f()
				if !errors.Is(err, bmc.ErrAuth) {
					t.Fatalf("err = %v, want ErrAuth", err)
				}
				if strings.Contains(err.Error(), b.Password) {
					t.Errorf("error shows the password: %v", err)
				}
			})
		}
	}
}

func TestSlowBMC(t *testing.T) {
	needTools(t)
	rack := simrack.StartT(t, simrack.Options{N: 1, Delay: 30 * time.Millisecond})
	tg := target(rack.BMCs[0])
	ctx := t.Context()
	c := newClient(t, bmc.Config{})
	start := time.Now()
	if _, err := c.PowerState(ctx, tg); err != nil {
		t.Fatalf("slow bmc within timeout: %v", err)
	}
	// Three round trips of 60 ms (Open Session, RAKP 1, RAKP 3 with the
	// command behind it) at the least.
	if el := time.Since(start); el < 3*60*time.Millisecond {
		t.Errorf("power status through a 30 ms proxy took %s: proxy does not delay", el)
	}
	if err := c.SetBootDevice(ctx, tg, bmc.BootPXE, false, false); err != nil {
		t.Fatalf("slow bmc boot device: %v", err)
	}
	fast := newClient(t, bmc.Config{Timeout: 150 * time.Millisecond})
	_, err := fast.PowerState(ctx, tg)
	if !errors.Is(err, bmc.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
}

func TestForEachMixed(t *testing.T) {
	needTools(t)
	rack := simrack.StartT(t, simrack.Options{N: 6})
	// 0, 1, 5: fine; 2: dead (silent); 3: wrong password; 4: slow.
	if _, err := rack.Slow(2, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := rack.Stop(2); err != nil {
		t.Fatal(err)
	}
	if _, err := rack.Slow(4, 40*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var targets []bmc.Target
	for _, b := range rack.BMCs {
		targets = append(targets, target(b))
	}
	targets[3].Credentials.Password = "wrong"
	const timeout = 2 * time.Second
	c := newClient(t, bmc.Config{Timeout: timeout})
	start := time.Now()
	res := c.Runner().PowerStates(t.Context(), targets)
	total := time.Since(start)
	if len(res) != 6 {
		t.Fatalf("%d results, want 6", len(res))
	}
	for _, i := range []int{0, 1, 5} {
		r := res[targets[i].Node]
		if r.Err != nil || r.Value != "off" {
			t.Errorf("%s: %q %v", targets[i].Node, r.Value, r.Err)
		}
		if r.Elapsed > timeout/2 {
			t.Errorf("%s took %s: stalled by the dead BMC?", targets[i].Node, r.Elapsed)
		}
	}
	if r := res["bmc-2"]; !errors.Is(r.Err, bmc.ErrUnreachable) {
		t.Errorf("dead: %v", r.Err)
	}
	if r := res["bmc-3"]; !errors.Is(r.Err, bmc.ErrAuth) {
		t.Errorf("wrong creds: %v", r.Err)
	}
	if r := res["bmc-4"]; r.Err != nil || r.Value != "off" {
		t.Errorf("slow: %q %v", r.Value, r.Err)
	}
	if total > timeout+500*time.Millisecond {
		t.Errorf("ForEach took %s, more than one timeout (%s)", total, timeout)
	}
	t.Logf("mixed rack of 6: %s total", total)
}

func TestUsers(t *testing.T) {
	needTools(t)
	rack := simrack.StartT(t, simrack.Options{N: 1})
	b := rack.BMCs[0]
	tg := target(b)
	c := newClient(t, bmc.Config{})
	ctx := t.Context()
	users, err := c.Users(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 || users[0] != (bmc.User{ID: 2, Name: b.User, Enabled: true, Privilege: "ADMINISTRATOR"}) {
		t.Fatalf("users = %+v", users)
	}
	// ipmi_sim keeps only 16 bytes of a 20-byte password (see
	// TestSetUserLongPasswordOnSim), so this one stays within 16 bytes.
	ops := bmc.Credentials{User: "ops", Password: "n3w pass 16chr"}
	if err := c.SetUser(ctx, tg, 3, ops); err != nil {
		t.Fatal(err)
	}
	if err := c.SetUserPrivilege(ctx, tg, 3, "admin"); err != nil {
		t.Fatal(err)
	}
	if err := c.EnableUser(ctx, tg, 3); err != nil {
		t.Fatal(err)
	}
	if err := c.TestLogin(ctx, tg, ops); err != nil {
		t.Fatalf("login as new user: %v", err)
	}
	// The new user can do admin work.
	opsTarget := bmc.Target{Node: b.Name, Address: b.Addr, Credentials: ops}
	if err := c.SetPower(ctx, opsTarget, bmc.PowerOn); err != nil {
		t.Fatalf("power on as new user: %v", err)
	}
	users, err = c.Users(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[1] != (bmc.User{ID: 3, Name: "ops", Enabled: true, Privilege: "ADMINISTRATOR"}) {
		t.Fatalf("users after set = %+v", users)
	}
	if err := c.DisableUser(ctx, tg, 3); err != nil {
		t.Fatal(err)
	}
	if err := c.TestLogin(ctx, tg, ops); !errors.Is(err, bmc.ErrAuth) {
		t.Fatalf("login as disabled user: %v, want ErrAuth", err)
	}
	users, _ = c.Users(ctx, tg)
	if len(users) != 2 || users[1].Enabled {
		t.Errorf("users after disable = %+v", users)
	}
	if err := c.TestLogin(ctx, tg, bmc.Credentials{User: "ops", Password: "old"}); !errors.Is(err, bmc.ErrAuth) {
		t.Errorf("wrong password login: %v", err)
	}
	if err := c.SetUser(ctx, tg, 1, ops); err == nil {
		t.Error("slot 1 accepted")
	}
}

func TestExecDiagDHCP(t *testing.T) {
	needTools(t)
	rack := simrack.StartT(t, simrack.Options{N: 1})
	tg := target(rack.BMCs[0])
	c := newClient(t, bmc.Config{})
	ctx := t.Context()
	out, err := c.Exec(ctx, tg, "chassis", "power", "status")
	if err != nil || !strings.Contains(string(out), "Chassis Power is") {
		t.Fatalf("exec: %q %v", out, err)
	}
	if _, err := c.Exec(ctx, tg, "-P", "x", "mc", "info"); err == nil {
		t.Error("-P accepted")
	}
	if _, err := c.Exec(ctx, tg, "frobnicate"); err == nil {
		t.Error("bad ipmitool command succeeded")
	}
	d := c.Diag(ctx, tg)
	if d.Err != nil || !strings.Contains(d.ChassisStatus, "System Power") || !strings.Contains(d.BootParam5, "Boot parameter data") {
		t.Errorf("diag = %+v", d)
	}
	// ipmi_sim's Get Device ID has a firmware revision; IPMI has no BIOS
	// version or health, which must stay unreported rather than guessed.
	if inv := d.Inventory; inv.BMCVersion == "" || inv.BIOSVersion != "" || inv.SystemHealth != "" || inv.ChassisHealth != "" {
		t.Errorf("diag inventory = %+v, want the firmware revision only", inv)
	}
	if err := c.DHCPRenew(ctx, tg); err != nil {
		t.Errorf("dhcp renew: %v", err)
	}
}

// TestPasswordNeverInArgv watches /proc while password-carrying calls run
// against a slow BMC and checks every ipmitool command line seen.
func TestPasswordNeverInArgv(t *testing.T) {
	needTools(t)
	const pw = "Argv-Canary-7781"
	rack := simrack.StartT(t, simrack.Options{N: 1, Password: pw, Delay: 40 * time.Millisecond})
	tg := target(rack.BMCs[0])
	c := newClient(t, bmc.Config{Timeout: 20 * time.Second, PowerStatus: "ipmitool"})
	ctx := t.Context()

	var mu sync.Mutex
	seen := 0
	var leaks []string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
			for _, p := range procs {
				data, err := os.ReadFile(p)
				if err != nil || !strings.Contains(string(data), "ipmitool") || !strings.Contains(string(data), "lanplus") {
					continue
				}
				mu.Lock()
				seen++
				if strings.Contains(string(data), pw) || strings.Contains(string(data), "n3wSecret") {
					leaks = append(leaks, strings.ReplaceAll(string(data), "\x00", " "))
				}
				mu.Unlock()
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	if _, err := c.PowerState(ctx, tg); err != nil {
		t.Error(err)
	}
	if err := c.SetPower(ctx, tg, bmc.PowerOn); err != nil {
		t.Error(err)
	}
	if err := c.SetUser(ctx, tg, 4, bmc.Credentials{User: "rot", Password: "n3wSecret"}); err != nil {
		t.Error(err)
	}
	close(stop)
	<-done
	if seen == 0 {
		t.Fatal("no ipmitool process observed")
	}
	if len(leaks) > 0 {
		t.Fatalf("password in argv: %q", leaks)
	}
	t.Logf("checked %d ipmitool command lines", seen)
}

func TestForEachContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	targets := []bmc.Target{{Node: "a"}, {Node: "b"}}
	res := bmc.ForEach(ctx, 1, targets, func(ctx context.Context, t bmc.Target) (int, error) { return 1, ctx.Err() })
	if len(res) != 2 {
		t.Fatalf("results %v", res)
	}
	for n, r := range res {
		if r.Err == nil {
			t.Errorf("%s: no error on cancelled context", n)
		}
	}
}
