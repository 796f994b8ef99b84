package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
)

// upload is a blob upload session. Its content goes to a temporary file and
// its hashes are kept in memory, so a session lives on the replica that
// started it. The file is open only while a request works on the session:
// an idle session holds no file descriptor.
type upload struct {
	id   string
	ns   Namespace
	repo string
	// owner is who started the session (an access key id): MaxUploads
	// bounds the sessions of one owner.
	owner      string
	w          *blobWriter
	lastActive time.Time // guarded by w.mu
}

// getBlob serves GET and HEAD of a blob (with Range) in a repository.
func (r *Registry) getBlob(w http.ResponseWriter, req *http.Request, ns Namespace, name, digest string) error {
	if _, _, err := parseDigest(digest); err != nil {
		return err
	}
	var link BlobLink
	if _, err := r.store(ns).Get(req.Context(), model.RegistryBlobKey(name, digest), &link); err != nil {
		return r.blobUnknown(req.Context(), ns, name, digest, err)
	}
	f, err := r.blobs.open(digest)
	if err != nil {
		return r.blobUnknown(req.Context(), ns, name, digest, state.ErrNotFound)
	}
	defer f.Close()
	h := w.Header()
	h.Set("Docker-Content-Digest", digest)
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Etag", `"`+digest+`"`)
	h.Set("Cache-Control", "max-age=31536000")
	http.ServeContent(copyingWriter{w}, req, "", time.Time{}, f)
	return nil
}

// copyingWriter makes http.ServeContent copy a blob through a pooled
// buffer in user space instead of sendfile(2): on the virtualised disk and
// loopback of the benchmark machine, sendfile pulled 1,140 – 1,160 MB/s
// and the copy 1,340 – 1,350 MB/s (docs/benchmarks.md, registry).
type copyingWriter struct{ http.ResponseWriter }

func (w copyingWriter) ReadFrom(r io.Reader) (int64, error) {
	buf := streamBufPool.Get().(*[]byte)
	defer streamBufPool.Put(buf)
	return io.CopyBuffer(writerOnly{w.ResponseWriter}, r, *buf)
}

// blobUnknown turns a not-found blob into NAME_UNKNOWN or BLOB_UNKNOWN.
func (r *Registry) blobUnknown(ctx context.Context, ns Namespace, name, digest string, err error) error {
	if !errors.Is(err, state.ErrNotFound) {
		return err
	}
	if _, _, err := r.Repository(ctx, ns, name); err != nil {
		return err
	}
	return &Error{Code: BlobUnknown, Message: "blob " + digest + " is not in repository " + quote(name), Detail: map[string]string{"digest": digest}}
}

