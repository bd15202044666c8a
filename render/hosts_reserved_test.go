package render

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rackctl/rackctl/ipam"
	"github.com/rackctl/rackctl/schema"
)

// systemHosts is a management node's /etc/hosts before rackctl: Debian's
// defaults, the node's own names, hand-written lines.
const systemHosts = "127.0.0.1 localhost\n" +
	"127.0.1.1 mgmt.lan mgmt\n" +
	"192.168.1.5 mgmt\n" +
	"\n" +
	"# The following lines are desirable for IPv6 capable hosts\n" +
	"::1 localhost ip6-localhost ip6-loopback\n" +
	"ff02::1 ip6-allnodes\n" +
	"ff02::2 ip6-allrouters\n" +
	"172.24.213.99 printer # by hand\n" +
	"172.24.213.98\tscanner\n" +
	"172.24.213.97 printer2 alias\n" +
	" 172.24.213.96 fax\n"

// withNodeNames is the flatcar fixture without a domain (FQDN = name), its
// first nodes renamed; in the given file format.
func withNodeNames(format schema.FileFormat, names ...string) Input {
	in := flatcarFixture()
	in.Rack.FileFormat = format
	in.Rack.Domain = ""
	addrs := map[string]ipam.Addrs{}
	for i := range in.Rack.Nodes {
		n := &in.Rack.Nodes[i]
		a := in.Addrs[n.Name]
		if i < len(names) {
			n.Name = names[i]
		}
		addrs[n.Name] = a
	}
	in.Addrs = addrs
	return in
}

// outside is src without its marked block.
func outside(t *testing.T, src []byte) string {
	t.Helper()
	start, end, ok := blockBounds(src)
	if !ok {
		t.Fatalf("no marked block in\n%s", src)
	}
	return string(src[:start]) + string(src[end:])
}

// TestMergeBlockNeverTouchesOtherLines: whatever the nodes are called —
// names of the system's own lines, the management node's name, names of
// hand-written lines — every line outside the marked block stays, byte for
// byte and in order, when the block is added and when it changes.
func TestMergeBlockNeverTouchesOtherLines(t *testing.T) {
	classes := map[string][]string{
		"localhost":             {"localhost"},
		"ip6 names":             {"ip6-localhost", "ip6-allnodes", "ip6-allrouters"},
		"localhost forms":       {"localhost.localdomain", "ip6-loopback"},
		"management node":       {"mgmt", "mgmt.lan"},
		"hand-written names":    {"printer", "scanner", "fax"},
		"part of a line's name": {"printer2"},
	}
	for _, format := range []schema.FileFormat{schema.FormatRackctl, schema.FormatRacker} {
		for name, names := range classes {
			t.Run(string(format)+"/"+name, func(t *testing.T) {
				in := withNodeNames(format, names...)
				block := HostsBlock(in)
				for _, n := range names {
					if !strings.Contains(string(block), " "+n+"\n") && !strings.Contains(string(block), " "+n+" ") {
						t.Fatalf("block does not name %s:\n%s", n, block)
					}
				}
				got := MergeBlock([]byte(systemHosts), block)
				if o := outside(t, got); o != systemHosts {
					t.Fatalf("lines outside the block changed:\n got %q\nwant %q", o, systemHosts)
				}
				// The block changes (a node moves): still untouched.
				a := in.Addrs[names[0]]
				a.Primary = a.Primary.Next().Next()
				in.Addrs[names[0]] = a
				again := MergeBlock(got, HostsBlock(in))
				if o := outside(t, again); o != systemHosts {
					t.Fatalf("lines outside the block changed on update:\n got %q\nwant %q", o, systemHosts)
				}
				// Removing the block gives the file back.
				if back := string(MergeBlock(again, nil)); back != systemHosts {
					t.Fatalf("block removed: %q, want %q", back, systemHosts)
				}
			})
		}
	}
}

