package bmc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// ipmitoolRun is the one place that starts ipmitool. The password reaches
// ipmitool only through its environment (-E reads IPMITOOL_PASSWORD, then
// IPMI_PASSWORD); the environment is built from scratch, so an inherited
// variable cannot override it.
type ipmitoolRun struct {
	path  string
	host  string
	port  string
	creds Credentials
}

// baseArgs is the argv without the command: interface lanplus, cipher suite
// 3, one-second retransmit with one retry (the context bounds the total).
func (r ipmitoolRun) baseArgs() []string {
	return []string{"-I", "lanplus", "-C", "3", "-N", "1", "-R", "2",
		"-H", r.host, "-p", r.port, "-U", r.creds.User, "-E"}
}

// argv returns the full argument vector (without the program name).
func (r ipmitoolRun) argv(args ...string) []string {
	return append(r.baseArgs(), args...)
}

func (r ipmitoolRun) env() []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/sbin:/usr/bin:/sbin:/bin"
	}
	return []string{
		"PATH=" + path,
		"LC_ALL=C",
		"IPMITOOL_PASSWORD=" + r.creds.Password,
		"IPMI_PASSWORD=" + r.creds.Password,
	}
}

// run executes ipmitool with args and returns stdout. A failure is
// classified into the package's sentinel errors.
func (r ipmitoolRun) run(ctx context.Context, args ...string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, ctxError(ctx, 0)
	}
	cmd := exec.CommandContext(ctx, r.path, r.argv(args...)...)
	cmd.Env = r.env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// Kill the whole group: ipmitool (sol) may have children.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	if err == nil {
		return stdout.Bytes(), nil
	}
	if ctx.Err() != nil {
		return stdout.Bytes(), ctxError(ctx, elapsed)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return nil, fmt.Errorf("run ipmitool: %w", err)
	}
	return stdout.Bytes(), classify(stderr.String()+stdout.String(), elapsed)
}

// ctxError maps an expired or cancelled context to the package's errors.
func ctxError(ctx context.Context, elapsed time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return timeoutError{after: elapsed.Round(time.Millisecond)}
	}
	return ctx.Err()
}
