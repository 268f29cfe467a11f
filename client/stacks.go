package client

import (
	"context"
	"fmt"
	"time"
)

// StackInput is what a deploy, plan or change set is made from.
type StackInput struct {
	// TemplateName names the template in error positions (file:line:col).
	TemplateName string `json:"template_name"`
	Template     string `json:"template"`
	// Parameters are the values given: a configuration file's merged with
	// overrides; the template's Defaults apply to the rest.
	Parameters map[string]string `json:"parameters"`
	Tags       map[string]string `json:"tags"`
}

// StackParameter is a parameter value of a stack; NoEcho ones read ****.
type StackParameter struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// StackOutput is a stack output.
type StackOutput struct {
	Key         string `json:"key"`
	Value       string `json:"value"`
	Description string `json:"description,omitempty"`
	ExportName  string `json:"export_name,omitempty"`
}

// Stack is a stack and its status.
type Stack struct {
	ID           string            `json:"id"`
	ProjectID    string            `json:"project_id"`
	Name         string            `json:"name"`
	Status       string            `json:"status"`
	StatusReason string            `json:"status_reason,omitempty"`
	TemplateName string            `json:"template_name,omitempty"`
	Description  string            `json:"description,omitempty"`
	Parameters   []StackParameter  `json:"parameters"`
	Outputs      []StackOutput     `json:"outputs"`
	Tags         map[string]string `json:"tags"`
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
}

// DeployResult is the answer to a deploy: the stack as its operation
// starts, or, with NoUpdates, as it is ("No updates are to be performed.",
// a success).
type DeployResult struct {
	Stack     *Stack `json:"stack"`
	NoUpdates bool   `json:"no_updates"`
}

// StackEvent is one step of a stack operation.
type StackEvent struct {
	// Seq increases with every event; StackEvents(after=Seq) follows on.
	Seq        int64     `json:"seq"`
	Logical    string    `json:"logical_id"`
	PhysicalID string    `json:"physical_id"`
	Type       string    `json:"type"`
	Status     string    `json:"status"`
	Reason     string    `json:"reason,omitempty"`
	At         time.Time `json:"timestamp"`
}

