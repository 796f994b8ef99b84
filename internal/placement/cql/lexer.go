package cql

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The scanner is driven by the parser, which knows at each point whether it
// wants a subject, an operator, a value or a connective; the same characters
// mean different things in each place (a "!" is "not" before a subject and part
// of "!=" after one; "t2.*" is a value, never a subject).
type scanner struct {
	src string
	pos int
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// isWordByte reports whether c can be part of a subject, an operator word or
// a connective: letters, digits and the characters attribute names may hold.
func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '_' || c == '-' || c == '.' || c == '/' || c == '\\' || c == ':'
}

func isLetter(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
}

// isDelim reports whether c ends a bare value.
func isDelim(c byte) bool {
	return isSpace(c) || strings.IndexByte("()[],'\"", c) >= 0
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.src) && isSpace(s.src[s.pos]) {
		s.pos++
	}
}

func (s *scanner) eof() bool { return s.pos >= len(s.src) }

func (s *scanner) peek() byte {
	if s.pos < len(s.src) {
		return s.src[s.pos]
	}
	return 0
}

// word reads a run of word bytes.
func (s *scanner) word() string {
	start := s.pos
	for s.pos < len(s.src) && isWordByte(s.src[s.pos]) {
		s.pos++
	}
	return s.src[start:s.pos]
}

// keywordAt reports whether the case-insensitive keyword kw starts at pos and
// is not followed by another word byte.
func (s *scanner) keywordAt(kw string) bool {
	end := s.pos + len(kw)
	return end <= len(s.src) && strings.EqualFold(s.src[s.pos:end], kw) &&
		(end == len(s.src) || !isWordByte(s.src[end]))
}

type conn uint8

const (
	connNone conn = iota
	connAnd
	connOr
)

// connective recognises "and", "&&", "or" or "||" at pos without consuming it
// and returns its kind and length.
func (s *scanner) connective() (conn, int) {
	switch {
	case strings.HasPrefix(s.src[s.pos:], "&&"):
		return connAnd, 2
	case strings.HasPrefix(s.src[s.pos:], "||"):
		return connOr, 2
	case s.keywordAt("and"):
		return connAnd, 3
	case s.keywordAt("or"):
		return connOr, 2
	}
	return connNone, 0
}

// op is a comparison operator.
type op uint8

const (
	opEq op = iota + 1
	opNe
	opGt
	opGe
	opLt
	opLe
	opExists
	opNotExists
	opIn
	opNotIn
	opMatch
	opNotMatch
)

// opText is each operator's canonical spelling.
var opText = [...]string{
	opEq: "==", opNe: "!=", opGt: ">", opGe: ">=", opLt: "<", opLe: "<=",
	opExists: "exists", opNotExists: "not_exists", opIn: "in", opNotIn: "not_in",
	opMatch: "=~", opNotMatch: "!~",
}

// opWords are the word forms, matched case-insensitively.
var opWords = map[string]op{
	"equals": opEq, "not_equals": opNe,
	"greater_than": opGt, "greater_than_equal": opGe,
	"less_than": opLt, "less_than_equal": opLe,
	"exists": opExists, "not_exists": opNotExists,
	"in": opIn, "not_in": opNotIn,
	"matches": opMatch, "not_matches": opNotMatch,
}

// opSymbols are the symbol forms, longest first where one is a prefix of
// another. "!exists" and "!in" must not run on into a word ("!index").
var opSymbols = []struct {
	text string
	op   op
	word bool
}{
	{"!exists", opNotExists, true}, {"!in", opNotIn, true},
	{"==", opEq, false}, {"!=", opNe, false}, {">=", opGe, false}, {"<=", opLe, false},
	{"=~", opMatch, false}, {"!~", opNotMatch, false}, {">", opGt, false}, {"<", opLt, false},
}

const opList = "==, !=, >, >=, <, <=, exists, not_exists, in, not_in, =~ or !~"

