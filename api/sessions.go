package api

import (
	"errors"
	"net/http"

	"github.com/slipway/slipway/auth"
	"github.com/slipway/slipway/store"
)

// consoleTokenName names the tokens sign-in makes: the console keeps one
// in its session cookie, and signing out revokes it.
const consoleTokenName = "console"

// signIn exchanges a user's name and password for an API token. It is the
// one route that takes a password and no token; every failure answers the
// same 401, so it says nothing of which user names exist. It audits
// itself, with the name tried.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	var req struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	status := http.StatusCreated
	defer func() { s.auditAs(r, "user:"+req.Name, "POST /api/v1/sessions", r.URL.Path, status) }()
	u, err := s.Auth.CheckUserPassword(r.Context(), req.Name, req.Password)
	if errors.Is(err, auth.ErrUnauthenticated) {
		status = http.StatusUnauthorized
		return &Error{Status: status, Code: "unauthenticated", Message: "the user name or the password is wrong"}
	}
	if err != nil {
		status = http.StatusInternalServerError
		return err
	}
	secret, t, err := s.Auth.CreateToken(r.Context(), u.ID, consoleTokenName)
	if err != nil {
		status = http.StatusInternalServerError
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"token": secret, "id": t.ID, "user": u.Name, "site_admin": u.SiteAdmin})
	return nil
}

// setPassword sets a user's password: one's own, or as a site admin
// anyone's.
func (s *Server) setPassword(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	name := r.PathValue("name")
	if name != p.Name {
		if err := requireSiteAdmin(p); err != nil {
			return err
		}
	}
	var req struct {
		Password string `json:"password"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	u, err := s.Auth.UserByName(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		return &notFound{"user " + name}
	}
	if err != nil {
		return err
	}
	if err := s.Auth.SetPassword(r.Context(), u.ID, req.Password); errors.Is(err, auth.ErrWeakPassword) {
		return badRequest("password: %v", err)
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
