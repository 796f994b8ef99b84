package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	gt "github.com/gantry-dev/gantry/internal/gantrytest"
)

// BenchmarkRegistry is issue 6's "Measure": Gantry's registry beside the
// reference registry (github.com/distribution/distribution/v3 v3.1.2,
// filesystem storage, no auth), both over loopback HTTP, in one run. It needs
// the registries' endpoints and process ids, which scripts/bench-registry.sh
// sets up (it builds the reference registry in a throwaway module, starts it
// and `gantry server`, and runs this benchmark):
//
//	GANTRY_BENCH_REGISTRY    http://127.0.0.1:<port> of `gantry server`, or
//	                         "inproc" for a server in this process (for
//	                         go test -cpuprofile)
//	GANTRY_BENCH_ACCESS_KEY  ID:SECRET the server accepts
//	GANTRY_BENCH_PID         the server's pid (peak RSS)
//	PEER_BENCH_REGISTRY      http://127.0.0.1:<port> of the reference registry
//	PEER_BENCH_PID           its pid
//
// Either registry may be left out; with neither the benchmark skips. For
// Gantry the client gets a token with the ECR GetAuthorizationToken call of
// the real aws-sdk-go-v2 client and creates the repository with
// CreateRepository, then talks to /v2/ with Basic AWS:<token>.
//
// Sub-benchmarks, each registry in turn (run with -benchtime 1x; the script
// repeats the whole run BENCH_COUNT times so that the registries alternate):
//   - push-1GiB: POST, one streamed PATCH (chunked, no Content-Length) of
//     BENCH_LAYER_MIB (1024) MiB generated on the fly by a deterministic
//     generator and hashed while sent, PUT ?digest=; MB/s from POST to the
//     PUT's 201 (so including the registry's digest check and fsync).
//   - pull-1GiB: GET of that blob, discarded while hashed; MB/s and the
//     digest checked.
//   - manifest-get: BENCH_CLIENTS (32) clients GET one small image manifest
//     by tag for BENCH_SECONDS (5) s; req/s, p50 and p99.
//   - push-5GiB-rss: a streamed push of BENCH_BIG_LAYER_MIB (5120) MiB while
//     the registry process's peak RSS is measured: its VmHWM is reset (write
//     5 to /proc/<pid>/clear_refs) before the push and read after it.
//
// 1 MB = 10^6 bytes in the MB/s figures; RSS in MiB.
func BenchmarkRegistry(b *testing.B) {
	targets := registryTargets(b)
	if len(targets) == 0 {
		b.Skip("set GANTRY_BENCH_REGISTRY and/or PEER_BENCH_REGISTRY (see scripts/bench-registry.sh)")
	}
	// Even rounds (BENCH_ROUND, set by the script) run the registries in
	// the other order: on a VM whose page cache must grow, whichever pushes
	// first pays for it.
	if regEnvInt("BENCH_ROUND", 1)%2 == 0 {
		slices.Reverse(targets)
	}
	layer := regEnvInt("BENCH_LAYER_MIB", 1024) << 20
	big := regEnvInt("BENCH_BIG_LAYER_MIB", 5120) << 20
	clients := regEnvInt("BENCH_CLIENTS", 32)
	seconds := regEnvInt("BENCH_SECONDS", 5)
	for _, t := range targets {
		b.Run(t.label+"/push-1GiB", func(b *testing.B) {
			for range b.N {
				start := time.Now()
				d, err := t.pushStreamed(layer, 1)
				if err != nil {
					b.Fatal(err)
				}
				el := time.Since(start)
				t.layerDigest = d
				b.ReportMetric(float64(layer)/el.Seconds()/1e6, "MB/s")
				b.ReportMetric(el.Seconds(), "s")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
	for _, t := range targets {
		b.Run(t.label+"/pull-1GiB", func(b *testing.B) {
			if t.layerDigest == "" {
				d, err := t.pushStreamed(layer, 1)
				if err != nil {
					b.Fatal(err)
				}
				t.layerDigest = d
			}
			for range b.N {
				start := time.Now()
				n, err := t.pullBlob(t.layerDigest)
				if err != nil {
					b.Fatal(err)
				}
				el := time.Since(start)
				if n != int64(layer) {
					b.Fatalf("pulled %d bytes, want %d", n, layer)
				}
				b.ReportMetric(float64(n)/el.Seconds()/1e6, "MB/s")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
	for _, t := range targets {
		b.Run(fmt.Sprintf("%s/manifest-get-%dclients", t.label, clients), func(b *testing.B) {
			if !t.manifestPushed {
				if err := t.pushImage("bench"); err != nil {
					b.Fatal(err)
				}
				t.manifestPushed = true
			}
			for range b.N {
				if err := t.manifestLoad(b, clients, time.Duration(seconds)*time.Second, "bench"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, t := range targets {
		b.Run(t.label+"/push-5GiB-rss", func(b *testing.B) {
			if t.pid == 0 {
				b.Skip("no pid for " + t.label)
			}
			for range b.N {
				if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", t.pid), []byte("5"), 0); err != nil {
					b.Fatalf("reset peak RSS: %v", err)
				}
				before, _ := procStatusKiB(t.pid, "VmHWM")
				start := time.Now()
				if _, err := t.pushStreamed(big, 5); err != nil {
					b.Fatal(err)
				}
				el := time.Since(start)
				hwm, err := procStatusKiB(t.pid, "VmHWM")
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(hwm)/1024, "peak-RSS-MiB")
				b.ReportMetric(float64(before)/1024, "RSS-before-MiB")
				b.ReportMetric(float64(big)/el.Seconds()/1e6, "MB/s")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// regTarget is one registry under test.
type regTarget struct {
	label string
	base  string // http://host:port
	repo  string
	auth  string // Authorization header value, or ""
	pid   int
	hc    *http.Client

	layerDigest    string
	manifestPushed bool
}

func registryTargets(b *testing.B) []*regTarget {
	var ts []*regTarget
	if u := os.Getenv("GANTRY_BENCH_REGISTRY"); u != "" {
		key := os.Getenv("GANTRY_BENCH_ACCESS_KEY")
		pid, _ := strconv.Atoi(os.Getenv("GANTRY_BENCH_PID"))
		if u == "inproc" {
			// A server in this process, so that -cpuprofile sees it.
			env := gt.Shared(b)
			u, key, pid = env.URL, gt.KeyID+":"+gt.KeySecret, os.Getpid()
		}
		t := &regTarget{label: "gantry", base: strings.TrimSuffix(u, "/"), repo: "bench/layers", pid: pid, hc: benchHTTPClient()}
		auth, err := gantryLogin(t.base, key, t.repo)
		if err != nil {
			b.Fatalf("gantry: %v", err)
		}
		t.auth = auth
		ts = append(ts, t)
	}
	if u := os.Getenv("PEER_BENCH_REGISTRY"); u != "" {
		pid, _ := strconv.Atoi(os.Getenv("PEER_BENCH_PID"))
		ts = append(ts, &regTarget{label: "distribution", base: strings.TrimSuffix(u, "/"), repo: "bench/layers", pid: pid, hc: benchHTTPClient()})
	}
	return ts
}

// benchHTTPClient keeps enough idle connections for every client of the
// manifest load, so that no request pays for a new connection.
func benchHTTPClient() *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		WriteBufferSize:     1 << 20,
		ReadBufferSize:      1 << 20,
	}
	return &http.Client{Transport: tr}
}

// gantryLogin gets a registry token through ECR GetAuthorizationToken and
// creates the repository, as `aws ecr` would.
func gantryLogin(endpoint, key, repo string) (string, error) {
	id, secret, ok := strings.Cut(key, ":")
	if !ok {
		return "", fmt.Errorf("GANTRY_BENCH_ACCESS_KEY %q must be ID:SECRET", key)
	}
	ctx := context.Background()
	c := ecr.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(id, secret, ""),
		BaseEndpoint: aws.String(endpoint),
	})
	_, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(repo)})
	var exists *ecrtypes.RepositoryAlreadyExistsException
	if err != nil && !errors.As(err, &exists) {
		return "", fmt.Errorf("CreateRepository: %w", err)
	}
	out, err := c.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return "", fmt.Errorf("GetAuthorizationToken: %w", err)
	}
	if len(out.AuthorizationData) == 0 || out.AuthorizationData[0].AuthorizationToken == nil {
		return "", errors.New("GetAuthorizationToken: no token")
	}
	raw, err := base64.StdEncoding.DecodeString(*out.AuthorizationData[0].AuthorizationToken)
	if err != nil || !strings.HasPrefix(string(raw), "AWS:") {
		return "", fmt.Errorf("GetAuthorizationToken: token is not base64 of AWS:<token>")
	}
	return "Basic " + *out.AuthorizationData[0].AuthorizationToken, nil
}

func (t *regTarget) do(method, u string, body io.Reader, hdr map[string]string) (*http.Response, error) {
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return nil, err
	}
	if t.auth != "" {
		req.Header.Set("Authorization", t.auth)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return t.hc.Do(req)
}

// call sends a request and checks its status, draining and closing the
// response's body.
func (t *regTarget) call(method, u string, body io.Reader, hdr map[string]string, want int, what string) (*http.Response, error) {
	resp, err := t.do(method, u, body, hdr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s: status %d, want %d: %s", what, resp.StatusCode, want, bytes.TrimSpace(msg))
	}
	return resp, nil
}

// next resolves an upload's Location against the request URL.
func next(resp *http.Response) (*url.URL, error) {
	loc, err := resp.Location()
	if err != nil {
		return nil, fmt.Errorf("upload location: %w", err)
	}
	return loc, nil
}

// pushStreamed pushes size bytes generated from seed as one streamed PATCH
// and returns the blob's digest.
func (t *regTarget) pushStreamed(size int, seed uint64) (string, error) {
	resp, err := t.call(http.MethodPost, t.base+"/v2/"+t.repo+"/blobs/uploads/", nil, nil, 202, "POST upload")
	if err != nil {
		return "", err
	}
	loc, err := next(resp)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	src := &hashingReader{r: &genReader{left: int64(size), s: seed}, h: h}
	// The reader hides its size, so the body goes out chunked: a stream.
	resp, err = t.call(http.MethodPatch, loc.String(), src, map[string]string{"Content-Type": "application/octet-stream"}, 202, "PATCH upload")
	if err != nil {
		return "", err
	}
	if loc, err = next(resp); err != nil {
		return "", err
	}
	digest := "sha256:" + hex.EncodeToString(h.Sum(nil))
	q := loc.Query()
	q.Set("digest", digest)
	loc.RawQuery = q.Encode()
	if _, err := t.call(http.MethodPut, loc.String(), nil, nil, 201, "PUT upload"); err != nil {
		return "", err
	}
	return digest, nil
}

// pushBlob pushes small content monolithically (POST, then PUT with the
// content and ?digest=).
func (t *regTarget) pushBlob(data []byte) (string, error) {
	resp, err := t.call(http.MethodPost, t.base+"/v2/"+t.repo+"/blobs/uploads/", nil, nil, 202, "POST upload")
	if err != nil {
		return "", err
	}
	loc, err := next(resp)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	q := loc.Query()
	q.Set("digest", digest)
	loc.RawQuery = q.Encode()
	if _, err := t.call(http.MethodPut, loc.String(), bytes.NewReader(data), map[string]string{"Content-Type": "application/octet-stream"}, 201, "PUT blob"); err != nil {
		return "", err
	}
	return digest, nil
}

// pullBlob GETs a blob, hashing and discarding it, and checks its digest.
func (t *regTarget) pullBlob(digest string) (int64, error) {
	resp, err := t.do(http.MethodGet, t.base+"/v2/"+t.repo+"/blobs/"+digest, nil, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET blob: status %d", resp.StatusCode)
	}
	h := sha256.New()
	buf := make([]byte, 1<<20)
	n, err := io.CopyBuffer(h, resp.Body, buf)
	if err != nil {
		return n, err
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != digest {
		return n, fmt.Errorf("pulled content has digest %s, want %s", got, digest)
	}
	return n, nil
}

const mediaOCIManifest = "application/vnd.oci.image.manifest.v1+json"

// pushImage pushes a small image (a config and one 4 KiB layer) tagged tag.
func (t *regTarget) pushImage(tag string) error {
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{}}`)
	layer := make([]byte, 4096)
	(&genReader{left: int64(len(layer)), s: 42}).Read(layer)
	cd, err := t.pushBlob(cfg)
	if err != nil {
		return err
	}
	ld, err := t.pushBlob(layer)
	if err != nil {
		return err
	}
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaOCIManifest,
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(cfg)},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": len(layer)}},
	})
	_, err = t.call(http.MethodPut, t.base+"/v2/"+t.repo+"/manifests/"+tag, bytes.NewReader(m), map[string]string{"Content-Type": mediaOCIManifest}, 201, "PUT manifest")
	return err
}

// manifestLoad GETs a manifest by tag from `clients` goroutines for d and
// reports req/s, p50 and p99.
func (t *regTarget) manifestLoad(b *testing.B, clients int, d time.Duration, tag string) error {
	u := t.base + "/v2/" + t.repo + "/manifests/" + tag
	get := func() error {
		resp, err := t.do(http.MethodGet, u, nil, map[string]string{"Accept": mediaOCIManifest})
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET manifest: status %d", resp.StatusCode)
		}
		return err
	}
	for range clients { // warm the connections
		if err := get(); err != nil {
			return err
		}
	}
	var lat latencies
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := time.Now()
	deadline := start.Add(d)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, 1<<14)
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if err := get(); err != nil {
					errs <- err
					return
				}
				mine = append(mine, time.Since(t0))
			}
			lat.add(mine)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	select {
	case err := <-errs:
		return err
	default:
	}
	lat.report(b, elapsed)
	return nil
}

// genReader yields `left` bytes of a deterministic pseudo-random stream
// (splitmix64), several GB/s, incompressible.
type genReader struct {
	left int64
	s    uint64
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	n := len(p) &^ 7
	for i := 0; i < n; i += 8 {
		g.s += 0x9e3779b97f4a7c15
		z := g.s
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		binary.LittleEndian.PutUint64(p[i:], z^(z>>31))
	}
	for i := n; i < len(p); i++ {
		p[i] = byte(g.s >> (8 * (i - n)))
	}
	g.left -= int64(len(p))
	return len(p), nil
}

// hashingReader hashes what is read through it.
type hashingReader struct {
	r io.Reader
	h hash.Hash
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	return n, err
}

// procStatusKiB reads a "kB" field of /proc/<pid>/status.
func procStatusKiB(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

func regEnvInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
