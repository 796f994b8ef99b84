package ecs_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	gt "github.com/gantry-dev/gantry/internal/gantrytest"
)

func tag(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }

// tagList lists the tags of arn as key=value strings, in the order listed.
func tagList(t *testing.T, c *ecs.Client, arn string) []string {
	t.Helper()
	out := gt.Must(c.ListTagsForResource(context.Background(), &ecs.ListTagsForResourceInput{ResourceArn: aws.String(arn)}))(t)
	got := []string{}
	for _, tg := range out.Tags {
		got = append(got, aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
	}
	return got
}

func wantTags(t *testing.T, c *ecs.Client, arn string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if got := tagList(t, c, arn); !slices.Equal(got, want) {
		t.Fatalf("tags of %s = %v, want %v", arn, got, want)
	}
}

func arnIn(c *ecs.Client, resource string) string {
	return "arn:aws:ecs:" + c.Options().Region + ":" + gt.Account + ":" + resource
}

func TestTagCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	arn := aws.ToString(gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{
		ClusterName: aws.String("web"),
		Tags:        []types.Tag{tag("team", "web")},
	}))(t).Cluster.ClusterArn)
	wantTags(t, c, arn, "team=web")

	// TagResource merges: a known key takes the new value in place, new keys follow.
	gt.Must(c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{tag("env", "prod"), tag("team", "api")}}))(t)
	wantTags(t, c, arn, "team=api", "env=prod")
	// An empty list changes nothing; an empty value is a value.
	gt.Must(c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{}}))(t)
	gt.Must(c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{tag("blank", "")}}))(t)
	wantTags(t, c, arn, "team=api", "env=prod", "blank=")

	// DescribeClusters with TAGS sees the same tags.
	d := gt.Must(c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"web"}, Include: []types.ClusterField{types.ClusterFieldTags}}))(t)
	if len(d.Clusters) != 1 || len(d.Clusters[0].Tags) != 3 || aws.ToString(d.Clusters[0].Tags[0].Value) != "api" {
		t.Fatalf("described tags = %+v", d.Clusters)
	}

	// UntagResource removes the keys given; absent keys are fine.
	gt.Must(c.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"team", "never-set"}}))(t)
	wantTags(t, c, arn, "env=prod", "blank=")
	gt.Must(c.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{}}))(t)
	gt.Must(c.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"env", "blank"}}))(t)
	wantTags(t, c, arn)

	// Tagging left the rest of the cluster alone.
	d = gt.Must(c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{arn}}))(t)
	if aws.ToString(d.Clusters[0].Status) != "ACTIVE" || aws.ToString(d.Clusters[0].ClusterName) != "web" {
		t.Fatalf("cluster after tagging = %+v", d.Clusters[0])
	}

	// A deleted cluster cannot be tagged; re-created, it starts without tags.
	gt.Must(c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("web")}))(t)
	_, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{tag("a", "b")}})
	gt.WantCode(t, err, "ClusterNotFoundException")
	_, err = c.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"a"}})
	gt.WantCode(t, err, "ClusterNotFoundException")
	_, err = c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	gt.WantCode(t, err, "ClusterNotFoundException")
	gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("web")}))(t)
	wantTags(t, c, arn)
}

func TestTagLimitAfterMerge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	var first []types.Tag
	for i := range 30 {
		first = append(first, tag(fmt.Sprintf("k%02d", i), "v"))
	}
	arn := aws.ToString(gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("full"), Tags: first}))(t).Cluster.ClusterArn)

	// 25 tags of which 5 overwrite: 30 + 20 = 50, the limit.
	var more []types.Tag
	for i := 25; i < 50; i++ {
		more = append(more, tag(fmt.Sprintf("k%02d", i), "w"))
	}
	gt.Must(c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: more}))(t)
	if n := len(tagList(t, c, arn)); n != 50 {
		t.Fatalf("%d tags after merge, want 50", n)
	}

	// One more key is refused and changes nothing, not even the overwrite beside it.
	_, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{tag("k00", "changed"), tag("k50", "v")}})
	gt.WantCode(t, err, "LimitExceededException")
	got := tagList(t, c, arn)
	if len(got) != 50 || got[0] != "k00=v" {
		t.Fatalf("after refused merge: %d tags, first %s", len(got), got[0])
	}

	// At the limit, overwriting existing keys still works, and so does
	// adding after a removal.
	gt.Must(c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{tag("k00", "changed")}}))(t)
	gt.Must(c.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"k01"}}))(t)
	gt.Must(c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{tag("k50", "v")}}))(t)
	got = tagList(t, c, arn)
	if len(got) != 50 || got[0] != "k00=changed" || got[49] != "k50=v" || slices.Contains(got, "k01=v") {
		t.Fatalf("tags = %v", got)
	}
}

