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
	var (
		indents []int // columns of the open block levels
		flow    int   // open [ and {
		quote   byte  // ' or " while inside a quoted scalar
		block   = -1  // indent of the line that opened a block scalar
	)
	p := pos{1, 1}
	for len(src) > 0 {
		lineEnd := bytes.IndexByte(src, '\n')
		var line []byte
		if lineEnd < 0 {
			line, src = src, nil
		} else {
			line, src = src[:lineEnd], src[lineEnd+1:]
		}
		start := p
		indent := 0
		for indent < len(line) && line[indent] == ' ' {
			indent++
		}
		blank := len(bytes.TrimSpace(line)) == 0
		if block >= 0 {
			if blank || indent > block {
				p = pos{p.line + 1, 1}
				continue
			}
			block = -1
		}
		i := 0
		if quote == 0 && flow == 0 && !blank && line[indent] != '#' {
			if bytes.HasPrefix(line, []byte("---")) || bytes.HasPrefix(line, []byte("...")) {
				indents = indents[:0]
			}
			for len(indents) > 0 && indents[len(indents)-1] >= indent {
				indents = indents[:len(indents)-1]
			}
			indents = append(indents, indent)
			// Compact nesting: "- - key:" opens a level per entry marker.
			i = indent
			for i+1 < len(line) && (line[i] == '-' || line[i] == '?') && line[i+1] == ' ' {
				i += 2
				for i < len(line) && line[i] == ' ' {
					i++
				}
				indents = append(indents, i)
			}
			if len(indents) > max {
				start.col += i
				return depthError(start, max)
			}
		}
		q := start
		for j := 0; j < i; j++ {
			q.advance(line[j])
		}
		for ; i < len(line); i++ {
			c := line[i]
			switch {
			case quote == '"' && c == '\\':
				q.advance(c)
				i++
				if i >= len(line) {
					break
				}
				c = line[i]
			case quote != 0:
				if c == quote {
					if quote == '\'' && i+1 < len(line) && line[i+1] == '\'' {
						q.advance(c)
						i++
						c = line[i]
					} else {
						quote = 0
					}
				}
			case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
				i = len(line) // a comment runs to the end of the line
				continue
			case c == '"' || c == '\'':
				quote = c
			case c == '[' || c == '{':
				flow++
				if len(indents)+flow > max {
					return depthError(q, max)
				}
			case c == ']' || c == '}':
				if flow > 0 {
					flow--
				}
			}
			q.advance(c)
		}
		if quote == 0 && flow == 0 && !blank && line[indent] != '#' && isBlockIndicator(line) {
			block = indent
		}
		p = pos{p.line + 1, 1}
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
	const (
		expr    = 'e' // an expression, or the body of a block
		paren   = 'p' // inside ( or [: newlines do not end an element
		brace   = 'b' // inside {: newlines end an element
		str     = 's' // inside a quoted string
		interp  = 'i' // inside ${ or %{
		heredoc = 'h'
	)
	type level struct {
		mode byte
		ops  int // operators and closed brackets in the current element
		dirs int // open template if/for directives (str, heredoc)
	}
	stack := []level{{mode: expr}}
	total := 0              // levels above the first, plus every ops and dirs
	var heredocEnd [][]byte // terminators of the open heredocs
	p := pos{1, 1}
	check := func() error {
		if total > max {
			return depthError(p, max)
		}
		return nil
	}
	push := func(m byte) error {
		stack = append(stack, level{mode: m})
		total++
		return check()
	}
	pop := func() {
		top := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		total -= 1 + top.ops + top.dirs
		if top.mode != interp {
			// A closed bracket or string is an operand of what follows it.
			stack[len(stack)-1].ops++
			total++
		}
	}
	op := func() error {
		stack[len(stack)-1].ops++
		total++
		return check()
	}
	endElement := func() {
		top := &stack[len(stack)-1]
		total -= top.ops
		top.ops = 0
	}
	atLineStart := true
	for i := 0; i < len(src); i++ {
		c := src[i]
		top := stack[len(stack)-1].mode
		switch top {
		case str, heredoc:
			if top == heredoc && atLineStart {
				end := heredocEnd[len(heredocEnd)-1]
				rest := src[i:]
				if k := bytes.IndexByte(rest, '\n'); k >= 0 {
					rest = rest[:k]
				}
				if bytes.Equal(bytes.TrimSpace(rest), end) {
					pop()
					heredocEnd = heredocEnd[:len(heredocEnd)-1]
					break
				}
			}
			switch {
			case top == str && c == '\\' && i+1 < len(src):
				p.advance(c)
				i++
				c = src[i]
			case top == str && (c == '"' || c == '\n'):
				pop()
			case (c == '$' || c == '%') && i+2 < len(src) && src[i+1] == c && src[i+2] == '{':
				// $${ and %%{ are escapes, not sequences.
				p.advance(c)
				p.advance(c)
				i += 2
				c = src[i]
			case (c == '$' || c == '%') && i+1 < len(src) && src[i+1] == '{':
				if c == '%' {
					// Template directives nest until their end keyword.
					word := bytes.TrimLeft(src[i+2:min(len(src), i+2+32)], "~ \t")
					lv := &stack[len(stack)-1]
					switch {
					case bytes.HasPrefix(word, []byte("if")), bytes.HasPrefix(word, []byte("for")):
						lv.dirs++
						total++
					case bytes.HasPrefix(word, []byte("end")) && lv.dirs > 0:
						lv.dirs--
						total--
					}
				}
				if err := push(interp); err != nil {
					return err
				}
				p.advance(c)
				i++
				c = src[i]
			}
		default: // expr, paren, brace, interp
			switch {
			case c == '#' || (c == '/' && i+1 < len(src) && src[i+1] == '/'):
				for i < len(src) && src[i] != '\n' {
					p.advance(src[i])
					i++
				}
				if i >= len(src) {
					continue
				}
				c = src[i]
				if top == expr || top == brace {
					endElement()
				}
			case c == '/' && i+1 < len(src) && src[i+1] == '*':
				k := bytes.Index(src[i+2:], []byte("*/"))
				end := len(src)
				if k >= 0 {
					end = i + 2 + k + 2
				}
				for ; i < end-1; i++ {
					p.advance(src[i])
				}
				c = src[i]
			case c == '"':
				if err := push(str); err != nil {
					return err
				}
			case c == '<' && i+1 < len(src) && src[i+1] == '<':
				j := i + 2
				if j < len(src) && src[j] == '-' {
					j++
				}
				k := j
				for k < len(src) && isIdentByte(src[k]) {
					k++
				}
				if k > j && k < len(src) && (src[k] == '\n' || src[k] == '\r') {
					heredocEnd = append(heredocEnd, append([]byte(nil), src[j:k]...))
					if err := push(heredoc); err != nil {
						return err
					}
					for ; i < k-1; i++ {
						p.advance(src[i])
					}
					c = src[i]
				} else if err := op(); err != nil {
					return err
				}
			case c == '(' || c == '[':
				if err := push(paren); err != nil {
					return err
				}
			case c == '{':
				if err := push(brace); err != nil {
					return err
				}
			case c == ')' || c == ']' || c == '}':
				if len(stack) > 1 && (top == paren || top == brace || (top == interp && c == '}')) {
					pop()
				}
			case c == ',':
				endElement()
			case c == '\n':
				if top == expr || top == brace {
					endElement()
				}
			case c == '-' && i > 0 && isIdentByte(src[i-1]) && src[i-1] != '-':
				// Inside an identifier (HCL allows "-" in names).
			case c == '=' && (i+1 >= len(src) || src[i+1] != '='):
				// An assignment, "=>", or the end of "!=", "<=", ">=".
			case strings.IndexByte("!-?+*/%<>=&|", c) >= 0:
				if err := op(); err != nil {
					return err
				}
			}
		}
		atLineStart = c == '\n'
		p.advance(c)
	}
	return nil
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}
