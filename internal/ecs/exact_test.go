package ecs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	gt "github.com/gantry-dev/gantry/internal/gantrytest"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// Tests of ECS's exact answers: lists ECS writes as [] are there (checked in
// the raw JSON, which the SDK hides), and refusals carry ECS's own words.

// rawRecorder is the SDK's HTTP client in these tests: it keeps the body of
// the last response, so a test can read the JSON exactly as it was sent.
type rawRecorder struct {
	mu   sync.Mutex
	last []byte
}

func (r *rawRecorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.last = b
	r.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// body decodes the last response body.
func (r *rawRecorder) body(t *testing.T) map[string]any {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var m map[string]any
	if err := json.Unmarshal(r.last, &m); err != nil {
		t.Fatalf("response %q: %v", r.last, err)
	}
	return m
}

// rawECS returns an SDK client in a fresh region whose responses rec keeps.
func rawECS(env *gt.Env) (*ecs.Client, *rawRecorder) {
	rec := &rawRecorder{}
	cfg := env.Config(gt.NewRegion())
	cfg.HTTPClient = rec
	return ecs.NewFromConfig(cfg), rec
}

// at walks v along path (map keys and list indexes).
func at(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not an object at %q: %v", path, k, v)
			}
			if v, ok = m[k]; !ok {
				t.Fatalf("%v: member %q is missing from %v", path, k, m)
			}
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("%v: no element %d in %v", path, k, v)
			}
			v = l[k]
		}
	}
	return v
}

// wantEmptyLists checks that each member of obj is present and [].
func wantEmptyLists(t *testing.T, what string, obj any, members ...string) {
	t.Helper()
	for _, m := range members {
		l, ok := at(t, obj, m).([]any)
		if !ok || len(l) != 0 {
			t.Errorf("%s: %s = %v, want []", what, m, at(t, obj, m))
		}
	}
}

// wantPresentList checks that a member of obj is a list (possibly filled).
func wantPresentList(t *testing.T, what string, obj any, member string) {
	t.Helper()
	if _, ok := at(t, obj, member).([]any); !ok {
		t.Errorf("%s: %s = %v, want a list", what, member, at(t, obj, member))
	}
}

