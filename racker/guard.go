package racker

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"syscall"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"golang.org/x/crypto/ssh"
	"gopkg.in/yaml.v3"

	"github.com/rackctl/rackctl/internal/inputlimit"
	"github.com/rackctl/rackctl/internal/rootfs"
)

// Bounds on what the import reads. A Racker tree is written by hand and by
// an unprivileged user (/home/core is core's), and the import runs as root:
// nothing it reads may make it read elsewhere, crash or run unbounded.
const (
	// maxFileSize bounds every Racker text file (Racker's are a few KiB).
	maxFileSize = 1 << 20
	// maxStateSize bounds terraform.tfstate, which grows with the rack.
	maxStateSize = 64 << 20
	// maxKeyFileSize bounds an SSH public key file.
	maxKeyFileSize = 64 << 10
	// maxNesting bounds brackets, braces and interpolations in HCL and
	// mappings and sequences in YAML. hclsyntax's parser recurses once per
	// level without a limit, and a Go stack overflow cannot be recovered;
	// Racker's own files nest five deep.
	maxNesting = 64
)

// credentialDirs hold secrets of the management node; no file reference in
// a Racker file is followed into them, whatever the form of the path (oem is
// where Flatcar >= 3603 mounts what /usr/share/oem links to).
var credentialDirs = []string{"usr/share/oem", "oem", "opt/racker-state/matchbox-client", "root", "etc/shadow", "etc/gshadow"}

// readFile reads rel beneath the root: no link anywhere on the path, at
// most max bytes, a regular file only, and not one with a second hard
// link: a hard link is another name of a file elsewhere (core may make one
// to a root-only file where protected_hardlinks is off), and Racker's
// files have one name each.
func (im *importer) readFile(rel string, max int64) ([]byte, error) {
	b, fi, err := im.fs.ReadFile(rel, max)
	if err != nil {
		return nil, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
		return nil, fmt.Errorf("%s has %d hard links: refused, not read (a hard link can be a name of any file of the file system; copy the file instead)", im.fs.HostPath(rel), st.Nlink)
	}
	return b, nil
}

// isCredentialPath tells whether rel (clean, relative to the root) is in a
// directory of secrets.
func isCredentialPath(rel string) bool {
	for _, d := range credentialDirs {
		if rel == d || strings.HasPrefix(rel, d+"/") {
			return true
		}
	}
	return false
}

// localPath checks a path a Racker file gives relative to dir (relative to
// the root): it must stay inside dir, with no ".." and not absolute. The
// result is relative to the root.
func localPath(dir, p string) (string, error) {
	if p == "" || path.IsAbs(p) || path.Clean(p) != p || hasDotDot(p) || strings.ContainsAny(p, "\\\x00") {
		return "", fmt.Errorf("path %q is not a clean path inside %s: refused, not read", p, dir)
	}
	return path.Join(dir, p), nil
}

func hasDotDot(p string) bool {
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return true
		}
	}
	return false
}

// hostPath turns a path as the management node's files name it (absolute,
// "~/" for home, or relative to dir) into one relative to the root,
// refusing ".." and the credential directories.
func hostPath(home, dir, p string) (string, error) {
	orig := p
	switch {
	case p == "~" || strings.HasPrefix(p, "~/"):
		p = home + strings.TrimPrefix(p, "~")
	case !path.IsAbs(p):
		p = "/" + dir + "/" + p
	}
	if hasDotDot(p) || strings.ContainsAny(p, "\\\x00") {
		return "", fmt.Errorf("path %q has a \"..\": refused, not read", orig)
	}
	rel := strings.TrimPrefix(path.Clean(p), "/")
	if rel == "" {
		return "", fmt.Errorf("path %q is the root: refused", orig)
	}
	if isCredentialPath(rel) {
		return "", fmt.Errorf("path %q is in a directory of credentials: refused, not read", orig)
	}
	return rel, nil
}

// readSSHKeys reads a public key file a Racker file names. Every line must
// be an authorized_keys entry: a file of anything else (a password, a
// private key) is refused without a word of its content.
func (im *importer) readSSHKeys(home, dir, p string) ([]string, error) {
	rel, err := hostPath(home, dir, p)
	if err != nil {
		return nil, err
	}
	b, err := im.readFile(rel, maxKeyFileSize)
	if err != nil {
		return nil, err
	}
	var keys []string
	for i, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(l)); err != nil {
			return nil, fmt.Errorf("%s line %d is not an SSH public key: the file is not imported (its content is not shown)", rel, i+1)
		}
		keys = append(keys, l)
	}
	return keys, nil
}

// readError reports a read that failed or was refused, naming the path
// (never the content).
func (im *importer) readError(rel string, err error) {
	var le *rootfs.LinkError
	if errors.As(err, &le) {
		im.errorf(rel, 0, "refused: %v", err)
		return
	}
	im.errorf(rel, 0, "not read: %v", err)
}

