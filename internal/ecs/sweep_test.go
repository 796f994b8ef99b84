package ecs_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	gt "github.com/gantry-dev/gantry/internal/gantrytest"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// sweepOutputs maps each implemented ECS action to its response type.
var sweepOutputs = map[string]any{
	"CreateCluster": w.CreateClusterResponse{}, "DescribeClusters": w.DescribeClustersResponse{}, "ListClusters": w.ListClustersResponse{},
	"UpdateCluster": w.UpdateClusterResponse{}, "UpdateClusterSettings": w.UpdateClusterSettingsResponse{}, "DeleteCluster": w.DeleteClusterResponse{},
	"RegisterTaskDefinition": w.RegisterTaskDefinitionResponse{}, "DescribeTaskDefinition": w.DescribeTaskDefinitionResponse{},
	"ListTaskDefinitions": w.ListTaskDefinitionsResponse{}, "ListTaskDefinitionFamilies": w.ListTaskDefinitionFamiliesResponse{},
	"DeregisterTaskDefinition": w.DeregisterTaskDefinitionResponse{}, "DeleteTaskDefinitions": w.DeleteTaskDefinitionsResponse{},
	"RegisterContainerInstance": w.RegisterContainerInstanceResponse{}, "DescribeContainerInstances": w.DescribeContainerInstancesResponse{},
	"ListContainerInstances": w.ListContainerInstancesResponse{}, "UpdateContainerInstancesState": w.UpdateContainerInstancesStateResponse{},
	"DeregisterContainerInstance": w.DeregisterContainerInstanceResponse{},
	"PutAttributes":               w.PutAttributesResponse{}, "ListAttributes": w.ListAttributesResponse{}, "DeleteAttributes": w.DeleteAttributesResponse{},
	"TagResource": w.TagResourceResponse{}, "ListTagsForResource": w.ListTagsForResourceResponse{}, "UntagResource": w.UntagResourceResponse{},
	"PutAccountSetting": w.PutAccountSettingResponse{}, "PutAccountSettingDefault": w.PutAccountSettingDefaultResponse{},
	"ListAccountSettings": w.ListAccountSettingsResponse{}, "DeleteAccountSetting": w.DeleteAccountSettingResponse{},
	"RunTask": w.RunTaskResponse{}, "StartTask": w.StartTaskResponse{}, "DescribeTasks": w.DescribeTasksResponse{},
	"ListTasks": w.ListTasksResponse{}, "StopTask": w.StopTaskResponse{},
	"SubmitTaskStateChange": w.SubmitTaskStateChangeResponse{}, "SubmitContainerStateChange": w.SubmitContainerStateChangeResponse{},
	"CreateService": w.CreateServiceResponse{}, "DescribeServices": w.DescribeServicesResponse{}, "ListServices": w.ListServicesResponse{},
	"ListServicesByNamespace": w.ListServicesByNamespaceResponse{}, "UpdateService": w.UpdateServiceResponse{}, "DeleteService": w.DeleteServiceResponse{},
	"UpdateTaskProtection": w.UpdateTaskProtectionResponse{}, "GetTaskProtection": w.GetTaskProtectionResponse{},
	"DiscoverPollEndpoint":   w.DiscoverPollEndpointResponse{},
	"ListServiceDeployments": w.ListServiceDeploymentsResponse{}, "DescribeServiceDeployments": w.DescribeServiceDeploymentsResponse{},
	"DescribeServiceRevisions": w.DescribeServiceRevisionsResponse{}, "StopServiceDeployment": w.StopServiceDeploymentResponse{},
}

// sweepRefused are the implemented actions that always refuse, each with
// the model's exception (agentcalls.go): they have no response to sweep.
var sweepRefused = map[string]string{"UpdateContainerAgent": "NoUpdateAvailableException", "ExecuteCommand": "TargetNotConnectedException",
	"ContinueServiceDeployment": "InvalidParameterException"}

