package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/slipway/slipway/auth"
	"github.com/slipway/slipway/repo"
)

// parseGitPath splits "/git/NAME.git/info/refs" or
// "/git/PROJECT/NAME.git/git-receive-pack" into its parts.
func parseGitPath(path string) (project, name, subpath string, ok bool) {
	rest, ok := strings.CutPrefix(path, "/git/")
	if !ok {
		return "", "", "", false
	}
	segs := strings.Split(rest, "/")
	for i, seg := range segs {
		if base, found := strings.CutSuffix(seg, ".git"); found {
			switch i {
			case 0:
				project = auth.DefaultProject
			case 1:
				if segs[0] == "" {
					return "", "", "", false
				}
				project = segs[0]
			default:
				return "", "", "", false
			}
			return project, base, "/" + strings.Join(segs[i+1:], "/"), base != ""
		}
	}
	return "", "", "", false
}

// gitError answers in plain text, which git shows to its user.
func gitError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="Slipway"`)
	}
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

// git serves Git smart HTTP. Credentials come first, so an anonymous caller
// learns nothing about which repositories exist.
func (s *Server) git(w http.ResponseWriter, r *http.Request) {
	project, name, subpath, ok := parseGitPath(r.URL.Path)
	if !ok {
		gitError(w, http.StatusNotFound, "not a repository URL: use /git/NAME.git or /git/PROJECT/NAME.git")
		return
	}
	service, ok := repo.GitRequest(r, subpath)
	if !ok {
		gitError(w, http.StatusNotFound, "only Git smart HTTP is served here")
		return
	}
	p, err := s.authenticate(r)
	if err != nil || p == nil {
		gitError(w, http.StatusUnauthorized, "authentication required: use any user name and an API token as the password")
		return
	}
	act := auth.Read
	if service == "git-receive-pack" {
		act = auth.Write
	}
	_, rp, err := s.repoFor(r.Context(), p, act, project, name)
	switch {
	case errors.Is(err, auth.ErrForbidden):
		gitError(w, http.StatusForbidden, fmt.Sprintf("permission denied: %s may read %s but not push to it; ask an admin of the repository for the write role", p.Name, name))
		s.audit(r, p, "git push", r.URL.Path, http.StatusForbidden)
		return
	case err != nil && toAPIError(err).Status == http.StatusNotFound:
		gitError(w, http.StatusNotFound, fmt.Sprintf("repository %s not found", name))
		return
	case err != nil:
		s.Log.Error("git access check failed", "repo", name, "err", err)
		gitError(w, http.StatusInternalServerError, "internal error")
		return
	}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	s.Repos.ServeGit(sw, r, rp, service, p.Name)
	if service == "git-receive-pack" && r.Method == http.MethodPost {
		s.audit(r, p, "git push", r.URL.Path, sw.status)
	}
}
