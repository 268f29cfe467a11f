package api

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/slipway/slipway/appsvc"
	"github.com/slipway/slipway/auth"
	"github.com/slipway/slipway/store"
)

// blueprintArchiveTypes are the Content-Types a blueprint archive may
// carry: its format is read from its first bytes, not from them. A JSON
// body names a repository instead.
var blueprintArchiveTypes = []string{"application/gzip", "application/zip", "application/x-tar", "application/octet-stream"}

// createAppRequest is the body of POST .../apps.
type createAppRequest struct {
	Name       string            `json:"name"`
	Blueprint  string            `json:"blueprint"`
	Parameters map[string]string `json:"parameters"`
	Owner      string            `json:"owner"`
	Approvers  []string          `json:"approvers"`
	// TTL is a Go duration (24h, 90m); empty for an application that lives
	// until deleted.
	TTL string `json:"ttl"`
}

// blueprintFromRepoRequest is the JSON body of POST .../blueprints: the
// blueprint in directory Path of repository Repo at Ref.
type blueprintFromRepoRequest struct {
	Repo string `json:"repo"`
	Ref  string `json:"ref"`
	Path string `json:"path"`
}

// appError turns the application service's errors into API errors whose
// messages read without the service's sentinel prefixes; blueprint
// problems keep their file:line:col.
func appError(err error, what string) error {
	msg := err.Error()
	switch {
	case errors.Is(err, appsvc.ErrInvalid):
		return badRequest("%s", strings.TrimPrefix(msg, appsvc.ErrInvalid.Error()+": "))
	case errors.Is(err, appsvc.ErrState):
		return &Error{Status: http.StatusConflict, Code: "conflict", Message: strings.TrimPrefix(msg, appsvc.ErrState.Error()+": ")}
	case errors.Is(err, store.ErrConflict):
		// The service says which application and how to see it.
		return &Error{Status: http.StatusConflict, Code: "conflict", Message: msg}
	}
	return notFoundAs(err, what)
}

// appFor finds an application's record and checks the caller may do act
// to it. Missing and invisible applications give the same answer, as
// repoFor's repositories do.
func (s *Server) appFor(ctx context.Context, p *auth.Principal, act auth.Action, project, name string) (*auth.Project, *appsvc.App, error) {
	pr, err := s.project(ctx, project)
	if err != nil {
		return nil, nil, err
	}
	a, err := s.Apps.Find(ctx, pr.ID, name)
	if err != nil {
		return nil, nil, appError(err, "application "+name)
	}
	err = s.Auth.Authorize(ctx, p, act, a.Resource())
	switch {
	case errors.Is(err, auth.ErrHidden):
		return nil, nil, &notFound{"application " + name}
	case errors.Is(err, auth.ErrForbidden):
		return nil, nil, &Error{Status: http.StatusForbidden, Code: "forbidden",
			Message: "permission denied: this needs the " + string(act) + " role on application " + name + " or its project"}
	case err != nil:
		return nil, nil, err
	}
	return pr, a, nil
}

