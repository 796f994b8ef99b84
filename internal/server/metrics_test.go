package server_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/agent/agenttest"
	"github.com/gantry-dev/gantry/internal/agent/simrt"
	gt "github.com/gantry-dev/gantry/internal/gantrytest"
)

// An operator's `curl /metrics` shows the API calls by action and code, the
// tasks placed and by status, and the agents connected, in Prometheus's
// text format, without credentials.
func TestMetricsShowCallsTasksAndAgents(t *testing.T) {
	env, err := gt.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	ctx := context.Background()
	c := env.ECS()
	gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("m")}))(t)
	_, err = c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("nope"), Services: []string{"x"}})
	gt.WantCode(t, err, "ClusterNotFoundException")

	startFleet(t, env, c.Options().Region, "m", 2)
	waitFor(t, "2 agents connected", func() bool {
		out, err := c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("m"), Filter: aws.String("agentConnected == true")})
		return err == nil && len(out.ContainerInstanceArns) == 2
	})
	gt.Must(c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("app"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("sim/app"), Memory: aws.Int32(64)}}}))(t)
	run := gt.Must(c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("m"), TaskDefinition: aws.String("app"), Count: aws.Int32(3)}))(t)
	if len(run.Tasks) != 3 {
		t.Fatalf("RunTask placed %d tasks, want 3 (failures %v)", len(run.Tasks), run.Failures)
	}
	var arns []string
	for _, task := range run.Tasks {
		arns = append(arns, aws.ToString(task.TaskArn))
	}
	waitFor(t, "3 tasks RUNNING", func() bool {
		out, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("m"), Tasks: arns})
		if err != nil {
			return false
		}
		for _, task := range out.Tasks {
			if aws.ToString(task.LastStatus) != "RUNNING" {
				return false
			}
		}
		return len(out.Tasks) == 3
	})
	// EC2 calls (Query protocol: the action is in the form) are counted by
	// action and code too.
	e2 := env.EC2()
	gt.Must(e2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}))(t)
	_, err = e2.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: aws.String("vpc-0123456789abcdef0")})
	gt.WantCode(t, err, "InvalidVpcID.NotFound")
	// A call naming no real action is counted, but not under its name.
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/", strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "Made.Up"+strings.Repeat("x", 10))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}

	resp, err := http.Get(env.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s\n%s", resp.Status, body)
	}
	text := string(body)
	for _, want := range []string{
		`gantry_api_requests_total{action="CreateCluster",code="OK",service="AmazonEC2ContainerServiceV20141113"} 1`,
		`gantry_api_requests_total{action="DescribeServices",code="ClusterNotFoundException",service="AmazonEC2ContainerServiceV20141113"} 1`,
		`gantry_api_requests_total{action="RunTask",code="OK",service="AmazonEC2ContainerServiceV20141113"} 1`,
		`gantry_api_request_duration_seconds_count{action="RunTask",service="AmazonEC2ContainerServiceV20141113"} 1`,
		`gantry_tasks_placed_total 3`,
		`gantry_tasks{status="RUNNING"} 3`,
		`gantry_container_instances 2`,
		`gantry_agents_connected 2`,
		`gantry_store_up 1`,
		`gantry_api_requests_total{action="DescribeVpcs",code="OK",service="ec2"} 1`,
		`gantry_api_requests_total{action="DeleteVpc",code="InvalidVpcID.NotFound",service="ec2"} 1`,
		`action="unknown"`,
		`etcd_disk_wal_fsync_duration_seconds`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, "Made.Up") || strings.Contains(text, "Upxxxxxxxxxx") {
		t.Errorf("/metrics labels an unknown target by its name")
	}
	if t.Failed() {
		os.WriteFile(t.TempDir()+"/metrics.txt", body, 0o600)
		t.Logf("/metrics:\n%s", grep(text, "gantry_"))
	}
}

// startFleet runs n simulated instances in cluster until the test ends.
func startFleet(t *testing.T, env *gt.Env, region, cluster string, n int) {
	t.Helper()
	cfg := agent.Default()
	cfg.Endpoint, cfg.Cluster, cfg.Region = env.URL, cluster, region
	cfg.DataDir = t.TempDir()
	cfg.AccessKeyID, cfg.SecretAccessKey = gt.KeyID, gt.KeySecret
	cfg.RuntimeName, cfg.CheckpointInterval = "sim", time.Second
	cfg.StopTimeout = time.Second
	cfg.Logger = agenttest.Logger()
	opts := simrt.Default()
	opts.StartDelay = 10 * time.Millisecond
	opts.CPUUnits, opts.MemoryMiB = 2048, 4096
	fctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.RunFleet(fctx, cfg, n, []string{"a"}, opts) }()
	t.Cleanup(func() { stop(); <-done })
}

func grep(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
