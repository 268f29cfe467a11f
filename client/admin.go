package client

import (
	"context"
	"net/url"
	"strconv"
)

// ListGrants lists the grants on a project and on its resources, the
// project's own first. Only the project's admins and site admins may.
func (c *Client) ListGrants(ctx context.Context, project string) ([]Grant, error) {
	var gs []Grant
	return gs, c.Do(ctx, "GET", "/api/v1/projects/"+esc(project)+"/grants", nil, &gs)
}

// RevokeGrant deletes one of a project's grants, by its ID.
func (c *Client) RevokeGrant(ctx context.Context, project, id string) error {
	return c.Do(ctx, "DELETE", "/api/v1/projects/"+esc(project)+"/grants/"+esc(id), nil, nil)
}

// AuditQuery selects audit entries; zero fields select everything.
type AuditQuery struct {
	// Limit is the most entries answered (the server's default when 0).
	Limit int
	// Before pages: only entries older than the one with this ID.
	Before int64
	// Actor is a user's name, matched whole.
	Actor string
	// Action is text the action holds ("POST", "/grants"), in any case.
	Action string
}

func (q AuditQuery) values() url.Values {
	v := url.Values{}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Before > 0 {
		v.Set("before", strconv.FormatInt(q.Before, 10))
	}
	if q.Actor != "" {
		v.Set("actor", q.Actor)
	}
	if q.Action != "" {
		v.Set("action", q.Action)
	}
	return v
}