// hclNesting is the line where src nests deeper than max levels (0 if it
// does not), counted as internal/inputlimit counts what hclsyntax recurses
// on: brackets, strings, interpolations and operators; not comments or
// string text.
func hclNesting(src []byte, max int) (line int) {
	var ie *inputlimit.Error
	if err := inputlimit.CheckHCLDepth(src, max); errors.As(err, &ie) {
		return max1(ie.Line)
	} else if err != nil {
		return 1
	}
	return 0
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

// parseHCLSafe parses HCL native syntax with the nesting bounded before
// the parser sees it and any panic of the parser turned into a diagnostic:
// a hostile file must cost a finding, not the process.
func parseHCLSafe(rel string, src []byte) (f *hcl.File, diags hcl.Diagnostics) {
	if line := hclNesting(src, maxNesting); line > 0 {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "nested too deeply",
			Detail:   fmt.Sprintf("brackets, braces, interpolations and operators nest more than %d levels deep: not parsed", maxNesting),
			Subject:  &hcl.Range{Filename: rel, Start: hcl.Pos{Line: line}, End: hcl.Pos{Line: line}},
		}}
	}
	defer func() {
		if r := recover(); r != nil {
			f, diags = nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "HCL parser failed", Detail: fmt.Sprintf("%v: not parsed", r)}}
		}
	}()
	return hclparse.NewParser().ParseHCL(src, rel)
}

// parseYAMLSafe decodes src into a node, bounding the nesting and turning
// a panic of the decoder into an error. (Decoding into a yaml.Node, the
// decoder's errors name lines and token kinds, never the input's text.)
func parseYAMLSafe(src []byte) (doc yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			doc, err = yaml.Node{}, fmt.Errorf("YAML decoder failed: %v", r)
		}
	}()
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return yaml.Node{}, err
	}
	if line := yamlTooDeep(&doc, 0); line > 0 {
		return yaml.Node{}, fmt.Errorf("line %d: mappings and sequences nest more than %d levels deep", line, maxNesting)
	}
	return doc, nil
}

func yamlTooDeep(n *yaml.Node, depth int) int {
	if depth > maxNesting {
		return max(n.Line, 1)
	}
	for _, c := range n.Content {
		if l := yamlTooDeep(c, depth+1); l > 0 {
			return l
		}
	}
	return 0
}

// notEvaluated reports every function call and every reference the
// evaluation context cannot answer with a literal in e, one finding each
// with its line: the import never runs a function of an imported file
// (file() would put a root-only file into rack.yaml). allowVars allows
// var.* references (the cluster files' var.* hold the vars file's
// literals). It returns whether anything was reported.
func (im *importer) notEvaluated(rel, attrName string, e hclsyntax.Expression, allowVars bool) bool {
	found := false
	hclsyntax.VisitAll(e, func(n hclsyntax.Node) hcl.Diagnostics {
		switch x := n.(type) {
		case *hclsyntax.FunctionCallExpr:
			found = true
			im.errorf(rel, x.NameRange.Start.Line, "%s: function call %s(...) is not evaluated; replace it with its value", attrName, x.Name)
		case *hclsyntax.ScopeTraversalExpr:
			if allowVars && x.Traversal.RootName() == "var" {
				return nil
			}
			found = true
			im.errorf(rel, x.SrcRange.Start.Line, "%s: reference %s is not evaluated; replace it with its value", attrName, traversalName(x.Traversal))
		}
		return nil
	})
	return found
}

func traversalName(t hcl.Traversal) string {
	var b strings.Builder
	for i, s := range t {
		switch s := s.(type) {
		case hcl.TraverseRoot:
			b.WriteString(s.Name)
		case hcl.TraverseAttr:
			b.WriteString("." + s.Name)
		default:
			if i == 0 {
				b.WriteString("?")
			}
			b.WriteString("[…]")
		}
	}
	return b.String()
}

// fileCallPath recognizes the two forms Racker's files name a file with,
// file("P") and file(pathexpand("P")), and returns P without evaluating
// anything; ok is false for any other expression.
func fileCallPath(e hclsyntax.Expression) (string, bool) {
	call, ok := e.(*hclsyntax.FunctionCallExpr)
	if !ok || call.Name != "file" || len(call.Args) != 1 {
		return "", false
	}
	return pathLiteral(call.Args[0])
}

// pathLiteral is P of "P" or pathexpand("P").
func pathLiteral(e hclsyntax.Expression) (string, bool) {
	if call, ok := e.(*hclsyntax.FunctionCallExpr); ok {
		if call.Name != "pathexpand" || len(call.Args) != 1 {
			return "", false
		}
		e = call.Args[0]
	}
	if hclsyntax.Walk(e, literalOnly{}) != nil {
		return "", false
	}
	v, d := e.Value(nil)
	s, ok := ctyString(v)
	return s, ok && !d.HasErrors()
}

// literalOnly fails a walk at any function call or reference.
type literalOnly struct{}

func (literalOnly) Enter(n hclsyntax.Node) hcl.Diagnostics {
	switch n.(type) {
	case *hclsyntax.FunctionCallExpr, *hclsyntax.ScopeTraversalExpr, *hclsyntax.RelativeTraversalExpr, *hclsyntax.ForExpr, *hclsyntax.SplatExpr:
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "not a literal"}}
	}
	return nil
}
func (literalOnly) Exit(hclsyntax.Node) hcl.Diagnostics { return nil }
