package ecs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-dev/gantry/internal/awsapi"
	"github.com/gantry-dev/gantry/internal/model"
	"github.com/gantry-dev/gantry/internal/state"
	"github.com/gantry-dev/gantry/internal/wire"
	w "github.com/gantry-dev/gantry/internal/wire/ecswire"
)

// Task definitions live one record per revision (model.TaskDefinitionKey),
// next to one record per family (model.FamilyKey) holding the last revision
// number and counts of ACTIVE and not-deleted revisions. Every change to a
// revision's status commits together with its family record, so the counts
// stay exact and revision numbers are never reused, even after deletion.

func (s *Service) taskDefinitionActions(m awsapi.Model) map[string]awsapi.Handler {
	return map[string]awsapi.Handler{
		"RegisterTaskDefinition":     awsapi.Action(m, s.RegisterTaskDefinition),
		"DescribeTaskDefinition":     awsapi.Action(m, s.DescribeTaskDefinition),
		"ListTaskDefinitions":        awsapi.Action(m, s.ListTaskDefinitions),
		"ListTaskDefinitionFamilies": awsapi.Action(m, s.ListTaskDefinitionFamilies),
		"DeregisterTaskDefinition":   awsapi.Action(m, s.DeregisterTaskDefinition),
		"DeleteTaskDefinitions":      awsapi.Action(m, s.DeleteTaskDefinitions),
	}
}

// maxDeleteTaskDefinitions is how many revisions one DeleteTaskDefinitions
// call can delete.
const maxDeleteTaskDefinitions = 10

// RegisterTaskDefinition validates a task definition and stores it as the
// next revision of its family.
func (s *Service) RegisterTaskDefinition(ctx context.Context, in *w.RegisterTaskDefinitionRequest) (*w.RegisterTaskDefinitionResponse, error) {
	sc := s.scope(ctx)
	td, err := newTaskDefinition(in)
	if err != nil {
		return nil, err
	}
	td.Status = model.TaskDefinitionActive
	td.RegisteredBy = sc.Principal
	famKey := model.FamilyKey(td.Family)
	return state.Retry(ctx, func() (*w.RegisterTaskDefinitionResponse, error) {
		var fam model.Family
		famRev, err := sc.st.Get(ctx, famKey, &fam)
		if err != nil && !errors.Is(err, state.ErrNotFound) {
			return nil, err
		}
		fam.Name = td.Family
		fam.LastRevision++
		fam.Active++
		fam.Revisions++
		td.Revision = fam.LastRevision
		td.TaskDefinitionArn = sc.taskDefinitionARN(td.Family, td.Revision)
		td.RegisteredAt = wire.At(s.now())
		rec := model.TaskDefinition{Def: *td, Tags: in.Tags}
		key := model.TaskDefinitionKey(td.Family, td.Revision)
		if _, err := sc.st.Txn().Expect(famKey, famRev).Expect(key, 0).Put(famKey, &fam).Put(key, &rec).Commit(ctx); err != nil {
			return nil, err
		}
		return &w.RegisterTaskDefinitionResponse{TaskDefinition: td, Tags: in.Tags}, nil
	})
}

// DescribeTaskDefinition describes a revision named by family:revision or
// ARN, or the latest ACTIVE revision of a family. Deleted revisions are not
// found; INACTIVE ones can still be described by revision.
func (s *Service) DescribeTaskDefinition(ctx context.Context, in *w.DescribeTaskDefinitionRequest) (*w.DescribeTaskDefinitionResponse, error) {
	sc := s.scope(ctx)
	ref, problem := sc.parseTaskDefRef(in.TaskDefinition)
	if problem != nil {
		return nil, withHint(errUnableToDescribe(), "%s", problem.hint)
	}
	var rec *model.TaskDefinition
	var err error
	if ref.revision == 0 {
		rec, err = latestActive(ctx, sc.st, ref.family)
	} else {
		rec, _, err = getTaskDefinition(ctx, sc.st, ref)
	}
	if errors.Is(err, state.ErrNotFound) {
		what := "no revision " + ref.String() + " is registered"
		if ref.revision == 0 {
			what = "family " + ref.family + " has no ACTIVE revision"
		}
		return nil, withHint(errUnableToDescribe(), "%s in account %s, region %s", what, sc.Account, sc.Region)
	}
	if err != nil {
		return nil, err
	}
	out := &w.DescribeTaskDefinitionResponse{TaskDefinition: &rec.Def}
	if slices.Contains(in.Include, "TAGS") {
		out.Tags = nonNil(rec.Tags)
	}
	return out, nil
}

