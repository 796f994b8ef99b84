package ecr_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/gantry-dev/gantry/internal/awsapi"
	gecr "github.com/gantry-dev/gantry/internal/ecr"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/state"
)

const (
	keyID     = "AKIDECRTEST"
	keySecret = "ecr-test-secret"
	account   = "123456789012"
)

// env is the AWS edge with the ECR API and the registry on one loopback
// listener, over a real embedded etcd, as the server wires them.
type env struct {
	url string
	reg *registry.Registry
	svc *gecr.Service
}

var regions atomic.Int64

// newEnv starts an edge + registry in a fresh data directory.
func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	st, err := state.Open(context.Background(), state.Config{DataDir: dir}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg, err := registry.New(registry.Config{Store: st, DataDir: filepath.Join(dir, "registry"), Account: account,
		TokenSecret: []byte("0123456789abcdef0123456789abcdef"), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	keys := awsapi.Keys{}
	keys.Add(keyID, keySecret, account)
	svc := gecr.New(reg, log)
	edge := awsapi.NewEdge(awsapi.EdgeConfig{Keys: keys, Services: []*awsapi.Service{svc.API()}, Logger: log})
	mux := http.NewServeMux()
	mux.Handle("/v2/", reg)
	mux.Handle("/", edge)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{url: srv.URL, reg: reg, svc: svc}
}

// client returns an ECR client in a region of its own.
func (e *env) client() *ecr.Client {
	return ecr.NewFromConfig(aws.Config{
		Region:       fmt.Sprintf("test-%d", regions.Add(1)),
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, keySecret, ""),
		BaseEndpoint: aws.String(e.url),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	})
}
