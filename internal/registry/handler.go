package registry

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// namePattern is the grammar of a repository name (OCI distribution).
var namePattern = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)

// route is a parsed /v2/ path: the repository, which endpoint, and its
// argument (digest, reference or upload id).
type route struct {
	name, kind, arg string
}

// Endpoint kinds.
const (
	kindBase      = "base"
	kindCatalog   = "catalog"
	kindBlob      = "blob"
	kindUpload    = "upload"
	kindManifest  = "manifest"
	kindTags      = "tags"
	kindReferrers = "referrers"
)

// parseRoute splits a /v2/ path. Repository names may contain '/', so the
// endpoint is found from the right.
func parseRoute(path string) (route, bool) {
	if path == "/v2/" || path == "/v2" {
		return route{kind: kindBase}, true
	}
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return route{}, false
	}
	if rest == "_catalog" {
		return route{kind: kindCatalog}, true
	}
	if name, ok := strings.CutSuffix(rest, "/tags/list"); ok {
		return route{name: name, kind: kindTags}, true
	}
	if i := strings.LastIndex(rest, "/blobs/uploads"); i > 0 {
		arg := strings.TrimPrefix(rest[i+len("/blobs/uploads"):], "/")
		if !strings.Contains(arg, "/") {
			return route{name: rest[:i], kind: kindUpload, arg: arg}, true
		}
	}
	for _, m := range []struct{ sep, kind string }{{"/blobs/", kindBlob}, {"/manifests/", kindManifest}, {"/referrers/", kindReferrers}} {
		if i := strings.LastIndex(rest, m.sep); i > 0 {
			arg := rest[i+len(m.sep):]
			if arg != "" && !strings.Contains(arg, "/") {
				return route{name: rest[:i], kind: m.kind, arg: arg}, true
			}
		}
	}
	return route{}, false
}

// ServeHTTP serves the OCI distribution API under /v2/. Every request must
// carry Basic credentials AWS:<token> from GetAuthorizationToken.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	ns, owner, err := r.authenticate(req)
	if err != nil {
		r.writeError(w, req, err)
		return
	}
	rt, ok := parseRoute(req.URL.Path)
	if !ok {
		r.writeError(w, req, Unsupported.WithStatus(http.StatusNotFound, "no registry endpoint at "+req.URL.Path))
		return
	}
	if rt.name != "" && !namePattern.MatchString(rt.name) {
		r.writeError(w, req, &Error{Code: NameInvalid, Message: "repository name " + quote(rt.name) + " is not valid", Detail: map[string]string{"name": rt.name}})
		return
	}
	err = r.dispatch(w, req, ns, owner, rt)
	if err != nil {
		r.writeError(w, req, err)
	}
}

// dispatch runs the handler of a route and method for owner, the access
// key the request's token was issued for.
func (r *Registry) dispatch(w http.ResponseWriter, req *http.Request, ns Namespace, owner string, rt route) error {
	m := req.Method
	switch {
	case rt.kind == kindBase && (m == http.MethodGet || m == http.MethodHead):
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "2")
		w.WriteHeader(http.StatusOK)
		if m == http.MethodGet {
			w.Write([]byte("{}"))
		}
		return nil
	case rt.kind == kindCatalog && m == http.MethodGet:
		return r.catalog(w, req, ns)
	case rt.kind == kindTags && m == http.MethodGet:
		return r.tagsList(w, req, ns, rt.name)
	case rt.kind == kindReferrers && m == http.MethodGet:
		return r.referrers(w, req, ns, rt.name, rt.arg)
	case rt.kind == kindManifest && (m == http.MethodGet || m == http.MethodHead):
		return r.getManifest(w, req, ns, rt.name, rt.arg)
	case rt.kind == kindManifest && m == http.MethodPut:
		return r.putManifest(w, req, ns, rt.name, rt.arg)
	case rt.kind == kindManifest && m == http.MethodDelete:
		return r.deleteManifest(w, req, ns, rt.name, rt.arg)
	case rt.kind == kindBlob && (m == http.MethodGet || m == http.MethodHead):
		return r.getBlob(w, req, ns, rt.name, rt.arg)
	case rt.kind == kindBlob && m == http.MethodDelete:
		return r.deleteBlob(w, req, ns, rt.name, rt.arg)
	case rt.kind == kindUpload && rt.arg == "" && m == http.MethodPost:
		return r.startUpload(w, req, ns, owner, rt.name)
	case rt.kind == kindUpload && rt.arg != "" && m == http.MethodPatch:
		return r.patchUpload(w, req, ns, rt.name, rt.arg)
	case rt.kind == kindUpload && rt.arg != "" && m == http.MethodPut:
		return r.finishUpload(w, req, ns, rt.name, rt.arg)
	case rt.kind == kindUpload && rt.arg != "" && m == http.MethodGet:
		return r.uploadStatus(w, req, ns, rt.name, rt.arg)
	case rt.kind == kindUpload && rt.arg != "" && m == http.MethodDelete:
		return r.cancelUpload(w, req, ns, rt.name, rt.arg)
	}
	return Unsupported.Errorf("method " + m + " is not supported on " + req.URL.Path)
}

