// Package inputlimit bounds what rackctl reads before a parser sees it:
// the size of a file (and that it is a regular file at all), the
// characters a text may hold, and how deeply YAML or HCL nests. The
// parsers rackctl uses recurse once per nesting level and some of them
// panic on characters they treat as line breaks, so these checks run
// first, on bytes, without recursion, and say where the problem is.
package inputlimit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"unicode/utf8"
)

// MaxSpecSize bounds a rack.yaml (and any other file rackctl parses):
// a rack of thousands of nodes is a few megabytes.
const MaxSpecSize = 16 << 20

// MaxDepth bounds the nesting of YAML and HCL documents. rackctl's own
// files nest fewer than ten levels; a parser's stack is safe far beyond a
// hundred.
const MaxDepth = 100

// Sentinel errors, for errors.Is.
var (
	ErrTooLarge   = errors.New("file too large")
	ErrNotRegular = errors.New("not a regular file")
)

// Error is a problem at a position of the input: Line counts LF-separated
// lines, Col characters (runes) within the line, both from 1.
type Error struct {
	Line, Col int
	Msg       string
}

func (e *Error) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg) }

// ReadFile reads the regular file at path, at most max bytes. A FIFO,
// device (/dev/zero) or socket is refused before anything is read: the
// open does not block (O_NONBLOCK) and the file type is checked on the
// open descriptor. The read stops when ctx is done, so a signal that
// cancels ctx is never held up by a slow file.
func ReadFile(ctx context.Context, path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, fileType(fi.Mode()))
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%s: %w: %d bytes, at most %d allowed", path, ErrTooLarge, fi.Size(), max)
	}
	buf := make([]byte, 0, fi.Size()+1)
	chunk := make([]byte, 64<<10)
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		n, err := f.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if int64(len(buf)) > max {
			// The file grew after Stat.
			return nil, fmt.Errorf("%s: %w: more than %d bytes", path, ErrTooLarge, max)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
	}
}

func fileType(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return m.Type().String()
}

// CheckText finds the first character of src that no text input of
// rackctl may hold anywhere, comments included, and returns its position:
// invalid UTF-8; C0 controls other than tab, LF and CR (NUL, ESC, ...);
// DEL; C1 controls (U+0085 NEL among them); U+2028 and U+2029; a carriage
// return not followed by a line feed; a byte order mark other than at the
// very start. YAML parsers break lines at
// NEL, U+2028 and U+2029 where nothing else does (positions, diffs and
// reviewers disagree with the parser about where a line ends, and one
// parser panics on them in comments); the controls reach terminals and
// the programs rackctl writes files for.
func CheckText(src []byte) error {
	line, col := 1, 1
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && size <= 1 {
			return &Error{line, col, fmt.Sprintf("invalid UTF-8 (byte 0x%02x)", src[i])}
		}
		if r == '\r' && i+1 < len(src) && src[i+1] != '\n' {
			// YAML breaks the line here; git, diff and reviewers do not.
			return &Error{line, col, "carriage return not followed by a line feed is not allowed"}
		}
		if name := Forbidden(r); name != "" && !(r == '\uFEFF' && i == 0) {
			return &Error{line, col, fmt.Sprintf("%s is not allowed", name)}
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += size
	}
	return nil
}

// Forbidden names r ("U+2028 (line separator)") if no text input may
// hold it (see CheckText), or returns "".
func Forbidden(r rune) string {
	switch {
	case r == '\t', r == '\n', r == '\r':
		return ""
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return fmt.Sprintf("control character U+%04X%s", r, controlName(r))
	case r == '\u2028':
		return "U+2028 (line separator)"
	case r == '\u2029':
		return "U+2029 (paragraph separator)"
	case r == '\uFEFF':
		return "U+FEFF (byte order mark)"
	}
	return ""
}

func controlName(r rune) string {
	switch r {
	case 0:
		return " (NUL)"
	case 0x1b:
		return " (ESC)"
	case 0x85:
		return " (NEL, a YAML line break)"
	case 0x7f:
		return " (DEL)"
	}
	return ""
}