// Concurrent TagResource calls on one resource all land: each write is
// checked against the revision it read and retried on conflict.
func TestTagResourceConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	arn := aws.ToString(gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("busy")}))(t).Cluster.ClusterArn)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			_, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{tag(fmt.Sprint("k", i), "v")}})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := tagList(t, c, arn); len(got) != 20 {
		t.Fatalf("%d tags after 20 concurrent TagResource calls: %v", len(got), got)
	}
}

func TestTagErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")}))(t)
	prod := arnIn(c, "cluster/prod")
	region := c.Options().Region
	tagOn := func(arn string, tags ...types.Tag) func() error {
		return func() error {
			_, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: tags})
			return err
		}
	}
	untag := func(arn string, keys ...string) func() error {
		return func() error {
			_, err := c.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: keys})
			return err
		}
	}
	list := func(arn string) func() error {
		return func() error {
			_, err := c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
			return err
		}
	}
	var many []types.Tag
	var manyKeys []string
	for i := range 51 {
		many = append(many, tag(fmt.Sprint("k", i), "v"))
		manyKeys = append(manyKeys, fmt.Sprint("k", i))
	}
	ok := tag("a", "b")
	cases := []struct {
		name string
		call func() error
		code string
	}{
		{"not an ARN", tagOn("prod", ok), "InvalidParameterException"},
		{"ARN without resource id", tagOn(arnIn(c, "cluster"), ok), "InvalidParameterException"},
		{"ARN of another service", list("arn:aws:iam::" + gt.Account + ":role/x"), "InvalidParameterException"},
		{"ARN of another partition", list("arn:aws-cn:ecs:" + region + ":" + gt.Account + ":cluster/prod"), "InvalidParameterException"},
		{"ARN of another account", tagOn("arn:aws:ecs:"+region+":999999999999:cluster/prod", ok), "InvalidParameterException"},
		{"ARN of another region", untag("arn:aws:ecs:elsewhere-1:"+gt.Account+":cluster/prod", "a"), "InvalidParameterException"},
		{"malformed cluster name", list(arnIn(c, "cluster/no/such")), "InvalidParameterException"},
		{"service ARN in the short form", tagOn(arnIn(c, "service/web"), ok), "InvalidParameterException"},
		{"missing service: tag", tagOn(arnIn(c, "service/prod/web"), ok), "ResourceNotFoundException"},
		{"missing service: list", list(arnIn(c, "service/prod/web")), "ResourceNotFoundException"},
		{"task not taggable yet", list(arnIn(c, "task/prod/0123456789abcdef0123456789abcdef")), "InvalidParameterException"},
		{"unknown resource type", tagOn(arnIn(c, "widget/x"), ok), "InvalidParameterException"},
		{"task definition without revision", list(arnIn(c, "task-definition/web")), "InvalidParameterException"},
		{"task definition revision 0", list(arnIn(c, "task-definition/web:0")), "InvalidParameterException"},
		{"container instance without cluster", list(arnIn(c, "container-instance/0123456789abcdef0123456789abcdef")), "InvalidParameterException"},
		{"container instance bad id", list(arnIn(c, "container-instance/prod/xyz")), "InvalidParameterException"},
		{"missing cluster: tag", tagOn(arnIn(c, "cluster/ghost"), ok), "ClusterNotFoundException"},
		{"missing cluster: untag", untag(arnIn(c, "cluster/ghost"), "a"), "ClusterNotFoundException"},
		{"missing cluster: list", list(arnIn(c, "cluster/ghost")), "ClusterNotFoundException"},
		{"missing task definition: tag", tagOn(arnIn(c, "task-definition/ghost:1"), ok), "ResourceNotFoundException"},
		{"missing task definition: untag", untag(arnIn(c, "task-definition/ghost:1"), "a"), "ResourceNotFoundException"},
		{"missing task definition: list", list(arnIn(c, "task-definition/ghost:1")), "ResourceNotFoundException"},
		{"missing container instance: tag", tagOn(arnIn(c, "container-instance/prod/0123456789abcdef0123456789abcdef"), ok), "ResourceNotFoundException"},
		{"missing container instance: list", list(arnIn(c, "container-instance/prod/0123456789abcdef0123456789abcdef")), "ResourceNotFoundException"},
		{"aws: tag key", tagOn(prod, tag("aws:owner", "me")), "InvalidParameterException"},
		{"AWS: tag key", tagOn(prod, tag("AWS:owner", "me")), "InvalidParameterException"},
		{"empty tag key", tagOn(prod, tag("", "v")), "InvalidParameterException"},
		{"duplicate tag key", tagOn(prod, tag("a", "1"), tag("a", "2")), "InvalidParameterException"},
		{"tag value too long", tagOn(prod, tag("a", string(make([]byte, 257)))), "InvalidParameterException"},
		{"51 tags in one request", tagOn(prod, many...), "InvalidParameterException"},
		{"untag aws: key", untag(prod, "aws:cloudformation:stack-name"), "InvalidParameterException"},
		{"untag 51 keys", untag(prod, manyKeys...), "InvalidParameterException"},
		{"resourceArn missing", list(""), "InvalidParameterException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { gt.WantCode(t, tc.call(), tc.code) })
	}
	// None of the refused calls tagged the cluster.
	wantTags(t, c, prod)
}

