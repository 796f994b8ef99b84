package agent

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// fakeECR issues tokens "tok-1", "tok-2", ... valid ttl from now.
type fakeECR struct {
	calls int
	now   func() time.Time
	ttl   time.Duration
	err   error
}

func (f *fakeECR) GetAuthorizationToken(ctx context.Context, in *ecr.GetAuthorizationTokenInput, opts ...func(*ecr.Options)) (*ecr.GetAuthorizationTokenOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	f.calls++
	tok := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "AWS:tok-%d", f.calls))
	return &ecr.GetAuthorizationTokenOutput{AuthorizationData: []types.AuthorizationData{{
		AuthorizationToken: aws.String(tok), ExpiresAt: aws.Time(f.now().Add(f.ttl)), ProxyEndpoint: aws.String("http://127.0.0.1:4566"),
	}}}, nil
}

// Only images of the control plane's registry get credentials; the token is
// cached until shortly before it expires, and refresh replaces it.
func TestRegistryCreds(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	f := &fakeECR{now: clock, ttl: 12 * time.Hour}
	cfg := Default()
	cfg.Endpoint = "http://127.0.0.1:4566/"
	c := newRegistryCreds(&cfg, slog.New(slog.DiscardHandler))
	c.ecr, c.now = f, clock
	ctx := context.Background()

	for _, img := range []string{"busybox", "gantry-test/busybox:latest", "127.0.0.1:5000/web:1", "localhost:4566/web:1", "example.com/web:1"} {
		if a, err := c.RegistryAuth(ctx, img, false); a != nil || err != nil {
			t.Errorf("%s: %+v, %v; want an anonymous pull", img, a, err)
		}
	}
	if f.calls != 0 {
		t.Fatalf("GetAuthorizationToken called %d times for other registries", f.calls)
	}
	get := func(img string, refresh bool) string {
		t.Helper()
		a, err := c.RegistryAuth(ctx, img, refresh)
		if err != nil || a == nil {
			t.Fatalf("%s: %+v, %v", img, a, err)
		}
		if a.Username != "AWS" || a.ServerAddress != "127.0.0.1:4566" {
			t.Fatalf("%s: %+v", img, a)
		}
		return a.Password
	}
	if p := get("127.0.0.1:4566/web:1", false); p != "tok-1" {
		t.Fatalf("first token %q", p)
	}
	now = now.Add(11 * time.Hour)
	if p := get("127.0.0.1:4566/team/api@sha256:0123", false); p != "tok-1" || f.calls != 1 {
		t.Fatalf("cached token %q after %d calls", p, f.calls)
	}
	now = now.Add(56 * time.Minute) // 4 minutes before expiry
	if p := get("127.0.0.1:4566/web:1", false); p != "tok-2" {
		t.Fatalf("token near expiry %q, want a new one", p)
	}
	if p := get("127.0.0.1:4566/web:1", true); p != "tok-3" {
		t.Fatalf("refreshed token %q", p)
	}

	f.err = errors.New("boom")
	if _, err := c.RegistryAuth(ctx, "127.0.0.1:4566/web:1", true); err == nil {
		t.Fatal("a failed GetAuthorizationToken gave credentials")
	}
	if _, err := c.RegistryAuth(ctx, "127.0.0.1:4566/web:1", false); err == nil {
		t.Fatal("a failed refresh left the refused token cached")
	}
}
