package ecs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/agentproto"
	gt "github.com/gantry-dev/gantry/internal/gantrytest"
	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// fakeAgent plays a Gantry agent over the wire: it registers an instance,
// polls for its assignments and reports state changes, all as signed AWS
// JSON requests, as the real agent does.
type fakeAgent struct {
	t       *testing.T
	url     string
	region  string
	cluster string
	arn     string // the instance's ARN
}

// startAgent registers an instance of cluster (created first unless
// "default") with cpu units, mem MiB and the reserved tcp ports, and polls
// once so that it is connected.
func startAgent(t *testing.T, env *gt.Env, c *ecs.Client, cluster string, cpu, mem int32, ports ...string) *fakeAgent {
	t.Helper()
	return startAgentWith(t, env, c, cluster, cpu, mem, agentAttributes(), ports...)
}

// startAgentWith is startAgent with the attributes given.
func startAgentWith(t *testing.T, env *gt.Env, c *ecs.Client, cluster string, cpu, mem int32, attrs []types.Attribute, ports ...string) *fakeAgent {
	t.Helper()
	ctx := context.Background()
	if cluster != "default" {
		_, err := c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)})
		if err != nil {
			t.Fatal(err)
		}
	}
	if ports == nil {
		ports = []string{"22"}
	}
	ci := gt.Must(c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{
		Cluster: aws.String(cluster),
		TotalResources: []types.Resource{
			{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: cpu},
			{Name: aws.String("MEMORY"), Type: aws.String("INTEGER"), IntegerValue: mem},
			{Name: aws.String("PORTS"), Type: aws.String("STRINGSET"), StringSetValue: ports},
			{Name: aws.String("PORTS_UDP"), Type: aws.String("STRINGSET"), StringSetValue: []string{}},
		},
		Attributes: attrs,
	}))(t).ContainerInstance
	a := &fakeAgent{t: t, url: env.URL, region: c.Options().Region, cluster: cluster, arn: aws.ToString(ci.ContainerInstanceArn)}
	a.poll(0, 0)
	return a
}

// agentAttributes are the attributes an agent registers: placement and
// the capabilities that task definitions' requiresAttributes ask for.
func agentAttributes() []types.Attribute {
	attrs := []types.Attribute{
		{Name: aws.String("ecs.availability-zone"), Value: aws.String("local-a")},
		{Name: aws.String("ecs.cpu-architecture"), Value: aws.String("x86_64")},
		{Name: aws.String("ecs.capability.container-health-check")},
		{Name: aws.String("ecs.capability.container-ordering")},
		{Name: aws.String("com.amazonaws.ecs.capability.logging-driver.json-file")},
	}
	for v := 17; v <= 44; v++ {
		attrs = append(attrs, types.Attribute{Name: aws.String(fmt.Sprintf("com.amazonaws.ecs.capability.docker-remote-api.1.%d", v))})
	}
	return attrs
}

// call sends a signed JSON request with target and decodes a 200 answer
// into out; it returns the error code of any other answer.
func (a *fakeAgent) call(target string, in, out any) string {
	a.t.Helper()
	body, err := json.Marshal(in)
	if err != nil {
		a.t.Fatal(err)
	}
	status, resp := signedTarget(a.t, a.url, a.region, target, body)
	if status != http.StatusOK {
		var e struct {
			Type string `json:"__type"`
		}
		json.Unmarshal(resp, &e)
		return e.Type
	}
	if out != nil {
		if err := json.Unmarshal(resp, out); err != nil {
			a.t.Fatalf("%s: decode %s: %v", target, resp, err)
		}
	}
	return ""
}

// poll polls with ackSeq, waiting up to wait seconds, and fails the test on
// an error.
func (a *fakeAgent) poll(ackSeq int64, wait int32, manifest ...agentproto.TaskStatus) agentproto.PollResponse {
	a.t.Helper()
	var out agentproto.PollResponse
	if code := a.tryPoll(&agentproto.PollRequest{Cluster: a.cluster, ContainerInstanceArn: a.arn, AckSeq: ackSeq, WaitSeconds: wait, Manifest: manifest}, &out); code != "" {
		a.t.Fatalf("poll: %s", code)
	}
	return out
}

