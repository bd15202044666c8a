package schema

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/encoding/yaml"
)

var update = flag.Bool("update", false, "rewrite testdata/bad/*.err from the current output")

// TestBad checks every spec of testdata/bad gives exactly the diagnostics of
// its .err file.
func TestBad(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 24 {
		t.Fatalf("want at least 24 bad specs, found %d", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			r, err := Load(f)
			if err == nil {
				t.Fatalf("Load succeeded, want errors; rack %+v", r)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, want Errors: %v", err, err)
			}
			for _, d := range errs {
				if d.Line < 1 || d.Col < 1 || d.File != f {
					t.Errorf("diagnostic without position in %s: %+v", f, d)
				}
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run with -update to create it): %v", err)
			}
			if got != string(want) {
				t.Errorf("diagnostics differ\n--- got\n%s--- want\n%s", got, want)
			}
		})
	}
}

func TestGoodLokomotive(t *testing.T) {
	r, err := Load("testdata/good/lokomotive.yaml")
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]struct{ got, want any }{
		"cluster name":     {r.Cluster.Name, "lokomotive"},
		"api server":       {r.Cluster.APIServerName, "lokomotive.k8s.localdomain"},
		"strategy":         {r.Cluster.Updates.Strategy, "reboot"},
		"cipher suite":     {r.BMC.CipherSuite, 3},
		"kernel console":   {strings.Join(r.Install.KernelConsole, " "), "console=ttyS1,57600n8 earlyprintk=serial,ttyS1,57600n8"},
		"smallest disk":    {r.Install.InstallToSmallestDisk, true},
		"cached install":   {r.Install.CachedInstall, false},
		"http endpoint":    {r.Matchbox.HTTPEndpoint, "http://172.24.213.1:8080"},
		"rpc endpoint":     {r.Matchbox.RPCEndpoint, "172.24.213.1:8081"},
		"cert dir":         {r.Matchbox.ClientCertDir, "/opt/racker-state/matchbox-client"},
		"range":            {r.Network.Internal.DynamicRange, IPRange{Start: "172.24.213.200", End: "172.24.213.254"}},
		"upper-case mac":   {r.Nodes[0].MAC, "aa:bb:cc:dd:ee:11"},
		"dash mac":         {r.Nodes[0].BMCMAC, "aa:bb:cc:dd:ee:12"},
		"secondary mac":    {r.Nodes[0].SecondaryMAC, "aa:bb:cc:dd:ee:13"},
		"public ip":        {r.Nodes[0].PublicIP, "203.0.113.10/24"},
		"label":            {r.Nodes[0].Labels["metadata.node-type"], "storage"},
		"labels non-nil":   {r.Nodes[1].Labels != nil, true},
		"excluded":         {r.Nodes[2].Exclude, true},
		"reprovision":      {r.Nodes[2].Reprovision, "2026-11-02"},
		"rotate user":      {r.BMC.Rotate.User, "admin2"},
		"public dns":       {strings.Join(r.Network.Public.DNS, ","), "1.1.1.1,8.8.8.8"},
		"components":       {len(r.Cluster.Components), 2},
		"component attr":   {fmt.Sprint(r.Cluster.Components["metrics-server"]["replicas"]), "2"},
		"active nodes":     {len(r.ActiveNodes()), 2},
		"node by bmc mac":  {r.Node("AA:BB:CC:DD:EE:22").Name, "lokomotive-worker-0"},
		"node by dash mac": {r.Node("aa-bb-cc-dd-ee-22").Name, "lokomotive-worker-0"},
		"bmc address":      {r.Nodes[1].BMCAddress, "127.0.0.1:9001"},
		"provisioner":      {r.Provisioner, Lokomotive},
		"controller count": {len(r.NodesWithRole(RoleController)), 1},
	}
	for name, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %#v, want %#v", name, c.got, c.want)
		}
	}
}

func TestGoodFlatcar(t *testing.T) {
	r, err := Load("testdata/good/flatcar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]struct{ got, want any }{
		"cluster name":   {r.Cluster.Name, "edge-1"},
		"api server":     {r.Cluster.APIServerName, "edge-1.example.net"},
		"strategy":       {r.Cluster.Updates.Strategy, "off"},
		"cipher suite":   {r.BMC.CipherSuite, 17},
		"cached install": {r.Install.CachedInstall, true},
		"pxe commands":   {r.Install.PXECommands, "/opt/racker/pxe-boot.sh"},
		"http endpoint":  {r.Matchbox.HTTPEndpoint, "http://10.0.0.1:8080"},
		"rpc endpoint":   {r.Matchbox.RPCEndpoint, "10.0.0.1:8081"},
		"range":          {r.Network.Internal.DynamicRange, IPRange{Start: "10.0.0.100", End: "10.0.0.126"}},
		"interface":      {r.Network.Internal.Interface, "br0"},
		"mac":            {r.Nodes[0].MAC, "00:11:22:33:44:0a"},
		"bmc mac":        {r.Nodes[0].BMCMAC, "00:11:22:33:44:0b"},
		"extra clc":      {r.Nodes[1].ExtraCLC, "storage:\n  files: []\n"},
		"no public":      {r.Network.Public == nil, true},
		"components":     {r.Cluster.Components != nil && len(r.Cluster.Components) == 0, true},
	}
	for name, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %#v, want %#v", name, c.got, c.want)
		}
	}
}

