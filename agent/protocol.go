package agent

import (
	"context"
	"io"
	"time"
)

// Command is one lifecycle event for the agent of one host to run, as
// CodeDeploy's command service hands it out: the event names the command.
type Command struct {
	ID string `json:"id"`
	// Event is the lifecycle event: DownloadBundle, Install, or a hook.
	Event           string `json:"event"`
	DeploymentID    string `json:"deployment_id"`
	ApplicationName string `json:"application_name"`
	GroupName       string `json:"deployment_group_name"`
	GroupID         string `json:"deployment_group_id"`
	// Creator is user, autoscaling or codeDeployRollback.
	Creator  string   `json:"creator"`
	Revision Revision `json:"revision"`
	// FileExistsBehavior is the deployment's default for files the
	// appspec's own setting does not decide.
	FileExistsBehavior string `json:"file_exists_behavior,omitempty"`
	// IgnoreApplicationStopFailures makes failures of ApplicationStop,
	// BeforeBlockTraffic and AfterBlockTraffic count as successes.
	IgnoreApplicationStopFailures bool `json:"ignore_application_stop_failures,omitempty"`
}

// Revision is what a deployment installs: an archive in the artifact store.
type Revision struct {
	Digest     string `json:"digest"`
	Size       int64  `json:"size"`
	BundleType string `json:"bundle_type"`
}

// Command statuses, as the command service has them.
const (
	CommandPending    = "Pending"
	CommandInProgress = "InProgress"
	CommandSucceeded  = "Succeeded"
	CommandFailed     = "Failed"
	// CommandSkipped is a hook the agent had nothing to run for (the first
	// deployment to a host has no revision to stop).
	CommandSkipped = "Skipped"
)

// Diagnostics are a command's outcome details, as CodeDeploy reports them.
type Diagnostics struct {
	ErrorCode  string `json:"error_code"`
	ScriptName string `json:"script_name,omitempty"`
	Message    string `json:"message"`
	LogTail    string `json:"log,omitempty"`
}

// Server is the deployment service as an agent reaches it.
type Server interface {
	// Poll waits up to wait for the host's next command; nil when none came.
	Poll(ctx context.Context, wait time.Duration) (*Command, error)
	// Ack tells the server the agent starts the command. The status it
	// returns is the command's: an agent runs only a command still
	// InProgress (one the server already ended is not run).
	Ack(ctx context.Context, id string) (string, error)
	// Log sends script output of a running command (and keeps the host
	// seen while a long script runs).
	Log(ctx context.Context, id, text string) error
	// Complete reports a command's outcome.
	Complete(ctx context.Context, id, status string, d Diagnostics) error
	// Bundle reads the revision of the command's deployment.
	Bundle(ctx context.Context, id string) (io.ReadCloser, error)
}
