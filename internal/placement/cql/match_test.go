package cql

import (
	"testing"
	"time"
)

// Hand-built instances for the match table.
var (
	// t2 is a connected t2.small in us-east-1a with custom attributes and two
	// task groups.
	t2 = &Facts{
		Attributes: map[string]string{
			"ecs.instance-type":     "t2.small",
			"ecs.availability-zone": "us-east-1a",
			"ecs.os-type":           "linux",
			"stack":                 "prod",
			"cores":                 "12",
			"ecs.capability.gpu":    "",
			"note":                  "hello world",
		},
		AgentConnected:    true,
		AgentVersion:      "1.14.4",
		EC2InstanceID:     "i-abcd1234",
		RegisteredAt:      time.Date(2018, 2, 12, 23, 59, 59, 500_000_000, time.UTC),
		RunningTasksCount: 1,
		TaskGroups:        map[string]int{"service:production": 1, "family:web": 2, "database": 0},
	}
	// g2 is a disconnected g2.2xlarge in us-east-1d without the custom
	// attributes, running nothing.
	g2 = &Facts{
		Attributes: map[string]string{
			"ecs.instance-type":     "g2.2xlarge",
			"ecs.availability-zone": "us-east-1d",
			"cores":                 "9",
		},
		AgentConnected: false,
		AgentVersion:   "1.20.0",
		EC2InstanceID:  "i-wxyx7890",
		RegisteredAt:   time.Date(2018, 6, 18, 22, 28, 28, 0, time.UTC),
	}
	// external is an ECS Anywhere instance: no EC2 ID, no attributes.
	external = &Facts{AgentVersion: "1.14.5", RegisteredAt: time.Date(2018, 2, 13, 0, 0, 0, 0, time.UTC)}
)