// TestRackerEntry: which unmarked lines are Racker's entries for a node
// of the block, and so adopted or dropped; every other one is kept.
func TestRackerEntry(t *testing.T) {
	body := []string{
		"172.24.213.10 lokomotive.example lokomotive-etcd0.example",
		"172.24.213.10 ctl-0.example",
		"172.24.213.11 localhost",
		"fd00::10 v6.example",
		// Addresses no node may have, as a renderer given a bad input
		// could still write them: the system's lines stay anyway.
		"127.0.0.5 lo.example",
		"fe80::10 ll.example",
		"ff02::10 mc.example",
		"0.0.0.0 any.example",
	}
	tests := map[string]bool{
		"172.24.213.10 ctl-0.example":                               true,
		"172.24.213.50 ctl-0.example":                               true, // old address, same /24
		"172.24.213.10 lokomotive.example lokomotive-etcd0.example": true,
		"fd00::99 v6.example":                                       true,
		"192.168.1.5 ctl-0.example":                                 false, // another network: not Racker's
		"172.24.213.10 lokomotive.example":                          false, // names differ
		"172.24.213.10 ctl-0.example alias":                         false,
		"172.24.213.10  ctl-0.example":                              false, // not as Racker wrote it
		"172.24.213.10\tctl-0.example":                              false,
		"172.24.213.10 ctl-0.example ":                              false,
		"172.24.213.10 ctl-0.example # mine":                        false,
		"172.24.213.11 localhost":                                   false, // reserved name
		"127.0.0.1 localhost":                                       false,
		"127.0.0.1 ctl-0.example":                                   false, // loopback
		"::1 v6.example":                                            false,
		"fe80::1 v6.example":                                        false, // link-local
		"ff02::1 v6.example":                                        false, // multicast
		"0.0.0.0 ctl-0.example":                                     false,
		"127.0.0.1 lo.example":                                      false, // loopback, same /24
		"fe80::1 ll.example":                                        false, // link-local, same /64
		"ff02::1 mc.example":                                        false, // multicast, same /64
		"0.0.0.0 any.example":                                       false, // unspecified
		"ctl-0.example":                                             false,
		"":                                                          false,
	}
	for line, want := range tests {
		if got := rackerEntry(line, body); got != want {
			t.Errorf("rackerEntry(%q) = %v, want %v", line, got, want)
		}
	}
}

func TestReservedHostName(t *testing.T) {
	for n, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "localhost.": true, "localhost.localdomain": true,
		"localhost6": true, "localhost6.localdomain6": true, "foo.localhost": true,
		"ip6-localhost": true, "ip6-loopback": true, "ip6-allnodes": true, "ip6-allrouters": true,
		"broadcasthost": true,
		"node-0":        false, "localhost-0": false, "mylocalhost": false, "ip6": false,
	} {
		if got := reservedHostName(n); got != want {
			t.Errorf("reservedHostName(%q) = %v, want %v", n, got, want)
		}
	}
}

// TestRackerLinesSupersededInPlace: the Racker lines of the fixture are
// adopted while unchanged and dropped when the block changes, the other
// lines kept in place.
func TestRackerLinesSupersededInPlace(t *testing.T) {
	in := rackerLokomotiveFixture()
	block := HostsBlock(in)
	racker := strings.Join(blockBody(block), "\n") + "\n"
	existing := "127.0.0.1 localhost\n" + racker + "10.1.1.1 after\n"
	if got := string(MergeBlock([]byte(existing), block)); got != existing {
		t.Fatalf("Racker's lines not adopted:\n%s", got)
	}
	n := &in.Rack.Nodes[0]
	a := in.Addrs[n.Name]
	a.Primary = a.Primary.Next().Next().Next()
	in.Addrs[n.Name] = a
	got := MergeBlock([]byte(existing), HostsBlock(in))
	if o := outside(t, got); o != "127.0.0.1 localhost\n10.1.1.1 after\n" {
		t.Fatalf("outside the block after the change: %q", o)
	}
	if strings.Count(string(got), fmt.Sprintf("%s.%s\n", n.Name, in.Rack.Domain)) != 1 {
		t.Errorf("the superseded line of %s is still there:\n%s", n.Name, got)
	}
}

// TestReservedLinesNeverAdopted: a block naming a reserved name is not
// "already there" in the system's line of that name; the marked block is
// added and the line kept.
func TestReservedLinesNeverAdopted(t *testing.T) {
	block := BeginMarker + "\n10.0.0.2 localhost\n" + EndMarker + "\n"
	existing := "127.0.0.1 localhost\n10.0.0.2 localhost\n"
	got := string(MergeBlock([]byte(existing), []byte(block)))
	if got != existing+block {
		t.Fatalf("MergeBlock = %q, want the block added after every line", got)
	}
	if AdoptsUnmarked([]byte(existing), []byte(block)) {
		t.Error("AdoptsUnmarked: reserved lines adopted")
	}
}
