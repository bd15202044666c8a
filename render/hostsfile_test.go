package render

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestParseHosts(t *testing.T) {
	src := "127.0.0.1\tlocalhost\n" +
		"# 10.0.0.9 commented-out\n" +
		"10.0.0.5 node-1.example node-1 # Racker\n" +
		"  10.0.0.6   node-2\r\n" +
		"10.0.0.7\n" +
		"node-3 10.0.0.8\n" +
		"fd00::1 v6-node\n" +
		"10.0.0.10#glued comment\n" +
		"10.0.0.11 a#b\n"
	got := ParseHosts([]byte(src))
	var lines []string
	for _, e := range got {
		lines = append(lines, fmt.Sprintf("%d %s %s", e.Line, e.Addr, strings.Join(e.Names, ",")))
	}
	want := []string{
		"1 127.0.0.1 localhost",
		"3 10.0.0.5 node-1.example,node-1",
		"4 10.0.0.6 node-2",
		"7 fd00::1 v6-node",
		"9 10.0.0.11 a",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("ParseHosts:\n  %s\nwant:\n  %s", strings.Join(lines, "\n  "), strings.Join(want, "\n  "))
	}
}

// FuzzParseHosts: no panic; every entry has names without blanks or '#';
// writing the entries back in Racker's form and reading them again gives
// the same entries, and such a line is in Racker's own form.
func FuzzParseHosts(f *testing.F) {
	for _, s := range []string{
		"127.0.0.1 localhost\n10.0.0.5 node-1.example node-1 # c\n",
		"\t10.0.0.6\t\tnode-2\r\n",
		"fe80::1%eth0 ll\n",
		"# only a comment\n",
		"10.0.0.7\u00a0nbsp\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		entries := ParseHosts([]byte(src))
		var b strings.Builder
		for _, e := range entries {
			if len(e.Names) == 0 || e.Line < 1 {
				t.Fatalf("entry %+v", e)
			}
			for _, n := range e.Names {
				if n == "" || strings.ContainsAny(n, "# \t\r\n") {
					t.Fatalf("name %q", n)
				}
			}
			line := e.Addr.String() + " " + strings.Join(e.Names, " ")
			if again, ok := ParseHostsLine(line); !ok || again.Addr != e.Addr || !slices.Equal(again.Names, e.Names) {
				t.Fatalf("%q: %+v, written back %q reads %+v", src, e, line, again)
			}
			b.WriteString(line + "\n")
		}
		back := ParseHosts([]byte(b.String()))
		if len(back) != len(entries) {
			t.Fatalf("%d entries, %d after writing them back", len(entries), len(back))
		}
	})
}
