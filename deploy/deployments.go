package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/slipway/slipway/agent"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/unpack"
)

// Revision is an archive in the artifact store a deployment installs.
type Revision = agent.Revision

// RevisionInfo is a revision registered with an application.
type RevisionInfo struct {
	Revision
	Description  string    `json:"description,omitempty"`
	RegisteredAt time.Time `json:"registered_at"`
}

// RegisterRevision puts an archive (zip, tar or tgz) into the artifact
// store and registers it with the application, so that deployments may
// name it by digest.
func (s *Service) RegisterRevision(ctx context.Context, projectID, application string, r io.Reader, description string) (*RevisionInfo, error) {
	app, err := s.Application(ctx, projectID, application)
	if err != nil {
		return nil, err
	}
	info, err := s.cfg.Artifacts.Put(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("store the revision: %w", err)
	}
	return s.registerDigest(ctx, app, info.Digest, description)
}

// RegisterArtifact registers an archive already in the artifact store (a
// pipeline's artifact) with the application.
func (s *Service) RegisterArtifact(ctx context.Context, projectID, application, digest, description string) (*RevisionInfo, error) {
	app, err := s.Application(ctx, projectID, application)
	if err != nil {
		return nil, err
	}
	return s.registerDigest(ctx, app, digest, description)
}

func (s *Service) registerDigest(ctx context.Context, app *Application, digest, description string) (*RevisionInfo, error) {
	rc, info, err := s.cfg.Artifacts.Open(ctx, digest)
	if err != nil {
		return nil, fmt.Errorf("revision %s: %w", digest, err)
	}
	head := make([]byte, 512)
	n, _ := io.ReadFull(rc, head)
	rc.Close()
	format, err := unpack.Detect(bytes.NewReader(head[:n]))
	if err != nil {
		return nil, fmt.Errorf("revision %s: %w (a revision is a zip, tar or tgz archive with appspec.yml at its root)", digest, err)
	}
	ri := &RevisionInfo{Revision: Revision{Digest: info.Digest, Size: info.Size, BundleType: format}, Description: description, RegisteredAt: time.Now().UTC()}
	_, err = s.db.ExecContext(ctx, `INSERT INTO deploy_revisions (application_id, digest, size, bundle_type, description, registered_at) VALUES (?, ?, ?, ?, ?, ?)`,
		app.ID, ri.Digest, ri.Size, ri.BundleType, description, store.Millis(ri.RegisteredAt))
	if errors.Is(err, store.ErrConflict) {
		return s.revision(ctx, app.ID, ri.Digest)
	}
	return ri, err
}

func (s *Service) revision(ctx context.Context, appID, digest string) (*RevisionInfo, error) {
	var ri RevisionInfo
	var at int64
	err := store.Scan(s.db.QueryRowContext(ctx, "SELECT digest, size, bundle_type, description, registered_at FROM deploy_revisions WHERE application_id = ? AND digest = ?",
		appID, digest), &ri.Digest, &ri.Size, &ri.BundleType, &ri.Description, &at)
	if err != nil {
		return nil, fmt.Errorf("revision %s: %w", digest, err)
	}
	ri.RegisteredAt = store.Time(at)
	return &ri, nil
}

// Revisions lists the application's revisions, newest first.
func (s *Service) Revisions(ctx context.Context, projectID, application string) ([]RevisionInfo, error) {
	app, err := s.Application(ctx, projectID, application)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, "SELECT digest, size, bundle_type, description, registered_at FROM deploy_revisions WHERE application_id = ? ORDER BY registered_at DESC", app.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []RevisionInfo{}
	for rows.Next() {
		var ri RevisionInfo
		var at int64
		if err := rows.Scan(&ri.Digest, &ri.Size, &ri.BundleType, &ri.Description, &at); err != nil {
			return nil, err
		}
		ri.RegisteredAt = store.Time(at)
		out = append(out, ri)
	}
	return out, rows.Err()
}

