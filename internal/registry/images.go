package registry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
)

// tagPattern is the grammar of a tag (OCI distribution).
var tagPattern = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)

// maxGuardedRefs bounds how many referenced blobs a manifest push guards
// with revision checks (etcd limits the comparisons of one transaction).
const maxGuardedRefs = 100

// PutManifest stores a manifest in repo under ref (a tag, or the digest it
// must have) and returns its image record. It checks the manifest, that the
// repository exists and that every blob or manifest it references is in
// the repository; moves the tag atomically (refused with TAG_INVALID if the
// repository is immutable and the tag names another image), and records the
// manifest as a referrer of its subject.
func (r *Registry) PutManifest(ctx context.Context, ns Namespace, repo, ref, contentType string, body []byte) (*Image, error) {
	if len(body) > MaxManifestSize {
		return nil, ManifestInvalid.WithStatus(413, "the manifest is larger than the limit of 4 MiB")
	}
	m, mt, err := parseManifest(contentType, body)
	if err != nil {
		return nil, err
	}
	tag, digest := "", ""
	if isDigest(ref) {
		alg, _, err := parseDigest(ref)
		if err != nil {
			return nil, err
		}
		if digest = digestOf(alg, body); digest != ref {
			return nil, &Error{Code: DigestInvalid, Message: "the manifest's digest is " + digest + ", not " + ref, Detail: map[string]string{"digest": ref}}
		}
	} else {
		if !tagPattern.MatchString(ref) {
			return nil, TagInvalid.Errorf("tag " + quote(ref) + " is not valid: up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'")
		}
		tag, digest = ref, digestOf("sha256", body)
	}
	img := &Image{Digest: digest, MediaType: mt, ArtifactType: m.ArtifactType, ManifestSize: int64(len(body))}
	var refs []string    // keys that must exist in the repository
	var refSizes []int64 // the sizes their descriptors declare
	if isIndex(mt) {
		for _, d := range m.Manifests {
			img.Children = append(img.Children, d.Digest)
			refs = append(refs, model.RegistryImageKey(repo, d.Digest))
			refSizes = append(refSizes, d.Size)
		}
		img.Size = int64(len(body))
	} else {
		for _, d := range append([]Descriptor{*m.Config}, m.Layers...) {
			if img.Size > math.MaxInt64-d.Size {
				return nil, ManifestInvalid.Errorf("the sizes of the manifest's descriptors add up to more than 2^63 bytes")
			}
			img.Size += d.Size
			if nonDistributable(d.MediaType) {
				continue
			}
			img.Blobs = append(img.Blobs, d.Digest)
			refs = append(refs, model.RegistryBlobKey(repo, d.Digest))
			refSizes = append(refSizes, d.Size)
		}
	}
	if m.Subject != nil {
		img.Subject = m.Subject.Digest
	}
	if err := r.blobs.putBytes(digest, body); err != nil {
		return nil, err
	}
	st := r.store(ns)
	repoKey, imgKey := model.RegistryRepositoryKey(repo), model.RegistryImageKey(repo, digest)
	gcKey := model.RegistryGCMarkerKey(repo)
	return state.Retry(ctx, func() (*Image, error) {
		reads := []state.Read{{Key: repoKey}, {Key: imgKey}}
		if tag != "" {
			reads = append(reads, state.Read{Key: model.RegistryTagKey(repo, tag)})
		}
		for _, k := range refs {
			reads = append(reads, state.Read{Key: k})
		}
		reads = append(reads, state.Read{Key: gcKey})
		pages, err := readBatched(ctx, st, reads)
		if err != nil {
			return nil, err
		}
		// The collector rewrites the marker whenever it deletes links of
		// the repository: expecting it unchanged guards every reference,
		// including those past maxGuardedRefs.
		var gcRev int64
		if gc := pages[len(pages)-1]; len(gc.Items) > 0 {
			gcRev = gc.Items[0].Revision
		}
		pages = pages[:len(pages)-1]
		if len(pages[0].Items) == 0 {
			return nil, errNameUnknown(ns, repo)
		}
		var rec Repository
		if err := pages[0].Items[0].Decode(&rec); err != nil {
			return nil, err
		}
		txn := st.Txn().Expect(repoKey, pages[0].Items[0].Revision).Expect(gcKey, gcRev)
		refPages := pages[2:]
		if tag != "" {
			refPages = pages[3:]
		}
		for i, p := range refPages {
			if len(p.Items) == 0 {
				d := refs[i][len(model.RegistryBlobsPrefix(repo)):]
				if isIndex(mt) {
					d = refs[i][len(model.RegistryImagesPrefix(repo)):]
				}
				return nil, &Error{Code: ManifestBlobUnknown, Message: "the manifest references " + d + ", which is not in repository " + quote(repo), Detail: map[string]string{"digest": d}}
			}
			if err := checkRefSize(p.Items[0], isIndex(mt), refSizes[i]); err != nil {
				return nil, err
			}
			if len(refs) <= maxGuardedRefs {
				txn.Expect(refs[i], p.Items[0].Revision)
			}
		}
		next := *img
		next.PushedAt = r.now().UnixMilli()
		var imgRev int64
		if len(pages[1].Items) > 0 {
			var cur Image
			if err := pages[1].Items[0].Decode(&cur); err != nil {
				return nil, err
			}
			imgRev = pages[1].Items[0].Revision
			next.PushedAt, next.LastPull, next.Tags = cur.PushedAt, cur.LastPull, cur.Tags
		}
		txn.Expect(imgKey, imgRev)
		if tag != "" {
			if err := r.moveTag(ctx, st, txn, ns, &rec, tag, &next, pages[2]); err != nil {
				return nil, err
			}
		}
		txn.Put(imgKey, &next)
		if next.Subject != "" {
			txn.Put(model.RegistryReferrerKey(repo, next.Subject, digest), Descriptor{
				MediaType: mt, Digest: digest, Size: int64(len(body)), ArtifactType: m.referrerArtifactType(mt), Annotations: boundedAnnotations(m.Annotations),
			})
		}
		if _, err := txn.Commit(ctx); err != nil {
			return nil, err
		}
		r.log.Info("image pushed", "account", ns.Account, "region", ns.Region, "repository", repo,
			"tag", tag, "digest", digest, "size", next.Size)
		return &next, nil
	})
}

