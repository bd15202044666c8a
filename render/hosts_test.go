package render

import (
	"strings"
	"testing"
)

func TestMergeBlock(t *testing.T) {
	block := BeginMarker + "\n10.0.0.2 a.example a\n" + EndMarker + "\n"
	old := BeginMarker + "\n10.0.0.9 old.example old\n" + EndMarker + "\n"
	crlf := func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }
	tests := map[string]struct {
		existing, block, want string
	}{
		"empty file": {"", block, block},
		"append after final newline": {
			"127.0.0.1 localhost\n", block,
			"127.0.0.1 localhost\n" + block,
		},
		"append adds missing newline": {
			"127.0.0.1 localhost", block,
			"127.0.0.1 localhost\n" + block,
		},
		"replace keeps text around byte for byte": {
			"127.0.0.1 localhost\n# mine  \n" + old + "\n10.1.1.1 after\t# tab\n", block,
			"127.0.0.1 localhost\n# mine  \n" + block + "\n10.1.1.1 after\t# tab\n",
		},
		"replace at end without final newline": {
			"x\n" + strings.TrimSuffix(old, "\n"), block,
			"x\n" + block,
		},
		"empty block removes markers": {
			"a\n" + old + "b\n", "",
			"a\nb\n",
		},
		"empty block without a block changes nothing": {
			"a\nb", "", "a\nb",
		},
		"block lacking final newline": {
			"a\n" + old + "b\n", strings.TrimSuffix(block, "\n"),
			"a\n" + block + "b\n",
		},
		"crlf file keeps crlf": {
			crlf("127.0.0.1 localhost\n" + old + "::1 localhost\n"), block,
			crlf("127.0.0.1 localhost\n" + block + "::1 localhost\n"),
		},
		"crlf file append": {
			"127.0.0.1 localhost\r\n::1 x", block,
			"127.0.0.1 localhost\r\n::1 x\r\n" + crlf(block),
		},
		"crlf file remove": {
			crlf("a\n" + old + "b\n"), "",
			crlf("a\nb\n"),
		},
		"begin without end is user text": {
			"a\n" + BeginMarker + "\nb\n", block,
			"a\n" + BeginMarker + "\nb\n" + block,
		},
		"stray begin above a block is kept": {
			BeginMarker + "\nmine\n" + old, block,
			BeginMarker + "\nmine\n" + block,
		},
		"end before begin is user text": {
			EndMarker + "\n" + old, block,
			EndMarker + "\n" + block,
		},
		"markers with trailing spaces are found": {
			"a\n" + BeginMarker + "  \nx\n" + EndMarker + " \nb\n", block,
			"a\n" + block + "b\n",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := string(MergeBlock([]byte(tc.existing), []byte(tc.block)))
			if got != tc.want {
				t.Fatalf("MergeBlock:\n got %q\nwant %q", got, tc.want)
			}
			again := string(MergeBlock([]byte(got), []byte(tc.block)))
			if again != got {
				t.Fatalf("not idempotent:\nonce  %q\ntwice %q", got, again)
			}
			if tc.block != "" {
				b, ok := ExtractBlock([]byte(got))
				want := tc.block
				if !strings.HasSuffix(want, "\n") {
					want += "\n"
				}
				if !ok || string(b) != want {
					t.Fatalf("ExtractBlock after merge = %q, %v; want %q", b, ok, want)
				}
			}
		})
	}
}

