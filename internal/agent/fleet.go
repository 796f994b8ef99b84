package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-dev/gantry/internal/agent/simrt"
	"github.com/gantry-dev/gantry/internal/dirlock"
)

// DefaultSimCheckpointInterval is how long `gantry agent --runtime sim`
// lets an instance's checkpoint writes lag its changes. Writing the whole
// checkpoint on every change of every task is what a fleet of a thousand
// instances spends most on when tasks start (docs/architecture.md); even
// every 5 s, an instance holding a thousand tasks spent a third of the
// fleet's CPU rewriting it. A simulated instance's containers do not
// outlive its process anyway: what matters across a restart is its
// identity, which is written at once.
const DefaultSimCheckpointInterval = 30 * time.Second

// fleetRegistering bounds how many simulated instances register at once,
// so that a fleet of thousands reaches the control plane as a steady
// stream rather than one burst.
const fleetRegistering = 32

// RunFleet runs n simulated container instances in this process until ctx
// ends (`gantry agent --runtime sim`). Each is a complete agent (the task
// engine, registration, the Poll loop, the checkpoint) with its own
// simulated runtime (simrt, tuned by opts), its own data directory
// <cfg.DataDir>/sim-<i> (so its own identity, kept across restarts), the
// ecs.availability-zone zones[i % len(zones)] (cfg.AvailabilityZone when
// zones is empty), an ec2InstanceId derived from its data directory, and
// opts' CPU and memory as its registered resources. Checkpoint writes lag
// changes by up to cfg.CheckpointInterval (0: every change is written, as
// the real agent does); pending ones are written when ctx ends. The task
// metadata endpoint is off: nothing listens on a port. If one instance
// fails for good (bad credentials, a cluster that does not exist), all are
// stopped and the error returned.
func RunFleet(ctx context.Context, cfg Config, n int, zones []string, opts simrt.Options) error {
	if n < 1 {
		return fmt.Errorf("--instances %d: at least one instance", n)
	}
	if len(zones) == 0 {
		zones = []string{cfg.AvailabilityZone}
	}
	if slices.Contains(zones, "") {
		return fmt.Errorf("--zones %q: a zone name is empty", zones)
	}
	if err := opts.Validate(); err != nil {
		return err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.DataDir != "" { // else Validate says what to fix
		lock, err := dirlock.Acquire(cfg.DataDir, "gantry agent --runtime sim")
		if err != nil {
			return err
		}
		defer lock.Release()
		cfg.dirLocked = true
	}
	agents := make([]*Agent, n)
	for i := range agents {
		c, err := simConfig(cfg, i, zones, opts, log)
		if err != nil {
			return err
		}
		if i == 0 {
			// A mistake common to all is reported once, without an index.
			if err := c.Validate(); err != nil {
				return err
			}
		}
		if agents[i], err = New(ctx, c); err != nil {
			return fmt.Errorf("sim instance %d: %w", i, err)
		}
		agents[i].store.setInterval(c.CheckpointInterval)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	log.Info("starting simulated instances", "instances", n, "zones", zones, "cluster", cfg.Cluster,
		"cpu", opts.CPUUnits, "memory_mib", opts.MemoryMiB, "start_delay", opts.StartDelay)
	begin := time.Now()
	var ready atomic.Int64
	slots := make(chan struct{}, fleetRegistering)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, a := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			done := make(chan error, 1)
			go func() { done <- a.Run(ctx) }()
			var err error
			select {
			case <-a.Ready():
				<-slots
				if ready.Add(1) == int64(n) {
					log.Info("all simulated instances registered", "instances", n, "in", time.Since(begin).Round(time.Millisecond))
				}
				err = <-done
			case err = <-done:
				<-slots
			}
			if ferr := a.store.flush(); ferr != nil && err == nil {
				err = ferr
			}
			if err != nil && ctx.Err() == nil {
				errs[i] = fmt.Errorf("sim instance %d: %w", i, err)
				cancel()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// simConfig is the configuration of simulated instance i of a fleet.
func simConfig(cfg Config, i int, zones []string, opts simrt.Options, log *slog.Logger) (Config, error) {
	r, err := simrt.New(opts)
	if err != nil {
		return Config{}, err
	}
	c := cfg
	c.RuntimeName = "sim"
	c.Runtime = r
	c.DataDir = filepath.Join(cfg.DataDir, fmt.Sprintf("sim-%d", i))
	c.AvailabilityZone = zones[i%len(zones)]
	c.CPUUnits, c.MemoryMiB, c.MemoryReserveMiB = opts.CPUUnits, opts.MemoryMiB, 0
	c.Metadata = false
	c.Attributes = slices.Clone(cfg.Attributes)
	c.ReservedPorts = slices.Clone(cfg.ReservedPorts)
	c.InstanceID = simInstanceID(c.DataDir)
	c.Logger = log.With("sim_instance", i)
	return c, nil
}

// simInstanceID is an EC2-like instance id (i- and 17 hex digits) that is
// the same for every run of a simulated instance on one data directory.
func simInstanceID(dataDir string) string {
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	sum := sha256.Sum256([]byte("gantry-sim:" + dataDir))
	return "i-" + hex.EncodeToString(sum[:])[:17]
}
