package client

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// NewUnix returns a client for a server reached through its Unix socket
// at path, as processes inside a local instance reach theirs.
func NewUnix(path, token string) *Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	return &Client{BaseURL: "http://localhost", Token: token, HTTP: &http.Client{Timeout: 60 * time.Second, Transport: tr}}
}

// Instance is a local instance of an instance group.
type Instance struct {
	ID                  string    `json:"id"`
	Group               string    `json:"group"`
	LaunchConfiguration string    `json:"launch_configuration"`
	State               string    `json:"state"`
	Health              string    `json:"health"`
	Reason              string    `json:"reason"`
	Mode                string    `json:"mode"`
	Description         string    `json:"description"`
	Port                int       `json:"port"`
	LaunchedAt          time.Time `json:"launched_at"`
	InServiceAt         time.Time `json:"in_service_at"`
	EndedAt             time.Time `json:"ended_at"`
}

// InstanceGroup is an instance group (an Auto Scaling group) with its
// instances.
type InstanceGroup struct {
	Name                string         `json:"name"`
	StackName           string         `json:"stack_name"`
	LogicalID           string         `json:"logical_id"`
	LaunchConfiguration string         `json:"launch_configuration"`
	MinSize             int            `json:"min_size"`
	MaxSize             int            `json:"max_size"`
	Desired             int            `json:"desired_capacity"`
	HealthCheckType     string         `json:"health_check_type"`
	GracePeriod         int            `json:"health_check_grace_period"`
	TargetGroups        []string       `json:"target_group_arns"`
	Settings            map[string]any `json:"settings"`
	InService           int            `json:"in_service"`
	Instances           []Instance     `json:"instances"`
	CreatedAt           time.Time      `json:"created_at"`
}

func groupPath(project, name string) string {
	return "/api/v1/projects/" + esc(project) + "/instance-groups/" + esc(name)
}

func instancePath(project, id string) string {
	return "/api/v1/projects/" + esc(project) + "/instances/" + esc(id)
}

// InstanceGroups lists the project's instance groups.
func (c *Client) InstanceGroups(ctx context.Context, project string) ([]InstanceGroup, error) {
	var out struct {
		Groups []InstanceGroup `json:"groups"`
	}
	return out.Groups, c.Do(ctx, "GET", "/api/v1/projects/"+esc(project)+"/instance-groups", nil, &out)
}

// InstanceGroup returns one group; all includes its terminated instances.
func (c *Client) InstanceGroup(ctx context.Context, project, name string, all bool) (*InstanceGroup, error) {
	var g InstanceGroup
	q := ""
	if all {
		q = "?all=true"
	}
	return &g, c.Do(ctx, "GET", groupPath(project, name)+q, nil, &g)
}

// SetDesiredCapacity scales a group.
func (c *Client) SetDesiredCapacity(ctx context.Context, project, name string, desired int) error {
	return c.Do(ctx, "PUT", groupPath(project, name)+"/desired-capacity", map[string]int{"desired_capacity": desired}, nil)
}

// Instance returns one instance.
func (c *Client) Instance(ctx context.Context, project, id string) (*Instance, error) {
	var in Instance
	return &in, c.Do(ctx, "GET", instancePath(project, id), nil, &in)
}

// InstanceConsole writes an instance's console log to w.
func (c *Client) InstanceConsole(ctx context.Context, project, id string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, "GET", c.BaseURL+instancePath(project, id)+"/console", nil)
	if err != nil {
		return err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the Slipway server at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c.Do(ctx, "GET", instancePath(project, id)+"/console", nil, nil)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// TerminateInstance ends an instance; its group replaces it unless
// decrement lowers the group's desired capacity.
func (c *Client) TerminateInstance(ctx context.Context, project, id string, decrement bool) (*Instance, error) {
	var in Instance
	return &in, c.Do(ctx, "POST", instancePath(project, id)+"/terminate", map[string]bool{"decrement_desired_capacity": decrement}, &in)
}

// InstanceSignal signals a stack resource with the instance credential
// the client was made with (cfn-signal inside an instance). Empty stack
// and resource mean the instance's own group.
func (c *Client) InstanceSignal(ctx context.Context, stack, resource, status, uniqueID string) error {
	return c.Do(ctx, "POST", "/api/v1/instance/signal",
		map[string]string{"stack": stack, "resource": resource, "status": status, "unique_id": uniqueID}, nil)
}
