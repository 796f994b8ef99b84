package ecs_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	gt "github.com/gantry-dev/gantry/internal/gantrytest"
)

// DiscoverPollEndpoint names the endpoint the caller reached; the agent
// update and ECS Exec are refused with the model's exceptions, after the
// cluster and the target are checked.
func TestAgentCallsAndRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	out := gt.Must(c.DiscoverPollEndpoint(ctx, &ecs.DiscoverPollEndpointInput{}))(t)
	if aws.ToString(out.Endpoint) != env.URL || aws.ToString(out.TelemetryEndpoint) != env.URL {
		t.Fatalf("DiscoverPollEndpoint: %+v, want %s", out, env.URL)
	}

	_, err := c.ExecuteCommand(ctx, &ecs.ExecuteCommandInput{Cluster: aws.String("nope"), Task: aws.String("0123456789abcdef0123456789abcdef"),
		Command: aws.String("sh"), Interactive: true})
	gt.WantCode(t, err, "ClusterNotFoundException")
	simFleet(t, env, c, "exec", 1)
	_, err = c.ExecuteCommand(ctx, &ecs.ExecuteCommandInput{Cluster: aws.String("exec"), Task: aws.String("0123456789abcdef0123456789abcdef"),
		Command: aws.String("sh"), Interactive: true})
	gt.WantCode(t, err, "InvalidParameterException")

	_, err = c.UpdateContainerAgent(ctx, &ecs.UpdateContainerAgentInput{Cluster: aws.String("exec"), ContainerInstance: aws.String("0123456789abcdef0123456789abcdef")})
	gt.WantCode(t, err, "InvalidParameterException")

	simTD(t, c, "exec")
	run := gt.Must(c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("exec"), TaskDefinition: aws.String("exec")}))(t)
	if len(run.Tasks) != 1 {
		t.Fatalf("RunTask: %+v", run.Failures)
	}
	_, err = c.ExecuteCommand(ctx, &ecs.ExecuteCommandInput{Cluster: aws.String("exec"), Task: run.Tasks[0].TaskArn,
		Command: aws.String("sh"), Interactive: true})
	gt.WantCode(t, err, "TargetNotConnectedException")
	_, err = c.UpdateContainerAgent(ctx, &ecs.UpdateContainerAgentInput{Cluster: aws.String("exec"), ContainerInstance: run.Tasks[0].ContainerInstanceArn})
	gt.WantCode(t, err, "NoUpdateAvailableException")
}
