package inputlimit

import (
	"bytes"
	"fmt"
	"strings"
)

// The depth checks over-estimate rather than under-estimate: they are a
// guard in front of a recursive parser, not a parser. Each reads src once,
// keeps no recursion of its own, and reports where the limit is passed.

// pos tracks the line and column (in runes) of a byte offset.
type pos struct{ line, col int }

func (p *pos) advance(b byte) {
	if b == '\n' {
		p.line, p.col = p.line+1, 1
	} else if b < 0x80 || b >= 0xc0 { // count runes, not continuation bytes
		p.col++
	}
}

func depthError(p pos, max int) error {
	return &Error{p.line, p.col, fmt.Sprintf("nested more than %d levels deep", max)}
}

// CheckYAMLDepth returns an error positioned where src nests deeper than
// max levels: block mappings and sequences (by indentation and by "- "
// entries on one line) plus flow collections ([ and {), outside quoted
// scalars, block scalars and comments.
func CheckYAMLDepth(src []byte, max int) error {
	y := &yamlDepth{max: max, block: -1}
	p := pos{1, 1}
	for len(src) > 0 {
		lineEnd := bytes.IndexByte(src, '\n')
		var line []byte
		if lineEnd < 0 {
			line, src = src, nil
		} else {
			line, src = src[:lineEnd], src[lineEnd+1:]
		}
		if err := y.line(line, p); err != nil {
			return err
		}
		p = pos{p.line + 1, 1}
	}
	return nil
}

// yamlDepth is CheckYAMLDepth's state from one line to the next.
type yamlDepth struct {
	max     int
	indents []int // columns of the open block levels
	flow    int   // open [ and {
	quote   byte  // ' or " while inside a quoted scalar
	block   int   // indent of the line that opened a block scalar, or -1
}

// line reads one line, which starts at start.
func (y *yamlDepth) line(line []byte, start pos) error {
	indent := 0
	for indent < len(line) && line[indent] == ' ' {
		indent++
	}
	blank := len(bytes.TrimSpace(line)) == 0
	if y.block >= 0 {
		if blank || indent > y.block {
			return nil // inside a block scalar: text, not structure
		}
		y.block = -1
	}
	structural := func() bool { return y.quote == 0 && y.flow == 0 && !blank && line[indent] != '#' }
	i := 0
	if structural() {
		var err error
		if i, err = y.blockLevels(line, indent, start); err != nil {
			return err
		}
	}
	if err := y.scan(line, i, start); err != nil {
		return err
	}
	// Asked again: the line may have opened or closed a quote or a flow.
	if structural() && isBlockIndicator(line) {
		y.block = indent
	}
	return nil
}

// blockLevels updates the open block levels for a line at indent that
// starts outside any scalar or flow collection, and returns the offset
// after its entry markers.
func (y *yamlDepth) blockLevels(line []byte, indent int, start pos) (int, error) {
	if bytes.HasPrefix(line, []byte("---")) || bytes.HasPrefix(line, []byte("...")) {
		y.indents = y.indents[:0]
	}
	for len(y.indents) > 0 && y.indents[len(y.indents)-1] >= indent {
		y.indents = y.indents[:len(y.indents)-1]
	}
	y.indents = append(y.indents, indent)
	// Compact nesting: "- - key:" opens a level per entry marker.
	i := indent
	for i+1 < len(line) && (line[i] == '-' || line[i] == '?') && line[i+1] == ' ' {
		i += 2
		for i < len(line) && line[i] == ' ' {
			i++
		}
		y.indents = append(y.indents, i)
	}
	if len(y.indents) > y.max {
		start.col += i
		return i, depthError(start, y.max)
	}
	return i, nil
}

// scan reads the line from offset i on: quoted scalars (which may run on
// to the next lines), comments, and the flow collections that nest.
func (y *yamlDepth) scan(line []byte, i int, start pos) error {
	q := start
	for j := 0; j < i; j++ {
		q.advance(line[j])
	}
	for ; i < len(line); i++ {
		c := line[i]
		switch {
		case y.quote == '"' && c == '\\':
			q.advance(c)
			i++
			if i >= len(line) {
				break
			}
			c = line[i]
		case y.quote != 0:
			if c == y.quote {
				if y.quote == '\'' && i+1 < len(line) && line[i+1] == '\'' {
					q.advance(c)
					i++
					c = line[i]
				} else {
					y.quote = 0
				}
			}
		case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return nil // a comment runs to the end of the line
		case c == '"' || c == '\'':
			y.quote = c
		case c == '[' || c == '{':
			y.flow++
			if len(y.indents)+y.flow > y.max {
				return depthError(q, y.max)
			}
		case c == ']' || c == '}':
			if y.flow > 0 {
				y.flow--
			}
		}
		q.advance(c)
	}
	return nil
}

