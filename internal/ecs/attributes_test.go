package ecs_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	gt "github.com/gantry-dev/gantry/internal/gantrytest"
)

// listAttributes returns every attribute ListAttributes gives for the
// filter, as "<instance id>:<name>=<value>", walking pages of size.
func listAttributes(t *testing.T, c *ecs.Client, in ecs.ListAttributesInput, size int32) []string {
	t.Helper()
	in.TargetType = types.TargetTypeContainerInstance
	in.MaxResults = aws.Int32(size)
	var out []string
	p := ecs.NewListAttributesPaginator(c, &in)
	for p.HasMorePages() {
		page := gt.Must(p.NextPage(context.Background()))(t)
		if len(page.Attributes) > int(size) {
			t.Fatalf("page of %d > maxResults %d", len(page.Attributes), size)
		}
		for _, a := range page.Attributes {
			if a.TargetType != types.TargetTypeContainerInstance || !strings.Contains(aws.ToString(a.TargetId), ":container-instance/") {
				t.Fatalf("listed attribute %+v", a)
			}
			out = append(out, idOf(aws.ToString(a.TargetId))+":"+aws.ToString(a.Name)+"="+aws.ToString(a.Value))
		}
	}
	return out
}

func describeOne(t *testing.T, c *ecs.Client, cluster, arn string) types.ContainerInstance {
	t.Helper()
	d := gt.Must(c.DescribeContainerInstances(context.Background(), &ecs.DescribeContainerInstancesInput{Cluster: aws.String(cluster), ContainerInstances: []string{arn}}))(t)
	if len(d.ContainerInstances) != 1 {
		t.Fatalf("describe %s = %+v", arn, d)
	}
	return d.ContainerInstances[0]
}

func TestPutAndDeleteAttributes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	ci := register(t, c, "prod")
	arn := aws.ToString(ci.ContainerInstanceArn)
	id := idOf(arn)

	// By ARN, and by id with the target type; a value is optional.
	put := gt.Must(c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("prod"), Attributes: []types.Attribute{
		{Name: aws.String("rack"), Value: aws.String("r1"), TargetId: aws.String(arn)},
		{Name: aws.String("gpu"), TargetId: aws.String(id), TargetType: types.TargetTypeContainerInstance},
		{Name: aws.String("owner"), Value: aws.String("ops@example.com:team/a b"), TargetId: aws.String(arn)},
	}}))(t)
	if len(put.Attributes) != 3 {
		t.Fatalf("put returned %+v", put.Attributes)
	}
	got := describeOne(t, c, "prod", arn)
	if v, ok := attr(got, "rack"); !ok || v != "r1" {
		t.Fatalf("attributes = %+v", got.Attributes)
	}
	if _, ok := attr(got, "gpu"); !ok {
		t.Fatalf("attribute without value missing: %+v", got.Attributes)
	}
	if got.Version != ci.Version+1 {
		t.Fatalf("version = %d, want %d (one change per call)", got.Version, ci.Version+1)
	}
	// A put replaces the attribute of the same name.
	gt.Must(c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("prod"), Attributes: []types.Attribute{
		{Name: aws.String("rack"), Value: aws.String("r2"), TargetId: aws.String(arn)},
	}}))(t)
	if l := listAttributes(t, c, ecs.ListAttributesInput{Cluster: aws.String("prod"), AttributeName: aws.String("rack")}, 100); !slices.Equal(l, []string{id + ":rack=r2"}) {
		t.Fatalf("rack = %v", l)
	}
	if l := listAttributes(t, c, ecs.ListAttributesInput{Cluster: aws.String("prod"), AttributeName: aws.String("ecs.os-type"), AttributeValue: aws.String("linux")}, 100); len(l) != 1 {
		t.Fatalf("ecs.os-type=linux = %v", l)
	}
	if l := listAttributes(t, c, ecs.ListAttributesInput{Cluster: aws.String("prod"), AttributeName: aws.String("rack"), AttributeValue: aws.String("r1")}, 100); len(l) != 0 {
		t.Fatalf("rack=r1 after replacement = %v", l)
	}

	// Delete, including one the instance does not have.
	del := gt.Must(c.DeleteAttributes(ctx, &ecs.DeleteAttributesInput{Cluster: aws.String("prod"), Attributes: []types.Attribute{
		{Name: aws.String("rack"), TargetId: aws.String(arn)},
		{Name: aws.String("never-set"), TargetId: aws.String(id), TargetType: types.TargetTypeContainerInstance},
	}}))(t)
	if len(del.Attributes) != 2 {
		t.Fatalf("delete returned %+v", del.Attributes)
	}
	got = describeOne(t, c, "prod", arn)
	if _, ok := attr(got, "rack"); ok {
		t.Fatalf("rack not deleted: %+v", got.Attributes)
	}
	if _, ok := attr(got, "gpu"); !ok {
		t.Fatalf("gpu deleted too: %+v", got.Attributes)
	}
	// Deleting only attributes it does not have changes nothing.
	before := got.Version
	gt.Must(c.DeleteAttributes(ctx, &ecs.DeleteAttributesInput{Cluster: aws.String("prod"), Attributes: []types.Attribute{{Name: aws.String("rack"), TargetId: aws.String(arn)}}}))(t)
	if v := describeOne(t, c, "prod", arn).Version; v != before {
		t.Fatalf("no-op delete bumped version %d -> %d", before, v)
	}
	// Deregistered instances are not listed.
	gt.Must(c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("prod"), ContainerInstance: aws.String(arn)}))(t)
	if l := listAttributes(t, c, ecs.ListAttributesInput{Cluster: aws.String("prod")}, 100); len(l) != 0 {
		t.Fatalf("attributes of a deregistered instance listed: %v", l)
	}
	_, err := c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("prod"), Attributes: []types.Attribute{{Name: aws.String("rack"), TargetId: aws.String(arn)}}})
	gt.WantCode(t, err, "TargetNotFoundException")
}

func TestAttributeLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	a := register(t, c, "prod") // one custom attribute: stack=prod
	b := *gt.Must(c.RegisterContainerInstance(ctx, agentRegistration("prod")))(t).ContainerInstance
	arnA, arnB := aws.ToString(a.ContainerInstanceArn), aws.ToString(b.ContainerInstanceArn)
	custom := func(arn string, from, n int) []types.Attribute {
		var out []types.Attribute
		for i := from; i < from+n; i++ {
			out = append(out, types.Attribute{Name: aws.String(fmt.Sprint("k", i)), Value: aws.String("v"), TargetId: aws.String(arn)})
		}
		return out
	}
	// Nine more make ten: the limit.
	gt.Must(c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("prod"), Attributes: custom(arnA, 0, 9)}))(t)
	_, err := c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("prod"), Attributes: custom(arnA, 9, 1)})
	gt.WantCode(t, err, "AttributeLimitExceededException")
	// Replacing one at the limit is fine; agent-style attributes do not count.
	gt.Must(c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("prod"), Attributes: []types.Attribute{
		{Name: aws.String("k0"), Value: aws.String("w"), TargetId: aws.String(arnA)},
		{Name: aws.String("ecs.extra"), Value: aws.String("x"), TargetId: aws.String(arnA)},
	}}))(t)

	// All or nothing: B's attribute is not written when A's would exceed
	// the limit, nor when a target is unknown.
	mixed := append(custom(arnB, 100, 1), custom(arnA, 9, 1)...)
	_, err = c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("prod"), Attributes: mixed})
	gt.WantCode(t, err, "AttributeLimitExceededException")
	ghost := strings.Replace(arnA, idOf(arnA), strings.Repeat("d", 32), 1)
	mixed = append(custom(arnB, 100, 1), custom(ghost, 0, 1)...)
	_, err = c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("prod"), Attributes: mixed})
	gt.WantCode(t, err, "TargetNotFoundException")
	_, err = c.DeleteAttributes(ctx, &ecs.DeleteAttributesInput{Cluster: aws.String("prod"), Attributes: append(custom(arnA, 0, 1), custom(ghost, 0, 1)...)})
	gt.WantCode(t, err, "TargetNotFoundException")
	if _, ok := attr(describeOne(t, c, "prod", arnB), "k100"); ok {
		t.Fatalf("a failed call wrote to its other target")
	}
	if v, _ := attr(describeOne(t, c, "prod", arnA), "k0"); v != "w" {
		t.Fatalf("a failed delete removed k0 (now %q)", v)
	}
}

func TestAttributeErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	ci := register(t, c, "prod")
	arn := aws.ToString(ci.ContainerInstanceArn)
	putOne := func(a types.Attribute) func() error {
		return func() error {
			_, err := c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("prod"), Attributes: []types.Attribute{a}})
			return err
		}
	}
	eleven := make([]types.Attribute, 11)
	for i := range eleven {
		eleven[i] = types.Attribute{Name: aws.String(fmt.Sprint("n", i)), TargetId: aws.String(arn)}
	}
	cases := []struct {
		name string
		call func() error
		code string
	}{
		{"11 in one call", func() error {
			_, err := c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("prod"), Attributes: eleven})
			return err
		}, "InvalidParameterException"},
		{"11 deletes in one call", func() error {
			_, err := c.DeleteAttributes(ctx, &ecs.DeleteAttributesInput{Cluster: aws.String("prod"), Attributes: eleven})
			return err
		}, "InvalidParameterException"},
		{"bad name", putOne(types.Attribute{Name: aws.String("a b"), TargetId: aws.String(arn)}), "InvalidParameterException"},
		{"name with colon", putOne(types.Attribute{Name: aws.String("a:b"), TargetId: aws.String(arn)}), "InvalidParameterException"},
		{"name too long", putOne(types.Attribute{Name: aws.String(strings.Repeat("n", 129)), TargetId: aws.String(arn)}), "InvalidParameterException"},
		{"bad value", putOne(types.Attribute{Name: aws.String("x"), Value: aws.String("a;b"), TargetId: aws.String(arn)}), "InvalidParameterException"},
		{"value too long", putOne(types.Attribute{Name: aws.String("x"), Value: aws.String(strings.Repeat("v", 129)), TargetId: aws.String(arn)}), "InvalidParameterException"},
		{"value ending in space", putOne(types.Attribute{Name: aws.String("x"), Value: aws.String("v "), TargetId: aws.String(arn)}), "InvalidParameterException"},
		{"no target", putOne(types.Attribute{Name: aws.String("x")}), "InvalidParameterException"},
		{"short id without target type", putOne(types.Attribute{Name: aws.String("x"), TargetId: aws.String(idOf(arn))}), "InvalidParameterException"},
		{"unknown target type", putOne(types.Attribute{Name: aws.String("x"), TargetId: aws.String(arn), TargetType: "task"}), "InvalidParameterException"},
		{"target not an instance ARN", putOne(types.Attribute{Name: aws.String("x"), TargetId: aws.String("arn:aws:ecs:r:1:cluster/prod")}), "InvalidParameterException"},
		{"unknown target", putOne(types.Attribute{Name: aws.String("x"), TargetId: aws.String(strings.Repeat("e", 32)), TargetType: types.TargetTypeContainerInstance}), "TargetNotFoundException"},
		{"target in another cluster", putOne(types.Attribute{Name: aws.String("x"), TargetId: aws.String(strings.Replace(arn, "/prod/", "/other/", 1))}), "TargetNotFoundException"},
		{"missing cluster", func() error {
			_, err := c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("ghost"), Attributes: []types.Attribute{{Name: aws.String("x"), TargetId: aws.String(arn)}}})
			return err
		}, "ClusterNotFoundException"},
		{"delete in missing cluster", func() error {
			_, err := c.DeleteAttributes(ctx, &ecs.DeleteAttributesInput{Cluster: aws.String("ghost"), Attributes: []types.Attribute{{Name: aws.String("x"), TargetId: aws.String(arn)}}})
			return err
		}, "ClusterNotFoundException"},
		{"list value without name", func() error {
			_, err := c.ListAttributes(ctx, &ecs.ListAttributesInput{Cluster: aws.String("prod"), TargetType: types.TargetTypeContainerInstance, AttributeValue: aws.String("linux")})
			return err
		}, "InvalidParameterException"},
		{"list maxResults 101", func() error {
			_, err := c.ListAttributes(ctx, &ecs.ListAttributesInput{Cluster: aws.String("prod"), TargetType: types.TargetTypeContainerInstance, MaxResults: aws.Int32(101)})
			return err
		}, "InvalidParameterException"},
		{"list other target type", func() error {
			_, err := c.ListAttributes(ctx, &ecs.ListAttributesInput{Cluster: aws.String("prod"), TargetType: "task"})
			return err
		}, "InvalidParameterException"},
		{"list in missing cluster", func() error {
			_, err := c.ListAttributes(ctx, &ecs.ListAttributesInput{Cluster: aws.String("ghost"), TargetType: types.TargetTypeContainerInstance})
			return err
		}, "ClusterNotFoundException"},
		{"list garbage token", func() error {
			_, err := c.ListAttributes(ctx, &ecs.ListAttributesInput{Cluster: aws.String("prod"), TargetType: types.TargetTypeContainerInstance, NextToken: aws.String("garbage")})
			return err
		}, "InvalidParameterException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { gt.WantCode(t, tc.call(), tc.code) })
	}
	// None of the failed calls changed the instance.
	if v := describeOne(t, c, "prod", arn).Version; v != ci.Version {
		t.Fatalf("failed calls changed the instance: version %d -> %d", ci.Version, v)
	}
}

