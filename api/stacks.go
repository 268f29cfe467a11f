package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/auth"
	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/stacksvc"
	"github.com/slipway/slipway/store"
)

// deployResult is the answer of PUT .../stacks/{name}: the stack as its
// operation starts, or as it is when there was nothing to do.
type deployResult struct {
	Stack *stacksvc.Stack `json:"stack"`
	// NoUpdates is CloudFormation's "No updates are to be performed.",
	// which tools count as success.
	NoUpdates bool `json:"no_updates"`
}

// changeSetRequest is the body of POST .../change-sets.
type changeSetRequest struct {
	Name string `json:"name"`
	stacksvc.Input
}

// signalRequest is the body of POST .../signals, what cfn-signal sends.
type signalRequest struct {
	Resource string `json:"resource"`
	Status   string `json:"status"`
	UniqueID string `json:"unique_id"`
}

// validateRequest is the body of POST .../templates/validate. Parameters
// absent: the template alone is checked; present (even {}): the values are
// bound too, so missing ones are reported.
type validateRequest struct {
	TemplateName string            `json:"template_name"`
	Template     string            `json:"template"`
	Parameters   map[string]string `json:"parameters"`
}

// stackResource is a stack resource as the API shows it. Properties and
// attributes are left out: they hold the resolved parameter values, NoEcho
// ones included, and CloudFormation's DescribeStackResources does not show
// them either.
type stackResource struct {
	Logical    string    `json:"logical_id"`
	PhysicalID string    `json:"physical_id"`
	Type       string    `json:"type"`
	Status     string    `json:"status"`
	Reason     string    `json:"reason,omitempty"`
	DependsOn  []string  `json:"depends_on"`
	Modelled   bool      `json:"modelled,omitempty"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// noEchoMask stands for a NoEcho value, as the stack service shows one.
const noEchoMask = "****"

// tooLarge answers a body over apiHandler's bound.
const tooLarge = "the request body is larger than 1 MiB, the most a template may take (CloudFormation bounds a template in S3 at 1 MB): " +
	"split the stack into smaller ones that share values through exported outputs and Fn::ImportValue"

// decodeStack decodes a body that carries a template, telling a body over
// the bound (413) from a malformed one.
func decodeStack(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			return &Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: tooLarge}
		}
		return badRequest("request body: %v", err)
	}
	return nil
}

// stackError turns the stack service's errors into API errors with
// CloudFormation's wording ("Stack with id X does not exist"), which users
// search for, rather than the API's generic "X not found". Template
// problems keep one file:line:col line each.
func stackError(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, stacksvc.ErrNoUpdates):
		return &Error{Status: http.StatusBadRequest, Code: "no_updates", Message: stacksvc.ErrNoUpdates.Error()}
	case errors.Is(err, stacksvc.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Message: strings.TrimPrefix(msg, stacksvc.ErrInvalid.Error()+": ")}
	case errors.Is(err, stacksvc.ErrState):
		return &Error{Status: http.StatusConflict, Code: "conflict", Message: strings.TrimPrefix(msg, stacksvc.ErrState.Error()+": ")}
	case errors.Is(err, store.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: strings.TrimSuffix(msg, ": "+store.ErrNotFound.Error())}
	}
	return err
}

func svcProject(pr *auth.Project) stacksvc.Project { return stacksvc.Project{ID: pr.ID, Name: pr.Name} }

func (s *Server) listStacks(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	sts, err := s.Stacks.List(r.Context(), pr.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(sts))
	return nil
}

func (s *Server) getStack(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	st, err := s.Stacks.Get(r.Context(), pr.ID, r.PathValue("name"))
	if err != nil {
		return stackError(err)
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// deployStack creates (201) or updates (200) a stack. An update that
// changes nothing is a success with no_updates set, as tools treat
// CloudFormation's "No updates are to be performed.".
func (s *Server) deployStack(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	pr, err := s.projectFor(ctx, p, auth.Write, r.PathValue("project"))
	if err != nil {
		return err
	}
	var in stacksvc.Input
	if err := decodeStack(r, &in); err != nil {
		return err
	}
	name := r.PathValue("name")
	// A stack shell a CREATE change set left is created, not updated.
	status := http.StatusOK
	if cur, err := s.Stacks.Get(ctx, pr.ID, name); errors.Is(err, store.ErrNotFound) || (err == nil && cur.Status == stack.ReviewInProgress) {
		status = http.StatusCreated
	} else if err != nil {
		return err
	}
	st, err := s.Stacks.Deploy(ctx, svcProject(pr), name, in)
	if errors.Is(err, stacksvc.ErrNoUpdates) {
		if st, err = s.Stacks.Get(ctx, pr.ID, name); err != nil {
			return stackError(err)
		}
		writeJSON(w, http.StatusOK, deployResult{Stack: st, NoUpdates: true})
		return nil
	}
	if err != nil {
		return stackError(err)
	}
	writeJSON(w, status, deployResult{Stack: st})
	return nil
}

func (s *Server) deleteStack(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Write, r.PathValue("project"))
	if err != nil {
		return err
	}
	st, err := s.Stacks.Delete(r.Context(), svcProject(pr), r.PathValue("name"))
	if err != nil {
		return stackError(err)
	}
	writeJSON(w, http.StatusAccepted, st)
	return nil
}

// stackEvents answers a stack's events after ?after=SEQ, oldest first, so
// that a client follows an operation by asking again from the last seq.
func (s *Server) stackEvents(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	pr, err := s.projectFor(ctx, p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	var after int64
	if a := r.URL.Query().Get("after"); a != "" {
		if after, err = strconv.ParseInt(a, 10, 64); err != nil || after < 0 {
			return badRequest("query parameter after=%q: want the seq of the last event seen (0 or more)", a)
		}
	}
	limit, err := intParam(r, "limit", 1000)
	if err != nil {
		return err
	}
	st, err := s.Stacks.Get(ctx, pr.ID, r.PathValue("name"))
	if err != nil {
		return stackError(err)
	}
	evs, err := s.Stacks.Events(ctx, st.ID, after, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(evs))
	return nil
}

func (s *Server) stackResources(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	pr, err := s.projectFor(ctx, p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	st, err := s.Stacks.Get(ctx, pr.ID, r.PathValue("name"))
	if err != nil {
		return stackError(err)
	}
	recs, err := s.Stacks.Resources(ctx, st.ID)
	if err != nil {
		return err
	}
	out := make([]stackResource, 0, len(recs))
	for _, rec := range recs {
		out = append(out, stackResource{Logical: rec.Logical, PhysicalID: rec.PhysicalID, Type: rec.Type, Status: rec.Status,
			Reason: rec.Reason, DependsOn: nonNil(rec.DependsOn), Modelled: rec.Modelled, UpdatedAt: rec.UpdatedAt})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// planStack answers the changes deploying the body would make, changing
// nothing; reading the project is enough.
func (s *Server) planStack(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	var in stacksvc.Input
	if err := decodeStack(r, &in); err != nil {
		return err
	}
	changes, err := s.Stacks.Plan(r.Context(), svcProject(pr), r.PathValue("name"), in)
	if err != nil {
		return stackError(err)
	}
	writeJSON(w, http.StatusOK, map[string][]stack.Change{"changes": nonNil(changes)})
	return nil
}

func (s *Server) signalStack(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Write, r.PathValue("project"))
	if err != nil {
		return err
	}
	var req signalRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Resource == "" {
		return badRequest("resource: name the logical ID of the resource waiting for the signal")
	}
	if err := s.Stacks.Signal(r.Context(), pr.ID, r.PathValue("name"), req.Resource, req.Status, req.UniqueID); err != nil {
		return stackError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) createChangeSet(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Write, r.PathValue("project"))
	if err != nil {
		return err
	}
	var req changeSetRequest
	if err := decodeStack(r, &req); err != nil {
		return err
	}
	cs, err := s.Stacks.CreateChangeSet(r.Context(), svcProject(pr), r.PathValue("name"), req.Name, req.Input)
	if err != nil {
		return stackError(err)
	}
	writeJSON(w, http.StatusCreated, cs)
	return nil
}

func (s *Server) listChangeSets(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	sets, err := s.Stacks.ChangeSets(r.Context(), pr.ID, r.PathValue("name"))
	if err != nil {
		return stackError(err)
	}
	writeJSON(w, http.StatusOK, nonNil(sets))
	return nil
}

func (s *Server) getChangeSet(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	cs, err := s.Stacks.ChangeSet(r.Context(), pr.ID, r.PathValue("name"), r.PathValue("cs"))
	if err != nil {
		return stackError(err)
	}
	writeJSON(w, http.StatusOK, cs)
	return nil
}

func (s *Server) executeChangeSet(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Write, r.PathValue("project"))
	if err != nil {
		return err
	}
	st, err := s.Stacks.ExecuteChangeSet(r.Context(), svcProject(pr), r.PathValue("name"), r.PathValue("cs"))
	if err != nil {
		return stackError(err)
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *Server) deleteChangeSet(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Write, r.PathValue("project"))
	if err != nil {
		return err
	}
	if err := s.Stacks.DeleteChangeSet(r.Context(), pr.ID, r.PathValue("name"), r.PathValue("cs")); err != nil {
		return stackError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listExports(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	es, err := s.Stacks.Exports(r.Context(), pr.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(es))
	return nil
}

// validateTemplate checks a template against the resource types this
// server has, as AWS's ValidateTemplate does: every problem at once, one
// file:line:col line each, in a 400.
func (s *Server) validateTemplate(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if _, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project")); err != nil {
		return err
	}
	var req validateRequest
	if err := decodeStack(r, &req); err != nil {
		return err
	}
	v, _, err := s.Stacks.ValidateTemplate(req.TemplateName, req.Template, req.Parameters)
	if err != nil {
		return stackError(err)
	}
	// A NoEcho default is a secret written into the template: it is not
	// shown anywhere else either.
	for i := range v.Parameters {
		if v.Parameters[i].NoEcho && v.Parameters[i].Default != nil {
			masked := noEchoMask
			v.Parameters[i].Default = &masked
		}
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}
