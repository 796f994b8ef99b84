package awsapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/gantry-dev/gantry/internal/testlog"
)

// The edge is tested with a tiny service of its own, signed by the AWS SDK's
// real SigV4 signer, over real HTTP.

type echoIn struct {
	Name  string `json:"name" aws:"required,min=1,max=8"`
	Mode  string `json:"mode,omitempty" aws:"enum=Mode"`
	Count *int32 `json:"count,omitempty" aws:"min=1,max=10"`
	Items []struct {
		Key string `json:"key" aws:"required"`
	} `json:"items,omitempty"`
}

type echoOut struct {
	Name   string `json:"name"`
	Caller Caller `json:"caller"`
}

var testInvalid = ClientCode("InvalidParameterException")

func testEdge(t *testing.T) *httptest.Server { return testEdgeLogging(t, io.Discard) }

// testEdgeLogging is testEdge with its log written to w.
func testEdgeLogging(t *testing.T, logTo io.Writer) *httptest.Server {
	m := Model{Enums: map[string][]string{"Mode": {"fast", "slow"}}, InvalidParameter: testInvalid}
	svc := &Service{TargetPrefix: "TestService_20200101", SigningName: "test", BodyLimits: map[string]int64{"Large": 8192}, Actions: map[string]Handler{
		"Echo": Action(m, func(ctx context.Context, in *echoIn) (*echoOut, error) {
			return &echoOut{Name: in.Name, Caller: CallerFrom(ctx)}, nil
		}),
		"Fail": Action(m, func(ctx context.Context, in *echoIn) (*echoOut, error) {
			return nil, errors.New("disk on fire: secret detail")
		}),
		"Large": Action(m, func(ctx context.Context, in *echoIn) (*echoOut, error) {
			return &echoOut{Name: in.Name}, nil
		}),
		"Busy": Action(m, func(ctx context.Context, in *echoIn) (*echoOut, error) {
			return nil, fmt.Errorf("commit: %w", overloadedErr{})
		}),
		"Refuse": Action(m, func(ctx context.Context, in *echoIn) (*echoOut, error) {
			return nil, testInvalid.Errorf("name %q is taken", in.Name)
		}),
	}}
	keys := Keys{}
	keys.Add("AKIDTEST", "s3cr3t", "111122223333")
	log := slog.New(slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e := NewEdge(EdgeConfig{Keys: keys, Services: []*Service{svc}, MaxBody: 4096, Logger: log})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
}

// overloadedErr is what the store returns when etcd pushes back.
type overloadedErr struct{}

func (overloadedErr) Error() string    { return "etcdserver: too many requests" }
func (overloadedErr) Overloaded() bool { return true }

// A store that pushes back gets the client AWS's answer to load,
// ThrottlingException "Rate exceeded" (HTTP 400, which SDKs retry after a
// back-off), instead of a server fault.
func TestEdgeOverloadedIsThrottling(t *testing.T) {
	srv := testEdge(t)
	resp, body := call{target: "TestService_20200101.Busy", body: `{"name":"a"}`}.do(t, srv)
	wantError(t, resp, body, http.StatusBadRequest, "ThrottlingException")
	if body["message"] != "Rate exceeded" {
		t.Fatalf("message %q, want Rate exceeded", body["message"])
	}
}

type call struct {
	target, body      string
	key, secret, tok  string
	region, service   string
	at                time.Time
	unsigned, presign bool
	expires           string // X-Amz-Expires of a presigned request
	payload           string // the payload hash signed, if not the body's
	extraHeaders      map[string]string
	afterSign         func(*http.Request)
}

func (c call) do(t *testing.T, srv *httptest.Server) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(c.body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if c.target != "" {
		req.Header.Set("X-Amz-Target", c.target)
	}
	for k, v := range c.extraHeaders {
		req.Header.Set(k, v)
	}
	if c.key == "" {
		c.key, c.secret = "AKIDTEST", "s3cr3t"
	}
	if c.region == "" {
		c.region = "eu-west-3"
	}
	if c.at.IsZero() {
		c.at = time.Now()
	}
	if c.service == "" {
		c.service = "test"
	}
	if !c.unsigned {
		sum := sha256.Sum256([]byte(c.body))
		payload := hex.EncodeToString(sum[:])
		if c.payload != "" {
			payload = c.payload
		}
		creds := aws.Credentials{AccessKeyID: c.key, SecretAccessKey: c.secret, SessionToken: c.tok}
		signer := v4.NewSigner()
		if c.presign {
			if c.expires != "" {
				req.URL.RawQuery = "X-Amz-Expires=" + c.expires
			}
			u, signed, err := signer.PresignHTTP(context.Background(), creds, req, payload, c.service, c.region, c.at)
			if err != nil {
				t.Fatal(err)
			}
			req.URL, _ = url.Parse(u)
			req.Header = signed
		} else if err := signer.SignHTTP(context.Background(), creds, req, payload, c.service, c.region, c.at); err != nil {
			t.Fatal(err)
		}
	}
	if c.afterSign != nil {
		c.afterSign(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("response is not JSON: %q", raw)
	}
	if resp.Header.Get("x-amzn-RequestId") == "" || resp.Header.Get("Date") == "" {
		t.Fatalf("response lacks x-amzn-RequestId or Date: %v", resp.Header)
	}
	return resp, body
}

func wantError(t *testing.T, resp *http.Response, body map[string]any, status int, code string) {
	t.Helper()
	if resp.StatusCode != status || body["__type"] != code {
		t.Fatalf("got %d %v, want %d %s", resp.StatusCode, body, status, code)
	}
	if h := resp.Header.Get("X-Amzn-ErrorType"); !strings.HasPrefix(h, code) {
		t.Fatalf("X-Amzn-ErrorType = %q, want %s", h, code)
	}
	if msg, _ := body["message"].(string); msg == "" {
		t.Fatalf("error without a message: %v", body)
	}
}

func TestEdgeSignedCall(t *testing.T) {
	srv := testEdge(t)
	resp, body := call{target: "TestService_20200101.Echo", body: `{"name":"web"}`}.do(t, srv)
	if resp.StatusCode != 200 || body["name"] != "web" {
		t.Fatalf("got %d %v", resp.StatusCode, body)
	}
	caller := body["caller"].(map[string]any)
	if caller["Account"] != "111122223333" || caller["Region"] != "eu-west-3" || caller["Principal"] != "arn:aws:iam::111122223333:root" {
		t.Fatalf("caller = %v", caller)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		t.Fatalf("content type %q", ct)
	}
}

// A presigned request is accepted only with an expiry within AWS's bound
// and a signed body, like any other.
func TestEdgePresigned(t *testing.T) {
	srv := testEdge(t)
	echo := "TestService_20200101.Echo"
	resp, body := call{target: echo, body: `{"name":"pre"}`, presign: true, expires: "300"}.do(t, srv)
	if resp.StatusCode != 200 || body["name"] != "pre" {
		t.Fatalf("presigned with X-Amz-Expires: %d %v", resp.StatusCode, body)
	}
	for _, tc := range []struct {
		name string
		c    call
		code string
	}{
		{"no expiry", call{target: echo, body: `{"name":"pre"}`, presign: true}, "IncompleteSignatureException"},
		{"expiry beyond 7 days", call{target: echo, body: `{"name":"pre"}`, presign: true, expires: "604801"}, "IncompleteSignatureException"},
		{"expired", call{target: echo, body: `{"name":"pre"}`, presign: true, expires: "60", at: time.Now().Add(-2 * time.Minute)}, "InvalidSignatureException"},
		// A URL signed over the host only with an unsigned payload is a
		// bearer token for any action and body: refused.
		{"host only, unsigned payload", call{target: echo, body: `{"name":"pre"}`, presign: true, expires: "300", payload: "UNSIGNED-PAYLOAD",
			afterSign: func(r *http.Request) { r.Header.Del("X-Amz-Target") }, extraHeaders: map[string]string{}}, "InvalidSignatureException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			if c.afterSign != nil {
				// Sign without the target header, then send the target.
				c.afterSign = func(r *http.Request) { r.Header.Set("X-Amz-Target", echo) }
				c.target = ""
			}
			resp, body := c.do(t, srv)
			wantError(t, resp, body, 400, tc.code)
		})
	}
}