// readBatched reads as st.ReadAll does, in as many transactions as the
// store's limit on operations needs. Reads of later batches may see later
// revisions: the caller's commit expects what it relies on.
func readBatched(ctx context.Context, st *state.Store, reads []state.Read) ([]state.Page, error) {
	var pages []state.Page
	for len(reads) > 0 {
		batch := reads[:min(len(reads), st.MaxTxnOps())]
		reads = reads[len(batch):]
		p, err := st.ReadAll(ctx, batch...)
		if err != nil {
			return nil, err
		}
		pages = append(pages, p...)
	}
	return pages, nil
}

// checkRefSize returns MANIFEST_INVALID unless a descriptor's declared size
// is that of what it references: the blob link's size, or for an index
// the child manifest's length.
func checkRefSize(it state.Item, child bool, declared int64) error {
	var stored int64
	what := "stored blob"
	if child {
		var img Image
		if err := it.Decode(&img); err != nil {
			return err
		}
		stored, what = img.ManifestSize, "stored manifest"
	} else {
		var link BlobLink
		if err := it.Decode(&link); err != nil {
			return err
		}
		stored = link.Size
	}
	if declared == stored {
		return nil
	}
	d := it.Key[strings.LastIndex(it.Key, "/")+1:]
	return &Error{Code: ManifestInvalid, Message: fmt.Sprintf("descriptor %s declares %d bytes but the %s has %d: give its real size", quote(d), declared, what, stored),
		Detail: map[string]string{"digest": d}}
}

// moveTag adds to txn the writes that point tag at img, read from tagPage:
// nothing if it already does; TAG_INVALID if it names another image in an
// immutable repository; otherwise the tag moves and leaves the old image.
func (r *Registry) moveTag(ctx context.Context, st *state.Store, txn *state.Txn, ns Namespace, repo *Repository, tag string, img *Image, tagPage state.Page) error {
	name := repo.RepositoryName
	tagKey := model.RegistryTagKey(name, tag)
	if len(tagPage.Items) == 0 {
		txn.Expect(tagKey, 0).Put(tagKey, TagRef{Digest: img.Digest})
		img.Tags = addTag(img.Tags, tag)
		return nil
	}
	var cur TagRef
	if err := tagPage.Items[0].Decode(&cur); err != nil {
		return err
	}
	txn.Expect(tagKey, tagPage.Items[0].Revision)
	if cur.Digest == img.Digest {
		img.Tags = addTag(img.Tags, tag)
		return nil
	}
	if repo.Immutable(tag) {
		return TagInvalid.Errorf("The image tag '" + tag + "' already exists in the '" + name + "' repository and cannot be overwritten because the repository is immutable.")
	}
	var old Image
	oldKey := model.RegistryImageKey(name, cur.Digest)
	rev, err := st.Get(ctx, oldKey, &old)
	if err == nil {
		old.Tags = slices.DeleteFunc(old.Tags, func(t string) bool { return t == tag })
		txn.Expect(oldKey, rev).Put(oldKey, &old)
	} else if !errors.Is(err, state.ErrNotFound) {
		return err
	}
	txn.Put(tagKey, TagRef{Digest: img.Digest})
	img.Tags = addTag(img.Tags, tag)
	return nil
}