// TestFlatcarEmptyNodes: an empty node list is allowed for flatcar (a rack
// being set up); for lokomotive it fails the controller rule (testdata/bad).
func TestFlatcarEmptyNodes(t *testing.T) {
	src, err := os.ReadFile("testdata/good/flatcar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	s = s[:strings.Index(s, "nodes:")] + "nodes: []\n"
	r, err := Parse("rack.yaml", []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	if r.Nodes == nil || len(r.Nodes) != 0 {
		t.Errorf("nodes = %#v, want empty non-nil", r.Nodes)
	}
}

func TestDefaultDynamicRange(t *testing.T) {
	tests := map[string]struct{ subnet, start, end string }{
		"/24": {"172.24.213.0/24", "172.24.213.200", "172.24.213.254"},
		"/25": {"10.0.0.0/25", "10.0.0.100", "10.0.0.126"},
		"/29": {"10.0.0.8/29", "10.0.0.14", "10.0.0.14"},
		"/23": {"10.0.0.0/23", "10.0.1.144", "10.0.1.254"},
		"/16": {"10.1.0.0/16", "10.1.252.128", "10.1.255.254"},
		"/30": {"10.0.0.0/30", "", ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			start, end, ok := DefaultDynamicRange(mustPrefix(t, tt.subnet))
			if tt.start == "" {
				if ok {
					t.Fatalf("got %s-%s, want none", start, end)
				}
				return
			}
			if !ok || start.String() != tt.start || end.String() != tt.end {
				t.Errorf("got %s-%s (%v), want %s-%s", start, end, ok, tt.start, tt.end)
			}
		})
	}
}

func TestDiagnosticsSorted(t *testing.T) {
	_, err := Load("testdata/bad/many-errors.yaml")
	var errs Errors
	if !errors.As(err, &errs) || len(errs) < 3 {
		t.Fatalf("want several diagnostics, got %v", err)
	}
	if !slices.IsSortedFunc(errs, func(a, b Diagnostic) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Col - b.Col
	}) {
		t.Errorf("diagnostics not sorted by position:\n%v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want os.ErrNotExist", err)
	}
}

func TestCUEEmbedded(t *testing.T) {
	if !strings.Contains(string(CUE()), "#Rack:") {
		t.Error("embedded schema lacks #Rack")
	}
}

// TestNodeDecode: reading nodes from the syntax gives what CUE's Decode
// gives, for every node of the good specs.
func TestNodeDecode(t *testing.T) {
	files, _ := filepath.Glob("testdata/good/*.yaml")
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		file, err := yaml.Extract(f, src)
		if err != nil {
			t.Fatal(err)
		}
		ix := newIndex(f, file)
		v := cuecontext.New().BuildFile(file)
		var want []Node
		if err := v.LookupPath(cue.ParsePath("nodes")).Decode(&want); err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			if got := ix.node(joinIndex("nodes", i)); !reflect.DeepEqual(got, w) {
				t.Errorf("%s nodes[%d]:\n got %+v\nwant %+v", f, i, got, w)
			}
		}
	}
}

// TestKernelConsoleDefault: omitted gives Racker's console settings, an
// explicit empty list stays empty.
func TestKernelConsoleDefault(t *testing.T) {
	src, err := os.ReadFile("testdata/good/flatcar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Parse("rack.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.Install.KernelConsole, " "); got != "console=ttyS1,57600n8 earlyprintk=serial,ttyS1,57600n8" {
		t.Errorf("omitted: got %q", got)
	}
	s := strings.Replace(string(src), "install:\n", "install:\n  kernelConsole: []\n", 1)
	r, err = Parse("rack.yaml", []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Install.KernelConsole) != 0 {
		t.Errorf("explicit []: got %q, want none", r.Install.KernelConsole)
	}
}

// TestParserPanicIsADiagnostic: the YAML decoder panics on two comments
// holding U+2028 (the precheck refuses them first); behind the precheck,
// such a panic still becomes a positioned diagnostic, not a crash.
func TestParserPanicIsADiagnostic(t *testing.T) {
	src := []byte("#\u2028#\u2028\na: b #\u2028#\u2028\n")
	r, err := recovered("rack.yaml", func() (*Rack, error) { return parse("rack.yaml", src) })
	var errs Errors
	if r != nil || !errors.As(err, &errs) || len(errs) != 1 {
		t.Fatalf("got %v, %v; want one diagnostic", r, err)
	}
	if d := errs[0]; d.File != "rack.yaml" || d.Line != 1 || d.Col != 1 || !strings.Contains(d.Message, "the parser failed") {
		t.Errorf("diagnostic %+v", d)
	}
	// Through Parse, the precheck names the character and its position.
	_, err = Parse("rack.yaml", src)
	if !errors.As(err, &errs) || errs[0].Line != 1 || errs[0].Col != 2 || !strings.Contains(errs[0].Message, "U+2028") {
		t.Errorf("Parse: %v", err)
	}
}

// TestParseBounds: an oversized spec is refused before parsing.
func TestParseBounds(t *testing.T) {
	src := make([]byte, MaxSpecSize+1)
	for i := range src {
		src[i] = '#'
	}
	_, err := Parse("rack.yaml", src)
	var errs Errors
	if !errors.As(err, &errs) || !strings.Contains(errs[0].Message, "at most 16 MiB") {
		t.Errorf("got %v", err)
	}
}
