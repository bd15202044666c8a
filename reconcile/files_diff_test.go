package reconcile

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCreateDiffIsUnifiedDiff: the direct diff of a created file is byte
// for byte what unifiedDiff gives, on every class of content (empty, one
// line, missing final newline, CRLF, blank lines, longer than
// maxDiffLines, binary, too large) and on every rendered golden file.
func TestCreateDiffIsUnifiedDiff(t *testing.T) {
	cases := map[string]string{
		"empty":             "",
		"one line":          "a\n",
		"one line, no EOL":  "a",
		"two lines":         "a\nb\n",
		"two lines, no EOL": "a\nb",
		"blank line":        "\n",
		"blank lines":       "\n\n\n",
		"crlf":              "a\r\nb\r\n",
		"long":              strings.Repeat("line\n", maxDiffLines+50),
		"long, no EOL":      strings.Repeat("line\n", maxDiffLines+50) + "end",
		"exactly the limit": strings.Repeat("line\n", maxDiffLines-3),
		"binary":            "a\x00b\n",
		"invalid utf-8":     "a\xffb\n",
		"too large":         strings.Repeat("x", maxDiffInput+1),
	}
	err := filepath.WalkDir("../render/testdata", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		cases[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 30 {
		t.Fatalf("only %d cases: the golden files were not found", len(cases))
	}
	for name, content := range cases {
		want := unifiedDiff("dir/file.conf", nil, []byte(content), false, true)
		if got := createDiff("dir/file.conf", []byte(content)); got != want {
			t.Errorf("%s: createDiff\n%q\nwant\n%q", name, got, want)
		}
	}
}
