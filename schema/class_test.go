package schema

import (
	"errors"
	"os"
	"strings"
	"testing"

	yamlv3 "gopkg.in/yaml.v3"
)

// TestEveryStringFieldHasAClass: every string of a spec that sets every
// field (testdata/good/full.yaml) is refused, with a diagnostic at its
// path, once it carries a character that breaks a line somewhere
// downstream or reaches a terminal raw. A new string field without a
// character class fails here.
func TestEveryStringFieldHasAClass(t *testing.T) {
	src, err := os.ReadFile("testdata/good/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse("full.yaml", src); err != nil {
		t.Fatalf("full.yaml must be valid: %v", err)
	}
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	var scalars []scalarAt
	collectStrings(&doc, "", &scalars)
	if len(scalars) < 50 {
		t.Fatalf("found %d strings in full.yaml, want every field", len(scalars))
	}
	for _, bad := range []string{"\u2028", "\u2029", "\u0085", "\x00", "\x1b[2J", "\r", "\u202e", "\x7f"} {
		for _, s := range scalars {
			old := s.node.Value
			s.node.Value = old[:len(old)/2] + bad + old[len(old)/2:]
			s.node.Style = yamlv3.DoubleQuotedStyle
			out, err := yamlv3.Marshal(&doc)
			s.node.Value, s.node.Style = old, 0
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse("rack.yaml", out)
			var errs Errors
			if !errors.As(err, &errs) {
				t.Errorf("%s with %q: accepted (err %v)", s.path, bad, err)
				continue
			}
			found := false
			for _, d := range errs {
				if d.Field == s.path || strings.HasPrefix(s.path, d.Field+".") || strings.HasPrefix(s.path, d.Field+"[") {
					found = true
				}
			}
			if !found {
				t.Errorf("%s with %q: no diagnostic at the field:\n%v", s.path, bad, err)
			}
		}
	}
}

type scalarAt struct {
	path string
	node *yamlv3.Node
}

// collectStrings lists the string scalars below n with their schema paths.
func collectStrings(n *yamlv3.Node, path string, out *[]scalarAt) {
	switch n.Kind {
	case yamlv3.DocumentNode:
		for _, c := range n.Content {
			collectStrings(c, path, out)
		}
	case yamlv3.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			collectStrings(n.Content[i+1], joinField(path, n.Content[i].Value), out)
		}
	case yamlv3.SequenceNode:
		for i, c := range n.Content {
			collectStrings(c, joinIndex(path, i), out)
		}
	case yamlv3.ScalarNode:
		if n.Tag == "!!str" {
			*out = append(*out, scalarAt{path, n})
		}
	}
}