// tryPoll sends a poll and returns the error code ("" on success).
func (a *fakeAgent) tryPoll(in *agentproto.PollRequest, out *agentproto.PollResponse) string {
	return a.call(agentproto.TargetPrefix+".Poll", in, out)
}

// report sends SubmitTaskStateChange for the task and fails on an error.
func (a *fakeAgent) report(task, status string, containers ...agentproto.ContainerStateChange) {
	a.t.Helper()
	a.reportChange(agentproto.TaskStateChange{
		SubmitTaskStateChangeRequest: ecswire.SubmitTaskStateChangeRequest{Cluster: a.cluster, Task: task, Status: status},
		Containers:                   containers,
	})
}

// reportChange sends a full TaskStateChange and fails on an error.
func (a *fakeAgent) reportChange(ch agentproto.TaskStateChange) {
	a.t.Helper()
	var ack ecswire.SubmitTaskStateChangeResponse
	if code := a.call(ecswire.TargetPrefix+".SubmitTaskStateChange", ch, &ack); code != "" {
		a.t.Fatalf("SubmitTaskStateChange %s: %s", ch.Status, code)
	}
	if ack.Acknowledgment != "true" {
		a.t.Fatalf("acknowledgment = %q", ack.Acknowledgment)
	}
}

// container is a container state change for report.
func container(name, status string) agentproto.ContainerStateChange {
	return agentproto.ContainerStateChange{ContainerStateChange: ecswire.ContainerStateChange{ContainerName: name, Status: status}}
}

// signedTarget sends body with X-Amz-Target target, signed for region.
func signedTarget(t *testing.T, url, region, target string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: gt.KeyID, SecretAccessKey: gt.KeySecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ecs", region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func TestPollErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	a := startAgent(t, env, c, "prod", 1024, 1024)
	var out agentproto.PollResponse
	ghost := strings.Replace(a.arn, idOf(a.arn), strings.Repeat("a", 32), 1)
	for _, tc := range []struct {
		in   agentproto.PollRequest
		want string
	}{
		{agentproto.PollRequest{Cluster: "nope", ContainerInstanceArn: a.arn}, "ClusterNotFoundException"},
		{agentproto.PollRequest{Cluster: "prod", ContainerInstanceArn: ghost}, "InvalidParameterException"},
		{agentproto.PollRequest{Cluster: "prod"}, "InvalidParameterException"},
		{agentproto.PollRequest{Cluster: "prod", ContainerInstanceArn: a.arn, WaitSeconds: 21}, "InvalidParameterException"},
	} {
		if code := a.tryPoll(&tc.in, &out); code != tc.want {
			t.Errorf("poll %+v = %q, want %s", tc.in, code, tc.want)
		}
	}
	gt.Must(c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("prod"), ContainerInstance: aws.String(a.arn)}))(t)
	if code := a.tryPoll(&agentproto.PollRequest{Cluster: "prod", ContainerInstanceArn: a.arn}, &out); code != "ClientException" {
		t.Fatalf("poll of a deregistered instance = %q, want ClientException", code)
	}
}

