package engine

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/agentproto"
	"github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// perturb changes the value v holds (a field of a Task or a Container) to
// another one.
func perturb(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		if t, ok := v.Interface().(*time.Time); ok {
			*t = t.Add(time.Second)
			return
		}
		perturb(v.Elem())
	case reflect.Slice:
		elem := reflect.New(v.Type().Elem()).Elem()
		if elem.Kind() == reflect.Pointer {
			elem.Set(reflect.New(elem.Type().Elem()))
		}
		v.Set(reflect.Append(v, elem))
	default:
		panic("perturb: no rule for " + v.Type().String())
	}
}

func sampleTask() *Task {
	start := time.Now()
	code := int32(3)
	return &Task{
		Assignment: agentproto.Assignment{TaskArn: "arn:task", Definition: ecswire.TaskDefinition{Family: "f",
			ContainerDefinitions: []ecswire.ContainerDefinition{{Name: "app"}}}},
		Desired: agentproto.StatusRunning, Known: StatusRunning, PullStartedAt: &start,
		Volumes: []string{"v"},
		Containers: []*Container{{Name: "app", RuntimeID: "id", Known: StatusRunning, StartedAt: &start, ExitCode: &code,
			Bindings: []ecswire.NetworkBinding{{ContainerPort: new(int32(80))}}}},
	}
}

// clone copies every field of a task and its containers without sharing
// them (but the assignment), and sameState sees a change of any field.
func TestCloneAndSameStateCoverEveryField(t *testing.T) {
	orig := sampleTask()
	before, _ := json.Marshal(orig)
	c := orig.clone()
	if !reflect.DeepEqual(orig, c) || !sameState(orig, c) {
		t.Fatalf("clone differs: %+v", c)
	}
	tt := reflect.TypeFor[Task]()
	for i := range tt.NumField() {
		f := tt.Field(i)
		if f.Name == "Assignment" || f.Name == "Containers" {
			continue
		}
		c := orig.clone()
		perturb(reflect.ValueOf(c).Elem().Field(i))
		if sameState(orig, c) {
			t.Errorf("sameState misses a change of Task.%s", f.Name)
		}
	}
	ct := reflect.TypeFor[Container]()
	for i := range ct.NumField() {
		c := orig.clone()
		perturb(reflect.ValueOf(c.Containers[0]).Elem().Field(i))
		if sameState(orig, c) {
			t.Errorf("sameState misses a change of Container.%s", ct.Field(i).Name)
		}
	}
	// Changing every field of a clone, in place, leaves the original alone.
	c = orig.clone()
	cv := reflect.ValueOf(c).Elem()
	for i := range tt.NumField() {
		if name := tt.Field(i).Name; name != "Assignment" && name != "Containers" {
			perturb(cv.Field(i))
		}
	}
	*c.PullStartedAt = c.PullStartedAt.Add(time.Hour)
	for i := range ct.NumField() {
		perturb(reflect.ValueOf(c.Containers[0]).Elem().Field(i))
	}
	*c.Containers[0].StartedAt = time.Time{}
	*c.Containers[0].ExitCode = 99
	*c.Containers[0].Bindings[0].ContainerPort = 81
	if after, _ := json.Marshal(orig); string(after) != string(before) {
		t.Errorf("changing the clone changed the original:\n%s\n%s", before, after)
	}
}
