package api

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"

	"github.com/slipway/slipway/artifact"
	"github.com/slipway/slipway/auth"
	"github.com/slipway/slipway/buildsvc"
)

// buildProjectRequest is the body of POST .../build-projects.
type buildProjectRequest struct {
	Name string `json:"name"`
	buildsvc.Settings
}

func asBuildError(err error, what string) error {
	if errors.Is(err, buildsvc.ErrInvalid) {
		return badRequest("%v", err)
	}
	return notFoundAs(err, what)
}

func (s *Server) listBuildProjects(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	ps, err := s.Builds.ListProjects(r.Context(), pr.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ps)
	return nil
}

func (s *Server) createBuildProject(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Write, r.PathValue("project"))
	if err != nil {
		return err
	}
	var req buildProjectRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	bp, err := s.Builds.CreateProject(r.Context(), pr.ID, req.Name, req.Settings)
	if err != nil {
		return asBuildError(err, "build project "+req.Name)
	}
	writeJSON(w, http.StatusCreated, bp)
	return nil
}

func (s *Server) getBuildProject(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	bp, err := s.Builds.GetProject(r.Context(), pr.ID, r.PathValue("name"))
	if err != nil {
		return asBuildError(err, "build project "+r.PathValue("name"))
	}
	writeJSON(w, http.StatusOK, bp)
	return nil
}

func (s *Server) deleteBuildProject(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Write, r.PathValue("project"))
	if err != nil {
		return err
	}
	if err := s.Builds.DeleteProject(r.Context(), pr.ID, r.PathValue("name")); err != nil {
		return asBuildError(err, "build project "+r.PathValue("name"))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// maxSourceUpload bounds an uploaded source archive, as CodeCommit bounds a
// pipeline's source (1 GB).
const maxSourceUpload = 1 << 30

// startBuild starts a build from a repository ({"source": "REPO@REF"}) or
// from a zip archive sent as the body (Content-Type: application/zip).
func (s *Server) startBuild(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	pr, err := s.projectFor(ctx, p, auth.Write, r.PathValue("project"))
	if err != nil {
		return err
	}
	bp, err := s.Builds.GetProject(ctx, pr.ID, r.PathValue("name"))
	if err != nil {
		return asBuildError(err, "build project "+r.PathValue("name"))
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/zip" {
		b, err := s.Builds.StartUpload(ctx, bp, r.Body, p.Name)
		if err != nil {
			if errors.As(err, new(*http.MaxBytesError)) {
				return &Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: "the source archive is larger than 1 GiB"}
			}
			return asBuildError(err, "")
		}
		writeJSON(w, http.StatusCreated, b)
		return nil
	}
	// The route takes an archive of up to maxSourceUpload; JSON stays as
	// small as every other route's.
	r.Body = http.MaxBytesReader(w, r.Body, defaultBodyLimit)
	var req struct {
		Source string `json:"source"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if buildsvc.IsArtifactSource(req.Source) {
		// A digest alone proves nothing about who may read the content.
		return badRequest("source: give REPO@REF, or upload the source as a zip body (Content-Type: application/zip)")
	}
	repoName, _, err := buildsvc.ParseSource(req.Source)
	if err != nil {
		return asBuildError(err, "")
	}
	// The builder must be able to read the source it builds.
	if _, _, err := s.repoFor(ctx, p, auth.Read, pr.Name, repoName); err != nil {
		return err
	}
	b, err := s.Builds.Start(ctx, bp, req.Source, p.Name)
	if err != nil {
		return asBuildError(err, "")
	}
	writeJSON(w, http.StatusCreated, b)
	return nil
}

func (s *Server) listBuilds(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	bp, err := s.Builds.GetProject(r.Context(), pr.ID, r.PathValue("name"))
	if err != nil {
		return asBuildError(err, "build project "+r.PathValue("name"))
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	bs, err := s.Builds.List(r.Context(), bp, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, bs)
	return nil
}

func (s *Server) getBuild(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	b, err := s.Builds.Get(r.Context(), pr.ID, r.PathValue("id"))
	if err != nil {
		return asBuildError(err, "build "+r.PathValue("id"))
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (s *Server) stopBuild(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Write, r.PathValue("project"))
	if err != nil {
		return err
	}
	b, err := s.Builds.Stop(r.Context(), pr.ID, r.PathValue("id"))
	if err != nil {
		return asBuildError(err, "build "+r.PathValue("id"))
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

// buildLogs answers the log from ?offset=N as text/plain, with the build's
// status in X-Build-Status and the offset to ask for next in X-Next-Offset.
func (s *Server) buildLogs(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	var offset int64
	if o := r.URL.Query().Get("offset"); o != "" {
		if offset, err = strconv.ParseInt(o, 10, 64); err != nil || offset < 0 {
			return badRequest("offset %q: want a byte offset (0 or more)", o)
		}
	}
	// The status is read before the log, so a finished status means the
	// log read after it is complete.
	b, err := s.Builds.Get(r.Context(), pr.ID, r.PathValue("id"))
	if err != nil {
		return asBuildError(err, "build "+r.PathValue("id"))
	}
	data, next, err := s.Builds.Log(r.Context(), b.ID, offset, 4<<20)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Build-Status", string(b.Status))
	w.Header().Set("X-Next-Offset", strconv.FormatInt(next, 10))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
	return nil
}

// buildArtifact streams one of a build's artifacts from the artifact
// store, named by its identifier (a secondary artifact) or by its name
// (the primary one), with its digest in X-Artifact-Digest.
func (s *Server) buildArtifact(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	pr, err := s.projectFor(ctx, p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	id, name := r.PathValue("id"), r.PathValue("name")
	b, err := s.Builds.Get(ctx, pr.ID, id)
	if err != nil {
		return asBuildError(err, "build "+id)
	}
	ref := findArtifact(b.Artifacts, name)
	if ref == nil {
		return &notFound{"artifact " + name + " of build " + id}
	}
	if s.Artifacts == nil {
		return errors.New("build artifact: the server has no artifact store")
	}
	rc, info, err := s.Artifacts.Open(ctx, ref.Digest)
	if errors.Is(err, artifact.ErrNotFound) {
		return &notFound{"the stored content of artifact " + name + " of build " + id}
	}
	if err != nil {
		return fmt.Errorf("build %s: open artifact %s: %w", id, name, err)
	}
	defer rc.Close()
	ctype := cmp.Or(mime.TypeByExtension(path.Ext(ref.Name)), "application/octet-stream")
	w.Header().Set("X-Artifact-Digest", info.Digest)
	s.sendAttachment(w, r, rc, path.Base(ref.Name), ctype, info.Size)
	return nil
}

// sendAttachment answers with body as a download named name: a browser
// that opens it anyway neither sniffs nor runs it. A body cut short
// breaks the connection, since the status is sent.
func (s *Server) sendAttachment(w http.ResponseWriter, r *http.Request, body io.Reader, name, ctype string, size int64) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, body); err != nil {
		if r.Context().Err() == nil {
			s.Log.Error("download cut short", "path", r.URL.Path, "err", err)
		}
		panic(http.ErrAbortHandler)
	}
}

// findArtifact is the artifact a download names: by identifier, else the
// primary one by its name.
func findArtifact(refs []buildsvc.ArtifactRef, name string) *buildsvc.ArtifactRef {
	for i := range refs {
		if refs[i].Identifier == name {
			return &refs[i]
		}
	}
	for i := range refs {
		if refs[i].Identifier == "" && refs[i].Name == name {
			return &refs[i]
		}
	}
	return nil
}
