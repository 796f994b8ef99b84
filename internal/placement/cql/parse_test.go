package cql

import (
	"errors"
	"strings"
	"testing"
)

// parseCases are valid expressions and their canonical forms.
var parseCases = []struct {
	in, want string
	dynamic  bool
}{
	// The examples of AWS's "Cluster query language" page.
	{"attribute:ecs.instance-type == t2.small", "attribute:ecs.instance-type == t2.small", false},
	{"attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", false},
	{"attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d", "attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d", false},
	{"task:group == service:production", "task:group == service:production", true},
	{"not(task:group == database)", "not (task:group == database)", true},
	{"runningTasksCount == 1", "runningTasksCount == 1", true},
	{"agentVersion < 1.14.5", "agentVersion < 1.14.5", false},
	{"registeredAt < 2018-02-13", "registeredAt < 2018-02-13", false},
	{"ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", "ec2InstanceId in [i-abcd1234, i-wxyx7890]", false},
	// ...and of its "Amazon ECS task placement constraints" page.
	{"attribute:ecs.instance-type == g2.2xlarge", "attribute:ecs.instance-type == g2.2xlarge", false},
	{"attribute:stack == prod", "attribute:stack == prod", false},
	{"attribute:stack != prod", "attribute:stack != prod", false},
	{"attribute:ecs.instance-type in [t2.small, t2.medium]", "attribute:ecs.instance-type in [t2.small, t2.medium]", false},
	{"attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone == us-east-1a", "attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone == us-east-1a", false},
	{"attribute:ecs.instance-type =~ t2.*", "attribute:ecs.instance-type =~ t2.*", false},
	{"task:group == databases", "task:group == databases", true},

	// Every operator in symbol and word form.
	{"attribute:a == x", "attribute:a == x", false},
	{"attribute:a equals x", "attribute:a == x", false},
	{"attribute:a != x", "attribute:a != x", false},
	{"attribute:a not_equals x", "attribute:a != x", false},
	{"attribute:a > 1", "attribute:a > 1", false},
	{"attribute:a greater_than 1", "attribute:a > 1", false},
	{"attribute:a >= 1", "attribute:a >= 1", false},
	{"attribute:a greater_than_equal 1", "attribute:a >= 1", false},
	{"attribute:a < 1", "attribute:a < 1", false},
	{"attribute:a less_than 1", "attribute:a < 1", false},
	{"attribute:a <= 1", "attribute:a <= 1", false},
	{"attribute:a less_than_equal 1", "attribute:a <= 1", false},
	{"attribute:a exists", "attribute:a exists", false},
	{"attribute:a !exists", "attribute:a not_exists", false},
	{"attribute:a not_exists", "attribute:a not_exists", false},
	{"attribute:a in [x]", "attribute:a in [x]", false},
	{"attribute:a !in [x, y]", "attribute:a not_in [x, y]", false},
	{"attribute:a not_in [x,y]", "attribute:a not_in [x, y]", false},
	{"attribute:a =~ x.*", "attribute:a =~ x.*", false},
	{"attribute:a matches x.*", "attribute:a =~ x.*", false},
	{"attribute:a !~ x.*", "attribute:a !~ x.*", false},
	{"attribute:a not_matches x.*", "attribute:a !~ x.*", false},
	// Word forms are case-insensitive.
	{"attribute:a EQUALS x", "attribute:a == x", false},
	{"attribute:a Not_In [x]", "attribute:a not_in [x]", false},
	{"attribute:a EXISTS AND NOT attribute:b Exists OR attribute:c exists", "attribute:a exists and not (attribute:b exists) or attribute:c exists", false},

	// Every subject.
	{"agentConnected == true", "agentConnected == true", false},
	{"agentConnected != FALSE", "agentConnected != false", false},
	{"agentConnected in [true, False]", "agentConnected in [true, false]", false},
	{"agentConnected not_in [false]", "agentConnected not_in [false]", false},
	{"agentConnected =~ t.*", "agentConnected =~ t.*", false},
	{"agentConnected !~ t.*", "agentConnected !~ t.*", false},
	{"agentVersion >= 1.14.5", "agentVersion >= 1.14.5", false},
	{"agentVersion != 1.20", "agentVersion != 1.20", false},
	{"ec2InstanceId == i-0123456789abcdef0", "ec2InstanceId == i-0123456789abcdef0", false},
	{"ec2InstanceId =~ 'i-0.*'", "ec2InstanceId =~ i-0.*", false},
	{"registeredAt >= 2018-06-18T22:28:28+00:00", "registeredAt >= 2018-06-18T22:28:28+00:00", false},
	{"registeredAt > 2018-06-18T22:28:28Z", "registeredAt > 2018-06-18T22:28:28Z", false},
	{"registeredAt <= 2018-06-18T22:28:28", "registeredAt <= 2018-06-18T22:28:28", false},
	{"registeredAt == 2018-06-18", "registeredAt == 2018-06-18", false},
	{"registeredAt != 2018-06-18T22:28:28.250+02:00", "registeredAt != 2018-06-18T22:28:28.250+02:00", false},
	{"runningTasksCount < 3", "runningTasksCount < 3", true},
	{"runningTasksCount != 0", "runningTasksCount != 0", true},
	{"task:group != database", "task:group != database", true},
	{"task:group in [a, b]", "task:group in [a, b]", true},
	{"task:group exists", "task:group exists", true},
	{"task:group !exists", "task:group not_exists", true},
	{"task:group =~ service:.*", "task:group =~ service:.*", true},
	{"attribute:com.amazonaws.ecs.capability.docker-remote-api.1.44 exists", "attribute:com.amazonaws.ecs.capability.docker-remote-api.1.44 exists", false},
	{`attribute:a/b\c_d-e.f == x`, `attribute:a/b\c_d-e.f == x`, false},
	{"attribute:a == x and runningTasksCount < 2", "attribute:a == x and runningTasksCount < 2", true},

	// Compound expressions, precedence, parentheses.
	{"attribute:a exists && attribute:b exists", "attribute:a exists and attribute:b exists", false},
	{"attribute:a exists || attribute:b exists", "attribute:a exists or attribute:b exists", false},
	{"!attribute:a exists", "not (attribute:a exists)", false},
	{"! attribute:a exists", "not (attribute:a exists)", false},
	{"not not attribute:a exists", "not not (attribute:a exists)", false},
	{"attribute:a exists or attribute:b exists and attribute:c exists", "attribute:a exists or attribute:b exists and attribute:c exists", false},
	{"(attribute:a exists or attribute:b exists) and attribute:c exists", "(attribute:a exists or attribute:b exists) and attribute:c exists", false},
	{"attribute:a exists and (attribute:b exists or attribute:c exists)", "attribute:a exists and (attribute:b exists or attribute:c exists)", false},
	{"not (attribute:a exists and attribute:b exists)", "not (attribute:a exists and attribute:b exists)", false},
	{"not attribute:a exists and attribute:b exists", "not (attribute:a exists) and attribute:b exists", false},
	{"((attribute:a exists))", "attribute:a exists", false},
	{"(attribute:a exists) and (attribute:b exists)", "attribute:a exists and attribute:b exists", false},
	{"attribute:a exists and (attribute:b exists and attribute:c exists)", "attribute:a exists and attribute:b exists and attribute:c exists", false},
	{"(attribute:a == 1 or attribute:b == 2)and(attribute:c == 3)", "(attribute:a == 1 or attribute:b == 2) and attribute:c == 3", false},
	{"not(attribute:a == 1)or!(attribute:b == 2)", "not (attribute:a == 1) or not (attribute:b == 2)", false},

	// White space.
	{"attribute:a==x&&attribute:b!=y||runningTasksCount>1", "attribute:a == x and attribute:b != y or runningTasksCount > 1", true},
	{"  \tattribute:a\n==\r\nx  ", "attribute:a == x", false},
	{"attribute:a in[x,y]", "attribute:a in [x, y]", false},
	{"attribute:a in [ x , y ]", "attribute:a in [x, y]", false},
	{"attribute:a!exists", "attribute:a not_exists", false},

	// Quoted values and lists.
	{`attribute:a == 'hello world'`, `attribute:a == 'hello world'`, false},
	{`attribute:a == "hello world"`, `attribute:a == 'hello world'`, false},
	{`attribute:a == 'x'`, `attribute:a == x`, false},
	{`attribute:a == ''`, `attribute:a == ''`, false},
	{`attribute:a == 'it\'s'`, `attribute:a == 'it\'s'`, false},
	{`attribute:a == "it's"`, `attribute:a == 'it\'s'`, false},
	{`attribute:a == "say \"hi\""`, `attribute:a == 'say "hi"'`, false},
	{`attribute:a == 'back\\slash'`, `attribute:a == back\slash`, false},
	{`attribute:a == 'and'`, `attribute:a == 'and'`, false},
	{`attribute:a == 'a&&b'`, `attribute:a == 'a&&b'`, false},
	{`attribute:a == a&b|c`, `attribute:a == a&b|c`, false},
	{`attribute:a == 'f(x)'`, `attribute:a == 'f(x)'`, false},
	{`attribute:a in ['x y', "z", w]`, `attribute:a in ['x y', z, w]`, false},
	{`attribute:a =~ 'i-\d+'`, `attribute:a =~ i-\d+`, false},
	{`attribute:a =~ i-\d+`, `attribute:a =~ i-\d+`, false},
	{`attribute:a =~ '(t2|m5)\..*'`, `attribute:a =~ '(t2|m5)\\..*'`, false},
	{`attribute:a =~ t2|m5`, `attribute:a =~ t2|m5`, false},
	{`attribute:a == not`, `attribute:a == not`, false},
	{`attribute:a == exists`, `attribute:a == exists`, false},
	{`attribute:a == ünïcode`, `attribute:a == ünïcode`, false},
	{`attribute:a == -1.5e3`, `attribute:a == -1.5e3`, false},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		e, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got := e.String(); got != tc.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, got, tc.want)
		}
		if e.Dynamic() != tc.dynamic {
			t.Errorf("Parse(%q).Dynamic() = %v, want %v", tc.in, e.Dynamic(), tc.dynamic)
		}
		again, err := Parse(e.String())
		if err != nil {
			t.Errorf("Parse(%q) (canonical of %q): %v", e.String(), tc.in, err)
		} else if again.String() != e.String() {
			t.Errorf("canonical form is not stable: %q -> %q", e.String(), again.String())
		}
	}
}

