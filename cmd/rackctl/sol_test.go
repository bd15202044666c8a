package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/rackctl/rackctl/internal/simrack"
)

// The serial console tests run `rackctl ipmi TARGET` in-process against a
// real ipmi_sim whose serial port is the test (simrack Options.SOL): what
// the test writes to BMC.Serial is the machine's console output, what
// rackctl's stdin carries must arrive there.

const solPassword = "sol-sim-secret"

type solRig struct {
	bmc    simrack.BMC
	serial net.Conn
	spec   string
	root   string
}

func newSOLRig(t *testing.T, ctx context.Context) solRig {
	t.Helper()
	for _, tool := range []string{"ipmitool", "ipmi_sim"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required for the serial console tests: %v", tool, err)
		}
	}
	rack := simrack.StartT(t, simrack.Options{N: 1, SOL: true, Password: solPassword})
	root := t.TempDir()
	spec := simSpec(t, root, "admin", solPassword, rack.BMCs)
	serial, err := rack.BMCs[0].Serial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return solRig{bmc: rack.BMCs[0], serial: serial, spec: spec, root: root}
}

// solClient is a running SOL client: rackctl or a plain ipmitool.
type solClient struct {
	out, errb solBuffer
	exited    chan struct{} // closed when the client ended
	code      int           // its exit status, once exited
}

func (c *solClient) ended() bool {
	select {
	case <-c.exited:
		return true
	default:
		return false
	}
}

// wait returns the exit status, failing the test after 20s.
func (c *solClient) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-c.exited:
		return c.code
	case <-time.After(20 * time.Second):
		t.Fatalf("client still running 20s after the session should have ended\nstderr: %q", c.errb.String())
		return -1
	}
}

// rackctl runs `rackctl ipmi -f SPEC --root ROOT node-0` with stdin.
func (r solRig) rackctl(ctx context.Context, stdin io.Reader) *solClient {
	c := &solClient{exited: make(chan struct{})}
	g := &globals{stdin: stdin, stdout: &c.out, stderr: &c.errb}
	go func() {
		c.code = execute(ctx, g, []string{"ipmi", "-f", r.spec, "--root", r.root, "node-0"})
		close(c.exited)
	}()
	return c
}

// awaitSession waits until the SOL client writing to out is attached.
// ipmitool's banner stays in its stdout buffer (a pipe) until console
// output arrives, and output sent while no session is active is dropped:
// so the machine prints newlines until the banner shows.
func (r solRig) awaitSession(t *testing.T, c *solClient) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !c.out.contains("SOL Session operational") {
		if ended := c.ended(); ended || time.Now().After(deadline) {
			t.Fatalf("no SOL session (client ended: %v)\nstdout: %q\nstderr: %q", ended, c.out.String(), c.errb.String())
		}
		r.serial.Write([]byte("\r\n"))
		time.Sleep(100 * time.Millisecond)
	}
}

// typed reads len(want) bytes from the serial port and compares.
func (r solRig) typed(t *testing.T, want string) {
	t.Helper()
	r.serial.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(r.serial, got); err != nil || string(got) != want {
		t.Fatalf("serial port read %q (%v), want %q", got, err, want)
	}
}

// rawSOL starts `ipmitool sol activate` on its own (password in the
// environment), as another operator would; it is killed at the end of the
// test.
func (r solRig) rawSOL(t *testing.T, ctx context.Context, stdin io.Reader) *solClient {
	t.Helper()
	host, port, _ := net.SplitHostPort(r.bmc.Addr)
	cmd := exec.CommandContext(ctx, "ipmitool", "-I", "lanplus", "-C", "3", "-H", host, "-p", port, "-U", r.bmc.User, "-E", "sol", "activate")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "IPMI_PASSWORD=" + r.bmc.Password}
	c := &solClient{exited: make(chan struct{})}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &c.out, &c.errb
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ipmitool: %v", err)
	}
	go func() {
		cmd.Wait()
		c.code = cmd.ProcessState.ExitCode()
		close(c.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-c.exited
	})
	return c
}

// TestSOLConsole: a session left open by another client is deactivated,
// console output reaches stdout, stdin reaches the serial port, ~. ends the
// session with exit status 0, and the password shows nowhere.
func TestSOLConsole(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	r := newSOLRig(t, ctx)

	// Someone's forgotten session: its stdin stays open, so it never ends
	// on its own.
	danglingIn, danglingInW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer danglingInW.Close()
	dangling := r.rawSOL(t, ctx, danglingIn)
	danglingIn.Close()
	r.awaitSession(t, dangling)

	stdin, typing, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	defer typing.Close()
	c := r.rackctl(ctx, stdin)
	r.awaitSession(t, c)

	r.serial.Write([]byte("\r\nflatcar login: "))
	c.out.waitFor(t, "flatcar login: ")
	io.WriteString(typing, "root\n")
	r.typed(t, "root\n")

	io.WriteString(typing, "~.")
	if code := c.wait(t); code != 0 {
		t.Fatalf("exit %d after ~., want 0\nstdout: %q\nstderr: %q", code, c.out.String(), c.errb.String())
	}
	if !c.out.contains("[terminated ipmitool]") {
		t.Errorf("stdout lacks ipmitool's goodbye: %q", c.out.String())
	}
	if !c.errb.contains("serial console of node-0") {
		t.Errorf("stderr lacks the hint: %q", c.errb.String())
	}
	if strings.Contains(c.out.String()+c.errb.String(), solPassword) {
		t.Error("the BMC password appears in rackctl's output")
	}
}

