package web

import (
	"errors"
	"html/template"
	"net/http"
	"strings"
	"sync"

	"github.com/slipway/slipway/client"
)

// wrongPassword is the one message of a refused sign-in.
const wrongPassword = "The user name or the password is wrong."

type loginView struct {
	Name    string
	Next    string
	Message string
}

func (c *Console) loginForm(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, nil, http.StatusOK, "login", &pageData{Title: "Sign in", Login: &loginView{Next: r.URL.Query().Get("next")}})
}

// login exchanges the user's name and password for an API token, kept in
// the session cookie. The password is never echoed or logged.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		c.errorPage(w, r, nil, http.StatusBadRequest, "The form could not be read.")
		return
	}
	name, password, next := strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("password"), r.FormValue("next")
	form := &loginView{Name: name, Next: next}
	sess, err := c.client(r, "").SignIn(r.Context(), name, password)
	if err == nil && (sess.ID == "" || sess.Token == "") {
		err = errors.New("the API's sign-in answer holds no token")
	}
	if err != nil {
		status, msg := apiStatus(err)
		switch status {
		case http.StatusUnauthorized:
			c.log.Info("web: sign-in refused", "user", name)
			form.Message = wrongPassword
		case 0:
			c.log.Error("web: sign-in failed", "user", name, "err", err)
			status, form.Message = http.StatusBadGateway, "Signing in is not possible now: the Slipway API did not answer."
		default:
			c.log.Warn("web: sign-in failed", "user", name, "status", status, "err", msg)
			form.Message = msg
		}
		c.render(w, r, nil, status, "login", &pageData{Title: "Sign in", Login: form})
		return
	}
	c.log.Info("web: signed in", "user", sess.User, "token_id", sess.ID)
	// Signing in again replaces the session: its token is revoked rather
	// than left behind (best effort; it may be gone already).
	if old, ok := c.session(r); ok && old.id != sess.ID {
		if err := old.api.RevokeToken(r.Context(), "", old.id); err != nil {
			c.log.Debug("web: cannot revoke the replaced session's token", "token_id", old.id, "err", err)
		}
	}
	c.setSession(w, sess)
	http.Redirect(w, r, localPath(next), http.StatusSeeOther)
}

// logout revokes the session's token at the API and drops the cookie.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if s, ok := c.session(r); ok {
		if err := s.api.RevokeToken(r.Context(), "", s.id); err != nil {
			if status, _ := apiStatus(err); status != http.StatusUnauthorized && status != http.StatusNotFound {
				c.log.Warn("web: cannot revoke the session's token at sign-out", "token_id", s.id, "err", err)
			}
		}
	}
	c.clearSession(w)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// appRow is one application of the list, with its environments.
type appRow struct {
	Name         string
	Blueprint    string
	Status       string
	StatusReason string
	Envs         []client.AppEnvironment
	Err          string
}

