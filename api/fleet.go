package api

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/slipway/slipway/auth"
	"github.com/slipway/slipway/fleet"
	"github.com/slipway/slipway/store"
)

// groupView is an instance group with its instances.
type groupView struct {
	*fleet.Group
	InService int               `json:"in_service"`
	Instances []*fleet.Instance `json:"instances"`
}

func (s *Server) groupView(r *http.Request, g *fleet.Group, all bool) (*groupView, error) {
	ins, err := s.Fleet.Instances(r.Context(), g.ID)
	if err != nil {
		return nil, err
	}
	v := &groupView{Group: g, Instances: []*fleet.Instance{}}
	for _, in := range ins {
		if in.State == fleet.InService {
			v.InService++
		}
		if all || in.State != fleet.Terminated {
			v.Instances = append(v.Instances, in)
		}
	}
	return v, nil
}

func asFleetError(err error, what string) error {
	if errors.Is(err, store.ErrNotFound) {
		return &notFound{what: what}
	}
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return badRequest("%v", err)
	}
	return err
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	gs, err := s.Fleet.Groups(r.Context(), pr.ID)
	if err != nil {
		return err
	}
	out := []*groupView{}
	for _, g := range gs {
		v, err := s.groupView(r, g, false)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"groups": out})
	return nil
}

func (s *Server) getGroup(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	g, err := s.Fleet.Group(r.Context(), pr.ID, r.PathValue("name"))
	if err != nil {
		return asFleetError(err, "instance group "+r.PathValue("name"))
	}
	v, err := s.groupView(r, g, r.URL.Query().Get("all") == "true")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

type capacityRequest struct {
	Desired int `json:"desired_capacity"`
}

func (s *Server) setCapacity(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Write, r.PathValue("project"))
	if err != nil {
		return err
	}
	var req capacityRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	g, err := s.Fleet.SetDesired(r.Context(), pr.ID, r.PathValue("name"), req.Desired)
	if err != nil {
		return asFleetError(err, "instance group "+r.PathValue("name"))
	}
	writeJSON(w, http.StatusOK, g)
	return nil
}

func (s *Server) getInstance(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	in, err := s.Fleet.Instance(r.Context(), pr.ID, r.PathValue("id"))
	if err != nil {
		return asFleetError(err, "instance "+r.PathValue("id"))
	}
	writeJSON(w, http.StatusOK, in)
	return nil
}

// instanceConsole answers an instance's console log (its init's lines and
// its user data's output), the last 1 MiB of it.
func (s *Server) instanceConsole(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	in, err := s.Fleet.Instance(r.Context(), pr.ID, r.PathValue("id"))
	if err != nil {
		return asFleetError(err, "instance "+r.PathValue("id"))
	}
	f, err := os.Open(s.Fleet.Runtime().ConsoleLog(in.ID))
	if errors.Is(err, os.ErrNotExist) {
		return &notFound{what: "console log of " + in.ID + " (it is removed when the instance terminates)"}
	}
	if err != nil {
		return err
	}
	defer f.Close()
	const most = 1 << 20
	if fi, err := f.Stat(); err == nil && fi.Size() > most {
		_, _ = f.Seek(-most, io.SeekEnd)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.Copy(w, f)
	return nil
}

type terminateRequest struct {
	DecrementDesired bool `json:"decrement_desired_capacity"`
}

func (s *Server) terminateInstance(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Write, r.PathValue("project"))
	if err != nil {
		return err
	}
	var req terminateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	in, err := s.Fleet.Terminate(r.Context(), pr.ID, r.PathValue("id"), req.DecrementDesired)
	if err != nil {
		return asFleetError(err, "instance "+r.PathValue("id"))
	}
	writeJSON(w, http.StatusAccepted, in)
	return nil
}

// instanceSignalRequest is what cfn-signal sends from inside an instance.
type instanceSignalRequest struct {
	Stack    string `json:"stack"`
	Resource string `json:"resource"`
	Status   string `json:"status"`
	UniqueID string `json:"unique_id"`
}

// instanceSignal takes a signal from an instance, authenticated by the
// instance's own credential: it may signal resources of the stack that made
// its group, nothing else.
func (s *Server) instanceSignal(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	token := strings.TrimSpace(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	in, g, err := s.Fleet.Authenticate(r.Context(), token)
	if err != nil {
		s.audit(r, nil, "POST /api/v1/instance/signal", r.URL.Path, http.StatusUnauthorized)
		return &Error{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "this endpoint takes an instance's credential (" + fleet.TokenPrefix + "...), as cfn-signal inside an instance sends it"}
	}
	who := &auth.Principal{Name: "instance:" + in.ID}
	status := http.StatusNoContent
	defer func() { s.audit(r, who, "POST /api/v1/instance/signal", r.URL.Path, status) }()
	var req instanceSignalRequest
	if err := decode(r, &req); err != nil {
		status = http.StatusBadRequest
		return err
	}
	if req.Stack == "" {
		req.Stack = g.StackName
	}
	if req.Resource == "" {
		req.Resource = g.LogicalID
	}
	if g.StackName == "" || req.Stack != g.StackName {
		status = http.StatusForbidden
		return &Error{Status: http.StatusForbidden, Code: "forbidden",
			Message: "instance " + in.ID + " may signal only the stack that launched it (" + g.StackName + ")"}
	}
	if req.UniqueID == "" {
		req.UniqueID = in.ID
	}
	if err := s.Stacks.Signal(r.Context(), g.ProjectID, req.Stack, req.Resource, strings.ToUpper(req.Status), req.UniqueID); err != nil {
		err = stackError(err)
		status = toAPIError(err).Status
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
