package registry

import (
	"context"
	"errors"

	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
)

// store is the state store of one namespace.
func (r *Registry) store(ns Namespace) *state.Store { return r.st.Sub(ns.Account + "/" + ns.Region) }

// errNameUnknown is ECR's answer for a repository that does not exist.
func errNameUnknown(ns Namespace, repo string) *Error {
	return NameUnknown.Errorf("The repository with name '" + repo + "' does not exist in the registry with id '" + ns.Account + "'")
}

// Repository returns a repository's record and its revision; NAME_UNKNOWN
// if it does not exist.
func (r *Registry) Repository(ctx context.Context, ns Namespace, name string) (*Repository, int64, error) {
	var repo Repository
	rev, err := r.store(ns).Get(ctx, model.RegistryRepositoryKey(name), &repo)
	if errors.Is(err, state.ErrNotFound) {
		return nil, 0, errNameUnknown(ns, name)
	}
	if err != nil {
		return nil, 0, err
	}
	return &repo, rev, nil
}

// CreateRepository stores a new repository; ErrRepositoryExists if the name
// is taken.
func (r *Registry) CreateRepository(ctx context.Context, ns Namespace, repo *Repository) error {
	key := model.RegistryRepositoryKey(repo.RepositoryName)
	_, err := r.store(ns).Txn().Expect(key, 0).Put(key, repo).Commit(ctx)
	if errors.Is(err, state.ErrConflict) {
		return ErrRepositoryExists
	}
	return err
}

// UpdateRepository changes a repository's record with fn, atomically.
func (r *Registry) UpdateRepository(ctx context.Context, ns Namespace, name string, fn func(*Repository) error) (*Repository, error) {
	return state.Update(ctx, r.store(ns), model.RegistryRepositoryKey(name), func(cur *Repository, found bool) (*Repository, error) {
		if !found {
			return nil, errNameUnknown(ns, name)
		}
		if err := fn(cur); err != nil {
			return nil, err
		}
		return cur, nil
	})
}

// Repositories lists up to limit repositories whose name sorts after
// `after`, in key order, and whether more remain. limit <= 0: all.
func (r *Registry) Repositories(ctx context.Context, ns Namespace, after string, limit int) ([]Repository, bool, error) {
	a := ""
	if after != "" {
		a = model.RegistryRepositoryKey(after)
	}
	page, err := r.store(ns).List(ctx, model.RegistryRepositoriesPrefix, a, limit)
	if err != nil {
		return nil, false, err
	}
	out := make([]Repository, 0, len(page.Items))
	for _, it := range page.Items {
		var repo Repository
		if err := it.Decode(&repo); err != nil {
			return nil, false, err
		}
		out = append(out, repo)
	}
	return out, page.More, nil
}

// DeleteRepository removes a repository with its tags, images, blob links
// and referrers. Without force it refuses (ErrRepositoryNotEmpty) while the
// repository holds images, and an image pushed concurrently makes it retry.
func (r *Registry) DeleteRepository(ctx context.Context, ns Namespace, name string, force bool) (*Repository, error) {
	st := r.store(ns)
	key := model.RegistryRepositoryKey(name)
	images := model.RegistryImagesPrefix(name)
	return state.Retry(ctx, func() (*Repository, error) {
		pages, err := st.ReadAll(ctx, state.Read{Key: key}, state.Read{Key: images, Prefix: true, CountOnly: true})
		if err != nil {
			return nil, err
		}
		if len(pages[0].Items) == 0 {
			return nil, errNameUnknown(ns, name)
		}
		var repo Repository
		if err := pages[0].Items[0].Decode(&repo); err != nil {
			return nil, err
		}
		if pages[1].Count > 0 && !force {
			return nil, ErrRepositoryNotEmpty
		}
		txn := st.Txn().Expect(key, pages[0].Items[0].Revision).ExpectUnchangedSince(images, pages[0].Revision).Delete(key)
		for _, p := range model.RegistryRepoPrefixes(name) {
			txn.DeletePrefix(p)
		}
		if _, err := txn.Commit(ctx); err != nil {
			return nil, err
		}
		return &repo, nil
	})
}
