package client

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Application is a CodeDeploy application: the name its deployment
// groups and revisions belong to.
type Application struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	ManagedBy string    `json:"managed_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Revision is an archive in the artifact store a deployment installs.
type Revision struct {
	Digest     string `json:"digest"`
	Size       int64  `json:"size"`
	BundleType string `json:"bundle_type"`
}

// RevisionInfo is a revision registered with an application.
type RevisionInfo struct {
	Revision
	Description  string    `json:"description,omitempty"`
	RegisteredAt time.Time `json:"registered_at"`
}

// MinimumHealthyHosts is a deployment configuration's rule: HOST_COUNT or
// FLEET_PERCENT (MOST_CONCURRENCY for CodeDeployDefault.OneAtATime).
type MinimumHealthyHosts struct {
	Type  string `json:"type"`
	Value int    `json:"value"`
}

// DeploymentConfig is a named MinimumHealthyHosts rule.
type DeploymentConfig struct {
	Name                string              `json:"name"`
	MinimumHealthyHosts MinimumHealthyHosts `json:"minimum_healthy_hosts"`
	Predefined          bool                `json:"predefined,omitempty"`
	ManagedBy           string              `json:"managed_by,omitempty"`
}

// TagFilter selects on-premises hosts by a tag.
type TagFilter struct {
	Key   string `json:"key,omitempty"`
	Value string `json:"value,omitempty"`
	// Type is KEY_ONLY, VALUE_ONLY or KEY_AND_VALUE.
	Type string `json:"type,omitempty"`
}

// AutoRollback is a group's (or one deployment's) automatic rollback
// setting; Events are DEPLOYMENT_FAILURE, DEPLOYMENT_STOP_ON_REQUEST and
// DEPLOYMENT_STOP_ON_ALARM.
type AutoRollback struct {
	Enabled bool     `json:"enabled"`
	Events  []string `json:"events,omitempty"`
}

// DeploymentGroup is an application's deployment group.
type DeploymentGroup struct {
	ID                        string       `json:"id"`
	Application               string       `json:"application"`
	Name                      string       `json:"name"`
	Config                    string       `json:"deployment_config_name"`
	AutoScalingGroups         []string     `json:"auto_scaling_groups,omitempty"`
	TagFilters                []TagFilter  `json:"on_premises_tag_filters,omitempty"`
	TargetGroups              []string     `json:"target_groups,omitempty"`
	AutoRollback              AutoRollback `json:"auto_rollback"`
	DeploymentType            string       `json:"deployment_type"`
	DeploymentOption          string       `json:"deployment_option"`
	OutdatedInstancesStrategy string       `json:"outdated_instances_strategy,omitempty"`
	ServiceRole               string       `json:"service_role_arn,omitempty"`
	// TargetRevision is the revision the last successful deployment left.
	TargetRevision *Revision `json:"target_revision,omitempty"`
	LastSuccess    string    `json:"last_successful_deployment,omitempty"`
	ManagedBy      string    `json:"managed_by,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
}

// DeploymentOptions are a deployment's own settings, and the group's
// fixed when it was created.
type DeploymentOptions struct {
	Description                   string              `json:"description,omitempty"`
	FileExistsBehavior            string              `json:"file_exists_behavior,omitempty"`
	AutoRollback                  *AutoRollback       `json:"auto_rollback,omitempty"`
	IgnoreApplicationStopFailures bool                `json:"ignore_application_stop_failures,omitempty"`
	Instances                     []string            `json:"instances,omitempty"`
	ConfigRule                    MinimumHealthyHosts `json:"config_rule"`
	TrafficControl                bool                `json:"traffic_control,omitempty"`
	TargetGroups                  []string            `json:"target_groups,omitempty"`
}

