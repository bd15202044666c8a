package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// NamespacePrefix starts the name of every namespace testenv creates:
// rackctl-<purpose>-<pid>-<random>-<s|c>, pid being the creating process.
const NamespacePrefix = "rackctl-"

var purposeRE = regexp.MustCompile(`^[a-z0-9]{1,20}$`)

// nsBase is "rackctl-<purpose>-<pid>-<random>".
func nsBase(purpose string) (string, error) {
	if !purposeRE.MatchString(purpose) {
		return "", fmt.Errorf("testenv: namespace purpose %q: want 1 to 20 of [a-z0-9]", purpose)
	}
	rnd := make([]byte, 3)
	rand.Read(rnd)
	return NamespacePrefix + purpose + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(rnd), nil
}

// namespaceOwner parses a testenv namespace name; ok is false for any
// other name.
func namespaceOwner(name string) (purpose string, pid int, ok bool) {
	rest, found := strings.CutPrefix(name, NamespacePrefix)
	if !found {
		return "", 0, false
	}
	f := strings.Split(rest, "-")
	if len(f) != 4 || (f[3] != "s" && f[3] != "c") {
		return "", 0, false
	}
	pid, err := strconv.Atoi(f[1])
	if err != nil || pid <= 0 {
		return "", 0, false
	}
	return f[0], pid, true
}

// ListNamespaces returns the testenv namespaces, optionally only those of
// one purpose ("" for all).
func ListNamespaces(ctx context.Context, purpose string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		return nil, fmt.Errorf("testenv: ip netns list: %w", err)
	}
	var names []string
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if p, _, ok := namespaceOwner(f[0]); ok && (purpose == "" || p == purpose) {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// RemoveStaleNamespaces deletes the testenv namespaces whose creating
// process is gone (a crashed test or demo), killing what runs in them, and
// returns their names.
func RemoveStaleNamespaces(ctx context.Context) ([]string, error) {
	names, err := ListNamespaces(ctx, "")
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, ns := range names {
		_, pid, _ := namespaceOwner(ns)
		if pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue // its creator still runs
		}
		if err := DeleteNamespace(ctx, ns); err != nil {
			return removed, err
		}
		removed = append(removed, ns)
	}
	return removed, nil
}

// DeleteNamespace kills every process in ns, then deletes it.
func DeleteNamespace(ctx context.Context, ns string) error {
	if out, err := exec.CommandContext(ctx, "ip", "netns", "pids", ns).Output(); err == nil {
		for f := range strings.FieldsSeq(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	// A process being killed can hold the namespace for a moment.
	var last error
	for range 50 {
		out, err := exec.CommandContext(ctx, "ip", "netns", "delete", ns).CombinedOutput()
		if err == nil {
			return nil
		}
		last = fmt.Errorf("testenv: ip netns delete %s: %w: %s", ns, err, strings.TrimSpace(string(out)))
		if ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return last
}

// ip runs the ip command.
func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("testenv: ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
