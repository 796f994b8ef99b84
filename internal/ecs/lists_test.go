package ecs

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"

	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// The answer step, around a handler written here: a refusal keeps ECS's
// message for the client and puts Gantry's advice in the log; a response gets
// the lists ECS always writes, and keeps the ones it leaves out absent.
func TestAnswerLogsHintAndFillsLists(t *testing.T) {
	var logs bytes.Buffer
	s := &Service{log: slog.New(slog.NewTextHandler(&logs, nil))}

	refuse := s.answer("DescribeClusters", func(context.Context, []byte) (any, error) {
		return nil, withHint(ClusterNotFound.Errorf("Cluster not found."), "cluster %s does not exist", "nope")
	})
	_, err := refuse(context.Background(), nil)
	if !ClusterNotFound.Is(err) {
		t.Fatalf("err = %v, want a ClusterNotFoundException", err)
	}
	for _, want := range []string{"ecs request refused", "action=DescribeClusters", "error=ClusterNotFoundException", `message="Cluster not found."`, `hint="cluster nope does not exist"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log %q lacks %q", logs.String(), want)
		}
	}

	answer := s.answer("RegisterTaskDefinition", func(context.Context, []byte) (any, error) {
		return &w.RegisterTaskDefinitionResponse{TaskDefinition: &w.TaskDefinition{
			Family:               "web",
			ContainerDefinitions: []w.ContainerDefinition{{Name: "a", Command: nil}},
		}}, nil
	})
	out, err := answer(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(out)
	got := string(b)
	for _, want := range []string{`"volumes":[]`, `"placementConstraints":[]`, `"portMappings":[]`, `"environment":[]`, `"mountPoints":[]`, `"volumesFrom":[]`} {
		if !strings.Contains(got, want) {
			t.Errorf("response %s lacks %s", got, want)
		}
	}
	for _, absent := range []string{`"tags"`, `"command"`, `"links"`} {
		if strings.Contains(got, absent) {
			t.Errorf("response %s has %s, which ECS leaves out when empty", got, absent)
		}
	}
}

// BenchmarkFillLists measures the answer step's walk over the largest
// common response: DescribeTasks of 100 tasks of two containers each.
func BenchmarkFillLists(b *testing.B) {
	tasks := make([]w.Task, 100)
	for i := range tasks {
		tasks[i] = w.Task{TaskArn: "arn", Containers: []w.Container{{Name: "a", LastStatus: "RUNNING"}, {Name: "b"}},
			Overrides: &w.TaskOverride{ContainerOverrides: []w.ContainerOverride{{Name: "a"}, {Name: "b"}}}}
	}
	for b.Loop() {
		b.StopTimer() // a fresh response, its lists nil, each time
		out := &w.DescribeTasksResponse{Tasks: slices.Clone(tasks)}
		for i := range out.Tasks {
			out.Tasks[i].Containers = slices.Clone(tasks[i].Containers)
		}
		b.StartTimer()
		fillLists(out)
	}
}