// RollbackInfo links a rollback and the deployment it undid.
type RollbackInfo struct {
	RollbackDeploymentID           string `json:"rollback_deployment_id,omitempty"`
	RollbackTriggeringDeploymentID string `json:"rollback_triggering_deployment_id,omitempty"`
	RollbackMessage                string `json:"rollback_message,omitempty"`
}

// DeploymentOverview counts a deployment's instances by status.
type DeploymentOverview struct {
	Pending    int `json:"Pending"`
	InProgress int `json:"InProgress"`
	Succeeded  int `json:"Succeeded"`
	Failed     int `json:"Failed"`
	Skipped    int `json:"Skipped"`
}

// Deployment is one deployment of a revision to a deployment group.
type Deployment struct {
	ID           string             `json:"id"`
	Application  string             `json:"application"`
	Group        string             `json:"deployment_group"`
	Config       string             `json:"deployment_config_name"`
	Status       string             `json:"status"`
	Creator      string             `json:"creator"`
	CreatedBy    string             `json:"created_by,omitempty"`
	Revision     Revision           `json:"revision"`
	Options      DeploymentOptions  `json:"options"`
	ErrorCode    string             `json:"error_code,omitempty"`
	ErrorMessage string             `json:"error_message,omitempty"`
	Rollback     RollbackInfo       `json:"rollback_info"`
	Overview     DeploymentOverview `json:"overview"`
	CreatedAt    time.Time          `json:"created_at"`
	StartedAt    time.Time          `json:"started_at,omitzero"`
	EndedAt      time.Time          `json:"ended_at,omitzero"`
}

// Done reports whether the deployment has ended.
func (d *Deployment) Done() bool {
	return d.Status == "Succeeded" || d.Status == "Failed" || d.Status == "Stopped"
}

// AgentDiagnostics are a lifecycle event's outcome details, as CodeDeploy
// reports them.
type AgentDiagnostics struct {
	ErrorCode  string `json:"error_code"`
	ScriptName string `json:"script_name,omitempty"`
	Message    string `json:"message"`
	LogTail    string `json:"log,omitempty"`
}

// LifecycleEvent is one lifecycle event of one instance in a deployment.
type LifecycleEvent struct {
	Name        string            `json:"name"`
	Status      string            `json:"status"`
	StartedAt   time.Time         `json:"started_at,omitzero"`
	EndedAt     time.Time         `json:"ended_at,omitzero"`
	Diagnostics *AgentDiagnostics `json:"diagnostics,omitempty"`
}

// DeploymentTarget is one instance (or on-premises host) of a deployment.
// (Target is a load balancer's.)
type DeploymentTarget struct {
	InstanceID string           `json:"instance_id"`
	Status     string           `json:"status"`
	Events     []LifecycleEvent `json:"lifecycle_events"`
	StartedAt  time.Time        `json:"started_at,omitzero"`
	EndedAt    time.Time        `json:"ended_at,omitzero"`
}

// LogChunk is a piece of an instance's script output in a deployment.
type LogChunk struct {
	Seq   int64  `json:"seq"`
	Event string `json:"event"`
	Text  string `json:"text"`
}

// DeploymentLogs are chunks of an instance's script output, with the
// deployment's status read before them: once it has ended, no chunk comes
// after these.
type DeploymentLogs struct {
	Status string     `json:"deployment_status"`
	Chunks []LogChunk `json:"chunks"`
}

// Host is an on-premises instance: a host a standalone agent serves.
type Host struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	Tags         map[string]string `json:"tags"`
	RegisteredBy string            `json:"registered_by"`
	RegisteredAt time.Time         `json:"registered_at"`
	Revoked      bool              `json:"revoked,omitempty"`
	LastSeen     time.Time         `json:"last_seen,omitzero"`
}

// HostRegistration is a newly registered host with its agent's
// credential, which is shown this once.
type HostRegistration struct {
	Host  Host   `json:"host"`
	Token string `json:"token"`
}