// deleteBlob removes a blob from a repository (its content stays until no
// repository references it).
func (r *Registry) deleteBlob(w http.ResponseWriter, req *http.Request, ns Namespace, name, digest string) error {
	if _, _, err := parseDigest(digest); err != nil {
		return err
	}
	st, key := r.store(ns), model.RegistryBlobKey(name, digest)
	_, err := state.Retry(req.Context(), func() (struct{}, error) {
		var link BlobLink
		rev, err := st.Get(req.Context(), key, &link)
		if err != nil {
			return struct{}{}, r.blobUnknown(req.Context(), ns, name, digest, err)
		}
		_, err = st.Txn().Expect(key, rev).Delete(key).Commit(req.Context())
		return struct{}{}, err
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// LinkBlob records that a blob whose content is on disk belongs to repo;
// NAME_UNKNOWN if the repository does not exist (or is deleted meanwhile).
func (r *Registry) LinkBlob(ctx context.Context, ns Namespace, repo, digest string, size int64) error {
	st := r.store(ns)
	_, err := state.Retry(ctx, func() (struct{}, error) {
		_, rev, err := r.Repository(ctx, ns, repo)
		if err != nil {
			return struct{}{}, err
		}
		key, repoKey := model.RegistryBlobKey(repo, digest), model.RegistryRepositoryKey(repo)
		_, err = st.Txn().Expect(repoKey, rev).Put(key, BlobLink{Size: size, LinkedAt: r.now().UnixMilli()}).Commit(ctx)
		return struct{}{}, err
	})
	return err
}

// BlobSize returns the size of a blob in repo, or BLOB_UNKNOWN.
func (r *Registry) BlobSize(ctx context.Context, ns Namespace, repo, digest string) (int64, error) {
	var link BlobLink
	if _, err := r.store(ns).Get(ctx, model.RegistryBlobKey(repo, digest), &link); err != nil {
		return 0, r.blobUnknown(ctx, ns, repo, digest, err)
	}
	return link.Size, nil
}

// blobCreated answers 201 for a blob now in the repository.
func blobCreated(w http.ResponseWriter, name, digest string) {
	w.Header().Set("Location", "/v2/"+name+"/blobs/"+digest)
	w.Header().Set("Docker-Content-Digest", digest)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// startUpload handles POST .../blobs/uploads/: a cross-repository mount
// (?mount=&from=), a monolithic upload (?digest=), or a new session.
func (r *Registry) startUpload(w http.ResponseWriter, req *http.Request, ns Namespace, owner, name string) error {
	ctx := req.Context()
	if _, _, err := r.Repository(ctx, ns, name); err != nil {
		return err
	}
	q := req.URL.Query()
	if mount, from := q.Get("mount"), q.Get("from"); mount != "" && from != "" {
		if _, _, err := parseDigest(mount); err != nil {
			return err
		}
		// touch both checks that the content is there and keeps garbage
		// collection from removing it before the new link commits.
		if size, err := r.BlobSize(ctx, ns, from, mount); err == nil && r.blobs.touch(mount) == nil {
			if err := r.LinkBlob(ctx, ns, name, mount, size); err != nil {
				return err
			}
			blobCreated(w, name, mount)
			return nil
		}
		// Not mountable: fall through to a new session, as the spec allows.
	}
	if digest := q.Get("digest"); digest != "" {
		// A monolithic upload: its algorithm is known, only it is hashed.
		alg, _, err := parseDigest(digest)
		if err != nil {
			return err
		}
		bw, err := r.blobs.create(alg, max(req.ContentLength, 0))
		if err != nil {
			return err
		}
		if _, err := bw.readFrom(req.Body); err != nil {
			bw.cancel()
			if e, ok := AsError(err); ok {
				return e
			}
			return BlobUploadInvalid.Errorf("could not read the blob: " + err.Error())
		}
		size := bw.size
		if err := bw.commit(digest); err != nil {
			return err
		}
		if err := r.LinkBlob(ctx, ns, name, digest, size); err != nil {
			return err
		}
		blobCreated(w, name, digest)
		return nil
	}
	u, err := r.newSession(ns, name, owner)
	if err != nil {
		return err
	}
	uploadAccepted(w, u, http.StatusAccepted)
	return nil
}

// newSession opens an upload session of owner in repo: TOOMANYREQUESTS if
// owner holds MaxUploads sessions already, DENIED if the disk reserve is
// reached. Its file is created empty and closed.
func (r *Registry) newSession(ns Namespace, repo, owner string) (*upload, error) {
	r.mu.Lock()
	if n := r.perOwner[owner]; n >= r.maxUploads {
		r.mu.Unlock()
		return nil, TooManyRequests.Errorf(fmt.Sprintf("%d blob uploads of this access key are in progress, the registry's limit: "+
			"complete or cancel (DELETE) some first; an upload left idle is discarded after %v", n, r.idleTimeout))
	}
	r.perOwner[owner]++ // held while the file is created
	r.mu.Unlock()
	bw, err := r.blobs.create("", 0)
	if err == nil {
		bw.detach()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.release(owner)
		return nil, err
	}
	u := &upload{id: model.NewID(), ns: ns, repo: repo, owner: owner, w: bw, lastActive: r.now()}
	r.uploads[u.id] = u
	return u, nil
}

// release gives back one session of owner; r.mu is held.
func (r *Registry) release(owner string) {
	if r.perOwner[owner]--; r.perOwner[owner] <= 0 {
		delete(r.perOwner, owner)
	}
}

// removeLocked forgets a session; r.mu is held.
func (r *Registry) removeLocked(u *upload) {
	if r.uploads[u.id] == u {
		delete(r.uploads, u.id)
		r.release(u.owner)
	}
}

// reapLocked discards sessions idle for longer than the idle timeout, with
// their files, and returns how many; r.mu is held.
func (r *Registry) reapLocked() int {
	n := 0
	for _, u := range r.uploads {
		// A session in use (its lock held) is not idle; lastActive is
		// read under the session's lock, which guards it.
		if !u.w.mu.TryLock() {
			continue
		}
		if r.now().Sub(u.lastActive) > r.idleTimeout {
			r.removeLocked(u)
			u.w.cancel()
			n++
		}
		u.w.mu.Unlock()
	}
	return n
}

// sweepOrphanUploads removes the upload files under uploads/ that no
// session of this process owns and that nothing wrote to for longer than
// the idle timeout: those of sessions a crash or a restart ended (a replica
// sharing the directory discards its own idle sessions by then). It returns
// how many it removed.
func (r *Registry) sweepOrphanUploads() int {
	dir := filepath.Join(r.blobs.dir, "uploads")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	r.mu.Lock()
	owned := make(map[string]bool, len(r.uploads))
	for _, u := range r.uploads {
		owned[filepath.Base(u.w.path)] = true
	}
	r.mu.Unlock()
	cutoff := time.Now().Add(-r.idleTimeout)
	n := 0
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), uploadFilePrefix) || owned[e.Name()] {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.ModTime().Before(cutoff) && os.Remove(filepath.Join(dir, e.Name())) == nil {
			n++
		}
	}
	return n
}

// uploadAccepted answers with a session's location and progress.
func uploadAccepted(w http.ResponseWriter, u *upload, status int) {
	h := w.Header()
	h.Set("Location", "/v2/"+u.repo+"/blobs/uploads/"+u.id)
	h.Set("Docker-Upload-UUID", u.id)
	end := u.w.size - 1
	if end < 0 {
		end = 0
	}
	h.Set("Range", "0-"+strconv.FormatInt(end, 10))
	h.Set("Content-Length", "0")
	w.WriteHeader(status)
}

// session finds an upload of repo in ns and locks it, with its file open if
// open is set; the caller ends with done.
func (r *Registry) session(ns Namespace, name, id string, open bool) (*upload, error) {
	r.mu.Lock()
	u := r.uploads[id]
	r.mu.Unlock()
	if u == nil || u.ns != ns || u.repo != name {
		return nil, &Error{Code: BlobUploadUnknown, Message: "upload " + quote(id) + " is not in progress in repository " + quote(name)}
	}
	u.w.mu.Lock()
	r.mu.Lock()
	alive := r.uploads[id] == u
	r.mu.Unlock()
	if !alive {
		u.w.mu.Unlock()
		return nil, &Error{Code: BlobUploadUnknown, Message: "upload " + quote(id) + " is not in progress in repository " + quote(name)}
	}
	u.lastActive = r.now()
	if open {
		if err := u.w.attach(); err != nil {
			r.log.Warn("reopen upload file", "upload", id, "err", err)
			u.w.cancel()
			r.drop(u)
			u.w.mu.Unlock()
			return nil, &Error{Code: BlobUploadUnknown, Message: "upload " + quote(id) + " lost its content on the server: start it again"}
		}
	}
	return u, nil
}

// done ends a request's work on a session: its file is closed, and the
// session is unlocked. A session whose content can no longer be completed
// (a failed write, the disk reserve reached) is discarded, to free the disk.
func (r *Registry) done(u *upload) {
	if u.w.err != nil {
		u.w.cancel()
		r.drop(u)
	}
	u.w.detach()
	u.w.mu.Unlock()
}

// drop ends a session (its writer already committed or cancelled).
func (r *Registry) drop(u *upload) {
	r.mu.Lock()
	r.removeLocked(u)
	r.mu.Unlock()
}

// appendChunk writes the request body to the session, after checking that
// a Content-Range, if given, starts where the content so far ends.
func appendChunk(req *http.Request, u *upload) error {
	if cr := req.Header.Get("Content-Range"); cr != "" {
		startS, _, _ := strings.Cut(strings.TrimPrefix(cr, "bytes="), "-")
		start, err := strconv.ParseInt(startS, 10, 64)
		if err != nil || start != u.w.size {
			return BlobUploadInvalid.WithStatus(http.StatusRequestedRangeNotSatisfiable,
				"chunk out of order: Content-Range "+cr+" does not start at the uploaded size "+strconv.FormatInt(u.w.size, 10))
		}
	}
	if err := u.w.store.checkSpace(max(req.ContentLength, 0)); err != nil {
		return err
	}
	if _, err := u.w.readFrom(req.Body); err != nil {
		if e, ok := AsError(err); ok {
			return e
		}
		return BlobUploadInvalid.Errorf("could not read the chunk: " + err.Error())
	}
	return nil
}

// patchUpload appends a chunk (or a whole stream) to a session.
func (r *Registry) patchUpload(w http.ResponseWriter, req *http.Request, ns Namespace, name, id string) error {
	u, err := r.session(ns, name, id, true)
	if err != nil {
		return err
	}
	defer r.done(u)
	if err := appendChunk(req, u); err != nil {
		if BlobUploadInvalid.Is(err) {
			uploadRange(w, u)
		}
		return err
	}
	uploadAccepted(w, u, http.StatusAccepted)
	return nil
}

// uploadRange sets the Range header of a session's progress.
func uploadRange(w http.ResponseWriter, u *upload) {
	end := max(u.w.size-1, 0)
	w.Header().Set("Range", "0-"+strconv.FormatInt(end, 10))
	w.Header().Set("Location", "/v2/"+u.repo+"/blobs/uploads/"+u.id)
}

// finishUpload appends the last chunk, verifies the digest and moves the
// blob into place.
func (r *Registry) finishUpload(w http.ResponseWriter, req *http.Request, ns Namespace, name, id string) error {
	digest := req.URL.Query().Get("digest")
	u, err := r.session(ns, name, id, true)
	if err != nil {
		return err
	}
	defer r.done(u)
	alg, _, err := parseDigest(digest)
	if err != nil {
		return err
	}
	// The algorithm is known now: the last chunk (all of the content, for
	// a POST then PUT upload) is hashed with it only.
	if err := u.w.hashWith(alg); err != nil {
		return err
	}
	u.w.h.keep(alg)
	if err := appendChunk(req, u); err != nil {
		return err
	}
	size := u.w.size
	err = u.w.commit(digest)
	r.drop(u)
	if err != nil {
		return err
	}
	if err := r.LinkBlob(req.Context(), ns, name, digest, size); err != nil {
		return err
	}
	blobCreated(w, name, digest)
	return nil
}

// uploadStatus answers a session's progress.
func (r *Registry) uploadStatus(w http.ResponseWriter, req *http.Request, ns Namespace, name, id string) error {
	u, err := r.session(ns, name, id, false)
	if err != nil {
		return err
	}
	defer r.done(u)
	uploadAccepted(w, u, http.StatusNoContent)
	return nil
}

// cancelUpload discards a session.
func (r *Registry) cancelUpload(w http.ResponseWriter, req *http.Request, ns Namespace, name, id string) error {
	u, err := r.session(ns, name, id, false)
	if err != nil {
		return err
	}
	defer r.done(u)
	u.w.cancel()
	r.drop(u)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