// listApps answers the applications the caller can read: all of them with
// a role on the project, else those granted one by one.
func (s *Server) listApps(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	pr, err := s.project(ctx, r.PathValue("project"))
	if err != nil {
		return err
	}
	all, err := s.Apps.List(ctx, pr.ID)
	if err != nil {
		return err
	}
	out := []appsvc.App{}
	for i := range all {
		ok, err := s.Auth.Can(ctx, p, auth.Read, all[i].Resource())
		if err != nil {
			return err
		}
		if ok {
			out = append(out, all[i])
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// createApp records an application and starts making it: 201 with the
// application CREATE_IN_PROGRESS. The caller gets admin on it.
func (s *Server) createApp(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	pr, err := s.projectFor(ctx, p, auth.Write, r.PathValue("project"))
	if err != nil {
		return err
	}
	var req createAppRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Name == "" {
		return badRequest("name: give the application a name, such as hello")
	}
	if req.Blueprint == "" {
		return badRequest("blueprint: name the blueprint to make the application from, such as go-service (slipway blueprint list shows them)")
	}
	var ttl time.Duration
	if req.TTL != "" {
		if ttl, err = time.ParseDuration(req.TTL); err != nil || ttl <= 0 {
			return badRequest("ttl %q: give a positive duration, such as 24h or 90m", req.TTL)
		}
	}
	a, err := s.Apps.Create(ctx, svcProject(pr), appsvc.CreateInput{Name: req.Name, Blueprint: req.Blueprint,
		Parameters: req.Parameters, Owner: req.Owner, Approvers: req.Approvers, TTL: ttl, Creator: p.Name, CreatorID: p.UserID})
	if err != nil {
		return appError(err, "application "+req.Name)
	}
	writeJSON(w, http.StatusCreated, a)
	return nil
}

func (s *Server) getApp(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	_, a, err := s.appFor(r.Context(), p, auth.Read, r.PathValue("project"), r.PathValue("name"))
	if err != nil {
		return err
	}
	if err := s.Apps.Describe(r.Context(), a); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

// deleteApp starts deleting an application, its environments first, then
// its pipeline stack: 202 with the application DELETE_IN_PROGRESS.
func (s *Server) deleteApp(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	pr, a, err := s.appFor(ctx, p, auth.Admin, r.PathValue("project"), r.PathValue("name"))
	if err != nil {
		return err
	}
	a, err = s.Apps.Delete(ctx, pr.ID, a.Name)
	if err != nil {
		return appError(err, "application "+r.PathValue("name"))
	}
	writeJSON(w, http.StatusAccepted, a)
	return nil
}

func (s *Server) listBlueprints(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	bs, err := s.Apps.Blueprints(r.Context(), pr.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(bs))
	return nil
}

func (s *Server) getBlueprint(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	b, err := s.Apps.Blueprint(r.Context(), pr.ID, name)
	if err != nil {
		return appError(err, "blueprint "+name)
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

// addBlueprint adds a blueprint to the project, or replaces the one of the
// same name: from a repository hosted here (a JSON body naming it), or
// from an archive of its directory (the body, as zip, tar or tgz, sent as
// one of blueprintArchiveTypes).
// Everything wrong with the blueprint comes back at once, one
// file:line:col each, in a 400.
func (s *Server) addBlueprint(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	pr, err := s.projectFor(ctx, p, auth.Write, r.PathValue("project"))
	if err != nil {
		return err
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var bi *appsvc.BlueprintInfo
	switch {
	case mt == "application/json" || mt == "":
		// A body without a Content-Type is JSON, as on every JSON route.
		var req blueprintFromRepoRequest
		if err := decode(r, &req); err != nil {
			return err
		}
		if req.Repo == "" {
			return badRequest("repo: name the repository that holds the blueprint")
		}
		// Adding from a repository reads it: the caller must be allowed to.
		if _, _, err := s.repoFor(ctx, p, auth.Read, pr.Name, req.Repo); err != nil {
			return err
		}
		bi, err = s.Apps.AddBlueprintFromRepo(ctx, pr.ID, req.Repo, req.Ref, req.Path, p.Name)
		if err != nil {
			return appError(err, "repository "+req.Repo)
		}
	case slices.Contains(blueprintArchiveTypes, mt):
		bi, err = s.Apps.AddBlueprint(ctx, pr.ID, r.Body, p.Name)
		if errors.As(err, new(*http.MaxBytesError)) {
			return &Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large",
				Message: fmt.Sprintf("the blueprint's archive is larger than %d MiB, the most a blueprint may take: leave build outputs and dependencies out of it",
					appsvc.MaxBlueprintArchive>>20)}
		}
		if err != nil {
			return appError(err, "blueprint")
		}
	default:
		return &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
			Message: "send the blueprint's directory as the body, a zip, tar or tgz archive with blueprint.yml at its top, with Content-Type " +
				strings.Join(blueprintArchiveTypes, ", ") + "; or a JSON body {\"repo\", \"ref\", \"path\"} naming a repository that holds it"}
	}
	writeJSON(w, http.StatusCreated, bi)
	return nil
}