func TestListAttributesPaginates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("big")}))(t)
	gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("other")}))(t)
	gt.Must(c.RegisterContainerInstance(ctx, agentRegistration("other")))(t) // not listed in big
	var ids []string
	var want []string
	for i := range 5 {
		ci := gt.Must(c.RegisterContainerInstance(ctx, agentRegistration("big")))(t).ContainerInstance
		id := idOf(aws.ToString(ci.ContainerInstanceArn))
		ids = append(ids, id)
		// Instance i gets i extra custom attributes.
		if i > 0 {
			var attrs []types.Attribute
			for k := range i {
				attrs = append(attrs, types.Attribute{Name: aws.String(fmt.Sprint("zone", k)), Value: aws.String(fmt.Sprint("z", i)), TargetId: ci.ContainerInstanceArn})
			}
			gt.Must(c.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String("big"), Attributes: attrs}))(t)
		}
	}
	slices.Sort(ids)
	all := listAttributes(t, c, ecs.ListAttributesInput{Cluster: aws.String("big")}, 100)
	// Four attributes per registration, plus 0+1+2+3+4 custom ones.
	if len(all) != 5*4+10 {
		t.Fatalf("listed %d attributes, want 30: %v", len(all), all)
	}
	for _, size := range []int32{1, 3, 4, 7} {
		if got := listAttributes(t, c, ecs.ListAttributesInput{Cluster: aws.String("big")}, size); !slices.Equal(got, all) {
			t.Fatalf("pages of %d listed %v, want %v", size, got, all)
		}
	}
	for _, a := range all {
		id, _, _ := strings.Cut(a, ":")
		if !slices.Contains(ids, id) {
			t.Fatalf("listed an attribute of instance %s, not in cluster big", id)
		}
		if strings.Contains(a, ":zone") {
			want = append(want, a)
		}
	}
	// Filtered by name, across instances.
	if got := listAttributes(t, c, ecs.ListAttributesInput{Cluster: aws.String("big"), AttributeName: aws.String("zone0")}, 2); len(got) != 4 {
		t.Fatalf("zone0 = %v", got)
	}
	if got := listAttributes(t, c, ecs.ListAttributesInput{Cluster: aws.String("big"), AttributeName: aws.String("zone1"), AttributeValue: aws.String("z3")}, 2); len(got) != 1 {
		t.Fatalf("zone1=z3 = %v", got)
	}
	if len(want) != 10 {
		t.Fatalf("custom attributes listed: %v", want)
	}
	// A token of one cluster does not resume a listing of another.
	first := gt.Must(c.ListAttributes(ctx, &ecs.ListAttributesInput{Cluster: aws.String("big"), TargetType: types.TargetTypeContainerInstance, MaxResults: aws.Int32(2)}))(t)
	_, err := c.ListAttributes(ctx, &ecs.ListAttributesInput{Cluster: aws.String("other"), TargetType: types.TargetTypeContainerInstance, NextToken: first.NextToken})
	gt.WantCode(t, err, "InvalidParameterException")
}

func TestConcurrentPutAttributes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	in := agentRegistration("")
	in.Attributes = in.Attributes[:3] // agent attributes only
	ci := gt.Must(c.RegisterContainerInstance(ctx, in))(t).ContainerInstance
	arn := aws.ToString(ci.ContainerInstanceArn)

	// Ten writers on one instance, each its own attribute, twice over: every
	// attribute survives, and the instance's version counts every change.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			_, err := c.PutAttributes(ctx, &ecs.PutAttributesInput{Attributes: []types.Attribute{
				{Name: aws.String(fmt.Sprint("w", i%10)), Value: aws.String(fmt.Sprint("round", i/10)), TargetId: aws.String(arn)},
			}})
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
	got := describeOne(t, c, "default", arn)
	for i := range 10 {
		if _, ok := attr(got, fmt.Sprint("w", i)); !ok {
			t.Fatalf("attribute w%d lost: %+v", i, got.Attributes)
		}
	}
	if len(got.Attributes) != 13 {
		t.Fatalf("%d attributes, want 13: %+v", len(got.Attributes), got.Attributes)
	}
	if got.Version < ci.Version+10 || got.Version > ci.Version+20 {
		t.Fatalf("version %d after 20 puts from %d", got.Version, ci.Version)
	}
}
