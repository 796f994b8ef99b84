package clitest

import (
	"strings"
	"testing"
)

func TestParsePage(t *testing.T) {
	page := "**Example 1: To tag**\n\nThe following example tags. ::\n\n    aws ecr tag-resource \\\n        --resource-arn arn:aws:ecr:us-west-2:012345678910:repository/hello \\\n" +
		"        --tags Key=Stage,Value=Integ\n\nThis command produces no output.\n\n" +
		"**Example 2: To put**\n\nThe following example puts. ::\n\n    aws ecr put-lifecycle-policy --repository-name \"a/b\" --lifecycle-policy-text file://<dir>/policy.json\n\n" +
		"Contents of ``policy.json``::\n\n    {\"rules\": []}\n\nOutput::\n\n    {\n        \"registryId\": \"012345678910\"\n    }\n\n" +
		"**Example 3: To pipe**\n\nThe following example pipes. ::\n\n    aws ecr get-login-password | docker login\n"
	ex := ParsePage("ecr", "mixed", page)
	if len(ex) != 3 {
		t.Fatalf("parsed %d examples: %+v", len(ex), ex)
	}
	if ex[0].ID != "ecr/mixed#1" || strings.Join(ex[0].Args, " ") != "ecr tag-resource --resource-arn arn:aws:ecr:us-west-2:012345678910:repository/hello --tags Key=Stage,Value=Integ" ||
		!ex[0].Silent || ex[0].Output != "" {
		t.Errorf("example 1 = %+v", ex[0])
	}
	if strings.Join(ex[1].Args, " ") != "ecr put-lifecycle-policy --repository-name a/b --lifecycle-policy-text file://policy.json" ||
		ex[1].Files["policy.json"] != `{"rules": []}` || ex[1].Output != "{\n    \"registryId\": \"012345678910\"\n}" || ex[1].Silent {
		t.Errorf("example 2 = %+v", ex[1])
	}
	if ex[2].Unrunnable == "" {
		t.Errorf("a piped command is runnable: %+v", ex[2])
	}
}

func TestCompare(t *testing.T) {
	aws := `{"cluster": {"clusterArn": "arn:aws:ecs:us-west-2:012345678910:cluster/MyCluster", "createdAt": 1565128275.0,
		"tags": [], "settings": [{"name": "a", "value": "1"}, {"name": "b", "value": "2"}],
		"taskArn": "arn:aws:ecs:us-west-2:012345678910:task/MyCluster/4d590253bb114126b7afa7b58aaaaaaa",
		"uri": "012345678910.dkr.ecr.us-west-2.amazonaws.com/web", "imageDigest": "sha256:19665f1e6d1e50"}}`
	for _, tc := range []struct {
		name, got, want string
	}{
		{"equal after normalisation", `{"cluster": {"clusterArn": "arn:aws:ecs:test-4:123456789012:cluster/MyCluster", "createdAt": "2026-12-06T10:00:00+00:00",
			"tags": [], "settings": [{"name": "b", "value": "2"}, {"name": "a", "value": "1"}], "extra": true,
			"taskArn": "arn:aws:ecs:test-4:123456789012:task/MyCluster/0123456789abcdef0123456789abcdef",
			"uri": "127.0.0.1:4566/web", "imageDigest": "sha256:aaaa"}}`, ""},
		{"a name differs", strings.Replace(aws, "cluster/MyCluster", "cluster/Other", 1), "cluster.clusterArn: want"},
		{"an empty list is missing", strings.Replace(aws, `"tags": [],`, "", 1), "cluster.tags: missing"},
		{"a list is longer", strings.Replace(aws, `"tags": []`, `"tags": [{"key": "k"}]`, 1), "cluster.tags: want 0 items, got 1"},
		{"a list item differs", strings.Replace(aws, `"value": "2"`, `"value": "3"`, 1), "cluster.settings[1].value: want"},
	} {
		d := Compare(aws, false, tc.got)
		if (tc.want == "" && d != "") || (tc.want != "" && !strings.HasPrefix(d, tc.want)) {
			t.Errorf("%s: Compare = %q, want prefix %q", tc.name, d, tc.want)
		}
	}
	if d := Compare("", true, `{"x": 1}`); d == "" {
		t.Error("output where the page says there is none passed")
	}
	if d := Compare("", false, `{"x": 1}`); d != "" {
		t.Errorf("a page that shows no output: %q", d)
	}
	if d := Compare("<password>", false, ""); d == "" {
		t.Error("no output where the page shows text passed")
	}
}
