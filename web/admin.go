package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/slipway/slipway/client"
)

// auditPage is how many audit entries a page shows.
const auditPage = 50

// adminRoutes registers the admin pages.
func (c *Console) adminRoutes(mux *http.ServeMux) {
	mux.Handle("GET /admin", c.authed(c.adminUsers))
	mux.Handle("POST /admin/users", c.authed(c.adminCreateUser))
	mux.Handle("GET /admin/teams", c.authed(c.adminTeams))
	mux.Handle("POST /admin/teams", c.authed(c.adminCreateTeam))
	mux.Handle("POST /admin/teams/members", c.authed(c.adminAddMember))
	mux.Handle("GET /admin/roles", c.authed(c.adminRoles))
	mux.Handle("POST /admin/roles", c.authed(c.adminGrant))
	mux.Handle("POST /admin/roles/{id}/revoke", c.authed(c.adminRevoke))
	mux.Handle("GET /admin/audit", c.authed(c.adminAudit))
}

// adminView is one section of the administration pages.
type adminView struct {
	// Section is users, teams, roles or audit.
	Section string
	// SiteAdmin says the user may create users and teams.
	SiteAdmin bool
	// Refused is why the API would not show the section's list.
	Refused string

	Users []client.User
	Teams []client.Team
	Form  adminForm

	// Roles: the project, those the user can read, its grants.
	Project  string
	Projects []client.Project
	Grants   []client.Grant
	Roles    []string

	// Audit: the filters, the entries, and the URLs of the older page and
	// of the newest (when this is an older one).
	Actor, Action string
	Entries       []auditRow
	Before        int64
	Older, Newest string
}

// adminForm keeps what was typed in a refused form (never a password).
type adminForm struct {
	Name      string
	SiteAdmin bool
	Team      string
	User      string
	Subject   string
	Resource  string
	Role      string
}

// auditRow is one audit entry; its outcome shows as a status.
type auditRow struct{ client.AuditEntry }

// Kind is the outcome's status class.
func (e auditRow) Kind() string {
	if e.Outcome == "success" {
		return "ok"
	}
	return "bad"
}

// Symbol stands beside the outcome's word.
func (e auditRow) Symbol() string {
	if e.Outcome == "success" {
		return "✓"
	}
	return "✗"
}

func (c *Console) renderAdmin(w http.ResponseWriter, r *http.Request, s *session, status int, v *adminView, msg string) {
	titles := map[string]string{"users": "Users", "teams": "Teams", "roles": "Roles", "audit": "Audit log"}
	d := &pageData{Title: titles[v.Section] + " · Administration", Nav: "admin", Error: msg, Body: v}
	if v.Section == "roles" {
		d.Project = v.Project
	}
	c.render(w, r, s, status, "admin", d)
}

// usersAndMe reads the users, and whether the signed-in user is a site
// admin (who gets the forms that make users and teams).
func usersAndMe(r *http.Request, s *session) (users []client.User, siteAdmin bool, err error) {
	me, err := s.me(r.Context())
	if err != nil {
		return nil, false, err
	}
	if users, err = s.api.ListUsers(r.Context()); err != nil {
		return nil, me.SiteAdmin, err
	}
	return users, me.SiteAdmin, nil
}

func (c *Console) adminUsers(w http.ResponseWriter, r *http.Request, s *session) error {
	return c.usersPage(w, r, s, http.StatusOK, adminForm{}, "")
}

func (c *Console) usersPage(w http.ResponseWriter, r *http.Request, s *session, status int, form adminForm, msg string) error {
	v := &adminView{Section: "users", Form: form}
	var err error
	if v.Users, v.SiteAdmin, err = usersAndMe(r, s); err != nil {
		if _, v.Refused, err = refusal(err); err != nil {
			return err
		}
	}
	c.renderAdmin(w, r, s, status, v, msg)
	return nil
}

// adminCreateUser creates a user (site admins; the API says who may).
// The password is never shown again, even when the API refuses.
func (c *Console) adminCreateUser(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	form := adminForm{Name: strings.TrimSpace(r.PostFormValue("name")), SiteAdmin: r.PostFormValue("site_admin") != ""}
	u, err := s.api.CreateUser(r.Context(), form.Name, r.PostFormValue("password"), form.SiteAdmin)
	if err != nil {
		status, msg, err := refusal(err)
		if err != nil {
			return err
		}
		c.log.Info("web: user creation refused", "user", form.Name, "status", status, "err", msg)
		return c.usersPage(w, r, s, status, form, msg)
	}
	c.log.Info("web: user created", "user", u.Name, "site_admin", u.SiteAdmin)
	http.Redirect(w, r, "/admin", http.StatusSeeOther)
	return nil
}

func (c *Console) adminTeams(w http.ResponseWriter, r *http.Request, s *session) error {
	return c.teamsPage(w, r, s, http.StatusOK, adminForm{}, "")
}

func (c *Console) teamsPage(w http.ResponseWriter, r *http.Request, s *session, status int, form adminForm, msg string) error {
	v := &adminView{Section: "teams", Form: form}
	var err error
	// The add-member form offers the users by name.
	if v.Users, v.SiteAdmin, err = usersAndMe(r, s); err != nil {
		if _, _, err = refusal(err); err != nil {
			return err
		}
	}
	if v.Teams, err = s.api.ListTeams(r.Context()); err != nil {
		if _, v.Refused, err = refusal(err); err != nil {
			return err
		}
	}
	c.renderAdmin(w, r, s, status, v, msg)
	return nil
}

