package cql

import (
	"strconv"
	"strings"
)

// subject is what a simple expression tests.
type subject uint8

const (
	subjAgentConnected subject = iota + 1
	subjAgentVersion
	subjAttribute
	subjEC2InstanceID
	subjRegisteredAt
	subjRunningTasksCount
	subjTaskGroup
)

const attributePrefix = "attribute:"

// maxAttributeName is the longest attribute name ECS accepts.
const maxAttributeName = 128

// subjectNames are the subjects' spellings, but for attribute:<name>.
var subjectNames = [...]string{
	subjAgentConnected:    "agentConnected",
	subjAgentVersion:      "agentVersion",
	subjAttribute:         "attribute:<name>",
	subjEC2InstanceID:     "ec2InstanceId",
	subjRegisteredAt:      "registeredAt",
	subjRunningTasksCount: "runningTasksCount",
	subjTaskGroup:         "task:group",
}

var subjects = map[string]subject{
	"agentConnected":    subjAgentConnected,
	"agentVersion":      subjAgentVersion,
	"ec2InstanceId":     subjEC2InstanceID,
	"registeredAt":      subjRegisteredAt,
	"runningTasksCount": subjRunningTasksCount,
	"task:group":        subjTaskGroup,
}

const subjectList = "agentConnected, agentVersion, attribute:<name>, ec2InstanceId, registeredAt, runningTasksCount or task:group"

// opSet is a set of operators, one bit each.
type opSet uint16

func ops(o ...op) opSet {
	var s opSet
	for _, x := range o {
		s |= 1 << x
	}
	return s
}

func (s opSet) has(o op) bool { return s&(1<<o) != 0 }

