package server_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	gt "github.com/gantry-dev/gantry/internal/gantrytest"
	"github.com/gantry-dev/gantry/internal/server"

	"github.com/gantry-dev/gantry/internal/testlog"
)

// The operator sees in the server's log, at INFO, each service event the
// controller writes (the text DescribeServices shows) and each deployment's
// rollout state as it changes.
func TestServerLogsServiceEventsAndDeployments(t *testing.T) {
	var logs testlog.Buffer
	env, err := gt.Start(func(c *server.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	ctx := context.Background()
	c := env.ECS()
	gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("logs")}))(t)
	startFleet(t, env, c.Options().Region, "logs", 1)
	gt.Must(c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("app"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("sim/app"), Memory: aws.Int32(64)}}}))(t)
	gt.Must(c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("logs"), ServiceName: aws.String("web"),
		TaskDefinition: aws.String("app"), DesiredCount: aws.Int32(2)}))(t)
	var started string
	waitFor(t, "the service's event that it started its tasks", func() bool {
		out, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("logs"), Services: []string{"web"}})
		if err != nil || len(out.Services) == 0 {
			return false
		}
		for _, e := range out.Services[0].Events {
			if strings.Contains(aws.ToString(e.Message), "has started 2 tasks") {
				started = aws.ToString(e.Message)
				return true
			}
		}
		return false
	})
	waitFor(t, "the deployment's COMPLETED in the log", func() bool {
		return strings.Contains(logs.String(), "rollout_state=COMPLETED")
	})
	var eventLine string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `msg="service event"`) && strings.Contains(l, "has started 2 tasks") {
			eventLine = l
		}
	}
	if eventLine == "" {
		t.Fatalf("no INFO line for the event %q in the server log:\n%s", started, logs.String())
	}
	for _, want := range []string{"level=INFO", "cluster=logs", "service=web"} {
		if !strings.Contains(eventLine, want) {
			t.Errorf("the event's log line lacks %s: %s", want, eventLine)
		}
	}
}