// operator reads an operator at pos (white space already skipped) and returns
// it with the text as written. after is the subject, for messages.
func (s *scanner) operator(after string) (op, string, error) {
	start := s.pos
	if s.eof() {
		return 0, "", s.errorf(start, "expected an operator after %q, found end of expression", after)
	}
	rest := s.src[s.pos:]
	for _, o := range opSymbols {
		if !strings.HasPrefix(rest, o.text) {
			continue
		}
		if end := len(o.text); o.word && end < len(rest) && isLetter(rest[end]) {
			continue
		}
		s.pos += len(o.text)
		return o.op, o.text, nil
	}
	if isLetter(rest[0]) {
		end := 0
		for end < len(rest) && (isLetter(rest[end]) || '0' <= rest[end] && rest[end] <= '9') {
			end++
		}
		w := rest[:end]
		if o, ok := opWords[strings.ToLower(w)]; ok {
			s.pos += end
			return o, w, nil
		}
		return 0, "", s.errorf(start, "unknown operator %q after %q; expected %s", w, after, opList)
	}
	if rest[0] == '=' {
		return 0, "", s.errorf(start, "unknown operator \"=\" after %q; use \"==\" to test equality", after)
	}
	return 0, "", s.errorf(start, "expected an operator after %q, found %s; operators are %s", after, s.found(), opList)
}

// value is one argument as written.
type value struct {
	text string // unquoted and unescaped
	pos  int
	bare bool
}

// value reads one value at pos (white space already skipped): a quoted
// string, or a bare run of bytes up to a delimiter, "&&" or "||". after is the
// operator, for messages.
func (s *scanner) value(after string) (value, error) {
	start := s.pos
	if s.eof() {
		return value{}, s.errorf(start, "expected a value after %q, found end of expression", after)
	}
	if q := s.src[s.pos]; q == '\'' || q == '"' {
		var b strings.Builder
		i := s.pos + 1
		for i < len(s.src) {
			c := s.src[i]
			switch {
			case c == q:
				s.pos = i + 1
				return value{text: b.String(), pos: start}, nil
			case c == '\\' && i+1 < len(s.src) && (s.src[i+1] == q || s.src[i+1] == '\\'):
				b.WriteByte(s.src[i+1])
				i += 2
			default:
				b.WriteByte(c)
				i++
			}
		}
		return value{}, s.errorf(start, "unterminated quoted string: %c has no closing %c", q, q)
	}
	end := s.pos
	for end < len(s.src) && !isDelim(s.src[end]) &&
		!strings.HasPrefix(s.src[end:], "&&") && !strings.HasPrefix(s.src[end:], "||") {
		end++
	}
	text := s.src[s.pos:end]
	if text == "" {
		hint := ""
		if !s.eof() && strings.IndexByte("()[]", s.src[s.pos]) >= 0 {
			hint = " (quote a value that contains parentheses or brackets)"
		}
		return value{}, s.errorf(start, "expected a value after %q, found %s%s", after, s.found(), hint)
	}
	if isReserved(text) {
		return value{}, s.errorf(start, "expected a value after %q, found %q; quote it to use it as a value", after, text)
	}
	s.pos = end
	return value{text: text, pos: start, bare: true}, nil
}

// isReserved reports whether a bare value would read as a connective.
func isReserved(v string) bool {
	return strings.EqualFold(v, "and") || strings.EqualFold(v, "or")
}

// needsQuotes reports whether v cannot be written bare.
func needsQuotes(v string) bool {
	if v == "" || isReserved(v) || strings.Contains(v, "&&") || strings.Contains(v, "||") {
		return true
	}
	for i := 0; i < len(v); i++ {
		if isDelim(v[i]) {
			return true
		}
	}
	return false
}

// quote writes v as a value that scans back to v.
func quote(v string) string {
	if !needsQuotes(v) {
		return v
	}
	var b strings.Builder
	b.WriteByte('\'')
	for i := 0; i < len(v); i++ {
		if v[i] == '\'' || v[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	b.WriteByte('\'')
	return b.String()
}

// found describes what is at pos, for "expected X, found Y" messages.
func (s *scanner) found() string {
	if s.eof() {
		return "end of expression"
	}
	rest := s.src[s.pos:]
	if strings.IndexByte("()[],", rest[0]) >= 0 {
		return strconv.Quote(rest[:1])
	}
	end := 0
	for end < len(rest) && !isSpace(rest[end]) && strings.IndexByte("()[],", rest[end]) < 0 {
		end++
	}
	const maxShown = 24
	if end > maxShown {
		end = maxShown
		for end > 0 && !utf8.RuneStart(rest[end]) {
			end--
		}
		return strconv.Quote(rest[:end]) + "..."
	}
	return strconv.Quote(rest[:end])
}

func (s *scanner) errorf(pos int, format string, args ...any) *SyntaxError {
	return &SyntaxError{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}