// Options are a deployment's own settings.
type Options struct {
	Description string `json:"description,omitempty"`
	// FileExistsBehavior is DISALLOW (default), OVERWRITE or RETAIN for
	// files the appspec does not decide.
	FileExistsBehavior string `json:"file_exists_behavior,omitempty"`
	// AutoRollback overrides the group's when set.
	AutoRollback                  *AutoRollback `json:"auto_rollback,omitempty"`
	IgnoreApplicationStopFailures bool          `json:"ignore_application_stop_failures,omitempty"`
	// Instances limits an autoscaling deployment to the instances launched.
	Instances []string `json:"instances,omitempty"`
	// ConfigName and ConfigRule are the deployment configuration's, fixed
	// at creation.
	ConfigName string              `json:"config_name"`
	ConfigRule MinimumHealthyHosts `json:"config_rule"`
	// TrafficControl and TargetGroups are the group's at creation.
	TrafficControl bool     `json:"traffic_control,omitempty"`
	TargetGroups   []string `json:"target_groups,omitempty"`
}

// RollbackInfo links a rollback and the deployment it undid.
type RollbackInfo struct {
	RollbackDeploymentID           string `json:"rollback_deployment_id,omitempty"`
	RollbackTriggeringDeploymentID string `json:"rollback_triggering_deployment_id,omitempty"`
	RollbackMessage                string `json:"rollback_message,omitempty"`
}

// Overview counts a deployment's instances by status.
type Overview struct {
	Pending    int `json:"Pending"`
	InProgress int `json:"InProgress"`
	Succeeded  int `json:"Succeeded"`
	Failed     int `json:"Failed"`
	Skipped    int `json:"Skipped"`
}

// Deployment is one deployment of a revision to a group.
type Deployment struct {
	ID           string       `json:"id"`
	ProjectID    string       `json:"project_id"`
	Application  string       `json:"application"`
	Group        string       `json:"deployment_group"`
	GroupID      string       `json:"deployment_group_id"`
	Config       string       `json:"deployment_config_name"`
	Status       string       `json:"status"`
	Creator      string       `json:"creator"`
	CreatedBy    string       `json:"created_by,omitempty"`
	Revision     Revision     `json:"revision"`
	Options      Options      `json:"options"`
	ErrorCode    string       `json:"error_code,omitempty"`
	ErrorMessage string       `json:"error_message,omitempty"`
	Rollback     RollbackInfo `json:"rollback_info"`
	Overview     Overview     `json:"overview"`
	CreatedAt    time.Time    `json:"created_at"`
	StartedAt    time.Time    `json:"started_at,omitzero"`
	EndedAt      time.Time    `json:"ended_at,omitzero"`
	stopRequest  int
	appID        string
}

// Done reports whether the deployment ended.
func (d *Deployment) Done() bool {
	return d.Status == Succeeded || d.Status == Failed || d.Status == Stopped
}

// CreateInput asks for a deployment.
type CreateInput struct {
	Application, Group string
	// Digest names a revision registered with the application.
	Digest  string
	Creator string
	// CreatedBy is who asked (a user's name, a pipeline's).
	CreatedBy string
	Options   Options
}

// Create makes a deployment of a registered revision to a group and
// starts it. A group runs one deployment at a time (autoscaling ones
// aside): a second is refused with ErrActive, as on AWS.
func (s *Service) Create(ctx context.Context, projectID string, in CreateInput) (*Deployment, error) {
	g, err := s.Group(ctx, projectID, in.Application, in.Group)
	if err != nil {
		return nil, err
	}
	rev, err := s.revision(ctx, g.applicationID, in.Digest)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("revision %s is not a revision of application %s: register it first (slipway deploy create uploads a file or directory): %w", in.Digest, in.Application, store.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if b := in.Options.FileExistsBehavior; b != "" && b != "DISALLOW" && b != "OVERWRITE" && b != "RETAIN" {
		return nil, fmt.Errorf("file exists behavior must be DISALLOW, OVERWRITE or RETAIN, not %s", b)
	}
	if in.Creator == "" {
		in.Creator = CreatorUser
	}
	var d *Deployment
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		var err error
		d, err = s.create(ctx, tx, g, rev.Revision, in)
		return err
	})
	return d, err
}

