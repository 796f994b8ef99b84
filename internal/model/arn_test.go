package model

import "testing"

func TestParseARN(t *testing.T) {
	a, err := ParseARN("arn:aws:ecs:eu-west-1:123456789012:container-instance/prod/0123456789abcdef0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	if a.Service != "ecs" || a.Region != "eu-west-1" || a.Account != "123456789012" ||
		a.ResourceType() != "container-instance" || a.ResourceID() != "prod/0123456789abcdef0123456789abcdef" {
		t.Fatalf("parsed %+v", a)
	}
	for _, bad := range []string{"", "prod", "arn:aws:ecs", "arn:aws:ecs:r:a:", "nra:aws:ecs:r:a:cluster/x"} {
		if _, err := ParseARN(bad); err == nil {
			t.Errorf("ParseARN(%q) accepted", bad)
		}
	}
	if got := ARN("ecs", "us-east-1", "000000000000", "cluster/default"); got != "arn:aws:ecs:us-east-1:000000000000:cluster/default" {
		t.Fatalf("ARN = %s", got)
	}
}

func TestNewIDHasECSForm(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := NewID()
		if !IsID(id) || seen[id] {
			t.Fatalf("id %q is malformed or repeated", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "0123", "0123456789ABCDEF0123456789ABCDEF", "0123456789abcdef0123456789abcdeg"} {
		if IsID(bad) {
			t.Errorf("IsID(%q) = true", bad)
		}
	}
}

func TestTaskDefinitionKeysSortByRevision(t *testing.T) {
	if !(TaskDefinitionKey("web", 9) < TaskDefinitionKey("web", 10)) {
		t.Fatal("revision 9 sorts after 10: keys must be zero-padded")
	}
}
