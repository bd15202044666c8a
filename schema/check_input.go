package schema

import (
	"fmt"
	"iter"
	"strconv"
	"strings"
	"unicode"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/token"
	"k8s.io/apimachinery/pkg/api/validate/content"
)

// ReservedHostNames are the names the stock /etc/hosts of Debian, Flatcar,
// RHEL and macOS give to loopback and IPv6 multicast addresses. A node (or
// API server) of that name would make the managed block of the management
// node's /etc/hosts and the lines outside it claim one name twice.
var ReservedHostNames = []string{
	"localhost", "localhost.localdomain",
	"localhost4", "localhost4.localdomain4",
	"localhost6", "localhost6.localdomain6",
	"ip6-localhost", "ip6-loopback", "ip6-localnet", "ip6-mcastprefix",
	"ip6-allnodes", "ip6-allrouters", "ip6-allhosts",
	"broadcasthost",
}

func reservedHostName(s string) bool {
	for _, r := range ReservedHostNames {
		if s == r {
			return true
		}
	}
	return false
}

// checkInput runs the per-value rules CUE cannot state: Kubernetes label
// keys, reserved host names, port ranges, and the keys and strings of
// component configurations (an open mapping in the schema).
func checkInput(ix *index, nodes []string) {
	checkLabelKeys(ix, "cluster.labels")
	for _, n := range nodes {
		checkLabelKeys(ix, n+".labels")
	}
	checkReservedNames(ix, nodes)
	checkRedfishTLS(ix)
	checkVirtualMedia(ix, nodes)
	for _, p := range []string{"matchbox.httpEndpoint", "matchbox.rpcEndpoint"} {
		checkPort(ix, p)
	}
	for _, n := range nodes {
		checkPort(ix, n+".bmcAddress")
	}
	if e, ok := ix.entries["cluster.components"]; ok {
		if s, ok := e.expr.(*ast.StructLit); ok {
			for _, d := range s.Elts {
				if f, ok := d.(*ast.Field); ok {
					if name, _, err := ast.LabelName(f.Label); err == nil {
						checkComponentValue(ix, joinField("cluster.components", name), f.Value)
					}
				}
			}
		}
	}
}

// checkLabelKeys: keys as Kubernetes validates them (an optional DNS
// subdomain prefix and a name of at most 63 characters); they reach
// kubelet's --node-labels=k=v,... flag, where "," and "=" would split.
func checkLabelKeys(ix *index, path string) {
	e, ok := ix.entries[path]
	if !ok {
		return
	}
	s, ok := e.expr.(*ast.StructLit)
	if !ok {
		return
	}
	for k, f := range fields(s) {
		if errs := content.IsLabelKey(k); len(errs) > 0 {
			ix.add(f.Label.Pos(), joinField(path, k), fmt.Sprintf("%s is not a Kubernetes label key: %s", strconv.Quote(k), strings.Join(errs, "; ")))
		}
	}
}

// checkReservedNames: names that reach /etc/hosts (node name and FQDN,
// the API server name) are not the stock names of its other lines.
func checkReservedNames(ix *index, nodes []string) {
	domain, _ := ix.str("domain")
	fqdn := func(name string) string {
		if domain == "" {
			return name
		}
		return name + "." + domain
	}
	const why = "is a name the system's /etc/hosts gives to a loopback or multicast address"
	for _, n := range nodes {
		name, ok := ix.str(n + ".name")
		if !ok {
			continue
		}
		switch {
		case reservedHostName(name):
			ix.addAt(n+".name", fmt.Sprintf("%q %s; choose another name", name, why))
		case reservedHostName(fqdn(name)):
			ix.addAt(n+".name", fmt.Sprintf("%q gives the FQDN %q, which %s; choose another name", name, fqdn(name), why))
		}
	}
	if api, ok := ix.str("cluster.apiServerName"); ok {
		if reservedHostName(api) {
			ix.addAt("cluster.apiServerName", fmt.Sprintf("%q %s; choose another name", api, why))
		}
	} else if cl, ok := ix.str("cluster.name"); ok && domain != "" && reservedHostName(cl+"."+domain) {
		ix.addAt("cluster.name", fmt.Sprintf("%q gives the API server name %q, which %s; choose another name or set cluster.apiServerName", cl, cl+"."+domain, why))
	}
}

