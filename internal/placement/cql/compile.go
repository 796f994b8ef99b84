package cql

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// cond is one simple expression, with its argument converted once at Parse
// into the form Match compares against.
type cond struct {
	subj subject
	name string // attribute name
	op   op
	args []string // the arguments as canonical text

	str     string    // ==, != and orderings on strings and versions
	num     float64   // orderings on attributes: str as a number...
	isNum   bool      // ...when it is one
	set     strSet    // in, not_in
	n       int       // runningTasksCount
	b       bool      // agentConnected == and !=
	inBools [2]bool   // agentConnected in and not_in: [false listed, true listed]
	from    time.Time // registeredAt: the interval the value names
	to      time.Time
	re      *matcher // =~, !~
}

func (c *cond) compile(args []value) error {
	c.args = make([]string, len(args))
	for i, a := range args {
		c.args[i] = a.text
	}
	if c.op == opMatch || c.op == opNotMatch {
		m, err := compileMatcher(args[0])
		if err != nil {
			return err
		}
		c.re = m
		return nil
	}
	switch c.subj {
	case subjAgentConnected:
		for i, a := range args {
			b := strings.EqualFold(a.text, "true")
			if !b && !strings.EqualFold(a.text, "false") {
				return &SyntaxError{Pos: a.pos, Msg: fmt.Sprintf("agentConnected is true or false, not %q", a.text)}
			}
			c.args[i] = strconv.FormatBool(b)
			c.b = b
			if b {
				c.inBools[1] = true
			} else {
				c.inBools[0] = true
			}
		}
	case subjAgentVersion:
		a := args[0]
		if a.text == "" || a.text[0] < '0' || a.text[0] > '9' {
			return &SyntaxError{Pos: a.pos, Msg: fmt.Sprintf("agentVersion value %q is not a version such as 1.14.5", a.text)}
		}
		c.str = a.text
	case subjRegisteredAt:
		a := args[0]
		from, to, ok := parseDate(a.text)
		if !ok {
			return &SyntaxError{Pos: a.pos, Msg: fmt.Sprintf("registeredAt value %q is not a date; use one of 2018-06-18T22:28:28+00:00, 2018-06-18T22:28:28Z, 2018-06-18T22:28:28 or 2018-06-18", a.text)}
		}
		c.from, c.to = from, to
	case subjRunningTasksCount:
		a := args[0]
		n, err := strconv.Atoi(a.text)
		if err != nil {
			return &SyntaxError{Pos: a.pos, Msg: fmt.Sprintf("runningTasksCount value %q is not a whole number", a.text)}
		}
		c.n = n
	default: // attribute, ec2InstanceId, task:group: strings
		if c.op == opIn || c.op == opNotIn {
			c.set = newStrSet(c.args)
		} else if len(args) == 1 {
			c.str = args[0].text
			c.num, c.isNum = parseNumber(c.str)
		}
	}
	return nil
}

// strSet is the argument list of in and not_in: a slice while scanning it is
// as fast as hashing, a map beyond.
type strSet struct {
	list []string
	m    map[string]struct{}
}

const strSetScanMax = 8

func newStrSet(vs []string) strSet {
	s := strSet{list: vs}
	if len(vs) > strSetScanMax {
		s.m = make(map[string]struct{}, len(vs))
		for _, v := range vs {
			s.m[v] = struct{}{}
		}
	}
	return s
}

func (s *strSet) has(v string) bool {
	if s.m != nil {
		_, ok := s.m[v]
		return ok
	}
	for _, x := range s.list {
		if x == v {
			return true
		}
	}
	return false
}

