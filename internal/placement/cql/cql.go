package cql

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// MaxLength is the longest expression Parse accepts, in characters.
const MaxLength = 2000

// Facts are what an expression is evaluated against: one container instance.
type Facts struct {
	Attributes        map[string]string // every attribute incl. ecs.*; a valueless attribute is present with ""
	AgentConnected    bool
	AgentVersion      string
	EC2InstanceID     string
	RegisteredAt      time.Time
	RunningTasksCount int
	TaskGroups        map[string]int // task group -> number of (not stopped) tasks of that group on the instance
}

// Expr is a parsed expression; safe for concurrent use. Make one with Parse.
type Expr struct {
	root    node
	text    string
	dynamic bool
}

// SyntaxError is the error Parse returns. Its text is a sentence fragment meant
// to follow "Invalid expression: ".
type SyntaxError struct {
	Pos int    // 0-based byte offset of the problem, or -1 when it concerns the whole expression
	Msg string // what is wrong, without the position
}

func (e *SyntaxError) Error() string {
	if e.Pos < 0 {
		return e.Msg
	}
	return "position " + strconv.Itoa(e.Pos) + ": " + e.Msg
}

// Parse parses an expression of at most MaxLength characters. Every error is
// a *SyntaxError.
func Parse(s string) (*Expr, error) {
	if n := utf8.RuneCountInString(s); n > MaxLength {
		return nil, &SyntaxError{Pos: -1, Msg: "expression is " + strconv.Itoa(n) + " characters long; the maximum is " + strconv.Itoa(MaxLength)}
	}
	return parse(s)
}

// parse is Parse without the length limit (the canonical form of a long
// expression may be longer than the expression).
func parse(s string) (*Expr, error) {
	p := &parser{s: scanner{src: s}}
	root, err := p.parseTop()
	if err != nil {
		return nil, err
	}
	return &Expr{root: root, text: format(root), dynamic: p.dynamic}, nil
}

var noFacts Facts

// Match reports whether the instance described by f satisfies e. It does not
// allocate. A nil f is an instance with no attributes and no tasks.
func (e *Expr) Match(f *Facts) bool {
	if e == nil || e.root == nil {
		return false
	}
	if f == nil {
		f = &noFacts
	}
	return e.root.match(f)
}

// String returns the canonical form of e: symbol operators, the words and,
// or and not, single spaces, parentheses only where needed, and values quoted
// only where needed. Parsing it gives an equivalent expression.
func (e *Expr) String() string {
	if e == nil {
		return ""
	}
	return e.text
}

// Dynamic reports whether e reads RunningTasksCount or TaskGroups, whose values
// change as tasks are placed. The result of an expression that is not dynamic
// depends only on the instance and can be cached per instance.
func (e *Expr) Dynamic() bool {
	return e != nil && e.dynamic
}
