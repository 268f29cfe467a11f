package auth

import (
	"context"
	"fmt"

	"github.com/slipway/slipway/store"
)

// CreateProject adds a project.
func (s *Service) CreateProject(ctx context.Context, name, description string) (*Project, error) {
	if err := ValidateName("project", name); err != nil {
		return nil, err
	}
	p := &Project{ID: store.NewID(), Name: name, Description: description, CreatedAt: s.now().UTC()}
	_, err := s.db.ExecContext(ctx, `INSERT INTO projects (id, name, description, created_at) VALUES (?, ?, ?, ?)`,
		p.ID, p.Name, p.Description, store.Millis(p.CreatedAt))
	if err != nil {
		return nil, fmt.Errorf("create project %s: %w", name, err)
	}
	return p, nil
}

// Project finds a project by name.
func (s *Service) Project(ctx context.Context, name string) (*Project, error) {
	return s.project(ctx, "name", name)
}

// ProjectByID finds a project by ID.
func (s *Service) ProjectByID(ctx context.Context, id string) (*Project, error) {
	return s.project(ctx, "id", id)
}

func (s *Service) project(ctx context.Context, column, value string) (*Project, error) {
	var p Project
	var created int64
	err := store.Scan(s.db.QueryRowContext(ctx, `SELECT id, name, description, created_at FROM projects WHERE `+column+` = ?`, value),
		&p.ID, &p.Name, &p.Description, &created)
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", value, err)
	}
	p.CreatedAt = store.Time(created)
	return &p, nil
}

// ListProjects returns the projects the principal has any role in (all of
// them for site admins). Project names are not secret: they are the
// namespaces every member sees in URLs; repositories inside are.
func (s *Service) ListProjects(ctx context.Context, pr *Principal) ([]Project, error) {
	q := `SELECT id, name, description, created_at FROM projects`
	var args []any
	if !pr.SiteAdmin {
		subjects := pr.subjects()
		q += ` WHERE id IN (SELECT project_id FROM grants WHERE subject_id IN (` + placeholders(len(subjects)) + `))`
		args = subjects
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY name`, args...)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	defer rows.Close()
	out := []Project{}
	for rows.Next() {
		var p Project
		var created int64
		if err := rows.Scan(&p.ID, &p.Name, &p.Description, &created); err != nil {
			return nil, err
		}
		p.CreatedAt = store.Time(created)
		out = append(out, p)
	}
	return out, rows.Err()
}

// ProjectResource names a project as a resource.
func ProjectResource(projectID string) Resource {
	return Resource{Kind: "project", ID: projectID, ProjectID: projectID}
}

// CreateTeam adds a team.
func (s *Service) CreateTeam(ctx context.Context, name string) (*Team, error) {
	if err := ValidateName("team", name); err != nil {
		return nil, err
	}
	t := &Team{ID: store.NewID(), Name: name, Members: []string{}, CreatedAt: s.now().UTC()}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO teams (id, name, created_at) VALUES (?, ?, ?)`, t.ID, name, store.Millis(t.CreatedAt)); err != nil {
		return nil, fmt.Errorf("create team %s: %w", name, err)
	}
	return t, nil
}

// TeamByName finds a team.
func (s *Service) TeamByName(ctx context.Context, name string) (*Team, error) {
	var t Team
	var created int64
	if err := store.Scan(s.db.QueryRowContext(ctx, `SELECT id, name, created_at FROM teams WHERE name = ?`, name), &t.ID, &t.Name, &created); err != nil {
		return nil, fmt.Errorf("team %s: %w", name, err)
	}
	t.CreatedAt = store.Time(created)
	return &t, nil
}

// AddMember puts a user in a team; adding a member twice is not an error.
func (s *Service) AddMember(ctx context.Context, teamID, userID string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO team_members (team_id, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, teamID, userID)
	if err != nil {
		return fmt.Errorf("add member: %w", err)
	}
	return nil
}

// ListTeams returns every team with its members' names.
func (s *Service) ListTeams(ctx context.Context) ([]Team, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT t.id, t.name, t.created_at, COALESCE(u.name, '')
		FROM teams t LEFT JOIN team_members m ON m.team_id = t.id LEFT JOIN users u ON u.id = m.user_id
		ORDER BY t.name, u.name`)
	if err != nil {
		return nil, fmt.Errorf("list teams: %w", err)
	}
	defer rows.Close()
	var out []Team
	for rows.Next() {
		var id, name, member string
		var created int64
		if err := rows.Scan(&id, &name, &created, &member); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].ID != id {
			out = append(out, Team{ID: id, Name: name, Members: []string{}, CreatedAt: store.Time(created)})
		}
		if member != "" {
			t := &out[len(out)-1]
			t.Members = append(t.Members, member)
		}
	}
	return out, rows.Err()
}