func (c *Console) adminCreateTeam(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if _, err := s.api.CreateTeam(r.Context(), name); err != nil {
		status, msg, err := refusal(err)
		if err != nil {
			return err
		}
		c.log.Info("web: team creation refused", "team", name, "status", status, "err", msg)
		return c.teamsPage(w, r, s, status, adminForm{Name: name}, msg)
	}
	c.log.Info("web: team created", "team", name)
	http.Redirect(w, r, "/admin/teams", http.StatusSeeOther)
	return nil
}

func (c *Console) adminAddMember(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	form := adminForm{Team: r.PostFormValue("team"), User: strings.TrimSpace(r.PostFormValue("user"))}
	if err := s.api.AddMember(r.Context(), form.Team, form.User); err != nil {
		status, msg, err := refusal(err)
		if err != nil {
			return err
		}
		c.log.Info("web: adding a team member refused", "team", form.Team, "user", form.User, "status", status, "err", msg)
		return c.teamsPage(w, r, s, status, form, msg)
	}
	c.log.Info("web: team member added", "team", form.Team, "user", form.User)
	http.Redirect(w, r, "/admin/teams", http.StatusSeeOther)
	return nil
}

// rolesURL is the roles page of a project.
func rolesURL(project string) string {
	if project == "" || project == defaultProject {
		return "/admin/roles"
	}
	return "/admin/roles?project=" + url.QueryEscape(project)
}

func (c *Console) adminRoles(w http.ResponseWriter, r *http.Request, s *session) error {
	return c.rolesPage(w, r, s, http.StatusOK, adminForm{Resource: "project", Role: "read"}, "")
}

// rolesPage shows a project's grants. Only the project's admins may list
// them; anyone else sees the API's refusal, and the form still, since an
// admin of one resource may grant roles on it.
func (c *Console) rolesPage(w http.ResponseWriter, r *http.Request, s *session, status int, form adminForm, msg string) error {
	ctx := r.Context()
	v := &adminView{Section: "roles", Project: projectOf(r), Form: form, Roles: []string{"read", "write", "approve", "admin"}}
	var err error
	if v.Projects, err = s.api.ListProjects(ctx); err != nil {
		return err
	}
	if v.Grants, err = s.api.ListGrants(ctx, v.Project); err != nil {
		if _, v.Refused, err = refusal(err); err != nil {
			return err
		}
	}
	c.renderAdmin(w, r, s, status, v, msg)
	return nil
}

func (c *Console) adminGrant(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	project := projectOf(r)
	form := adminForm{Subject: strings.TrimSpace(r.PostFormValue("subject")),
		Resource: strings.TrimSpace(r.PostFormValue("resource")), Role: r.PostFormValue("role")}
	if form.Resource == "" {
		form.Resource = "project"
	}
	if _, err := s.api.Grant(r.Context(), project, form.Resource, form.Subject, form.Role); err != nil {
		status, msg, err := refusal(err)
		if err != nil {
			return err
		}
		c.log.Info("web: grant refused", "project", project, "subject", form.Subject, "resource", form.Resource, "role", form.Role, "status", status, "err", msg)
		return c.rolesPage(w, r, s, status, form, msg)
	}
	c.log.Info("web: role granted", "project", project, "subject", form.Subject, "resource", form.Resource, "role", form.Role)
	http.Redirect(w, r, rolesURL(project), http.StatusSeeOther)
	return nil
}

func (c *Console) adminRevoke(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	project, id := projectOf(r), r.PathValue("id")
	if err := s.api.RevokeGrant(r.Context(), project, id); err != nil {
		status, msg, err := refusal(err)
		if err != nil {
			return err
		}
		c.log.Info("web: revocation refused", "project", project, "grant", id, "status", status, "err", msg)
		return c.rolesPage(w, r, s, status, adminForm{Resource: "project", Role: "read"}, msg)
	}
	c.log.Info("web: grant revoked", "project", project, "grant", id)
	http.Redirect(w, r, rolesURL(project), http.StatusSeeOther)
	return nil
}

// adminAudit shows the audit log, newest first, a page at a time: the
// page asks for one entry more than it shows to know whether there are
// older ones.
func (c *Console) adminAudit(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	v := &adminView{Section: "audit", Actor: strings.TrimSpace(q.Get("actor")), Action: strings.TrimSpace(q.Get("action"))}
	status, msg := http.StatusOK, ""
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			status, msg = http.StatusBadRequest, "The page asked for is not one of the audit log's."
		}
		v.Before = n
	}
	if status == http.StatusOK {
		es, err := s.api.AuditLog(r.Context(), client.AuditQuery{Limit: auditPage + 1, Before: v.Before, Actor: v.Actor, Action: v.Action})
		if err != nil {
			if _, v.Refused, err = refusal(err); err != nil {
				return err
			}
		}
		if len(es) > auditPage {
			es = es[:auditPage]
			v.Older = auditURL(v.Actor, v.Action, es[len(es)-1].ID)
		}
		if v.Before > 0 {
			v.Newest = auditURL(v.Actor, v.Action, 0)
		}
		for _, e := range es {
			v.Entries = append(v.Entries, auditRow{e})
		}
	}
	c.renderAdmin(w, r, s, status, v, msg)
	return nil
}

// auditURL is a page of the audit log: the entries older than before
// (the newest when 0) that the filters select.
func auditURL(actor, action string, before int64) string {
	q := url.Values{}
	if actor != "" {
		q.Set("actor", actor)
	}
	if action != "" {
		q.Set("action", action)
	}
	if before > 0 {
		q.Set("before", strconv.FormatInt(before, 10))
	}
	if len(q) == 0 {
		return "/admin/audit"
	}
	return "/admin/audit?" + q.Encode()
}
