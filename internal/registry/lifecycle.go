package registry

import (
	"context"
	"errors"

	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
)

// ErrNoLifecyclePreview: the repository has no lifecycle policy preview.
var ErrNoLifecyclePreview = errors.New("registry: no lifecycle policy preview")

// PutLifecyclePreview stores the lifecycle policy preview of repo,
// replacing any earlier one; NAME_UNKNOWN if the repository does not exist.
func (r *Registry) PutLifecyclePreview(ctx context.Context, ns Namespace, repo string, p *LifecyclePreview) error {
	st := r.store(ns)
	_, err := state.Retry(ctx, func() (struct{}, error) {
		_, rev, err := r.Repository(ctx, ns, repo)
		if err != nil {
			return struct{}{}, err
		}
		_, err = st.Txn().Expect(model.RegistryRepositoryKey(repo), rev).Put(model.RegistryLifecyclePreviewKey(repo), p).Commit(ctx)
		return struct{}{}, err
	})
	return err
}

// LifecyclePreview returns the lifecycle policy preview of repo and its
// revision: NAME_UNKNOWN if the repository does not exist,
// ErrNoLifecyclePreview if it has no preview.
func (r *Registry) LifecyclePreview(ctx context.Context, ns Namespace, repo string) (*LifecyclePreview, int64, error) {
	var p LifecyclePreview
	rev, err := r.store(ns).Get(ctx, model.RegistryLifecyclePreviewKey(repo), &p)
	if errors.Is(err, state.ErrNotFound) {
		if _, _, err := r.Repository(ctx, ns, repo); err != nil {
			return nil, 0, err
		}
		return nil, 0, ErrNoLifecyclePreview
	}
	if err != nil {
		return nil, 0, err
	}
	return &p, rev, nil
}

// CompleteLifecyclePreview marks the preview read at rev COMPLETE; a
// preview replaced or deleted meanwhile is left alone.
func (r *Registry) CompleteLifecyclePreview(ctx context.Context, ns Namespace, repo string, rev int64, p *LifecyclePreview) error {
	next := *p
	next.Status = "COMPLETE"
	key := model.RegistryLifecyclePreviewKey(repo)
	_, err := r.store(ns).Txn().Expect(key, rev).Put(key, &next).Commit(ctx)
	if errors.Is(err, state.ErrConflict) {
		return nil
	}
	return err
}