func TestTagTaskDefinition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	reg, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("web"),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name: aws.String("app"), Image: aws.String("busybox"), Memory: aws.Int32(64), Essential: aws.Bool(true),
		}},
		Tags: []types.Tag{tag("team", "web")},
	})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(reg.TaskDefinition.TaskDefinitionArn)
	if arn != arnIn(c, "task-definition/web:1") {
		t.Fatalf("task definition ARN = %s", arn)
	}
	wantTags(t, c, arn, "team=web")
	gt.Must(c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{tag("env", "prod"), tag("team", "api")}}))(t)
	wantTags(t, c, arn, "team=api", "env=prod")
	d := gt.Must(c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(arn), Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags}}))(t)
	if len(d.Tags) != 2 || aws.ToString(d.TaskDefinition.Family) != "web" || len(d.TaskDefinition.ContainerDefinitions) != 1 {
		t.Fatalf("described after tagging: %+v, tags %+v", d.TaskDefinition, d.Tags)
	}
	gt.Must(c.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"team"}}))(t)
	wantTags(t, c, arn, "env=prod")
	// The next revision is another resource.
	_, err = c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(arnIn(c, "task-definition/web:2"))})
	gt.WantCode(t, err, "ResourceNotFoundException")

	// A deregistered (INACTIVE) revision can still be described, and tagged;
	// a deleted one is gone.
	gt.Must(c.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(arn)}))(t)
	gt.Must(c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{tag("retired", "yes")}}))(t)
	wantTags(t, c, arn, "env=prod", "retired=yes")
	gt.Must(c.DeleteTaskDefinitions(ctx, &ecs.DeleteTaskDefinitionsInput{TaskDefinitions: []string{arn}}))(t)
	_, err = c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{tag("a", "b")}})
	gt.WantCode(t, err, "ResourceNotFoundException")
	_, err = c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	gt.WantCode(t, err, "ResourceNotFoundException")
}

func TestTagContainerInstance(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("hosts")}))(t)
	reg, err := c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{
		Cluster: aws.String("hosts"),
		TotalResources: []types.Resource{
			{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: 2048},
			{Name: aws.String("MEMORY"), Type: aws.String("INTEGER"), IntegerValue: 4096},
		},
		Tags: []types.Tag{tag("rack", "a1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(reg.ContainerInstance.ContainerInstanceArn)
	wantTags(t, c, arn, "rack=a1")
	gt.Must(c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{tag("rack", "b2"), tag("gpu", "no")}}))(t)
	wantTags(t, c, arn, "rack=b2", "gpu=no")
	gt.Must(c.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"gpu"}}))(t)
	wantTags(t, c, arn, "rack=b2")
	d := gt.Must(c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{
		Cluster: aws.String("hosts"), ContainerInstances: []string{arn}, Include: []types.ContainerInstanceField{types.ContainerInstanceFieldTags},
	}))(t)
	if len(d.ContainerInstances) != 1 || len(d.ContainerInstances[0].Tags) != 1 || aws.ToString(d.ContainerInstances[0].Status) != "ACTIVE" {
		t.Fatalf("described after tagging: %+v", d.ContainerInstances)
	}
	// Once deregistered, the instance is gone for tagging.
	gt.Must(c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("hosts"), ContainerInstance: aws.String(arn)}))(t)
	_, err = c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{tag("a", "b")}})
	gt.WantCode(t, err, "ResourceNotFoundException")
}
