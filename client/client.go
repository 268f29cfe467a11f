// Package client is the Go client of Slipway's REST API; the CLI and the
// console use nothing else to talk to a server.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client calls one server with one token.
type Client struct {
	BaseURL string
	Token   string
	HTTP    *http.Client
}

// New returns a client for the server at baseURL.
func New(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: &http.Client{Timeout: 60 * time.Second}}
}

// Error is an error answered by the server in the API's error shape.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

// Do sends a request with an optional JSON body and decodes a JSON answer into out.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	contentType := "application/json"
	switch in := in.(type) {
	case nil:
	case RawBody:
		body, contentType = in.Body, in.ContentType
	default:
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the Slipway server at %s (set SLIPWAY_URL or run 'slipway login'): %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return answerError(resp, method, path)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// answerError reads the API's error shape from a failed answer.
func answerError(resp *http.Response, method, path string) error {
	var eb struct {
		Error Error `json:"error"`
	}
	if json.NewDecoder(resp.Body).Decode(&eb) != nil || eb.Error.Message == "" {
		eb.Error = Error{Code: "http_" + resp.Status, Message: fmt.Sprintf("%s %s: %s", method, path, resp.Status)}
	}
	eb.Error.Status = resp.StatusCode
	return &eb.Error
}

// RawBody is a request body Do sends as it is, rather than as JSON.
type RawBody struct {
	ContentType string
	Body        io.Reader
}

func esc(s string) string { return url.PathEscape(s) }

// Me is the authenticated user.
type Me struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	SiteAdmin bool   `json:"site_admin"`
}

// Me returns who the token belongs to.
func (c *Client) Me(ctx context.Context) (*Me, error) {
	var m Me
	return &m, c.Do(ctx, "GET", "/api/v1/me", nil, &m)
}

// Project is a namespace of resources.
type Project struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
}

// CreateProject creates a project.
func (c *Client) CreateProject(ctx context.Context, name, description string) (*Project, error) {
	var p Project
	return &p, c.Do(ctx, "POST", "/api/v1/projects", map[string]string{"name": name, "description": description}, &p)
}

// ListProjects lists the projects the caller can read.
func (c *Client) ListProjects(ctx context.Context) ([]Project, error) {
	var ps []Project
	return ps, c.Do(ctx, "GET", "/api/v1/projects", nil, &ps)
}