func TestEmptyListsAreWritten(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c, rec := rawECS(env)

	// Every List* action writes its list, empty or not.
	gt.Must(c.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("nomatch")}))(t)
	wantEmptyLists(t, "ListTaskDefinitions", rec.body(t), "taskDefinitionArns")
	gt.Must(c.ListTaskDefinitionFamilies(ctx, &ecs.ListTaskDefinitionFamiliesInput{FamilyPrefix: aws.String("nomatch")}))(t)
	wantEmptyLists(t, "ListTaskDefinitionFamilies", rec.body(t), "families")
	gt.Must(c.ListClusters(ctx, &ecs.ListClustersInput{}))(t)
	wantEmptyLists(t, "ListClusters", rec.body(t), "clusterArns")
	gt.Must(c.ListServicesByNamespace(ctx, &ecs.ListServicesByNamespaceInput{Namespace: aws.String("local")}))(t)
	wantEmptyLists(t, "ListServicesByNamespace", rec.body(t), "serviceArns")
	gt.Must(c.ListAccountSettings(ctx, &ecs.ListAccountSettingsInput{Name: types.SettingNameTagResourceAuthorization}))(t)
	wantPresentList(t, "ListAccountSettings", rec.body(t), "settings")

	cl := gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")}))(t)
	wantEmptyLists(t, "CreateCluster", at(t, rec.body(t), "cluster"), "statistics", "tags", "capacityProviders", "defaultCapacityProviderStrategy")
	gt.Must(c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"prod"}}))(t)
	wantEmptyLists(t, "DescribeClusters", rec.body(t), "failures")
	gt.Must(c.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("prod")}))(t)
	wantEmptyLists(t, "ListServices", rec.body(t), "serviceArns")
	gt.Must(c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("prod")}))(t)
	wantEmptyLists(t, "ListTasks", rec.body(t), "taskArns")
	gt.Must(c.ListContainerInstances(ctx, &ecs.ListContainerInstancesInput{Cluster: aws.String("prod")}))(t)
	wantEmptyLists(t, "ListContainerInstances", rec.body(t), "containerInstanceArns")
	gt.Must(c.ListAttributes(ctx, &ecs.ListAttributesInput{Cluster: aws.String("prod"), TargetType: types.TargetTypeContainerInstance}))(t)
	wantEmptyLists(t, "ListAttributes", rec.body(t), "attributes")
	gt.Must(c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: cl.Cluster.ClusterArn}))(t)
	wantEmptyLists(t, "ListTagsForResource", rec.body(t), "tags")
	gt.Must(c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("prod"), Tasks: []string{"0123456789abcdef0123456789abcdef"}}))(t)
	wantEmptyLists(t, "DescribeTasks of a missing task", rec.body(t), "tasks")

	// A minimal task definition: the lists ECS fills in, as in the AWS CLI's
	// register-task-definition example; no tags member when none were given.
	gt.Must(c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String("sleep360"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("sleep"), Image: aws.String("busybox"), Memory: aws.Int32(10), Command: []string{"sleep", "360"}}},
	}))(t)
	regTD := rec.body(t)
	if _, ok := regTD["tags"]; ok {
		t.Errorf("RegisterTaskDefinition without tags answers tags: %v", regTD["tags"])
	}
	checkMinimalTaskDefinition(t, "RegisterTaskDefinition", at(t, regTD, "taskDefinition"))
	gt.Must(c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("sleep360")}))(t)
	desc := rec.body(t)
	checkMinimalTaskDefinition(t, "DescribeTaskDefinition", at(t, desc, "taskDefinition"))
	wantEmptyLists(t, "DescribeTaskDefinition", desc, "tags")

	// A service with none of the optional lists set.
	gt.Must(c.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("prod"), ServiceName: aws.String("idle"), TaskDefinition: aws.String("sleep360"), DesiredCount: aws.Int32(0),
	}))(t)
	svc := at(t, rec.body(t), "service")
	wantEmptyLists(t, "CreateService", svc, "loadBalancers", "serviceRegistries", "placementConstraints", "placementStrategy")
	wantPresentList(t, "CreateService", svc, "events")
	if n, ok := at(t, svc, "deployments", 0, "failedTasks").(float64); !ok || n != 0 {
		t.Errorf("CreateService: deployments[0].failedTasks = %v, want 0", at(t, svc, "deployments", 0, "failedTasks"))
	}
	gt.Must(c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"idle"}, Include: []types.ServiceField{types.ServiceFieldTags}}))(t)
	ds := rec.body(t)
	wantEmptyLists(t, "DescribeServices", ds, "failures")
	wantEmptyLists(t, "DescribeServices --include TAGS", at(t, ds, "services", 0), "tags", "loadBalancers", "serviceRegistries")

	// A container instance: its lists, and the set of every STRINGSET
	// resource (PORTS_UDP registered without a set), as in the AWS CLI's
	// examples.
	reg := gt.Must(c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{
		Cluster: aws.String("prod"),
		TotalResources: []types.Resource{
			{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: 1024},
			{Name: aws.String("MEMORY"), Type: aws.String("INTEGER"), IntegerValue: 1024},
			{Name: aws.String("PORTS"), Type: aws.String("STRINGSET"), StringSetValue: []string{"22"}},
			{Name: aws.String("PORTS_UDP"), Type: aws.String("STRINGSET")},
		},
	}))(t)
	gt.Must(c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("prod"), ContainerInstances: []string{aws.ToString(reg.ContainerInstance.ContainerInstanceArn)}}))(t)
	di := rec.body(t)
	wantEmptyLists(t, "DescribeContainerInstances", di, "failures")
	ci := at(t, di, "containerInstances", 0)
	wantEmptyLists(t, "DescribeContainerInstances", ci, "attachments", "tags")

	// A task: its lists when pending (no network bindings yet, as in the
	// AWS CLI's run-task example), and a running container's bindings,
	// even none (its describe-tasks example).
	a := startAgent(t, env, c, "run", 1024, 1024)
	gt.Must(c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("run"), TaskDefinition: aws.String("sleep360")}))(t)
	task := at(t, rec.body(t), "tasks", 0)
	wantEmptyLists(t, "RunTask", task, "attachments", "tags")
	wantEmptyLists(t, "RunTask container", at(t, task, "containers", 0), "networkInterfaces")
	if _, ok := at(t, task, "containers", 0).(map[string]any)["networkBindings"]; ok {
		t.Errorf("RunTask: a pending container has networkBindings: %v", task)
	}
	arn := at(t, task, "taskArn").(string)
	a.report(arn, "RUNNING", container("sleep", "RUNNING"))
	gt.Must(c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("run"), Tasks: []string{arn}}))(t)
	dt := rec.body(t)
	wantEmptyLists(t, "DescribeTasks", dt, "failures")
	wantEmptyLists(t, "DescribeTasks running container", at(t, dt, "tasks", 0, "containers", 0), "networkBindings", "networkInterfaces")
	for _, list := range []string{"registeredResources", "remainingResources"} {
		for i, r := range at(t, ci, list).([]any) {
			if at(t, r, "type") == "STRINGSET" {
				wantPresentList(t, fmt.Sprintf("%s[%d]", list, i), r, "stringSetValue")
			}
		}
	}
}