// create records a deployment and enqueues its job, in tx.
func (s *Service) create(ctx context.Context, tx *store.Tx, g *Group, rev Revision, in CreateInput) (*Deployment, error) {
	cfg, err := s.Config(ctx, g.ProjectID, g.Config)
	if err != nil {
		return nil, err
	}
	opts := in.Options
	opts.ConfigName, opts.ConfigRule = cfg.Name, cfg.MinimumHealthyHosts
	opts.TrafficControl = g.trafficControl() && in.Creator != CreatorAutoScaling
	opts.TargetGroups = g.TargetGroups
	d := &Deployment{ID: newID("d-", 9), ProjectID: g.ProjectID, Application: g.Application, Group: g.Name, GroupID: g.ID,
		Config: cfg.Name, Status: Created, Creator: in.Creator, CreatedBy: in.CreatedBy, Revision: rev, Options: opts,
		CreatedAt: time.Now().UTC(), appID: g.applicationID}
	var active any
	if in.Creator != CreatorAutoScaling {
		active = 1
	}
	rawRev, _ := json.Marshal(rev)
	rawOpts, _ := json.Marshal(opts)
	_, err = tx.ExecContext(ctx, `INSERT INTO deployments (id, project_id, application_id, group_id, status, creator, created_by, active, revision, options, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, d.ID, d.ProjectID, g.applicationID, g.ID, d.Status, d.Creator, d.CreatedBy, active,
		string(rawRev), string(rawOpts), store.Millis(d.CreatedAt))
	if errors.Is(err, store.ErrConflict) {
		var other string
		_ = tx.QueryRowContext(ctx, "SELECT id FROM deployments WHERE group_id = ? AND active = 1", g.ID).Scan(&other)
		return nil, fmt.Errorf("the deployment group '%s' already has an active deployment '%s'; wait for it or stop it (slipway deploy stop %s): %w", g.Name, other, other, ErrActive)
	}
	if err != nil {
		return nil, err
	}
	if s.cfg.Jobs != nil {
		if _, err := s.cfg.Jobs.EnqueueTx(ctx, tx, jobKind, map[string]string{"id": d.ID}); err != nil {
			return nil, err
		}
	}
	return d, nil
}

const deploymentColumns = `d.id, d.project_id, a.name, a.id, g.name, d.group_id, d.status, d.creator, d.created_by, d.revision, d.options,
	d.error_code, d.error_message, d.rollback, d.stop_requested, d.created_at, d.started_at, d.ended_at`

func scanDeployment(row interface{ Scan(...any) error }) (*Deployment, error) {
	var d Deployment
	var rev, opts, rb string
	var created, started, ended int64
	if err := row.Scan(&d.ID, &d.ProjectID, &d.Application, &d.appID, &d.Group, &d.GroupID, &d.Status, &d.Creator, &d.CreatedBy, &rev, &opts,
		&d.ErrorCode, &d.ErrorMessage, &rb, &d.stopRequest, &created, &started, &ended); err != nil {
		return nil, err
	}
	if err := errors.Join(json.Unmarshal([]byte(rev), &d.Revision), json.Unmarshal([]byte(opts), &d.Options), json.Unmarshal([]byte(rb), &d.Rollback)); err != nil {
		return nil, fmt.Errorf("deployment %s: %w", d.ID, err)
	}
	d.Config = d.Options.ConfigName
	d.CreatedAt = store.Time(created)
	if started != 0 {
		d.StartedAt = store.Time(started)
	}
	if ended != 0 {
		d.EndedAt = store.Time(ended)
	}
	return &d, nil
}

func (s *Service) deployments(ctx context.Context, q store.Querier, where string, args ...any) ([]*Deployment, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+deploymentColumns+` FROM deployments d
		JOIN deploy_applications a ON a.id = d.application_id JOIN deploy_groups g ON g.id = d.group_id WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*Deployment{}
	for rows.Next() {
		d, err := scanDeployment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, d := range out {
		if err := s.overview(ctx, q, d); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Service) overview(ctx context.Context, q store.Querier, d *Deployment) error {
	rows, err := q.QueryContext(ctx, "SELECT status, COUNT(*) FROM deployment_targets WHERE deployment_id = ? GROUP BY status", d.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	d.Overview = Overview{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return err
		}
		switch st {
		case Pending:
			d.Overview.Pending = n
		case InProgress:
			d.Overview.InProgress = n
		case Succeeded:
			d.Overview.Succeeded = n
		case Failed:
			d.Overview.Failed = n
		case Skipped:
			d.Overview.Skipped = n
		}
	}
	return rows.Err()
}

// Get returns a deployment of the project.
func (s *Service) Get(ctx context.Context, projectID, id string) (*Deployment, error) {
	ds, err := s.deployments(ctx, s.db, "d.project_id = ? AND d.id = ?", projectID, id)
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, fmt.Errorf("deployment %s: %w", id, store.ErrNotFound)
	}
	return ds[0], nil
}

func (s *Service) get(ctx context.Context, id string) (*Deployment, error) {
	ds, err := s.deployments(ctx, s.db, "d.id = ?", id)
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, fmt.Errorf("deployment %s: %w", id, store.ErrNotFound)
	}
	return ds[0], nil
}

// List lists the project's deployments, newest first, of one application
// (and group) when named; limit <= 0 means 50.
func (s *Service) List(ctx context.Context, projectID, application, group string, limit int) ([]*Deployment, error) {
	if limit <= 0 {
		limit = 50
	}
	where := []string{"d.project_id = ?"}
	args := []any{projectID}
	if application != "" {
		where, args = append(where, "a.name = ?"), append(args, application)
	}
	if group != "" {
		where, args = append(where, "g.name = ?"), append(args, group)
	}
	return s.deployments(ctx, s.db, strings.Join(where, " AND ")+fmt.Sprintf(" ORDER BY d.created_at DESC, d.id LIMIT %d", limit), args...)
}

// Stop asks a running deployment to stop: no instance starts another
// lifecycle event, the events under way finish, and the deployment ends
// Stopped (and is rolled back when rollback is true, or the group rolls
// back on DEPLOYMENT_STOP_ON_REQUEST).
func (s *Service) Stop(ctx context.Context, projectID, id string, rollback bool) (*Deployment, error) {
	d, err := s.Get(ctx, projectID, id)
	if err != nil {
		return nil, err
	}
	if d.Done() {
		return nil, fmt.Errorf("deployment %s already ended %s: %w", id, d.Status, store.ErrConflict)
	}
	req := 1
	if rollback {
		req = 2
	}
	if _, err := s.db.ExecContext(ctx, "UPDATE deployments SET stop_requested = ? WHERE id = ?", req, id); err != nil {
		return nil, err
	}
	s.wake("d:" + id)
	return s.Get(ctx, projectID, id)
}

// LifecycleEvent is one lifecycle event of one instance.
type LifecycleEvent struct {
	Name        string             `json:"name"`
	Status      string             `json:"status"`
	StartedAt   time.Time          `json:"started_at,omitzero"`
	EndedAt     time.Time          `json:"ended_at,omitzero"`
	Diagnostics *agent.Diagnostics `json:"diagnostics,omitempty"`
}

// Target is one instance of a deployment.
type Target struct {
	InstanceID string           `json:"instance_id"`
	Status     string           `json:"status"`
	Events     []LifecycleEvent `json:"lifecycle_events"`
	StartedAt  time.Time        `json:"started_at,omitzero"`
	EndedAt    time.Time        `json:"ended_at,omitzero"`
	order      int
}

// Targets lists a deployment's instances in the order they were chosen.
func (s *Service) Targets(ctx context.Context, projectID, id string) ([]*Target, error) {
	if _, err := s.Get(ctx, projectID, id); err != nil {
		return nil, err
	}
	return s.targets(ctx, id)
}

func (s *Service) targets(ctx context.Context, id string) ([]*Target, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT instance_id, ord, status, events, started_at, ended_at FROM deployment_targets WHERE deployment_id = ? ORDER BY ord", id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*Target{}
	for rows.Next() {
		var t Target
		var evs string
		var started, ended int64
		if err := rows.Scan(&t.InstanceID, &t.order, &t.Status, &evs, &started, &ended); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(evs), &t.Events); err != nil {
			return nil, fmt.Errorf("deployment %s instance %s: %w", id, t.InstanceID, err)
		}
		if started != 0 {
			t.StartedAt = store.Time(started)
		}
		if ended != 0 {
			t.EndedAt = store.Time(ended)
		}
		out = append(out, &t)
	}
	return out, rows.Err()
}

// LogChunk is a piece of an instance's script output in a deployment.
type LogChunk struct {
	Seq   int64  `json:"seq"`
	Event string `json:"event"`
	Text  string `json:"text"`
}

// Logs returns an instance's script output in a deployment after seq.
func (s *Service) Logs(ctx context.Context, projectID, id, instanceID string, after int64) ([]LogChunk, error) {
	if _, err := s.Get(ctx, projectID, id); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, "SELECT seq, event, text FROM deployment_logs WHERE deployment_id = ? AND instance_id = ? AND seq > ? ORDER BY seq LIMIT 1000",
		id, instanceID, after)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []LogChunk{}
	for rows.Next() {
		var c LogChunk
		if err := rows.Scan(&c.Seq, &c.Event, &c.Text); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
