package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/gantry-dev/gantry/internal/gantrytest"
	"github.com/gantry-dev/gantry/internal/server"
)

// leavingKey is an access key that the server stops accepting on restart.
const leavingKey, leavingSecret = "AKIDLEAVING", "leaving-secret"

// TestRegistryHardening drives the registry's server settings through the
// SDK's ECR client and /v2/: blobs land in --registry-dir; an access key's
// upload sessions are capped (LimitExceededException); a removed key's
// registry tokens stop working after a restart while others keep working;
// --rotate-registry-secret ends every token issued before it.
func TestRegistryHardening(t *testing.T) {
	ctx := context.Background()
	dataDir, regDir := t.TempDir(), filepath.Join(t.TempDir(), "blobs")
	start := func(rotate bool, keys ...string) *server.Server {
		cfg := server.Default()
		cfg.Listen, cfg.DataDir, cfg.AccountID, cfg.AccessKeys = "127.0.0.1:0", dataDir, gantrytest.Account, keys
		cfg.RegistryDir, cfg.RegistryMaxUploads, cfg.RotateRegistrySecret = regDir, 2, rotate
		s, err := server.Start(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	both := []string{gantrytest.KeyID + ":" + gantrytest.KeySecret, leavingKey + ":" + leavingSecret}
	s := start(false, both...)
	client := func(s *server.Server, id, secret string) *ecr.Client {
		cfg := gantrytest.ConfigFor(s.URL(), "us-east-1")
		cfg.Credentials = credentials.NewStaticCredentialsProvider(id, secret, "")
		return ecr.NewFromConfig(cfg)
	}
	token := func(c *ecr.Client) string {
		out, err := c.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := base64.StdEncoding.DecodeString(aws.ToString(out.AuthorizationData[0].AuthorizationToken))
		return strings.TrimPrefix(string(raw), "AWS:")
	}
	v2 := func(s *server.Server, method, path, tok string, body []byte) *http.Response {
		req, _ := http.NewRequest(method, s.URL()+path, bytes.NewReader(body))
		req.SetBasicAuth("AWS", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	mine, theirs := client(s, gantrytest.KeyID, gantrytest.KeySecret), client(s, leavingKey, leavingSecret)
	if _, err := mine.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	myToken, theirToken := token(mine), token(theirs)

	// Blobs land in --registry-dir.
	blob := []byte("layer content")
	sum := sha256.Sum256(blob)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	if r := v2(s, "POST", "/v2/app/blobs/uploads/?digest="+digest, theirToken, blob); r.StatusCode != http.StatusCreated {
		t.Fatalf("push a blob: %s", r.Status)
	}
	if _, err := os.Stat(filepath.Join(regDir, "blobs", "sha256", digest[7:9], digest[7:])); err != nil {
		t.Fatalf("the blob is not under --registry-dir: %v", err)
	}

	// Two sessions per key; the third is refused, another key's is not.
	for range 2 {
		if _, err := mine.InitiateLayerUpload(ctx, &ecr.InitiateLayerUploadInput{RepositoryName: aws.String("app")}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := mine.InitiateLayerUpload(ctx, &ecr.InitiateLayerUploadInput{RepositoryName: aws.String("app")})
	gantrytest.WantCode(t, err, "LimitExceededException")
	if _, err := theirs.InitiateLayerUpload(ctx, &ecr.InitiateLayerUploadInput{RepositoryName: aws.String("app")}); err != nil {
		t.Fatalf("another key's session: %v", err)
	}
	s.Close()

	// Restarted without the leaving key: its token is refused, ours works.
	s = start(false, both[0])
	if r := v2(s, "GET", "/v2/", theirToken, nil); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("token of a removed key after the restart: %s", r.Status)
	}
	if r := v2(s, "GET", "/v2/app/blobs/"+digest, myToken, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("token of a kept key after the restart: %s", r.Status)
	}
	s.Close()

	// Restarted with --rotate-registry-secret: every earlier token is refused.
	s = start(true, both[0])
	defer s.Close()
	if r := v2(s, "GET", "/v2/", myToken, nil); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a token from before the rotation: %s", r.Status)
	}
	if r := v2(s, "GET", "/v2/app/blobs/"+digest, token(client(s, gantrytest.KeyID, gantrytest.KeySecret)), nil); r.StatusCode != http.StatusOK {
		t.Fatalf("a token from after the rotation: %s", r.Status)
	}
}

// TestParseDiskReserve reads the forms --registry-disk-reserve accepts.
func TestParseDiskReserve(t *testing.T) {
	for in, want := range map[string][2]float64{
		"": {0, 0}, "0": {0, 0}, "1GiB": {1 << 30, 0}, "500MB": {500e6, 0}, "2 GB": {2e9, 0}, "1048576": {1 << 20, 0},
		"5%": {0, 5}, "0.5%": {0, 0.5},
	} {
		b, p, err := server.ParseDiskReserve(in)
		if err != nil || float64(b) != want[0] || p != want[1] {
			t.Errorf("ParseDiskReserve(%q) = %d, %v, %v; want %v", in, b, p, err, want)
		}
	}
	for _, bad := range []string{"lots", "1XB", "-1GiB", "100%", "-5%", "GiB"} {
		if _, _, err := server.ParseDiskReserve(bad); err == nil || !strings.Contains(err.Error(), "--registry-disk-reserve") {
			t.Errorf("ParseDiskReserve(%q) = %v, want an error naming the flag", bad, err)
		}
	}
}