var matchCases = []struct {
	expr             string
	t2, g2, external bool
}{
	// AWS's documented examples.
	{"attribute:ecs.instance-type == t2.small", true, false, false},
	{"attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", true, false, false},
	{"attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d", false, false, false},
	{"attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1a", false, true, false},
	{"task:group == service:production", true, false, false},
	{"not(task:group == database)", true, true, true},
	{"runningTasksCount == 1", true, false, false},
	{"agentVersion < 1.14.5", true, false, false},
	{"registeredAt < 2018-02-13", true, false, false},
	{"ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", true, true, false},
	{"attribute:ecs.instance-type == g2.2xlarge", false, true, false},
	{"attribute:stack == prod", true, false, false},
	{"attribute:stack != prod", false, false, false}, // "instances with the custom attribute stack unless ... prod"
	{"attribute:ecs.instance-type in [t2.small, t2.medium]", true, false, false},
	{"attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone == us-east-1a", true, false, false},
	{"attribute:ecs.instance-type =~ t2.*", true, false, false},
	{"task:group == databases", false, false, false},

	// Missing attributes: only not_exists is true.
	{"attribute:stack exists", true, false, false},
	{"attribute:stack not_exists", false, true, true},
	{"attribute:stack != dev", true, false, false},
	{"attribute:stack not_in [dev]", true, false, false},
	{"attribute:stack !~ d.*", true, false, false},
	{"attribute:stack > a", true, false, false},
	{"not (attribute:stack == prod)", false, true, true},
	// A valueless attribute is present with "".
	{"attribute:ecs.capability.gpu exists", true, false, false},
	{"attribute:ecs.capability.gpu == ''", true, false, false},
	{"attribute:ecs.capability.gpu != x", true, false, false},
	{`attribute:note == "hello world"`, true, false, false},

	// Orderings on attributes: numeric when both are numbers, else strings.
	{"attribute:cores > 10", true, false, false},
	{"attribute:cores >= 9", true, true, false},
	{"attribute:cores < 1e1", false, true, false},
	{"attribute:cores == 12.0", false, false, false}, // == is string equality
	{"attribute:cores > 100a", true, true, false},    // not a number: "12" > "100a" as strings
	{"attribute:ecs.availability-zone > us-east-1b", false, true, false},
	{"attribute:ecs.availability-zone <= us-east-1a", true, false, false},

	// Regular expressions match the whole value.
	{"attribute:ecs.instance-type =~ t2", false, false, false},
	{"attribute:ecs.instance-type =~ 2.*", false, false, false},
	{"attribute:ecs.instance-type =~ .*2.*", true, true, false},
	{"attribute:ecs.instance-type =~ t2.small", true, false, false},
	{"attribute:ecs.instance-type =~ 't2\\.small|g2\\..*'", true, true, false},
	{"attribute:ecs.instance-type =~ '(?i)T2.*'", true, false, false},
	{"attribute:ecs.instance-type !~ t2.*", false, true, false},
	{"attribute:ecs.instance-type =~ ''", false, false, false},
	{"attribute:ecs.capability.gpu =~ ''", true, false, false},

	// agentConnected.
	{"agentConnected == true", true, false, false},
	{"agentConnected == false", false, true, true},
	{"agentConnected != true", false, true, true},
	{"agentConnected in [true]", true, false, false},
	{"agentConnected not_in [true]", false, true, true},
	{"agentConnected in [true, false]", true, true, true},
	{"agentConnected =~ t.*", true, false, false},
	{"agentConnected !~ t.*", false, true, true},

	// agentVersion compares versions.
	{"agentVersion >= 1.14.5", false, true, true},
	{"agentVersion > 1.9", true, true, true},
	{"agentVersion == 1.20", false, true, false},
	{"agentVersion != 1.20.0", true, false, true},
	{"agentVersion <= 1.14.4", true, false, false},
	{"agentVersion < 1.14.5-rc1", true, false, false},

	// ec2InstanceId is always present.
	{"ec2InstanceId == i-abcd1234", true, false, false},
	{"ec2InstanceId != i-abcd1234", false, true, true},
	{"ec2InstanceId =~ i-.*", true, true, false},
	{"ec2InstanceId not_in [i-abcd1234]", false, true, true},

	// registeredAt names intervals.
	{"registeredAt == 2018-02-12", true, false, false},
	{"registeredAt <= 2018-02-12", true, false, false},
	{"registeredAt > 2018-02-12", false, true, true},
	{"registeredAt >= 2018-02-13", false, true, true},
	{"registeredAt == 2018-02-13", false, false, true},
	{"registeredAt != 2018-02-13", true, true, false},
	{"registeredAt == 2018-06-18T22:28:28Z", false, true, false},
	{"registeredAt == 2018-06-18T22:28:28+00:00", false, true, false},
	{"registeredAt == 2018-06-18T22:28:28", false, true, false},
	{"registeredAt == 2018-06-19T00:28:28+02:00", false, true, false},
	{"registeredAt < 2018-06-18T22:28:28", true, false, true},
	{"registeredAt <= 2018-06-18T22:28:28", true, true, true},
	{"registeredAt > 2018-06-18T22:28:27", false, true, false},
	{"registeredAt == 2018-02-12T23:59:59", true, false, false},
	{"registeredAt == 2018-02-12T23:59:59.5Z", true, false, false},
	{"registeredAt == 2018-02-12T23:59:59.4Z", false, false, false},

	// runningTasksCount.
	{"runningTasksCount == 0", false, true, true},
	{"runningTasksCount > 0", true, false, false},
	{"runningTasksCount <= 1", true, true, true},
	{"runningTasksCount != 1", false, true, true},

	// task:group is multi-valued; groups with no tasks do not count.
	{"task:group == family:web", true, false, false},
	{"task:group == database", false, false, false},
	{"task:group != service:production", false, true, true},
	{"task:group in [database, family:web]", true, false, false},
	{"task:group not_in [database, family:web]", false, true, true},
	{"task:group =~ service:.*", true, false, false},
	{"task:group !~ service:.*", false, true, true},
	{"task:group =~ data.*", false, false, false},
	{"task:group exists", true, false, false},
	{"task:group not_exists", false, true, true},

	// Compound expressions and precedence.
	{"attribute:stack exists or agentConnected == false and runningTasksCount > 5", true, false, false},
	{"(attribute:stack exists or agentConnected == false) and runningTasksCount > 5", false, false, false},
	{"not attribute:stack exists and agentConnected == false", false, true, true},
	{"!(attribute:stack exists and agentConnected == true)", false, true, true},
	{"attribute:cores exists && !task:group exists", false, true, false},
	{"ec2InstanceId == i-abcd1234 || ec2InstanceId == i-wxyx7890 && agentConnected == true", true, false, false},
	{"not not attribute:stack exists", true, false, false},
}

