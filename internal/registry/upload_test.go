package registry_test

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/registry"
)

func sha512Of(b []byte) string { s := sha512.Sum512(b); return "sha512:" + hex.EncodeToString(s[:]) }

func digestIn(alg string, b []byte) string {
	if alg == "sha512" {
		return sha512Of(b)
	}
	return digestOf(b)
}

// randomBytes returns n bytes of a deterministic pseudo-random stream.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// stream hides a reader's length, so that a request body goes out chunked.
type stream struct{ r io.Reader }

func (s stream) Read(p []byte) (int, error) { return s.r.Read(p) }

// send sends a request with the env's token; body may be nil, a []byte
// (sent with its length) or a stream (sent chunked).
func (e *env) send(t *testing.T, method, target string, body any, hdr ...string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case []byte:
		rd = bytes.NewReader(b)
	case stream:
		rd = b
	}
	u := target
	if !strings.HasPrefix(u, "http") {
		u = e.srv.URL + target
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("AWS", e.token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(msg)
}

// withDigest returns an upload location with ?digest= set.
func withDigest(loc, digest string) string {
	u, _ := url.Parse(loc)
	q := u.Query()
	q.Set("digest", digest)
	u.RawQuery = q.Encode()
	return u.String()
}

// leftovers lists the files under the registry's uploads/ directory.
func (e *env) leftovers(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(e.dir, "uploads"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, en := range entries {
		out = append(out, en.Name())
	}
	return out
}

// TestUploadDigests pushes content in every upload shape with each
// algorithm, with the right digest and with a wrong one. The algorithm of a
// streamed or chunked upload is known only at its PUT: it is hashed with
// SHA-256 until then, and a PUT naming SHA-512 catches up on what came
// before. Every shape must store what was sent under the right digest, and
// refuse a wrong digest with DIGEST_INVALID, leaving nothing behind.
func TestUploadDigests(t *testing.T) {
	e := newEnv(t)
	e.createRepo(t, "up", "MUTABLE")
	// Sizes around the registry's 256 KiB stream buffer and its 8 MiB
	// writeback step, and none.
	sizes := []int{0, 1, 256<<10 - 1, 256 << 10, 1<<20 + 7, 9<<20 + 123}
	type shape struct {
		name string
		// push uploads content and asks for digest; it returns the
		// final answer.
		push func(t *testing.T, content []byte, digest string) (*http.Response, string)
	}
	start := func(t *testing.T) string {
		resp, msg := e.send(t, "POST", "/v2/up/blobs/uploads/", nil)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST: %s %s", resp.Status, msg)
		}
		return resp.Header.Get("Location")
	}
	patch := func(t *testing.T, loc string, body any, hdr ...string) string {
		resp, msg := e.send(t, "PATCH", loc, body, hdr...)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("PATCH: %s %s", resp.Status, msg)
		}
		return resp.Header.Get("Location")
	}
	shapes := []shape{
		{"monolithic POST", func(t *testing.T, c []byte, d string) (*http.Response, string) {
			return e.send(t, "POST", "/v2/up/blobs/uploads/?digest="+d, c)
		}},
		{"POST then PUT", func(t *testing.T, c []byte, d string) (*http.Response, string) {
			return e.send(t, "PUT", withDigest(start(t), d), c)
		}},
		{"POST then streamed PUT", func(t *testing.T, c []byte, d string) (*http.Response, string) {
			return e.send(t, "PUT", withDigest(start(t), d), stream{bytes.NewReader(c)})
		}},
		{"streamed PATCH", func(t *testing.T, c []byte, d string) (*http.Response, string) {
			loc := patch(t, start(t), stream{bytes.NewReader(c)})
			return e.send(t, "PUT", withDigest(loc, d), nil)
		}},
		{"chunks, last one in the PUT", func(t *testing.T, c []byte, d string) (*http.Response, string) {
			loc := start(t)
			a, b := len(c)/3, 2*len(c)/3
			if a > 0 {
				loc = patch(t, loc, c[:a], "Content-Range", "0-"+strconv.Itoa(a-1), "Content-Type", "application/octet-stream")
			}
			if b > a {
				loc = patch(t, loc, c[a:b], "Content-Range", strconv.Itoa(a)+"-"+strconv.Itoa(b-1), "Content-Type", "application/octet-stream")
			}
			return e.send(t, "PUT", withDigest(loc, d), c[b:])
		}},
	}
	for _, sh := range shapes {
		for _, alg := range []string{"sha256", "sha512"} {
			t.Run(sh.name+"/"+alg, func(t *testing.T) {
				for i, n := range sizes {
					content := randomBytes(n, uint64(i+1))
					// A wrong digest: that of other content, in the same
					// algorithm.
					wrong := digestIn(alg, append(content[:n:n], 'x'))
					if resp, msg := sh.push(t, content, wrong); resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg, "DIGEST_INVALID") {
						t.Fatalf("%d bytes, wrong digest: %s %s", n, resp.Status, msg)
					}
					d := digestIn(alg, content)
					if resp, msg := sh.push(t, content, d); resp.StatusCode != http.StatusCreated || resp.Header.Get("Docker-Content-Digest") != d {
						t.Fatalf("%d bytes: %s %s", n, resp.Status, msg)
					}
					resp, _ := e.send(t, "HEAD", "/v2/up/blobs/"+d, nil)
					if resp.StatusCode != http.StatusOK || resp.ContentLength != int64(n) {
						t.Fatalf("%d bytes: HEAD blob: %s, length %d", n, resp.Status, resp.ContentLength)
					}
					req, _ := http.NewRequest("GET", e.srv.URL+"/v2/up/blobs/"+d, nil)
					req.SetBasicAuth("AWS", e.token)
					got, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					body, _ := io.ReadAll(got.Body)
					got.Body.Close()
					if !bytes.Equal(body, content) {
						t.Fatalf("%d bytes: GET blob returned %d other bytes", n, len(body))
					}
				}
				if l := e.leftovers(t); len(l) != 0 {
					t.Fatalf("files left under uploads/: %v", l)
				}
			})
		}
	}
}