// Repository is a hosted Git repository.
type Repository struct {
	ID          string    `json:"id"`
	Project     string    `json:"project"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CloneURL    string    `json:"clone_url"`
	CreatedAt   time.Time `json:"created_at"`
}

// CreateRepo creates a repository in a project.
func (c *Client) CreateRepo(ctx context.Context, project, name, description string) (*Repository, error) {
	var r Repository
	return &r, c.Do(ctx, "POST", "/api/v1/projects/"+esc(project)+"/repos", map[string]string{"name": name, "description": description}, &r)
}

// ListRepos lists a project's repositories the caller can read.
func (c *Client) ListRepos(ctx context.Context, project string) ([]Repository, error) {
	var rs []Repository
	return rs, c.Do(ctx, "GET", "/api/v1/projects/"+esc(project)+"/repos", nil, &rs)
}

// GetRepo returns one repository.
func (c *Client) GetRepo(ctx context.Context, project, name string) (*Repository, error) {
	var r Repository
	return &r, c.Do(ctx, "GET", "/api/v1/projects/"+esc(project)+"/repos/"+esc(name), nil, &r)
}

// DeleteRepo deletes a repository and its data.
func (c *Client) DeleteRepo(ctx context.Context, project, name string) error {
	return c.Do(ctx, "DELETE", "/api/v1/projects/"+esc(project)+"/repos/"+esc(name), nil, nil)
}

// PushEvent is one ref update accepted by a push.
type PushEvent struct {
	ID           int64     `json:"id"`
	RepositoryID string    `json:"repository_id"`
	Ref          string    `json:"ref"`
	OldCommit    string    `json:"old_commit"`
	NewCommit    string    `json:"new_commit"`
	Pusher       string    `json:"pusher"`
	At           time.Time `json:"at"`
}

// RepoEvents lists a repository's push events, newest first.
func (c *Client) RepoEvents(ctx context.Context, project, name string, limit int) ([]PushEvent, error) {
	var es []PushEvent
	return es, c.Do(ctx, "GET", fmt.Sprintf("/api/v1/projects/%s/repos/%s/events?limit=%d", esc(project), esc(name), limit), nil, &es)
}

// Grant is a role given on a resource.
type Grant struct {
	ID       string `json:"id"`
	Project  string `json:"project"`
	Resource string `json:"resource"`
	Subject  string `json:"subject"`
	Role     string `json:"role"`
}

// Grant gives subject ("alice" or "team:web") the role on resource
// ("project" or "KIND/NAME") in project.
func (c *Client) Grant(ctx context.Context, project, resource, subject, role string) (*Grant, error) {
	var g Grant
	return &g, c.Do(ctx, "POST", "/api/v1/projects/"+esc(project)+"/grants",
		map[string]string{"resource": resource, "subject": subject, "role": role}, &g)
}

// User is an account.
type User struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	SiteAdmin bool      `json:"site_admin"`
	CreatedAt time.Time `json:"created_at"`
}

// CreateUser creates a user; an empty password means tokens only.
func (c *Client) CreateUser(ctx context.Context, name, password string, siteAdmin bool) (*User, error) {
	var u User
	return &u, c.Do(ctx, "POST", "/api/v1/users", map[string]any{"name": name, "password": password, "site_admin": siteAdmin}, &u)
}

// Session is what signing in gives: an API token (named "console") for
// the user, shown once.
type Session struct {
	Token     string `json:"token"`
	ID        string `json:"id"`
	User      string `json:"user"`
	SiteAdmin bool   `json:"site_admin"`
}

// SignIn exchanges a user's name and password for an API token.
func (c *Client) SignIn(ctx context.Context, name, password string) (*Session, error) {
	var s Session
	return &s, c.Do(ctx, "POST", "/api/v1/sessions", map[string]string{"name": name, "password": password}, &s)
}

// SetPassword sets a user's password (one's own, or as a site admin anyone's).
func (c *Client) SetPassword(ctx context.Context, name, password string) error {
	return c.Do(ctx, "PUT", "/api/v1/users/"+url.PathEscape(name)+"/password", map[string]string{"password": password}, nil)
}

// ListUsers lists every user.
func (c *Client) ListUsers(ctx context.Context) ([]User, error) {
	var us []User
	return us, c.Do(ctx, "GET", "/api/v1/users", nil, &us)
}

// NewToken is a freshly created token with its secret.
type NewToken struct {
	Token     string    `json:"token"`
	ID        string    `json:"id"`
	User      string    `json:"user"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Token describes an existing token.
type Token struct {
	ID         string    `json:"id"`
	User       string    `json:"user"`
	Name       string    `json:"name"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
}

// CreateToken creates a token for the caller or, for site admins, for user.
func (c *Client) CreateToken(ctx context.Context, user, name string) (*NewToken, error) {
	var t NewToken
	return &t, c.Do(ctx, "POST", "/api/v1/tokens", map[string]string{"user": user, "name": name}, &t)
}

// ListTokens lists the caller's (or user's) tokens.
func (c *Client) ListTokens(ctx context.Context, user string) ([]Token, error) {
	var ts []Token
	return ts, c.Do(ctx, "GET", "/api/v1/tokens?user="+url.QueryEscape(user), nil, &ts)
}

// RevokeToken revokes a token.
func (c *Client) RevokeToken(ctx context.Context, user, id string) error {
	return c.Do(ctx, "DELETE", "/api/v1/tokens/"+esc(id)+"?user="+url.QueryEscape(user), nil, nil)
}

// Team is a group of users.
type Team struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Members   []string  `json:"members"`
	CreatedAt time.Time `json:"created_at"`
}

// CreateTeam creates a team.
func (c *Client) CreateTeam(ctx context.Context, name string) (*Team, error) {
	var t Team
	return &t, c.Do(ctx, "POST", "/api/v1/teams", map[string]string{"name": name}, &t)
}

// AddMember adds a user to a team.
func (c *Client) AddMember(ctx context.Context, team, user string) error {
	return c.Do(ctx, "POST", "/api/v1/teams/"+esc(team)+"/members", map[string]string{"user": user}, nil)
}

// ListTeams lists every team.
func (c *Client) ListTeams(ctx context.Context) ([]Team, error) {
	var ts []Team
	return ts, c.Do(ctx, "GET", "/api/v1/teams", nil, &ts)
}

// AuditEntry is one recorded state-changing request.
type AuditEntry struct {
	ID         int64     `json:"id"`
	At         time.Time `json:"at"`
	Actor      string    `json:"actor"`
	Action     string    `json:"action"`
	Target     string    `json:"target"`
	RemoteAddr string    `json:"remote_addr"`
	Outcome    string    `json:"outcome"`
	Status     int       `json:"status"`
}

// AuditLog lists the audit entries q selects, newest first.
func (c *Client) AuditLog(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	var es []AuditEntry
	return es, c.Do(ctx, "GET", "/api/v1/audit?"+q.values().Encode(), nil, &es)
}

// Entry is a secret's name (never its value) or a parameter with its value.
type Entry struct {
	Name      string    `json:"name"`
	Value     string    `json:"value,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// namePath escapes a secret or parameter name as one path segment: names may
// hold '/' (even a leading one, as in /app/db/url), which travels as %2F.
func namePath(name string) string { return url.PathEscape(name) }

// SetSecret creates or replaces a secret.
func (c *Client) SetSecret(ctx context.Context, project, name, value string) error {
	return c.Do(ctx, "PUT", "/api/v1/projects/"+esc(project)+"/secrets/"+namePath(name), map[string]string{"value": value}, nil)
}

// ListSecrets lists a project's secret names.
func (c *Client) ListSecrets(ctx context.Context, project string) ([]Entry, error) {
	var es []Entry
	return es, c.Do(ctx, "GET", "/api/v1/projects/"+esc(project)+"/secrets", nil, &es)
}

// DeleteSecret deletes a secret.
func (c *Client) DeleteSecret(ctx context.Context, project, name string) error {
	return c.Do(ctx, "DELETE", "/api/v1/projects/"+esc(project)+"/secrets/"+namePath(name), nil, nil)
}

// SetParam creates or replaces a parameter.
func (c *Client) SetParam(ctx context.Context, project, name, value string) (*Entry, error) {
	var e Entry
	return &e, c.Do(ctx, "PUT", "/api/v1/projects/"+esc(project)+"/params/"+namePath(name), map[string]string{"value": value}, &e)
}

// Param returns a parameter.
func (c *Client) Param(ctx context.Context, project, name string) (*Entry, error) {
	var e Entry
	return &e, c.Do(ctx, "GET", "/api/v1/projects/"+esc(project)+"/params/"+namePath(name), nil, &e)
}

// ListParams lists a project's parameters.
func (c *Client) ListParams(ctx context.Context, project string) ([]Entry, error) {
	var es []Entry
	return es, c.Do(ctx, "GET", "/api/v1/projects/"+esc(project)+"/params", nil, &es)
}

// DeleteParam deletes a parameter.
func (c *Client) DeleteParam(ctx context.Context, project, name string) error {
	return c.Do(ctx, "DELETE", "/api/v1/projects/"+esc(project)+"/params/"+namePath(name), nil, nil)
}