// A header-signed request must sign its body: UNSIGNED-PAYLOAD is refused,
// and a body other than the one signed does not pass.
func TestEdgeUnsignedPayload(t *testing.T) {
	srv := testEdge(t)
	echo := "TestService_20200101.Echo"
	resp, body := call{target: echo, body: `{"name":"a"}`, payload: "UNSIGNED-PAYLOAD",
		extraHeaders: map[string]string{"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"}}.do(t, srv)
	wantError(t, resp, body, 400, "InvalidSignatureException")
	// The body swapped after signing with UNSIGNED-PAYLOAD.
	resp, body = call{target: echo, body: `{"name":"a"}`, payload: "UNSIGNED-PAYLOAD",
		extraHeaders: map[string]string{"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"},
		afterSign: func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(`{"name":"b"}`))
			r.ContentLength = int64(len(`{"name":"b"}`))
		}}.do(t, srv)
	wantError(t, resp, body, 400, "InvalidSignatureException")
}

// A session token Gantry did not issue is refused as AWS refuses one.
func TestEdgeSessionToken(t *testing.T) {
	srv := testEdge(t)
	resp, body := call{target: "TestService_20200101.Echo", body: `{"name":"tok"}`, tok: "FQoGZXIvYXdzEXAMPLE"}.do(t, srv)
	wantError(t, resp, body, 400, "UnrecognizedClientException")
	if body["message"] != "The security token included in the request is invalid." {
		t.Fatalf("message = %q", body["message"])
	}
	resp, body = call{target: "TestService_20200101.Echo", body: `{"name":"tok"}`, tok: "FQoGZXIvYXdzEXAMPLE", presign: true, expires: "60"}.do(t, srv)
	wantError(t, resp, body, 400, "UnrecognizedClientException")
}