// StackResource is a resource of a stack.
type StackResource struct {
	Logical    string    `json:"logical_id"`
	PhysicalID string    `json:"physical_id"`
	Type       string    `json:"type"`
	Status     string    `json:"status"`
	Reason     string    `json:"reason,omitempty"`
	DependsOn  []string  `json:"depends_on"`
	Modelled   bool      `json:"modelled,omitempty"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Change is one resource change of a plan or change set.
type Change struct {
	// Action is Add, Modify or Remove.
	Action     string `json:"action"`
	Logical    string `json:"logical_id"`
	PhysicalID string `json:"physical_id,omitempty"`
	Type       string `json:"type"`
	// Replacement (Modify only) is True, False or Conditional.
	Replacement string         `json:"replacement,omitempty"`
	Scope       []string       `json:"scope,omitempty"`
	Details     []ChangeDetail `json:"details,omitempty"`
	Modelled    bool           `json:"modelled,omitempty"`
}

// ChangeDetail is one changed property of a Modify.
type ChangeDetail struct {
	Name string `json:"name"`
	// RequiresRecreation is Never, Conditionally or Always.
	RequiresRecreation string `json:"requires_recreation"`
	// Evaluation is Static, or Dynamic when the value is known only once
	// another resource has changed.
	Evaluation string `json:"evaluation"`
}

// ChangeSet is a plan kept for review.
type ChangeSet struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	StackName       string    `json:"stack_name"`
	Type            string    `json:"type"`
	Status          string    `json:"status"`
	ExecutionStatus string    `json:"execution_status"`
	StatusReason    string    `json:"status_reason,omitempty"`
	Changes         []Change  `json:"changes"`
	CreatedAt       time.Time `json:"created_at"`
}

// Export is an exported stack output and the stacks importing it.
type Export struct {
	Name      string   `json:"name"`
	Value     string   `json:"value"`
	StackName string   `json:"stack_name"`
	Importers []string `json:"importing_stacks"`
}

// TemplateParameter describes a template parameter.
type TemplateParameter struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Default is nil when the parameter has none; **** for NoEcho ones.
	Default     *string `json:"default,omitempty"`
	NoEcho      bool    `json:"no_echo,omitempty"`
	Description string  `json:"description,omitempty"`
}

// Validation is what validating a template finds.
type Validation struct {
	Description string              `json:"description,omitempty"`
	Parameters  []TemplateParameter `json:"parameters"`
	Resources   []string            `json:"resources"`
	// Warnings are the resource types the server has no provider for.
	Warnings []string `json:"warnings,omitempty"`
}

func stacksPath(project string) string { return "/api/v1/projects/" + esc(project) + "/stacks" }

func stackPath(project, name string) string { return stacksPath(project) + "/" + esc(name) }

func changeSetPath(project, stack, name string) string {
	return stackPath(project, stack) + "/change-sets/" + esc(name)
}

// ListStacks lists a project's stacks by name.
func (c *Client) ListStacks(ctx context.Context, project string) ([]Stack, error) {
	var out []Stack
	return out, c.Do(ctx, "GET", stacksPath(project), nil, &out)
}

// GetStack returns a stack.
func (c *Client) GetStack(ctx context.Context, project, name string) (*Stack, error) {
	var out Stack
	return &out, c.Do(ctx, "GET", stackPath(project, name), nil, &out)
}

// DeployStack creates the stack or updates it to in. It returns the stack
// as its operation starts, and noUpdates when the stack already had this
// input (nothing to do, a success).
func (c *Client) DeployStack(ctx context.Context, project, name string, in *StackInput) (stack *Stack, noUpdates bool, err error) {
	var out DeployResult
	if err := c.Do(ctx, "PUT", stackPath(project, name), in, &out); err != nil {
		return nil, false, err
	}
	return out.Stack, out.NoUpdates, nil
}

// DeleteStack starts deleting a stack; it is gone once DELETE_COMPLETE.
func (c *Client) DeleteStack(ctx context.Context, project, name string) (*Stack, error) {
	var out Stack
	return &out, c.Do(ctx, "DELETE", stackPath(project, name), nil, &out)
}

// StackEvents returns a stack's events with a Seq after after (0: from the
// start), oldest first, at most limit (0: the server's most, 1000).
func (c *Client) StackEvents(ctx context.Context, project, name string, after int64, limit int) ([]StackEvent, error) {
	var out []StackEvent
	return out, c.Do(ctx, "GET", fmt.Sprintf("%s/events?after=%d&limit=%d", stackPath(project, name), after, limit), nil, &out)
}

// StackResources lists a stack's resources by logical ID.
func (c *Client) StackResources(ctx context.Context, project, name string) ([]StackResource, error) {
	var out []StackResource
	return out, c.Do(ctx, "GET", stackPath(project, name)+"/resources", nil, &out)
}

// PlanStack returns the changes deploying in would make, changing nothing.
func (c *Client) PlanStack(ctx context.Context, project, name string, in *StackInput) ([]Change, error) {
	var out struct {
		Changes []Change `json:"changes"`
	}
	return out.Changes, c.Do(ctx, "POST", stackPath(project, name)+"/plan", in, &out)
}

// SignalResource sends a SUCCESS or FAILURE signal to a resource waiting
// on its CreationPolicy, as cfn-signal does.
func (c *Client) SignalResource(ctx context.Context, project, stack, resource, status, uniqueID string) error {
	return c.Do(ctx, "POST", stackPath(project, stack)+"/signals",
		map[string]string{"resource": resource, "status": status, "unique_id": uniqueID}, nil)
}

// CreateChangeSet plans in against a stack and keeps the plan as change
// set name, replacing one of that name.
func (c *Client) CreateChangeSet(ctx context.Context, project, stack, name string, in *StackInput) (*ChangeSet, error) {
	body := struct {
		Name string `json:"name"`
		*StackInput
	}{name, in}
	var out ChangeSet
	return &out, c.Do(ctx, "POST", stackPath(project, stack)+"/change-sets", body, &out)
}

// ListChangeSets lists a stack's change sets, oldest first.
func (c *Client) ListChangeSets(ctx context.Context, project, stack string) ([]ChangeSet, error) {
	var out []ChangeSet
	return out, c.Do(ctx, "GET", stackPath(project, stack)+"/change-sets", nil, &out)
}

// GetChangeSet returns a change set.
func (c *Client) GetChangeSet(ctx context.Context, project, stack, name string) (*ChangeSet, error) {
	var out ChangeSet
	return &out, c.Do(ctx, "GET", changeSetPath(project, stack, name), nil, &out)
}

// ExecuteChangeSet applies a change set and returns the stack as the
// operation starts.
func (c *Client) ExecuteChangeSet(ctx context.Context, project, stack, name string) (*Stack, error) {
	var out Stack
	return &out, c.Do(ctx, "POST", changeSetPath(project, stack, name)+"/execute", nil, &out)
}

// DeleteChangeSet deletes a change set.
func (c *Client) DeleteChangeSet(ctx context.Context, project, stack, name string) error {
	return c.Do(ctx, "DELETE", changeSetPath(project, stack, name), nil, nil)
}

// ListExports lists a project's exports.
func (c *Client) ListExports(ctx context.Context, project string) ([]Export, error) {
	var out []Export
	return out, c.Do(ctx, "GET", "/api/v1/projects/"+esc(project)+"/exports", nil, &out)
}

// ValidateTemplate checks a template against the server's resource types.
// With non-nil values (even empty), they are bound and checked too.
func (c *Client) ValidateTemplate(ctx context.Context, project, name, body string, values map[string]string) (*Validation, error) {
	var out Validation
	return &out, c.Do(ctx, "POST", "/api/v1/projects/"+esc(project)+"/templates/validate",
		map[string]any{"template_name": name, "template": body, "parameters": values}, &out)
}