// CreateDeploymentInput asks for a deployment.
type CreateDeploymentInput struct {
	Application string `json:"application"`
	Group       string `json:"deployment_group"`
	// Revision is the digest of a revision registered with Application.
	Revision                      string `json:"revision"`
	Description                   string `json:"description,omitempty"`
	FileExistsBehavior            string `json:"file_exists_behavior,omitempty"`
	IgnoreApplicationStopFailures bool   `json:"ignore_application_stop_failures,omitempty"`
	// AutoRollback overrides the group's when set.
	AutoRollback *AutoRollback `json:"auto_rollback,omitempty"`
}

// AgentCommand is one lifecycle event for an agent to run.
type AgentCommand struct {
	ID                            string   `json:"id"`
	Event                         string   `json:"event"`
	DeploymentID                  string   `json:"deployment_id"`
	ApplicationName               string   `json:"application_name"`
	GroupName                     string   `json:"deployment_group_name"`
	GroupID                       string   `json:"deployment_group_id"`
	Creator                       string   `json:"creator"`
	Revision                      Revision `json:"revision"`
	FileExistsBehavior            string   `json:"file_exists_behavior,omitempty"`
	IgnoreApplicationStopFailures bool     `json:"ignore_application_stop_failures,omitempty"`
}

// AgentIdentity is who an agent's credential names.
type AgentIdentity struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Kind is "on-premises" or "instance".
	Kind string            `json:"kind"`
	Tags map[string]string `json:"tags,omitempty"`
}

func applicationPath(project, app string) string {
	return "/api/v1/projects/" + esc(project) + "/applications/" + esc(app)
}

func deploymentPath(project, id string) string {
	return "/api/v1/projects/" + esc(project) + "/deployments/" + esc(id)
}

func hostsPath(project string) string {
	return "/api/v1/projects/" + esc(project) + "/on-premises-instances"
}

// untimed is c without its client-wide timeout: long polls, uploads and
// downloads may take longer, and only their context bounds them.
func (c *Client) untimed() *Client {
	hc := http.Client{}
	if c.HTTP != nil {
		hc = *c.HTTP
	}
	hc.Timeout = 0
	cc := *c
	cc.HTTP = &hc
	return &cc
}

// Applications lists the project's applications.
func (c *Client) Applications(ctx context.Context, project string) ([]Application, error) {
	var out []Application
	return out, c.Do(ctx, "GET", "/api/v1/projects/"+esc(project)+"/applications", nil, &out)
}

// CreateApplication creates an application.
func (c *Client) CreateApplication(ctx context.Context, project, name string) (*Application, error) {
	var out Application
	return &out, c.Do(ctx, "POST", "/api/v1/projects/"+esc(project)+"/applications", map[string]string{"name": name}, &out)
}

// Application returns an application.
func (c *Client) Application(ctx context.Context, project, name string) (*Application, error) {
	var out Application
	return &out, c.Do(ctx, "GET", applicationPath(project, name), nil, &out)
}

// DeleteApplication deletes an application with its deployment groups and
// revisions.
func (c *Client) DeleteApplication(ctx context.Context, project, name string) error {
	return c.Do(ctx, "DELETE", applicationPath(project, name), nil, nil)
}

// DeploymentGroups lists an application's deployment groups.
func (c *Client) DeploymentGroups(ctx context.Context, project, app string) ([]DeploymentGroup, error) {
	var out []DeploymentGroup
	return out, c.Do(ctx, "GET", applicationPath(project, app)+"/deployment-groups", nil, &out)
}

// DeploymentGroup returns one deployment group of an application.
func (c *Client) DeploymentGroup(ctx context.Context, project, app, name string) (*DeploymentGroup, error) {
	var out DeploymentGroup
	return &out, c.Do(ctx, "GET", applicationPath(project, app)+"/deployment-groups/"+esc(name), nil, &out)
}

