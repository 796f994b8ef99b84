package ecs_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	gt "github.com/gantry-dev/gantry/internal/gantrytest"
)

// A user protects two of a service's three tasks from scale-in and scales
// the service to zero: the unprotected task stops, the protected ones keep
// running and GetTaskProtection shows their expiry; once protection is
// turned off they stop too. Standalone and unknown tasks come back in
// failures, as ECS answers.
func TestTaskScaleInProtection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	const cluster, name = "protect", "web"
	simFleet(t, env, c, cluster, 2)
	simTD(t, c, "web")
	gt.Must(c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(cluster), ServiceName: aws.String(name),
		TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(3)}))(t)
	waitStable(t, c, cluster, name)
	tasks := serviceTasks(t, c, cluster, name, types.DesiredStatusRunning)
	if len(tasks) != 3 {
		t.Fatalf("%d tasks running, want 3", len(tasks))
	}
	protected := []string{aws.ToString(tasks[0].TaskArn), aws.ToString(tasks[1].TaskArn)}

	_, err := c.UpdateTaskProtection(ctx, &ecs.UpdateTaskProtectionInput{Cluster: aws.String(cluster), Tasks: protected,
		ProtectionEnabled: true, ExpiresInMinutes: aws.Int32(0)})
	gt.WantCode(t, err, "InvalidParameterException")
	_, err = c.UpdateTaskProtection(ctx, &ecs.UpdateTaskProtectionInput{Cluster: aws.String("nope"), Tasks: protected, ProtectionEnabled: true})
	gt.WantCode(t, err, "ClusterNotFoundException")

	before := time.Now()
	up := gt.Must(c.UpdateTaskProtection(ctx, &ecs.UpdateTaskProtectionInput{Cluster: aws.String(cluster), Tasks: protected,
		ProtectionEnabled: true, ExpiresInMinutes: aws.Int32(30)}))(t)
	if len(up.ProtectedTasks) != 2 || len(up.Failures) != 0 {
		t.Fatalf("UpdateTaskProtection: %+v, failures %+v", up.ProtectedTasks, up.Failures)
	}
	for _, pt := range up.ProtectedTasks {
		exp := aws.ToTime(pt.ExpirationDate)
		if !pt.ProtectionEnabled || exp.Before(before.Add(29*time.Minute)) || exp.After(time.Now().Add(31*time.Minute)) {
			t.Errorf("protected task %+v: want enabled, expiring in 30 minutes", pt)
		}
	}

	gt.Must(c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String(cluster), Service: aws.String(name), DesiredCount: aws.Int32(0)}))(t)
	waitUntil(t, 20*time.Second, "the unprotected task to stop", func() bool {
		return len(serviceTasks(t, c, cluster, name, types.DesiredStatusRunning)) == 2
	})
	time.Sleep(time.Second) // the controller had its chance to stop more
	running := serviceTasks(t, c, cluster, name, types.DesiredStatusRunning)
	var left []string
	for _, task := range running {
		left = append(left, aws.ToString(task.TaskArn))
	}
	slices.Sort(left)
	slices.Sort(protected)
	if !slices.Equal(left, protected) {
		t.Fatalf("running after scale-in to 0: %v, want the protected %v", left, protected)
	}

	got := gt.Must(c.GetTaskProtection(ctx, &ecs.GetTaskProtectionInput{Cluster: aws.String(cluster),
		Tasks: append(slices.Clone(protected), "0123456789abcdef0123456789abcdef")}))(t)
	if len(got.ProtectedTasks) != 2 || len(got.Failures) != 1 || aws.ToString(got.Failures[0].Reason) != "MISSING" {
		t.Fatalf("GetTaskProtection: tasks %+v failures %+v, want 2 protected and one MISSING", got.ProtectedTasks, got.Failures)
	}
	for _, pt := range got.ProtectedTasks {
		if !pt.ProtectionEnabled || pt.ExpirationDate == nil {
			t.Errorf("GetTaskProtection: %+v, want enabled with an expiry", pt)
		}
	}

	// A task RunTask started belongs to no service.
	run := gt.Must(c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String(cluster), TaskDefinition: aws.String("web")}))(t)
	if len(run.Tasks) != 1 {
		t.Fatalf("RunTask: %+v", run.Failures)
	}
	alone := gt.Must(c.UpdateTaskProtection(ctx, &ecs.UpdateTaskProtectionInput{Cluster: aws.String(cluster),
		Tasks: []string{aws.ToString(run.Tasks[0].TaskArn)}, ProtectionEnabled: true}))(t)
	if len(alone.ProtectedTasks) != 0 || len(alone.Failures) != 1 || aws.ToString(alone.Failures[0].Reason) != "TASK_NOT_VALID" {
		t.Fatalf("protecting a standalone task: %+v / %+v, want a TASK_NOT_VALID failure", alone.ProtectedTasks, alone.Failures)
	}

	off := gt.Must(c.UpdateTaskProtection(ctx, &ecs.UpdateTaskProtectionInput{Cluster: aws.String(cluster), Tasks: protected, ProtectionEnabled: false}))(t)
	if len(off.ProtectedTasks) != 2 || off.ProtectedTasks[0].ProtectionEnabled || off.ProtectedTasks[0].ExpirationDate != nil {
		t.Fatalf("turning protection off: %+v", off.ProtectedTasks)
	}
	waitUntil(t, 20*time.Second, "the formerly protected tasks to stop", func() bool {
		return len(serviceTasks(t, c, cluster, name, types.DesiredStatusRunning)) == 0
	})
}
