package cql

import (
	"errors"
	"testing"
	"time"
	"unicode/utf8"
)

// odd is an instance with awkward values for the round-trip check.
var odd = &Facts{
	Attributes: map[string]string{
		"a": "", "x": "and", "y": "it's \"quoted\"", "n": "-1.5e3", "ecs.instance-type": "t2.\n",
	},
	AgentVersion: "1.14.5-rc1",
	RegisteredAt: time.Date(2018, 6, 18, 0, 0, 0, 0, time.UTC),
	TaskGroups:   map[string]int{"": 1, "service:a b": 3},
}

func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.in)
	}
	for _, tc := range errorCases {
		f.Add(tc.in)
	}
	for _, tc := range matchCases {
		f.Add(tc.expr)
	}
	facts := []*Facts{t2, g2, external, odd, nil}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) = %T %v, want a *SyntaxError", s, err, err)
			}
			if se.Pos < -1 || se.Pos > len(s) || se.Msg == "" {
				t.Fatalf("Parse(%q): bad error %+v", s, se)
			}
			return
		}
		canon := e.String()
		// The canonical form can outgrow the limit ("!" becomes "not "), so
		// the round trip uses parse, and Parse only when it fits.
		again, err := parse(canon)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its canonical form %q fails: %v", s, canon, err)
		}
		if utf8.RuneCountInString(canon) <= MaxLength {
			if _, err := Parse(canon); err != nil {
				t.Fatalf("Parse(%q) ok, but Parse of its canonical form %q fails: %v", s, canon, err)
			}
		}
		if again.String() != canon {
			t.Fatalf("canonical form not stable: %q -> %q -> %q", s, canon, again.String())
		}
		if again.Dynamic() != e.Dynamic() {
			t.Fatalf("Dynamic differs for %q and %q", s, canon)
		}
		for i, f := range facts {
			if a, b := e.Match(f), again.Match(f); a != b {
				t.Fatalf("facts %d: %q matches %v but its canonical form %q matches %v", i, s, a, canon, b)
			}
		}
	})
}