func TestPollLongPoll(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	a := startAgent(t, env, c, "prod", 1024, 1024)
	registerTD(t, c, "web")

	first := a.poll(0, 0)
	if len(first.Tasks) != 0 || first.Seq == 0 || first.HeartbeatSeconds != 10 {
		t.Fatalf("first poll = %+v", first)
	}

	// Nothing changes: the poll answers after WaitSeconds, with nothing.
	start := time.Now()
	idle := a.poll(first.Seq, 1)
	if took := time.Since(start); took < 900*time.Millisecond || took > 5*time.Second {
		t.Fatalf("idle poll took %v, want about 1s", took)
	}
	if len(idle.Tasks) != 0 || idle.Seq < first.Seq {
		t.Fatalf("idle poll = %+v", idle)
	}

	// A task placed while the agent waits wakes the poll at once.
	got := make(chan agentproto.PollResponse, 1)
	go func() { got <- a.poll(idle.Seq, 15) }()
	time.Sleep(200 * time.Millisecond)
	run := gt.Must(c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("web")}))(t)
	if len(run.Tasks) != 1 {
		t.Fatalf("run = %+v", run)
	}
	select {
	case p := <-got:
		if len(p.Tasks) != 1 || p.Tasks[0].TaskArn != aws.ToString(run.Tasks[0].TaskArn) || p.Seq <= idle.Seq {
			t.Fatalf("woken poll = %+v", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the poll did not wake up when a task was placed")
	}

	// A task the agent runs that the control plane does not know is to stop.
	stray := "arn:aws:ecs:" + a.region + ":" + gt.Account + ":task/prod/" + strings.Repeat("b", 32)
	p := a.poll(0, 0, agentproto.TaskStatus{TaskArn: stray, KnownStatus: "RUNNING"}, agentproto.TaskStatus{TaskArn: stray + "0", KnownStatus: "STOPPED"})
	if len(p.Tasks) != 2 {
		t.Fatalf("poll with a stray task = %+v", p)
	}
	if s := p.Tasks[1]; s.TaskArn != stray || s.DesiredStatus != "STOPPED" || len(s.Definition.ContainerDefinitions) != 0 {
		t.Fatalf("stray task assignment = %+v", s)
	}

	// Versions reported on the poll reach versionInfo.
	var out agentproto.PollResponse
	if code := a.tryPoll(&agentproto.PollRequest{Cluster: "prod", ContainerInstanceArn: a.arn, AgentVersion: "9.9.9", DockerVersion: "28.0.1"}, &out); code != "" {
		t.Fatal(code)
	}
	ci := describeOne(t, c, "prod", a.arn)
	if ci.VersionInfo == nil || aws.ToString(ci.VersionInfo.AgentVersion) != "9.9.9" || aws.ToString(ci.VersionInfo.DockerVersion) != "28.0.1" {
		t.Fatalf("versionInfo = %+v", ci.VersionInfo)
	}
}

// changes polls asking for a payload of changes since ackSeq.
func (a *fakeAgent) changes(ackSeq int64, wait int32) agentproto.PollResponse {
	a.t.Helper()
	var out agentproto.PollResponse
	if code := a.tryPoll(&agentproto.PollRequest{Cluster: a.cluster, ContainerInstanceArn: a.arn, AckSeq: ackSeq, WaitSeconds: wait, Changes: true}, &out); code != "" {
		a.t.Fatalf("poll: %s", code)
	}
	return out
}

// An agent that asks for changes gets only what changed since its last
// payload: new tasks, a changed desired status, tasks no longer assigned.
func TestPollChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	a := startAgent(t, env, c, "deltas", 4096, 4096)
	registerTD(t, c, "web")
	run := func() string {
		out := gt.Must(c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("deltas"), TaskDefinition: aws.String("web")}))(t)
		return aws.ToString(out.Tasks[0].TaskArn)
	}
	first, second := run(), run()
	full := a.poll(0, 0)
	if full.Changes || len(full.Tasks) != 2 {
		t.Fatalf("first poll = %+v, want the full payload of 2 tasks", full)
	}

	// A third task: the payload of changes holds it alone.
	third := run()
	p := a.changes(full.Seq, 5)
	if !p.Changes || len(p.Tasks) != 1 || p.Tasks[0].TaskArn != third || len(p.Tasks[0].Definition.ContainerDefinitions) == 0 || len(p.Removed) != 0 || p.Seq <= full.Seq {
		t.Fatalf("changes after a RunTask = %+v", p)
	}

	// StopTask changes the first task's desired status; the agent then
	// reports it STOPPED and its assignment goes.
	gt.Must(c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("deltas"), Task: aws.String(first)}))(t)
	p2 := a.changes(p.Seq, 5)
	if !p2.Changes || len(p2.Tasks) != 1 || p2.Tasks[0].TaskArn != first || p2.Tasks[0].DesiredStatus != "STOPPED" || len(p2.Removed) != 0 {
		t.Fatalf("changes after StopTask = %+v", p2)
	}
	a.report(first, "STOPPED")
	p3 := a.changes(p2.Seq, 5)
	if !p3.Changes || len(p3.Tasks) != 0 || len(p3.Removed) != 1 || p3.Removed[0] != first {
		t.Fatalf("changes after the STOPPED report = %+v", p3)
	}

	// Nothing more: the poll waits and answers with no change, at the same Seq.
	idle := a.changes(p3.Seq, 1)
	if !idle.Changes || len(idle.Tasks) != 0 || len(idle.Removed) != 0 || idle.Seq != p3.Seq {
		t.Fatalf("idle poll for changes = %+v", idle)
	}

	// Changes from an older Seq are all there, each task once, as last written.
	all := a.changes(full.Seq, 5)
	got := map[string]string{}
	for _, t := range all.Tasks {
		got[t.TaskArn] = t.DesiredStatus
	}
	if !all.Changes || len(all.Tasks) != 1 || got[third] != "RUNNING" || len(all.Removed) != 1 || all.Removed[0] != first || all.Seq != p3.Seq {
		t.Fatalf("changes since the first payload = %+v", all)
	}

	// A full payload still lists every assigned task.
	if f := a.poll(0, 0); f.Changes || len(f.Tasks) != 2 {
		t.Fatalf("full payload = %+v", f)
	} else if arns := []string{f.Tasks[0].TaskArn, f.Tasks[1].TaskArn}; !slices.Contains(arns, second) || !slices.Contains(arns, third) {
		t.Fatalf("full payload tasks = %v", arns)
	}
}

