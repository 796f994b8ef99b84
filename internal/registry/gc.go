package registry

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
)

// Garbage collection removes blob content that no image references any
// more, while pushes and pulls go on. It runs in two phases.
//
// Links. In each repository, a blob link that no image of the repository
// references and that is older than the grace period is deleted, in a
// transaction that requires (1) the link unchanged since it was read (a
// re-push refreshes it), (2) no image of the repository written since the
// images were read (a manifest pushed meanwhile may reference it), and that
// rewrites the repository's GC marker, which every manifest push expects
// unchanged since it read the links it references: a push and a link
// deletion never both commit.
//
// Content. Once links are swept, every digest still named by a link or an
// image, in any account and region, is live. A file under blobs/ that is
// not live and whose modification time is older than the grace period is
// removed. Writers touch content before they commit a reference to it
// (uploads land with a fresh time; a mount or a manifest already on disk is
// touched), so content referenced after the mark is always recent. The
// check and the removal are made atomic against a touch by renaming the
// file aside first and checking its time again: a file touched in between
// is put back.

// gcBatch bounds the links deleted in one transaction (etcd limits the
// operations of a transaction to 128 by default).
const gcBatch = 100

// gcAttempts is how often the link phase re-reads a busy repository before
// leaving it to the next run.
const gcAttempts = 5

// CollectGarbage deletes unreferenced blob links older than the grace
// period and then the blob content that nothing references, in every
// account and region; it returns how many content files it removed. It is
// safe to run while the registry serves pushes and pulls, on any one
// replica: run it periodically under the leader election (one collector at
// a time; a second call in this process waits for the first).
func (r *Registry) CollectGarbage(ctx context.Context, now time.Time) (removed int, err error) {
	r.gcMu.Lock()
	defer r.gcMu.Unlock()
	nss, err := r.Namespaces(ctx)
	if err != nil {
		return 0, err
	}
	cutoff := now.Add(-r.grace)
	links := 0
	for _, ns := range nss {
		repos, _, err := r.Repositories(ctx, ns, "", 0)
		if err != nil {
			return 0, err
		}
		for _, repo := range repos {
			n, err := r.sweepLinks(ctx, ns, repo.RepositoryName, cutoff)
			links += n
			if err != nil {
				return 0, fmt.Errorf("registry: gc links of %s: %w", repo.RepositoryName, err)
			}
		}
	}
	live, err := r.liveDigests(ctx)
	if err != nil {
		return 0, err
	}
	removed, err = r.sweepContent(live, cutoff)
	r.log.Info("registry garbage collection", "links_deleted", links, "blobs_removed", removed, "err", err)
	return removed, err
}

// sweepLinks deletes the links of repo that no image references and that
// were linked before cutoff, and returns how many it deleted.
func (r *Registry) sweepLinks(ctx context.Context, ns Namespace, repo string, cutoff time.Time) (int, error) {
	st := r.store(ns)
	imagesPrefix := model.RegistryImagesPrefix(repo)
	deleted := 0
	for range gcAttempts {
		pages, err := st.ReadAll(ctx, state.Read{Key: imagesPrefix, Prefix: true}, state.Read{Key: model.RegistryBlobsPrefix(repo), Prefix: true})
		if err != nil {
			return deleted, err
		}
		used := map[string]bool{}
		for _, it := range pages[0].Items {
			var img Image
			if err := it.Decode(&img); err != nil {
				return deleted, err
			}
			for _, d := range img.Blobs {
				used[d] = true
			}
		}
		var doomed []state.Item
		for _, it := range pages[1].Items {
			var link BlobLink
			if err := it.Decode(&link); err != nil {
				return deleted, err
			}
			digest := it.Key[len(model.RegistryBlobsPrefix(repo)):]
			if !used[digest] && time.UnixMilli(link.LinkedAt).Before(cutoff) {
				doomed = append(doomed, it)
			}
		}
		conflict := false
		for len(doomed) > 0 {
			batch := doomed[:min(gcBatch, len(doomed))]
			doomed = doomed[len(batch):]
			txn := st.Txn().ExpectUnchangedSince(imagesPrefix, pages[0].Revision).
				Put(model.RegistryGCMarkerKey(repo), struct {
					At int64 `json:"at"`
				}{time.Now().UnixMilli()})
			for _, it := range batch {
				txn.Expect(it.Key, it.Revision).Delete(it.Key)
			}
			if _, err := txn.Commit(ctx); errors.Is(err, state.ErrConflict) {
				conflict = true
				break
			} else if err != nil {
				return deleted, err
			}
			deleted += len(batch)
		}
		if !conflict {
			return deleted, nil
		}
	}
	r.log.Warn("registry gc: repository kept changing; its links wait for the next run", "repository", repo)
	return deleted, nil
}

