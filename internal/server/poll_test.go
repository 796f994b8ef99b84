package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-dev/gantry/internal/agentproto"
	gt "github.com/gantry-dev/gantry/internal/gantrytest"
	"github.com/gantry-dev/gantry/internal/server"
)

// poll sends an agent's Poll as the agent signs it and decodes the answer.
func poll(t *testing.T, url string, in agentproto.PollRequest) agentproto.PollResponse {
	body, _ := json.Marshal(in)
	req, _ := http.NewRequest(http.MethodPost, url+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", agentproto.TargetPrefix+".Poll")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: gt.KeyID, SecretAccessKey: gt.KeySecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ecs", "us-east-1", time.Now()); err != nil {
		t.Error(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("poll: %v", err)
		return agentproto.PollResponse{}
	}
	defer resp.Body.Close()
	var out agentproto.PollResponse
	if resp.StatusCode != 200 {
		t.Errorf("poll: %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
	json.NewDecoder(resp.Body).Decode(&out)
	return out
}

// The idle and body deadlines must not cut an agent's long poll: a poll
// that waits far longer than both still receives the task placed during
// its wait.
func TestLongPollOutlivesTheDeadlines(t *testing.T) {
	env := start(t, func(c *server.Config) {
		c.IdleTimeout, c.BodyStallTimeout = 100*time.Millisecond, 100*time.Millisecond
	})
	ctx := context.Background()
	c := env.ECSIn("us-east-1")
	ci := gt.Must(c.RegisterContainerInstance(ctx, &ecs.RegisterContainerInstanceInput{
		TotalResources: []types.Resource{
			{Name: aws.String("CPU"), Type: aws.String("INTEGER"), IntegerValue: 1024},
			{Name: aws.String("MEMORY"), Type: aws.String("INTEGER"), IntegerValue: 1024},
		},
	}))(t).ContainerInstance
	arn := aws.ToString(ci.ContainerInstanceArn)
	first := poll(t, env.URL, agentproto.PollRequest{Cluster: "default", ContainerInstanceArn: arn})
	gt.Must(c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"),
		ContainerDefinitions: []types.ContainerDefinition{{Name: aws.String("web"), Image: aws.String("gantry-test/busybox"), Memory: aws.Int32(64)}}}))(t)

	got := make(chan agentproto.PollResponse, 1)
	go func() {
		got <- poll(t, env.URL, agentproto.PollRequest{Cluster: "default", ContainerInstanceArn: arn, AckSeq: first.Seq, WaitSeconds: 10})
	}()
	time.Sleep(time.Second) // ten times the idle and stall timeouts
	gt.Must(c.RunTask(ctx, &ecs.RunTaskInput{TaskDefinition: aws.String("web")}))(t)
	if out := <-got; len(out.Tasks) != 1 {
		t.Fatalf("the long poll returned %d tasks, want the one placed during its wait: %+v", len(out.Tasks), out)
	}
}
