package api

import (
	"encoding/base64"
	"errors"
	"net/http"
	"path"
	"unicode/utf8"

	"github.com/slipway/slipway/auth"
	"github.com/slipway/slipway/repo"
	"github.com/slipway/slipway/store"
)

// maxBlobJSON is the most of a file the JSON answer of the blob route
// holds; raw=1 streams all of it.
const maxBlobJSON = 1 << 20

// browseError gives the repository browsing errors their status: a
// malformed ref or path is the caller's mistake, a missing one a 404 that
// says what is missing (the caller may read the repository, so naming the
// ref or path tells nothing new).
func browseError(err error) error {
	switch {
	case errors.Is(err, repo.ErrInvalid):
		return badRequest("%v", err)
	case errors.Is(err, store.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: err.Error()}
	}
	return err
}

func (s *Server) repoBranches(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	_, rp, err := s.repoFor(ctx, p, auth.Read, r.PathValue("project"), r.PathValue("name"))
	if err != nil {
		return err
	}
	bs, err := s.Repos.Branches(ctx, rp)
	if err != nil {
		return browseError(err)
	}
	writeJSON(w, http.StatusOK, nonNil(bs))
	return nil
}

func (s *Server) repoCommits(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	_, rp, err := s.repoFor(ctx, p, auth.Read, r.PathValue("project"), r.PathValue("name"))
	if err != nil {
		return err
	}
	limit, err := intParam(r, "limit", repo.DefaultCommits)
	if err != nil {
		return err
	}
	skip, err := intParam(r, "skip", 0)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	page, err := s.Repos.Commits(ctx, rp, q.Get("ref"), q.Get("path"), limit, skip)
	if err != nil {
		return browseError(err)
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (s *Server) repoCommit(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	_, rp, err := s.repoFor(ctx, p, auth.Read, r.PathValue("project"), r.PathValue("name"))
	if err != nil {
		return err
	}
	c, err := s.Repos.Commit(ctx, rp, r.PathValue("sha"))
	if err != nil {
		return browseError(err)
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) repoTree(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	_, rp, err := s.repoFor(ctx, p, auth.Read, r.PathValue("project"), r.PathValue("name"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	t, err := s.Repos.Tree(ctx, rp, q.Get("ref"), q.Get("path"))
	if err != nil {
		return browseError(err)
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

// blobView is a file as the blob route answers it in JSON.
type blobView struct {
	*repo.Blob
	// Encoding says how Content is written: "text" (UTF-8) or "base64"
	// (binary files and text that is not UTF-8).
	Encoding string `json:"encoding"`
	Content  string `json:"content"`
}

// repoBlob answers a file: JSON with its first MiB, or with raw=1 all its
// bytes as a download that no browser renders.
func (s *Server) repoBlob(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	_, rp, err := s.repoFor(ctx, p, auth.Read, r.PathValue("project"), r.PathValue("name"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if raw := q.Get("raw"); raw == "1" || raw == "true" {
		return s.rawBlob(w, r, rp, q.Get("ref"), q.Get("path"))
	}
	b, err := s.Repos.Blob(ctx, rp, q.Get("ref"), q.Get("path"), maxBlobJSON)
	if err != nil {
		return browseError(err)
	}
	v := blobView{Blob: b, Encoding: "base64"}
	content := b.Content
	if b.Truncated {
		// The cut may fall inside a character.
		for i := 0; i < utf8.UTFMax && len(content) > 0; i++ {
			if r, size := utf8.DecodeLastRune(content); r != utf8.RuneError || size > 1 {
				break
			}
			content = content[:len(content)-1]
		}
	}
	if !b.Binary && utf8.Valid(content) {
		v.Encoding, v.Content = "text", string(content)
	} else {
		v.Content = base64.StdEncoding.EncodeToString(b.Content)
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) rawBlob(w http.ResponseWriter, r *http.Request, rp *repo.Repository, ref, file string) error {
	b, rc, err := s.Repos.OpenBlob(r.Context(), rp, ref, file)
	if err != nil {
		return browseError(err)
	}
	w.Header().Set("ETag", `"`+b.ID+`"`)
	defer func() {
		if err := rc.Close(); err != nil {
			s.Log.Warn("repository file download", "repository", rp.ID, "path", b.Path, "err", err)
		}
	}()
	s.sendAttachment(w, r, rc, path.Base(b.Path), "application/octet-stream", b.Size)
	return nil
}
