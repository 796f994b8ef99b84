package registry

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
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
	// reserveBytes and reservePct are the free space uploads must leave on
	// the filesystem of dir (the larger of the two counts).
	reserveBytes int64
	reservePct   float64
}

// uploadFilePrefix starts the name of every upload file under uploads/.
const uploadFilePrefix = "upload-"

func newBlobStore(dir string, reserveBytes int64, reservePct float64) (*blobStore, error) {
	for _, d := range []string{filepath.Join(dir, "blobs"), filepath.Join(dir, "uploads")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("registry: create %s: %w", d, err)
		}
	}
	return &blobStore{dir: dir, reserveBytes: reserveBytes, reservePct: reservePct}, nil
}

// reserveCheckStep is how many bytes an upload streams between two checks
// of the free space.
const reserveCheckStep = 1 << 20

// checkSpace returns DENIED if writing incoming more bytes would leave less
// free space on the blob filesystem than the reserve.
func (b *blobStore) checkSpace(incoming int64) error {
	if b.reserveBytes == 0 && b.reservePct == 0 {
		return nil
	}
	free, total, err := diskSpace(b.dir)
	if err != nil {
		return fmt.Errorf("registry: free space of %s: %w", b.dir, err)
	}
	reserve := max(b.reserveBytes, int64(b.reservePct/100*float64(total)))
	if free-incoming >= reserve {
		return nil
	}
	return Denied.Errorf(fmt.Sprintf("the registry's disk reserve is reached: its blob filesystem has %s free and must keep %s free "+
		"(--registry-disk-reserve): delete unused images (garbage collection then frees their blobs) or give the registry more space (--registry-dir)",
		humanBytes(max(free, 0)), humanBytes(reserve)))
}

// diskSpace returns the space available to unprivileged writers, and the
// size, of the filesystem holding dir.
func diskSpace(dir string) (free, total int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize), nil
}

// humanBytes writes n in the largest binary unit that keeps it at least 1.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/unit, 0
	for ; v >= unit && i < 4; i++ {
		v /= unit
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
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
// completes; see hashes). The blob is expected to hold incoming bytes
// (0: not known): DENIED if they would eat into the disk reserve; -1 skips
// the check. The writer checks the reserve again as content streams in.
func (b *blobStore) create(alg string, incoming int64) (*blobWriter, error) {
	if incoming >= 0 {
		if err := b.checkSpace(incoming); err != nil {
			return nil, err
		}
	}
	f, err := os.CreateTemp(filepath.Join(b.dir, "uploads"), uploadFilePrefix)
	if err != nil {
		return nil, fmt.Errorf("registry: create upload file: %w", err)
	}
	return &blobWriter{store: b, path: f.Name(), f: f, h: newHashes(alg), checked: max(incoming, 0)}, nil
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
	// A manifest is small and completes a push whose layers are in:
	// the disk reserve does not hold it back.
	w, err := b.create(alg, -1)
	if err != nil {
		return err
	}
	w.checked = 1 << 62
	if _, err := w.Write(data); err != nil {
		w.cancel()
		return err
	}
	return w.commit(digest)
}

// blobWriter is a blob being written: content goes to a temporary file and
// through its hash in one pass. The file is open (f) only while a request
// writes to it: an upload session between requests holds no descriptor
// (attach and detach).
type blobWriter struct {
	store *blobStore
	path  string
	f     *os.File
	h     *hashes
	size  int64
	// checked is how much content had been accounted for at the last
	// check of the disk reserve.
	checked int64
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

// attach opens the upload file for a request, positioned at its end.
func (w *blobWriter) attach() error {
	if w.f != nil {
		return nil
	}
	f, err := os.OpenFile(w.path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if _, err := f.Seek(w.size, io.SeekStart); err != nil {
		f.Close()
		return err
	}
	w.f = f
	return nil
}

// detach closes the upload file at the end of a request; a failure to close
// it makes the content unusable, as a failed write does.
func (w *blobWriter) detach() {
	if w.f == nil {
		return
	}
	if err := w.f.Close(); err != nil && w.err == nil {
		w.err = fmt.Errorf("registry: close upload: %w", err)
	}
	w.f = nil
}

// Write appends p to the blob.
func (w *blobWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.size+int64(len(p))-w.checked >= reserveCheckStep {
		if err := w.store.checkSpace(int64(len(p))); err != nil {
			w.err = err
			return 0, err
		}
		w.checked = w.size + int64(len(p))
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
	if err := w.attach(); err != nil {
		w.cancel()
		return fmt.Errorf("registry: reopen upload: %w", err)
	}
	if err := w.f.Sync(); err != nil {
		w.cancel()
		return fmt.Errorf("registry: sync upload: %w", err)
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		os.Remove(w.path)
		return fmt.Errorf("registry: close upload: %w", err)
	}
	// The blob lands with a fresh modification time even if its last
	// chunk was written long ago: garbage collection goes by it.
	now := time.Now()
	if err := os.Chtimes(w.path, now, now); err != nil {
		os.Remove(w.path)
		return fmt.Errorf("registry: touch upload: %w", err)
	}
	dst := w.store.path(digest)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		os.Remove(w.path)
		return fmt.Errorf("registry: create blob dir: %w", err)
	}
	if err := os.Rename(w.path, dst); err != nil {
		os.Remove(w.path)
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
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	if err := os.Remove(w.path); err != nil && !errors.Is(err, os.ErrNotExist) {
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