// A dedicated server with a one-second agent timeout: an instance whose
// agent stops polling is disconnected, gets no tasks, and is connected
// again by its next poll.
func TestAgentConnectedTimeout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env, err := gt.Start(gt.WithAgentTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	c := env.ECS()
	a := startAgent(t, env, c, "prod", 1024, 1024)
	registerTD(t, c, "web")
	if ci := describeOne(t, c, "prod", a.arn); !ci.AgentConnected {
		t.Fatalf("fresh instance not connected: %+v", ci)
	}
	if p := a.poll(0, 0); p.HeartbeatSeconds != 1 {
		t.Fatalf("heartbeatSeconds = %d", p.HeartbeatSeconds)
	}
	time.Sleep(1500 * time.Millisecond)
	if ci := describeOne(t, c, "prod", a.arn); ci.AgentConnected {
		t.Fatalf("instance still connected after the timeout")
	}
	run := gt.Must(c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("web")}))(t)
	if len(run.Tasks) != 0 || len(run.Failures) != 1 || aws.ToString(run.Failures[0].Reason) != "AGENT" || aws.ToString(run.Failures[0].Arn) != a.arn {
		t.Fatalf("run on a disconnected instance = %+v", run)
	}
	a.poll(0, 0)
	if ci := describeOne(t, c, "prod", a.arn); !ci.AgentConnected {
		t.Fatalf("instance not connected again after a poll")
	}
	// A long poll is capped at half the timeout, so that the agent keeps its
	// heartbeat fresh.
	start := time.Now()
	a.poll(a.poll(0, 0).Seq, 20)
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("long poll took %v with a 1s agent timeout", took)
	}
}

// Closing the server answers pending long polls at once instead of waiting
// for them.
func TestCloseAnswersLongPolls(t *testing.T) {
	t.Parallel()
	env, err := gt.Start()
	if err != nil {
		t.Fatal(err)
	}
	c := env.ECS()
	a := startAgent(t, env, c, "prod", 1024, 1024)
	seq := a.poll(0, 0).Seq
	done := make(chan struct{})
	go func() {
		defer close(done)
		var out agentproto.PollResponse
		a.tryPoll(&agentproto.PollRequest{Cluster: "prod", ContainerInstanceArn: a.arn, AckSeq: seq, WaitSeconds: 15}, &out)
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	env.Close()
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("close took %v with a pending long poll", took)
	}
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("the long poll did not end when the server closed")
	}
}

// submitBatch sends SubmitStateChanges and returns its answer, or the
// error code.
func (a *fakeAgent) submitBatch(changes ...agentproto.TaskStateChange) (agentproto.StateChangesResponse, string) {
	var out agentproto.StateChangesResponse
	code := a.call(agentproto.TargetPrefix+".SubmitStateChanges", agentproto.StateChangesRequest{Cluster: a.cluster, Changes: changes}, &out)
	return out, code
}

