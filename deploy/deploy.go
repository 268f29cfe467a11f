// Package deploy is the deployment service, CodeDeploy's part of the
// platform: applications, deployment groups and configurations, revisions,
// and deployments that install a revision on a group's instances batch by
// batch, through the agent on each host, keeping the minimum of healthy
// hosts, taking each host out of its load balancer while it changes, and
// rolling back by themselves when they fail.
package deploy

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/slipway/slipway/artifact"
	"github.com/slipway/slipway/events"
	"github.com/slipway/slipway/fleet"
	"github.com/slipway/slipway/jobs"
	"github.com/slipway/slipway/store"
)

// Deployment statuses, as CodeDeploy spells them.
const (
	Created    = "Created"
	Queued     = "Queued"
	InProgress = "InProgress"
	Succeeded  = "Succeeded"
	Failed     = "Failed"
	Stopped    = "Stopped"
)

// Instance and lifecycle event statuses besides the deployment's.
const (
	Pending = "Pending"
	Skipped = "Skipped"
)

// Creators of deployments.
const (
	CreatorUser        = "user"
	CreatorAutoScaling = "autoscaling"
	CreatorRollback    = "codeDeployRollback"
)

// Deployment error codes.
const (
	ErrHealthConstraints        = "HEALTH_CONSTRAINTS"
	ErrHealthConstraintsInvalid = "HEALTH_CONSTRAINTS_INVALID"
	ErrNoInstances              = "NO_INSTANCES"
	ErrManualStop               = "MANUAL_STOP"
	ErrRevisionMissing          = "REVISION_MISSING"
	ErrInternal                 = "INTERNAL_ERROR"
	ErrTimeout                  = "TIMEOUT"
)

// Automatic rollback events.
const (
	RollbackOnFailure = "DEPLOYMENT_FAILURE"
	RollbackOnStop    = "DEPLOYMENT_STOP_ON_REQUEST"
	RollbackOnAlarm   = "DEPLOYMENT_STOP_ON_ALARM"
)

// ErrActive says the group already runs a deployment.
var ErrActive = errors.New("deployment group already has an active deployment")

// jobKind runs one deployment.
const jobKind = "deploy.run"

// topic carries "a command for host H" and "command C ended" between
// server processes.
const topic = "deploy.command"

// Config is a Service's dependencies.
type Config struct {
	DB        *store.DB
	Jobs      *jobs.Engine
	Bus       *events.Bus
	Artifacts artifact.Store
	// Fleet resolves AutoScalingGroups to instances; nil means deployment
	// groups select on-premises hosts only.
	Fleet *fleet.Service
	// Balancer takes instances out of (and back into) target groups.
	Balancer fleet.Balancer
	Log      *slog.Logger
	// AgentTimeout is how long a host's agent may stay silent (not polling,
	// not reporting) before its lifecycle event fails; default 30s.
	AgentTimeout time.Duration
	// TrafficTimeout bounds AllowTraffic's wait for a healthy target;
	// default 5 minutes.
	TrafficTimeout time.Duration
}

// Service is the deployment service.
type Service struct {
	db  *store.DB
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	waiters map[string]map[chan struct{}]bool // host ID or "c:"+command ID -> waiters
	seen    map[string]time.Time              // host -> last time its liveness was written
}

// New returns the service. Register it with the job engine before the
// engine runs.
func New(cfg Config) *Service {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.AgentTimeout <= 0 {
		cfg.AgentTimeout = 30 * time.Second
	}
	if cfg.TrafficTimeout <= 0 {
		cfg.TrafficTimeout = 5 * time.Minute
	}
	s := &Service{db: cfg.DB, cfg: cfg, log: cfg.Log, waiters: map[string]map[chan struct{}]bool{}, seen: map[string]time.Time{}}
	if cfg.Jobs != nil {
		cfg.Jobs.Register(jobKind, s.runJob)
	}
	return s
}

// Run wakes this process's waiting agents and deployments for commands
// made and ended in other server processes, until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	if s.cfg.Bus == nil {
		<-ctx.Done()
		return nil
	}
	ch, cancel := s.cfg.Bus.Subscribe(topic)
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-ch:
			var p struct{ Key string }
			if json.Unmarshal(ev.Payload, &p) == nil {
				s.wake(p.Key)
			}
		}
	}
}

