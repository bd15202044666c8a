package provision

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hclparse"
)

// buildStandin builds testdata/lokoctl-standin into a temp dir.
func buildStandin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "lokoctl")
	out, err := exec.Command("go", "build", "-o", bin, "./testdata/lokoctl-standin").CombinedOutput()
	if err != nil {
		t.Fatalf("build lokoctl stand-in: %v\n%s", err, out)
	}
	return bin
}

// lokomotiveDir copies testdata/lokomotive to a temp dir and checks that
// its files parse as HCL, as lokoctl would.
func lokomotiveDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ents, err := os.ReadDir("testdata/lokomotive")
	if err != nil {
		t.Fatal(err)
	}
	p := hclparse.NewParser()
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("testdata/lokomotive", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, diags := p.ParseHCL(b, e.Name()); diags.HasErrors() {
			t.Fatalf("%s is not valid HCL: %v", e.Name(), diags)
		}
		must(t, os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644))
	}
	return dir
}

type standinRecord struct {
	Args []string `json:"args"`
	Dir  string   `json:"dir"`
	Env  []string `json:"env"`
}

func readRecords(t *testing.T, path string) []standinRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("stand-in record: %v", err)
	}
	defer f.Close()
	var recs []standinRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r standinRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("stand-in record: %v", err)
		}
		recs = append(recs, r)
	}
	return recs
}

func TestLokoctlApply(t *testing.T) {
	bin := buildStandin(t)
	tests := map[string]struct {
		env            map[string]string
		skipComponents bool
		removeVars     bool
		timeout        time.Duration
		wantArgs       []string
		wantCode       int  // ExitError code; 0 = success
		wantCtxErr     bool // context deadline
		wantLine       string
	}{
		"ok": {
			wantArgs: []string{"cluster", "apply", "--confirm", "--verbose"},
			wantLine: "lokoctl: Applying component configuration",
		},
		"skip components": {
			skipComponents: true,
			wantArgs:       []string{"cluster", "apply", "--confirm", "--verbose", "--skip-components"},
			wantLine:       "lokoctl: Apply complete! Resources: 0 added, 0 changed, 0 destroyed.",
		},
		"apply fails": {
			env:      map[string]string{"RACKCTL_LOKOCTL_EXIT": "3"},
			wantArgs: []string{"cluster", "apply", "--confirm", "--verbose"},
			wantCode: 3,
			wantLine: `lokoctl: level=fatal msg="error applying cluster: terraform apply failed"`,
		},
		"no lokocfg.vars": {
			removeVars: true,
			wantArgs:   []string{"cluster", "apply", "--confirm", "--verbose"},
			wantCode:   1,
			wantLine:   "Errors found while loading cluster configuration",
		},
		"context ends": {
			env:        map[string]string{"RACKCTL_LOKOCTL_SLEEP": "30s"},
			timeout:    500 * time.Millisecond,
			wantArgs:   []string{"cluster", "apply", "--confirm", "--verbose"},
			wantCtxErr: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := lokomotiveDir(t)
			if tc.removeVars {
				must(t, os.Remove(filepath.Join(dir, "lokocfg.vars")))
			}
			rec := filepath.Join(t.TempDir(), "record.jsonl")
			env := map[string]string{"RACKCTL_LOKOCTL_RECORD": rec, "KUBECONFIG": "/secret/kubeconfig-value"}
			for k, v := range tc.env {
				env[k] = v
			}
			var out bytes.Buffer
			l, err := NewLokoctl(LokoctlConfig{
				Dir: dir, ExecPath: bin, SkipComponents: tc.skipComponents,
				Env: env, Output: &out, StopGrace: 2 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			start := time.Now()
			err = l.Apply(ctx)
			var xe *ExitError
			switch {
			case tc.wantCtxErr:
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Apply = %v, want context deadline", err)
				}
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("Apply took %v after the context ended", d)
				}
			case tc.wantCode != 0:
				if !errors.As(err, &xe) {
					t.Fatalf("Apply = %v, want *ExitError", err)
				}
				if xe.Code != tc.wantCode {
					t.Errorf("exit code = %d, want %d", xe.Code, tc.wantCode)
				}
				if len(xe.Tail) == 0 || !strings.Contains(err.Error(), strings.TrimPrefix(tc.wantLine, DefaultLokoctlPrefix)) {
					t.Errorf("error %q lacks lokoctl's last line %q", err, tc.wantLine)
				}
			default:
				if err != nil {
					t.Fatalf("Apply: %v\n%s", err, out.String())
				}
			}

			recs := readRecords(t, rec)
			if len(recs) != 1 {
				t.Fatalf("stand-in ran %d times, want 1", len(recs))
			}
			r := recs[0]
			if !slices.Equal(r.Args, tc.wantArgs) {
				t.Errorf("argv = %q, want %q", r.Args, tc.wantArgs)
			}
			wantDir, _ := filepath.EvalSymlinks(dir)
			if gotDir, _ := filepath.EvalSymlinks(r.Dir); gotDir != wantDir {
				t.Errorf("working dir = %s, want the lokomotive dir %s", r.Dir, dir)
			}
			for _, n := range []string{"KUBECONFIG", "RACKCTL_LOKOCTL_RECORD", "PATH"} {
				if !slices.Contains(r.Env, n) {
					t.Errorf("env lacks %s: %v", n, r.Env)
				}
			}

			for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
				if line != "" && !strings.HasPrefix(line, DefaultLokoctlPrefix) {
					t.Errorf("output line %q lacks the prefix", line)
				}
			}
			if tc.wantLine != "" && !strings.Contains(out.String(), tc.wantLine) {
				t.Errorf("output lacks %q:\n%s", tc.wantLine, out.String())
			}
			if strings.Contains(out.String(), "/secret/kubeconfig-value") {
				t.Error("an env value leaked into the output")
			}
		})
	}
}

func TestNewLokoctlErrors(t *testing.T) {
	dir := t.TempDir()
	tests := map[string]LokoctlConfig{
		"no dir":         {},
		"missing dir":    {Dir: filepath.Join(dir, "nope"), ExecPath: "/bin/true"},
		"dir is a file":  {Dir: "lokoctl.go", ExecPath: "/bin/true"},
		"no such binary": {Dir: dir, ExecPath: "lokoctl-does-not-exist-here"},
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := NewLokoctl(cfg); err == nil {
				t.Fatal("NewLokoctl succeeded")
			}
		})
	}
}