// checkMinimalTaskDefinition checks the lists of a task definition
// registered with one container and nothing else.
func checkMinimalTaskDefinition(t *testing.T, what string, td any) {
	t.Helper()
	wantEmptyLists(t, what, td, "volumes", "placementConstraints")
	wantPresentList(t, what, td, "compatibilities")
	wantPresentList(t, what, td, "requiresAttributes")
	wantEmptyLists(t, what+" container", at(t, td, "containerDefinitions", 0), "portMappings", "environment", "mountPoints", "volumesFrom")
}

// apiError returns the code and message of an API error.
func apiError(t *testing.T, err error) (string, string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want an API error, got %v", err)
	}
	return ae.ErrorCode(), ae.ErrorMessage()
}

func TestMessagesMatchECS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")}))(t)
	one := []types.ContainerDefinition{{Name: aws.String("a"), Image: aws.String("busybox"), Memory: aws.Int32(64)}}
	gt.Must(c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"), ContainerDefinitions: one}))(t)
	gt.Must(c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String("api"), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(1)}))(t)

	register := func(in ecs.RegisterTaskDefinitionInput) error {
		in.Family = aws.String("bad")
		if in.ContainerDefinitions == nil {
			in.ContainerDefinitions = one
		}
		_, err := c.RegisterTaskDefinition(ctx, &in)
		return err
	}
	for _, tc := range []struct {
		name, code, msg string
		call            func() error
	}{
		{"ListServices of a missing cluster", "ClusterNotFoundException", "Cluster not found.", func() error {
			_, err := c.ListServices(ctx, &ecs.ListServicesInput{Cluster: aws.String("nope")})
			return err
		}},
		{"DeleteService of a missing service", "ServiceNotFoundException", "Service not found.", func() error {
			_, err := c.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("prod"), Service: aws.String("ghost")})
			return err
		}},
		{"DeleteService scaled above 0", "InvalidParameterException", "The service cannot be stopped while it is scaled above 0.", func() error {
			_, err := c.DeleteService(ctx, &ecs.DeleteServiceInput{Cluster: aws.String("prod"), Service: aws.String("api")})
			return err
		}},
		{"DeregisterTaskDefinition of a family", "ClientException", "Revision is missing.", func() error {
			_, err := c.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web")})
			return err
		}},
		{"DeregisterTaskDefinition of a bad revision", "ClientException", "Invalid revision number. Number: x", func() error {
			_, err := c.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web:x")})
			return err
		}},
		{"DeregisterTaskDefinition of a missing revision", "ClientException", "Unable to describe task definition.", func() error {
			_, err := c.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("web:99")})
			return err
		}},
		{"DescribeTaskDefinition of a missing family", "ClientException", "Unable to describe task definition.", func() error {
			_, err := c.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("ghost")})
			return err
		}},
		{"RunTask of a missing family", "ClientException", "TaskDefinition not found.", func() error {
			_, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("ghost")})
			return err
		}},
		{"DescribeTasks: the cluster is checked first", "ClusterNotFoundException", "Cluster not found.", func() error {
			_, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("nope"), Tasks: []string{}})
			return err
		}},
		{"DescribeTasks of no task", "InvalidParameterException", "Tasks cannot be empty.", func() error {
			_, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("prod"), Tasks: []string{}})
			return err
		}},
		{"DescribeContainerInstances: the cluster is checked first", "ClusterNotFoundException", "Cluster not found.", func() error {
			_, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("nope"), ContainerInstances: []string{}})
			return err
		}},
		{"DescribeContainerInstances of no instance", "ClientException", "Container Instances cannot be empty.", func() error {
			_, err := c.DescribeContainerInstances(ctx, &ecs.DescribeContainerInstancesInput{Cluster: aws.String("prod"), ContainerInstances: []string{}})
			return err
		}},
		{"DeleteCluster with a service", "ClusterContainsServicesException", "The Cluster cannot be deleted while Services are active.", func() error {
			_, err := c.DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("prod")})
			return err
		}},
		{"CreateService of a name in use", "InvalidParameterException", "Creation of service was not idempotent.", func() error {
			_, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String("api"), TaskDefinition: aws.String("web"), DesiredCount: aws.Int32(2)})
			return err
		}},
		{"RunTask on a cluster without instances", "InvalidParameterException", "No Container Instances were found in your cluster.", func() error {
			_, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("web")})
			return err
		}},
		{"RunTask of a bridge task with a network configuration", "InvalidParameterException", "Network Configuration is not valid for the given networkMode of this task definition.", func() error {
			_, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("web"),
				NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{Subnets: []string{"subnet-1"}}}})
			return err
		}},
		{"RunTask with overrides over 8 KiB", "InvalidParameterException", "Container Overrides length must be at most 8192.", func() error {
			_, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("web"),
				Overrides: &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{{Name: aws.String("a"), Command: []string{strings.Repeat("x", 9000)}}}}})
			return err
		}},
		{"RegisterTaskDefinition of an unreadable cpu", "ClientException", "Invalid 'cpu' setting for task. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.", func() error {
			return register(ecs.RegisterTaskDefinitionInput{Cpu: aws.String("lots")})
		}},
		{"RegisterTaskDefinition of a cpu out of range", "ClientException", "Invalid 'cpu' setting for task. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.", func() error {
			return register(ecs.RegisterTaskDefinitionInput{Cpu: aws.String("64")})
		}},
		{"RegisterTaskDefinition of a size Fargate lacks", "ClientException", "No Fargate configuration exists for given values.", func() error {
			return register(ecs.RegisterTaskDefinitionInput{Cpu: aws.String("256"), Memory: aws.String("4096"), NetworkMode: types.NetworkModeAwsvpc,
				RequiresCompatibilities: []types.Compatibility{types.CompatibilityFargate}})
		}},
		{"RegisterTaskDefinition of a container without memory", "ClientException", "Invalid setting for container 'm'. At least one of 'memory' or 'memoryReservation' must be specified.", func() error {
			return register(ecs.RegisterTaskDefinitionInput{ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("m"), Image: aws.String("busybox")}}})
		}},
		{"RegisterTaskDefinition without an essential container", "ClientException", "Task definition doesn't have any essential container.", func() error {
			return register(ecs.RegisterTaskDefinitionInput{ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("m"), Image: aws.String("busybox"), Memory: aws.Int32(64), Essential: aws.Bool(false)}}})
		}},
		{"RegisterTaskDefinition of a container without a name", "ClientException", "Container.name should not be null or empty.", func() error {
			return register(ecs.RegisterTaskDefinitionInput{ContainerDefinitions: []types.ContainerDefinition{{Image: aws.String("busybox"), Memory: aws.Int32(64)}}})
		}},
		{"RegisterTaskDefinition of a container without an image", "ClientException", "Container.image should not be null or empty.", func() error {
			return register(ecs.RegisterTaskDefinitionInput{ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("m"), Memory: aws.Int32(64)}}})
		}},
		{"RegisterTaskDefinition of a COMPLETE dependency on an essential container", "ClientException", "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container", func() error {
			return register(ecs.RegisterTaskDefinitionInput{ContainerDefinitions: []types.ContainerDefinition{
				{Name: aws.String("init"), Image: aws.String("busybox"), Memory: aws.Int32(64)},
				{Name: aws.String("app"), Image: aws.String("busybox"), Memory: aws.Int32(64),
					DependsOn: []types.ContainerDependency{{ContainerName: aws.String("init"), Condition: types.ContainerConditionComplete}}},
			}})
		}},
		{"RegisterTaskDefinition of no container", "ClientException", "Container list cannot be empty.", func() error {
			return register(ecs.RegisterTaskDefinitionInput{ContainerDefinitions: []types.ContainerDefinition{}})
		}},
	} {
		code, msg := apiError(t, tc.call())
		if code != tc.code || msg != tc.msg {
			t.Errorf("%s: %s %q, want %s %q", tc.name, code, msg, tc.code, tc.msg)
		}
	}

	// An instance with a task is not deregistered without force.
	a := startAgent(t, env, c, "busy", 1024, 1024)
	gt.Must(c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("busy"), TaskDefinition: aws.String("web")}))(t)
	_, err := c.DeregisterContainerInstance(ctx, &ecs.DeregisterContainerInstanceInput{Cluster: aws.String("busy"), ContainerInstance: aws.String(a.arn)})
	if code, msg := apiError(t, err); code != "InvalidParameterException" || msg != "Found running tasks on the instance." {
		t.Errorf("DeregisterContainerInstance with a task: %s %q", code, msg)
	}

	// DeleteTaskDefinitions answers bad names in failures, in ECS's words.
	del := gt.Must(c.DeleteTaskDefinitions(ctx, &ecs.DeleteTaskDefinitionsInput{TaskDefinitions: []string{"web", "web:1", "web:99"}}))(t)
	want := []string{
		"The specified task definition identifier is invalid. Specify a valid name or ARN and try again.",
		"The specified task definition is still in ACTIVE status. Please deregister the target and try again.",
		"The specified task definition does not exist. Specify a valid account, family, revision and try again.",
	}
	if len(del.Failures) != len(want) || len(del.TaskDefinitions) != 0 {
		t.Fatalf("DeleteTaskDefinitions = %+v", del)
	}
	for i, f := range del.Failures {
		if aws.ToString(f.Reason) != want[i] {
			t.Errorf("failure %d (%s): reason %q, want %q", i, aws.ToString(f.Arn), aws.ToString(f.Reason), want[i])
		}
	}
}

