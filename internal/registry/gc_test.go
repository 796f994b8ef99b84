package registry_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/registry"
)

func digestOf(b []byte) string { s := sha256.Sum256(b); return "sha256:" + hex.EncodeToString(s[:]) }

// client is a goroutine-safe /v2/ client of an env: it reports failures
// with t.Errorf and returns the status and body.
type client struct {
	t *testing.T
	e *env
}

func (c client) call(method, path string, body []byte, hdr ...string) (int, []byte) {
	req, _ := http.NewRequest(method, c.e.srv.URL+path, bytes.NewReader(body))
	req.SetBasicAuth("AWS", c.e.token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Errorf("%s %s: %v", method, path, err)
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// pushBlob uploads content monolithically unless skipExisting and the
// repository has it already (as docker does after a HEAD).
func (c client) pushBlob(repo string, content []byte, skipExisting bool) string {
	d := digestOf(content)
	if skipExisting {
		if st, _ := c.call(http.MethodHead, "/v2/"+repo+"/blobs/"+d, nil); st == http.StatusOK {
			return d
		}
	}
	if st, b := c.call(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+d, content); st != http.StatusCreated {
		c.t.Errorf("push blob to %s: %d %s", repo, st, b)
	}
	return d
}

// ociManifest is an image manifest over a config and layers (the contents
// give each descriptor's digest and size).
func ociManifest(config []byte, layers ...[]byte) []byte {
	var ls []string
	for _, l := range layers {
		ls = append(ls, fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":%d}`, digestOf(l), len(l)))
	}
	return []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[%s]}`,
		digestOf(config), len(config), strings.Join(ls, ",")))
}

// pushImage pushes config and layer contents and a manifest over them
// under tag, as docker does: blobs the repository has are skipped, and if
// the manifest push finds one gone (collected meanwhile), the blobs are
// pushed again and the manifest retried. It returns the manifest.
func (c client) pushImage(repo, tag string, config []byte, layers ...[]byte) []byte {
	for attempt := 0; attempt < 3; attempt++ {
		c.pushBlob(repo, config, attempt == 0)
		for _, l := range layers {
			c.pushBlob(repo, l, attempt == 0)
		}
		m := ociManifest(config, layers...)
		st, b := c.call(http.MethodPut, "/v2/"+repo+"/manifests/"+tag, m, "Content-Type", "application/vnd.oci.image.manifest.v1+json")
		if st == http.StatusCreated {
			return m
		}
		if !strings.Contains(string(b), "MANIFEST_BLOB_UNKNOWN") {
			c.t.Errorf("push manifest %s:%s: %d %s", repo, tag, st, b)
			return m
		}
	}
	c.t.Errorf("push manifest %s:%s: blobs kept disappearing", repo, tag)
	return nil
}

// checkImage pulls an image by tag and every blob it references, and checks
// their digests.
func (c client) checkImage(repo, tag string, want []byte) {
	st, m := c.call(http.MethodGet, "/v2/"+repo+"/manifests/"+tag, nil, "Accept", "application/vnd.oci.image.manifest.v1+json")
	if st != http.StatusOK || !bytes.Equal(m, want) {
		c.t.Errorf("pull %s:%s: %d", repo, tag, st)
		return
	}
	for _, d := range blobDigests(m) {
		st, b := c.call(http.MethodGet, "/v2/"+repo+"/blobs/"+d, nil)
		if st != http.StatusOK || digestOf(b) != d {
			c.t.Errorf("pull blob %s of %s:%s: %d (content %s)", d, repo, tag, st, digestOf(b))
		}
	}
}

// blobDigests lists the digests a manifest built by ociManifest references.
func blobDigests(m []byte) []string {
	var out []string
	for _, part := range strings.Split(string(m), `"digest":"`)[1:] {
		out = append(out, part[:strings.IndexByte(part, '"')])
	}
	return out
}

// onDisk reports whether the content of digest is in the blob store.
func (e *env) onDisk(digest string) bool {
	hexPart := strings.TrimPrefix(digest, "sha256:")
	_, err := os.Stat(filepath.Join(e.dir, "blobs", "sha256", hexPart[:2], hexPart))
	return err == nil
}

func TestGarbageCollection(t *testing.T) {
	const grace = 1500 * time.Millisecond // outlasts the setup pushes below on a busy 2-core machine
	e := newEnvAt(t, time.Time{}, func(c *registry.Config) { c.GCGracePeriod = grace })
	ctx := context.Background()
	c := client{t, e}
	for _, r := range []string{"app", "doomed", "other"} {
		e.createRepo(t, r, "MUTABLE")
	}

	// Garbage: an image deleted by digest, a blob pushed but never used,
	// and a repository deleted with its image.
	old := c.pushImage("app", "old", []byte("old-config"), []byte("old-layer"), []byte("shared-layer"))
	if st, b := c.call(http.MethodDelete, "/v2/app/manifests/"+digestOf(old), nil); st != http.StatusAccepted {
		t.Fatalf("delete image: %d %s", st, b)
	}
	stray := c.pushBlob("app", []byte("stray"), false)
	c.pushImage("doomed", "v1", []byte("doomed-config"), []byte("doomed-layer"))
	if _, err := e.reg.DeleteRepository(ctx, e.ns, "doomed", true); err != nil {
		t.Fatal(err)
	}
	// Kept: a tagged image, which shares a layer with the deleted one.
	keep := c.pushImage("app", "keep", []byte("keep-config"), []byte("keep-layer"), []byte("shared-layer"))

	// Nothing is removed within the grace period.
	if n, err := e.reg.CollectGarbage(ctx, time.Now()); err != nil || n != 0 {
		t.Fatalf("collection within the grace period removed %d (%v)", n, err)
	}
	time.Sleep(grace + 50*time.Millisecond)

	// Pushes (new content, and again the garbage's own content), mounts
	// and pulls run while the collector runs in a loop.
	type pushed struct {
		repo, tag string
		m         []byte
	}
	var mu sync.Mutex
	var images []pushed
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var runs, removed atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			n, err := e.reg.CollectGarbage(ctx, time.Now())
			if err != nil {
				t.Errorf("collect: %v", err)
				return
			}
			runs.Add(1)
			removed.Add(int64(n))
		}
	}()
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 12; i++ {
				tag := fmt.Sprintf("w%d-%d", w, i)
				var m []byte
				switch i % 3 {
				case 0: // fresh content
					m = c.pushImage("app", tag, []byte("config-"+tag), []byte("layer-"+tag))
				case 1: // the deleted image's content, pushed again
					m = c.pushImage("app", tag, []byte("config-"+tag), []byte("old-layer"), []byte("old-config"))
				case 2: // a layer mounted from app into other
					mount := digestOf([]byte("keep-layer"))
					if st, b := c.call(http.MethodPost, "/v2/other/blobs/uploads/?mount="+mount+"&from=app", nil); st != http.StatusCreated && st != http.StatusAccepted {
						t.Errorf("mount: %d %s", st, b)
					}
					m = c.pushImage("other", tag, []byte("config-"+tag), []byte("keep-layer"))
				}
				mu.Lock()
				images = append(images, pushed{map[bool]string{true: "other", false: "app"}[i%3 == 2], tag, m})
				mu.Unlock()
			}
		}()
	}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				c.checkImage("app", "keep", keep)
			}
		}()
	}
	// Stop the collector once the pushers and pullers are done.
	go func() {
		for {
			mu.Lock()
			n := len(images)
			mu.Unlock()
			if n == 4*12 || t.Failed() {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		close(stop)
	}()
	wg.Wait()
	if t.Failed() {
		return
	}
	if runs.Load() < 2 {
		t.Fatalf("the collector ran %d times during the load", runs.Load())
	}
	for _, p := range append(images, pushed{"app", "keep", keep}) {
		c.checkImage(p.repo, p.tag, p.m)
	}

	// Once everything is past the grace period, what no image references
	// is gone and everything referenced is there.
	time.Sleep(grace + 50*time.Millisecond)
	n, err := e.reg.CollectGarbage(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	removed.Add(int64(n))
	for _, d := range []string{stray, digestOf(old), digestOf([]byte("doomed-config")), digestOf([]byte("doomed-layer"))} {
		if e.onDisk(d) {
			t.Errorf("garbage %s is still on disk", d)
		}
	}
	for _, p := range append(images, pushed{"app", "keep", keep}) {
		c.checkImage(p.repo, p.tag, p.m)
		for _, d := range append(blobDigests(p.m), digestOf(p.m)) {
			if !e.onDisk(d) {
				t.Errorf("referenced %s of %s:%s is gone", d, p.repo, p.tag)
			}
		}
	}
	if st, _ := c.call(http.MethodHead, "/v2/app/blobs/"+stray, nil); st != http.StatusNotFound {
		t.Errorf("the stray blob's link survived: HEAD answers %d", st)
	}
	if removed.Load() < 4 {
		t.Errorf("removed %d content files, want at least 4", removed.Load())
	}
}