// TestMergeBlockAdopts: lines that already hold the block's content,
// unmarked (Racker's), are the block: left as they are while the content
// stays; a change adds the marked block and drops the superseded lines.
func TestMergeBlockAdopts(t *testing.T) {
	block := BeginMarker + "\n10.0.0.2 api.example etcd0.example\n10.0.0.2 a.example\n10.0.0.3 b.example\n" + EndMarker + "\n"
	racker := "127.0.0.1 localhost\n10.9.9.9 site.example\n10.0.0.2 api.example etcd0.example\n10.0.0.2 a.example\n10.0.0.3 b.example\n"
	tests := map[string]struct {
		existing, block, want string
	}{
		"unmarked lines are adopted":    {racker, block, racker},
		"adopted in the middle":         {racker + "10.8.8.8 after.example\n", block, racker + "10.8.8.8 after.example\n"},
		"adopted with crlf":             {strings.ReplaceAll(racker, "\n", "\r\n"), block, strings.ReplaceAll(racker, "\n", "\r\n")},
		"adopted without final newline": {strings.TrimSuffix(racker, "\n"), block, strings.TrimSuffix(racker, "\n")},
		"lines apart are not adopted": {
			"10.0.0.2 api.example etcd0.example\n10.0.0.2 a.example\n# x\n10.0.0.3 b.example\n", block,
			"# x\n" + block,
		},
		"a change drops superseded lines": {
			racker, BeginMarker + "\n10.0.0.2 api.example etcd0.example\n10.0.0.2 a.example\n10.0.0.4 b.example\n" + EndMarker + "\n",
			"127.0.0.1 localhost\n10.9.9.9 site.example\n" + BeginMarker + "\n10.0.0.2 api.example etcd0.example\n10.0.0.2 a.example\n10.0.0.4 b.example\n" + EndMarker + "\n",
		},
		"lines with other names stay": {
			"10.0.0.3 b.example b-alias\n10.0.0.5 b.example\n", block,
			"10.0.0.3 b.example b-alias\n" + block,
		},
		"a marked block is never adopted around": {
			racker + BeginMarker + "\n" + EndMarker + "\n", block,
			racker + block,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := string(MergeBlock([]byte(tc.existing), []byte(tc.block)))
			if got != tc.want {
				t.Fatalf("MergeBlock:\n got %q\nwant %q", got, tc.want)
			}
			if again := string(MergeBlock([]byte(got), []byte(tc.block))); again != got {
				t.Fatalf("not idempotent:\nonce  %q\ntwice %q", got, again)
			}
			if AdoptsUnmarked([]byte(tc.existing), []byte(tc.block)) != (got == tc.existing) {
				t.Errorf("AdoptsUnmarked disagrees with MergeBlock")
			}
		})
	}
}

// TestHostsBlockRackerFormat: Racker's lines, controllers first.
func TestHostsBlockRackerFormat(t *testing.T) {
	in := rackerLokomotiveFixture()
	got := string(HostsBlock(in))
	want := BeginMarker + "\n" +
		"172.24.213.10 lokomotive.k8s.localdomain lokomotive-etcd0.k8s.localdomain\n" +
		"172.24.213.11 lokomotive.k8s.localdomain lokomotive-etcd1.k8s.localdomain\n" +
		"172.24.213.12 lokomotive.k8s.localdomain lokomotive-etcd2.k8s.localdomain\n" +
		"172.24.213.10 lokomotive-controller-0.k8s.localdomain\n"
	if !strings.HasPrefix(got, want) {
		t.Fatalf("got\n%s\nwant a block starting\n%s", got, want)
	}
	f := rackerFlatcarFixture()
	if got := string(HostsBlock(f)); !strings.Contains(got, "\n172.24.213.10 node-0\n") || strings.Contains(got, "node-2") {
		t.Errorf("flatcar without a domain: names as they are, excluded absent:\n%s", got)
	}
}

func TestMergeBlockDoesNotAliasInput(t *testing.T) {
	existing := []byte("a\n" + BeginMarker + "\nx\n" + EndMarker + "\nb\n")
	orig := string(existing)
	block := make([]byte, 0, 100)
	block = append(block, BeginMarker+"\n"+EndMarker...)
	MergeBlock(existing, block)
	if string(existing) != orig || string(block) != BeginMarker+"\n"+EndMarker {
		t.Fatal("MergeBlock modified its input")
	}
}

func TestExtractBlock(t *testing.T) {
	tests := map[string]struct {
		in, want string
		ok       bool
	}{
		"none":        {"127.0.0.1 localhost\n", "", false},
		"only begin":  {BeginMarker + "\nx\n", "", false},
		"block":       {"a\n" + BeginMarker + "\nx\n" + EndMarker + "\nb\n", BeginMarker + "\nx\n" + EndMarker + "\n", true},
		"crlf":        {"a\r\n" + BeginMarker + "\r\nx\r\n" + EndMarker + "\r\n", BeginMarker + "\nx\n" + EndMarker + "\n", true},
		"no final lf": {BeginMarker + "\n" + EndMarker, BeginMarker + "\n" + EndMarker + "\n", true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b, ok := ExtractBlock([]byte(tc.in))
			if ok != tc.ok || string(b) != tc.want {
				t.Fatalf("ExtractBlock = %q, %v; want %q, %v", b, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestHostsBlockMerges(t *testing.T) {
	in := lokomotiveFixture()
	block := HostsBlock(in)
	etc := []byte("127.0.0.1 localhost\n::1 localhost\n")
	merged := MergeBlock(etc, block)
	got, ok := ExtractBlock(merged)
	if !ok || string(got) != string(block) {
		t.Fatalf("round trip failed: %q", merged)
	}
	if strings.Count(string(block), "lokomotive.k8s.localdomain ") != 3 {
		t.Errorf("want one API server line per controller:\n%s", block)
	}
}