// apps lists a project's applications. The list leaves environments out,
// so each application is read too, a few at a time.
func (c *Console) apps(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	project := projectOf(r)
	list, err := s.api.Apps(ctx, project)
	if err != nil {
		return err
	}
	rows := make([]appRow, len(list))
	errs := make([]error, len(list))
	sem := make(chan struct{}, 6)
	var wg sync.WaitGroup
	for i, a := range list {
		rows[i] = appRow{Name: a.Name, Blueprint: a.Blueprint, Status: a.Status, StatusReason: a.StatusReason}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			full, err := s.api.App(ctx, project, a.Name)
			if err != nil {
				errs[i] = err
				return
			}
			rows[i].Status, rows[i].StatusReason, rows[i].Envs = full.Status, full.StatusReason, full.Environments
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil {
			continue
		}
		status, _ := apiStatus(err)
		if status == http.StatusUnauthorized {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.log.Warn("web: cannot read an application", "project", project, "app", rows[i].Name, "err", err)
		rows[i].Err = "Its environments cannot be read now."
	}
	c.render(w, r, s, http.StatusOK, "apps", &pageData{Title: "Applications", Nav: "apps", Project: project, Apps: rows})
	return nil
}

// app is an application's page.
func (c *Console) app(w http.ResponseWriter, r *http.Request, s *session) error {
	project, name := projectOf(r), r.PathValue("name")
	v, err := c.appView(r.Context(), s, project, name)
	if err != nil {
		return err
	}
	c.renderApp(w, r, s, http.StatusOK, v, "")
	return nil
}

func (c *Console) renderApp(w http.ResponseWriter, r *http.Request, s *session, status int, v *appView, msg string) {
	html, err := c.renderLive(v)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	// The fragment is the template's own output, escaped as it was made.
	v.Fragment, v.Digest = template.HTML(html), digest(html)
	c.render(w, r, s, status, "app", &pageData{Title: v.App.Name, Nav: "apps", Project: v.Project, Live: true, View: v, Error: msg})
}

// decide approves or rejects a manual approval. The API decides whether
// the user may; its refusal shows on the application's page.
func (c *Console) decide(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	ctx := r.Context()
	project, name := projectOf(r), r.PathValue("name")
	d, status, msg := approvalForm(r)
	if status == 0 {
		a, err := s.api.App(ctx, project, name)
		if err != nil {
			return err
		}
		if a.Pipeline == "" {
			status, msg = http.StatusConflict, "The application has no pipeline yet."
		} else if _, err := s.api.DecideApproval(ctx, project, a.Pipeline, d); err != nil {
			if status, msg, err = refusal(err); err != nil {
				return err
			}
			c.log.Info("web: approval refused", "project", project, "app", name, "status", status, "err", msg)
		} else {
			c.log.Info("web: approval decided", "project", project, "app", name, "stage", d.Stage, "action", d.Action, "approved", d.Approved)
			http.Redirect(w, r, appURL(name, project, ""), http.StatusSeeOther)
			return nil
		}
	}
	v, err := c.appView(ctx, s, project, name)
	if err != nil {
		return err
	}
	v.Comment = d.Comment
	c.renderApp(w, r, s, status, v, msg)
	return nil
}

// approvalForm reads an approval form: the decision, or the status and
// message that say what is wrong with the form.
func approvalForm(r *http.Request) (d *client.ApprovalDecision, status int, msg string) {
	d = &client.ApprovalDecision{
		Stage:       r.PostFormValue("stage"),
		Action:      r.PostFormValue("action"),
		ExecutionID: r.PostFormValue("execution"),
		Comment:     strings.TrimSpace(r.PostFormValue("comment")),
	}
	switch r.PostFormValue("decision") {
	case "approve":
		d.Approved = true
	case "reject":
	default:
		return d, http.StatusBadRequest, "Choose Approve or Reject."
	}
	if d.Stage == "" || d.Action == "" {
		return d, http.StatusBadRequest, "The approval's stage and action are missing."
	}
	return d, 0, ""
}

// tokenRow is one of the user's API tokens.
type tokenRow struct {
	client.Token
	// Current is the token of this session.
	Current bool
}

type tokensView struct {
	List []tokenRow
	// Created is a token just made, with its secret, shown this once.
	Created *client.NewToken
}

func (c *Console) tokens(w http.ResponseWriter, r *http.Request, s *session) error {
	return c.tokensPage(w, r, s, http.StatusOK, nil, "")
}

func (c *Console) tokensPage(w http.ResponseWriter, r *http.Request, s *session, status int, created *client.NewToken, msg string) error {
	ts, err := s.api.ListTokens(r.Context(), "")
	if err != nil {
		return err
	}
	v := &tokensView{Created: created}
	for _, t := range ts {
		v.List = append(v.List, tokenRow{Token: t, Current: t.ID == s.id})
	}
	c.render(w, r, s, status, "tokens", &pageData{Title: "API tokens", Nav: "tokens", Tokens: v, Error: msg})
	return nil
}

// createToken makes an API token and shows its secret once.
func (c *Console) createToken(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" {
		return c.tokensPage(w, r, s, http.StatusBadRequest, nil, "Give the token a name.")
	}
	t, err := s.api.CreateToken(r.Context(), "", name)
	if err != nil {
		status, msg, err := refusal(err)
		if err != nil {
			return err
		}
		return c.tokensPage(w, r, s, status, nil, msg)
	}
	c.log.Info("web: token created", "token_id", t.ID, "name", t.Name)
	return c.tokensPage(w, r, s, http.StatusCreated, t, "")
}

// revokeToken revokes one of the user's tokens; revoking this session's
// signs the user out.
func (c *Console) revokeToken(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	if err := s.api.RevokeToken(r.Context(), "", id); err != nil {
		status, msg, err := refusal(err)
		if err != nil {
			return err
		}
		return c.tokensPage(w, r, s, status, nil, msg)
	}
	c.log.Info("web: token revoked", "token_id", id)
	if id == s.id {
		c.clearSession(w)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil
	}
	http.Redirect(w, r, "/tokens", http.StatusSeeOther)
	return nil
}
