package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/slipway/slipway/auth"
	"github.com/slipway/slipway/secret"
	"github.com/slipway/slipway/store"
)

// projectFor finds a project and checks the caller may do act on the whole
// project. Project names are not secret, so a refusal is a 403.
func (s *Server) projectFor(ctx context.Context, p *auth.Principal, act auth.Action, name string) (*auth.Project, error) {
	pr, err := s.project(ctx, name)
	if err != nil {
		return nil, err
	}
	ok, err := s.Auth.Can(ctx, p, act, auth.ProjectResource(pr.ID))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &Error{Status: http.StatusForbidden, Code: "forbidden",
			Message: "permission denied: this needs the " + string(act) + " role on project " + pr.Name}
	}
	return pr, nil
}

type valueRequest struct {
	Value string `json:"value"`
}

func (s *Server) listSecrets(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	es, err := s.Secrets.ListSecrets(r.Context(), pr.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, es)
	return nil
}

func (s *Server) setSecret(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Admin, r.PathValue("project"))
	if err != nil {
		return err
	}
	var req valueRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	name := r.PathValue("name")
	if err := s.Secrets.SetSecret(r.Context(), pr.ID, name, req.Value); err != nil {
		return asBadRequest(err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"project": pr.Name, "name": name})
	return nil
}

func (s *Server) deleteSecret(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Admin, r.PathValue("project"))
	if err != nil {
		return err
	}
	if err := s.Secrets.DeleteSecret(r.Context(), pr.ID, r.PathValue("name")); err != nil {
		return notFoundAs(err, "secret "+r.PathValue("name"))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listParams(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	es, err := s.Secrets.ListParams(r.Context(), pr.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, es)
	return nil
}

func (s *Server) getParam(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	e, err := s.Secrets.Param(r.Context(), pr.ID, r.PathValue("name"))
	if err != nil {
		return notFoundAs(err, "parameter "+r.PathValue("name"))
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (s *Server) setParam(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Write, r.PathValue("project"))
	if err != nil {
		return err
	}
	var req valueRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	name := r.PathValue("name")
	if err := s.Secrets.SetParam(r.Context(), pr.ID, name, req.Value); err != nil {
		return asBadRequest(err)
	}
	e, err := s.Secrets.Param(r.Context(), pr.ID, name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (s *Server) deleteParam(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Write, r.PathValue("project"))
	if err != nil {
		return err
	}
	if err := s.Secrets.DeleteParam(r.Context(), pr.ID, r.PathValue("name")); err != nil {
		return notFoundAs(err, "parameter "+r.PathValue("name"))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// notFoundAs names what was missing.
func notFoundAs(err error, what string) error {
	if errors.Is(err, store.ErrNotFound) {
		return &notFound{what}
	}
	return err
}

// asBadRequest reports a malformed name as the caller's mistake.
func asBadRequest(err error) error {
	if errors.Is(err, secret.ErrInvalidName) {
		return badRequest("%v", err)
	}
	return err
}
