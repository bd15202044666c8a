package reconcile

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	udiff "github.com/aymanbagabas/go-udiff"
)

// Limits of the human diff: past maxDiffInput bytes no diff is computed,
// past maxDiffLines lines the diff is cut.
const (
	maxDiffInput = 1 << 20
	maxDiffLines = 200
	diffContext  = 3
)

// unifiedDiff is the unified diff of a file's old and new content, for
// people: binary files and very large ones are summarized, long diffs cut.
func unifiedDiff(p string, old, new []byte, oldExists, newExists bool) string {
	from, to := "a/"+p, "b/"+p
	if !oldExists {
		from = "/dev/null"
	}
	if !newExists {
		to = "/dev/null"
	}
	if isBinary(old) || isBinary(new) {
		return fmt.Sprintf("Binary file %s differs (%d -> %d bytes)\n", p, len(old), len(new))
	}
	if len(old) > maxDiffInput || len(new) > maxDiffInput {
		return fmt.Sprintf("--- %s\n+++ %s\n(diff not shown: file too large, %d -> %d bytes)\n", from, to, len(old), len(new))
	}
	edits := udiff.Strings(string(old), string(new))
	d, err := udiff.ToUnified(from, to, string(old), edits, diffContext)
	if err != nil {
		return fmt.Sprintf("(diff not available: %v)\n", err)
	}
	return truncateLines(d, maxDiffLines)
}

func truncateLines(s string, max int) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			n++
			if n == max && i+1 < len(s) {
				rest := strings.Count(s[i+1:], "\n")
				if !strings.HasSuffix(s, "\n") {
					rest++
				}
				return s[:i+1] + fmt.Sprintf("... %d more diff lines not shown\n", rest)
			}
		}
	}
	return s
}

func isBinary(b []byte) bool {
	return bytes.IndexByte(b, 0) >= 0 || !utf8.Valid(b)
}
