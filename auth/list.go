package auth

import (
	"context"
	"fmt"
	"strings"

	"github.com/slipway/slipway/store"
)

// ProjectGrant is a grant of a project (on the project or on one of its
// resources) with the name of its subject, for listing.
type ProjectGrant struct {
	Grant
	ProjectID string `json:"project_id"`
	// SubjectName is the user's or the team's name.
	SubjectName string `json:"subject_name"`
}

// grantColumns select a ProjectGrant: the subject's name comes from the
// users or the teams table, both this service's own.
const grantColumns = `SELECT g.id, g.subject_kind, g.subject_id, g.resource_kind, g.resource_id, g.project_id, g.role, g.created_at,
	COALESCE(u.name, t.name, '')
	FROM grants g
	LEFT JOIN users u ON g.subject_kind = 'user' AND u.id = g.subject_id
	LEFT JOIN teams t ON g.subject_kind = 'team' AND t.id = g.subject_id`

// ProjectGrants lists the grants on a project and on its resources: the
// project's first, then by resource kind and ID (auth does not know the
// resources' names), then by subject.
func (s *Service) ProjectGrants(ctx context.Context, projectID string) ([]ProjectGrant, error) {
	rows, err := s.db.QueryContext(ctx, grantColumns+` WHERE g.project_id = ?
		ORDER BY CASE WHEN g.resource_kind = 'project' THEN 0 ELSE 1 END, g.resource_kind, g.resource_id, g.subject_kind, COALESCE(u.name, t.name, '')`, projectID)
	if err != nil {
		return nil, fmt.Errorf("list grants of project %s: %w", projectID, err)
	}
	defer rows.Close()
	var out []ProjectGrant
	for rows.Next() {
		g, err := scanGrant(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("list grants of project %s: %w", projectID, err)
		}
		out = append(out, *g)
	}
	return out, rows.Err()
}

// GrantByID returns one grant; store.ErrNotFound when there is none.
func (s *Service) GrantByID(ctx context.Context, id string) (*ProjectGrant, error) {
	row := s.db.QueryRowContext(ctx, grantColumns+` WHERE g.id = ?`, id)
	g, err := scanGrant(func(dest ...any) error { return store.Scan(row, dest...) })
	if err != nil {
		return nil, fmt.Errorf("grant %s: %w", id, err)
	}
	return g, nil
}

// DeleteGrant removes one grant; store.ErrNotFound when there is none.
func (s *Service) DeleteGrant(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM grants WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete grant %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete grant %s: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("delete grant %s: %w", id, store.ErrNotFound)
	}
	return nil
}

func scanGrant(scan func(dest ...any) error) (*ProjectGrant, error) {
	var g ProjectGrant
	var role string
	var created int64
	if err := scan(&g.ID, &g.SubjectKind, &g.SubjectID, &g.ResourceKind, &g.ResourceID, &g.ProjectID, &role, &created, &g.SubjectName); err != nil {
		return nil, err
	}
	g.Role, g.CreatedAt = Role(role), store.Time(created)
	return &g, nil
}

// AuditQuery selects audit entries. Zero fields select everything.
type AuditQuery struct {
	// Limit is the most entries answered: 1 to 1000, 100 when 0.
	Limit int
	// Before pages: only entries older than the entry with this ID.
	Before int64
	// Actor is a user's name (or "anonymous"), matched whole.
	Actor string
	// Action is text the action holds, such as "POST" or "/grants",
	// matched without regard to case.
	Action string
}

// where is the WHERE clause of the query, with its arguments.
func (q AuditQuery) where() (string, []any) {
	var conds []string
	var args []any
	if q.Before > 0 {
		conds = append(conds, `id < ?`)
		args = append(args, q.Before)
	}
	if q.Actor != "" {
		conds = append(conds, `actor = ?`)
		args = append(args, q.Actor)
	}
	if q.Action != "" {
		conds = append(conds, `LOWER(action) LIKE ? ESCAPE '\'`)
		// LIKE's wildcards and its escape character are escaped, so the
		// filter is plain text.
		esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
		args = append(args, "%"+esc.Replace(strings.ToLower(q.Action))+"%")
	}
	if len(conds) == 0 {
		return "", nil
	}
	return ` WHERE ` + strings.Join(conds, ` AND `), args
}