func TestMatch(t *testing.T) {
	for _, tc := range matchCases {
		e, err := Parse(tc.expr)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.expr, err)
			continue
		}
		for _, f := range []struct {
			name  string
			facts *Facts
			want  bool
		}{{"t2", t2, tc.t2}, {"g2", g2, tc.g2}, {"external", external, tc.external}} {
			if got := e.Match(f.facts); got != f.want {
				t.Errorf("%q on %s = %v, want %v", tc.expr, f.name, got, f.want)
			}
		}
	}
}

func TestMatchNilFacts(t *testing.T) {
	for _, s := range []string{"attribute:a not_exists", "task:group not_exists", "runningTasksCount == 0", "agentConnected == false"} {
		if !mustParse(t, s).Match(nil) {
			t.Errorf("%q on nil facts = false", s)
		}
	}
}

func TestLongList(t *testing.T) {
	// More than strSetScanMax values: the set is a map.
	e := mustParse(t, "attribute:ecs.availability-zone in [a, b, c, d, e, f, g, h, i, j, us-east-1a]")
	if !e.Match(t2) || e.Match(g2) {
		t.Error("long in list")
	}
	e = mustParse(t, "attribute:ecs.availability-zone not_in [a, b, c, d, e, f, g, h, i, j, us-east-1a]")
	if e.Match(t2) || !e.Match(g2) {
		t.Error("long not_in list")
	}
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.14.5", "1.14.5", 0},
		{"1.14", "1.14.0", 0},
		{"1.9.0", "1.14.5", -1},
		{"1.14.10", "1.14.9", 1},
		{"2", "1.99.99", 1},
		{"01.2", "1.2", 0},
		{"1.14.5-rc1", "1.14.5", -1},
		{"1.14.5-rc2", "1.14.5-rc1", 1},
		{"", "0", 0},
		{"", "1", -1},
		{"99999999999999999999999", "1", 1},
	} {
		if got := compareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := compareVersions(tc.b, tc.a); got != -tc.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
}

func TestMatcherFastPaths(t *testing.T) {
	// The fast paths must agree with the regexp engine they stand in for.
	values := []string{"", "t2", "t2.small", "xt2.small", "t2\nx", "T2.small", "t2.\xff", "\xff", "\n"}
	for _, pattern := range []string{"t2", "t2.*", ".*", "(?s)t2.*", "", "t2\\..*", "(?i)t2.*", "t2.+", "\ufffd.*"} {
		m, err := compileMatcher(value{text: pattern})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range values {
			if got, want := m.match(v), m.re.MatchString(v); got != want {
				t.Errorf("%q =~ %q: fast path %v, regexp %v", v, pattern, got, want)
			}
		}
	}
	kinds := map[string]matchKind{"t2": matchExact, "": matchExact, "t2.*": matchPrefix, "(?s).*": matchPrefix, "t2.+": matchRegexp, "(?i)t2": matchRegexp}
	for pattern, want := range kinds {
		m, _ := compileMatcher(value{text: pattern})
		if m.kind != want {
			t.Errorf("%q: kind %d, want %d", pattern, m.kind, want)
		}
	}
}

// raceEnabled is set by race_test.go.
var raceEnabled bool

func TestMatchDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool allocates at random under the race detector")
	}
	for _, tc := range matchCases {
		e := mustParse(t, tc.expr)
		for _, f := range []*Facts{t2, g2, external} {
			if n := testing.AllocsPerRun(10, func() { e.Match(f) }); n != 0 {
				t.Errorf("%q allocates %v times per Match", tc.expr, n)
			}
		}
	}
}

func mustParse(t testing.TB, s string) *Expr {
	t.Helper()
	e, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return e
}
