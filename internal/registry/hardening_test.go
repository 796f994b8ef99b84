package registry_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/registry"
)

// openFiles counts this process's open file descriptors.
func openFiles(t testing.TB) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open files: %v", err)
	}
	return len(entries)
}

// startSession opens a /v2/ upload session in repo and returns its location.
func (e *env) startSession(t *testing.T, repo string) string {
	t.Helper()
	resp, msg := e.send(t, "POST", "/v2/"+repo+"/blobs/uploads/", nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start upload: %s %s", resp.Status, msg)
	}
	return resp.Header.Get("Location")
}

// TestUploadSessionsHoldNoFiles: upload sessions between their requests
// hold no open file, so open sessions cannot exhaust the server's
// descriptors (hardening finding: 20,000 sessions crashed the server).
func TestUploadSessionsHoldNoFiles(t *testing.T) {
	e := newEnv(t)
	e.createRepo(t, "up", "MUTABLE")
	e.startSession(t, "up") // the client's connection is open from here on
	before := openFiles(t)
	const sessions = 200
	locs := make([]string, sessions)
	for i := range locs {
		locs[i] = e.startSession(t, "up")
		if resp, msg := e.send(t, "PATCH", locs[i], []byte("chunk"), "Content-Range", "0-4"); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("PATCH: %s %s", resp.Status, msg)
		}
	}
	if after := openFiles(t); after-before >= sessions/4 {
		t.Fatalf("%d open upload sessions raised the open files from %d to %d", sessions, before, after)
	}
	if n := len(e.leftovers(t)); n != sessions+1 {
		t.Fatalf("%d upload files, want %d", n, sessions+1)
	}
	// The sessions still work: one completes with what its chunks held.
	loc := locs[sessions/2]
	if resp, msg := e.send(t, "PUT", withDigest(loc, digestOf([]byte("chunk more"))), []byte(" more")); resp.StatusCode != http.StatusCreated {
		t.Fatalf("complete a session: %s %s", resp.Status, msg)
	}
}

// TestUploadSessionCap: one access key may hold at most MaxUploads sessions;
// the next gets 429 TOOMANYREQUESTS saying what to do, another key is not
// affected, and a cancelled session frees its place.
func TestUploadSessionCap(t *testing.T) {
	e := newEnvAt(t, time.Time{}, func(c *registry.Config) { c.MaxUploads = 3 })
	e.createRepo(t, "up", "MUTABLE")
	e.createRepo(t, "other", "MUTABLE")
	var locs []string
	for _, repo := range []string{"up", "other", "up"} {
		locs = append(locs, e.startSession(t, repo))
	}
	resp, msg := e.send(t, "POST", "/v2/other/blobs/uploads/", nil)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(msg, `"code":"TOOMANYREQUESTS"`) || !strings.Contains(msg, "complete or cancel") {
		t.Fatalf("a 4th session of one key: %s %s", resp.Status, msg)
	}
	if len(e.leftovers(t)) != 3 {
		t.Fatalf("a refused session left a file: %v", e.leftovers(t))
	}
	// The ECR layer API counts against the same key.
	ctx := context.Background()
	if _, err := e.reg.StartUpload(ctx, e.ns, testKeyID, "up"); !registry.TooManyRequests.Is(err) {
		t.Fatalf("InitiateLayerUpload over the cap: %v", err)
	}
	if _, err := e.reg.StartUpload(ctx, e.ns, "AKIDOTHER", "up"); err != nil {
		t.Fatalf("another key's session: %v", err)
	}
	if resp, msg := e.send(t, "DELETE", locs[1], nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("cancel: %s %s", resp.Status, msg)
	}
	e.startSession(t, "up")
	// A completed session frees its place too.
	if resp, msg := e.send(t, "PUT", withDigest(locs[0], digestOf([]byte("x"))), []byte("x")); resp.StatusCode != http.StatusCreated {
		t.Fatalf("complete: %s %s", resp.Status, msg)
	}
	e.startSession(t, "up")
}