// liveDigests returns every digest that a blob link or an image record
// names, in every account and region.
func (r *Registry) liveDigests(ctx context.Context) (map[string]bool, error) {
	nss, err := r.Namespaces(ctx)
	if err != nil {
		return nil, err
	}
	live := map[string]bool{}
	for _, ns := range nss {
		st := r.store(ns)
		for _, prefix := range []string{"ecr/blobs/", "ecr/images/"} {
			after := ""
			for {
				page, err := st.List(ctx, prefix, after, 1000)
				if err != nil {
					return nil, err
				}
				for _, it := range page.Items {
					live[it.Key[strings.LastIndex(it.Key, "/")+1:]] = true
					if prefix == "ecr/images/" {
						var img Image
						if err := it.Decode(&img); err != nil {
							return nil, err
						}
						for _, d := range img.Blobs {
							live[d] = true
						}
					}
					after = it.Key
				}
				if !page.More || len(page.Items) == 0 {
					break
				}
			}
		}
	}
	return live, nil
}

// sweepContent removes the content files that are not live and were last
// written or touched before cutoff, and stale leftovers under uploads/.
func (r *Registry) sweepContent(live map[string]bool, cutoff time.Time) (int, error) {
	root := filepath.Join(r.blobs.dir, "blobs")
	removed := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if len(parts) != 3 {
			return nil
		}
		digest := parts[0] + ":" + parts[2]
		if _, _, err := parseDigest(digest); err != nil || live[digest] {
			return nil
		}
		ok, err := r.removeIfStale(path, cutoff)
		if ok {
			removed++
		}
		return err
	})
	r.sweepUploads(cutoff)
	return removed, err
}

// removeIfStale removes a content file whose modification time is before
// cutoff. It renames the file aside, then checks the time again: a writer
// that touched it in between (to reference it) gets it back in place.
func (r *Registry) removeIfStale(path string, cutoff time.Time) (bool, error) {
	fi, err := os.Stat(path)
	if err != nil || !fi.ModTime().Before(cutoff) {
		return false, nil
	}
	aside := filepath.Join(r.blobs.dir, "uploads", "gc-"+model.NewID())
	if err := os.Rename(path, aside); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("registry: gc: set %s aside: %w", path, err)
	}
	fi, err = os.Stat(aside)
	if err == nil && !fi.ModTime().Before(cutoff) {
		// Touched meanwhile: restore it, unless a fresh copy took its place.
		if err := os.Link(aside, path); err != nil && !errors.Is(err, fs.ErrExist) {
			return false, fmt.Errorf("registry: gc: restore %s: %w", path, err)
		}
		os.Remove(aside)
		return false, nil
	}
	if err := os.Remove(aside); err != nil {
		return false, fmt.Errorf("registry: gc: remove %s: %w", aside, err)
	}
	return true, nil
}

// staleUploadAge is how old a file under uploads/ must be before garbage
// collection takes it for the leftover of a crash: a session idle that long
// has been discarded by any replica.
const staleUploadAge = 24 * time.Hour

// sweepUploads removes temporary files that no session can still use.
func (r *Registry) sweepUploads(cutoff time.Time) {
	dir := filepath.Join(r.blobs.dir, "uploads")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			continue
		}
		age := staleUploadAge
		if strings.HasPrefix(e.Name(), "gc-") {
			age = 0
		}
		if fi.ModTime().Before(cutoff.Add(-age)) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
