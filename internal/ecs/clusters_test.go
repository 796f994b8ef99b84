package ecs_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	gt "github.com/gantry-dev/gantry/internal/gantrytest"
)

func TestClusterLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()

	out := gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{
		ClusterName: aws.String("prod"),
		Tags:        []types.Tag{{Key: aws.String("team"), Value: aws.String("web")}},
		Settings:    []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String("enabled")}},
	}))(t)
	cl := out.Cluster
	if aws.ToString(cl.ClusterName) != "prod" || aws.ToString(cl.Status) != "ACTIVE" {
		t.Fatalf("created cluster = %+v", cl)
	}
	wantARN := "arn:aws:ecs:" + c.Options().Region + ":" + gt.Account + ":cluster/prod"
	if aws.ToString(cl.ClusterArn) != wantARN {
		t.Fatalf("arn = %s, want %s", aws.ToString(cl.ClusterArn), wantARN)
	}

	// Creating it again returns the same cluster, unchanged.
	again := gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")}))(t)
	if aws.ToString(again.Cluster.ClusterArn) != wantARN || len(again.Cluster.Tags) != 1 {
		t.Fatalf("re-create = %+v", again.Cluster)
	}

	// Describe by name and ARN; include controls settings, tags, statistics.
	d := gt.Must(c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"prod", wantARN, "ghost"}}))(t)
	if len(d.Clusters) != 2 || len(d.Failures) != 1 {
		t.Fatalf("describe = %d clusters, %d failures", len(d.Clusters), len(d.Failures))
	}
	if f := d.Failures[0]; aws.ToString(f.Reason) != "MISSING" || aws.ToString(f.Arn) != "arn:aws:ecs:"+c.Options().Region+":"+gt.Account+":cluster/ghost" {
		t.Fatalf("failure = %+v", f)
	}
	if len(d.Clusters[0].Tags) != 0 || len(d.Clusters[0].Settings) != 0 || len(d.Clusters[0].Statistics) != 0 {
		t.Fatalf("describe without include returned extras: %+v", d.Clusters[0])
	}
	d = gt.Must(c.DescribeClusters(ctx, &ecs.DescribeClustersInput{
		Clusters: []string{"prod"},
		Include:  []types.ClusterField{types.ClusterFieldTags, types.ClusterFieldSettings, types.ClusterFieldStatistics},
	}))(t)
	got := d.Clusters[0]
	if len(got.Tags) != 1 || aws.ToString(got.Tags[0].Value) != "web" {
		t.Fatalf("tags = %+v", got.Tags)
	}
	if len(got.Settings) != 1 || aws.ToString(got.Settings[0].Value) != "enabled" {
		t.Fatalf("settings = %+v", got.Settings)
	}
	if len(got.Statistics) == 0 {
		t.Fatalf("no statistics")
	}

	// Update settings.
	u := gt.Must(c.UpdateClusterSettings(ctx, &ecs.UpdateClusterSettingsInput{
		Cluster:  aws.String("prod"),
		Settings: []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String("disabled")}},
	}))(t)
	if aws.ToString(u.Cluster.Settings[0].Value) != "disabled" {
		t.Fatalf("settings after update = %+v", u.Cluster.Settings)
	}
	u2 := gt.Must(c.UpdateCluster(ctx, &ecs.UpdateClusterInput{
		Cluster: aws.String(wantARN),
		Configuration: &types.ClusterConfiguration{ExecuteCommandConfiguration: &types.ExecuteCommandConfiguration{
			Logging: types.ExecuteCommandLoggingDefault,
		}},
	}))(t)
	if u2.Cluster.Configuration == nil || u2.Cluster.Configuration.ExecuteCommandConfiguration.Logging != types.ExecuteCommandLoggingDefault {
		t.Fatalf("configuration after update = %+v", u2.Cluster.Configuration)
	}

	// Delete: INACTIVE, gone from the list, still describable, then not found.
	del := gt.Must(c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("prod")}))(t)
	if aws.ToString(del.Cluster.Status) != "INACTIVE" {
		t.Fatalf("deleted status = %s", aws.ToString(del.Cluster.Status))
	}
	l := gt.Must(c.ListClusters(ctx, &ecs.ListClustersInput{}))(t)
	if len(l.ClusterArns) != 0 {
		t.Fatalf("list after delete = %v", l.ClusterArns)
	}
	d = gt.Must(c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"prod"}}))(t)
	if len(d.Clusters) != 1 || aws.ToString(d.Clusters[0].Status) != "INACTIVE" {
		t.Fatalf("describe after delete = %+v", d)
	}
	_, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("prod")})
	gt.WantCode(t, err, "ClusterNotFoundException")
	_, err = c.UpdateClusterSettings(ctx, &ecs.UpdateClusterSettingsInput{
		Cluster:  aws.String("prod"),
		Settings: []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String("enabled")}},
	})
	gt.WantCode(t, err, "ClusterNotFoundException")

	// Re-creating an INACTIVE cluster makes it ACTIVE again, without the old tags.
	re := gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")}))(t)
	if aws.ToString(re.Cluster.Status) != "ACTIVE" || len(re.Cluster.Tags) != 0 {
		t.Fatalf("re-created = %+v", re.Cluster)
	}
}

func TestDefaultCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	// No default cluster until it is created.
	d := gt.Must(c.DescribeClusters(ctx, &ecs.DescribeClustersInput{}))(t)
	if len(d.Clusters) != 0 || len(d.Failures) != 1 || aws.ToString(d.Failures[0].Reason) != "MISSING" {
		t.Fatalf("describe default before create = %+v", d)
	}
	out := gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{}))(t)
	if aws.ToString(out.Cluster.ClusterName) != "default" {
		t.Fatalf("create without name made %s", aws.ToString(out.Cluster.ClusterName))
	}
	d = gt.Must(c.DescribeClusters(ctx, &ecs.DescribeClustersInput{}))(t)
	if len(d.Clusters) != 1 || aws.ToString(d.Clusters[0].ClusterName) != "default" {
		t.Fatalf("describe default = %+v", d)
	}
}

func TestClusterErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	cases := []struct {
		name string
		call func() error
		code string
	}{
		{"bad name", func() error {
			_, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("no spaces")})
			return err
		}, "InvalidParameterException"},
		{"name too long", func() error {
			_, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(string(make([]byte, 256)))})
			return err
		}, "InvalidParameterException"},
		{"aws: tag", func() error {
			_, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("x"), Tags: []types.Tag{{Key: aws.String("aws:owner"), Value: aws.String("me")}}})
			return err
		}, "InvalidParameterException"},
		{"51 tags", func() error {
			var tags []types.Tag
			for i := range 51 {
				tags = append(tags, types.Tag{Key: aws.String(fmt.Sprint("k", i)), Value: aws.String("v")})
			}
			_, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("x"), Tags: tags})
			return err
		}, "InvalidParameterException"},
		{"bad setting value", func() error {
			_, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("x"), Settings: []types.ClusterSetting{{Name: types.ClusterSettingNameContainerInsights, Value: aws.String("maybe")}}})
			return err
		}, "InvalidParameterException"},
		{"bad setting name", func() error {
			_, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("x"), Settings: []types.ClusterSetting{{Name: "colour", Value: aws.String("enabled")}}})
			return err
		}, "InvalidParameterException"},
		{"unknown capacity provider", func() error {
			_, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("x"), CapacityProviders: []string{"nope"}})
			return err
		}, "InvalidParameterException"},
		{"update missing cluster", func() error {
			_, err := c.UpdateCluster(ctx, &ecs.UpdateClusterInput{Cluster: aws.String("ghost")})
			return err
		}, "ClusterNotFoundException"},
		{"delete missing cluster", func() error {
			_, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("ghost")})
			return err
		}, "ClusterNotFoundException"},
		{"cluster ARN of another account", func() error {
			_, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("arn:aws:ecs:" + c.Options().Region + ":999999999999:cluster/x")})
			return err
		}, "ClusterNotFoundException"},
		{"maxResults too large", func() error {
			_, err := c.ListClusters(ctx, &ecs.ListClustersInput{MaxResults: aws.Int32(101)})
			return err
		}, "InvalidParameterException"},
		{"garbage nextToken", func() error {
			_, err := c.ListClusters(ctx, &ecs.ListClustersInput{NextToken: aws.String("garbage")})
			return err
		}, "InvalidParameterException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { gt.WantCode(t, tc.call(), tc.code) })
	}
	// None of the failed creates left a cluster behind.
	l := gt.Must(c.ListClusters(ctx, &ecs.ListClustersInput{}))(t)
	if len(l.ClusterArns) != 0 {
		t.Fatalf("failed creates left clusters: %v", l.ClusterArns)
	}
}

func TestListClustersPaginates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := gt.Shared(t).ECS()
	var want []string
	for i := range 23 {
		name := fmt.Sprintf("c%02d", i)
		gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(name)}))(t)
		want = append(want, name)
	}
	// Delete a few: INACTIVE clusters are skipped without shortening pages.
	for _, n := range []string{"c03", "c04", "c10"} {
		gt.Must(c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String(n)}))(t)
		want = slices.DeleteFunc(want, func(s string) bool { return s == n })
	}
	var got []string
	pages := 0
	p := ecs.NewListClustersPaginator(c, &ecs.ListClustersInput{MaxResults: aws.Int32(7)})
	for p.HasMorePages() {
		out := gt.Must(p.NextPage(ctx))(t)
		pages++
		if len(out.ClusterArns) > 7 {
			t.Fatalf("page of %d > maxResults 7", len(out.ClusterArns))
		}
		for _, a := range out.ClusterArns {
			got = append(got, a[len(a)-3:])
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	if pages != 3 {
		t.Fatalf("%d pages, want 3 (20 clusters by 7)", pages)
	}
}