// checkPort: the port of a host:port or URL value is 1-65535 (the schema
// has checked its form).
func checkPort(ix *index, path string) {
	s, ok := ix.str(path)
	if !ok {
		return
	}
	rest := s
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			rest = rest[:j]
		}
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return
	}
	port, err := strconv.Atoi(rest[i+1:])
	if err != nil {
		return
	}
	if port < 1 || port > 65535 {
		ix.addAt(path, fmt.Sprintf("port %d is out of range (want 1 to 65535)", port))
	}
}

// checkComponentValue: a component's configuration becomes HCL blocks and
// attributes of <name>.lokocfg and, through lokoctl, Helm values: every
// key is an HCL identifier and every string is text (textProblem).
func checkComponentValue(ix *index, path string, x ast.Expr) {
	switch x := x.(type) {
	case *ast.StructLit:
		for k, f := range fields(x) {
			p := joinField(path, k)
			if !hclIdent.MatchString(k) {
				ix.add(f.Label.Pos(), p, fmt.Sprintf("%s is not a valid attribute name (want letters, digits, _ and -, starting with a letter or _)", strconv.Quote(k)))
			}
			checkComponentValue(ix, p, f.Value)
		}
	case *ast.ListLit:
		for i, el := range x.Elts {
			checkComponentValue(ix, joinIndex(path, i), el)
		}
	case *ast.BasicLit:
		if x.Kind != token.STRING {
			return
		}
		s, err := literal.Unquote(x.Value)
		if err != nil {
			return
		}
		if msg := textProblem(s); msg != "" {
			ix.addAt(path, ix.describe(path)+" "+msg)
		}
	}
}

// hclIdent is hclsyntax.ValidIdentifier for ASCII names; render refuses
// any other key.
var hclIdent = plainLabel

// textProblem is the Go form of rack.cue's #Text: it names the first
// character of s that text may not hold, or returns "".
func textProblem(s string) string {
	for i, r := range s {
		if r == '\t' || r == '\n' {
			continue
		}
		if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r) {
			return fmt.Sprintf("is not text: %s at byte %d (no control characters but tab and line feed, no carriage returns, line or paragraph separators or invisible formatting characters)", strconv.QuoteRune(r), i)
		}
	}
	return ""
}

// fields yields the named fields of a struct literal with their names.
func fields(s *ast.StructLit) iter.Seq2[string, *ast.Field] {
	return func(yield func(string, *ast.Field) bool) {
		for _, d := range s.Elts {
			f, ok := d.(*ast.Field)
			if !ok {
				continue
			}
			k, _, err := ast.LabelName(f.Label)
			if err != nil {
				continue
			}
			if !yield(k, f) {
				return
			}
		}
	}
}

// checkRedfishTLS: bmc.redfish names exactly one way to check a BMC's
// certificate; turning the check off is allowed but warned, since anyone
// on the BMC network could then read the BMC password of every request.
func checkRedfishTLS(ix *index) {
	const p = "bmc.redfish"
	e, ok := ix.entries[p]
	if !ok {
		return
	}
	if _, ok := e.expr.(*ast.StructLit); !ok {
		return // not a mapping: CUE reports it
	}
	var set []string
	for _, f := range []string{"caFile", "fingerprint", "insecureSkipVerify"} {
		if _, ok := ix.entries[p+"."+f]; ok {
			set = append(set, f)
		}
	}
	switch len(set) {
	case 0:
		ix.addAt(p, "names no way to check the BMCs' certificates: set one of caFile, fingerprint or insecureSkipVerify: true (or drop bmc.redfish to use the system's CA pool)")
	case 1:
		if set[0] == "insecureSkipVerify" && ix.isTrue(p+".insecureSkipVerify") {
			ix.warnAt(p+".insecureSkipVerify", "Redfish BMC certificates are not checked: anyone on the BMC network can impersonate a BMC and read the BMC password; set caFile or fingerprint instead")
		}
	default:
		ix.addAt(p+"."+set[1], fmt.Sprintf("conflicts with %s: set exactly one of caFile, fingerprint or insecureSkipVerify", set[0]))
	}
}