// Revisions lists an application's registered revisions, newest first.
func (c *Client) Revisions(ctx context.Context, project, app string) ([]RevisionInfo, error) {
	var out []RevisionInfo
	return out, c.Do(ctx, "GET", applicationPath(project, app)+"/revisions", nil, &out)
}

// UploadRevision uploads an archive (zip, tar or tgz, sent as
// contentType) and registers it with the application. The upload is
// streamed, and bounded by ctx only.
func (c *Client) UploadRevision(ctx context.Context, project, app, contentType string, archive io.Reader, description string) (*RevisionInfo, error) {
	var out RevisionInfo
	path := applicationPath(project, app) + "/revisions?description=" + url.QueryEscape(description)
	return &out, c.untimed().Do(ctx, "POST", path, RawBody{ContentType: contentType, Body: archive}, &out)
}

// DeploymentConfigs lists the predefined deployment configurations and the
// project's own.
func (c *Client) DeploymentConfigs(ctx context.Context, project string) ([]DeploymentConfig, error) {
	var out []DeploymentConfig
	return out, c.Do(ctx, "GET", "/api/v1/projects/"+esc(project)+"/deployment-configs", nil, &out)
}

// CreateDeploymentConfig creates a custom deployment configuration.
func (c *Client) CreateDeploymentConfig(ctx context.Context, project, name string, rule MinimumHealthyHosts) (*DeploymentConfig, error) {
	var out DeploymentConfig
	return &out, c.Do(ctx, "POST", "/api/v1/projects/"+esc(project)+"/deployment-configs",
		map[string]any{"name": name, "minimum_healthy_hosts": rule}, &out)
}

// Deployments lists the project's deployments, newest first, of one
// application and group when named; limit <= 0 means the server's default.
func (c *Client) Deployments(ctx context.Context, project, app, group string, limit int) ([]Deployment, error) {
	q := url.Values{}
	if app != "" {
		q.Set("application", app)
	}
	if group != "" {
		q.Set("group", group)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := "/api/v1/projects/" + esc(project) + "/deployments"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out []Deployment
	return out, c.Do(ctx, "GET", path, nil, &out)
}

// CreateDeployment starts a deployment of a registered revision.
func (c *Client) CreateDeployment(ctx context.Context, project string, in CreateDeploymentInput) (*Deployment, error) {
	var out Deployment
	return &out, c.Do(ctx, "POST", "/api/v1/projects/"+esc(project)+"/deployments", in, &out)
}

// Deployment returns a deployment.
func (c *Client) Deployment(ctx context.Context, project, id string) (*Deployment, error) {
	var out Deployment
	return &out, c.Do(ctx, "GET", deploymentPath(project, id), nil, &out)
}

// StopDeployment asks a running deployment to stop, and to roll back when
// rollback is true.
func (c *Client) StopDeployment(ctx context.Context, project, id string, rollback bool) (*Deployment, error) {
	var out Deployment
	return &out, c.Do(ctx, "POST", deploymentPath(project, id)+"/stop", map[string]bool{"rollback": rollback}, &out)
}

// DeploymentInstances lists a deployment's instances with their lifecycle
// events.
func (c *Client) DeploymentInstances(ctx context.Context, project, id string) ([]DeploymentTarget, error) {
	var out []DeploymentTarget
	return out, c.Do(ctx, "GET", deploymentPath(project, id)+"/instances", nil, &out)
}

// DeploymentLogs returns an instance's script output in a deployment, the
// chunks after seq after.
func (c *Client) DeploymentLogs(ctx context.Context, project, id, instance string, after int64) (*DeploymentLogs, error) {
	var out DeploymentLogs
	path := fmt.Sprintf("%s/logs?instance=%s&after=%d", deploymentPath(project, id), url.QueryEscape(instance), after)
	return &out, c.Do(ctx, "GET", path, nil, &out)
}

// Hosts lists the project's on-premises hosts.
func (c *Client) Hosts(ctx context.Context, project string) ([]Host, error) {
	var out []Host
	return out, c.Do(ctx, "GET", hostsPath(project), nil, &out)
}

// RegisterHost registers an on-premises host; the answer holds its agent's
// credential, which is not shown again.
func (c *Client) RegisterHost(ctx context.Context, project, name string, tags map[string]string) (*HostRegistration, error) {
	var out HostRegistration
	return &out, c.Do(ctx, "POST", hostsPath(project), map[string]any{"name": name, "tags": tags}, &out)
}

// SetHostTags replaces a host's tags.
func (c *Client) SetHostTags(ctx context.Context, project, name string, tags map[string]string) (*Host, error) {
	var out Host
	return &out, c.Do(ctx, "PUT", hostsPath(project)+"/"+esc(name)+"/tags", map[string]any{"tags": tags}, &out)
}

// RevokeHost withdraws a host's agent credential.
func (c *Client) RevokeHost(ctx context.Context, project, name string) error {
	return c.Do(ctx, "DELETE", hostsPath(project)+"/"+esc(name), nil, nil)
}

// The agent methods take the client's token as an agent's credential: an
// on-premises host's or an instance's.

// AgentHost returns who the agent's credential names.
func (c *Client) AgentHost(ctx context.Context) (*AgentIdentity, error) {
	var out AgentIdentity
	return &out, c.Do(ctx, "GET", "/api/v1/agent/host", nil, &out)
}

// agentPollSlack is how much longer than its wait a poll may take before
// the client gives up on the connection.
const agentPollSlack = 30 * time.Second

// AgentPoll waits up to wait (the server may cap it) for the host's next
// command; nil means none came.
func (c *Client) AgentPoll(ctx context.Context, wait time.Duration) (*AgentCommand, error) {
	secs := int(math.Ceil(wait.Seconds()))
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+agentPollSlack)
	defer cancel()
	var out *AgentCommand
	err := c.untimed().Do(ctx, "GET", "/api/v1/agent/commands?wait="+strconv.Itoa(secs), nil, &out)
	return out, err
}