// errorCases are malformed expressions, where the error is and part of what
// it says.
var errorCases = []struct {
	in   string
	pos  int
	frag string
}{
	{"", -1, "empty expression"},
	{"   ", -1, "empty expression"},
	{"attribute:a == " + strings.Repeat("x", MaxLength), -1, "the maximum is 2000"},
	{"foo == bar", 0, `unknown subject "foo"; expected agentConnected, agentVersion, attribute:<name>, ec2InstanceId, registeredAt, runningTasksCount or task:group`},
	{"agentconnected == true", 0, `did you mean "agentConnected"?`},
	{"Attribute:x exists", 0, `did you mean "attribute:x"?`},
	{"task:Group exists", 0, `did you mean "task:group"?`},
	{"task:foo exists", 0, `unknown subject "task:foo"`},
	{"attribute: == x", 0, `expected an attribute name after "attribute:"`},
	{"attribute:" + strings.Repeat("n", 129) + " exists", 0, "longer than 128 characters"},
	{"attribute:ecs.os-type ==", 24, `expected a value after "==", found end of expression`},
	{"attribute:ecs.os-type == ", 25, `expected a value after "==", found end of expression`},
	{"attribute:a", 11, `expected an operator after "attribute:a", found end of expression`},
	{"attribute:a = x", 12, `unknown operator "="`},
	{"attribute:a is x", 12, `unknown operator "is" after "attribute:a"`},
	{"attribute:a @ x", 12, `expected an operator after "attribute:a", found "@"`},
	{"attribute:a == x y", 17, `expected "and", "or" or end of expression, found "y" (quote a value`},
	{"attribute:a == x and", 20, `expected an expression after "and", found end of expression`},
	{"attribute:a == x &&", 19, `expected an expression after "&&", found end of expression`},
	{"attribute:a == x or or attribute:b exists", 20, `expected an expression after "or", found "or"`},
	{"and attribute:a exists", 0, `expected an expression such as`},
	{"== x", 0, `expected an expression such as "attribute:<name> == <value>", found "=="`},
	{"not", 3, `expected an expression after "not", found end of expression`},
	{"!", 1, `expected an expression after "!", found end of expression`},
	{"attribute:a == and", 15, `found "and"; quote it to use it as a value`},
	{"attribute:a == &&", 15, `expected a value after "==", found "&&"`},
	{"attribute:a == x)", 16, `unbalanced parentheses: ")" without a matching "("`},
	{"(attribute:a == x", 17, `unbalanced parentheses: the "(" at position 0 is not closed`},
	{"((attribute:a == x)", 19, `the "(" at position 0 is not closed`},
	{"()", 1, `expected an expression after "(", found ")"`},
	{"(attribute:a == x y)", 18, `expected "and", "or" or ")", found "y"`},
	{"attribute:a == f(x)", 16, `expected "and", "or" or end of expression, found "("`},
	{"attribute:a == 'x", 15, "unterminated quoted string"},
	{`attribute:a == "x\"`, 15, "unterminated quoted string"},
	{"attribute:a in x", 15, `expected a list such as [a, b] after "in", found "x"`},
	{"attribute:a in [x", 17, `expected "," or "]" in the list, found end of expression`},
	{"attribute:a in [x y]", 18, `expected "," or "]" in the list, found "y"`},
	{"attribute:a in []", 16, `expected a value in the list, found "]"`},
	{"attribute:a in [x,]", 18, `expected a value after "," in the list, found "]"`},
	{"attribute:a in [x,,y]", 18, `expected a value in the list, found ","`},
	{"attribute:a in [", 16, `expected a value in the list, found end of expression`},
	{"attribute:a == [x]", 15, `a list is only allowed after in or not_in, not after "=="`},
	{"agentConnected > true", 15, `operator ">" is not allowed for subject agentConnected; use ==, !=, in, not_in, =~ or !~`},
	{"agentConnected exists", 15, `operator "exists" is not allowed for subject agentConnected`},
	{"agentConnected == yes", 18, `agentConnected is true or false, not "yes"`},
	{"agentConnected in [true, 1]", 25, `agentConnected is true or false, not "1"`},
	{"agentVersion =~ 1.*", 13, `operator "=~" is not allowed for subject agentVersion; use ==, !=, >, >=, < or <=`},
	{"agentVersion in [1.0]", 13, `operator "in" is not allowed`},
	{"agentVersion < latest", 15, `agentVersion value "latest" is not a version such as 1.14.5`},
	{"ec2InstanceId greater_than i-1", 14, `operator "greater_than" is not allowed for subject ec2InstanceId`},
	{"ec2InstanceId !exists", 14, `operator "!exists" is not allowed`},
	{"registeredAt < yesterday", 15, `registeredAt value "yesterday" is not a date; use one of 2018-06-18T22:28:28+00:00`},
	{"registeredAt < 2018-02-30", 15, "is not a date"},
	{"registeredAt < 2018-02-13T25:00:00Z", 15, "is not a date"},
	{"registeredAt =~ 2018.*", 13, `operator "=~" is not allowed for subject registeredAt`},
	{"runningTasksCount == one", 21, `runningTasksCount value "one" is not a whole number`},
	{"runningTasksCount == 1.5", 21, "is not a whole number"},
	{"runningTasksCount in [1, 2]", 18, `operator "in" is not allowed for subject runningTasksCount`},
	{"runningTasksCount exists", 18, `operator "exists" is not allowed`},
	{"task:group > a", 11, `operator ">" is not allowed for subject task:group; use ==, !=, exists, not_exists, in, not_in, =~ or !~`},
	{"attribute:a =~ '(t2'", 15, `invalid regular expression "(t2": missing closing )`},
	{"attribute:a =~ 'a(?=b)'", 15, `invalid or unsupported Perl syntax "(?=" (patterns use RE2 syntax`},
	{`attribute:a =~ '(a)\1'`, 15, `invalid escape sequence "\\1"`},
	{"attribute:a =~ a**", 15, `invalid nested repetition operator "**"`},
	{"attribute:a =~ x{1001}", 15, `invalid repeat count`},
	{"task:group =~ '['", 14, `invalid regular expression "["`},
	{"attribute:a exists attribute:b exists", 19, `expected "and", "or" or end of expression, found "attribute:b"`},
	{"attribute:a exists andattribute:b exists", 19, `found "andattribute:b"`},
	{"attribute:a == x and ()", 22, `expected an expression after "(", found ")"`},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range errorCases {
		_, err := Parse(tc.in)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want a *SyntaxError", tc.in, err)
			continue
		}
		if se.Pos != tc.pos || !strings.Contains(se.Msg, tc.frag) {
			t.Errorf("Parse(%q):\n got pos %d %q\nwant pos %d containing %q", tc.in, se.Pos, se.Msg, tc.pos, tc.frag)
		}
		if se.Pos >= 0 && !strings.HasPrefix(se.Error(), "position ") {
			t.Errorf("Parse(%q).Error() = %q, want a position", tc.in, se.Error())
		}
	}
}

