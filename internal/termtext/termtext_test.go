package termtext

import "testing"

func TestEscape(t *testing.T) {
	tests := map[string]struct{ in, want, lines string }{
		"plain":          {"a b\tc ✓ café", "a b\tc ✓ café", "a b\tc ✓ café"},
		"newline":        {"a\nb", `a\nb`, "a\nb"},
		"ESC":            {"a\x1b[2Jb", `a\x1b[2Jb`, `a\x1b[2Jb`},
		"OSC title":      {"\x1b]0;owned\x07", `\x1b]0;owned\x07`, `\x1b]0;owned\x07`},
		"CR":             {"ok\rEVIL", `ok\rEVIL`, `ok\rEVIL`},
		"NUL and DEL":    {"\x00\x7f", `\x00\x7f`, `\x00\x7f`},
		"C1":             {"a\u0085b\u009b", `a\u0085b\u009b`, `a\u0085b\u009b`},
		"line separator": {"a\u2028b\u2029", `a\u2028b\u2029`, `a\u2028b\u2029`},
		"bidi override":  {"x\u202eevil\u202c", `x\u202eevil\u202c`, `x\u202eevil\u202c`},
		"zero width":     {"a\u200bb", `a\u200bb`, `a\u200bb`},
		"invalid utf-8":  {"a\xffb", `a\xffb`, `a\xffb`},
		"lines":          {"+a\x1b\n-b\r\n", `+a\x1b\n-b\r\n`, "+a\\x1b\n-b\\r\n"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Escape(tt.in); got != tt.want {
				t.Errorf("Escape = %q, want %q", got, tt.want)
			}
			if got := Lines(tt.in); got != tt.lines {
				t.Errorf("Lines = %q, want %q", got, tt.lines)
			}
		})
	}
}

func TestCell(t *testing.T) {
	for in, want := range map[string]string{
		"plain":          "plain",
		"a\tb":           `a\tb`,
		"evil\x1b[2Jx":   `evil\x1b[2Jx`,
		"line\u2028next": `line\u2028next`,
	} {
		if got := Cell(in); got != want {
			t.Errorf("Cell(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSafeASCIIAgreesWithRunes: the byte-wise check of ASCII judges every
// byte, alone and after a non-ASCII rune, as the rune-wise one does.
func TestSafeASCIIAgreesWithRunes(t *testing.T) {
	for b := 0; b < 0x80; b++ {
		for _, nl := range []bool{false, true} {
			for _, s := range []string{"a" + string(rune(b)) + "z", "é" + string(rune(b))} {
				if got, want := safe(s, nl), safeRunes(s, nl); got != want {
					t.Errorf("safe(%q, %v) = %v, rune-wise %v", s, nl, got, want)
				}
			}
		}
	}
}