func change(task, status string, containers ...agentproto.ContainerStateChange) agentproto.TaskStateChange {
	return agentproto.TaskStateChange{
		SubmitTaskStateChangeRequest: ecswire.SubmitTaskStateChangeRequest{Task: task, Status: status},
		Containers:                   containers,
	}
}

// A batch of reports applies each change as SubmitTaskStateChange would,
// rejects alone (by index) those it would refuse, and gives back the
// reservations of several tasks stopping on one instance at once.
func TestSubmitStateChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	a := startAgent(t, env, c, "batch", 1024, 1024)
	registerTD(t, c, "web") // 128 MiB, no CPU
	out := gt.Must(c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("batch"), TaskDefinition: aws.String("web"), Count: aws.Int32(3)}))(t)
	if len(out.Tasks) != 3 {
		t.Fatalf("run = %v", reasons(out.Failures))
	}
	arns := []string{aws.ToString(out.Tasks[0].TaskArn), aws.ToString(out.Tasks[1].TaskArn), aws.ToString(out.Tasks[2].TaskArn)}
	if mem := resource(describeOne(t, c, "batch", a.arn).RemainingResources, "MEMORY").IntegerValue; mem != 1024-3*128 {
		t.Fatalf("remaining memory after 3 tasks = %d", mem)
	}
	unknown := "arn:aws:ecs:" + a.region + ":" + gt.Account + ":task/batch/" + strings.Repeat("c", 32)

	res, code := a.submitBatch(
		change(arns[0], "RUNNING", container("app", "RUNNING")),
		change(unknown, "RUNNING"),
		change(arns[1], "RUNNING", container("nope", "RUNNING")),
		change(arns[2], "RUNNING", container("app", "RUNNING")),
		change(arns[2], "STOPPED"),
		change(arns[1], "BORED"),
	)
	if code != "" {
		t.Fatalf("SubmitStateChanges: %s", code)
	}
	got := map[int]string{}
	for _, r := range res.Rejected {
		got[r.Index] = r.Code
	}
	want := map[int]string{1: "InvalidParameterException", 2: "InvalidParameterException", 4: "InvalidParameterException", 5: "InvalidParameterException"}
	if !maps.Equal(got, want) {
		t.Fatalf("rejected = %+v, want indexes 1, 2, 4 and 5 (unknown task, unknown container, task twice, bad status)", res.Rejected)
	}
	for i, want := range []string{"RUNNING", "PENDING", "RUNNING"} {
		if task := describeTask(t, c, "batch", arns[i]); aws.ToString(task.LastStatus) != want || (want == "RUNNING" && task.StartedAt == nil) {
			t.Fatalf("task %d: lastStatus %s startedAt %v, want %s", i, aws.ToString(task.LastStatus), task.StartedAt, want)
		}
	}

	// All three stop in one batch: the instance gets all its memory back,
	// and the agent's next payload has none of them.
	res, code = a.submitBatch(change(arns[0], "STOPPED"), change(arns[1], "STOPPED"), change(arns[2], "STOPPED"))
	if code != "" || len(res.Rejected) != 0 {
		t.Fatalf("stopping batch: %s %+v", code, res.Rejected)
	}
	for i := range arns {
		if task := describeTask(t, c, "batch", arns[i]); aws.ToString(task.LastStatus) != "STOPPED" || task.StoppedAt == nil {
			t.Fatalf("task %d not STOPPED: %s", i, aws.ToString(task.LastStatus))
		}
	}
	ci := describeOne(t, c, "batch", a.arn)
	if mem := resource(ci.RemainingResources, "MEMORY").IntegerValue; mem != 1024 || ci.RunningTasksCount != 0 {
		t.Fatalf("after the batch of stops: remaining memory %d, running %d; want 1024 and 0", mem, ci.RunningTasksCount)
	}
	if p := a.poll(0, 0); len(p.Tasks) != 0 {
		t.Fatalf("payload after the stops = %+v", p.Tasks)
	}
	// A repeated batch changes nothing and is acknowledged.
	if res, code := a.submitBatch(change(arns[0], "STOPPED")); code != "" || len(res.Rejected) != 0 {
		t.Fatalf("repeated stop: %s %+v", code, res.Rejected)
	}

	// An essential container exiting makes its task's desired status
	// STOPPED, in the task and in the assignment the agent is sent.
	crash := gt.Must(c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("batch"), TaskDefinition: aws.String("web")}))(t)
	crashArn := aws.ToString(crash.Tasks[0].TaskArn)
	exited := container("app", "STOPPED")
	exited.ExitCode = new(int32(1))
	if res, code := a.submitBatch(change(crashArn, "RUNNING", exited)); code != "" || len(res.Rejected) != 0 {
		t.Fatalf("essential exit: %s %+v", code, res.Rejected)
	}
	if task := describeTask(t, c, "batch", crashArn); aws.ToString(task.DesiredStatus) != "STOPPED" || task.StopCode != types.TaskStopCodeEssentialContainerExited {
		t.Fatalf("after an essential exit: desired %s stopCode %s", aws.ToString(task.DesiredStatus), task.StopCode)
	}
	if p := a.poll(0, 0); len(p.Tasks) != 1 || p.Tasks[0].DesiredStatus != "STOPPED" || p.Tasks[0].StopCode != "EssentialContainerExited" {
		t.Fatalf("assignment after an essential exit = %+v", p.Tasks)
	}

	// The batch itself: 1 to 100 changes, of a cluster that exists.
	if _, code := a.submitBatch(); code != "InvalidParameterException" {
		t.Errorf("empty batch: %q", code)
	}
	many := make([]agentproto.TaskStateChange, agentproto.MaxStateChanges+1)
	for i := range many {
		many[i] = change(arns[0], "RUNNING")
	}
	if _, code := a.submitBatch(many...); code != "InvalidParameterException" {
		t.Errorf("batch of 101: %q", code)
	}
	var ignored agentproto.StateChangesResponse
	if code := a.call(agentproto.TargetPrefix+".SubmitStateChanges", agentproto.StateChangesRequest{Cluster: "nowhere", Changes: []agentproto.TaskStateChange{change(arns[0], "RUNNING")}}, &ignored); code != "ClusterNotFoundException" {
		t.Errorf("unknown cluster: %q", code)
	}
}

