package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	gt "github.com/gantry-dev/gantry/internal/gantrytest"
)

// Findings about what the server accepts as authentication, with the real
// SDK against a real server.
func TestForeignCredentialsRefused(t *testing.T) {
	env := start(t)
	ctx := context.Background()

	// A session token Gantry did not issue: AWS's answer, not a pass.
	cfg := env.Config("us-east-1")
	cfg.Credentials = credentials.NewStaticCredentialsProvider(gt.KeyID, gt.KeySecret, "FwoGZXIvYXdzEJunkToken")
	_, err := ecs.NewFromConfig(cfg).ListClusters(ctx, &ecs.ListClustersInput{})
	gt.WantCode(t, err, "UnrecognizedClientException")
	if !strings.Contains(err.Error(), "The security token included in the request is invalid.") {
		t.Fatalf("session token: %v", err)
	}

	// A region that is no region (one like a:b would end up inside ARNs;
	// the SDK refuses that one itself).
	_, err = ecs.NewFromConfig(env.Config("US-EAST-1")).CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("x")})
	gt.WantCode(t, err, "InvalidSignatureException")
	if !strings.Contains(err.Error(), "Credential should be scoped to a valid region, not 'US-EAST-1'.") {
		t.Fatalf("region US-EAST-1: %v", err)
	}

	// An ECS call signed for ECR.
	body := []byte(`{}`)
	conn := dial(t, env)
	conn.Write(append(signedHead(t, env.Server.Addr(), "ecr", describeClusters, body), body...))
	conn.SetReadDeadline(deadline())
	resp, err := http.ReadResponse(bufioReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	if out.Type != "InvalidSignatureException" || out.Message != "Credential should be scoped to correct service: 'ecs'. " {
		t.Fatalf("ECS call signed for ecr: %d %+v", resp.StatusCode, out)
	}
}
