package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	gt "github.com/gantry-dev/gantry/internal/gantrytest"
	"github.com/gantry-dev/gantry/internal/server"
)

// The body stall deadline must not cut a registry upload that keeps
// moving, however long it takes, and must drop one that stops.
func TestRegistryUploadsAndTheStallDeadline(t *testing.T) {
	env := start(t, func(c *server.Config) { c.BodyStallTimeout = 300 * time.Millisecond })
	ctx := context.Background()
	c := ecr.NewFromConfig(env.Config("us-east-1"))
	gt.Must(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("app")}))(t)
	auth := gt.Must(c.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{}))(t)
	basic := "Basic " + aws.ToString(auth.AuthorizationData[0].AuthorizationToken)

	startUpload := func() string {
		req, _ := http.NewRequest(http.MethodPost, env.URL+"/v2/app/blobs/uploads/", nil)
		req.Header.Set("Authorization", basic)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("start upload: %d", resp.StatusCode)
		}
		return resp.Header.Get("Location")
	}
	blob := []byte(strings.Repeat("layer data ", 400))
	sum := sha256.Sum256(blob)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	put := func(location string) string {
		sep := "?"
		if strings.Contains(location, "?") {
			sep = "&"
		}
		return fmt.Sprintf("PUT %s%sdigest=%s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n",
			location, sep, digest, env.Server.Addr(), basic, len(blob))
	}

	// A monolithic upload sent in pieces over 1.5 s, five times the stall
	// deadline, but never silent for as long as it.
	slow := dial(t, env)
	slow.Write([]byte(put(startUpload())))
	for i := 0; i < len(blob); i += len(blob) / 15 {
		slow.Write(blob[i:min(i+len(blob)/15, len(blob))])
		time.Sleep(100 * time.Millisecond)
	}
	if status, _ := readResponse(t, slow); status != http.StatusCreated {
		t.Fatalf("a slow upload that kept moving: %d, want 201", status)
	}

	// The same upload stopping halfway is dropped.
	stalled := dial(t, env)
	stalled.Write([]byte(put(startUpload())))
	stalled.Write(blob[:len(blob)/2])
	if !closedByServer(stalled) {
		t.Fatal("the server still waits for a stalled upload")
	}
}