// TestUploadReaperRunsOnATimer: idle sessions are discarded, with their
// files, by the registry's own timer, with no new upload to trigger it; so
// are upload files no session owns (a crash's leftovers), while a session
// in use keeps its file.
func TestUploadReaperRunsOnATimer(t *testing.T) {
	var offset atomic.Int64 // how far the registry's clock is ahead
	e := newEnvAt(t, time.Time{}, func(c *registry.Config) {
		c.MaintenanceInterval = 20 * time.Millisecond
		c.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	})
	e.createRepo(t, "up", "MUTABLE")
	idle := e.startSession(t, "up")
	orphan := filepath.Join(e.dir, "uploads", "upload-orphan")
	if err := os.WriteFile(orphan, []byte("left by a crash"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(orphan, old, old)
	offset.Store(int64(2 * time.Hour))
	busy := e.startSession(t, "up") // started "now", two hours after idle
	// Only the busy session's file stays (a GET of the idle session would
	// count as activity: it is checked after).
	deadline := time.Now().Add(10 * time.Second)
	for l := e.leftovers(t); len(l) != 1; l = e.leftovers(t) {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s, upload files %v, want the busy session's only", l)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if resp, _ := e.send(t, "GET", idle, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the idle session after the reaper: %s", resp.Status)
	}
	if resp, msg := e.send(t, "PUT", withDigest(busy, digestOf([]byte("y"))), []byte("y")); resp.StatusCode != http.StatusCreated {
		t.Fatalf("the busy session: %s %s", resp.Status, msg)
	}
}

// TestOrphanUploadsRemovedAtStart: upload files a crash left are removed
// when the registry starts again (those idle longer than the idle timeout).
func TestOrphanUploadsRemovedAtStart(t *testing.T) {
	e := newEnv(t)
	e.createRepo(t, "up", "MUTABLE")
	dir := filepath.Join(e.dir, "uploads")
	for i := range 3 {
		p := filepath.Join(dir, fmt.Sprintf("upload-crashed%d", i))
		os.WriteFile(p, []byte("partial layer"), 0o644)
		old := time.Now().Add(-2 * time.Hour)
		os.Chtimes(p, old, old)
	}
	fresh := filepath.Join(dir, "upload-fresh")
	os.WriteFile(fresh, nil, 0o644)
	reg, err := registry.New(registry.Config{Store: e.st, DataDir: e.dir, Account: testAccount, Logger: e.log,
		TokenSecret: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if l := e.leftovers(t); len(l) != 1 || l[0] != "upload-fresh" {
		t.Fatalf("upload files after a restart: %v, want only the recent one", l)
	}
}

// TestDiskReserve: the registry refuses uploads with 403 DENIED, saying the
// disk reserve is reached, before the free space of its filesystem drops
// below the reserve: at the start of an upload, and while it streams (the
// partial content is then removed). A reserve above the free space
// simulates a full disk.
func TestDiskReserve(t *testing.T) {
	full := newEnvAt(t, time.Time{}, func(c *registry.Config) { c.DiskReservePercent = 99.99 })
	full.createRepo(t, "up", "MUTABLE")
	denied := func(what string, resp *http.Response, msg string) {
		t.Helper()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(msg, `"code":"DENIED"`) || !strings.Contains(msg, "disk reserve is reached") {
			t.Fatalf("%s on a full disk: %s %s", what, resp.Status, msg)
		}
	}
	resp, msg := full.send(t, "POST", "/v2/up/blobs/uploads/", nil)
	denied("POST", resp, msg)
	content := []byte("layer")
	resp, msg = full.send(t, "POST", "/v2/up/blobs/uploads/?digest="+digestOf(content), content)
	denied("monolithic POST", resp, msg)
	if _, err := full.reg.StartUpload(context.Background(), full.ns, testKeyID, "up"); !registry.Denied.Is(err) {
		t.Fatalf("InitiateLayerUpload on a full disk: %v", err)
	}
	if l := full.leftovers(t); len(l) != 0 {
		t.Fatalf("refused uploads left files: %v", l)
	}

	// While streaming: a reserve a few MiB below the free space lets the
	// upload start and stops it once it has written about that much. Free
	// space moves with other writers on the machine: retry a few times.
	e := newEnv(t)
	e.createRepo(t, "up", "MUTABLE")
	for attempt := 0; ; attempt++ {
		reg, err := registry.New(registry.Config{Store: e.st, DataDir: e.dir, Account: testAccount, Logger: e.log,
			TokenSecret: []byte("0123456789abcdef0123456789abcdef"), DiskReserveBytes: freeSpace(t, e.dir) - 16<<20})
		if err != nil {
			t.Fatal(err)
		}
		defer reg.Close()
		srv := httptest.NewServer(reg)
		defer srv.Close()
		resp, msg := e.send(t, "POST", srv.URL+"/v2/up/blobs/uploads/", nil)
		if resp.StatusCode == http.StatusForbidden && attempt < 3 {
			continue // another writer took the margin meanwhile
		}
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("start: %s %s", resp.Status, msg)
		}
		loc := srv.URL + resp.Header.Get("Location")
		// Up to 1 GiB of zeroes, generated as sent.
		resp, msg = e.send(t, "PATCH", loc, stream{&zeroes{n: 1 << 30}})
		if resp.StatusCode == http.StatusAccepted && attempt < 3 {
			continue // another writer freed space meanwhile
		}
		denied("a streamed PATCH", resp, msg)
		if l := e.leftovers(t); len(l) != 0 {
			t.Fatalf("the refused upload left files: %v", l)
		}
		if resp, _ := e.send(t, "GET", loc, nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("the refused session is still open: %s", resp.Status)
		}
		return
	}
}

// freeSpace returns the space available on the filesystem of dir.
func freeSpace(t *testing.T, dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// zeroes reads as n zero bytes.
type zeroes struct{ n int }

func (z *zeroes) Read(p []byte) (int, error) {
	if z.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), z.n)
	clear(p[:k])
	z.n -= k
	return k, nil
}

// TestManifestReferenceLimit: a manifest with 25,000 references answers
// 400 MANIFEST_INVALID naming the limit (it answered 500: the reads of its
// references overflowed one etcd transaction), in an image manifest and in
// an index; a manifest at the limit is stored.
func TestManifestReferenceLimit(t *testing.T) {
	e := newEnv(t)
	e.createRepo(t, "big", "MUTABLE")
	fake := func(i int) string { return digestOf([]byte(fmt.Sprint(i))) }
	layers := func(n int) string {
		var ls []string
		for i := range n {
			ls = append(ls, fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":%d}`, fake(i), len(fmt.Sprint(i))))
		}
		return strings.Join(ls, ",")
	}
	config := []byte(`{}`)
	client{t, e}.pushBlob("big", config, false)
	manifest := func(n int) []byte {
		return []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":2},"layers":[%s]}`, digestOf(config), layers(n)))
	}
	put := func(body []byte, mt string) (*http.Response, string) {
		return e.send(t, "PUT", "/v2/big/manifests/v1", body, "Content-Type", mt)
	}
	resp, msg := put(manifest(25000), registry.MediaOCIManifest)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg, "MANIFEST_INVALID") || !strings.Contains(msg, "1000") {
		t.Fatalf("a manifest of 25,000 layers: %s %.300s", resp.Status, msg)
	}
	var ms []string
	for i := range 25000 {
		ms = append(ms, fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":10}`, registry.MediaOCIManifest, fake(i)))
	}
	index := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` + strings.Join(ms, ",") + `]}`)
	if resp, msg := put(index, registry.MediaOCIIndex); resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg, "MANIFEST_INVALID") {
		t.Fatalf("an index of 25,000 manifests: %s %.300s", resp.Status, msg)
	}
	// At the limit (the config and 999 layers), with every layer linked.
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 999; i += 8 {
				if err := e.reg.LinkBlob(ctx, e.ns, "big", fake(i), int64(len(fmt.Sprint(i)))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if resp, msg := put(manifest(999), registry.MediaOCIManifest); resp.StatusCode != http.StatusCreated {
		t.Fatalf("a manifest of 1,000 references: %s %.300s", resp.Status, msg)
	}
}

// TestDescriptorSizes: a manifest whose descriptors declare a negative
// size, or a size other than that of the stored blob or manifest, is
// refused with 400 MANIFEST_INVALID (imageSizeInBytes went negative).
func TestDescriptorSizes(t *testing.T) {
	e := newEnv(t)
	e.createRepo(t, "app", "MUTABLE")
	c := client{t, e}
	config, layer := []byte(`{"c":1}`), []byte("layer")
	c.pushBlob("app", config, false)
	c.pushBlob("app", layer, false)
	build := func(configSize, layerSize int64) []byte {
		return []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":%d}]}`,
			digestOf(config), configSize, digestOf(layer), layerSize))
	}
	for _, tc := range []struct {
		name         string
		config, size int64
		want         string
	}{
		{"negative layer size", int64(len(config)), -1000, "negative"},
		{"negative config size", -1, int64(len(layer)), "negative"},
		{"layer size larger than the blob", int64(len(config)), 1 << 40, "stored blob"},
		{"config size smaller than the blob", 1, int64(len(layer)), "stored blob"},
	} {
		resp, msg := e.send(t, "PUT", "/v2/app/manifests/v1", build(tc.config, tc.size), "Content-Type", registry.MediaOCIManifest)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg, "MANIFEST_INVALID") || !strings.Contains(msg, tc.want) {
			t.Fatalf("%s: %s %s", tc.name, resp.Status, msg)
		}
	}
	good := build(int64(len(config)), int64(len(layer)))
	if resp, msg := e.send(t, "PUT", "/v2/app/manifests/v1", good, "Content-Type", registry.MediaOCIManifest); resp.StatusCode != http.StatusCreated {
		t.Fatalf("right sizes: %s %s", resp.Status, msg)
	}
	img, _, err := e.reg.Resolve(context.Background(), e.ns, "app", "v1")
	if err != nil || img.Size != int64(len(config)+len(layer)) {
		t.Fatalf("image size %v, %v", img, err)
	}
	// An index must give its children's manifest sizes.
	index := func(size int) []byte {
		return []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":%q,"digest":%q,"size":%d}]}`,
			registry.MediaOCIManifest, digestOf(good), size))
	}
	if resp, msg := e.send(t, "PUT", "/v2/app/manifests/multi", index(len(good)+1), "Content-Type", registry.MediaOCIIndex); resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg, "MANIFEST_INVALID") {
		t.Fatalf("index with a wrong child size: %s %s", resp.Status, msg)
	}
	if resp, msg := e.send(t, "PUT", "/v2/app/manifests/multi", index(len(good)), "Content-Type", registry.MediaOCIIndex); resp.StatusCode != http.StatusCreated {
		t.Fatalf("index with the right child size: %s %s", resp.Status, msg)
	}
}

