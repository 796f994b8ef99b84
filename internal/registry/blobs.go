package registry

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// blobStore keeps blob content on disk, addressed by digest:
// <dir>/blobs/<algorithm>/<first two hex>/<hex>. Content is written to a
// temporary file under <dir>/uploads while it is hashed (and handed to
// writeback as it goes, see startWriteback), synced, then renamed into place,
// so a blob path either does not exist or holds verified content; an upload
// of content already in place is dropped instead.
// Which repositories may see a blob is metadata, kept in etcd.
type blobStore struct {
	dir string
}

func newBlobStore(dir string) (*blobStore, error) {
	for _, d := range []string{filepath.Join(dir, "blobs"), filepath.Join(dir, "uploads")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("registry: create %s: %w", d, err)
		}
	}
	return &blobStore{dir: dir}, nil
}

// path returns where the blob of a (valid) digest lives.
func (b *blobStore) path(digest string) string {
	alg, hexPart, _ := strings.Cut(digest, ":")
	return filepath.Join(b.dir, "blobs", alg, hexPart[:2], hexPart)
}

// open opens a blob's content.
func (b *blobStore) open(digest string) (*os.File, error) { return os.Open(b.path(digest)) }

// touch marks a blob's content as just used, so that garbage collection
// (which removes only content older than its grace period) leaves it alone
// while the reference being written to etcd commits. It fails with
// os.ErrNotExist if the content is not (or no longer) on disk.
func (b *blobStore) touch(digest string) error {
	now := time.Now()
	return os.Chtimes(b.path(digest), now, now)
}

// create starts writing a new blob to a temporary file, hashed with
// algorithm alg, or with SHA-256 if alg is "" (not known until the upload
// completes; see hashes).
func (b *blobStore) create(alg string) (*blobWriter, error) {
	f, err := os.CreateTemp(filepath.Join(b.dir, "uploads"), "upload-")
	if err != nil {
		return nil, fmt.Errorf("registry: create upload file: %w", err)
	}
	return &blobWriter{store: b, f: f, h: newHashes(alg)}, nil
}

// putBytes stores small content (a manifest) under its digest; content
// already there is touched instead of rewritten.
func (b *blobStore) putBytes(digest string, data []byte) error {
	if b.touch(digest) == nil {
		return nil
	}
	alg, _, err := parseDigest(digest)
	if err != nil {
		return err
	}
	w, err := b.create(alg)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.cancel()
		return err
	}
	return w.commit(digest)
}

// blobWriter is a blob being written: content goes to a temporary file and
// through its hash in one pass.
type blobWriter struct {
	store *blobStore
	f     *os.File
	h     *hashes
	size  int64
	// err is a failed write to the file: the content is then incomplete,
	// so the upload can only be cancelled.
	err error
	// flushed is how much of the file has been handed to writeback.
	flushed int64
	mu      sync.Mutex
}

// streamBufSize is the size of the buffer a request body is read into, one
// per upload being streamed (memory stays flat however large the blob).
const streamBufSize = 256 << 10

var streamBufPool = sync.Pool{New: func() any { b := make([]byte, streamBufSize); return &b }}

// writeSlice caps the size of one write to the upload file. Measured on the
// benchmark machine (a VM, Linux 6.18, ext4): writes of 64 KiB and more made
// the page cache take the blob in large folios, which cost two to four
// times the system time per byte (most likely memory that the host backs on
// first touch) and held pushes well below the reference registry's rate;
// 32 KiB writes, as the reference registry's, kept it flat.
const writeSlice = 32 << 10

// Write appends p to the blob.
func (w *blobWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	for q := p; len(q) > 0; {
		n := min(len(q), writeSlice)
		if _, err := w.f.Write(q[:n]); err != nil {
			w.err = fmt.Errorf("registry: write upload: %w", err)
			return 0, w.err
		}
		q = q[n:]
	}
	w.h.Write(p)
	w.size += int64(len(p))
	if w.size-w.flushed >= writebackChunk {
		startWriteback(w.f, w.flushed, w.size-w.flushed)
		w.flushed = w.size
	}
	return len(p), nil
}