// isBlockIndicator tells whether a line (comment aside) ends with a block
// scalar header: | or >, optionally followed by chomping and indentation
// indicators.
func isBlockIndicator(line []byte) bool {
	if k := bytes.Index(line, []byte(" #")); k >= 0 {
		line = line[:k]
	}
	line = bytes.TrimRight(line, " \t\r")
	for len(line) > 0 {
		c := line[len(line)-1]
		if c == '-' || c == '+' || (c >= '0' && c <= '9') {
			line = line[:len(line)-1]
			continue
		}
		break
	}
	if len(line) == 0 {
		return false
	}
	c := line[len(line)-1]
	if c != '|' && c != '>' {
		return false
	}
	return len(line) == 1 || line[len(line)-2] == ' '
}

// CheckHCLDepth returns an error positioned where src nests deeper than
// max levels. The HCL parser recurses, and its evaluation recurses over
// the tree it builds, for brackets, braces and parentheses, quoted
// strings, heredocs and their ${ } and %{ } sequences, template if/for
// directives, and also for operators: "!!!!x", "- - x", "a ? b : c ? d :
// e", and the left-deep trees of "1+1+1" and "a[0][0]". So every operator
// in one element (between commas, or lines of a body or object) counts as
// a level too, as does each bracket closed in it; comments do not count.
func CheckHCLDepth(src []byte, max int) error {
	s := &hclScanner{src: src, max: max, stack: []hclLevel{{mode: hclExpr}}, p: pos{1, 1}}
	atLineStart := true
	for ; s.i < len(src); s.i++ {
		c := src[s.i]
		var err error
		switch top := s.stack[len(s.stack)-1].mode; top {
		case hclStr, hclHeredoc:
			c, err = s.inString(c, top, atLineStart)
		default:
			var atEOF bool
			c, atEOF, err = s.inCode(c, top)
			if atEOF {
				continue
			}
		}
		if err != nil {
			return err
		}
		atLineStart = c == '\n'
		s.p.advance(c)
	}
	return nil
}

// The modes of an hclLevel.
const (
	hclExpr    = 'e' // an expression, or the body of a block
	hclParen   = 'p' // inside ( or [: newlines do not end an element
	hclBrace   = 'b' // inside {: newlines end an element
	hclStr     = 's' // inside a quoted string
	hclInterp  = 'i' // inside ${ or %{
	hclHeredoc = 'h'
)

type hclLevel struct {
	mode byte
	ops  int // operators and closed brackets in the current element
	dirs int // open template if/for directives (str, heredoc)
}

// hclScanner is CheckHCLDepth's state: where it is in src and the open
// levels, counted in total as the parser's recursion would be.
type hclScanner struct {
	src        []byte
	max        int
	i          int // offset of the byte being read
	p          pos // its position
	stack      []hclLevel
	total      int      // levels above the first, plus every ops and dirs
	heredocEnd [][]byte // terminators of the open heredocs
}

func (s *hclScanner) check() error {
	if s.total > s.max {
		return depthError(s.p, s.max)
	}
	return nil
}

func (s *hclScanner) push(m byte) error {
	s.stack = append(s.stack, hclLevel{mode: m})
	s.total++
	return s.check()
}

func (s *hclScanner) pop() {
	top := s.stack[len(s.stack)-1]
	s.stack = s.stack[:len(s.stack)-1]
	s.total -= 1 + top.ops + top.dirs
	if top.mode != hclInterp {
		// A closed bracket or string is an operand of what follows it.
		s.stack[len(s.stack)-1].ops++
		s.total++
	}
}

func (s *hclScanner) op() error {
	s.stack[len(s.stack)-1].ops++
	s.total++
	return s.check()
}

func (s *hclScanner) endElement() {
	top := &s.stack[len(s.stack)-1]
	s.total -= top.ops
	top.ops = 0
}

// skip moves past the bytes before offset to (advancing the position)
// and returns the byte at it.
func (s *hclScanner) skip(to int) byte {
	for ; s.i < to; s.i++ {
		s.p.advance(s.src[s.i])
	}
	return s.src[s.i]
}