// AgentAck tells the server the agent starts a command, and returns the
// command's status: the agent runs it only while it is InProgress.
func (c *Client) AgentAck(ctx context.Context, id string) (string, error) {
	var out struct {
		Status string `json:"status"`
	}
	err := c.Do(ctx, "POST", "/api/v1/agent/commands/"+esc(id)+"/ack", nil, &out)
	return out.Status, err
}

// AgentLog sends a chunk of a running command's script output (at most
// 1 MiB); an empty one is a heartbeat.
func (c *Client) AgentLog(ctx context.Context, id, text string) error {
	return c.Do(ctx, "POST", "/api/v1/agent/commands/"+esc(id)+"/log",
		RawBody{ContentType: "text/plain; charset=utf-8", Body: strings.NewReader(text)}, nil)
}

// AgentComplete reports a command's outcome: Succeeded, Failed or Skipped.
func (c *Client) AgentComplete(ctx context.Context, id, status string, d AgentDiagnostics) error {
	return c.Do(ctx, "POST", "/api/v1/agent/commands/"+esc(id)+"/complete",
		map[string]any{"status": status, "diagnostics": d}, nil)
}

// AgentBundle opens the revision of a command's deployment, streamed and
// bounded by ctx only. The caller closes it.
func (c *Client) AgentBundle(ctx context.Context, id string) (io.ReadCloser, error) {
	path := "/api/v1/agent/commands/" + esc(id) + "/bundle"
	resp, err := c.download(ctx, path)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// download GETs path for a body that is streamed: bounded by ctx only.
// A 200 answer's body is the caller's to close.
func (c *Client) download(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.BaseURL+path, nil)
	if err != nil {
		return nil, err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.untimed().HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the Slipway server at %s: %w", c.BaseURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, answerError(resp, "GET", path)
	}
	return resp, nil
}