func addTag(tags []string, tag string) []string {
	if slices.Contains(tags, tag) {
		return tags
	}
	tags = append(slices.Clone(tags), tag)
	slices.Sort(tags)
	return tags
}

// Resolve returns the image a reference (tag or digest) names in repo:
// NAME_UNKNOWN if the repository does not exist, MANIFEST_UNKNOWN if the
// reference does not.
func (r *Registry) Resolve(ctx context.Context, ns Namespace, repo, ref string) (*Image, int64, error) {
	st := r.store(ns)
	digest := ref
	if !isDigest(ref) {
		var t TagRef
		if _, err := st.Get(ctx, model.RegistryTagKey(repo, ref), &t); err != nil {
			return nil, 0, r.unknown(ctx, ns, repo, ref, err)
		}
		digest = t.Digest
	}
	var img Image
	rev, err := st.Get(ctx, model.RegistryImageKey(repo, digest), &img)
	if err != nil {
		return nil, 0, r.unknown(ctx, ns, repo, ref, err)
	}
	return &img, rev, nil
}

// unknown turns a not-found read of ref into NAME_UNKNOWN or MANIFEST_UNKNOWN.
func (r *Registry) unknown(ctx context.Context, ns Namespace, repo, ref string, err error) error {
	if !errors.Is(err, state.ErrNotFound) {
		return err
	}
	if _, _, err := r.Repository(ctx, ns, repo); err != nil {
		return err
	}
	return &Error{Code: ManifestUnknown, Message: "manifest " + quote(ref) + " is not in repository " + quote(repo), Detail: map[string]string{"reference": ref}}
}

// ManifestBytes returns the content of a stored manifest.
func (r *Registry) ManifestBytes(img *Image) ([]byte, error) {
	return os.ReadFile(r.blobs.path(img.Digest))
}

// RecordPull sets an image's last pull time, at most once per
// pullRecordInterval so that pulls do not each write to etcd. A concurrent
// change wins over the record.
func (r *Registry) RecordPull(ctx context.Context, ns Namespace, repo string, img *Image, rev int64) {
	now := r.now().UnixMilli()
	if now-img.LastPull < pullRecordInterval.Milliseconds() {
		return
	}
	next := *img
	next.LastPull = now
	key := model.RegistryImageKey(repo, img.Digest)
	if _, err := r.store(ns).Txn().Expect(key, rev).Put(key, &next).Commit(ctx); err != nil && !errors.Is(err, state.ErrConflict) {
		r.log.Warn("record image pull", "repository", repo, "digest", img.Digest, "err", err)
	}
}

// DeleteImage removes an image by digest, with its tags and its referrer
// entry; MANIFEST_UNKNOWN if it is not in the repository.
func (r *Registry) DeleteImage(ctx context.Context, ns Namespace, repo, digest string) (*Image, error) {
	return r.deleteImage(ctx, ns, repo, digest, nil)
}

// errImageChanged: the image no longer is what the caller decided on.
var errImageChanged = errors.New("registry: image changed")

// ExpireImage deletes an image as DeleteImage does, but only if it still
// has the tags and push time of img, which a lifecycle policy was evaluated
// against; it reports false if the image changed or is already gone.
func (r *Registry) ExpireImage(ctx context.Context, ns Namespace, repo string, img *Image) (bool, error) {
	_, err := r.deleteImage(ctx, ns, repo, img.Digest, func(cur *Image) bool {
		return cur.PushedAt == img.PushedAt && slices.Equal(cur.Tags, img.Tags)
	})
	if errors.Is(err, errImageChanged) || ManifestUnknown.Is(err) {
		return false, nil
	}
	return err == nil, err
}

