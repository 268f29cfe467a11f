package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"
)

// EnvVar is a build project's environment variable.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Type  string `json:"type,omitempty"` // PLAINTEXT, PARAMETER_STORE or SECRETS_MANAGER
}

// BuildEnvironment is where and with what a project's builds run.
type BuildEnvironment struct {
	ComputeType string   `json:"compute_type,omitempty"`
	Image       string   `json:"image,omitempty"`
	Variables   []EnvVar `json:"variables,omitempty"`
}

// BuildCache is a build project's cache setting.
type BuildCache struct {
	Type  string   `json:"type,omitempty"`
	Modes []string `json:"modes,omitempty"`
}

// BuildProject is a build project.
type BuildProject struct {
	ID               string           `json:"id,omitempty"`
	Name             string           `json:"name"`
	Description      string           `json:"description"`
	Environment      BuildEnvironment `json:"environment"`
	TimeoutInMinutes int              `json:"timeout_in_minutes,omitempty"`
	Buildspec        string           `json:"buildspec,omitempty"`
	Cache            BuildCache       `json:"cache"`
	CreatedAt        time.Time        `json:"created_at,omitzero"`
}

// BuildPhase is one phase of a build.
type BuildPhase struct {
	Name    string    `json:"name"`
	Status  string    `json:"status"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end,omitzero"`
	Context string    `json:"context,omitempty"`
}

// BuildArtifact is an artifact a build stored.
type BuildArtifact struct {
	// Identifier names a secondary artifact; it is empty for the primary one.
	Identifier string `json:"identifier,omitempty"`
	Name       string `json:"name"`
	Digest     string `json:"digest"`
	Size       int64  `json:"size"`
}

// Build is one run of a build project.
type Build struct {
	ID           string            `json:"id"`
	BuildProject string            `json:"build_project"`
	Number       int64             `json:"number"`
	Status       string            `json:"status"`
	Source       string            `json:"source"`
	Commit       string            `json:"commit"`
	Initiator    string            `json:"initiator"`
	Phases       []BuildPhase      `json:"phases"`
	Exported     map[string]string `json:"exported"`
	Artifacts    []BuildArtifact   `json:"artifacts"`
	StartedAt    time.Time         `json:"started_at"`
	EndedAt      time.Time         `json:"ended_at,omitzero"`
}

func buildProjectsPath(project string) string {
	return "/api/v1/projects/" + esc(project) + "/build-projects"
}

// CreateBuildProject creates a build project.
func (c *Client) CreateBuildProject(ctx context.Context, project string, bp *BuildProject) (*BuildProject, error) {
	var out BuildProject
	return &out, c.Do(ctx, "POST", buildProjectsPath(project), bp, &out)
}

// ListBuildProjects lists a project's build projects.
func (c *Client) ListBuildProjects(ctx context.Context, project string) ([]BuildProject, error) {
	var out []BuildProject
	return out, c.Do(ctx, "GET", buildProjectsPath(project), nil, &out)
}

// GetBuildProject returns a build project.
func (c *Client) GetBuildProject(ctx context.Context, project, name string) (*BuildProject, error) {
	var out BuildProject
	return &out, c.Do(ctx, "GET", buildProjectsPath(project)+"/"+esc(name), nil, &out)
}

// DeleteBuildProject deletes a build project and its builds.
func (c *Client) DeleteBuildProject(ctx context.Context, project, name string) error {
	return c.Do(ctx, "DELETE", buildProjectsPath(project)+"/"+esc(name), nil, nil)
}

// StartBuildUpload starts a build of a build project from a zip archive of
// a source tree.
func (c *Client) StartBuildUpload(ctx context.Context, project, name string, zip io.Reader) (*Build, error) {
	var out Build
	return &out, c.Do(ctx, "POST", buildProjectsPath(project)+"/"+esc(name)+"/builds", RawBody{ContentType: "application/zip", Body: zip}, &out)
}

// StartBuild starts a build of a build project from source "REPO@REF".
func (c *Client) StartBuild(ctx context.Context, project, name, source string) (*Build, error) {
	var out Build
	return &out, c.Do(ctx, "POST", buildProjectsPath(project)+"/"+esc(name)+"/builds", map[string]string{"source": source}, &out)
}

// ListBuilds lists a build project's builds, newest first.
func (c *Client) ListBuilds(ctx context.Context, project, name string) ([]Build, error) {
	var out []Build
	return out, c.Do(ctx, "GET", buildProjectsPath(project)+"/"+esc(name)+"/builds", nil, &out)
}

func buildPath(project, id string) string {
	return "/api/v1/projects/" + esc(project) + "/builds/" + esc(id)
}

// GetBuild returns a build.
func (c *Client) GetBuild(ctx context.Context, project, id string) (*Build, error) {
	var out Build
	return &out, c.Do(ctx, "GET", buildPath(project, id), nil, &out)
}

// StopBuild stops a build.
func (c *Client) StopBuild(ctx context.Context, project, id string) (*Build, error) {
	var out Build
	return &out, c.Do(ctx, "POST", buildPath(project, id)+"/stop", nil, &out)
}

// BuildLog returns a build's log from offset on, the offset to ask for next
// and the build's status when the log was read.
func (c *Client) BuildLog(ctx context.Context, project, id string, offset int64) ([]byte, int64, string, error) {
	path := buildPath(project, id) + "/logs?offset=" + strconv.FormatInt(offset, 10)
	req, err := http.NewRequestWithContext(ctx, "GET", c.BaseURL+path, nil)
	if err != nil {
		return nil, offset, "", err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, offset, "", fmt.Errorf("cannot reach the Slipway server at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		var eb struct {
			Error Error `json:"error"`
		}
		if json.NewDecoder(resp.Body).Decode(&eb) != nil || eb.Error.Message == "" {
			eb.Error = Error{Code: "http_" + resp.Status, Message: fmt.Sprintf("GET %s: %s", path, resp.Status)}
		}
		eb.Error.Status = resp.StatusCode
		return nil, offset, "", &eb.Error
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, offset, "", fmt.Errorf("read build log: %w", err)
	}
	next, err := strconv.ParseInt(resp.Header.Get("X-Next-Offset"), 10, 64)
	if err != nil {
		return nil, offset, "", fmt.Errorf("build log: bad X-Next-Offset %q", resp.Header.Get("X-Next-Offset"))
	}
	return data, next, resp.Header.Get("X-Build-Status"), nil
}

// ArtifactDownload is a build artifact being downloaded: its body, which
// the caller closes, and what the server said of it.
type ArtifactDownload struct {
	Body io.ReadCloser
	// Name is the file name the server suggests.
	Name string
	// Digest is the stored content's ("sha256:HEX"); Size its length,
	// or -1 when the server did not say.
	Digest      string
	Size        int64
	ContentType string
}

// BuildArtifact opens one of a build's artifacts, named by its identifier
// (a secondary artifact) or by its name (the primary one). The download
// is streamed and bounded by ctx only.
func (c *Client) BuildArtifact(ctx context.Context, project, id, name string) (*ArtifactDownload, error) {
	path := buildPath(project, id) + "/artifacts/" + esc(name)
	resp, err := c.download(ctx, path)
	if err != nil {
		return nil, err
	}
	d := &ArtifactDownload{Body: resp.Body, Name: name, Digest: resp.Header.Get("X-Artifact-Digest"),
		Size: resp.ContentLength, ContentType: resp.Header.Get("Content-Type")}
	if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil && params["filename"] != "" {
		d.Name = params["filename"]
	}
	return d, nil
}
