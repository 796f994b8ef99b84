package agent

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/gantry-dev/gantry/internal/agent/rt"
)

// tokenMargin is how long before its expiry a cached registry token is
// replaced (ECR tokens live 12 hours).
const tokenMargin = 5 * time.Minute

// tokenSource is what registryCreds needs of ECR: GetAuthorizationToken.
type tokenSource interface {
	GetAuthorizationToken(ctx context.Context, in *ecr.GetAuthorizationTokenInput, opts ...func(*ecr.Options)) (*ecr.GetAuthorizationTokenOutput, error)
}

// registryCreds gives image pulls from the control plane's built-in
// registry the credentials ECR's GetAuthorizationToken issues to the
// agent's own keys ("AWS" and the token), cached until shortly before they
// expire. Images of other registries are pulled anonymously.
type registryCreds struct {
	host string // the control plane's host:port, as image references name it
	ecr  tokenSource
	log  *slog.Logger
	now  func() time.Time

	mu      sync.Mutex
	token   string
	renewAt time.Time
}

var _ rt.Credentials = (*registryCreds)(nil)

// newRegistryCreds returns the credentials of the control plane at
// cfg.Endpoint, asked with the same keys and region as the ECS client.
func newRegistryCreds(cfg *Config, log *slog.Logger) *registryCreds {
	return &registryCreds{host: endpointHost(cfg.Endpoint), ecr: ecr.NewFromConfig(awsConfig(cfg)), log: log, now: time.Now}
}

// endpointHost is the host[:port] of an endpoint URL ("" if it has none).
func endpointHost(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Host)
}

// imageHost is the registry host[:port] of an image reference, "" for an
// image of the default registry (Docker's rule: the first path component is
// a host when it has a '.' or a ':', or is localhost).
func imageHost(image string) string {
	h, _, ok := strings.Cut(image, "/")
	if !ok || (!strings.ContainsAny(h, ".:") && h != "localhost") {
		return ""
	}
	return strings.ToLower(h)
}

// RegistryAuth returns the built-in registry's credentials for its images,
// nil for any other image.
func (c *registryCreds) RegistryAuth(ctx context.Context, image string, refresh bool) (*rt.RegistryAuth, error) {
	host := imageHost(image)
	if host == "" || host != c.host {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if refresh || c.token == "" || !c.now().Before(c.renewAt) {
		if err := c.fetch(ctx); err != nil {
			return nil, err
		}
	}
	return &rt.RegistryAuth{Username: "AWS", Password: c.token, ServerAddress: host}, nil
}

// fetch gets a new token with GetAuthorizationToken (c.mu held).
func (c *registryCreds) fetch(ctx context.Context) error {
	c.token = ""
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := c.ecr.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return fmt.Errorf("ecr GetAuthorizationToken: %w", err)
	}
	if len(out.AuthorizationData) == 0 {
		return errors.New("ecr GetAuthorizationToken: no authorization data in the answer")
	}
	d := out.AuthorizationData[0]
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(d.AuthorizationToken))
	if err != nil {
		return fmt.Errorf("ecr GetAuthorizationToken: the token is not base64: %w", err)
	}
	user, password, ok := strings.Cut(string(raw), ":")
	if !ok || user != "AWS" || password == "" {
		return errors.New("ecr GetAuthorizationToken: the token is not AWS:<password>")
	}
	now := c.now()
	renew := now.Add(time.Minute) // no expiry given: ask again soon
	if d.ExpiresAt != nil {
		life := d.ExpiresAt.Sub(now)
		renew = now.Add(life - min(tokenMargin, life/2))
	}
	c.token, c.renewAt = password, renew
	c.log.Debug("got a registry token", "registry", c.host, "renew_at", renew)
	return nil
}