// The credential scope must name the service's signing name and a region.
func TestEdgeCredentialScope(t *testing.T) {
	srv := testEdge(t)
	echo := "TestService_20200101.Echo"
	resp, body := call{target: echo, body: `{"name":"a"}`, service: "ecs"}.do(t, srv)
	wantError(t, resp, body, 400, "InvalidSignatureException")
	if body["message"] != "Credential should be scoped to correct service: 'test'. " {
		t.Fatalf("message = %q", body["message"])
	}
	for _, region := range []string{"a:b", "US-EAST-1", "eu--west-1", "x y"} {
		resp, body := call{target: echo, body: `{"name":"a"}`, region: region}.do(t, srv)
		wantError(t, resp, body, 400, "InvalidSignatureException")
		if want := "Credential should be scoped to a valid region, not '" + region + "'. "; body["message"] != want {
			t.Fatalf("message = %q, want %q", body["message"], want)
		}
	}
}

// The target header must be signed, or a signature would serve any action.
func TestEdgeTargetMustBeSigned(t *testing.T) {
	srv := testEdge(t)
	resp, body := call{body: `{"name":"a"}`, afterSign: func(r *http.Request) { r.Header.Set("X-Amz-Target", "TestService_20200101.Echo") }}.do(t, srv)
	wantError(t, resp, body, 400, "InvalidSignatureException")
}

// The body limit is the action's own where it has one, the edge's
// otherwise.
func TestEdgeBodyLimits(t *testing.T) {
	srv := testEdge(t)
	mid := `{"name":"` + strings.Repeat("x", 5000) + `"}`
	resp, body := call{target: "TestService_20200101.Echo", body: mid}.do(t, srv)
	wantError(t, resp, body, 413, "RequestEntityTooLargeException")
	resp, body = call{target: "TestService_20200101.Large", body: mid}.do(t, srv)
	wantError(t, resp, body, 400, "InvalidParameterException") // read, decoded, validated: name too long
	resp, body = call{target: "TestService_20200101.Large", body: `{"name":"` + strings.Repeat("x", 9000) + `"}`}.do(t, srv)
	wantError(t, resp, body, 413, "RequestEntityTooLargeException")
}

func TestEdgeAuthErrors(t *testing.T) {
	srv := testEdge(t)
	echo := "TestService_20200101.Echo"
	cases := []struct {
		name   string
		c      call
		status int
		code   string
	}{
		{"unsigned", call{target: echo, body: `{}`, unsigned: true}, 400, "MissingAuthenticationTokenException"},
		{"unknown key", call{target: echo, body: `{}`, key: "AKIDNOPE", secret: "x"}, 400, "UnrecognizedClientException"},
		{"wrong secret", call{target: echo, body: `{}`, key: "AKIDTEST", secret: "wrong"}, 400, "InvalidSignatureException"},
		{"clock 20 min behind", call{target: echo, body: `{}`, at: time.Now().Add(-20 * time.Minute)}, 400, "InvalidSignatureException"},
		{"clock 20 min ahead", call{target: echo, body: `{}`, at: time.Now().Add(20 * time.Minute)}, 400, "InvalidSignatureException"},
		{"garbage authorization", call{target: echo, body: `{}`, unsigned: true, extraHeaders: map[string]string{"Authorization": "AWS4-HMAC-SHA256 nonsense"}}, 400, "IncompleteSignatureException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := tc.c.do(t, srv)
			wantError(t, resp, body, tc.status, tc.code)
		})
	}
	// Within the allowed skew the call succeeds.
	resp, body := call{target: echo, body: `{"name":"ok"}`, at: time.Now().Add(-14 * time.Minute)}.do(t, srv)
	if resp.StatusCode != 200 {
		t.Fatalf("14 min skew refused: %v", body)
	}
}

