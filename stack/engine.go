package stack

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/slipway/slipway/template"
)

// Stack statuses, as CloudFormation has them.
const (
	CreateInProgress                        = "CREATE_IN_PROGRESS"
	CreateComplete                          = "CREATE_COMPLETE"
	CreateFailed                            = "CREATE_FAILED"
	RollbackInProgress                      = "ROLLBACK_IN_PROGRESS"
	RollbackComplete                        = "ROLLBACK_COMPLETE"
	RollbackFailed                          = "ROLLBACK_FAILED"
	UpdateInProgress                        = "UPDATE_IN_PROGRESS"
	UpdateComplete                          = "UPDATE_COMPLETE"
	UpdateFailed                            = "UPDATE_FAILED"
	UpdateCompleteCleanupInProgress         = "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"
	UpdateRollbackInProgress                = "UPDATE_ROLLBACK_IN_PROGRESS"
	UpdateRollbackCompleteCleanupInProgress = "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"
	UpdateRollbackComplete                  = "UPDATE_ROLLBACK_COMPLETE"
	UpdateRollbackFailed                    = "UPDATE_ROLLBACK_FAILED"
	DeleteInProgress                        = "DELETE_IN_PROGRESS"
	DeleteComplete                          = "DELETE_COMPLETE"
	DeleteFailed                            = "DELETE_FAILED"
	DeleteSkipped                           = "DELETE_SKIPPED"
	ReviewInProgress                        = "REVIEW_IN_PROGRESS"
)

// StackType is the resource type of a stack's own events.
const StackType = "AWS::CloudFormation::Stack"

// InProgress reports whether a stack status is one of an operation under way.
func InProgress(status string) bool { return strings.HasSuffix(status, "_IN_PROGRESS") }