// TestSOLNoInput: with USE_STDIN=0 the console is shown until rackctl is
// interrupted (status 130), and the interrupted session is deactivated, so
// a plain `ipmitool sol activate` (which deactivates nothing) gets in.
func TestSOLNoInput(t *testing.T) {
	t.Setenv("USE_STDIN", "0")
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	r := newSOLRig(t, ctx)

	runCtx, interrupt := context.WithCancel(ctx)
	defer interrupt()
	// stdin is an empty reader: with USE_STDIN=0 it must not end the session.
	c := r.rackctl(runCtx, strings.NewReader(""))
	r.awaitSession(t, c)
	r.serial.Write([]byte("kernel: booting\r\n"))
	c.out.waitFor(t, "kernel: booting")
	time.Sleep(time.Second)
	if c.ended() {
		t.Fatalf("session without input ended by itself with exit %d\nstderr: %q", c.code, c.errb.String())
	}

	interrupt()
	if code := c.wait(t); code != exitInterrupted {
		t.Fatalf("exit %d after interrupt, want %d\nstderr: %q", code, exitInterrupted, c.errb.String())
	}
	if !c.errb.contains("interrupted, session deactivated") {
		t.Errorf("stderr: %q", c.errb.String())
	}
	// Stdin at EOF: a session that gets in ends at once with status 0.
	raw := r.rawSOL(t, ctx, strings.NewReader(""))
	if code := raw.wait(t); code != 0 || raw.errb.contains("already active") {
		t.Fatalf("a session stayed active after the interrupt: exit %d %q", code, raw.errb.String())
	}
}

// TestSOLTerminal gives rackctl a pseudo-terminal as stdin: by default
// ipmitool puts it in raw mode for the session and rackctl leaves it as it
// was; with USE_TTY=0 the terminal is never touched (line mode, input sent
// per line).
func TestSOLTerminal(t *testing.T) {
	tests := map[string]struct {
		useTTY  string
		wantRaw bool
	}{
		"terminal handed to ipmitool": {useTTY: "", wantRaw: true},
		"USE_TTY=0":                   {useTTY: "0", wantRaw: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Setenv("USE_TTY", tc.useTTY)
			ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
			defer cancel()
			r := newSOLRig(t, ctx)
			term, keyboard := openPTY(t)
			go io.Copy(io.Discard, keyboard) // the terminal's echo
			before := canonical(t, term)
			if !before {
				t.Fatal("a new pseudo-terminal is not in line mode")
			}

			c := r.rackctl(ctx, term)
			r.awaitSession(t, c)
			if raw := !canonical(t, term); raw != tc.wantRaw {
				t.Errorf("terminal in raw mode during the session: %v, want %v", raw, tc.wantRaw)
			}
			io.WriteString(keyboard, "root\n")
			r.typed(t, "root\n")
			io.WriteString(keyboard, "~.\n")
			if code := c.wait(t); code != 0 {
				t.Fatalf("exit %d after ~., want 0\nstdout: %q\nstderr: %q", code, c.out.String(), c.errb.String())
			}
			if !canonical(t, term) {
				t.Error("the terminal was left in raw mode")
			}
		})
	}
}

// openPTY returns a pseudo-terminal's terminal side and its master (the
// keyboard and screen). Neither becomes the test's controlling terminal.
func openPTY(t *testing.T) (term, master *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pseudo-terminal: %v", err)
	}
	var unlock int32
	var n uint32
	if err := ptyIoctl(master, syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)); err != nil {
		t.Fatalf("unlock pseudo-terminal: %v", err)
	}
	if err := ptyIoctl(master, syscall.TIOCGPTN, unsafe.Pointer(&n)); err != nil {
		t.Fatalf("pseudo-terminal number: %v", err)
	}
	term, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { term.Close(); master.Close() })
	return term, master
}

// canonical reports whether the terminal is in line mode (ICANON).
func canonical(t *testing.T, f *os.File) bool {
	t.Helper()
	var tio syscall.Termios
	if err := ptyIoctl(f, syscall.TCGETS, unsafe.Pointer(&tio)); err != nil {
		t.Fatalf("terminal settings: %v", err)
	}
	return tio.Lflag&syscall.ICANON != 0
}

func ptyIoctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(arg))
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}

// solBuffer is a bytes.Buffer safe for a writer and a poller.
type solBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *solBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *solBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *solBuffer) contains(sub string) bool { return strings.Contains(s.String(), sub) }

func (s *solBuffer) waitFor(t *testing.T, sub string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !s.contains(sub) {
		if time.Now().After(deadline) {
			t.Fatalf("output lacks %q after 10s: %q", sub, s.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
