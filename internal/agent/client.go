package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// client makes SigV4-signed AWS JSON 1.1 calls to the control plane: the
// agent protocol's Poll, and SubmitTaskStateChange with Gantry's additions
// (the SDK's shape has no healthStatus).
type client struct {
	endpoint string
	region   string
	creds    aws.Credentials
	signer   *v4.Signer
	http     *http.Client
}

func newClient(cfg *Config) *client {
	return &client{
		endpoint: strings.TrimRight(cfg.Endpoint, "/") + "/",
		region:   cfg.Region,
		creds:    aws.Credentials{AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.SecretAccessKey, Source: "gantry-agent"},
		signer:   v4.NewSigner(),
		http:     &http.Client{Transport: agentTransport()},
	}
}

// agentTransport is an agent's own connection pool: a long poll holds one
// connection while reports use others, so it keeps a few idle ones (Go's
// shared default keeps two per host, which a fleet of simulated agents in
// one process would churn through).
func agentTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 4
	return t
}

// APIError is an error answer of the control plane.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s: %s (HTTP %d)", e.Code, e.Message, e.Status)
}

// APICode, APIMessage and HTTPStatus let the metadata endpoint pass the
// answer on to a container.
func (e *APIError) APICode() string    { return e.Code }
func (e *APIError) APIMessage() string { return e.Message }
func (e *APIError) HTTPStatus() int    { return e.Status }

// client errors are permanent: retrying the same request cannot succeed.
func (e *APIError) permanent() bool {
	return e.Status >= 400 && e.Status < 500 && e.Code != "ThrottlingException"
}

// call posts in to target ("Prefix.Action") and decodes the answer into out.
func (c *client) call(ctx context.Context, target string, in, out any, timeout time.Duration) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if err := c.signer.SignHTTP(ctx, c.creds, req, hash, "ecs", c.region, time.Now()); err != nil {
		return fmt.Errorf("sign %s: %w", target, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s: read answer: %w", target, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(b, &e)
		code := e.Type
		if i := strings.LastIndexByte(code, '#'); i >= 0 {
			code = code[i+1:]
		}
		if code == "" {
			code = resp.Header.Get("X-Amzn-ErrorType")
		}
		return &APIError{Status: resp.StatusCode, Code: code, Message: e.Message}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s: decode answer: %w", target, err)
	}
	return nil
}

// apiCode returns the code of an *APIError ("" otherwise).
func apiCode(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}