// A task definition over ECS's 64 KiB is refused with ECS's answer, and
// nothing is stored; one just under the limit registers.
func TestTaskDefinitionSizeLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	withEnv := func(family string, n int) error {
		_, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
			Family: aws.String(family),
			ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("a"), Image: aws.String("busybox"), Memory: aws.Int32(64),
				Environment: []types.KeyValuePair{{Name: aws.String("BIG"), Value: aws.String(strings.Repeat("x", n))}}}},
		})
		return err
	}
	lengthMsg := regexp.MustCompile(`^Actual length: '([0-9]+)'\. Max allowed length is '65536' bytes\.$`)
	// A 6 MB definition does not get past the API edge's 1 MiB body limit.
	code, _ := apiError(t, withEnv("big", 6<<20))
	if code != "RequestEntityTooLargeException" {
		t.Fatalf("register with a 6 MiB value: %s, want the edge's RequestEntityTooLargeException", code)
	}
	for _, n := range []int{70 << 10, 900 << 10} {
		code, msg := apiError(t, withEnv("big", n))
		m := lengthMsg.FindStringSubmatch(msg)
		if code != "ClientException" || m == nil {
			t.Fatalf("register with a %d-byte value: %s %q", n, code, msg)
		}
		if got, _ := strconv.Atoi(m[1]); got <= n || got > n+1024 {
			t.Errorf("register with a %d-byte value: actual length %d", n, got)
		}
	}
	list := gt.Must(c.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("big")}))(t)
	if len(list.TaskDefinitionArns) != 0 {
		t.Fatalf("refused task definitions were stored: %v", list.TaskDefinitionArns)
	}
	if err := withEnv("fits", 60<<10); err != nil {
		t.Fatalf("register a 60 KiB task definition: %v", err)
	}
}

