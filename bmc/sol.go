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
	in, err := attachSOLStdin(cmd, stdin)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		in.abort()
		return fmt.Errorf("run ipmitool: %w", err)
	}
	in.started(stdin)
	err = waitOrKill(ctx, cmd)
	elapsed := time.Since(start)
	in.ended()
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

// solStdin is how a SOL session's stdin reaches ipmitool (see sol): the
// terminal settings to restore, or the pipe we feed.
type solStdin struct {
	restore  func()
	feed     *os.File // our end of the stdin pipe, closed when ipmitool ends
	childEnd *os.File
}

// attachSOLStdin sets cmd's stdin and process group for stdin's kind.
func attachSOLStdin(cmd *exec.Cmd, stdin io.Reader) (solStdin, error) {
	var in solStdin
	f, isFile := stdin.(*os.File)
	switch {
	case isFile && isTerminal(f):
		cmd.Stdin = f
		in.restore = saveTerminal(f)
	case isFile:
		cmd.Stdin = f
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	default:
		pr, pw, err := os.Pipe()
		if err != nil {
			return in, fmt.Errorf("stdin pipe: %w", err)
		}
		cmd.Stdin, in.childEnd, in.feed = pr, pr, pw
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	return in, nil
}

// abort closes the pipe of a session that did not start.
func (in solStdin) abort() {
	if in.feed != nil {
		in.feed.Close()
		in.childEnd.Close()
	}
}

// started closes the child's end of the pipe, which ipmitool now holds,
// and copies stdin into ours.
func (in solStdin) started(stdin io.Reader) {
	if in.feed == nil {
		return
	}
	in.childEnd.Close()
	if stdin != nil {
		go func() {
			// A reader that never returns leaves this goroutine blocked
			// after the session; a CLI exits soon after.
			io.Copy(in.feed, stdin)
			in.feed.Close()
		}()
	}
}

// ended closes our end of the pipe and restores the terminal.
func (in solStdin) ended() {
	if in.feed != nil {
		in.feed.Close()
	}
	if in.restore != nil {
		in.restore()
	}
}

// waitOrKill waits for cmd; when ctx ends first it kills cmd (its whole
// process group when it has one) and waits for that.
func waitOrKill(ctx context.Context, cmd *exec.Cmd) error {
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		return err
	case <-ctx.Done():
		if cmd.SysProcAttr != nil && cmd.SysProcAttr.Setpgid {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		} else {
			cmd.Process.Kill()
		}
		return <-waited
	}
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