// Resource is the record of one physical resource of a stack.
type Resource struct {
	// ID names the record; it is also the idempotency token of the
	// provider calls that made it.
	ID         string         `json:"id"`
	Logical    string         `json:"logical_id"`
	Type       string         `json:"type"`
	PhysicalID string         `json:"physical_id"`
	Status     string         `json:"status"`
	Reason     string         `json:"reason,omitempty"`
	Properties map[string]any `json:"properties"`
	Attrs      map[string]any `json:"attributes"`
	// DependsOn are the resources it depended on when it was last applied,
	// so that deletion can run in reverse order without the template.
	DependsOn           []string `json:"depends_on"`
	DeletionPolicy      string   `json:"deletion_policy,omitempty"`
	UpdateReplacePolicy string   `json:"update_replace_policy,omitempty"`
	Modelled            bool     `json:"modelled,omitempty"`
	// Replaced marks the old side of a replacement, deleted at cleanup (or
	// brought back by a rollback).
	Replaced  bool      `json:"replaced,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Event is one step of a stack operation.
type Event struct {
	Logical    string    `json:"logical_id"`
	PhysicalID string    `json:"physical_id"`
	Type       string    `json:"type"`
	Status     string    `json:"status"`
	Reason     string    `json:"reason,omitempty"`
	At         time.Time `json:"timestamp"`
}

// State records an operation as it goes. Every method is called before
// the engine relies on what it records, so a crash leaves a state from
// which Run resumes.
type State interface {
	SetStatus(ctx context.Context, status, reason string) error
	SaveResource(ctx context.Context, r *Resource) error
	DropResource(ctx context.Context, r *Resource) error
	Event(ctx context.Context, e *Event) error
	// Outputs records the stack's outputs (and exports) when an apply has
	// converged; an error (an export another stack uses would change)
	// fails the apply, which then rolls back.
	Outputs(ctx context.Context, outs []template.OutputValue) error
	// Import returns the value of another stack's export.
	Import(ctx context.Context, name string) (string, error)
	// WaitSignals waits for a resource's success signals (CreationPolicy);
	// with from, only signals of those unique IDs count (an update's new
	// instances).
	WaitSignals(ctx context.Context, logical string, count int, timeout time.Duration, from ...string) error
	// NewID returns a fresh record ID.
	NewID() string
}

// Target is what a stack is to become: a template and its bound values.
type Target struct {
	Template *template.Template
	Params   template.Params
	Pseudo   template.Pseudo
}

// Operation is one create, update or delete of a stack, in whatever status
// it has reached.
type Operation struct {
	StackID, StackName, ProjectID, ProjectName string
	// Status is the stack's recorded status: Run continues from it.
	Status string
	// New is the target of a create or update; Old, of an update, is what
	// a rollback restores. Delete needs neither.
	New, Old *Target
	// Resources are the stack's resource records.
	Resources []*Resource
}

// Engine applies operations with the providers of a registry.
type Engine struct {
	Registry *Registry
	// Parallelism bounds the provider calls in flight (default 16).
	Parallelism int
	Now         func() time.Time
}

// run is one operation in progress.
type run struct {
	e     *Engine
	op    *Operation
	state State
	mu    sync.Mutex
	recs  []*Resource
}

// Run carries an operation from its recorded status to a final one and
// returns that status. It returns an error only when State cannot record
// (the operation then resumes from what was recorded); a failed resource
// is a status (a rollback), not an error.
func (e *Engine) Run(ctx context.Context, op *Operation, state State) (string, error) {
	r := &run{e: e, op: op, state: state, recs: op.Resources}
	st, failure := op.Status, ""
	for InProgress(st) {
		next, why, err := r.step(ctx, st)
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			return st, err // interrupted: resume later from st
		}
		// The stack keeps the reason of a failure through its rollback, so
		// that describing it says why without reading the events.
		if why != "" {
			failure = why
		}
		reason := why
		if reason == "" && strings.Contains(next, "ROLLBACK") {
			reason = failure
		}
		if err := state.SetStatus(ctx, next, reason); err != nil {
			return st, err
		}
		if err := r.stackEvent(ctx, next, why); err != nil {
			return next, err
		}
		st = next
	}
	return st, nil
}

// step runs one stage of the operation and returns the status that
// follows, or an error when State could not record a step (the stage is
// then to be run again, not rolled back).
func (r *run) step(ctx context.Context, st string) (string, string, error) {
	var err error
	var next, why string
	switch st {
	case CreateInProgress:
		err = r.converge(ctx, r.op.New, true)
		next, why = CreateComplete, ""
		if err != nil {
			next, why = RollbackInProgress, "The following resource(s) failed to create: "+failedList(err)
		}
	case RollbackInProgress:
		err = r.deleteAll(ctx, true)
		next, why = RollbackComplete, ""
		if err != nil {
			next, why = RollbackFailed, "The following resource(s) failed to delete: "+failedList(err)
		}
	case UpdateInProgress:
		err = r.converge(ctx, r.op.New, true)
		next, why = UpdateCompleteCleanupInProgress, ""
		if err != nil {
			next, why = UpdateRollbackInProgress, "The following resource(s) failed to update: "+failedList(err)
		}
	case UpdateCompleteCleanupInProgress:
		err = r.cleanup(ctx, r.op.New)
		next, why = UpdateComplete, ""
	case UpdateRollbackInProgress:
		err = r.converge(ctx, r.op.Old, true)
		next, why = UpdateRollbackCompleteCleanupInProgress, ""
		if err != nil {
			next, why = UpdateRollbackFailed, "The following resource(s) failed to update: "+failedList(err)
		}
	case UpdateRollbackCompleteCleanupInProgress:
		err = r.cleanup(ctx, r.op.Old)
		next, why = UpdateRollbackComplete, ""
	case DeleteInProgress:
		err = r.deleteAll(ctx, false)
		next, why = DeleteComplete, ""
		if err != nil {
			next, why = DeleteFailed, "The following resource(s) failed to delete: "+failedList(err)
		}
	default:
		return st, "", nil
	}
	var se *stateError
	if errors.As(err, &se) {
		return st, "", se.err
	}
	return next, why, nil
}

// stateError is a failure to record: the operation stops where it is, to
// be resumed, rather than counting it as a resource's failure.
type stateError struct{ err error }

func (e *stateError) Error() string { return e.err.Error() }
func (e *stateError) Unwrap() error { return e.err }

func recorded(err error) error {
	if err == nil {
		return nil
	}
	return &stateError{err}
}

// resourceError is a failure of one resource.
type resourceError struct {
	logical string
	err     error
}

func (e *resourceError) Error() string { return e.logical + ": " + e.err.Error() }
func (e *resourceError) Unwrap() error { return e.err }

// failedList names the failed resources of err as CloudFormation does.
func failedList(err error) string {
	var names []string
	var walk func(error)
	walk = func(err error) {
		var re *resourceError
		if errors.As(err, &re) && !strings.Contains(strings.Join(names, ","), re.logical) {
			names = append(names, re.logical)
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	if len(names) == 0 {
		return "[] " + err.Error()
	}
	sort.Strings(names)
	return "[" + strings.Join(names, ", ") + "]. " + err.Error()
}

func (r *run) now() time.Time {
	if r.e.Now != nil {
		return r.e.Now().UTC()
	}
	return time.Now().UTC()
}

func (r *run) stackEvent(ctx context.Context, status, reason string) error {
	return r.state.Event(ctx, &Event{Logical: r.op.StackName, PhysicalID: r.op.StackID, Type: StackType,
		Status: status, Reason: reason, At: r.now()})
}

// current returns the live record of a logical resource.
func (r *run) current(logical string) *Resource {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.recs {
		if rec.Logical == logical && !rec.Replaced {
			return rec
		}
	}
	return nil
}

// env evaluates against the records as they are now.
func (r *run) env(ctx context.Context, t *Target) *template.Env {
	return &template.Env{
		Params: t.Params,
		Pseudo: t.Pseudo,
		Ref: func(logical string) (string, bool) {
			rec := r.current(logical)
			if rec == nil || rec.PhysicalID == "" {
				return "", false
			}
			return rec.PhysicalID, true
		},
		Attr: func(logical, attr string) (template.Value, bool) {
			rec := r.current(logical)
			if rec == nil {
				return nil, false
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			v, ok := rec.Attrs[attr]
			return v, ok
		},
		Import: func(name string) (string, error) { return r.state.Import(ctx, name) },
	}
}

// record updates a record in memory and in State, with an event.
func (r *run) record(ctx context.Context, rec *Resource, status, reason string) error {
	r.mu.Lock()
	rec.Status, rec.Reason, rec.UpdatedAt = status, reason, r.now()
	cp := *rec
	r.mu.Unlock()
	if err := r.state.SaveResource(ctx, &cp); err != nil {
		return recorded(err)
	}
	if cp.Modelled {
		const modelled = "Modelled resource: Slipway records it and its attributes; it has no local effect"
		if reason == "" {
			reason = modelled
		} else {
			reason += ". " + modelled
		}
	}
	return recorded(r.state.Event(ctx, &Event{Logical: cp.Logical, PhysicalID: cp.PhysicalID, Type: cp.Type, Status: status, Reason: reason, At: cp.UpdatedAt}))
}

func (r *run) add(rec *Resource) {
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	r.mu.Unlock()
}

func (r *run) drop(ctx context.Context, rec *Resource) error {
	r.mu.Lock()
	for i, x := range r.recs {
		if x == rec {
			r.recs = append(r.recs[:i], r.recs[i+1:]...)
			break
		}
	}
	r.mu.Unlock()
	return recorded(r.state.DropResource(ctx, rec))
}

// converge makes the live records match target t, in dependency order, and
// then records the outputs.
func (r *run) converge(ctx context.Context, t *Target, outputs bool) error {
	tp := t.Template
	env := r.env(ctx, t)
	conds, err := tp.EvalConditions(env)
	if err != nil {
		return err
	}
	active := tp.Active(conds)
	deps := tp.Dependencies(conds)
	err = r.schedule(ctx, active, deps, func(ctx context.Context, logical string) error {
		if err := r.apply(ctx, t, conds, logical, deps[logical]); err != nil {
			return &resourceError{logical: logical, err: err}
		}
		return nil
	})
	if err != nil || !outputs {
		return err
	}
	outs, err := tp.EvalOutputs(env, conds)
	if err != nil {
		return err
	}
	return r.state.Outputs(ctx, outs)
}

// apply brings one logical resource to what t says.
func (r *run) apply(ctx context.Context, t *Target, conds map[string]bool, logical string, deps []string) error {
	res := t.Template.Resources[logical]
	p, ok := r.e.Registry.Provider(res.Type)
	if !ok {
		return errors.New(r.e.Registry.Unsupported([]string{res.Type}))
	}
	schema := p.Schema()
	env := r.env(ctx, t)
	props, err := t.Template.EvalProperties(env, conds, logical)
	if err != nil {
		return err
	}
	if props == nil {
		props = map[string]any{}
	}
	cur := r.current(logical)
	// A rollback brings back the old side of a replacement rather than
	// replacing a third time.
	if old := r.replacedMatching(logical, res.Type, props); old != nil && cur != nil {
		r.mu.Lock()
		cur.Replaced, old.Replaced = true, false
		r.mu.Unlock()
		if err := r.state.SaveResource(ctx, cur); err != nil {
			return recorded(err)
		}
		return r.record(ctx, old, UpdateComplete, "")
	}
	base := Resource{Logical: logical, Type: res.Type, Properties: props, DependsOn: deps,
		DeletionPolicy: res.DeletionPolicy, UpdateReplacePolicy: res.UpdateReplacePolicy, Modelled: schema.Modelled}
	switch {
	case cur == nil:
		return r.create(ctx, t, conds, p, &base, nil)
	case cur.Status == CreateInProgress || cur.Status == CreateFailed:
		// A create that never finished: try it again under the same token.
		return r.create(ctx, t, conds, p, &base, cur)
	case cur.Type != res.Type:
		return r.replace(ctx, t, conds, p, schema, &base, cur)
	}
	changed := changedKeys(cur.Properties, props)
	if len(changed) == 0 && !strings.HasSuffix(cur.Status, "_FAILED") && !InProgress(cur.Status) {
		r.mu.Lock()
		cur.DependsOn, cur.DeletionPolicy, cur.UpdateReplacePolicy = deps, res.DeletionPolicy, res.UpdateReplacePolicy
		r.mu.Unlock()
		return nil
	}
	for _, k := range changed {
		if schema.Properties[k].Update == Replace {
			return r.replace(ctx, t, conds, p, schema, &base, cur)
		}
	}
	var policy map[string]any
	if res.UpdatePolicy != nil {
		v, err := t.Template.EvalNode(r.env(ctx, t), conds, res.UpdatePolicy)
		if err != nil {
			return r.fail(ctx, cur, UpdateFailed, fmt.Errorf("UpdatePolicy: %w", err))
		}
		policy, _ = v.(map[string]any)
	}
	return r.update(ctx, p, &base, cur, policy)
}

// replacedMatching finds the old side of a replacement whose properties
// are exactly props.
func (r *run) replacedMatching(logical, typ string, props map[string]any) *Resource {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.recs {
		if rec.Replaced && rec.Logical == logical && rec.Type == typ && len(changedKeys(rec.Properties, props)) == 0 {
			return rec
		}
	}
	return nil
}

func (r *run) request(p *Resource) *Request {
	return &Request{StackID: r.op.StackID, StackName: r.op.StackName, ProjectID: r.op.ProjectID, ProjectName: r.op.ProjectName,
		Logical: p.Logical, Type: p.Type, PhysicalID: p.PhysicalID, Token: p.ID, Properties: p.Properties}
}

func (r *run) create(ctx context.Context, t *Target, conds map[string]bool, p Provider, base *Resource, rec *Resource) error {
	if rec == nil {
		rec = base
		rec.ID = r.state.NewID()
		r.add(rec)
	} else {
		r.mu.Lock()
		rec.Properties, rec.DependsOn, rec.Type, rec.Modelled = base.Properties, base.DependsOn, base.Type, base.Modelled
		rec.DeletionPolicy, rec.UpdateReplacePolicy = base.DeletionPolicy, base.UpdateReplacePolicy
		r.mu.Unlock()
	}
	if err := checkProperties(p.Schema(), rec.Properties); err != nil {
		return r.fail(ctx, rec, CreateFailed, err)
	}
	if err := r.record(ctx, rec, CreateInProgress, "Resource creation Initiated"); err != nil {
		return err
	}
	out, err := p.Create(ctx, r.request(rec))
	if err != nil {
		return r.fail(ctx, rec, CreateFailed, err)
	}
	r.mu.Lock()
	rec.PhysicalID, rec.Attrs = out.PhysicalID, out.Attrs
	r.mu.Unlock()
	if err := r.waitSignals(ctx, t, conds, rec); err != nil {
		return r.fail(ctx, rec, CreateFailed, err)
	}
	return r.record(ctx, rec, CreateComplete, "")
}

// waitSignals honours a CreationPolicy's ResourceSignal.
func (r *run) waitSignals(ctx context.Context, t *Target, conds map[string]bool, rec *Resource) error {
	res := t.Template.Resources[rec.Logical]
	if res.CreationPolicy == nil {
		return nil
	}
	v, err := t.Template.EvalNode(r.env(ctx, t), conds, res.CreationPolicy)
	if err != nil {
		return err
	}
	count, timeout, ok, err := resourceSignal(v)
	if err != nil || !ok {
		return err
	}
	if err := r.state.Event(ctx, &Event{Logical: rec.Logical, PhysicalID: rec.PhysicalID, Type: rec.Type, Status: CreateInProgress,
		Reason: fmt.Sprintf("Waiting for %d success signal(s) within %s (slipway signal --stack %s --resource %s --status SUCCESS)", count, timeout, r.op.StackName, rec.Logical),
		At:     r.now()}); err != nil {
		return err
	}
	return r.state.WaitSignals(ctx, rec.Logical, count, timeout)
}

func (r *run) update(ctx context.Context, p Provider, base *Resource, cur *Resource, policy map[string]any) error {
	if err := checkProperties(p.Schema(), base.Properties); err != nil {
		return r.fail(ctx, cur, UpdateFailed, err)
	}
	if err := r.record(ctx, cur, UpdateInProgress, ""); err != nil {
		return err
	}
	req := r.request(cur)
	req.Previous, req.Properties, req.UpdatePolicy = cur.Properties, base.Properties, policy
	req.WaitSignals = func(ctx context.Context, count int, timeout time.Duration, from ...string) error {
		if err := r.state.Event(ctx, &Event{Logical: cur.Logical, PhysicalID: cur.PhysicalID, Type: cur.Type, Status: UpdateInProgress,
			Reason: fmt.Sprintf("Waiting for %d success signal(s) within %s from %s", count, timeout, strings.Join(from, ", ")),
			At:     r.now()}); err != nil {
			return err
		}
		return r.state.WaitSignals(ctx, cur.Logical, count, timeout, from...)
	}
	out, err := p.Update(ctx, req)
	if err != nil {
		return r.fail(ctx, cur, UpdateFailed, err)
	}
	r.mu.Lock()
	cur.Properties, cur.DependsOn = base.Properties, base.DependsOn
	cur.DeletionPolicy, cur.UpdateReplacePolicy = base.DeletionPolicy, base.UpdateReplacePolicy
	if out != nil && out.Attrs != nil {
		cur.Attrs = out.Attrs
	}
	r.mu.Unlock()
	return r.record(ctx, cur, UpdateComplete, "")
}

// replace creates the new resource before the old one goes (at cleanup).
func (r *run) replace(ctx context.Context, t *Target, conds map[string]bool, p Provider, schema Schema, base *Resource, cur *Resource) error {
	// The new resource would take the old one's name while the old one
	// still exists; a changed name is no obstacle.
	if name := schema.NameProperty; name != "" {
		if v, named := base.Properties[name]; named && reflect.DeepEqual(v, cur.Properties[name]) {
			return r.fail(ctx, cur, UpdateFailed, fmt.Errorf("CloudFormation cannot update a stack when a custom-named resource requires replacing. Rename %s and update the stack again.", cur.Logical))
		}
	}
	if err := r.record(ctx, cur, UpdateInProgress, "Requested update requires the creation of a new physical resource; hence creating one."); err != nil {
		return err
	}
	r.mu.Lock()
	cur.Replaced = true
	r.mu.Unlock()
	if err := r.state.SaveResource(ctx, cur); err != nil {
		return recorded(err)
	}
	return r.create(ctx, t, conds, p, base, nil)
}

func (r *run) fail(ctx context.Context, rec *Resource, status string, err error) error {
	if rerr := r.record(ctx, rec, status, err.Error()); rerr != nil {
		return errors.Join(err, rerr)
	}
	return err
}

// cleanup deletes what t no longer has and the old sides of replacements.
// Failures are recorded as events and left in place, as CloudFormation
// leaves them: the stack has reached its target either way. Only a failure
// to record is returned.
func (r *run) cleanup(ctx context.Context, t *Target) error {
	env := r.env(ctx, t)
	conds, err := t.Template.EvalConditions(env)
	keep := map[string]bool{}
	if err == nil {
		for _, l := range t.Template.Active(conds) {
			keep[l] = true
		}
	}
	r.mu.Lock()
	var gone []*Resource
	for _, rec := range r.recs {
		if rec.Replaced || !keep[rec.Logical] {
			gone = append(gone, rec)
		}
	}
	r.mu.Unlock()
	err = r.deleteRecords(ctx, gone, false)
	var se *stateError
	if errors.As(err, &se) {
		return se
	}
	return nil
}

// deleteAll deletes every record, in reverse dependency order.
func (r *run) deleteAll(ctx context.Context, rollback bool) error {
	r.mu.Lock()
	all := append([]*Resource(nil), r.recs...)
	r.mu.Unlock()
	return r.deleteRecords(ctx, all, rollback)
}

func (r *run) deleteRecords(ctx context.Context, recs []*Resource, rollback bool) error {
	byID := map[string]*Resource{}
	var ids []string
	for _, rec := range recs {
		byID[rec.ID] = rec
		ids = append(ids, rec.ID)
	}
	// A record can go once nothing still standing depends on it.
	deps := map[string][]string{}
	for _, a := range recs {
		for _, b := range recs {
			if a != b && !a.Replaced && slices.Contains(b.DependsOn, a.Logical) {
				deps[a.ID] = append(deps[a.ID], b.ID)
			}
		}
	}
	return r.schedule(ctx, ids, deps, func(ctx context.Context, id string) error {
		if err := r.deleteOne(ctx, byID[id], rollback); err != nil {
			return &resourceError{logical: byID[id].Logical, err: err}
		}
		return nil
	})
}

func (r *run) deleteOne(ctx context.Context, rec *Resource, rollback bool) error {
	policy := rec.DeletionPolicy
	if rec.Replaced {
		policy = rec.UpdateReplacePolicy
	}
	if policy == "RetainExceptOnCreate" && rollback {
		policy = "Delete"
	}
	if (policy == "Retain" || policy == "RetainExceptOnCreate") && rec.PhysicalID != "" {
		if err := r.record(ctx, rec, DeleteSkipped, ""); err != nil {
			return err
		}
		return r.drop(ctx, rec)
	}
	p, ok := r.e.Registry.Provider(rec.Type)
	if !ok {
		return errors.New(r.e.Registry.Unsupported([]string{rec.Type}))
	}
	if err := r.record(ctx, rec, DeleteInProgress, ""); err != nil {
		return err
	}
	if err := p.Delete(ctx, r.request(rec)); err != nil {
		return r.fail(ctx, rec, DeleteFailed, err)
	}
	if err := r.record(ctx, rec, DeleteComplete, ""); err != nil {
		return err
	}
	return r.drop(ctx, rec)
}

// schedule runs step for every node once the nodes it depends on have
// succeeded, at most Parallelism at once. After the first failure it starts
// nothing new, waits for what runs, and returns every failure.
func (r *run) schedule(ctx context.Context, nodes []string, deps map[string][]string, step func(context.Context, string) error) error {
	par := r.e.Parallelism
	if par <= 0 {
		par = 16
	}
	in := map[string]bool{}
	for _, n := range nodes {
		in[n] = true
	}
	waiting := map[string]int{}
	dependents := map[string][]string{}
	for _, n := range nodes {
		for _, d := range deps[n] {
			if in[d] && d != n {
				waiting[n]++
				dependents[d] = append(dependents[d], n)
			}
		}
	}
	var ready []string
	for _, n := range nodes {
		if waiting[n] == 0 {
			ready = append(ready, n)
		}
	}
	type result struct {
		node string
		err  error
	}
	results := make(chan result)
	running, done := 0, 0
	var errs []error
	for done < len(nodes) {
		for len(errs) == 0 && ctx.Err() == nil && running < par && len(ready) > 0 {
			n := ready[0]
			ready = ready[1:]
			running++
			go func() { results <- result{n, step(ctx, n)} }()
		}
		if running == 0 {
			break // failed, cancelled, or the rest waits on something that failed
		}
		res := <-results
		running--
		done++
		if res.err != nil {
			errs = append(errs, res.err)
			continue
		}
		for _, d := range dependents[res.node] {
			if waiting[d]--; waiting[d] == 0 {
				ready = append(ready, d)
			}
		}
	}
	if len(errs) == 0 && done < len(nodes) {
		if err := ctx.Err(); err != nil {
			return err
		}
		return errors.New("some resources were never ready: a dependency cycle")
	}
	return errors.Join(errs...)
}

// changedKeys lists the properties whose values differ.
func changedKeys(old, new map[string]any) []string {
	var out []string
	for k, v := range new {
		if ov, ok := old[k]; !ok || !reflect.DeepEqual(ov, v) {
			out = append(out, k)
		}
	}
	for k := range old {
		if _, ok := new[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