// DeregisterTaskDefinition marks a revision INACTIVE. Deregistering an
// INACTIVE revision succeeds and returns it unchanged.
func (s *Service) DeregisterTaskDefinition(ctx context.Context, in *w.DeregisterTaskDefinitionRequest) (*w.DeregisterTaskDefinitionResponse, error) {
	sc := s.scope(ctx)
	ref, problem := sc.parseTaskDefRef(in.TaskDefinition)
	switch {
	case problem != nil && problem.badRevision != "":
		return nil, withHint(ClientException.Errorf("Invalid revision number. Number: %s", problem.badRevision), "%s", problem.hint)
	case problem != nil:
		return nil, withHint(errUnableToDescribe(), "%s", problem.hint)
	case ref.revision == 0:
		return nil, withHint(ClientException.Errorf("Revision is missing."), "give %s:<revision> or the task definition ARN", ref.family)
	}
	return state.Retry(ctx, func() (*w.DeregisterTaskDefinitionResponse, error) {
		rec, recRev, err := getTaskDefinition(ctx, sc.st, ref)
		if errors.Is(err, state.ErrNotFound) {
			return nil, withHint(errUnableToDescribe(), "%s is not registered in account %s, region %s", ref, sc.Account, sc.Region)
		}
		if err != nil {
			return nil, err
		}
		if rec.Def.Status != model.TaskDefinitionActive {
			return &w.DeregisterTaskDefinitionResponse{TaskDefinition: &rec.Def}, nil
		}
		rec.Def.Status = model.TaskDefinitionInactive
		rec.Def.DeregisteredAt = wire.At(s.now())
		if err := sc.commitRevision(ctx, ref, rec, recRev, func(f *model.Family) { f.Active-- }); err != nil {
			return nil, err
		}
		return &w.DeregisterTaskDefinitionResponse{TaskDefinition: &rec.Def}, nil
	})
}

// errUnableToDescribe is ECS's answer when a taskDefinition parameter names
// no revision it can read.
func errUnableToDescribe() *awsapi.Error {
	return ClientException.Errorf("Unable to describe task definition.")
}

// Failure reasons of DeleteTaskDefinitions, as ECS words them.
const (
	reasonInvalidTaskDef = "The specified task definition identifier is invalid. Specify a valid name or ARN and try again."
	reasonMissingTaskDef = "The specified task definition does not exist. Specify a valid account, family, revision and try again."
	reasonActiveTaskDef  = "The specified task definition is still in ACTIVE status. Please deregister the target and try again."
)

// DeleteTaskDefinitions deletes up to 10 INACTIVE revisions. Each comes back
// with status DELETE_IN_PROGRESS, and is then gone; ACTIVE and unknown ones
// come back in failures. The family keeps its revision counter.
func (s *Service) DeleteTaskDefinitions(ctx context.Context, in *w.DeleteTaskDefinitionsRequest) (*w.DeleteTaskDefinitionsResponse, error) {
	sc := s.scope(ctx)
	if len(in.TaskDefinitions) == 0 || len(in.TaskDefinitions) > maxDeleteTaskDefinitions {
		return nil, InvalidParameter.Errorf("taskDefinitions must list 1 to %d task definitions (family:revision or ARN); %d were given.", maxDeleteTaskDefinitions, len(in.TaskDefinitions))
	}
	out := &w.DeleteTaskDefinitionsResponse{TaskDefinitions: []w.TaskDefinition{}, Failures: []w.Failure{}}
	fail := func(ref, reason string) { out.Failures = append(out.Failures, w.Failure{Arn: ref, Reason: reason}) }
	for _, raw := range in.TaskDefinitions {
		ref, problem := sc.parseTaskDefRef(raw)
		if problem != nil || ref.revision == 0 {
			// A family without a revision names no one revision to delete.
			fail(raw, reasonInvalidTaskDef)
			continue
		}
		td, reason, err := sc.deleteRevision(ctx, ref, s.now)
		if err != nil {
			return nil, err
		}
		if reason != "" {
			fail(raw, reason)
			continue
		}
		out.TaskDefinitions = append(out.TaskDefinitions, *td)
	}
	return out, nil
}

