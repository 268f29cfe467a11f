package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/slipway/slipway/auth"
	"github.com/slipway/slipway/repo"
	"github.com/slipway/slipway/store"
)

func (s *Server) me(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	writeJSON(w, http.StatusOK, map[string]any{"id": p.UserID, "name": p.Name, "site_admin": p.SiteAdmin})
	return nil
}

func requireSiteAdmin(p *auth.Principal) error {
	if !p.SiteAdmin {
		return &Error{Status: http.StatusForbidden, Code: "forbidden", Message: "permission denied: only site admins may do this"}
	}
	return nil
}

// project finds the project named in the path. Project names are not secret;
// the resources inside are.
func (s *Server) project(ctx context.Context, name string) (*auth.Project, error) {
	pr, err := s.Auth.Project(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &notFound{"project " + name}
	}
	return pr, err
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ps, err := s.Auth.ListProjects(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(ps))
	return nil
}

func (s *Server) createProject(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if err := requireSiteAdmin(p); err != nil {
		return err
	}
	var req struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := auth.ValidateName("project", req.Name); err != nil {
		return badRequest("%v", err)
	}
	pr, err := s.Auth.CreateProject(r.Context(), req.Name, req.Description)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, pr)
	return nil
}

// repoView is a repository as the API shows it.
type repoView struct {
	*repo.Repository
	Project  string `json:"project"`
	CloneURL string `json:"clone_url"`
}

func cloneURL(r *http.Request, project, name string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	path := "/git/" + name + ".git"
	if project != auth.DefaultProject {
		path = "/git/" + project + "/" + name + ".git"
	}
	return scheme + "://" + r.Host + path
}

func repoResource(rp *repo.Repository) auth.Resource {
	return auth.Resource{Kind: "repo", ID: rp.ID, ProjectID: rp.ProjectID}
}

