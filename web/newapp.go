package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/slipway/slipway/client"
)

// nameParameter is the blueprint parameter the application's name fills
// (catalog.NameParameter); the form asks for it as the name.
const nameParameter = "ApplicationName"

// newAppRoutes registers the form that creates an application.
func (c *Console) newAppRoutes(mux *http.ServeMux) {
	mux.Handle("GET /apps/new", c.authed(c.newApp))
	mux.Handle("POST /apps", c.authed(c.createApp))
}

// newAppView is the create-application form: the blueprints to choose
// from, the chosen one's parameters, and what the user typed.
type newAppView struct {
	Project    string
	Blueprints []client.Blueprint
	// Blueprint is the chosen one; nil when the project has none.
	Blueprint *client.Blueprint
	// NameHint says what a name must be, from the blueprint's name
	// parameter.
	NameHint string
	Params   []paramField
	Teams    []client.Team

	Name, Owner, Approvers, TTL string
}

// paramField is one parameter of the chosen blueprint in the form.
type paramField struct {
	client.BlueprintParameter
	// Value is what the field holds: what was typed, else the default.
	Value string
	// Required says the parameter has no default; DefaultValue is the
	// default otherwise.
	Required     bool
	DefaultValue string
}

// newApp shows the form. Choosing a blueprint reloads it with
// ?blueprint=NAME and the values typed so far.
func (c *Console) newApp(w http.ResponseWriter, r *http.Request, s *session) error {
	v, err := c.newAppForm(r, s, r.URL.Query())
	if err != nil {
		return err
	}
	msg := ""
	if want := r.URL.Query().Get("blueprint"); want != "" && (v.Blueprint == nil || v.Blueprint.Name != want) {
		msg = "The project has no blueprint named " + want + "."
	}
	c.renderNewApp(w, r, s, http.StatusOK, v, msg)
	return nil
}

// newAppForm reads the blueprints and teams and fills the form from vals
// (the query, or the posted form).
func (c *Console) newAppForm(r *http.Request, s *session, vals url.Values) (*newAppView, error) {
	ctx := r.Context()
	v := &newAppView{Project: projectOf(r),
		Name:      strings.TrimSpace(vals.Get("name")),
		Owner:     vals.Get("owner"),
		Approvers: strings.TrimSpace(vals.Get("approvers")),
		TTL:       strings.TrimSpace(vals.Get("ttl")),
	}
	bps, err := s.api.Blueprints(ctx, v.Project)
	if err != nil {
		return nil, err
	}
	teams, err := s.api.ListTeams(ctx)
	if err != nil {
		return nil, err
	}
	v.Blueprints, v.Teams = bps, teams
	want := vals.Get("blueprint")
	for i := range bps {
		if bps[i].Name == want || want == "" && i == 0 {
			v.Blueprint = &bps[i]
		}
	}
	if v.Blueprint == nil && len(bps) > 0 && want != "" {
		// An unknown name (a stale link): show the first one's form
		// rather than none.
		v.Blueprint = &bps[0]
	}
	if v.Blueprint == nil {
		return v, nil
	}
	for _, p := range v.Blueprint.Parameters {
		if p.Name == nameParameter {
			v.NameHint = p.ConstraintDescription
			continue
		}
		f := paramField{BlueprintParameter: p, Required: p.Default == nil}
		if p.Default != nil {
			f.DefaultValue = *p.Default
		}
		f.Value = f.DefaultValue
		if typed, ok := vals["param."+p.Name]; ok {
			f.Value = strings.TrimSpace(typed[0])
		}
		v.Params = append(v.Params, f)
	}
	return v, nil
}

func (c *Console) renderNewApp(w http.ResponseWriter, r *http.Request, s *session, status int, v *newAppView, msg string) {
	c.render(w, r, s, status, "newapp", &pageData{Title: "Create an application", Nav: "apps", Project: v.Project,
		Scripts: []string{"newapp.js"}, Error: msg, Body: v})
}

// createApp asks the API for the application and sends the browser to
// its page, which follows it being made. A refusal shows the form again
// with the API's message and what was typed.
func (c *Console) createApp(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	v, err := c.newAppForm(r, s, r.PostForm)
	if err != nil {
		return err
	}
	in := client.CreateAppInput{Name: v.Name, Blueprint: r.PostFormValue("blueprint"), Owner: v.Owner, TTL: v.TTL}
	for _, a := range strings.Split(v.Approvers, ",") {
		if a = strings.TrimSpace(a); a != "" {
			in.Approvers = append(in.Approvers, a)
		}
	}
	// Only the chosen blueprint's parameters are sent. An empty field of
	// a parameter without a default is left out, so the API names it as
	// missing rather than as a bad value.
	if v.Blueprint != nil && v.Blueprint.Name == in.Blueprint {
		for _, f := range v.Params {
			if _, typed := r.PostForm["param."+f.Name]; !typed || f.Value == "" && f.Required {
				continue
			}
			if in.Parameters == nil {
				in.Parameters = map[string]string{}
			}
			in.Parameters[f.Name] = f.Value
		}
	}
	a, err := s.api.CreateApp(r.Context(), v.Project, in)
	if err != nil {
		status, msg, err := refusal(err)
		if err != nil {
			return err
		}
		c.log.Info("web: application creation refused", "project", v.Project, "app", in.Name, "status", status, "err", msg)
		c.renderNewApp(w, r, s, status, v, msg)
		return nil
	}
	c.log.Info("web: application creation started", "project", v.Project, "app", a.Name, "blueprint", a.Blueprint)
	http.Redirect(w, r, appURL(a.Name, v.Project, ""), http.StatusSeeOther)
	return nil
}