// A task definition stored before the limit (written to the store here)
// that is far larger than ECS allows: RunTask answers with a task or an
// error the caller can act on, never a server fault.
func TestRunTaskOfLargeStoredDefinition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	startAgent(t, env, c, "prod", 4096, 4096)
	td := gt.Must(c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String("huge"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("a"), Image: aws.String("busybox"), Memory: aws.Int32(64)}},
	}))(t).TaskDefinition
	st := env.Store().Sub(gt.Account + "/" + c.Options().Region)
	var rec model.TaskDefinition
	rev := gt.Must(st.Get(ctx, model.TaskDefinitionKey("huge", 1), &rec))(t)
	rec.Def.ContainerDefinitions[0].Environment = []ecswire.KeyValuePair{{Name: "BIG", Value: strings.Repeat("x", 6<<20)}}
	gt.Must(st.Txn().Expect(model.TaskDefinitionKey("huge", 1), rev).Put(model.TaskDefinitionKey("huge", 1), &rec).Commit(ctx))(t)

	_, err := c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: td.TaskDefinitionArn, Count: aws.Int32(10)})
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
		t.Fatalf("RunTask of a 6 MB stored task definition: a server fault: %v", err)
	}
	code, msg := apiError(t, err)
	if code != "ClientException" || !regexp.MustCompile(`^Actual length: '[0-9]{7}'\. Max allowed length is '65536' bytes\.$`).MatchString(msg) {
		t.Fatalf("RunTask of a 6 MB stored task definition: %s %q", code, msg)
	}

	// Ten tasks of the largest definition ECS registers run in one call.
	gt.Must(c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("large"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("a"), Image: aws.String("busybox"), Memory: aws.Int32(64),
			Environment: []types.KeyValuePair{{Name: aws.String("BIG"), Value: aws.String(strings.Repeat("x", 63<<10))}}}},
	}))(t)
	run := gt.Must(c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: aws.String("large"), Count: aws.Int32(10)}))(t)
	if len(run.Tasks) != 10 {
		t.Fatalf("RunTask of ten 63 KiB tasks = %d tasks, failures %+v", len(run.Tasks), run.Failures)
	}
}

