package schema

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Diagnostic is one problem found in a spec, positioned in the user's file.
// Line and Col are 1-based; Field is the path of the offending value, e.g.
// "nodes[3].mac" (empty for the document itself).
type Diagnostic struct {
	File    string
	Line    int
	Col     int
	Field   string
	Message string
}

// String formats the diagnostic as "file:line:col: field: message".
func (d Diagnostic) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d: ", d.File, d.Line, d.Col)
	if d.Field != "" {
		b.WriteString(d.Field)
		b.WriteString(": ")
	}
	b.WriteString(d.Message)
	return b.String()
}

// Errors is every problem found in a spec, sorted by position. Parse and
// Load return it (as error) when a spec is invalid; use errors.As to get it.
type Errors []Diagnostic

// Error returns one line per diagnostic.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, d := range e {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// sortDedup sorts diagnostics by position, field and message and drops
// exact duplicates.
func (e Errors) sortDedup() Errors {
	slices.SortStableFunc(e, func(a, b Diagnostic) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Col, b.Col), cmp.Compare(a.Field, b.Field), cmp.Compare(a.Message, b.Message))
	})
	return slices.Compact(e)
}