func TestSyntaxErrorText(t *testing.T) {
	_, err := Parse("attribute:ecs.os-type ==")
	const want = `position 24: expected a value after "==", found end of expression`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
	_, err = Parse("")
	if err == nil || err.Error() != "empty expression" {
		t.Errorf("error = %v, want empty expression", err)
	}
}

func TestMaxLength(t *testing.T) {
	pad := MaxLength - len("attribute:a == ")
	if _, err := Parse("attribute:a == " + strings.Repeat("x", pad)); err != nil {
		t.Errorf("%d characters: %v", MaxLength, err)
	}
	// Characters, not bytes.
	if _, err := Parse("attribute:a == " + strings.Repeat("é", pad)); err != nil {
		t.Errorf("%d multi-byte characters: %v", MaxLength, err)
	}
	if _, err := Parse("attribute:a == " + strings.Repeat("x", pad+1)); err == nil {
		t.Errorf("%d characters: no error", MaxLength+1)
	}
}

func TestDeepNesting(t *testing.T) {
	n := (MaxLength - len("attribute:a exists")) / 2
	s := strings.Repeat("(", n) + "attribute:a exists" + strings.Repeat(")", n)
	e, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Match(&Facts{Attributes: map[string]string{"a": ""}}) {
		t.Error("no match")
	}
	s = strings.Repeat("!", MaxLength-len("attribute:a exists")) + "attribute:a exists"
	if _, err := Parse(s); err != nil {
		t.Fatal(err)
	}
}