// deleteImage removes an image if keep is nil or approves its current record.
func (r *Registry) deleteImage(ctx context.Context, ns Namespace, repo, digest string, keep func(*Image) bool) (*Image, error) {
	st := r.store(ns)
	key := model.RegistryImageKey(repo, digest)
	return state.Retry(ctx, func() (*Image, error) {
		img, rev, err := r.Resolve(ctx, ns, repo, digest)
		if err != nil {
			return nil, err
		}
		if keep != nil && !keep(img) {
			return nil, errImageChanged
		}
		txn := st.Txn().Expect(key, rev).Delete(key)
		for _, t := range img.Tags {
			txn.Delete(model.RegistryTagKey(repo, t))
		}
		if img.Subject != "" {
			txn.Delete(model.RegistryReferrerKey(repo, img.Subject, digest))
		}
		if _, err := txn.Commit(ctx); err != nil {
			return nil, err
		}
		return img, nil
	})
}

// DeleteTag removes a tag, leaving its image untagged; it returns the image
// the tag named.
func (r *Registry) DeleteTag(ctx context.Context, ns Namespace, repo, tag string) (*Image, error) {
	st := r.store(ns)
	tagKey := model.RegistryTagKey(repo, tag)
	return state.Retry(ctx, func() (*Image, error) {
		var t TagRef
		tagRev, err := st.Get(ctx, tagKey, &t)
		if err != nil {
			return nil, r.unknown(ctx, ns, repo, tag, err)
		}
		img, rev, err := r.Resolve(ctx, ns, repo, t.Digest)
		if err != nil {
			return nil, err
		}
		key := model.RegistryImageKey(repo, img.Digest)
		next := *img
		next.Tags = slices.DeleteFunc(slices.Clone(img.Tags), func(s string) bool { return s == tag })
		if _, err := st.Txn().Expect(tagKey, tagRev).Expect(key, rev).Delete(tagKey).Put(key, &next).Commit(ctx); err != nil {
			return nil, err
		}
		return img, nil
	})
}

// Images lists up to limit images of repo after digest `after`, in digest
// order, and whether more remain.
func (r *Registry) Images(ctx context.Context, ns Namespace, repo, after string, limit int) ([]Image, bool, error) {
	a := ""
	if after != "" {
		a = model.RegistryImageKey(repo, after)
	}
	page, err := r.store(ns).List(ctx, model.RegistryImagesPrefix(repo), a, limit)
	if err != nil {
		return nil, false, err
	}
	out := make([]Image, 0, len(page.Items))
	for _, it := range page.Items {
		var img Image
		if err := it.Decode(&img); err != nil {
			return nil, false, err
		}
		out = append(out, img)
	}
	return out, page.More, nil
}

// Tags lists up to limit tags of repo after `after`, in lexical order, and
// whether more remain.
func (r *Registry) Tags(ctx context.Context, ns Namespace, repo, after string, limit int) ([]string, bool, error) {
	prefix := model.RegistryTagsPrefix(repo)
	a := ""
	if after != "" {
		a = prefix + after
	}
	page, err := r.store(ns).List(ctx, prefix, a, limit)
	if err != nil {
		return nil, false, err
	}
	out := make([]string, 0, len(page.Items))
	for _, it := range page.Items {
		out = append(out, it.Key[len(prefix):])
	}
	return out, page.More, nil
}

// Referrers lists the manifests of repo whose subject is digest.
func (r *Registry) Referrers(ctx context.Context, ns Namespace, repo, digest string) ([]Descriptor, error) {
	page, err := r.store(ns).ListAll(ctx, model.RegistryReferrersPrefix(repo, digest))
	if err != nil {
		return nil, err
	}
	out := make([]Descriptor, 0, len(page.Items))
	for _, it := range page.Items {
		var d Descriptor
		if err := it.Decode(&d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// maxReferrerAnnotations bounds the annotations copied into a referrer
// record: etcd values are limited, and a manifest may be 4 MiB of them.
const maxReferrerAnnotations = 64 << 10

// boundedAnnotations returns a, or nil if it is too large to store.
func boundedAnnotations(a map[string]string) map[string]string {
	n := 0
	for k, v := range a {
		n += len(k) + len(v)
	}
	if n > maxReferrerAnnotations {
		return nil
	}
	return a
}