// getManifest serves GET and HEAD of a manifest by tag or digest. A GET
// records the pull (ECR's lastRecordedPullTime), and so does a HEAD by tag:
// that is how docker and containerd resolve the image to pull, and all they
// send when they already hold its manifest (docker 20.10 pulls an image it
// has with a HEAD only). A HEAD by digest does not: it is also what pushing
// tools send to check whether a manifest is there already. RecordPull
// writes at most once per image per pullRecordInterval.
func (r *Registry) getManifest(w http.ResponseWriter, req *http.Request, ns Namespace, name, ref string) error {
	if isDigest(ref) {
		if _, _, err := parseDigest(ref); err != nil {
			return err
		}
	}
	img, rev, err := r.Resolve(req.Context(), ns, name, ref)
	if err != nil {
		return err
	}
	body, err := r.ManifestBytes(img)
	if err != nil {
		return err
	}
	if req.Method == http.MethodGet || !isDigest(ref) {
		// Recorded before the answer, so a client that has the manifest
		// sees the pull in DescribeImages; not cancelled if it hangs up.
		r.RecordPull(context.WithoutCancel(req.Context()), ns, name, img, rev)
	}
	h := w.Header()
	h.Set("Content-Type", img.MediaType)
	h.Set("Docker-Content-Digest", img.Digest)
	h.Set("Etag", `"`+img.Digest+`"`)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if req.Method == http.MethodGet {
		w.Write(body)
	}
	return nil
}

// putManifest stores a manifest sent in the request body.
func (r *Registry) putManifest(w http.ResponseWriter, req *http.Request, ns Namespace, name, ref string) error {
	body, err := io.ReadAll(io.LimitReader(req.Body, MaxManifestSize+1))
	if err != nil {
		return BlobUploadInvalid.Errorf("could not read the manifest: " + err.Error())
	}
	img, err := r.PutManifest(req.Context(), ns, name, ref, req.Header.Get("Content-Type"), body)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Location", "/v2/"+name+"/manifests/"+img.Digest)
	h.Set("Docker-Content-Digest", img.Digest)
	if img.Subject != "" {
		h.Set("OCI-Subject", img.Subject)
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// deleteManifest deletes an image by digest, or only a tag by tag.
func (r *Registry) deleteManifest(w http.ResponseWriter, req *http.Request, ns Namespace, name, ref string) error {
	var err error
	if isDigest(ref) {
		if _, _, err = parseDigest(ref); err != nil {
			return err
		}
		_, err = r.DeleteImage(req.Context(), ns, name, ref)
	} else {
		_, err = r.DeleteTag(req.Context(), ns, name, ref)
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// pageParams reads the n and last query parameters; n < 0 means no limit.
func pageParams(req *http.Request) (int, string, error) {
	q := req.URL.Query()
	n := -1
	if s := q.Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return 0, "", Unsupported.WithStatus(http.StatusBadRequest, "n must be a non-negative integer")
		}
		n = v
	}
	return n, q.Get("last"), nil
}

// setNextLink sets the Link header that points at the next page.
func setNextLink(w http.ResponseWriter, path string, n int, last string) {
	v := url.Values{"n": {strconv.Itoa(n)}, "last": {last}}
	w.Header().Set("Link", "<"+path+"?"+v.Encode()+`>; rel="next"`)
}

// tagsList answers the tags of a repository, paginated with n and last.
func (r *Registry) tagsList(w http.ResponseWriter, req *http.Request, ns Namespace, name string) error {
	n, last, err := pageParams(req)
	if err != nil {
		return err
	}
	if _, _, err := r.Repository(req.Context(), ns, name); err != nil {
		return err
	}
	tags := []string{}
	more := false
	if n != 0 {
		if tags, more, err = r.Tags(req.Context(), ns, name, last, max(n, 0)); err != nil {
			return err
		}
	}
	if more && len(tags) > 0 {
		setNextLink(w, req.URL.Path, n, tags[len(tags)-1])
	}
	return writeJSON(w, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{name, tags})
}

// catalog answers the repositories of the namespace, paginated.
func (r *Registry) catalog(w http.ResponseWriter, req *http.Request, ns Namespace) error {
	n, last, err := pageParams(req)
	if err != nil {
		return err
	}
	names := []string{}
	if n != 0 {
		repos, more, err := r.Repositories(req.Context(), ns, last, max(n, 0))
		if err != nil {
			return err
		}
		for _, repo := range repos {
			names = append(names, repo.RepositoryName)
		}
		if more && len(names) > 0 {
			setNextLink(w, req.URL.Path, n, names[len(names)-1])
		}
	}
	return writeJSON(w, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{names})
}

// referrers answers the manifests whose subject is digest, as an OCI index,
// optionally filtered by artifactType.
func (r *Registry) referrers(w http.ResponseWriter, req *http.Request, ns Namespace, name, digest string) error {
	if _, _, err := parseDigest(digest); err != nil {
		return err
	}
	if _, _, err := r.Repository(req.Context(), ns, name); err != nil {
		return err
	}
	refs, err := r.Referrers(req.Context(), ns, name, digest)
	if err != nil {
		return err
	}
	if at := req.URL.Query().Get("artifactType"); at != "" {
		kept := refs[:0]
		for _, d := range refs {
			if d.ArtifactType == at {
				kept = append(kept, d)
			}
		}
		refs = kept
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	return writeJSON(w, MediaOCIIndex, struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Manifests     []Descriptor `json:"manifests"`
	}{2, MediaOCIIndex, refs})
}

// writeJSON answers 200 with v as JSON.
func writeJSON(w http.ResponseWriter, contentType string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	return nil
}
