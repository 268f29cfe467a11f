package client

import (
	"context"
	"io"
	"time"
)

// The statuses of an application made from a blueprint.
const (
	AppCreateInProgress = "CREATE_IN_PROGRESS"
	AppCreateComplete   = "CREATE_COMPLETE"
	AppCreateFailed     = "CREATE_FAILED"
	AppDeleteInProgress = "DELETE_IN_PROGRESS"
	AppDeleteFailed     = "DELETE_FAILED"
)

// App is an application made from a blueprint: its pipeline stack (the
// repository, build project, deployment application and pipeline) and
// the environments its pipeline deploys. (Application is CodeDeploy's.)
type App struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id"`
	Name      string `json:"name"`
	Blueprint string `json:"blueprint"`
	// Parameters are the values the pipeline template was given,
	// ApplicationName included.
	Parameters   map[string]string `json:"parameters"`
	Owner        string            `json:"owner,omitempty"`
	Approvers    []string          `json:"approvers"`
	Status       string            `json:"status"`
	StatusReason string            `json:"status_reason,omitempty"`
	Creator      string            `json:"creator"`
	// ExpiresAt is when a preview application is deleted by itself.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	PipelineStack string `json:"pipeline_stack"`
	Repository    string `json:"repository,omitempty"`
	CloneURL      string `json:"clone_url,omitempty"`
	Pipeline      string `json:"pipeline,omitempty"`
	// Stages are the pipeline's stages, in order.
	Stages []string `json:"stages"`
	// Environments are in the pipeline's order; listings leave them out.
	Environments    []AppEnvironment `json:"environments"`
	LatestExecution *AppExecution    `json:"latest_execution,omitempty"`
}

// AppEnvironment is one environment of an application: a stack its
// pipeline deploys.
type AppEnvironment struct {
	// Name is the stack's name without the application's: staging.
	Name  string `json:"name"`
	Stack string `json:"stack"`
	// Status is the stack's, or NOT_CREATED before the pipeline first
	// deploys it.
	Status string `json:"status"`
	URL    string `json:"url,omitempty"`
	// Stage is the pipeline stage that deploys it.
	Stage string `json:"stage"`
	// Revision is the commit the environment runs: that of the newest
	// execution that got past Stage. Empty until one has.
	Revision  string `json:"revision,omitempty"`
	Execution string `json:"execution,omitempty"`
	// Instances counts the environment's instances; nil while it has
	// none.
	Instances *AppInstances `json:"instances,omitempty"`
}

// AppInstances counts an environment's instances that are not
// terminated.
type AppInstances struct {
	Groups    []string `json:"groups"`
	Total     int      `json:"total"`
	InService int      `json:"in_service"`
	Healthy   int      `json:"healthy"`
}

// AppExecution summarises the newest execution of an application's
// pipeline.
type AppExecution struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	// Stage is where it is, or where it ended.
	Stage   string `json:"stage,omitempty"`
	Trigger string `json:"trigger"`
	// Commit is the source revision it runs.
	Commit string `json:"commit,omitempty"`
}

// CreateAppInput asks for an application made from a blueprint.
type CreateAppInput struct {
	Name      string `json:"name"`
	Blueprint string `json:"blueprint"`
	// Parameters are the blueprint's, ApplicationName excepted (it is
	// Name); absent ones take their defaults.
	Parameters map[string]string `json:"parameters,omitempty"`
	// Owner is a team, which gets admin on the application.
	Owner string `json:"owner,omitempty"`
	// Approvers (users, or team:NAME) get the approve role on the pipeline.
	Approvers []string `json:"approvers,omitempty"`
	// TTL (a Go duration such as 24h) makes a preview application, deleted
	// by itself once it has passed.
	TTL string `json:"ttl,omitempty"`
}

// BlueprintParameter is a parameter of a blueprint.
type BlueprintParameter struct {
	Name                  string   `json:"name"`
	Description           string   `json:"description,omitempty"`
	Default               *string  `json:"default,omitempty"`
	AllowedValues         []string `json:"allowed_values,omitempty"`
	Pattern               string   `json:"pattern,omitempty"`
	ConstraintDescription string   `json:"constraint_description,omitempty"`
}