// TestSweepActions calls every implemented ECS action once, as raw signed
// JSON (the List* actions with filters that match nothing), and checks that each list member of its response is written (ECS
// writes them all, [] when empty; RegisterTaskDefinition's tags only when
// given). Every other action of the model answers UnknownOperationException,
// as docs/ecs-compatibility.md says.
func TestSweepActions(t *testing.T) {
	t.Parallel()
	env := gt.Shared(t)
	region := gt.NewRegion()
	c := env.ECSIn(region)
	a := startAgent(t, env, c, "sweep", 2048, 2048)
	clusterARN := "arn:aws:ecs:" + region + ":" + gt.Account + ":cluster/sweep"
	called := map[string]bool{}
	call := func(action, body string) map[string]any {
		t.Helper()
		status, raw := signedCall(t, env.URL, region, action, []byte(body))
		if status != http.StatusOK {
			t.Fatalf("%s %s: %d %s", action, body, status, raw)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s: %s: %v", action, raw, err)
		}
		called[action] = true
		out, ok := sweepOutputs[action]
		if !ok {
			t.Fatalf("%s is not in sweepOutputs", action)
		}
		typ := reflect.TypeOf(out)
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Type.Kind() != reflect.Slice || action == "RegisterTaskDefinition" && name == "tags" {
				continue
			}
			if _, ok := m[name].([]any); !ok {
				t.Errorf("%s: list member %q is not written: %s", action, name, raw)
			}
		}
		return m
	}
	str := func(m map[string]any, path ...any) string { return at(t, m, path...).(string) }

	call("CreateCluster", `{"clusterName":"spare"}`)
	call("DescribeClusters", `{"clusters":["sweep","spare"]}`)
	call("ListClusters", `{}`)
	call("UpdateCluster", `{"cluster":"sweep","settings":[{"name":"containerInsights","value":"enabled"}]}`)
	call("UpdateClusterSettings", `{"cluster":"sweep","settings":[{"name":"containerInsights","value":"disabled"}]}`)
	call("DeleteCluster", `{"cluster":"spare"}`)
	call("RegisterTaskDefinition", `{"family":"sw","containerDefinitions":[{"name":"a","image":"busybox","memory":64}]}`)
	call("DescribeTaskDefinition", `{"taskDefinition":"sw"}`)
	call("ListTaskDefinitions", `{"familyPrefix":"none"}`)
	call("ListTaskDefinitionFamilies", `{"familyPrefix":"none"}`)
	reg := call("RegisterContainerInstance", `{"cluster":"sweep","totalResources":[{"name":"CPU","type":"INTEGER","integerValue":1024},{"name":"MEMORY","type":"INTEGER","integerValue":1024}]}`)
	spare := str(reg, "containerInstance", "containerInstanceArn")
	call("DescribeContainerInstances", `{"cluster":"sweep","containerInstances":["`+a.arn+`"]}`)
	call("ListContainerInstances", `{"cluster":"sweep","status":"DRAINING"}`)
	call("PutAttributes", `{"cluster":"sweep","attributes":[{"name":"color","value":"red","targetType":"container-instance","targetId":"`+a.arn+`"}]}`)
	call("ListAttributes", `{"cluster":"sweep","targetType":"container-instance","attributeName":"nothing"}`)
	call("DeleteAttributes", `{"cluster":"sweep","attributes":[{"name":"color","targetType":"container-instance","targetId":"`+a.arn+`"}]}`)
	call("TagResource", `{"resourceArn":"`+clusterARN+`","tags":[{"key":"k","value":"v"}]}`)
	call("UntagResource", `{"resourceArn":"`+clusterARN+`","tagKeys":["k"]}`)
	call("ListTagsForResource", `{"resourceArn":"`+clusterARN+`"}`)
	call("PutAccountSetting", `{"name":"containerInsights","value":"enabled"}`)
	call("PutAccountSettingDefault", `{"name":"containerInsights","value":"disabled"}`)
	call("ListAccountSettings", `{}`)
	call("DeleteAccountSetting", `{"name":"containerInsights"}`)
	run := call("RunTask", `{"cluster":"sweep","taskDefinition":"sw"}`)
	task := str(run, "tasks", 0, "taskArn")
	call("StartTask", `{"cluster":"sweep","taskDefinition":"sw","containerInstances":["`+a.arn+`"]}`)
	call("SubmitContainerStateChange", `{"cluster":"sweep","task":"`+task+`","containerName":"a","status":"RUNNING"}`)
	call("SubmitTaskStateChange", `{"cluster":"sweep","task":"`+task+`","status":"RUNNING"}`)
	call("DescribeTasks", `{"cluster":"sweep","tasks":["`+task+`"]}`)
	call("ListTasks", `{"cluster":"sweep","family":"none"}`)
	call("UpdateTaskProtection", `{"cluster":"sweep","tasks":["`+task+`"],"protectionEnabled":true}`)
	call("GetTaskProtection", `{"cluster":"sweep","tasks":["`+task+`"]}`)
	call("DiscoverPollEndpoint", `{"cluster":"sweep"}`)
	for action, body := range map[string]string{
		"UpdateContainerAgent": `{"cluster":"sweep","containerInstance":"` + a.arn + `"}`,
		"ExecuteCommand":       `{"cluster":"sweep","task":"` + task + `","command":"sh","interactive":true}`,
	} {
		status, raw := signedCall(t, env.URL, region, action, []byte(body))
		if status != http.StatusBadRequest || !strings.Contains(string(raw), sweepRefused[action]) {
			t.Errorf("%s: %d %s, want %s", action, status, raw, sweepRefused[action])
		}
		called[action] = true
	}
	call("StopTask", `{"cluster":"sweep","task":"`+task+`"}`)
	call("ListServices", `{"cluster":"sweep"}`)
	call("CreateService", `{"cluster":"sweep","serviceName":"s","taskDefinition":"sw","desiredCount":0}`)
	call("DescribeServices", `{"cluster":"sweep","services":["s"]}`)
	deps := call("ListServiceDeployments", `{"cluster":"sweep","service":"s"}`)
	deployment := str(deps, "serviceDeployments", 0, "serviceDeploymentArn")
	call("ListServiceDeployments", `{"cluster":"sweep","service":"s","status":["ROLLBACK_FAILED"]}`)
	dd := call("DescribeServiceDeployments", `{"serviceDeploymentArns":["`+deployment+`"]}`)
	call("DescribeServiceDeployments", `{"serviceDeploymentArns":["`+deployment+`x"]}`)
	call("DescribeServiceRevisions", `{"serviceRevisionArns":["`+str(dd, "serviceDeployments", 0, "targetServiceRevision", "arn")+`"]}`)
	if _, ok := at(t, dd, "serviceDeployments", 0, "sourceServiceRevisions").([]any); !ok {
		t.Errorf("DescribeServiceDeployments: sourceServiceRevisions is not written: %v", dd)
	}
	// The first deployment has nothing to roll back to: refused, or (had
	// it been stoppable) answered; either way the action is served.
	if status, raw := signedCall(t, env.URL, region, "StopServiceDeployment", []byte(`{"serviceDeploymentArn":"`+deployment+`"}`)); status != http.StatusOK &&
		(status != http.StatusBadRequest || !strings.Contains(string(raw), "ConflictException")) {
		t.Errorf("StopServiceDeployment: %d %s, want ConflictException", status, raw)
	}
	called["StopServiceDeployment"] = true
	for action, body := range map[string]string{
		"ContinueServiceDeployment": `{"serviceDeploymentArn":"` + deployment + `","hookId":"h"}`,
	} {
		status, raw := signedCall(t, env.URL, region, action, []byte(body))
		if status != http.StatusBadRequest || !strings.Contains(string(raw), sweepRefused[action]) {
			t.Errorf("%s: %d %s, want %s", action, status, raw, sweepRefused[action])
		}
		called[action] = true
	}
	call("ListServicesByNamespace", `{"namespace":"local"}`)
	call("UpdateService", `{"cluster":"sweep","service":"s","desiredCount":0}`)
	call("DeleteService", `{"cluster":"sweep","service":"s"}`)
	call("UpdateContainerInstancesState", `{"cluster":"sweep","containerInstances":["`+spare+`"],"status":"DRAINING"}`)
	call("DeregisterContainerInstance", `{"cluster":"sweep","containerInstance":"`+spare+`","force":true}`)
	call("DeregisterTaskDefinition", `{"taskDefinition":"sw:1"}`)
	call("DeleteTaskDefinitions", `{"taskDefinitions":["sw:1"]}`)

	if len(called) != len(sweepOutputs)+len(sweepRefused) {
		t.Errorf("swept %d actions of %d", len(called), len(sweepOutputs))
	}
	var missing []string
	for _, op := range w.Operations {
		if called[op] {
			continue
		}
		missing = append(missing, op)
		status, raw := signedCall(t, env.URL, region, op, []byte(`{}`))
		if status != http.StatusBadRequest || !strings.Contains(string(raw), "UnknownOperationException") {
			t.Errorf("%s, not implemented: %d %s", op, status, raw)
		}
	}
	if len(called) != 50 || len(missing) != 27 {
		t.Errorf("%d actions implemented, %d not: docs/ecs-compatibility.md says 50 and 27", len(called), len(missing))
	}
}
