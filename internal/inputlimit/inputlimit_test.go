package inputlimit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	if err := os.WriteFile(small, []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, 11), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := map[string]struct {
		ctx     context.Context
		path    string
		want    string
		wantErr error
	}{
		"regular":   {context.Background(), small, "abc", nil},
		"too large": {context.Background(), big, "", ErrTooLarge},
		// Neither may block or grow: /dev/zero never ends, a FIFO without
		// a writer blocks a plain open forever.
		"device":    {context.Background(), "/dev/zero", "", ErrNotRegular},
		"fifo":      {context.Background(), fifo, "", ErrNotRegular},
		"directory": {context.Background(), dir, "", ErrNotRegular},
		"cancelled": {cancelled, small, "", context.Canceled},
		"missing":   {context.Background(), filepath.Join(dir, "nope"), "", os.ErrNotExist},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			done := make(chan struct{})
			var got []byte
			var err error
			go func() {
				defer close(done)
				got, err = ReadFile(tt.ctx, tt.path, 10)
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("ReadFile blocked")
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestCheckText(t *testing.T) {
	tests := map[string]struct {
		src  string
		want string // "" = accepted
	}{
		"plain":           {"a: b\n\tc\r\n", ""},
		"bare CR":         {"a: b\rc: d\n", "1:5: carriage return not followed by a line feed is not allowed"},
		"bom at start":    {"\uFEFFa: b\n", ""},
		"non-ascii":       {"a: café ✓\n", ""},
		"NUL":             {"a: b\x00", "1:5: control character U+0000 (NUL) is not allowed"},
		"ESC":             {"a: b\n  c\x1b[2J", "2:4: control character U+001B (ESC) is not allowed"},
		"DEL":             {"a\x7f", "1:2: control character U+007F (DEL) is not allowed"},
		"NEL":             {"é: b\u0085", "1:5: control character U+0085 (NEL, a YAML line break) is not allowed"},
		"C1":              {"\u009b", "1:1: control character U+009B is not allowed"},
		"line separator":  {"# x\u2028y", "1:4: U+2028 (line separator) is not allowed"},
		"para separator":  {"a\u2029", "1:2: U+2029 (paragraph separator) is not allowed"},
		"bom in the text": {"a\uFEFF", "1:2: U+FEFF (byte order mark) is not allowed"},
		"invalid utf-8":   {"ab\xff", "1:3: invalid UTF-8 (byte 0xff)"},
		"vertical tab":    {"\v", "1:1: control character U+000B is not allowed"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			err := CheckText([]byte(tt.src))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCheckYAMLDepth(t *testing.T) {
	var blockDeep strings.Builder
	for i := range 12 {
		blockDeep.WriteString(strings.Repeat(" ", i) + "a:\n")
	}
	tests := map[string]struct {
		src  string
		want string
	}{
		"flat":             {"a: 1\nb: [1, 2]\n", ""},
		"at the limit":     {"a: " + strings.Repeat("[", 9) + strings.Repeat("]", 9), ""},
		"flow":             {"a: " + strings.Repeat("[", 10), "1:13: nested more than 10 levels deep"},
		"flow over lines":  {"a: [\n" + strings.Repeat(" {x: [\n", 5), "6:2: nested more than 10 levels deep"},
		"block":            {blockDeep.String(), "11:11: nested more than 10 levels deep"},
		"compact sequence": {strings.Repeat("- ", 11) + "x\n", "1:23: nested more than 10 levels deep"},
		"brackets quoted":  {"a: \"" + strings.Repeat("[", 50) + "\"\nb: '" + strings.Repeat("{", 50) + "'\n", ""},
		"brackets comment": {"a: 1 # " + strings.Repeat("[", 50) + "\n", ""},
		"block scalar":     {"a: |\n" + strings.Repeat("  [[[[[[[[[[[[\n", 3) + "b: 1\n", ""},
		"block scalar indented": {
			"a: |-\n" + func() string {
				var b strings.Builder
				for i := range 20 {
					b.WriteString(strings.Repeat(" ", i+1) + "x:\n")
				}
				return b.String()
			}(), ""},
		"comment ending in a pipe": {"r:\n# see |\n" + strings.ReplaceAll(blockDeep.String(), "a:", " a:"), "12:11: nested more than 10 levels deep"},
		"escaped quote":            {`a: "\"[[[[[[[[[[[["` + "\n", ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			err := CheckYAMLDepth([]byte(tt.src), 10)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCheckHCLDepth(t *testing.T) {
	tests := map[string]struct {
		src  string
		want string
	}{
		"flat":              {"a = [1, 2]\nb = { c = 1 }\n", ""},
		"at the limit":      {"a = " + strings.Repeat("[", 10), ""},
		"list":              {"a = " + strings.Repeat("[", 11), "1:15: nested more than 10 levels deep"},
		"object":            {"a = {\n" + strings.Repeat("b = {\n", 10), "11:5: nested more than 10 levels deep"},
		"parens":            {"a = " + strings.Repeat("(", 11), "1:15: nested more than 10 levels deep"},
		"in a string":       {`a = "` + strings.Repeat("[", 50) + `"`, ""},
		"escaped interp":    {`a = "$${` + strings.Repeat("[", 50) + `"`, ""},
		"interpolation":     {`a = "${` + strings.Repeat("[", 10), "1:16: nested more than 10 levels deep"},
		"nested strings":    {`a = "${"${"${"${"${"${`, "1:20: nested more than 10 levels deep"},
		"comments":          {"# " + strings.Repeat("[", 50) + "\n// " + strings.Repeat("{", 50) + "\n/* " + strings.Repeat("(", 50) + " */\na = 1\n", ""},
		"heredoc":           {"a = <<EOT\n" + strings.Repeat("[", 50) + "\nEOT\nb = 1\n", ""},
		"heredoc interp":    {"a = <<-EOT\n  ${" + strings.Repeat("[", 10) + "\n", "2:13: nested more than 10 levels deep"},
		"closed again":      {strings.Repeat("a = "+strings.Repeat("[", 8)+strings.Repeat("]", 8)+"\n", 20), ""},
		"unary chain":       {"a = " + strings.Repeat("!", 11) + "x\n", "1:15: nested more than 10 levels deep"},
		"negation chain":    {"a = " + strings.Repeat("- ", 11) + "1\n", "1:25: nested more than 10 levels deep"},
		"ternary chain":     {"a = " + strings.Repeat("x ? 1 : ", 11) + "2\n", "1:87: nested more than 10 levels deep"},
		"binary chain":      {"a = 1" + strings.Repeat(" + 1", 11) + "\n", "1:47: nested more than 10 levels deep"},
		"index chain":       {"a = x" + strings.Repeat("[0]", 11) + "\n", "1:36: nested more than 10 levels deep"},
		"directives":        {`a = "` + strings.Repeat("%{ if x }", 10), "1:78: nested more than 10 levels deep"},
		"directives closed": {`a = "` + strings.Repeat("%{ if x }y%{ endif }", 30) + `"` + "\n", ""},
		"many elements":     {"a = [" + strings.Repeat("-1, !x, y ? 1 : 2, ", 100) + "]\n", ""},
		"many lines":        {strings.Repeat("a-b = x-y + 1\nc = { d = -1\n e = 2 }\n", 100), ""},
		"names with dashes": {"module.flatcar-provisioning-a-b-c-d-e-f-g-h-i-j-k.x = 1\n", ""},
		"comparisons":       {"a = x != y && x <= y || x >= y && x == y\n", ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			err := CheckHCLDepth([]byte(tt.src), 10)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