// readFrom appends the content of r to the blob until r ends, and returns
// how much it appended. A failed read ends it too, after what was read
// before it is appended, so that the upload can resume from there.
func (w *blobWriter) readFrom(r io.Reader) (int64, error) {
	buf := streamBufPool.Get().(*[]byte)
	defer streamBufPool.Put(buf)
	return io.CopyBuffer(writerOnly{w}, r, *buf)
}

// hashWith makes sure the content is hashed with alg (a supported
// algorithm) from now on. If it was not, the content written so far is
// read back from the upload file, once, to catch up: the price of hashing
// a streamed upload with SHA-256 only until its final PUT names its
// algorithm (see hashes). This re-read happens only for a streamed or
// chunked upload whose digest is not SHA-256, and only of what arrived
// before the PUT; it goes through one pooled buffer, so memory stays flat,
// and usually hits the page cache, the content having just been written.
func (w *blobWriter) hashWith(alg string) error {
	if w.h.has(alg) {
		return nil
	}
	if w.err != nil {
		return w.err
	}
	h := w.h.add(alg)
	buf := streamBufPool.Get().(*[]byte)
	defer streamBufPool.Put(buf)
	if _, err := io.CopyBuffer(writerOnly{h}, io.NewSectionReader(w.f, 0, w.size), *buf); err != nil {
		w.h.drop(alg)
		return fmt.Errorf("registry: read back the upload to hash it with %s: %w", alg, err)
	}
	return nil
}

// writerOnly hides any ReadFrom method so that io.CopyBuffer uses the
// pooled buffer.
type writerOnly struct{ io.Writer }

// commit checks the content against digest and moves it into place; on
// mismatch the content is discarded and DIGEST_INVALID returned.
func (w *blobWriter) commit(digest string) error {
	if _, _, err := parseDigest(digest); err != nil {
		w.cancel()
		return err
	}
	if w.err != nil {
		w.cancel()
		return w.err
	}
	if err := w.check(digest); err != nil {
		w.cancel()
		return err
	}
	// The same content is in place already (blobs are addressed by their
	// verified digest): keep it, touched for garbage collection as a mount
	// does, and drop this copy without syncing it.
	if w.store.touch(digest) == nil {
		w.cancel()
		return nil
	}
	if err := w.f.Sync(); err != nil {
		w.cancel()
		return fmt.Errorf("registry: sync upload: %w", err)
	}
	if err := w.f.Close(); err != nil {
		os.Remove(w.f.Name())
		return fmt.Errorf("registry: close upload: %w", err)
	}
	// The blob lands with a fresh modification time even if its last
	// chunk was written long ago: garbage collection goes by it.
	now := time.Now()
	if err := os.Chtimes(w.f.Name(), now, now); err != nil {
		os.Remove(w.f.Name())
		return fmt.Errorf("registry: touch upload: %w", err)
	}
	dst := w.store.path(digest)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		os.Remove(w.f.Name())
		return fmt.Errorf("registry: create blob dir: %w", err)
	}
	if err := os.Rename(w.f.Name(), dst); err != nil {
		os.Remove(w.f.Name())
		return fmt.Errorf("registry: move blob into place: %w", err)
	}
	return syncDir(filepath.Dir(dst))
}

// check returns DIGEST_INVALID unless the content so far has digest (a valid
// one).
func (w *blobWriter) check(digest string) error {
	alg, _, _ := strings.Cut(digest, ":")
	if err := w.hashWith(alg); err != nil {
		return err
	}
	if got := w.h.digest(alg); got != digest {
		return &Error{Code: DigestInvalid, Message: "the content's digest is " + got + ", not " + digest, Detail: map[string]string{"digest": digest}}
	}
	return nil
}

// cancel discards the content.
func (w *blobWriter) cancel() {
	w.f.Close()
	if err := os.Remove(w.f.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return
	}
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("registry: open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("registry: sync %s: %w", dir, err)
	}
	return nil
}
