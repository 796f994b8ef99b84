package cql

import "testing"

// benchFacts is a typical instance: a dozen attributes, a few task groups.
var benchFacts = &Facts{
	Attributes: map[string]string{
		"ecs.instance-type":     "t2.small",
		"ecs.availability-zone": "us-east-1a",
		"ecs.os-type":           "linux",
		"ecs.cpu-architecture":  "x86_64",
		"ecs.ami-id":            "ami-1234abcd",
		"ecs.vpc-id":            "vpc-1234abcd",
		"ecs.subnet-id":         "subnet-1234abcd",
		"ecs.os-family":         "LINUX",
		"com.amazonaws.ecs.capability.docker-remote-api.1.44": "",
		"com.amazonaws.ecs.capability.logging-driver.awslogs": "",
		"stack": "prod",
	},
	AgentConnected:    true,
	AgentVersion:      "1.82.0",
	EC2InstanceID:     "i-0123456789abcdef0",
	RunningTasksCount: 3,
	TaskGroups:        map[string]int{"service:web": 2, "family:batch": 1},
}

func benchmarkMatch(b *testing.B, expr string) {
	e, err := Parse(expr)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		e.Match(benchFacts)
	}
}

// BenchmarkMatch is the scheduler's case: a three-clause constraint against
// one instance, repeated for every instance of the cluster.
func BenchmarkMatch(b *testing.B) {
	benchmarkMatch(b, "attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone in [us-east-1a, us-east-1b] and runningTasksCount < 5")
}

// BenchmarkMatchRegexp forces the regexp engine (no literal fast path).
func BenchmarkMatchRegexp(b *testing.B) {
	benchmarkMatch(b, "attribute:ecs.instance-type =~ '(t2|t3)\\.(micro|small)' and attribute:ecs.availability-zone in [us-east-1a, us-east-1b] and runningTasksCount < 5")
}

func BenchmarkMatchTaskGroup(b *testing.B) {
	benchmarkMatch(b, "not (task:group == service:web) and agentVersion >= 1.14.5 and attribute:stack != dev")
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone in [us-east-1a, us-east-1b] and runningTasksCount < 5"); err != nil {
			b.Fatal(err)
		}
	}
}
