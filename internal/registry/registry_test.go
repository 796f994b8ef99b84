package registry_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"
)

// do sends a request with the env's token (or tok if non-empty).
func (e *env) do(t testing.TB, method, path, tok string, body []byte, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if tok == "" {
		tok = e.token
	}
	req.SetBasicAuth("AWS", tok)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestTokens(t *testing.T) {
	e := newEnv(t)
	if r := e.do(t, "GET", "/v2/", "", nil); r.StatusCode != 200 || r.Header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
		t.Fatalf("valid token: %s", r.Status)
	}
	other, _ := e.reg.IssueToken("999999999999", "arn:aws:iam::999999999999:root", testKeyID, testRegion)
	if r := e.do(t, "GET", "/v2/", other, nil); r.StatusCode != http.StatusForbidden {
		t.Fatalf("token of another account: %s", r.Status)
	}
	expired := newEnvAt(t, time.Now().Add(-13*time.Hour))
	tok, _ := expired.reg.IssueToken(testAccount, "p", testKeyID, testRegion)
	expired.now = time.Now()
	if r := expired.do(t, "GET", "/v2/", tok, nil); r.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Fatalf("expired token: %s %q", r.Status, r.Header.Get("WWW-Authenticate"))
	}
}

func TestLimits(t *testing.T) {
	e := newEnv(t)
	e.createRepo(t, "big", "MUTABLE")
	huge := append([]byte(`{"schemaVersion":2,"annotations":{"a":"`), bytes.Repeat([]byte("x"), 4<<20)...)
	if r := e.do(t, "PUT", "/v2/big/manifests/v1", "", huge, "Content-Type", "application/vnd.oci.image.manifest.v1+json"); r.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("manifest over 4 MiB: %s", r.Status)
	}
	r := e.do(t, "POST", "/v2/big/blobs/uploads/", "", nil)
	loc := r.Header.Get("Location")
	if r.StatusCode != http.StatusAccepted || loc == "" {
		t.Fatalf("start upload: %s", r.Status)
	}
	if r := e.do(t, "PATCH", loc, "", []byte("abc"), "Content-Range", "0-2"); r.StatusCode != http.StatusAccepted || r.Header.Get("Range") != "0-2" {
		t.Fatalf("first chunk: %s %s", r.Status, r.Header.Get("Range"))
	}
	if r := e.do(t, "PATCH", loc, "", []byte("def"), "Content-Range", "5-7"); r.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("chunk out of order: %s", r.Status)
	}
	if r := e.do(t, "PUT", loc+"?digest=sha256:"+strings.Repeat("0", 64), "", nil); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("wrong digest: %s", r.Status)
	}
	if r := e.do(t, "PUT", "/v2/ghost/manifests/v1", "", []byte(`{"schemaVersion":2,"config":{"mediaType":"a/b","size":1,"digest":"sha256:`+strings.Repeat("0", 64)+`"},"layers":[]}`)); r.StatusCode != http.StatusNotFound {
		t.Fatalf("missing repository: %s", r.Status)
	}
}
