package provision

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rackctl/rackctl/internal/childenv"
)

// DefaultLokoctlPrefix starts every line of lokoctl output that Lokoctl
// copies to its Output.
const DefaultLokoctlPrefix = "lokoctl: "

// tailLines is how many of the last output lines an ExitError keeps.
const tailLines = 20

// LokoctlConfig configures a Lokoctl executor.
type LokoctlConfig struct {
	// Dir is the rendered lokomotive dir (baremetal.lokocfg, lokocfg.vars);
	// lokoctl runs with it as working directory.
	Dir string
	// ExecPath is the lokoctl binary; empty means "lokoctl" from PATH.
	ExecPath string
	// SkipComponents passes --skip-components (apply the cluster only).
	SkipComponents bool
	// Env is added to lokoctl's environment (e.g. KUBECONFIG). Values are
	// never logged.
	Env map[string]string
	// PassEnv names variables of rackctl's environment to pass on besides
	// childenv.Lokoctl's; rackctl's secrets never pass.
	PassEnv []string
	// Output receives lokoctl's stdout and stderr, line by line, each line
	// starting with Prefix; nil discards it.
	Output io.Writer
	// Prefix starts every output line; empty means DefaultLokoctlPrefix.
	Prefix string
	// StopGrace is how long lokoctl gets to exit after SIGINT when the
	// context ends before it is killed; zero means 30s.
	StopGrace time.Duration
	// Log receives progress; nil discards it.
	Log *slog.Logger
}

// Lokoctl runs `lokoctl cluster apply` in a rendered lokomotive directory.
type Lokoctl struct {
	cfg      LokoctlConfig
	dir      string
	execPath string
	log      *slog.Logger
}

// ExitError is returned when lokoctl exits with a non-zero status.
type ExitError struct {
	// Args is the command line (program and arguments).
	Args []string
	// Code is lokoctl's exit status; -1 when it was killed by a signal.
	Code int
	// Tail holds the last lines lokoctl printed (stdout and stderr).
	Tail []string
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("%s: exit status %d", strings.Join(e.Args, " "), e.Code)
	if n := len(e.Tail); n > 0 {
		msg += ": " + e.Tail[n-1]
	}
	return msg
}

// NewLokoctl returns an executor for the lokomotive dir cfg.Dir.
func NewLokoctl(cfg LokoctlConfig) (*Lokoctl, error) {
	dir, execPath, err := resolve("lokoctl", "dir", cfg.Dir, cfg.ExecPath)
	if err != nil {
		return nil, err
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultLokoctlPrefix
	}
	if cfg.Output == nil {
		cfg.Output = io.Discard
	}
	if cfg.StopGrace == 0 {
		cfg.StopGrace = 30 * time.Second
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Lokoctl{cfg: cfg, dir: dir, execPath: execPath, log: log.With("provisioner", "lokoctl", "dir", dir)}, nil
}

// Args returns the arguments Apply passes to lokoctl.
func (l *Lokoctl) Args() []string {
	args := []string{"cluster", "apply", "--confirm", "--verbose"}
	if l.cfg.SkipComponents {
		args = append(args, "--skip-components")
	}
	return args
}

// Apply runs `lokoctl cluster apply --confirm --verbose` and waits for it.
// A non-zero exit is returned as *ExitError; when ctx ends first, lokoctl
// gets SIGINT, then SIGKILL after StopGrace, and the error wraps ctx.Err().
func (l *Lokoctl) Apply(ctx context.Context) error {
	args := l.Args()
	cmd := exec.CommandContext(ctx, l.execPath, args...)
	cmd.Dir = l.dir
	// Not os.Environ(): rackctl's own secrets (the BMC password) stay here.
	cmd.Env = childenv.Lokoctl.Filter(os.Environ(), l.cfg.PassEnv)
	for k, v := range l.cfg.Env {
		if !childenv.Secret(k) {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = l.cfg.StopGrace

	out := &lineWriter{w: l.cfg.Output, prefix: l.cfg.Prefix}
	cmd.Stdout = out
	cmd.Stderr = out

	start := time.Now()
	l.log.InfoContext(ctx, "lokoctl start", "args", strings.Join(args, " "))
	err := cmd.Run()
	out.flush()
	full := append([]string{"lokoctl"}, args...)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s in %s: %w", strings.Join(full, " "), l.dir, ctx.Err())
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			xe := &ExitError{Args: full, Code: ee.ExitCode(), Tail: out.tail()}
			l.log.ErrorContext(ctx, "lokoctl failed", "code", xe.Code, "duration", time.Since(start).Round(time.Millisecond))
			return fmt.Errorf("lokoctl in %s: %w", l.dir, xe)
		}
		return fmt.Errorf("%s in %s: %w", strings.Join(full, " "), l.dir, err)
	}
	l.log.InfoContext(ctx, "lokoctl done", "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// lineWriter copies whole lines to w with a prefix and keeps the last few.
// exec writes stdout and stderr from separate goroutines, hence the lock.
type lineWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
	last   []string
}

func (lw *lineWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.buf = append(lw.buf, p...)
	for {
		i := bytes.IndexByte(lw.buf, '\n')
		if i < 0 {
			break
		}
		lw.emit(string(lw.buf[:i]))
		lw.buf = lw.buf[i+1:]
	}
	// Do not let a program that never ends a line grow the buffer forever.
	if len(lw.buf) > bufio.MaxScanTokenSize {
		lw.emit(string(lw.buf))
		lw.buf = lw.buf[:0]
	}
	return len(p), nil
}

func (lw *lineWriter) emit(line string) {
	line = strings.TrimRight(line, "\r")
	fmt.Fprintf(lw.w, "%s%s\n", lw.prefix, line)
	if strings.TrimSpace(line) == "" {
		return
	}
	lw.last = append(lw.last, line)
	if len(lw.last) > tailLines {
		lw.last = lw.last[len(lw.last)-tailLines:]
	}
}

func (lw *lineWriter) flush() {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if len(lw.buf) > 0 {
		lw.emit(string(lw.buf))
		lw.buf = nil
	}
}

func (lw *lineWriter) tail() []string {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return append([]string(nil), lw.last...)
}