func TestEdgeTamperedBody(t *testing.T) {
	srv := testEdge(t)
	// Sign one body, send another: the server hashes what it received.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(`{"name":"a"}`))
	req.Header.Set("X-Amz-Target", "TestService_20200101.Echo")
	sum := sha256.Sum256([]byte(`{"name":"a"}`))
	v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "s3cr3t"}, req, hex.EncodeToString(sum[:]), "test", "us-east-1", time.Now())
	req.Body = io.NopCloser(bytes.NewReader([]byte(`{"name":"b"}`)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	wantError(t, resp, body, 400, "InvalidSignatureException")
}

func TestEdgeRequestErrors(t *testing.T) {
	srv := testEdge(t)
	cases := []struct {
		name, target, body string
		status             int
		code, inMessage    string
	}{
		{"unknown action", "TestService_20200101.Nope", `{}`, 400, "UnknownOperationException", "Nope"},
		{"unknown service", "Other_1.Echo", `{}`, 400, "UnknownOperationException", "Other_1.Echo"},
		{"malformed JSON", "TestService_20200101.Echo", `{"name":`, 400, "SerializationException", "JSON"},
		{"wrong type", "TestService_20200101.Echo", `{"name":42}`, 400, "SerializationException", "name"},
		{"missing required", "TestService_20200101.Echo", `{}`, 400, "InvalidParameterException", "name: is required"},
		{"too long", "TestService_20200101.Echo", `{"name":"123456789"}`, 400, "InvalidParameterException", "at most 8"},
		{"bad enum", "TestService_20200101.Echo", `{"name":"a","mode":"warp"}`, 400, "InvalidParameterException", `"warp" is not one of [fast, slow]`},
		{"number out of range", "TestService_20200101.Echo", `{"name":"a","count":11}`, 400, "InvalidParameterException", "count"},
		{"nested required", "TestService_20200101.Echo", `{"name":"a","items":[{"key":"x"},{}]}`, 400, "InvalidParameterException", "items[1].key"},
		{"typed error", "TestService_20200101.Refuse", `{"name":"a"}`, 400, "InvalidParameterException", "taken"},
		{"body too large", "TestService_20200101.Echo", `{"name":"` + strings.Repeat("x", 5000) + `"}`, 413, "RequestEntityTooLargeException", "4096"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := call{target: tc.target, body: tc.body}.do(t, srv)
			wantError(t, resp, body, tc.status, tc.code)
			if msg := body["message"].(string); !strings.Contains(msg, tc.inMessage) {
				t.Fatalf("message %q does not mention %q", msg, tc.inMessage)
			}
		})
	}
}

func TestEdgeServerFaultHidesDetail(t *testing.T) {
	srv := testEdge(t)
	resp, body := call{target: "TestService_20200101.Fail", body: `{"name":"a"}`}.do(t, srv)
	wantError(t, resp, body, 500, "ServerException")
	if strings.Contains(body["message"].(string), "secret detail") {
		t.Fatalf("server fault leaked its cause: %v", body)
	}
}

func TestEmptyBodyIsEmptyRequest(t *testing.T) {
	srv := testEdge(t)
	resp, body := call{target: "TestService_20200101.Echo", body: ``}.do(t, srv)
	wantError(t, resp, body, 400, "InvalidParameterException")
}

// Every refused call is logged at INFO with what an operator needs to find
// it: the target, the error code, the access key id and the request id.
func TestEdgeLogsRefusedCalls(t *testing.T) {
	var buf testlog.Buffer
	srv := testEdgeLogging(t, &buf)
	resp, _ := call{target: "TestService_20200101.Echo", body: `{"name":"a"}`, key: "AKIDTEST", secret: "wrong"}.do(t, srv)
	line := buf.String()
	for _, want := range []string{"level=INFO", "target=TestService_20200101.Echo", "error=InvalidSignatureException",
		"access_key_id=AKIDTEST", "request_id=" + resp.Header.Get("x-amzn-RequestId")} {
		if !strings.Contains(line, want) {
			t.Fatalf("log %q lacks %q", line, want)
		}
	}
	buf.Reset()
	call{target: "TestService_20200101.Echo", body: `{"name":"a"}`}.do(t, srv)
	if buf.String() != "" {
		t.Fatalf("a successful call is logged at INFO: %q", buf.String())
	}
}
