package api

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"time"

	"github.com/slipway/slipway/auth"
	"github.com/slipway/slipway/store"
)

// grantView is a grant as the API shows it: its resource and subject in
// the words granting takes ("project" or "KIND/NAME"; "alice" or
// "team:web").
type grantView struct {
	ID        string    `json:"id"`
	Project   string    `json:"project"`
	Resource  string    `json:"resource"`
	Subject   string    `json:"subject"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

// listGrants lists the grants on a project and on its resources. Only the
// project's admins (and site admins) may: the list says who can do what
// everywhere in the project.
func (s *Server) listGrants(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	pr, err := s.projectFor(ctx, p, auth.Admin, r.PathValue("project"))
	if err != nil {
		return err
	}
	gs, err := s.Auth.ProjectGrants(ctx, pr.ID)
	if err != nil {
		return err
	}
	names, err := s.resourceNames(ctx, pr.ID)
	if err != nil {
		return err
	}
	out := make([]grantView, 0, len(gs))
	for _, g := range gs {
		out = append(out, viewGrant(pr.Name, g, names))
	}
	// The project's own grants first, then by resource and subject.
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.Resource == "project") != (b.Resource == "project") {
			return a.Resource == "project"
		}
		if a.Resource != b.Resource {
			return a.Resource < b.Resource
		}
		return a.Subject < b.Subject
	})
	writeJSON(w, http.StatusOK, out)
	return nil
}

// revokeGrant deletes one grant of the project. Whoever may grant on its
// resource (its admins, the project's, site admins) may revoke it.
func (s *Server) revokeGrant(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	pr, err := s.project(ctx, r.PathValue("project"))
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	missing := &notFound{"grant " + id}
	g, err := s.Auth.GrantByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && g.ProjectID != pr.ID {
		return missing
	}
	if err != nil {
		return err
	}
	res := auth.Resource{Kind: g.ResourceKind, ID: g.ResourceID, ProjectID: g.ProjectID}
	if err := s.Auth.Authorize(ctx, p, auth.Admin, res); err != nil {
		if errors.Is(err, auth.ErrHidden) {
			return missing
		}
		return err
	}
	if err := s.Auth.DeleteGrant(ctx, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return missing
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// resourceNames maps "KIND/ID" to "KIND/NAME" for the project's resources
// that grants can name.
func (s *Server) resourceNames(ctx context.Context, projectID string) (map[string]string, error) {
	names := map[string]string{}
	repos, err := s.Repos.List(ctx, projectID)
	if err != nil {
		return nil, err
	}
	for _, rp := range repos {
		names["repo/"+rp.ID] = "repo/" + rp.Name
	}
	pipes, err := s.Pipelines.List(ctx, projectID)
	if err != nil {
		return nil, err
	}
	for _, pl := range pipes {
		names["pipeline/"+pl.ID] = "pipeline/" + pl.Name
	}
	apps, err := s.Apps.List(ctx, projectID)
	if err != nil {
		return nil, err
	}
	for _, a := range apps {
		names["app/"+a.ID] = "app/" + a.Name
	}
	return names, nil
}

func viewGrant(project string, g auth.ProjectGrant, names map[string]string) grantView {
	v := grantView{ID: g.ID, Project: project, Role: string(g.Role), CreatedAt: g.CreatedAt, Subject: g.SubjectName}
	switch {
	case g.ResourceKind == "project":
		v.Resource = "project"
	case names[g.ResourceKind+"/"+g.ResourceID] != "":
		v.Resource = names[g.ResourceKind+"/"+g.ResourceID]
	default:
		// A resource gone without its grants: its ID is all there is.
		v.Resource = g.ResourceKind + "/" + g.ResourceID
	}
	if v.Subject == "" {
		v.Subject = g.SubjectID
	}
	if g.SubjectKind == auth.SubjectTeam {
		v.Subject = "team:" + v.Subject
	}
	return v
}
