package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestValidateHostileInput: inputs that once crashed validate or held it
// forever give exit 1 and a message naming the problem, promptly.
func TestValidateHostileInput(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	example, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		file string
		want string // in stderr (human) or in the JSON errors
		pos  string // file:line:col: in stderr (human)
	}{
		"device":                  {"/dev/zero", "not a regular file (a device)", ""},
		"fifo without writer":     {fifo, "not a regular file (a named pipe)", ""},
		"line separator comments": {write("ls.yaml", "#\u2028#\u2028\n"+string(example)+"# x\u2028#\u2028\n"), "U+2028 (line separator) is not allowed", "ls.yaml:1:2: "},
		"deep flow nesting":       {write("deep.yaml", "a: "+strings.Repeat("[", 200000)+"\n"), "nested more than 100 levels deep", "deep.yaml:1:103: "},
		"too large":               {write("big.yaml", "# "+strings.Repeat("x", 16<<20)+"\n"), "at most 16 MiB", ""},
	}
	for name, tt := range tests {
		for _, output := range []string{"human", "json"} {
			t.Run(name+"/"+output, func(t *testing.T) {
				done := make(chan cliResult, 1)
				go func() { done <- cli(t, "validate", "-o", output, "-f", tt.file) }()
				var r cliResult
				select {
				case r = <-done:
				case <-time.After(30 * time.Second):
					t.Fatal("validate did not return")
				}
				if r.code != 1 {
					t.Fatalf("exit %d, want 1; stdout %q stderr %q", r.code, r.stdout, r.stderr)
				}
				if !strings.Contains(r.stderr+r.stdout, tt.want) {
					t.Errorf("output lacks %q:\nstdout %s\nstderr %s", tt.want, r.stdout, r.stderr)
				}
				if output == "human" && !strings.Contains(r.stderr, tt.pos) {
					t.Errorf("stderr lacks position %q: %s", tt.pos, r.stderr)
				}
				if output == "json" && r.stdout != "" {
					var v struct{ Valid bool }
					if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Valid {
						t.Errorf("json %q: %v", r.stdout, err)
					}
				}
			})
		}
	}
}

// TestValidateCancelled: a cancelled context (a signal) stops the read.
func TestValidateCancelled(t *testing.T) {
	for _, args := range [][]string{
		{"validate", "-o", "json", "-f", example},
		{"validate", "-f", example}, // the human path loads through loadSpec
		{"plan", "-f", example, "--root", t.TempDir(), "--dhcp", "none", "--bmc", "none", "--provisioner-run", "never"},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var out, errb bytes.Buffer
		g := &globals{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
		code := execute(ctx, g, args)
		if code != 1 || !strings.Contains(errb.String(), "context canceled") {
			t.Errorf("%v: exit %d, stderr %q; want 1 and context canceled", args, code, errb.String())
		}
	}
}
