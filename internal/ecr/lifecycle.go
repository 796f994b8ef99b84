package ecr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/registry"
	"github.com/gantry-dev/gantry/internal/wire"
	w "github.com/gantry-dev/gantry/internal/wire/ecrwire"
)

func (s *Service) lifecycleActions(m awsapi.Model) map[string]awsapi.Handler {
	return map[string]awsapi.Handler{
		"PutLifecyclePolicy":          action(m, s.PutLifecyclePolicy),
		"GetLifecyclePolicy":          action(m, s.GetLifecyclePolicy),
		"DeleteLifecyclePolicy":       action(m, s.DeleteLifecyclePolicy),
		"StartLifecyclePolicyPreview": action(m, s.StartLifecyclePolicyPreview),
		"GetLifecyclePolicyPreview":   action(m, s.GetLifecyclePolicyPreview),
	}
}

// noLifecyclePolicy is ECR's answer for a repository without a policy.
func noLifecyclePolicy(sc scope, repo string) error {
	return LifecyclePolicyNotFound.Errorf("Lifecycle policy does not exist for the repository with name '%s' in the registry with id '%s'", repo, sc.Account)
}

// evaluatedAt is a repository's lastEvaluatedAt: when its policy last ran,
// or the epoch (0) if it never did, as ECR answers.
func evaluatedAt(r *registry.Repository) *wire.Time {
	return wire.At(time.UnixMilli(r.LifecycleEvaluatedAt).UTC())
}