// parseNumber parses a plain decimal number: sign, digits, fraction,
// exponent. It refuses what strconv.ParseFloat would also take (hex, inf,
// nan, underscores), and does not allocate.
func parseNumber(s string) (float64, bool) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
		digits++
	}
	intDigits := digits
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
			exp++
		}
		if exp == 0 || exp > 2 {
			return 0, false
		}
	}
	// Below 1e300 no number overflows, so ParseFloat cannot fail (its error
	// allocates).
	if i != len(s) || intDigits > 200 {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// parseDate parses a registeredAt value into the interval it names.
func parseDate(s string) (from, to time.Time, ok bool) {
	if len(s) == len(time.DateOnly) {
		t, err := time.Parse(time.DateOnly, s)
		return t, t.AddDate(0, 0, 1), err == nil
	}
	t, err := time.Parse("2006-01-02T15:04:05Z07:00", s)
	if err != nil {
		t, err = time.Parse("2006-01-02T15:04:05", s)
	}
	if err != nil {
		return time.Time{}, time.Time{}, false
	}
	width := time.Second
	if n := len("2006-01-02T15:04:05"); len(s) > n && (s[n] == '.' || s[n] == ',') {
		for i := n + 1; i < len(s) && '0' <= s[i] && s[i] <= '9' && width > 1; i++ {
			width /= 10
		}
	}
	return t, t.Add(width), true
}

type matchKind uint8

const (
	matchRegexp matchKind = iota
	matchExact            // the pattern is a literal
	matchPrefix           // the pattern is a literal followed by .*
)

// matcher is a compiled =~ argument. Most patterns in placement constraints
// are "t2.*" or a literal, so those skip the regexp engine.
type matcher struct {
	kind  matchKind
	lit   string
	anyNL bool // matchPrefix: the .* matches newlines too ((?s))
	re    *regexp.Regexp
}

func compileMatcher(v value) (*matcher, error) {
	tree, err := syntax.Parse(v.text, syntax.Perl)
	if err != nil {
		return nil, regexpError(v, err)
	}
	// Anchor both ends: the pattern must match the whole value.
	re, err := regexp.Compile(`^(?:` + v.text + `)$`)
	if err != nil {
		return nil, regexpError(v, err)
	}
	m := &matcher{re: re}
	tree = tree.Simplify()
	literal := func(r *syntax.Regexp) (string, bool) {
		if r.Op != syntax.OpLiteral || r.Flags&syntax.FoldCase != 0 {
			return "", false
		}
		s := string(r.Rune)
		// The engine reads invalid UTF-8 in a value as U+FFFD; a byte
		// comparison would not.
		return s, !strings.ContainsRune(s, utf8.RuneError)
	}
	anyStar := func(r *syntax.Regexp) (anyNL, ok bool) {
		if r.Op != syntax.OpStar || len(r.Sub) != 1 {
			return false, false
		}
		switch r.Sub[0].Op {
		case syntax.OpAnyChar:
			return true, true
		case syntax.OpAnyCharNotNL:
			return false, true
		}
		return false, false
	}
	switch {
	case tree.Op == syntax.OpEmptyMatch:
		m.kind = matchExact
	case tree.Op == syntax.OpLiteral:
		if lit, ok := literal(tree); ok {
			m.kind, m.lit = matchExact, lit
		}
	case tree.Op == syntax.OpStar:
		if nl, ok := anyStar(tree); ok {
			m.kind, m.anyNL = matchPrefix, nl
		}
	case tree.Op == syntax.OpConcat && len(tree.Sub) == 2:
		lit, ok1 := literal(tree.Sub[0])
		nl, ok2 := anyStar(tree.Sub[1])
		if ok1 && ok2 {
			m.kind, m.lit, m.anyNL = matchPrefix, lit, nl
		}
	}
	return m, nil
}

func (m *matcher) match(s string) bool {
	switch m.kind {
	case matchExact:
		return s == m.lit
	case matchPrefix:
		return strings.HasPrefix(s, m.lit) && (m.anyNL || strings.IndexByte(s[len(m.lit):], '\n') < 0)
	}
	return m.re.MatchString(s)
}

func regexpError(v value, err error) *SyntaxError {
	msg := fmt.Sprintf("invalid regular expression %q", v.text)
	var se *syntax.Error
	if errors.As(err, &se) {
		msg += ": " + se.Code.String()
		if se.Expr != "" && se.Expr != v.text {
			msg += fmt.Sprintf(" %q", se.Expr)
		}
		switch se.Code {
		case syntax.ErrInvalidPerlOp, syntax.ErrInvalidEscape, syntax.ErrInvalidRepeatOp:
			msg += " (patterns use RE2 syntax, which has no lookarounds, backreferences or possessive quantifiers)"
		}
	} else {
		msg += ": " + err.Error()
	}
	return &SyntaxError{Pos: v.pos, Msg: msg}
}
