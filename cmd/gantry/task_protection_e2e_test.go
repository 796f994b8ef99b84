package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// protectSelf is a container's script: it protects its own task through
// ECS_AGENT_URI (a PUT, written with nc: busybox wget cannot PUT), reads
// the protection back with a GET, and keeps running only if it reads it
// enabled (else it exits 3, which its task's stop would show).
const protectSelf = `set -e
u=${ECS_AGENT_URI#http://}; hp=${u%%/*}; path=/${u#*/}
body='{"ProtectionEnabled":true,"ExpiresInMinutes":60}'
printf 'PUT %s/task-protection/v1/state HTTP/1.0\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
  "$path" "$hp" "${#body}" "$body" | nc "${hp%:*}" "${hp#*:}" > /tmp/put
wget -qO /tmp/get "$ECS_AGENT_URI/task-protection/v1/state"
grep -q '"ProtectionEnabled": true' /tmp/get || exit 3
exec sleep 300`

// A service task protects itself from scale-in from inside its container,
// as ECS documents ($ECS_AGENT_URI/task-protection/v1/state), and the
// control plane shows the protection.
func TestTaskProtectsItselfThroughAgentURI(t *testing.T) {
	e := newE2E(t)
	ctx := context.Background()
	def := busybox("app", "sh", "-c", protectSelf)
	def.StopTimeout = aws.Int32(1)
	e.register("protect", def)
	if _, err := e.ecs.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(e.cluster), ServiceName: aws.String("self"),
		TaskDefinition: aws.String("protect"), DesiredCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.ecs.DeleteService(context.Background(), &ecs.DeleteServiceInput{Cluster: aws.String(e.cluster), Service: aws.String("self"), Force: aws.Bool(true)})
	})
	var task types.Task
	deadline := time.Now().Add(60 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("the service's task never protected itself; last task %s (%s, %s)", aws.ToString(task.TaskArn),
				aws.ToString(task.LastStatus), aws.ToString(task.StoppedReason))
		}
		time.Sleep(200 * time.Millisecond)
		list, err := e.ecs.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(e.cluster), ServiceName: aws.String("self")})
		if err != nil || len(list.TaskArns) == 0 {
			continue
		}
		d, err := e.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(e.cluster), Tasks: list.TaskArns})
		if err != nil || len(d.Tasks) == 0 {
			continue
		}
		task = d.Tasks[0]
		p, err := e.ecs.GetTaskProtection(ctx, &ecs.GetTaskProtectionInput{Cluster: aws.String(e.cluster), Tasks: list.TaskArns[:1]})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.ProtectedTasks) == 1 && p.ProtectedTasks[0].ProtectionEnabled {
			exp := aws.ToTime(p.ProtectedTasks[0].ExpirationDate)
			if until := time.Until(exp); until < 58*time.Minute || until > 61*time.Minute {
				t.Fatalf("protection expires in %v, want the 60 minutes the container asked for", until)
			}
			break
		}
	}
	// The container read its protection back (else it exits 3).
	time.Sleep(time.Second)
	d, err := e.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(e.cluster), Tasks: []string{aws.ToString(task.TaskArn)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Tasks[0]; aws.ToString(got.LastStatus) != "RUNNING" || aws.ToString(got.DesiredStatus) != "RUNNING" {
		var codes []string
		for _, c := range got.Containers {
			if c.ExitCode != nil {
				codes = append(codes, fmt.Sprintf("%s exited %d", aws.ToString(c.Name), *c.ExitCode))
			}
		}
		t.Fatalf("the protected task is %s/%s (%s) %s: the container did not read its protection back", aws.ToString(got.LastStatus),
			aws.ToString(got.DesiredStatus), aws.ToString(got.StoppedReason), strings.Join(codes, ", "))
	}
}