// wait returns a channel that wake(key) closes, and a func to stop waiting.
func (s *Service) wait(key string) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	if s.waiters[key] == nil {
		s.waiters[key] = map[chan struct{}]bool{}
	}
	s.waiters[key][ch] = true
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		if s.waiters[key][ch] {
			delete(s.waiters[key], ch)
			if len(s.waiters[key]) == 0 {
				delete(s.waiters, key)
			}
		}
		s.mu.Unlock()
	}
}

func (s *Service) wake(key string) {
	s.mu.Lock()
	for ch := range s.waiters[key] {
		close(ch)
	}
	delete(s.waiters, key)
	s.mu.Unlock()
}

// announce wakes key's waiters here once tx commits, and in the other
// server processes through the bus.
func (s *Service) announce(ctx context.Context, tx *store.Tx, key string) error {
	tx.OnCommit(func() { s.wake(key) })
	if s.cfg.Bus == nil {
		return nil
	}
	return s.cfg.Bus.Publish(ctx, tx, topic, map[string]string{"Key": key})
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9._+=,@-]{1,100}$`)

func checkName(what, name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%s name %q: use 1 to 100 letters, digits and . _ + = , @ -", what, name)
	}
	return nil
}

// newID returns prefix and n random characters CodeDeploy's IDs use.
func newID(prefix string, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(b)
}

// Application is a CodeDeploy application: a name its groups and
// revisions belong to.
type Application struct {
	ID        string    `json:"id"`
	ProjectID string    `json:"project_id"`
	Name      string    `json:"name"`
	ManagedBy string    `json:"managed_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// CreateApplication makes an application. managedBy is the stack
// resource's idempotency token ("" for one made by hand): a create it
// already made returns that application.
func (s *Service) CreateApplication(ctx context.Context, projectID, name, managedBy string) (*Application, error) {
	if err := checkName("application", name); err != nil {
		return nil, err
	}
	if managedBy != "" {
		if a, err := s.Application(ctx, projectID, name); err == nil && a.ManagedBy == managedBy {
			return a, nil
		}
	}
	a := &Application{ID: store.NewID(), ProjectID: projectID, Name: name, ManagedBy: managedBy, CreatedAt: time.Now().UTC()}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO deploy_applications (id, project_id, name, managed_by, created_at) VALUES (?, ?, ?, ?, ?)`,
		a.ID, projectID, name, managedBy, store.Millis(a.CreatedAt)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("application %s: %w", name, err)
		}
		return nil, err
	}
	return a, nil
}

// Application returns the project's application called name.
func (s *Service) Application(ctx context.Context, projectID, name string) (*Application, error) {
	as, err := s.applications(ctx, "project_id = ? AND name = ?", projectID, name)
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		return nil, fmt.Errorf("application %s: %w", name, store.ErrNotFound)
	}
	return as[0], nil
}

// Applications lists the project's applications.
func (s *Service) Applications(ctx context.Context, projectID string) ([]*Application, error) {
	return s.applications(ctx, "project_id = ?", projectID)
}

func (s *Service) applications(ctx context.Context, where string, args ...any) ([]*Application, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id, project_id, name, managed_by, created_at FROM deploy_applications WHERE "+where+" ORDER BY name", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*Application{}
	for rows.Next() {
		var a Application
		var created int64
		if err := rows.Scan(&a.ID, &a.ProjectID, &a.Name, &a.ManagedBy, &created); err != nil {
			return nil, err
		}
		a.CreatedAt = store.Time(created)
		out = append(out, &a)
	}
	return out, rows.Err()
}

// DeleteApplication deletes an application with its groups and revisions.
// An application with an active deployment cannot be deleted.
func (s *Service) DeleteApplication(ctx context.Context, projectID, name string) error {
	a, err := s.Application(ctx, projectID, name)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		var active int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM deployments WHERE application_id = ? AND status IN (?, ?, ?)`,
			a.ID, Created, Queued, InProgress).Scan(&active); err != nil {
			return err
		}
		if active > 0 {
			return fmt.Errorf("application %s has a deployment in progress; stop it first (slipway deploy stop): %w", name, store.ErrConflict)
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM deploy_applications WHERE id = ?", a.ID)
		return err
	})
}