// String lists the set in canonical spelling, "a, b or c".
func (s opSet) String() string {
	var names []string
	for o := opEq; o <= opNotMatch; o++ {
		if s.has(o) {
			names = append(names, opText[o])
		}
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

var (
	equalityOps = ops(opEq, opNe, opIn, opNotIn, opMatch, opNotMatch)
	orderOps    = ops(opEq, opNe, opGt, opGe, opLt, opLe)
	allOps      = ops(opEq, opNe, opGt, opGe, opLt, opLe, opExists, opNotExists, opIn, opNotIn, opMatch, opNotMatch)
)

// allowed holds the operators each subject accepts: as AWS documents them, and
// for the two subjects it documents none for, what makes sense (a task group
// has no order).
var allowed = [...]opSet{
	subjAgentConnected:    equalityOps,
	subjAgentVersion:      orderOps,
	subjAttribute:         allOps,
	subjEC2InstanceID:     equalityOps,
	subjRegisteredAt:      orderOps,
	subjRunningTasksCount: orderOps,
	subjTaskGroup:         equalityOps | ops(opExists, opNotExists),
}

type parser struct {
	s       scanner
	dynamic bool // a subject that changes as tasks are placed was seen
	bare    bool // the last simple expression ended with a bare value
}

func (p *parser) parseTop() (node, error) {
	p.s.skipSpace()
	if p.s.eof() {
		return nil, &SyntaxError{Pos: -1, Msg: "empty expression"}
	}
	n, err := p.parseOr("")
	if err != nil {
		return nil, err
	}
	if p.s.eof() {
		return n, nil
	}
	if p.s.peek() == ')' {
		return nil, p.s.errorf(p.s.pos, "unbalanced parentheses: \")\" without a matching \"(\"")
	}
	return nil, p.connectiveError("end of expression")
}

// connectiveError reports something other than a connective or the expected
// end after a complete simple expression.
func (p *parser) connectiveError(end string) error {
	hint := ""
	if p.bare {
		hint = " (quote a value that contains spaces, parentheses, brackets, commas or quotes)"
	}
	return p.s.errorf(p.s.pos, "expected \"and\", \"or\" or %s, found %s%s", end, p.s.found(), hint)
}

// parseOr parses and-terms joined by "or"; after names what precedes it.
func (p *parser) parseOr(after string) (node, error) {
	terms, err := p.parseJoined(after, connOr, p.parseAnd)
	if err != nil || len(terms) == 1 {
		return first(terms), err
	}
	return orNode(terms), nil
}

// parseAnd parses unary terms joined by "and".
func (p *parser) parseAnd(after string) (node, error) {
	terms, err := p.parseJoined(after, connAnd, p.parseUnary)
	if err != nil || len(terms) == 1 {
		return first(terms), err
	}
	return andNode(terms), nil
}

// parseJoined parses terms (each by term) joined by the connective c.
func (p *parser) parseJoined(after string, c conn, term func(after string) (node, error)) ([]node, error) {
	var terms []node
	for {
		n, err := term(after)
		if err != nil {
			return nil, err
		}
		terms = append(terms, n)
		p.s.skipSpace()
		next, w := p.s.connective()
		if next != c {
			return terms, nil
		}
		after = strconv.Quote(p.s.src[p.s.pos : p.s.pos+w])
		p.s.pos += w
	}
}

func first(terms []node) node {
	if len(terms) == 0 {
		return nil
	}
	return terms[0]
}

func (p *parser) parseUnary(after string) (node, error) {
	p.s.skipSpace()
	start := p.s.pos
	expected := func() error {
		if after == "" {
			return p.s.errorf(start, "expected an expression such as \"attribute:<name> == <value>\", found %s", p.s.found())
		}
		return p.s.errorf(start, "expected an expression after %s, found %s", after, p.s.found())
	}
	if p.s.eof() {
		return nil, expected()
	}
	switch p.s.peek() {
	case '(':
		p.s.pos++
		n, err := p.parseOr(`"("`)
		if err != nil {
			return nil, err
		}
		if p.s.eof() {
			return nil, p.s.errorf(p.s.pos, "unbalanced parentheses: the \"(\" at position %d is not closed", start)
		}
		if p.s.peek() != ')' {
			return nil, p.connectiveError(`")"`)
		}
		p.s.pos++
		p.bare = false
		return n, nil
	case '!':
		p.s.pos++
		n, err := p.parseUnary(`"!"`)
		if err != nil {
			return nil, err
		}
		return notNode{n}, nil
	}
	w := p.s.word()
	switch {
	case w == "":
		return nil, expected()
	case strings.EqualFold(w, "not"):
		n, err := p.parseUnary(strconv.Quote(w))
		if err != nil {
			return nil, err
		}
		return notNode{n}, nil
	case strings.EqualFold(w, "and") || strings.EqualFold(w, "or"):
		p.s.pos = start
		return nil, expected()
	}
	return p.parseSimple(w, start)
}

// parseSimple parses the rest of "subject operator [argument]" once the
// subject word w, which starts at start, has been read.
func (p *parser) parseSimple(w string, start int) (node, error) {
	subj, name, err := p.subject(w, start)
	if err != nil {
		return nil, err
	}
	p.s.skipSpace()
	opPos := p.s.pos
	o, opWritten, err := p.s.operator(w)
	if err != nil {
		return nil, err
	}
	if !allowed[subj].has(o) {
		return nil, p.s.errorf(opPos, "operator %q is not allowed for subject %s; use %s", opWritten, subjectNames[subj], allowed[subj])
	}
	c := &cond{subj: subj, name: name, op: o}
	if subj == subjRunningTasksCount || subj == subjTaskGroup {
		p.dynamic = true
	}
	var args []value
	switch o {
	case opExists, opNotExists:
		p.bare = false
	case opIn, opNotIn:
		if args, err = p.list(opWritten); err != nil {
			return nil, err
		}
		p.bare = false
	default:
		p.s.skipSpace()
		if p.s.peek() == '[' {
			return nil, p.s.errorf(p.s.pos, "a list is only allowed after in or not_in, not after %q (quote a value that contains brackets)", opWritten)
		}
		v, err := p.s.value(opWritten)
		if err != nil {
			return nil, err
		}
		args = []value{v}
		p.bare = v.bare
	}
	if err := c.compile(args); err != nil {
		return nil, err
	}
	return c, nil
}

// subject classifies the subject word w.
func (p *parser) subject(w string, start int) (subject, string, error) {
	if s, ok := subjects[w]; ok {
		return s, "", nil
	}
	if name, ok := strings.CutPrefix(w, attributePrefix); ok {
		switch {
		case name == "":
			return 0, "", p.s.errorf(start, "expected an attribute name after \"attribute:\"")
		case len(name) > maxAttributeName:
			return 0, "", p.s.errorf(start, "attribute name %q is longer than %d characters", name, maxAttributeName)
		}
		return subjAttribute, name, nil
	}
	if len(w) > len(attributePrefix) && strings.EqualFold(w[:len(attributePrefix)], attributePrefix) {
		return 0, "", p.s.errorf(start, "unknown subject %q; subjects are case-sensitive: did you mean %q?", w, attributePrefix+w[len(attributePrefix):])
	}
	for known := range subjects {
		if strings.EqualFold(w, known) {
			return 0, "", p.s.errorf(start, "unknown subject %q; subjects are case-sensitive: did you mean %q?", w, known)
		}
	}
	return 0, "", p.s.errorf(start, "unknown subject %q; expected %s", w, subjectList)
}

// list parses "[v1, v2, ...]" after an in or not_in written as after.
func (p *parser) list(after string) ([]value, error) {
	p.s.skipSpace()
	if p.s.peek() != '[' {
		return nil, p.s.errorf(p.s.pos, "expected a list such as [a, b] after %q, found %s", after, p.s.found())
	}
	p.s.pos++
	var vs []value
	for {
		p.s.skipSpace()
		if p.s.peek() == ']' {
			what := "a value"
			if len(vs) > 0 {
				what = "a value after \",\""
			}
			return nil, p.s.errorf(p.s.pos, "expected %s in the list, found \"]\"", what)
		}
		v, err := p.s.value(after)
		if err != nil {
			if p.s.eof() || p.s.peek() == ',' {
				return nil, p.s.errorf(p.s.pos, "expected a value in the list, found %s", p.s.found())
			}
			return nil, err
		}
		vs = append(vs, v)
		p.s.skipSpace()
		switch p.s.peek() {
		case ',':
			p.s.pos++
			continue
		case ']':
			p.s.pos++
			return vs, nil
		}
		hint := ""
		if !p.s.eof() {
			hint = " (quote a value that contains spaces, parentheses, brackets, commas or quotes)"
		}
		return nil, p.s.errorf(p.s.pos, "expected \",\" or \"]\" in the list, found %s%s", p.s.found(), hint)
	}
}