func (s *Server) listRepos(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	pr, err := s.project(ctx, r.PathValue("project"))
	if err != nil {
		return err
	}
	all, err := s.Repos.List(ctx, pr.ID)
	if err != nil {
		return err
	}
	out := []repoView{}
	for i := range all {
		ok, err := s.Auth.Can(ctx, p, auth.Read, repoResource(&all[i]))
		if err != nil {
			return err
		}
		if ok {
			out = append(out, repoView{&all[i], pr.Name, cloneURL(r, pr.Name, all[i].Name)})
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) createRepo(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	pr, err := s.project(ctx, r.PathValue("project"))
	if err != nil {
		return err
	}
	if ok, err := s.Auth.Can(ctx, p, auth.Write, auth.ProjectResource(pr.ID)); err != nil {
		return err
	} else if !ok {
		return &Error{Status: http.StatusForbidden, Code: "forbidden",
			Message: "permission denied: creating a repository needs the write role on project " + pr.Name}
	}
	var req struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := repo.ValidateName(req.Name); err != nil {
		return badRequest("%v", err)
	}
	rp, err := s.Repos.Create(ctx, pr.ID, pr.Name, req.Name, req.Description)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, repoView{rp, pr.Name, cloneURL(r, pr.Name, rp.Name)})
	return nil
}

// repoFor finds a repository and checks the caller may do act to it. Missing
// and invisible repositories give the same answer.
func (s *Server) repoFor(ctx context.Context, p *auth.Principal, act auth.Action, project, name string) (*auth.Project, *repo.Repository, error) {
	pr, err := s.project(ctx, project)
	if err != nil {
		return nil, nil, err
	}
	rp, err := s.Repos.Get(ctx, pr.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, &notFound{"repository " + name}
	}
	if err != nil {
		return nil, nil, err
	}
	if err := s.Auth.Authorize(ctx, p, act, repoResource(rp)); err != nil {
		if errors.Is(err, auth.ErrHidden) {
			return nil, nil, &notFound{"repository " + name}
		}
		return nil, nil, err
	}
	return pr, rp, nil
}

func (s *Server) getRepo(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, rp, err := s.repoFor(r.Context(), p, auth.Read, r.PathValue("project"), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, repoView{rp, pr.Name, cloneURL(r, pr.Name, rp.Name)})
	return nil
}

func (s *Server) deleteRepo(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	pr, rp, err := s.repoFor(ctx, p, auth.Admin, r.PathValue("project"), r.PathValue("name"))
	if err != nil {
		return err
	}
	if err := s.Repos.Delete(ctx, pr.ID, rp.Name); err != nil {
		return err
	}
	if err := s.Auth.DeleteGrants(ctx, repoResource(rp)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) repoEvents(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	_, rp, err := s.repoFor(ctx, p, auth.Read, r.PathValue("project"), r.PathValue("name"))
	if err != nil {
		return err
	}
	limit, err := intParam(r, "limit", 100)
	if err != nil {
		return err
	}
	evs, err := s.Repos.PushEvents(ctx, rp.ID, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(evs))
	return nil
}

// resolveResource turns "project" or "KIND/NAME" into a resource of the project.
func (s *Server) resolveResource(ctx context.Context, pr *auth.Project, ref string) (auth.Resource, error) {
	if ref == "project" || ref == "project/"+pr.Name {
		return auth.ProjectResource(pr.ID), nil
	}
	kind, name, ok := strings.Cut(ref, "/")
	if !ok || name == "" {
		return auth.Resource{}, badRequest("resource %q: write KIND/NAME (for example repo/web or pipeline/release) or project", ref)
	}
	switch kind {
	case "repo", "repository":
		rp, err := s.Repos.Get(ctx, pr.ID, name)
		if errors.Is(err, store.ErrNotFound) {
			return auth.Resource{}, &notFound{resourceLabel(ref)}
		}
		if err != nil {
			return auth.Resource{}, err
		}
		return repoResource(rp), nil
	case "pipeline":
		pl, err := s.Pipelines.Get(ctx, pr.ID, name)
		if errors.Is(err, store.ErrNotFound) {
			return auth.Resource{}, &notFound{resourceLabel(ref)}
		}
		if err != nil {
			return auth.Resource{}, err
		}
		return pipelineResource(pl), nil
	case "app", "application":
		a, err := s.Apps.Find(ctx, pr.ID, name)
		if errors.Is(err, store.ErrNotFound) {
			return auth.Resource{}, &notFound{resourceLabel(ref)}
		}
		if err != nil {
			return auth.Resource{}, err
		}
		return a.Resource(), nil
	}
	return auth.Resource{}, badRequest("unknown resource kind %q: use project, repo, pipeline or app", kind)
}

// resourceLabel names "KIND/NAME" the way not-found messages do.
func resourceLabel(ref string) string {
	kind, name, _ := strings.Cut(ref, "/")
	switch kind {
	case "repo", "repository":
		return "repository " + name
	case "pipeline":
		return "pipeline " + name
	case "app", "application":
		return "application " + name
	}
	return ref
}

func (s *Server) grant(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	pr, err := s.project(ctx, r.PathValue("project"))
	if err != nil {
		return err
	}
	var req struct {
		Resource string `json:"resource"`
		Subject  string `json:"subject"`
		Role     string `json:"role"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	role, err := auth.ParseRole(req.Role)
	if err != nil {
		return badRequest("%v", err)
	}
	res, err := s.resolveResource(ctx, pr, req.Resource)
	if err != nil {
		return err
	}
	if err := s.Auth.Authorize(ctx, p, auth.Admin, res); err != nil {
		if errors.Is(err, auth.ErrHidden) {
			// The same answer as for a resource that does not exist.
			return &notFound{resourceLabel(req.Resource)}
		}
		return err
	}
	kind, subjectID := auth.SubjectUser, ""
	if team, ok := strings.CutPrefix(req.Subject, "team:"); ok {
		t, err := s.Auth.TeamByName(ctx, team)
		if errors.Is(err, store.ErrNotFound) {
			return badRequest("team %q does not exist: create it with 'slipway team create %s'", team, team)
		}
		if err != nil {
			return err
		}
		kind, subjectID = auth.SubjectTeam, t.ID
	} else {
		u, err := s.Auth.UserByName(ctx, req.Subject)
		if errors.Is(err, store.ErrNotFound) {
			return badRequest("user %q does not exist: create it with 'slipway user create %s'", req.Subject, req.Subject)
		}
		if err != nil {
			return err
		}
		subjectID = u.ID
	}
	g, err := s.Auth.SetGrant(ctx, kind, subjectID, res, role)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": g.ID, "project": pr.Name, "resource": req.Resource,
		"subject": req.Subject, "role": g.Role})
	return nil
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	us, err := s.Auth.ListUsers(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(us))
	return nil
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if err := requireSiteAdmin(p); err != nil {
		return err
	}
	var req struct {
		Name      string `json:"name"`
		Password  string `json:"password"`
		SiteAdmin bool   `json:"site_admin"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := auth.ValidateName("user", req.Name); err != nil {
		return badRequest("%v", err)
	}
	u, err := s.Auth.CreateUser(r.Context(), req.Name, req.Password, req.SiteAdmin)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, u)
	return nil
}

// tokenUser is the user a token request is about: the caller, or for site
// admins anyone named with ?user= or "user".
func (s *Server) tokenUser(ctx context.Context, p *auth.Principal, name string) (string, error) {
	if name == "" || name == p.Name {
		return p.UserID, nil
	}
	if err := requireSiteAdmin(p); err != nil {
		return "", err
	}
	u, err := s.Auth.UserByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return "", &notFound{"user " + name}
	}
	if err != nil {
		return "", err
	}
	return u.ID, nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	uid, err := s.tokenUser(r.Context(), p, r.URL.Query().Get("user"))
	if err != nil {
		return err
	}
	ts, err := s.Auth.ListTokens(r.Context(), uid)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(ts))
	return nil
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	var req struct {
		User string `json:"user"`
		Name string `json:"name"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	uid, err := s.tokenUser(r.Context(), p, req.User)
	if err != nil {
		return err
	}
	secret, t, err := s.Auth.CreateToken(r.Context(), uid, req.Name)
	if err != nil {
		return err
	}
	user := req.User
	if user == "" {
		user = p.Name
	}
	writeJSON(w, http.StatusCreated, map[string]any{"token": secret, "id": t.ID, "user": user, "name": t.Name, "created_at": t.CreatedAt})
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	uid, err := s.tokenUser(r.Context(), p, r.URL.Query().Get("user"))
	if err != nil {
		return err
	}
	if err := s.Auth.RevokeToken(r.Context(), uid, r.PathValue("id")); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return &notFound{"token " + r.PathValue("id")}
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listTeams(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ts, err := s.Auth.ListTeams(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(ts))
	return nil
}

func (s *Server) createTeam(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if err := requireSiteAdmin(p); err != nil {
		return err
	}
	var req struct {
		Name string `json:"name"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := auth.ValidateName("team", req.Name); err != nil {
		return badRequest("%v", err)
	}
	t, err := s.Auth.CreateTeam(r.Context(), req.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, t)
	return nil
}

func (s *Server) addMember(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if err := requireSiteAdmin(p); err != nil {
		return err
	}
	ctx := r.Context()
	var req struct {
		User string `json:"user"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	t, err := s.Auth.TeamByName(ctx, r.PathValue("team"))
	if errors.Is(err, store.ErrNotFound) {
		return &notFound{"team " + r.PathValue("team")}
	}
	if err != nil {
		return err
	}
	u, err := s.Auth.UserByName(ctx, req.User)
	if errors.Is(err, store.ErrNotFound) {
		return badRequest("user %q does not exist", req.User)
	}
	if err != nil {
		return err
	}
	if err := s.Auth.AddMember(ctx, t.ID, u.ID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"team": t.Name, "user": u.Name})
	return nil
}

func (s *Server) auditLog(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if err := requireSiteAdmin(p); err != nil {
		return err
	}
	limit, err := intParam(r, "limit", 100)
	if err != nil {
		return err
	}
	before, err := intParam(r, "before", 0)
	if err != nil {
		return err
	}
	// actor is matched whole, action as text it holds (see auth.AuditQuery).
	q := r.URL.Query()
	es, err := s.Auth.AuditLog(r.Context(), auth.AuditQuery{Limit: limit, Before: int64(before),
		Actor: q.Get("actor"), Action: q.Get("action")})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nonNil(es))
	return nil
}

func intParam(r *http.Request, name string, def int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, badRequest("query parameter %s=%q: want a non-negative whole number", name, v)
	}
	return n, nil
}

// nonNil makes empty lists encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