// CreateConfig makes a custom deployment configuration. Configurations
// cannot be changed, as on AWS: a change makes a new one.
func (s *Service) CreateConfig(ctx context.Context, projectID string, c DeploymentConfig) (*DeploymentConfig, error) {
	if err := checkName("deployment configuration", c.Name); err != nil {
		return nil, err
	}
	if _, ok := Predefined(c.Name); ok {
		return nil, fmt.Errorf("deployment configuration %s is predefined: %w", c.Name, store.ErrConflict)
	}
	if err := c.MinimumHealthyHosts.Check(); err != nil {
		return nil, err
	}
	if c.ManagedBy != "" {
		if old, err := s.Config(ctx, projectID, c.Name); err == nil && old.ManagedBy == c.ManagedBy {
			return old, nil
		}
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO deploy_configs (id, project_id, name, min_type, min_value, managed_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		store.NewID(), projectID, c.Name, c.MinimumHealthyHosts.Type, c.MinimumHealthyHosts.Value, c.ManagedBy, store.Millis(time.Now())); err != nil {
		return nil, fmt.Errorf("deployment configuration %s: %w", c.Name, err)
	}
	return &c, nil
}

// Config returns a predefined or custom configuration.
func (s *Service) Config(ctx context.Context, projectID, name string) (*DeploymentConfig, error) {
	if c, ok := Predefined(name); ok {
		return &c, nil
	}
	var c DeploymentConfig
	err := store.Scan(s.db.QueryRowContext(ctx, "SELECT name, min_type, min_value, managed_by FROM deploy_configs WHERE project_id = ? AND name = ?",
		projectID, name), &c.Name, &c.MinimumHealthyHosts.Type, &c.MinimumHealthyHosts.Value, &c.ManagedBy)
	if err != nil {
		return nil, fmt.Errorf("deployment configuration %s: %w", name, err)
	}
	return &c, nil
}

// Configs lists the predefined configurations and the project's own.
func (s *Service) Configs(ctx context.Context, projectID string) ([]DeploymentConfig, error) {
	var out []DeploymentConfig
	for _, n := range []string{AllAtOnce, HalfAtATime, OneAtATime} {
		c, _ := Predefined(n)
		out = append(out, c)
	}
	rows, err := s.db.QueryContext(ctx, "SELECT name, min_type, min_value, managed_by FROM deploy_configs WHERE project_id = ? ORDER BY name", projectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var c DeploymentConfig
		if err := rows.Scan(&c.Name, &c.MinimumHealthyHosts.Type, &c.MinimumHealthyHosts.Value, &c.ManagedBy); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// DeleteConfig deletes a custom configuration no group uses.
func (s *Service) DeleteConfig(ctx context.Context, projectID, name string) error {
	if _, ok := Predefined(name); ok {
		return fmt.Errorf("deployment configuration %s is predefined and cannot be deleted", name)
	}
	var used int
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM deploy_groups WHERE project_id = ? AND config = ?", projectID, name).Scan(&used); err != nil {
		return err
	}
	if used > 0 {
		return fmt.Errorf("deployment configuration %s is used by %d deployment groups: %w", name, used, store.ErrConflict)
	}
	res, err := s.db.ExecContext(ctx, "DELETE FROM deploy_configs WHERE project_id = ? AND name = ?", projectID, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("deployment configuration %s: %w", name, store.ErrNotFound)
	}
	return nil
}

// TagFilter selects on-premises hosts by a tag, as
// OnPremisesInstanceTagFilters do.
type TagFilter struct {
	Key   string `json:"key,omitempty"`
	Value string `json:"value,omitempty"`
	// Type is KEY_ONLY, VALUE_ONLY or KEY_AND_VALUE (the default).
	Type string `json:"type,omitempty"`
}

// matches reports whether tags pass the filter.
func (f TagFilter) matches(tags map[string]string) bool {
	switch f.Type {
	case "KEY_ONLY":
		_, ok := tags[f.Key]
		return ok
	case "VALUE_ONLY":
		for _, v := range tags {
			if v == f.Value {
				return true
			}
		}
		return false
	}
	v, ok := tags[f.Key]
	return ok && v == f.Value
}

// AutoRollback is a group's (or a deployment's) AutoRollbackConfiguration.
type AutoRollback struct {
	Enabled bool     `json:"enabled"`
	Events  []string `json:"events,omitempty"`
}

func (a AutoRollback) on(event string) bool {
	return a.Enabled && slices.Contains(a.Events, event)
}

// GroupSpec is what a deployment group is made of.
type GroupSpec struct {
	// Config is the deployment configuration's name; default OneAtATime.
	Config string `json:"deployment_config_name"`
	// AutoScalingGroups are instance groups of the project.
	AutoScalingGroups []string `json:"auto_scaling_groups,omitempty"`
	// TagFilters select on-premises hosts (any filter matching selects).
	TagFilters []TagFilter `json:"on_premises_tag_filters,omitempty"`
	// TargetGroups are the target groups (ARNs) of LoadBalancerInfo: with
	// them, deployments block and allow traffic around each instance.
	TargetGroups []string     `json:"target_groups,omitempty"`
	AutoRollback AutoRollback `json:"auto_rollback"`
	// DeploymentType is IN_PLACE (the only one), DeploymentOption
	// WITH_TRAFFIC_CONTROL or WITHOUT_TRAFFIC_CONTROL.
	DeploymentType   string `json:"deployment_type"`
	DeploymentOption string `json:"deployment_option"`
	// OutdatedInstancesStrategy is UPDATE or IGNORE; recorded.
	OutdatedInstancesStrategy string `json:"outdated_instances_strategy,omitempty"`
	// ServiceRole is recorded only.
	ServiceRole string `json:"service_role_arn,omitempty"`
}

// Group is a deployment group.
type Group struct {
	ID          string `json:"id"`
	ProjectID   string `json:"project_id"`
	Application string `json:"application"`
	Name        string `json:"name"`
	GroupSpec
	// TargetRevision is the revision the last successful deployment left.
	TargetRevision *Revision `json:"target_revision,omitempty"`
	LastSuccess    string    `json:"last_successful_deployment,omitempty"`
	ManagedBy      string    `json:"managed_by,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	applicationID  string
}

func (g *GroupSpec) normalize() error {
	if g.Config == "" {
		g.Config = OneAtATime
	}
	if g.DeploymentType == "" {
		g.DeploymentType = "IN_PLACE"
	}
	if g.DeploymentType != "IN_PLACE" {
		return fmt.Errorf("DeploymentStyle DeploymentType %s is not supported: deployments here are IN_PLACE", g.DeploymentType)
	}
	switch g.DeploymentOption {
	case "":
		g.DeploymentOption = "WITHOUT_TRAFFIC_CONTROL"
		if len(g.TargetGroups) > 0 {
			g.DeploymentOption = "WITH_TRAFFIC_CONTROL"
		}
	case "WITH_TRAFFIC_CONTROL", "WITHOUT_TRAFFIC_CONTROL":
	default:
		return fmt.Errorf("DeploymentStyle DeploymentOption must be WITH_TRAFFIC_CONTROL or WITHOUT_TRAFFIC_CONTROL, not %s", g.DeploymentOption)
	}
	for i, f := range g.TagFilters {
		switch f.Type {
		case "":
			g.TagFilters[i].Type = "KEY_AND_VALUE"
		case "KEY_ONLY", "VALUE_ONLY", "KEY_AND_VALUE":
		default:
			return fmt.Errorf("tag filter %d: Type must be KEY_ONLY, VALUE_ONLY or KEY_AND_VALUE, not %s", i+1, f.Type)
		}
	}
	for _, e := range g.AutoRollback.Events {
		switch e {
		case RollbackOnFailure, RollbackOnStop, RollbackOnAlarm:
		default:
			return fmt.Errorf("AutoRollbackConfiguration event %s: use DEPLOYMENT_FAILURE, DEPLOYMENT_STOP_ON_REQUEST or DEPLOYMENT_STOP_ON_ALARM", e)
		}
	}
	if g.AutoRollback.Enabled && len(g.AutoRollback.Events) == 0 {
		return errors.New("AutoRollbackConfiguration is enabled with no Events: name DEPLOYMENT_FAILURE and/or DEPLOYMENT_STOP_ON_REQUEST")
	}
	return nil
}

// trafficControl reports whether deployments take instances out of the
// load balancer.
func (g *Group) trafficControl() bool {
	return len(g.TargetGroups) > 0 && g.DeploymentOption == "WITH_TRAFFIC_CONTROL"
}

// CreateGroup makes a deployment group of an application.
func (s *Service) CreateGroup(ctx context.Context, projectID, application, name, managedBy string, spec GroupSpec) (*Group, error) {
	if err := checkName("deployment group", name); err != nil {
		return nil, err
	}
	if err := spec.normalize(); err != nil {
		return nil, err
	}
	app, err := s.Application(ctx, projectID, application)
	if err != nil {
		return nil, err
	}
	if _, err := s.Config(ctx, projectID, spec.Config); err != nil {
		return nil, err
	}
	if managedBy != "" {
		if g, err := s.Group(ctx, projectID, application, name); err == nil && g.ManagedBy == managedBy {
			return g, nil
		}
	}
	raw, _ := json.Marshal(spec)
	id := store.NewID()
	if _, err := s.db.ExecContext(ctx, `INSERT INTO deploy_groups (id, project_id, application_id, name, config, spec, managed_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, id, projectID, app.ID, name, spec.Config, string(raw), managedBy, store.Millis(time.Now())); err != nil {
		return nil, fmt.Errorf("deployment group %s: %w", name, err)
	}
	return s.Group(ctx, projectID, application, name)
}

// UpdateGroup replaces a group's spec (and name). Its revision history
// stays.
func (s *Service) UpdateGroup(ctx context.Context, projectID, application, name, newName string, spec GroupSpec) (*Group, error) {
	if err := checkName("deployment group", newName); err != nil {
		return nil, err
	}
	if err := spec.normalize(); err != nil {
		return nil, err
	}
	g, err := s.Group(ctx, projectID, application, name)
	if err != nil {
		return nil, err
	}
	if _, err := s.Config(ctx, projectID, spec.Config); err != nil {
		return nil, err
	}
	raw, _ := json.Marshal(spec)
	if _, err := s.db.ExecContext(ctx, "UPDATE deploy_groups SET name = ?, config = ?, spec = ? WHERE id = ?", newName, spec.Config, string(raw), g.ID); err != nil {
		return nil, fmt.Errorf("deployment group %s: %w", newName, err)
	}
	return s.Group(ctx, projectID, application, newName)
}

// DeleteGroup deletes a group; one with an active deployment cannot be.
// Nothing installed on its instances is removed, as on AWS.
func (s *Service) DeleteGroup(ctx context.Context, projectID, application, name string) error {
	g, err := s.Group(ctx, projectID, application, name)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		var active int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM deployments WHERE group_id = ? AND status IN (?, ?, ?)`,
			g.ID, Created, Queued, InProgress).Scan(&active); err != nil {
			return err
		}
		if active > 0 {
			return fmt.Errorf("deployment group %s has a deployment in progress; stop it first (slipway deploy stop): %w", name, store.ErrConflict)
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM deploy_groups WHERE id = ?", g.ID)
		return err
	})
}

const groupColumns = `g.id, g.project_id, a.name, a.id, g.name, g.spec, g.target_revision, g.last_success, g.managed_by, g.created_at`

func scanGroup(row interface{ Scan(...any) error }) (*Group, error) {
	var g Group
	var spec, rev string
	var created int64
	if err := row.Scan(&g.ID, &g.ProjectID, &g.Application, &g.applicationID, &g.Name, &spec, &rev, &g.LastSuccess, &g.ManagedBy, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(spec), &g.GroupSpec); err != nil {
		return nil, fmt.Errorf("deployment group %s: %w", g.Name, err)
	}
	if rev != "" {
		g.TargetRevision = &Revision{}
		if err := json.Unmarshal([]byte(rev), g.TargetRevision); err != nil {
			return nil, fmt.Errorf("deployment group %s: %w", g.Name, err)
		}
	}
	g.CreatedAt = store.Time(created)
	return &g, nil
}

func (s *Service) groups(ctx context.Context, q store.Querier, where string, args ...any) ([]*Group, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+groupColumns+" FROM deploy_groups g JOIN deploy_applications a ON a.id = g.application_id WHERE "+where+" ORDER BY a.name, g.name", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*Group{}
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// Group returns an application's deployment group.
func (s *Service) Group(ctx context.Context, projectID, application, name string) (*Group, error) {
	gs, err := s.groups(ctx, s.db, "g.project_id = ? AND a.name = ? AND g.name = ?", projectID, application, name)
	if err != nil {
		return nil, err
	}
	if len(gs) == 0 {
		return nil, fmt.Errorf("deployment group %s of application %s: %w", name, application, store.ErrNotFound)
	}
	return gs[0], nil
}

// Groups lists an application's deployment groups.
func (s *Service) Groups(ctx context.Context, projectID, application string) ([]*Group, error) {
	if _, err := s.Application(ctx, projectID, application); err != nil {
		return nil, err
	}
	return s.groups(ctx, s.db, "g.project_id = ? AND a.name = ?", projectID, application)
}