// inString reads byte c of a quoted string or heredoc: its end, escapes,
// and the ${ } and %{ } sequences that open levels inside it. It returns
// the byte the position advances over last.
func (s *hclScanner) inString(c, top byte, atLineStart bool) (byte, error) {
	src, i := s.src, s.i
	if top == hclHeredoc && atLineStart {
		rest := src[i:]
		if k := bytes.IndexByte(rest, '\n'); k >= 0 {
			rest = rest[:k]
		}
		if bytes.Equal(bytes.TrimSpace(rest), s.heredocEnd[len(s.heredocEnd)-1]) {
			s.pop()
			s.heredocEnd = s.heredocEnd[:len(s.heredocEnd)-1]
			return c, nil
		}
	}
	switch {
	case top == hclStr && c == '\\' && i+1 < len(src):
		return s.skip(i + 1), nil
	case top == hclStr && (c == '"' || c == '\n'):
		s.pop()
	case (c == '$' || c == '%') && i+2 < len(src) && src[i+1] == c && src[i+2] == '{':
		// $${ and %%{ are escapes, not sequences.
		return s.skip(i + 2), nil
	case (c == '$' || c == '%') && i+1 < len(src) && src[i+1] == '{':
		if c == '%' {
			s.directive()
		}
		if err := s.push(hclInterp); err != nil {
			return c, err
		}
		return s.skip(i + 1), nil
	}
	return c, nil
}

// directive counts the template if/for directive opened, or ended, by the
// %{ at s.i: they nest until their end keyword.
func (s *hclScanner) directive() {
	word := bytes.TrimLeft(s.src[s.i+2:min(len(s.src), s.i+2+32)], "~ \t")
	lv := &s.stack[len(s.stack)-1]
	switch {
	case bytes.HasPrefix(word, []byte("if")), bytes.HasPrefix(word, []byte("for")):
		lv.dirs++
		s.total++
	case bytes.HasPrefix(word, []byte("end")) && lv.dirs > 0:
		lv.dirs--
		s.total--
	}
}

// inCode reads byte c outside strings: comments, the brackets, strings
// and heredocs that open levels, and the operators and separators that
// count and end elements. atEOF is true when a line comment ran to the
// end of src.
func (s *hclScanner) inCode(c, top byte) (_ byte, atEOF bool, err error) {
	src, i := s.src, s.i
	switch {
	case c == '#' || (c == '/' && i+1 < len(src) && src[i+1] == '/'):
		return s.lineComment(top)
	case c == '/' && i+1 < len(src) && src[i+1] == '*':
		end := len(src)
		if k := bytes.Index(src[i+2:], []byte("*/")); k >= 0 {
			end = i + 2 + k + 2
		}
		return s.skip(end - 1), false, nil
	case c == '"':
		err = s.push(hclStr)
	case c == '<' && i+1 < len(src) && src[i+1] == '<':
		return s.heredoc(c)
	case c == '(' || c == '[':
		err = s.push(hclParen)
	case c == '{':
		err = s.push(hclBrace)
	case c == ')' || c == ']' || c == '}':
		if len(s.stack) > 1 && (top == hclParen || top == hclBrace || (top == hclInterp && c == '}')) {
			s.pop()
		}
	case c == ',':
		s.endElement()
	case c == '\n':
		if top == hclExpr || top == hclBrace {
			s.endElement()
		}
	case c == '-' && i > 0 && isIdentByte(src[i-1]) && src[i-1] != '-':
		// Inside an identifier (HCL allows "-" in names).
	case c == '=' && (i+1 >= len(src) || src[i+1] != '='):
		// An assignment, "=>", or the end of "!=", "<=", ">=".
	case strings.IndexByte("!-?+*/%<>=&|", c) >= 0:
		err = s.op()
	}
	return c, false, err
}

// lineComment skips a # or // comment up to its newline, which ends the
// element as any newline does.
func (s *hclScanner) lineComment(top byte) (_ byte, atEOF bool, err error) {
	for s.i < len(s.src) && s.src[s.i] != '\n' {
		s.p.advance(s.src[s.i])
		s.i++
	}
	if s.i >= len(s.src) {
		return 0, true, nil
	}
	if top == hclExpr || top == hclBrace {
		s.endElement()
	}
	return s.src[s.i], false, nil
}

// heredoc opens a heredoc at "<<" (or "<<-") followed by an identifier and
// a newline; any other "<<" is an operator.
func (s *hclScanner) heredoc(c byte) (_ byte, atEOF bool, err error) {
	src := s.src
	j := s.i + 2
	if j < len(src) && src[j] == '-' {
		j++
	}
	k := j
	for k < len(src) && isIdentByte(src[k]) {
		k++
	}
	if k > j && k < len(src) && (src[k] == '\n' || src[k] == '\r') {
		s.heredocEnd = append(s.heredocEnd, append([]byte(nil), src[j:k]...))
		if err := s.push(hclHeredoc); err != nil {
			return c, false, err
		}
		return s.skip(k - 1), false, nil
	}
	return c, false, s.op()
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}
