package awsapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
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

func testEdge(t *testing.T) *httptest.Server {
	m := Model{Enums: map[string][]string{"Mode": {"fast", "slow"}}, InvalidParameter: testInvalid}
	svc := &Service{TargetPrefix: "TestService_20200101", Actions: map[string]Handler{
		"Echo": Action(m, func(ctx context.Context, in *echoIn) (*echoOut, error) {
			return &echoOut{Name: in.Name, Caller: CallerFrom(ctx)}, nil
		}),
		"Fail": Action(m, func(ctx context.Context, in *echoIn) (*echoOut, error) {
			return nil, errors.New("disk on fire: secret detail")
		}),
		"Refuse": Action(m, func(ctx context.Context, in *echoIn) (*echoOut, error) {
			return nil, testInvalid.Errorf("name %q is taken", in.Name)
		}),
	}}
	keys := Keys{}
	keys.Add("AKIDTEST", "s3cr3t", "111122223333")
	e := NewEdge(EdgeConfig{Keys: keys, Services: []*Service{svc}, MaxBody: 4096})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
}

type call struct {
	target, body      string
	key, secret, tok  string
	region            string
	at                time.Time
	unsigned, presign bool
	extraHeaders      map[string]string
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
	if !c.unsigned {
		sum := sha256.Sum256([]byte(c.body))
		creds := aws.Credentials{AccessKeyID: c.key, SecretAccessKey: c.secret, SessionToken: c.tok}
		signer := v4.NewSigner()
		if c.presign {
			u, _, err := signer.PresignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "test", c.region, c.at)
			if err != nil {
				t.Fatal(err)
			}
			req.URL, _ = url.Parse(u)
		} else if err := signer.SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "test", c.region, c.at); err != nil {
			t.Fatal(err)
		}
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

func TestEdgeSessionTokenAndPresign(t *testing.T) {
	srv := testEdge(t)
	resp, body := call{target: "TestService_20200101.Echo", body: `{"name":"tok"}`, tok: "FQoGZXIvYXdzEXAMPLE"}.do(t, srv)
	if resp.StatusCode != 200 {
		t.Fatalf("session token: %d %v", resp.StatusCode, body)
	}
	resp, body = call{target: "TestService_20200101.Echo", body: `{"name":"pre"}`, presign: true}.do(t, srv)
	if resp.StatusCode != 200 {
		t.Fatalf("presigned: %d %v", resp.StatusCode, body)
	}
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