// TestTokenBoundToAccessKey: a token works only while the access key it was
// issued for is accepted (a removed key's tokens kept working for 12 h).
func TestTokenBoundToAccessKey(t *testing.T) {
	var removed atomic.Bool
	e := newEnvAt(t, time.Time{}, func(c *registry.Config) {
		c.KeyActive = func(id string) bool { return id == testKeyID && !removed.Load() }
	})
	if r := e.do(t, "GET", "/v2/", "", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("token of an accepted key: %s", r.Status)
	}
	other, _ := e.reg.IssueToken(testAccount, "arn:aws:iam::"+testAccount+":root", "AKIDGONE", testRegion)
	if r := e.do(t, "GET", "/v2/", other, nil); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("token of a key not accepted: %s", r.Status)
	}
	removed.Store(true)
	resp, msg := e.send(t, "GET", "/v2/", nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(msg, "no longer accepts") {
		t.Fatalf("token of a removed key: %s %s", resp.Status, msg)
	}
}

// TestTokenSecretRotation: with the secret kept in the store, rotating it
// makes every token signed before stop working, on this replica and on
// another sharing the store; a token signed after works on both.
func TestTokenSecretRotation(t *testing.T) {
	stored := func(c *registry.Config) {
		c.TokenSecret = nil
		c.MaintenanceInterval = 20 * time.Millisecond
	}
	a := newEnvAt(t, time.Time{}, stored)
	// Replica b shares a's store.
	breg, err := registry.New(registry.Config{Store: a.st, DataDir: t.TempDir(), Account: testAccount, Logger: a.log,
		MaintenanceInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer breg.Close()
	b := httptest.NewServer(breg)
	defer b.Close()
	bsrv := b.URL
	a.token, _ = a.reg.IssueToken(testAccount, "p", testKeyID, testRegion)
	get := func(url, tok string) int {
		req, _ := http.NewRequest("GET", url+"/v2/", nil)
		req.SetBasicAuth("AWS", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	old := a.token
	if get(a.srv.URL, old) != 200 || get(bsrv, old) != 200 {
		t.Fatal("a token does not work on both replicas before the rotation")
	}
	if err := registry.RotateTokenSecret(context.Background(), a.st); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for get(a.srv.URL, old) != http.StatusUnauthorized || get(bsrv, old) != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("a token signed with the old secret still works 10s after the rotation")
		}
		time.Sleep(20 * time.Millisecond)
	}
	fresh, _ := a.reg.IssueToken(testAccount, "p", testKeyID, testRegion)
	if get(a.srv.URL, fresh) != 200 || get(bsrv, fresh) != 200 {
		t.Fatal("a token signed after the rotation does not work on both replicas")
	}
}
