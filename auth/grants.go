package auth

import (
	"context"
	"fmt"
	"strings"

	"github.com/slipway/slipway/store"
)

// Subject kinds a grant can name.
const (
	SubjectUser = "user"
	SubjectTeam = "team"
)

// SetGrant gives subject the role on the resource, replacing any role it had there.
func (s *Service) SetGrant(ctx context.Context, subjectKind, subjectID string, res Resource, role Role) (*Grant, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return nil, err
	}
	g := &Grant{ID: store.NewID(), SubjectKind: subjectKind, SubjectID: subjectID,
		ResourceKind: res.Kind, ResourceID: res.ID, Role: role, CreatedAt: s.now().UTC()}
	_, err := s.db.ExecContext(ctx, `INSERT INTO grants (id, subject_kind, subject_id, resource_kind, resource_id, project_id, role, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (subject_kind, subject_id, resource_kind, resource_id) DO UPDATE SET role = excluded.role`,
		g.ID, g.SubjectKind, g.SubjectID, g.ResourceKind, g.ResourceID, res.ProjectID, string(g.Role), store.Millis(g.CreatedAt))
	if err != nil {
		return nil, fmt.Errorf("grant %s on %s/%s: %w", role, res.Kind, res.ID, err)
	}
	return g, nil
}

// DeleteGrants removes every grant on a resource; call it when the resource goes.
func (s *Service) DeleteGrants(ctx context.Context, res Resource) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM grants WHERE resource_kind = ? AND resource_id = ?`, res.Kind, res.ID)
	if err != nil {
		return fmt.Errorf("delete grants on %s/%s: %w", res.Kind, res.ID, err)
	}
	return nil
}

// Can reports whether the principal may do act to res: site admins may do
// everything; anyone else needs a role allowing act, granted to them or one of
// their teams, on the resource or on its project.
func (s *Service) Can(ctx context.Context, p *Principal, act Action, res Resource) (bool, error) {
	if p == nil {
		return false, nil
	}
	if p.SiteAdmin {
		return true, nil
	}
	roles, err := s.roles(ctx, p, res)
	if err != nil {
		return false, err
	}
	for _, r := range roles {
		if r.Allows(act) {
			return true, nil
		}
	}
	return false, nil
}

// Authorize is Can as an error: nil when allowed, ErrForbidden when the
// principal can read the resource but not do act, and ErrHidden when it may
// not know the resource exists.
func (s *Service) Authorize(ctx context.Context, p *Principal, act Action, res Resource) error {
	ok, err := s.Can(ctx, p, act, res)
	if err != nil || ok {
		return err
	}
	if act != Read {
		if canRead, err := s.Can(ctx, p, Read, res); err != nil {
			return err
		} else if canRead {
			return ErrForbidden
		}
	}
	return ErrHidden
}

func (s *Service) roles(ctx context.Context, p *Principal, res Resource) ([]Role, error) {
	subjects := p.subjects()
	q := `SELECT role FROM grants WHERE subject_id IN (` + placeholders(len(subjects)) + `)
		AND ((resource_kind = 'project' AND resource_id = ?) OR (resource_kind = ? AND resource_id = ?))`
	args := append(subjects, res.ProjectID, res.Kind, res.ID)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("roles: %w", err)
	}
	defer rows.Close()
	var out []Role
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out = append(out, Role(r))
	}
	return out, rows.Err()
}

// subjects are the grant subjects that speak for the principal: itself and its teams.
func (p *Principal) subjects() []any {
	out := []any{p.UserID}
	for _, t := range p.teamIDs {
		out = append(out, t)
	}
	return out
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}
