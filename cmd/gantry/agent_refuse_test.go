package main

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/agentproto"
)

const privilegedCapability = "com.amazonaws.ecs.capability.privileged-container"

// An agent with --disable-privileged does not advertise the privileged
// capability, so placement never sends it a privileged task (ECS's
// ATTRIBUTE failure); a privileged task that reaches it anyway (the
// attribute put back by hand) is stopped with a reason naming the flag.
func TestAgentDisablePrivileged(t *testing.T) {
	e := newE2EWith(t, func(c *agent.Config) { c.DisablePrivileged = true })
	ctx := context.Background()
	inst := e.agent.InstanceArn()
	ci, err := e.ecs.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String(e.cluster), ContainerInstances: []string{inst}})
	if err != nil || len(ci.ContainerInstances) != 1 {
		t.Fatalf("DescribeContainerInstances: %v %+v", err, ci)
	}
	for _, a := range ci.ContainerInstances[0].Attributes {
		if aws.ToString(a.Name) == privilegedCapability {
			t.Fatalf("an instance with privileged containers disabled advertises %s", privilegedCapability)
		}
	}
	priv := busybox("root", "sleep", "60")
	priv.Privileged = aws.Bool(true)
	e.register("priv", priv)
	td, err := e.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("priv")})
	if err != nil {
		t.Fatal(err)
	}
	required := false
	for _, a := range td.TaskDefinition.RequiresAttributes {
		required = required || aws.ToString(a.Name) == privilegedCapability
	}
	if !required {
		t.Errorf("a privileged task definition's requiresAttributes lack %s: %+v", privilegedCapability, td.TaskDefinition.RequiresAttributes)
	}
	out, err := e.ecs.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String(e.cluster), TaskDefinition: aws.String("priv")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Tasks) != 0 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "ATTRIBUTE" {
		t.Fatalf("RunTask of a privileged task on the only instance, which disables them: tasks %d, failures %+v; want one ATTRIBUTE failure", len(out.Tasks), out.Failures)
	}

	// Put the attribute back by hand: the task is placed, and the agent
	// refuses it at run time.
	if _, err := e.ecs.PutAttributes(ctx, &ecs.PutAttributesInput{Cluster: aws.String(e.cluster), Attributes: []types.Attribute{{
		Name: aws.String(privilegedCapability), TargetId: aws.String(inst), TargetType: types.TargetTypeContainerInstance,
	}}}); err != nil {
		t.Fatal(err)
	}
	arn := e.run("priv")
	stopped := e.waitStatus(arn, agentproto.StatusStopped)
	if r := aws.ToString(stopped.StoppedReason); !strings.Contains(r, "privileged") || !strings.Contains(r, "--disable-privileged") {
		t.Errorf("stoppedReason %q does not name privileged and --disable-privileged", r)
	}
	if stopped.StopCode != types.TaskStopCodeTaskFailedToStart {
		t.Errorf("stopCode %s, want TaskFailedToStart", stopped.StopCode)
	}
	if id := aws.ToString(stopped.Containers[0].RuntimeId); id != "" {
		t.Errorf("the refused privileged container was created: %s", id)
	}
}

// An agent with --disable-docker-socket-mounts refuses a task whose host
// volume exposes the Docker socket (the socket or a directory holding it),
// and still runs one with another host volume.
func TestAgentDisableDockerSocketMounts(t *testing.T) {
	e := newE2EWith(t, func(c *agent.Config) { c.DisableDockerSocketMounts = true })
	ctx := context.Background()
	for i, src := range []string{"/var/run/docker.sock", "/run", "/var/run/"} {
		family := "sock" + string(rune('a'+i))
		c := busybox("app", "sleep", "60")
		c.MountPoints = []types.MountPoint{{SourceVolume: aws.String("docker"), ContainerPath: aws.String("/host")}}
		if _, err := e.ecs.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String(family),
			ContainerDefinitions: []types.ContainerDefinition{c},
			Volumes:              []types.Volume{{Name: aws.String("docker"), Host: &types.HostVolumeProperties{SourcePath: aws.String(src)}}},
		}); err != nil {
			t.Fatal(err)
		}
		stopped := e.waitStatus(e.run(family), agentproto.StatusStopped)
		if r := aws.ToString(stopped.StoppedReason); !strings.Contains(r, "Docker socket") || !strings.Contains(r, "--disable-docker-socket-mounts") || !strings.Contains(r, src) {
			t.Errorf("host volume %s: stoppedReason %q does not name the socket, %s and --disable-docker-socket-mounts", src, r, src)
		}
	}
	c := busybox("app", "sleep", "60")
	c.MountPoints = []types.MountPoint{{SourceVolume: aws.String("data"), ContainerPath: aws.String("/data")}}
	if _, err := e.ecs.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("tmp"),
		ContainerDefinitions: []types.ContainerDefinition{c},
		Volumes:              []types.Volume{{Name: aws.String("data"), Host: &types.HostVolumeProperties{SourcePath: aws.String(t.TempDir())}}},
	}); err != nil {
		t.Fatal(err)
	}
	arn := e.run("tmp")
	e.waitStatus(arn, agentproto.StatusRunning)
	if _, err := e.ecs.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String(e.cluster), Task: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(arn, agentproto.StatusStopped)
}
