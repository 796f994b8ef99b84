package registry

import (
	"context"
	"errors"

	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/wire/ecrwire"
)

// Settings is the stored record of a registry's own settings (one per
// account and region): its permissions policy, scanning and replication
// configuration and the account settings changed from their defaults.
// A zero Settings is a registry nothing was ever set on.
type Settings struct {
	Policy      string                                 `json:"policy,omitempty"`
	Scanning    *ecrwire.RegistryScanningConfiguration `json:"scanning,omitempty"`
	Replication *ecrwire.ReplicationConfiguration      `json:"replication,omitempty"`
	// Account holds the account settings set with PutAccountSetting, by
	// name.
	Account map[string]string `json:"account,omitempty"`
}

// Settings returns the registry settings of ns (zero if none were set).
func (r *Registry) Settings(ctx context.Context, ns Namespace) (*Settings, error) {
	var s Settings
	_, err := r.store(ns).Get(ctx, model.RegistrySettingsKey, &s)
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return nil, err
	}
	return &s, nil
}

// UpdateSettings changes the registry settings of ns with fn, atomically,
// and returns them as written.
func (r *Registry) UpdateSettings(ctx context.Context, ns Namespace, fn func(*Settings) error) (*Settings, error) {
	return state.Update(ctx, r.store(ns), model.RegistrySettingsKey, func(cur *Settings, _ bool) (*Settings, error) {
		if err := fn(cur); err != nil {
			return nil, err
		}
		return cur, nil
	})
}
