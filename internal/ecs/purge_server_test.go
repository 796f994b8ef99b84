package ecs_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	gt "github.com/gantry-dev/gantry/internal/gantrytest"
)

// A server that keeps stopped tasks for a moment purges them (its purge
// loop wins the election on its own), and leaves running ones alone.
func TestServerPurgesStoppedTasks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env, err := gt.Start(gt.WithPurge(200*time.Millisecond, 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	c := env.ECS()
	a := startAgent(t, env, c, "prod", 4096, 4096)
	registerTD(t, c, "app")
	run := gt.Must(c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("app"), Count: aws.Int32(2)}))(t)
	stopped, running := aws.ToString(run.Tasks[0].TaskArn), aws.ToString(run.Tasks[1].TaskArn)
	a.report(stopped, "STOPPED")
	a.report(running, "RUNNING")
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := gt.Must(c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("prod"), Tasks: []string{stopped, running}}))(t)
		if len(d.Failures) == 1 && aws.ToString(d.Failures[0].Arn) == stopped {
			if len(d.Tasks) != 1 || aws.ToString(d.Tasks[0].TaskArn) != running {
				t.Fatalf("after the purge: %+v", d.Tasks)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stopped task not purged: %+v", d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
