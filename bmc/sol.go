package bmc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// sol runs `ipmitool sol activate` with stdin and stdout attached until the
// session ends (~. typed, stdin at EOF, BMC closed it) or ctx ends.
//
// Where ipmitool's stdin comes from decides how it runs:
//   - a terminal (*os.File): ipmitool gets the terminal itself and switches
//     it to raw mode. It stays in the caller's process group, the terminal's
//     foreground group: in a group of its own it would be stopped by SIGTTOU
//     as soon as it set raw mode. The terminal's settings are restored when
//     ipmitool ends, even when it was killed.
//   - any other *os.File: passed as is, ipmitool in a process group of its
//     own (so a cancellation kills it and nothing else).
//   - any other reader: copied into a pipe, so ipmitool never sees a
//     terminal; stdin's EOF ends the session.
//   - nil: a pipe that never delivers anything, so the session lasts until
//     the BMC closes it or ctx ends.
func (r ipmitoolRun) sol(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	if err := ctx.Err(); err != nil {
		return ctxError(ctx, 0)
	}
	cmd := exec.Command(r.path, r.argv("sol", "activate")...)
	cmd.Env = r.env()
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	if stdout == nil {
		cmd.Stdout = io.Discard
	}
	cmd.WaitDelay = time.Second

	var (
		restore  func()
		feed     *os.File // our end of the stdin pipe, closed when ipmitool ends
		childEnd *os.File
	)
	f, isFile := stdin.(*os.File)
	switch {
	case isFile && isTerminal(f):
		cmd.Stdin = f
		restore = saveTerminal(f)
	case isFile:
		cmd.Stdin = f
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	default:
		pr, pw, err := os.Pipe()
		if err != nil {
			return fmt.Errorf("stdin pipe: %w", err)
		}
		cmd.Stdin, childEnd, feed = pr, pr, pw
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}

	start := time.Now()
	if err := cmd.Start(); err != nil {
		if feed != nil {
			feed.Close()
			childEnd.Close()
		}
		return fmt.Errorf("run ipmitool: %w", err)
	}
	if feed != nil {
		childEnd.Close()
		if stdin != nil {
			go func() {
				// A reader that never returns leaves this goroutine blocked
				// after the session; a CLI exits soon after.
				io.Copy(feed, stdin)
				feed.Close()
			}()
		}
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var err error
	select {
	case err = <-waited:
	case <-ctx.Done():
		if cmd.SysProcAttr != nil && cmd.SysProcAttr.Setpgid {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		} else {
			cmd.Process.Kill()
		}
		err = <-waited
	}
	elapsed := time.Since(start)
	if feed != nil {
		feed.Close()
	}
	if restore != nil {
		restore()
	}
	if ctx.Err() != nil {
		return ctxError(ctx, elapsed)
	}
	if err == nil || (errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState.Success()) {
		return nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return fmt.Errorf("run ipmitool: %w", err)
	}
	return classify(withoutTermNoise(stderr.String()), elapsed)
}

// withoutTermNoise drops the complaints ipmitool prints when its stdin is
// not a terminal ("tcgetattr: Inappropriate ioctl for device").
func withoutTermNoise(stderr string) string {
	var b strings.Builder
	for line := range strings.Lines(stderr) {
		if strings.HasPrefix(line, "tcgetattr:") || strings.HasPrefix(line, "tcsetattr:") {
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}
