package registry

import (
	"context"
	"errors"
	"net/http"
	"strconv"
)

// The upload sessions of /v2/, driven by calls instead of HTTP requests:
// ECR's InitiateLayerUpload, UploadLayerPart and CompleteLayerUpload. A
// session lives in the memory of the replica that started it, like a /v2/
// session.

// Upload conditions the ECR layer API answers with exceptions of its own.
var (
	// ErrEmptyUpload: completing a session that received no bytes.
	ErrEmptyUpload = errors.New("registry: the upload holds no data")
	// ErrLayerExists: completing a session whose blob the repository already has.
	ErrLayerExists = errors.New("registry: the layer already exists in the repository")
)

// StartUpload opens an upload session of owner (the caller's access key
// id) in repo and returns its id; NAME_UNKNOWN if the repository does not
// exist, TOOMANYREQUESTS if owner holds Config.MaxUploads sessions, DENIED
// if the disk reserve is reached.
func (r *Registry) StartUpload(ctx context.Context, ns Namespace, owner, repo string) (string, error) {
	if _, _, err := r.Repository(ctx, ns, repo); err != nil {
		return "", err
	}
	u, err := r.newSession(ns, repo, owner)
	if err != nil {
		return "", err
	}
	return u.id, nil
}

// AppendUpload adds data to a session at offset first, which must be where
// the content so far ends (BLOB_UPLOAD_INVALID with status 416 otherwise);
// it returns the session's new size. BLOB_UPLOAD_UNKNOWN if there is no
// such session in repo.
func (r *Registry) AppendUpload(ns Namespace, repo, id string, first int64, data []byte) (int64, error) {
	u, err := r.session(ns, repo, id, true)
	if err != nil {
		return 0, err
	}
	defer r.done(u)
	if first != u.w.size {
		return u.w.size, BlobUploadInvalid.WithStatus(http.StatusRequestedRangeNotSatisfiable,
			"the part starts at byte "+strconv.FormatInt(first, 10)+" but the upload holds "+strconv.FormatInt(u.w.size, 10)+" bytes: parts must be contiguous")
	}
	if err := u.w.store.checkSpace(int64(len(data))); err != nil {
		return u.w.size, err
	}
	if _, err := u.w.Write(data); err != nil {
		return u.w.size, err
	}
	return u.w.size, nil
}

// CompleteUpload ends a session: its content must have every digest in
// digests (DIGEST_INVALID otherwise; the session stays open so the caller
// may retry). If the repository already has the blob, the content is
// discarded and ErrLayerExists returned; otherwise the blob moves into
// place and is linked to the repository. It returns the blob's size.
func (r *Registry) CompleteUpload(ctx context.Context, ns Namespace, repo, id string, digests []string) (int64, error) {
	u, err := r.session(ns, repo, id, true)
	if err != nil {
		return 0, err
	}
	defer r.done(u)
	if u.w.err != nil {
		return 0, u.w.err
	}
	for _, d := range digests {
		if _, _, err := parseDigest(d); err != nil {
			return 0, err
		}
		if err := u.w.check(d); err != nil {
			return 0, err
		}
	}
	size := u.w.size
	if size == 0 {
		return 0, ErrEmptyUpload
	}
	if _, err := r.BlobSize(ctx, ns, repo, digests[0]); err == nil && r.blobs.touch(digests[0]) == nil {
		u.w.cancel()
		r.drop(u)
		return size, ErrLayerExists
	}
	err = u.w.commit(digests[0])
	r.drop(u)
	if err != nil {
		return 0, err
	}
	return size, r.LinkBlob(ctx, ns, repo, digests[0], size)
}
