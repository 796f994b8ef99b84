// Package cql implements the ECS cluster query language: the expressions of
// memberOf placement constraints and of ListContainerInstances --filter.
//
// A simple expression is
//
//	subject operator [argument]
//
// and simple expressions combine with "and" (&&), "or" (||), "not" (!) and
// parentheses; "not" binds tighter than "and", which binds tighter than "or":
//
//	expr    = and { ("or" | "||") and }
//	and     = unary { ("and" | "&&") unary }
//	unary   = ("not" | "!") unary | "(" expr ")" | simple
//	simple  = subject op [ value | "[" value { "," value } "]" ]
//	value   = bare | 'single quoted' | "double quoted"
//
// Subjects and the operators each allows (as documented by AWS; the docs list
// none for attribute:<name> and task:group, so attributes allow every operator
// and task groups every operator but the orderings):
//
//	agentConnected     == != in not_in =~ !~        (values true, false)
//	agentVersion       == != > >= < <=              (versions such as 1.14.5)
//	attribute:<name>   all
//	ec2InstanceId      == != in not_in =~ !~
//	registeredAt       == != > >= < <=              (dates, see below)
//	runningTasksCount  == != > >= < <=              (whole numbers)
//	task:group         == != in not_in =~ !~ exists not_exists
//
// Operators have a symbol and a word form: == equals, != not_equals,
// > greater_than, >= greater_than_equal, < less_than, <= less_than_equal,
// exists, !exists not_exists, in, !in not_in, =~ matches, !~ not_matches.
//
// # Lexical decisions
//
//   - Word forms of operators, the connectives and/or/not and the values true
//     and false are case-insensitive. Subjects, attribute names, values and
//     regular expressions are case-sensitive (an unknown subject that differs
//     from a known one only in case gets a "did you mean" in the error).
//   - A bare (unquoted) value runs up to white space, one of ( ) [ ] , ' " or
//     the sequences && and ||. AWS: "a single expression can't contain
//     parentheses", so a value with spaces, parentheses, brackets, commas or
//     quotes must be quoted. Regular expressions like t2.* or a|b need no quotes.
//   - Quoted values use ' or "; inside them a backslash escapes the enclosing
//     quote and a backslash; any other backslash is kept as written, so
//     'i-\d+' is the regular expression i-\d+.
//   - The bare words "and" and "or" are refused as values (quote them), so
//     that a forgotten value reads as an error rather than as a comparison
//     with the word "and".
//   - An expression is at most 2000 characters (Unicode code points).
//
// # Evaluation decisions
//
//   - Missing attribute: "exists" is false and "not_exists" is true; every
//     other operator, including !=, not_in and !~, is false. AWS documents
//     "attribute:stack != prod" as listing "the instances with the custom
//     attribute stack unless the attribute value is prod", i.e. a comparison
//     requires the attribute; write "not (attribute:stack == prod)" to include
//     instances without it. An attribute without a value is present with the
//     value "" (so 'attribute:x == ""' matches it).
//   - Attribute == and != compare strings exactly (AWS: "String equality"). The
//     orderings > >= < <= compare numerically when both the attribute value and
//     the argument are decimal numbers (12 > 9), else byte-wise as strings.
//   - task:group is multi-valued, over the groups with at least one task on
//     the instance: "== g" is true when a task of group g is there and "!= g"
//     is its negation (so "task:group != g" equals "not (task:group == g)");
//     "in" is true when any group is in the list and "not_in" is its negation;
//     "=~" is true when any group matches and "!~" is its negation; "exists" is
//     true when the instance has any task.
//   - ec2InstanceId is always present (the empty string for an instance that
//     is not an EC2 instance), so "!=" is true for such instances.
//   - agentVersion compares versions: dot-separated segments, each by its
//     leading number (so 1.9.0 < 1.14.5 and 1.14 == 1.14.0), then by what
//     follows the number, where a suffix marks a pre-release (1.14.5-rc <
//     1.14.5).
//   - agentConnected compares booleans; =~ and !~ match the text true/false.
//   - Regular expressions use Go's RE2 syntax (AWS documents Java's; RE2 has
//     no lookarounds, backreferences or possessive quantifiers) and match the
//     whole value, as Java's Pattern.matches does: "t2.*" matches t2.micro
//     but not xt2.micro. Use ".*t2.*" to search inside a value.
//   - registeredAt accepts the documented forms 2018-06-18T22:28:28+00:00,
//     2018-06-18T22:28:28Z, 2018-06-18T22:28:28 and 2018-06-18 (any offset and
//     fractional seconds too; no offset means UTC). A value names the interval
//     of its precision: a day for a date, a second for a time. == is true when
//     the registration falls in it, < means before it starts, <= before it ends,
//     > at or after its end and >= at or after its start. So
//     "registeredAt < 2018-02-13" selects instances registered before
//     February 13, 2018 and "registeredAt == 2018-02-13" those registered on
//     that day (UTC).
//
// Parse compiles everything once (regular expressions, numbers, dates, lists)
// so that Expr.Match does no allocation.
package cql