// PutLifecyclePolicy validates a lifecycle policy and sets it on a
// repository; it is applied by ApplyLifecyclePolicies.
func (s *Service) PutLifecyclePolicy(ctx context.Context, in *w.PutLifecyclePolicyRequest) (*w.PutLifecyclePolicyResponse, error) {
	if _, err := parsePolicy(in.LifecyclePolicyText); err != nil {
		return nil, err
	}
	sc, r, err := s.update(ctx, in.RegistryId, in.RepositoryName, func(r *registry.Repository) error {
		r.LifecyclePolicy = compactPolicy(in.LifecyclePolicyText)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &w.PutLifecyclePolicyResponse{LifecyclePolicyText: r.LifecyclePolicy, RegistryId: sc.Account, RepositoryName: r.RepositoryName}, nil
}

// GetLifecyclePolicy returns a repository's lifecycle policy.
func (s *Service) GetLifecyclePolicy(ctx context.Context, in *w.GetLifecyclePolicyRequest) (*w.GetLifecyclePolicyResponse, error) {
	sc, r, err := s.lookup(ctx, in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	if r.LifecyclePolicy == "" {
		return nil, noLifecyclePolicy(sc, in.RepositoryName)
	}
	return &w.GetLifecyclePolicyResponse{LastEvaluatedAt: evaluatedAt(r), LifecyclePolicyText: r.LifecyclePolicy,
		RegistryId: sc.Account, RepositoryName: r.RepositoryName}, nil
}

// DeleteLifecyclePolicy removes a repository's lifecycle policy and
// returns it.
func (s *Service) DeleteLifecyclePolicy(ctx context.Context, in *w.DeleteLifecyclePolicyRequest) (*w.DeleteLifecyclePolicyResponse, error) {
	var old string
	sc, r, err := s.update(ctx, in.RegistryId, in.RepositoryName, func(r *registry.Repository) error {
		if r.LifecyclePolicy == "" {
			return errNoPolicy
		}
		old, r.LifecyclePolicy = r.LifecyclePolicy, ""
		return nil
	})
	if errors.Is(err, errNoPolicy) {
		return nil, noLifecyclePolicy(sc, in.RepositoryName)
	}
	if err != nil {
		return nil, err
	}
	return &w.DeleteLifecyclePolicyResponse{LastEvaluatedAt: evaluatedAt(r), LifecyclePolicyText: old,
		RegistryId: sc.Account, RepositoryName: r.RepositoryName}, nil
}

// errNoPolicy aborts an update of a repository that has no such policy.
var errNoPolicy = errors.New("ecr: no policy")

// StartLifecyclePolicyPreview starts a dry run of a lifecycle policy (the
// given text, else the repository's own) against the repository's images.
// It answers IN_PROGRESS; GetLifecyclePolicyPreview completes it.
func (s *Service) StartLifecyclePolicyPreview(ctx context.Context, in *w.StartLifecyclePolicyPreviewRequest) (*w.StartLifecyclePolicyPreviewResponse, error) {
	sc, r, err := s.lookup(ctx, in.RegistryId, in.RepositoryName)
	if err != nil {
		return nil, err
	}
	text := in.LifecyclePolicyText
	if text == "" {
		if text = r.LifecyclePolicy; text == "" {
			return nil, noLifecyclePolicy(sc, in.RepositoryName)
		}
	}
	if _, err := parsePolicy(text); err != nil {
		return nil, err
	}
	p := &registry.LifecyclePreview{PolicyText: text, StartedAt: s.now().UnixMilli(), Status: "IN_PROGRESS"}
	if err := s.reg.PutLifecyclePreview(ctx, sc.ns, in.RepositoryName, p); err != nil {
		return nil, fromRegistry(err)
	}
	return &w.StartLifecyclePolicyPreviewResponse{LifecyclePolicyText: text, RegistryId: sc.Account,
		RepositoryName: in.RepositoryName, Status: "IN_PROGRESS"}, nil
}

// GetLifecyclePolicyPreview returns the images the previewed policy would
// expire, evaluated at the time the preview started, oldest first; the
// summary counts all of them, whatever the filter and page.
func (s *Service) GetLifecyclePolicyPreview(ctx context.Context, in *w.GetLifecyclePolicyPreviewRequest) (*w.GetLifecyclePolicyPreviewResponse, error) {
	sc := s.scope(ctx)
	if err := sc.checkRegistry(in.RegistryId); err != nil {
		return nil, err
	}
	if len(in.ImageIds) > 0 && (in.MaxResults != nil || in.NextToken != "") {
		return nil, InvalidParameter.Errorf("maxResults and nextToken cannot be used together with imageIds.")
	}
	prev, rev, err := s.reg.LifecyclePreview(ctx, sc.ns, in.RepositoryName)
	if errors.Is(err, registry.ErrNoLifecyclePreview) {
		return nil, LifecyclePolicyPreviewNotFnd.Errorf("There is no dry run for the repository with name '%s' in the registry with id '%s'", in.RepositoryName, sc.Account)
	}
	if err != nil {
		return nil, fromRegistry(err)
	}
	p, err := parsePolicy(prev.PolicyText)
	if err != nil {
		return nil, err
	}
	imgs, _, err := s.reg.Images(ctx, sc.ns, in.RepositoryName, "", 0)
	if err != nil {
		return nil, err
	}
	all := evaluatePolicy(p, imgs, time.UnixMilli(prev.StartedAt))
	if prev.Status != "COMPLETE" {
		if err := s.reg.CompleteLifecyclePreview(ctx, sc.ns, in.RepositoryName, rev, prev); err != nil {
			return nil, err
		}
	}
	out := &w.GetLifecyclePolicyPreviewResponse{LifecyclePolicyText: prev.PolicyText, RegistryId: sc.Account,
		RepositoryName: in.RepositoryName, Status: "COMPLETE", PreviewResults: []w.LifecyclePolicyPreviewResult{},
		Summary: &w.LifecyclePolicyPreviewSummary{ExpiringImageTotalCount: int32(len(all))}}
	status := ""
	if in.Filter != nil {
		status = in.Filter.TagStatus
	}
	var kept []expiry
	for _, e := range all {
		if keepTagStatus(status, &e.Image) && selected(in.ImageIds, &e.Image) {
			kept = append(kept, e)
		}
	}
	from := 0
	if in.NextToken != "" {
		after, err := decodeToken("GetLifecyclePolicyPreview", in.RepositoryName, in.NextToken)
		if err != nil {
			return nil, err
		}
		if from, err = strconv.Atoi(after); err != nil || from < 0 || from > len(kept) {
			return nil, InvalidParameter.Errorf("Invalid nextToken: pass the nextToken of a previous GetLifecyclePolicyPreview response, unchanged.")
		}
	}
	to := min(len(kept), from+pageSize(in.MaxResults, 100))
	for _, e := range kept[from:to] {
		prio := int32(e.Priority)
		out.PreviewResults = append(out.PreviewResults, w.LifecyclePolicyPreviewResult{
			Action: &w.LifecyclePolicyRuleAction{Type: "EXPIRE"}, AppliedRulePriority: &prio,
			ImageDigest: e.Image.Digest, ImageTags: e.Image.Tags, StorageClass: "STANDARD",
			ImagePushedAt: wire.At(time.UnixMilli(e.Image.PushedAt).UTC()),
		})
	}
	if to < len(kept) {
		out.NextToken = encodeToken("GetLifecyclePolicyPreview", in.RepositoryName, strconv.Itoa(to))
	}
	return out, nil
}

// selected reports whether an image is among ids (all images if none).
func selected(ids []w.ImageIdentifier, img *registry.Image) bool {
	if len(ids) == 0 {
		return true
	}
	for _, id := range ids {
		if id.ImageDigest == img.Digest || (id.ImageDigest == "" && id.ImageTag != "" && slices.Contains(img.Tags, id.ImageTag)) {
			return true
		}
	}
	return false
}

// ApplyLifecyclePolicies applies every repository's lifecycle policy, in
// every account and region, at now: it deletes the images each policy
// expires (an image that changed since it was evaluated, e.g. got a new
// tag, is left for the next run) and records lastEvaluatedAt. It returns
// how many images it expired. Run it periodically on one replica (under the
// leader election), then let garbage collection reclaim the blobs.
func (s *Service) ApplyLifecyclePolicies(ctx context.Context, now time.Time) (int, error) {
	nss, err := s.reg.Namespaces(ctx)
	if err != nil {
		return 0, err
	}
	expired := 0
	var errs []error
	for _, ns := range nss {
		repos, _, err := s.reg.Repositories(ctx, ns, "", 0)
		if err != nil {
			return expired, err
		}
		for _, r := range repos {
			if r.LifecyclePolicy == "" {
				continue
			}
			n, err := s.applyPolicy(ctx, ns, &r, now)
			expired += n
			if err != nil {
				errs = append(errs, fmt.Errorf("ecr: lifecycle policy of %s/%s/%s: %w", ns.Account, ns.Region, r.RepositoryName, err))
			}
		}
	}
	return expired, errors.Join(errs...)
}

// applyPolicy applies one repository's policy.
func (s *Service) applyPolicy(ctx context.Context, ns registry.Namespace, r *registry.Repository, now time.Time) (int, error) {
	p, err := parsePolicy(r.LifecyclePolicy)
	if err != nil {
		return 0, err
	}
	imgs, _, err := s.reg.Images(ctx, ns, r.RepositoryName, "", 0)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range evaluatePolicy(p, imgs, now) {
		ok, err := s.reg.ExpireImage(ctx, ns, r.RepositoryName, &e.Image)
		if err != nil {
			return n, err
		}
		if ok {
			n++
			s.log.Info("lifecycle policy expired an image", "repository", r.RepositoryName, "digest", e.Image.Digest,
				"tags", e.Image.Tags, "rule_priority", e.Priority)
		}
	}
	_, err = s.reg.UpdateRepository(ctx, ns, r.RepositoryName, func(cur *registry.Repository) error {
		cur.LifecycleEvaluatedAt = now.UnixMilli()
		return nil
	})
	if registry.NameUnknown.Is(err) {
		err = nil
	}
	return n, err
}
