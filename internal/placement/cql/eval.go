package cql

import (
	"slices"
	"strings"
)

// node is a parsed expression: andNode, orNode, notNode or *cond.
type node interface {
	match(f *Facts) bool
}

type andNode []node

func (n andNode) match(f *Facts) bool {
	for _, x := range n {
		if !x.match(f) {
			return false
		}
	}
	return true
}

type orNode []node

func (n orNode) match(f *Facts) bool {
	for _, x := range n {
		if x.match(f) {
			return true
		}
	}
	return false
}

type notNode struct{ x node }

func (n notNode) match(f *Facts) bool { return !n.x.match(f) }

func (c *cond) match(f *Facts) bool {
	switch c.subj {
	case subjAttribute:
		v, ok := f.Attributes[c.name]
		switch {
		case c.op == opExists:
			return ok
		case c.op == opNotExists:
			return !ok
		case !ok:
			return false // see the package doc: a comparison needs the attribute
		}
		return c.matchString(v)
	case subjEC2InstanceID:
		return c.matchString(f.EC2InstanceID)
	case subjTaskGroup:
		return c.matchGroups(f.TaskGroups)
	case subjAgentConnected:
		switch c.op {
		case opEq:
			return f.AgentConnected == c.b
		case opNe:
			return f.AgentConnected != c.b
		case opIn:
			return c.inBools[b2i(f.AgentConnected)]
		case opNotIn:
			return !c.inBools[b2i(f.AgentConnected)]
		case opMatch:
			return c.re.match(boolText(f.AgentConnected))
		case opNotMatch:
			return !c.re.match(boolText(f.AgentConnected))
		}
	case subjAgentVersion:
		return ordered(c.op, compareVersions(f.AgentVersion, c.str))
	case subjRunningTasksCount:
		return ordered(c.op, compareInts(f.RunningTasksCount, c.n))
	case subjRegisteredAt:
		t := f.RegisteredAt
		switch c.op {
		case opEq:
			return !t.Before(c.from) && t.Before(c.to)
		case opNe:
			return t.Before(c.from) || !t.Before(c.to)
		case opLt:
			return t.Before(c.from)
		case opLe:
			return t.Before(c.to)
		case opGt:
			return !t.Before(c.to)
		case opGe:
			return !t.Before(c.from)
		}
	}
	return false
}

// matchString applies a string operator to the single value v.
func (c *cond) matchString(v string) bool {
	switch c.op {
	case opEq:
		return v == c.str
	case opNe:
		return v != c.str
	case opIn:
		return c.set.has(v)
	case opNotIn:
		return !c.set.has(v)
	case opMatch:
		return c.re.match(v)
	case opNotMatch:
		return !c.re.match(v)
	}
	if c.isNum {
		if x, ok := parseNumber(v); ok {
			return ordered(c.op, compareFloats(x, c.num))
		}
	}
	return ordered(c.op, strings.Compare(v, c.str))
}

// matchGroups applies an operator to the task groups with at least one task:
// ==, in and =~ hold when some group satisfies them, and !=, not_in and !~
// are their negations.
func (c *cond) matchGroups(g map[string]int) bool {
	switch c.op {
	case opEq:
		return g[c.str] > 0
	case opNe:
		return g[c.str] <= 0
	case opIn, opNotIn:
		return slices.ContainsFunc(c.set.list, func(v string) bool { return g[v] > 0 }) == (c.op == opIn)
	case opMatch, opNotMatch:
		return anyGroup(g, c.re.match) == (c.op == opMatch)
	case opExists, opNotExists:
		return anyGroup(g, func(string) bool { return true }) == (c.op == opExists)
	}
	return false
}

// anyGroup reports whether a group with tasks satisfies ok.
func anyGroup(g map[string]int, ok func(group string) bool) bool {
	for k, n := range g {
		if n > 0 && ok(k) {
			return true
		}
	}
	return false
}

// ordered turns a three-way comparison into the result of an ordering or
// equality operator.
func ordered(o op, cmp int) bool {
	switch o {
	case opEq:
		return cmp == 0
	case opNe:
		return cmp != 0
	case opGt:
		return cmp > 0
	case opGe:
		return cmp >= 0
	case opLt:
		return cmp < 0
	case opLe:
		return cmp <= 0
	}
	return false
}

func compareInts(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func compareFloats(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// compareVersions compares dot-separated versions segment by segment: by the
// number each segment starts with, then by what follows it, where a segment
// with nothing after its number is the greater (1.14.5-rc < 1.14.5). Missing
// segments count as 0, so 1.14 == 1.14.0.
func compareVersions(a, b string) int {
	for a != "" || b != "" {
		var sa, sb string
		sa, a, _ = strings.Cut(a, ".")
		sb, b, _ = strings.Cut(b, ".")
		na, ra := leadingDigits(sa)
		nb, rb := leadingDigits(sb)
		if c := compareDigits(na, nb); c != 0 {
			return c
		}
		switch {
		case ra == rb:
		case ra == "":
			return 1
		case rb == "":
			return -1
		default:
			return strings.Compare(ra, rb)
		}
	}
	return 0
}

func leadingDigits(s string) (digits, rest string) {
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return s[:i], s[i:]
}

// compareDigits compares two runs of decimal digits as numbers of any length.
func compareDigits(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return compareInts(len(a), len(b))
	}
	return strings.Compare(a, b)
}

// Precedences for format.
const (
	precOr = iota + 1
	precAnd
	precNot
)

// format writes n in canonical form.
func format(n node) string {
	var b strings.Builder
	writeNode(&b, n, 0)
	return b.String()
}

func writeNode(b *strings.Builder, n node, parent int) {
	switch n := n.(type) {
	case orNode:
		writeJoined(b, n, " or ", precOr, parent)
	case andNode:
		writeJoined(b, n, " and ", precAnd, parent)
	case notNode:
		b.WriteString("not ")
		if _, ok := n.x.(notNode); ok {
			writeNode(b, n.x, precNot)
			return
		}
		b.WriteByte('(')
		writeNode(b, n.x, 0)
		b.WriteByte(')')
	case *cond:
		n.write(b)
	}
}

func writeJoined(b *strings.Builder, terms []node, sep string, prec, parent int) {
	if parent > prec {
		b.WriteByte('(')
	}
	for i, t := range terms {
		if i > 0 {
			b.WriteString(sep)
		}
		writeNode(b, t, prec)
	}
	if parent > prec {
		b.WriteByte(')')
	}
}

func (c *cond) write(b *strings.Builder) {
	if c.subj == subjAttribute {
		b.WriteString(attributePrefix + c.name)
	} else {
		b.WriteString(subjectNames[c.subj])
	}
	b.WriteByte(' ')
	b.WriteString(opText[c.op])
	switch c.op {
	case opExists, opNotExists:
	case opIn, opNotIn:
		b.WriteString(" [")
		for i, a := range c.args {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quote(a))
		}
		b.WriteByte(']')
	default:
		b.WriteByte(' ')
		b.WriteString(quote(c.args[0]))
	}
}