// An agent that applies payloads of changes, while tasks are run, stopped
// and reported stopped, ends with the same tasks and desired statuses as a
// full payload lists.
func TestPollChangesFollowChurn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	a := startAgent(t, env, c, "churn", 1<<20, 1<<20)
	registerTD(t, c, "web")
	full := a.poll(0, 0)
	view := map[string]string{} // task -> desired status, as the agent knows it
	for _, tk := range full.Tasks {
		view[tk.TaskArn] = tk.DesiredStatus
	}
	seq := full.Seq
	rnd := rand.New(rand.NewPCG(3, 9))
	for step := range 40 {
		var running, stopping []string
		for arn, d := range view {
			if d == "RUNNING" {
				running = append(running, arn)
			} else {
				stopping = append(stopping, arn)
			}
		}
		slices.Sort(running)
		slices.Sort(stopping)
		switch op := rnd.IntN(3); {
		case op == 1 && len(running) > 0:
			gt.Must(c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("churn"), Task: aws.String(running[rnd.IntN(len(running))])}))(t)
		case op == 2 && len(stopping) > 0:
			a.report(stopping[rnd.IntN(len(stopping))], "STOPPED")
		default:
			gt.Must(c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("churn"), TaskDefinition: aws.String("web"), Count: aws.Int32(int32(1 + rnd.IntN(3)))}))(t)
		}
		p := a.changes(seq, 5)
		if !p.Changes || p.Seq <= seq || len(p.Tasks)+len(p.Removed) == 0 {
			t.Fatalf("step %d: payload of changes %+v after seq %d", step, p, seq)
		}
		for _, tk := range p.Tasks {
			view[tk.TaskArn] = tk.DesiredStatus
		}
		for _, arn := range p.Removed {
			delete(view, arn)
		}
		seq = p.Seq
	}
	want := map[string]string{}
	for _, tk := range a.poll(0, 0).Tasks {
		want[tk.TaskArn] = tk.DesiredStatus
	}
	if !maps.Equal(view, want) {
		t.Fatalf("the agent's view built from changes:\n%v\nthe full payload:\n%v", view, want)
	}
}
