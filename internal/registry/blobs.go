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
// temporary file under <dir>/uploads while it is hashed, synced, then renamed
// into place, so a blob path either does not exist or holds verified content.
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

// create starts writing a new blob to a temporary file.
func (b *blobStore) create() (*blobWriter, error) {
	f, err := os.CreateTemp(filepath.Join(b.dir, "uploads"), "upload-")
	if err != nil {
		return nil, fmt.Errorf("registry: create upload file: %w", err)
	}
	return &blobWriter{store: b, f: f, h: newHashes()}, nil
}

// putBytes stores small content (a manifest) under its digest; content
// already there is touched instead of rewritten.
func (b *blobStore) putBytes(digest string, data []byte) error {
	if b.touch(digest) == nil {
		return nil
	}
	w, err := b.create()
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
// through every supported hash in one pass, so it is never read back.
type blobWriter struct {
	store *blobStore
	f     *os.File
	h     *hashes
	size  int64
	mu    sync.Mutex
}

func (w *blobWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.size += int64(n)
	return n, err
}

// readFrom copies r to the blob with a large buffer.
func (w *blobWriter) readFrom(r io.Reader) (int64, error) {
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	return io.CopyBuffer(writerOnly{w}, r, *buf)
}

// writerOnly hides ReadFrom so io.CopyBuffer uses the pooled buffer.
type writerOnly struct{ io.Writer }

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// commit checks the content against digest and moves it into place; on
// mismatch the content is discarded and DIGEST_INVALID returned.
func (w *blobWriter) commit(digest string) error {
	alg, _, err := parseDigest(digest)
	if err != nil {
		w.cancel()
		return err
	}
	if got := w.h.digest(alg); got != digest {
		w.cancel()
		return &Error{Code: DigestInvalid, Message: "the content's digest is " + got + ", not " + digest, Detail: map[string]string{"digest": digest}}
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