// Blueprint is an application environment as files: a pipeline template,
// its parameters and starter content.
type Blueprint struct {
	Name        string               `json:"name"`
	Description string               `json:"description"`
	Parameters  []BlueprintParameter `json:"parameters"`
	// Pipeline is the pipeline template's path in the blueprint.
	Pipeline string `json:"pipeline"`
	// Content is the starter content's directory in the blueprint.
	Content string `json:"content"`
	// Files are the starter content's files (Blueprint only).
	Files []string `json:"files,omitempty"`
	// Source is built-in, directory, or repo NAME@COMMIT[:DIR].
	Source    string    `json:"source"`
	Digest    string    `json:"digest,omitempty"`
	CreatedBy string    `json:"created_by,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

func appsPath(project string) string { return "/api/v1/projects/" + esc(project) + "/apps" }

func blueprintsPath(project string) string { return "/api/v1/projects/" + esc(project) + "/blueprints" }

// CreateApp records an application and starts making it; it comes back
// CREATE_IN_PROGRESS.
func (c *Client) CreateApp(ctx context.Context, project string, in CreateAppInput) (*App, error) {
	var out App
	return &out, c.Do(ctx, "POST", appsPath(project), in, &out)
}

// App returns an application with its environments and its pipeline's
// latest execution.
func (c *Client) App(ctx context.Context, project, name string) (*App, error) {
	var out App
	return &out, c.Do(ctx, "GET", appsPath(project)+"/"+esc(name), nil, &out)
}

// Apps lists the project's applications the caller can read, by name.
func (c *Client) Apps(ctx context.Context, project string) ([]App, error) {
	var out []App
	return out, c.Do(ctx, "GET", appsPath(project), nil, &out)
}

// DeleteApp starts deleting an application: its environments, then its
// pipeline stack. It comes back DELETE_IN_PROGRESS, and is gone once App
// answers not found.
func (c *Client) DeleteApp(ctx context.Context, project, name string) (*App, error) {
	var out App
	return &out, c.Do(ctx, "DELETE", appsPath(project)+"/"+esc(name), nil, &out)
}

// Blueprints lists the built-in blueprints, then the project's.
func (c *Client) Blueprints(ctx context.Context, project string) ([]Blueprint, error) {
	var out []Blueprint
	return out, c.Do(ctx, "GET", blueprintsPath(project), nil, &out)
}

// Blueprint returns a blueprint with its starter content's files.
func (c *Client) Blueprint(ctx context.Context, project, name string) (*Blueprint, error) {
	var out Blueprint
	return &out, c.Do(ctx, "GET", blueprintsPath(project)+"/"+esc(name), nil, &out)
}

// AddBlueprintArchive adds to the project (or replaces there) the
// blueprint in an archive of its directory: a zip, tar or tgz with
// blueprint.yml at its top or in its one directory. The upload is
// streamed, and bounded by ctx only.
func (c *Client) AddBlueprintArchive(ctx context.Context, project string, archive io.Reader) (*Blueprint, error) {
	var out Blueprint
	return &out, c.untimed().Do(ctx, "POST", blueprintsPath(project), RawBody{ContentType: "application/octet-stream", Body: archive}, &out)
}

// AddBlueprintFromRepo adds to the project (or replaces there) the
// blueprint in directory path ("" for the top) of one of its repositories
// at ref ("" for HEAD).
func (c *Client) AddBlueprintFromRepo(ctx context.Context, project, repo, ref, path string) (*Blueprint, error) {
	var out Blueprint
	body := struct {
		Repo string `json:"repo"`
		Ref  string `json:"ref,omitempty"`
		Path string `json:"path,omitempty"`
	}{repo, ref, path}
	return &out, c.Do(ctx, "POST", blueprintsPath(project), body, &out)
}
