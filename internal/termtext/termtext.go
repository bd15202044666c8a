// Package termtext makes text safe to print on a terminal: what rackctl
// prints comes in part from files anyone with write access to a managed
// path controls (a diff of etc/hosts, say), and an ESC there would drive
// the terminal, a CR would overwrite the line before it, and a line
// separator or bidirectional override would show the reader something
// else than what is there.
package termtext

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Escape returns s with every character that is not safe on a terminal
// written as a Go escape: control characters (tab kept) as \n, \r, \x1b;
// line and paragraph separators and invisible formatting characters
// (U+2028, U+202E, U+200B, ...) as \u2028; invalid UTF-8 as \xff. A
// backslash stays as it is: the output is for reading, not for parsing.
func Escape(s string) string {
	if safe(s, false) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t':
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x80 && unicode.IsControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafe(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// Lines escapes each line of s and keeps the line feeds between them.
func Lines(s string) string {
	if safe(s, true) {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Escape(l)
	}
	return strings.Join(lines, "\n")
}

// safe tells whether Escape (nl false) or Lines (nl true) would leave s
// unchanged; the common case, checked without allocating.
func safe(s string, nl bool) bool {
	// Plans print megabytes of ASCII: its bytes are judged directly (the
	// only unsafe ones are C0 controls and DEL), the rest rune by rune.
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b >= utf8.RuneSelf {
			return safeRunes(s[i:], nl)
		}
		if (b < 0x20 || b == 0x7f) && b != '\t' && (!nl || b != '\n') {
			return false
		}
	}
	return true
}

func safeRunes(s string, nl bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return r != '\t' && !(nl && r == '\n') && unsafe(r)
	})
}

func unsafe(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
}

// Cell is Escape for one cell of a table: a tab, which would move the
// columns after it, is escaped too.
func Cell(s string) string {
	return strings.ReplaceAll(Escape(s), "\t", `\t`)
}