// deleteRevision deletes one INACTIVE revision, or returns the reason it
// cannot.
func (sc scope) deleteRevision(ctx context.Context, ref taskDefRef, now func() time.Time) (*w.TaskDefinition, string, error) {
	type result struct {
		td     *w.TaskDefinition
		reason string
	}
	r, err := state.Retry(ctx, func() (result, error) {
		rec, recRev, err := getTaskDefinition(ctx, sc.st, ref)
		if errors.Is(err, state.ErrNotFound) {
			return result{reason: reasonMissingTaskDef}, nil
		}
		if err != nil {
			return result{}, err
		}
		if rec.Def.Status == model.TaskDefinitionActive {
			return result{reason: reasonActiveTaskDef}, nil
		}
		if err := sc.commitRevision(ctx, ref, nil, recRev, func(f *model.Family) { f.Revisions-- }); err != nil {
			return result{}, err
		}
		td := rec.Def
		td.Status = model.TaskDefinitionDeleteInProgress
		td.DeleteRequestedAt = wire.At(now())
		return result{td: &td}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return r.td, r.reason, nil
}

// commitRevision writes rec (or deletes the revision when rec is nil) if it
// is still at recRev, together with its family record changed by change.
func (sc scope) commitRevision(ctx context.Context, ref taskDefRef, rec *model.TaskDefinition, recRev int64, change func(*model.Family)) error {
	famKey := model.FamilyKey(ref.family)
	var fam model.Family
	famRev, err := sc.st.Get(ctx, famKey, &fam)
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return err
	}
	fam.Name = ref.family
	fam.LastRevision = max(fam.LastRevision, ref.revision)
	change(&fam)
	fam.Active, fam.Revisions = max(fam.Active, 0), max(fam.Revisions, 0)
	key := model.TaskDefinitionKey(ref.family, ref.revision)
	txn := sc.st.Txn().Expect(key, recRev).Expect(famKey, famRev).Put(famKey, &fam)
	if rec != nil {
		txn.Put(key, rec)
	} else {
		txn.Delete(key)
	}
	_, err = txn.Commit(ctx)
	return err
}

// ListTaskDefinitions lists revision ARNs of one status (ACTIVE by default),
// by family name then revision, ascending or descending. As in ECS,
// familyPrefix is a full family name: it lists that family's revisions.
func (s *Service) ListTaskDefinitions(ctx context.Context, in *w.ListTaskDefinitionsRequest) (*w.ListTaskDefinitionsResponse, error) {
	sc := s.scope(ctx)
	limit, err := pageSize(in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	desc := in.Sort == "DESC"
	action := "ListTaskDefinitions"
	if desc {
		action += " (sort DESC)"
	}
	after, err := decodeToken(action, in.NextToken)
	if err != nil {
		return nil, err
	}
	cur, ok := parseCursor(after)
	if !ok {
		return nil, InvalidParameter.Errorf("Invalid nextToken: pass the nextToken of a previous %s response unchanged.", action)
	}
	status := in.Status
	if status == "" {
		status = model.TaskDefinitionActive
	}
	fams, err := sc.families(ctx, in.FamilyPrefix)
	if err != nil {
		return nil, err
	}
	if desc {
		slices.Reverse(fams)
	}
	// Collect one more than a page, to know whether another page follows.
	var arns []string
	var last []taskDefRef
	for _, f := range fams {
		if len(arns) > limit {
			break
		}
		if cur.family != "" && (!desc && f.Name < cur.family || desc && f.Name > cur.family) {
			continue
		}
		var has bool
		switch status {
		case model.TaskDefinitionActive:
			has = f.Active > 0
		case model.TaskDefinitionInactive:
			has = f.Revisions > f.Active
		default: // DELETE_IN_PROGRESS: deleted revisions are gone at once.
		}
		if !has {
			continue
		}
		from := int32(0)
		if desc {
			from = f.LastRevision + 1
		}
		if f.Name == cur.family {
			from = cur.revision
		}
		err := scanRevisions(ctx, sc.st, f.Name, from, desc, func(rev int32, it state.Item) (bool, error) {
			var r revisionStatus
			if err := it.Decode(&r); err != nil {
				return false, err
			}
			if r.Def.Status == status {
				arns = append(arns, r.Def.TaskDefinitionArn)
				last = append(last, taskDefRef{f.Name, rev})
			}
			return len(arns) <= limit, nil
		})
		if err != nil {
			return nil, err
		}
	}
	out := &w.ListTaskDefinitionsResponse{TaskDefinitionArns: arns}
	if len(arns) > limit {
		out.TaskDefinitionArns = arns[:limit]
		out.NextToken = encodeToken(action, last[limit-1].String())
	}
	return out, nil
}

// ListTaskDefinitionFamilies lists family names that start with
// familyPrefix. Status ACTIVE lists families with an ACTIVE revision,
// INACTIVE those without one, and ALL (the default, as the ECS API reference
// documents) both. Families whose revisions were all deleted are not listed.
func (s *Service) ListTaskDefinitionFamilies(ctx context.Context, in *w.ListTaskDefinitionFamiliesRequest) (*w.ListTaskDefinitionFamiliesResponse, error) {
	sc := s.scope(ctx)
	limit, err := pageSize(in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	names, next, err := listFiltered(ctx, sc.st, "ListTaskDefinitionFamilies", model.FamiliesPrefix+in.FamilyPrefix, in.NextToken, limit, func(it state.Item) (string, bool, error) {
		var f model.Family
		if err := it.Decode(&f); err != nil {
			return "", false, err
		}
		keep := f.Revisions > 0
		switch in.Status {
		case "ACTIVE":
			keep = keep && f.Active > 0
		case "INACTIVE":
			keep = keep && f.Active == 0
		}
		return f.Name, keep, nil
	})
	if err != nil {
		return nil, err
	}
	return &w.ListTaskDefinitionFamiliesResponse{Families: names, NextToken: next}, nil
}

// taskDefRef names a revision: a family and a revision number, 0 when only
// the family was given.
type taskDefRef struct {
	family   string
	revision int32
}

func (r taskDefRef) String() string {
	if r.revision == 0 {
		return r.family
	}
	return r.family + ":" + strconv.Itoa(int(r.revision))
}

// parseCursor reads the family:revision a list page resumes after ("" for
// the first page).
func parseCursor(s string) (taskDefRef, bool) {
	if s == "" {
		return taskDefRef{}, true
	}
	fam, rev, ok := strings.Cut(s, ":")
	n, err := strconv.ParseInt(rev, 10, 32)
	return taskDefRef{fam, int32(n)}, ok && err == nil && validName(fam) && n > 0
}

// refProblem is what is wrong with a taskDefinition parameter: hint says it
// in Gantry's words; badRevision holds the revision when that is the fault
// (ECS's own message names it).
type refProblem struct {
	hint        string
	badRevision string
}

// parseTaskDefRef reads a taskDefinition parameter: family, family:revision
// or a task-definition ARN of this account and region. It returns what is
// wrong with ref, or nil.
func (sc scope) parseTaskDefRef(ref string) (taskDefRef, *refProblem) {
	bad := func(format string, args ...any) (taskDefRef, *refProblem) {
		return taskDefRef{}, &refProblem{hint: fmt.Sprintf(format, args...)}
	}
	s := ref
	if model.IsARN(ref) {
		a, err := model.ParseARN(ref)
		if err != nil || a.Service != "ecs" || a.ResourceType() != "task-definition" {
			return bad("%q is not a task definition ARN: expected arn:aws:ecs:%s:%s:task-definition/<family>:<revision>.", ref, sc.Region, sc.Account)
		}
		if a.Region != sc.Region || a.Account != sc.Account {
			return bad("%s belongs to account %s, region %s; this request is for account %s, region %s.", ref, a.Account, a.Region, sc.Account, sc.Region)
		}
		s = a.ResourceID()
	}
	fam, rev, hasRev := strings.Cut(s, ":")
	if !validName(fam) {
		return bad("%q is not a valid task definition family: up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed.", fam)
	}
	if !hasRev {
		return taskDefRef{family: fam}, nil
	}
	n, err := strconv.ParseInt(rev, 10, 32)
	if err != nil || n < 1 {
		r, p := bad("Invalid revision number. Number: %s. A revision is a positive integer, as in %s:1.", rev, fam)
		p.badRevision = rev
		return r, p
	}
	return taskDefRef{fam, int32(n)}, nil
}

// taskDefinitionARN is the ARN of a revision.
func (sc scope) taskDefinitionARN(family string, revision int32) string {
	return sc.arn(fmt.Sprintf("task-definition/%s:%d", family, revision))
}

// getTaskDefinition reads one revision and its store revision.
func getTaskDefinition(ctx context.Context, st *state.Store, ref taskDefRef) (*model.TaskDefinition, int64, error) {
	var rec model.TaskDefinition
	rev, err := st.Get(ctx, model.TaskDefinitionKey(ref.family, ref.revision), &rec)
	if err != nil {
		return nil, 0, err
	}
	return &rec, rev, nil
}

// latestActive returns a family's highest ACTIVE revision, or
// state.ErrNotFound.
func latestActive(ctx context.Context, st *state.Store, family string) (*model.TaskDefinition, error) {
	var fam model.Family
	if _, err := st.Get(ctx, model.FamilyKey(family), &fam); err != nil {
		return nil, err
	}
	if fam.Active == 0 {
		return nil, state.ErrNotFound
	}
	var found *model.TaskDefinition
	err := scanRevisions(ctx, st, family, fam.LastRevision+1, true, func(_ int32, it state.Item) (bool, error) {
		var rec model.TaskDefinition
		if err := it.Decode(&rec); err != nil {
			return false, err
		}
		if rec.Def.Status == model.TaskDefinitionActive {
			found = &rec
		}
		return found == nil, nil
	})
	if err == nil && found == nil {
		err = state.ErrNotFound
	}
	return found, err
}

// revisionStatus is the part of a revision record that lists need.
type revisionStatus struct {
	Def struct {
		Status            string `json:"status"`
		TaskDefinitionArn string `json:"taskDefinitionArn"`
	} `json:"def"`
}

// scanWindow is how many revisions scanRevisions reads at a time.
const scanWindow = 64

// scanRevisions calls fn for the stored revisions of family in order until
// fn returns false: ascending from the one after `from` (0 for the first),
// or descending from the one before `from`. Descending scans read windows
// of revision numbers, since the store lists keys only forwards.
func scanRevisions(ctx context.Context, st *state.Store, family string, from int32, desc bool, fn func(int32, state.Item) (bool, error)) error {
	prefix := model.TaskDefinitionFamilyPrefix(family)
	revOf := func(it state.Item) int32 {
		n, _ := strconv.ParseInt(it.Key[strings.LastIndexByte(it.Key, '/')+1:], 10, 32)
		return int32(n)
	}
	if !desc {
		after := ""
		if from > 0 {
			after = model.TaskDefinitionKey(family, from)
		}
		for {
			page, err := st.List(ctx, prefix, after, scanWindow)
			if err != nil {
				return err
			}
			for _, it := range page.Items {
				if more, err := fn(revOf(it), it); err != nil || !more {
					return err
				}
				after = it.Key
			}
			if !page.More {
				return nil
			}
		}
	}
	for hi := from; hi > 1; {
		lo := max(1, hi-scanWindow)
		page, err := st.List(ctx, prefix, model.TaskDefinitionKey(family, lo-1), int(hi-lo))
		if err != nil {
			return err
		}
		for i := len(page.Items) - 1; i >= 0; i-- {
			it := page.Items[i]
			if rev := revOf(it); rev < hi {
				if more, err := fn(rev, it); err != nil || !more {
					return err
				}
			}
		}
		hi = lo
	}
	return nil
}

// families returns the family records in name order: all of them, or with
// name the one family of that name (none if it does not exist).
func (sc scope) families(ctx context.Context, name string) ([]model.Family, error) {
	if name != "" {
		var f model.Family
		if !validName(name) {
			return nil, nil
		}
		_, err := sc.st.Get(ctx, model.FamilyKey(name), &f)
		if errors.Is(err, state.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return []model.Family{f}, nil
	}
	page, err := sc.st.ListAll(ctx, model.FamiliesPrefix)
	if err != nil {
		return nil, err
	}
	out := make([]model.Family, 0, len(page.Items))
	for _, it := range page.Items {
		var f model.Family
		if err := it.Decode(&f); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}