// Tag keys and values outside the model's pattern (a NUL, bytes that are
// not UTF-8) are refused with ECS's validation answer, on every action that
// takes tags; letters of any script, spaces and _ . : / = + - @ are kept.
func TestTagsOutsideThePattern(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := gt.Shared(t)
	c := env.ECS()
	region := c.Options().Region
	cl := gt.Must(c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")}))(t).Cluster
	pattern := `failed to satisfy constraint: Member must satisfy regular expression pattern: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`

	_, err := c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: cl.ClusterArn, Tags: []types.Tag{tag("ok", "fine"), tag("team", "a\x00b")}})
	code, msg := apiError(t, err)
	if want := "1 validation error detected: Value 'a\x00b' at 'tags.2.member.value' " + pattern; code != "InvalidParameterException" || msg != want {
		t.Errorf("TagResource with a NUL: %s %q, want InvalidParameterException %q", code, msg, want)
	}
	_, err = c.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("tagged"), Tags: []types.Tag{tag("k\x00", "v")}})
	code, msg = apiError(t, err)
	if want := "1 validation error detected: Value 'k\x00' at 'tags.1.member.key' " + pattern; code != "InvalidParameterException" || msg != want {
		t.Errorf("CreateCluster with a NUL in a key: %s %q, want InvalidParameterException %q", code, msg, want)
	}
	_, err = c.UntagResource(ctx, &ecs.UntagResourceInput{ResourceArn: cl.ClusterArn, TagKeys: []string{"a\tb"}})
	if code, msg = apiError(t, err); code != "InvalidParameterException" || !strings.HasSuffix(msg, "at 'tagKeys.1.member' "+pattern) {
		t.Errorf("UntagResource with a tab: %s %q", code, msg)
	}

	// Bytes that are not UTF-8, sent raw: JSON reads them as U+FFFD.
	status, body := signedCall(t, env.URL, region, "RegisterTaskDefinition",
		[]byte("{\"family\":\"web\",\"containerDefinitions\":[{\"name\":\"a\",\"image\":\"busybox\",\"memory\":64}],\"tags\":[{\"key\":\"k\",\"value\":\"\xff\xfe\"}]}"))
	if status != http.StatusBadRequest || !bytes.Contains(body, []byte(`"__type":"InvalidParameterException"`)) || !bytes.Contains(body, []byte("at 'tags.1.member.value'")) {
		t.Errorf("RegisterTaskDefinition with a value not UTF-8: %d %s", status, body)
	}

	// Nothing was written.
	if tags := gt.Must(c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: cl.ClusterArn}))(t).Tags; len(tags) != 0 {
		t.Errorf("refused tags were stored: %v", tags)
	}
	if d := gt.Must(c.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{"tagged"}}))(t); len(d.Clusters) != 0 {
		t.Errorf("cluster with refused tags was created: %+v", d.Clusters)
	}
	if l := gt.Must(c.ListTaskDefinitions(ctx, &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("web")}))(t); len(l.TaskDefinitionArns) != 0 {
		t.Errorf("task definition with refused tags was registered: %v", l.TaskDefinitionArns)
	}

	// What the pattern allows.
	good := []types.Tag{tag("équipe", "données"), tag("Name", "web server"), tag("a_b.c:d/e=f+g-h@i", "日本語 123")}
	gt.Must(c.TagResource(ctx, &ecs.TagResourceInput{ResourceArn: cl.ClusterArn, Tags: good}))(t)
	if tags := gt.Must(c.ListTagsForResource(ctx, &ecs.ListTagsForResourceInput{ResourceArn: cl.ClusterArn}))(t).Tags; len(tags) != len(good) {
		t.Errorf("tags = %v, want %v", tags, good)
	}
}