// TestUploadAlgorithmChange: a PUT that fails to read its body leaves the
// session open; one naming the other algorithm afterwards still gets the
// content verified in that algorithm.
func TestUploadAlgorithmChange(t *testing.T) {
	e := newEnv(t)
	e.createRepo(t, "up", "MUTABLE")
	content := randomBytes(600<<10, 7)
	resp, _ := e.send(t, "POST", "/v2/up/blobs/uploads/", nil)
	loc := resp.Header.Get("Location")
	resp, msg := e.send(t, "PATCH", loc, content[:300<<10], "Content-Type", "application/octet-stream")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("PATCH: %s %s", resp.Status, msg)
	}
	loc = resp.Header.Get("Location")
	// A PUT with an empty body naming SHA-512 of the whole content: the
	// upload does not match (half of it is missing), and is discarded.
	if resp, msg := e.send(t, "PUT", withDigest(loc, sha512Of(content)), nil); resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg, "DIGEST_INVALID") {
		t.Fatalf("PUT of a partial upload: %s %s", resp.Status, msg)
	}
	if resp, _ := e.send(t, "GET", loc, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("session after a failed PUT: %s", resp.Status)
	}

	// Through the ECR layer API, where a failed completion keeps the
	// session: SHA-512 first (wrong, then right), then SHA-256.
	ctx := context.Background()
	id, err := e.reg.StartUpload(ctx, e.ns, testKeyID, "up")
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(content); off += 200 << 10 {
		if _, err := e.reg.AppendUpload(e.ns, "up", id, int64(off), content[off:min(off+200<<10, len(content))]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.reg.CompleteUpload(ctx, e.ns, "up", id, []string{sha512Of(content[1:])}); !registry.DigestInvalid.Is(err) {
		t.Fatalf("complete with a wrong sha512 digest: %v", err)
	}
	if _, err := e.reg.CompleteUpload(ctx, e.ns, "up", id, []string{digestOf(content[1:])}); !registry.DigestInvalid.Is(err) {
		t.Fatalf("complete with a wrong sha256 digest: %v", err)
	}
	if size, err := e.reg.CompleteUpload(ctx, e.ns, "up", id, []string{sha512Of(content), digestOf(content)}); err != nil || size != int64(len(content)) {
		t.Fatalf("complete with both right digests: %d %v", size, err)
	}
	if size, err := e.reg.BlobSize(ctx, e.ns, "up", sha512Of(content)); err != nil || size != int64(len(content)) {
		t.Fatalf("blob after the layer upload: %d %v", size, err)
	}
}

// TestRepushBlob: pushing content the store has already keeps the stored
// copy (touched) and discards the new one.
func TestRepushBlob(t *testing.T) {
	e := newEnv(t)
	e.createRepo(t, "up", "MUTABLE")
	e.createRepo(t, "other", "MUTABLE")
	content := randomBytes(1<<20, 9)
	d := digestOf(content)
	path := filepath.Join(e.dir, "blobs", "sha256", d[7:9], d[7:])
	for i, repo := range []string{"up", "up", "other"} {
		resp, _ := e.send(t, "POST", "/v2/"+repo+"/blobs/uploads/", nil)
		resp, msg := e.send(t, "PATCH", resp.Header.Get("Location"), stream{bytes.NewReader(content)})
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("PATCH: %s %s", resp.Status, msg)
		}
		old := time.Now().Add(-time.Hour)
		if i > 0 {
			os.Chtimes(path, old, old)
		}
		if resp, msg := e.send(t, "PUT", withDigest(resp.Header.Get("Location"), d), nil); resp.StatusCode != http.StatusCreated {
			t.Fatalf("push %d to %s: %s %s", i, repo, resp.Status, msg)
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Size() != int64(len(content)) || fi.ModTime().Before(old.Add(time.Minute)) {
			t.Fatalf("push %d: stored content %v, %v", i, fi, err)
		}
		if resp, _ := e.send(t, "HEAD", "/v2/"+repo+"/blobs/"+d, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("push %d: HEAD blob in %s: %s", i, repo, resp.Status)
		}
	}
	if l := e.leftovers(t); len(l) != 0 {
		t.Fatalf("files left under uploads/: %v", l)
	}
}

// TestPullRecord: a GET of a manifest and a HEAD by tag record the pull
// (lastRecordedPullTime), at most once a minute per image; a HEAD by digest
// does not.
func TestPullRecord(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	e := newEnvAt(t, t0)
	e.createRepo(t, "app", "MUTABLE")
	m := client{t, e}.pushImage("app", "v1", []byte(`{"c":1}`), []byte("layer"))
	d := digestOf(m)
	ctx := context.Background()
	record := func() (int64, int64) {
		img, rev, err := e.reg.Resolve(ctx, e.ns, "app", d)
		if err != nil {
			t.Fatal(err)
		}
		return img.LastPull, rev
	}
	accept := []string{"Accept", registry.MediaOCIManifest}
	head := func(ref string) {
		if resp, _ := e.send(t, "HEAD", "/v2/app/manifests/"+ref, nil, accept...); resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Content-Digest") != d {
			t.Fatalf("HEAD %s: %s", ref, resp.Status)
		}
	}
	if last, _ := record(); last != 0 {
		t.Fatalf("pull recorded at push: %d", last)
	}
	e.now = t0.Add(time.Second)
	head(d)
	if last, _ := record(); last != 0 {
		t.Fatalf("a HEAD by digest recorded a pull at %d", last)
	}
	e.now = t0.Add(2 * time.Second)
	head("v1")
	last, rev := record()
	if last != e.now.UnixMilli() {
		t.Fatalf("after a HEAD by tag, lastPull = %d, want %d", last, e.now.UnixMilli())
	}
	// Within the minute, neither HEADs nor GETs write again.
	e.now = t0.Add(50 * time.Second)
	for range 5 {
		head("v1")
		if resp, _ := e.send(t, "GET", "/v2/app/manifests/v1", nil, accept...); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET: %s", resp.Status)
		}
	}
	if l, r := record(); l != last || r != rev {
		t.Fatalf("pulls within a minute rewrote the image: lastPull %d rev %d, was %d rev %d", l, r, last, rev)
	}
	e.now = t0.Add(2*time.Second + time.Minute)
	head("v1")
	if l, _ := record(); l != e.now.UnixMilli() {
		t.Fatalf("a HEAD by tag a minute later: lastPull = %d, want %d", l, e.now.UnixMilli())
	}
	e.now = t0.Add(3 * time.Minute)
	if resp, _ := e.send(t, "GET", "/v2/app/manifests/"+d, nil, accept...); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET by digest: %s", resp.Status)
	}
	if l, _ := record(); l != e.now.UnixMilli() {
		t.Fatalf("a GET by digest: lastPull = %d, want %d", l, e.now.UnixMilli())
	}
}
