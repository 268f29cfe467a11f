// Package fleet runs instance groups of local instances: the local meaning
// of AWS::AutoScaling::AutoScalingGroup and LaunchConfiguration. A group
// keeps its desired number of instances running, replaces the ones that
// fail their health checks, registers them with its target groups, and
// replaces them in batches when its launch configuration changes. Each
// instance is a small host (see Runtime) that outlives a server restart.
package fleet

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slipway/slipway/store"
)

// Instance states, as Auto Scaling spells its lifecycle states.
const (
	Pending     = "Pending"
	InService   = "InService"
	Unhealthy   = "Unhealthy"
	Terminating = "Terminating"
	Terminated  = "Terminated"
)

// Health of an instance.
const (
	Healthy       = "Healthy"
	HealthUnknown = "Unknown"
	NotHealthy    = "Unhealthy"
)

// Health check types of a group.
const (
	CheckEC2 = "EC2"
	CheckELB = "ELB"
)

// LaunchConfiguration is what a group's instances are launched with.
type LaunchConfiguration struct {
	ID           string `json:"id"`
	ProjectID    string `json:"project_id"`
	Name         string `json:"name"`
	ManagedBy    string `json:"managed_by,omitempty"`
	ImageID      string `json:"image_id"`
	InstanceType string `json:"instance_type"`
	// UserData is the decoded script (never shown by the API: it may carry
	// secrets).
	UserData  string         `json:"-"`
	Settings  map[string]any `json:"settings"`
	CreatedAt time.Time      `json:"created_at"`
}

// Group is an instance group.
type Group struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id"`
	Name      string `json:"name"`
	ManagedBy string `json:"managed_by,omitempty"`
	// StackName and LogicalID name the stack resource that made the group:
	// its instances' signals go there.
	StackName           string         `json:"stack_name,omitempty"`
	LogicalID           string         `json:"logical_id,omitempty"`
	LaunchConfiguration string         `json:"launch_configuration"`
	MinSize             int            `json:"min_size"`
	MaxSize             int            `json:"max_size"`
	Desired             int            `json:"desired_capacity"`
	HealthCheckType     string         `json:"health_check_type"`
	GracePeriod         time.Duration  `json:"-"`
	GraceSeconds        int            `json:"health_check_grace_period"`
	TargetGroups        []string       `json:"target_group_arns"`
	Settings            map[string]any `json:"settings"`
	CreatedAt           time.Time      `json:"created_at"`
	UpdatedAt           time.Time      `json:"updated_at"`
	deleting            bool
}

// Instance is one local instance.
type Instance struct {
	ID                  string    `json:"id"`
	GroupID             string    `json:"group_id"`
	Group               string    `json:"group"`
	ProjectID           string    `json:"project_id"`
	LaunchConfiguration string    `json:"launch_configuration"`
	State               string    `json:"state"`
	Health              string    `json:"health"`
	Reason              string    `json:"reason,omitempty"`
	Mode                string    `json:"mode"`
	Description         string    `json:"description"`
	Port                int       `json:"port,omitempty"`
	LaunchedAt          time.Time `json:"launched_at"`
	InServiceAt         time.Time `json:"in_service_at,omitzero"`
	EndedAt             time.Time `json:"ended_at,omitzero"`
	proc                Proc
}

// Balancer is the load balancer as the fleet uses it: a group's instances
// are registered with its target groups (ARNs) while they run.
type Balancer interface {
	Register(ctx context.Context, targetGroup, instanceID string) error
	// Deregister removes the instance; with wait, it returns once the
	// instance's in-flight requests are done (the deregistration delay).
	Deregister(ctx context.Context, targetGroup, instanceID string, wait bool) error
	// TargetState is the instance's state in the target group (ELBv2's:
	// "healthy", "unhealthy", ...; "" when it is not registered) and, when
	// not healthy, why.
	TargetState(ctx context.Context, targetGroup, instanceID string) (state, reason string)
}

// Config is a Service's dependencies.
type Config struct {
	DB      *store.DB
	Runtime *Runtime
	Log     *slog.Logger
	// Balancer registers instances with target groups; nil leaves them out.
	Balancer Balancer
	// Interval is how often groups are reconciled; default 500ms.
	Interval time.Duration
	// StopGrace is how long an instance's processes get between SIGTERM and
	// SIGKILL; default 5s.
	StopGrace time.Duration
	// Agent runs the deployment agent in every instance.
	Agent bool
	// LaunchHook runs once an instance has started, before it is
	// registered with its target groups and put in service (an Auto
	// Scaling lifecycle hook: the deployment service installs the group's
	// last revision there). An error abandons the instance.
	LaunchHook func(ctx context.Context, g *Group, instanceID string) error
}

// Service manages launch configurations, groups and their instances.
type Service struct {
	cfg  Config
	db   *store.DB
	rt   *Runtime
	log  *slog.Logger
	wake chan struct{}

	mu sync.Mutex
	// busy holds the instances being launched or terminated by a goroutine,
	// so the reconciler leaves them alone.
	busy map[string]bool
	// backoff delays a group's next launch after one failed.
	backoff map[string]time.Time
	wg      sync.WaitGroup
	// stoppable is set once Run holds the instance directory's lock, so
	// that StopAll, called after Run, stops only instances this process
	// ran.
	stoppable atomic.Bool
}

// New returns a Service; Run reconciles its groups.
func New(cfg Config) *Service {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 500 * time.Millisecond
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = 5 * time.Second
	}
	if cfg.Runtime.Log == nil {
		cfg.Runtime.Log = cfg.Log
	}
	return &Service{cfg: cfg, db: cfg.DB, rt: cfg.Runtime, log: cfg.Log, wake: make(chan struct{}, 1),
		busy: map[string]bool{}, backoff: map[string]time.Time{}}
}

// SetBalancer gives the service the load balancer its groups register
// instances with; the two are made in turn, as each needs the other. Call
// it before Run.
func (s *Service) SetBalancer(b Balancer) { s.cfg.Balancer = b }

// SetLaunchHook sets Config.LaunchHook (the deployment service, made after
// the fleet, needs the fleet). Call it before Run.
func (s *Service) SetLaunchHook(h func(ctx context.Context, g *Group, instanceID string) error) {
	s.cfg.LaunchHook = h
}

// Runtime returns the runtime the service launches instances with.
func (s *Service) Runtime() *Runtime { return s.rt }

func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// DecodeUserData returns user data as given: base64 (what Fn::Base64 and
// the AWS API carry) is decoded, anything else is taken as the script.
func DecodeUserData(s string) string {
	t := strings.TrimSpace(s)
	if t == "" {
		return ""
	}
	if b, err := base64.StdEncoding.DecodeString(t); err == nil {
		return string(b)
	}
	return s
}

const lcColumns = "id, project_id, name, managed_by, image_id, instance_type, user_data, settings, created_at"

// CreateLaunchConfiguration records a launch configuration. Names are
// unique on the server; a create resumed with the same managedBy returns
// what the first attempt made.
func (s *Service) CreateLaunchConfiguration(ctx context.Context, lc LaunchConfiguration) (*LaunchConfiguration, error) {
	if lc.ImageID == "" || lc.InstanceType == "" {
		return nil, errors.New("launch configuration: ImageId and InstanceType are required")
	}
	if lc.Settings == nil {
		lc.Settings = map[string]any{}
	}
	raw, err := json.Marshal(lc.Settings)
	if err != nil {
		return nil, err
	}
	lc.ID, lc.CreatedAt = store.NewID(), store.Time(store.Millis(time.Now()))
	_, err = s.db.ExecContext(ctx, "INSERT INTO launch_configurations ("+lcColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		lc.ID, lc.ProjectID, lc.Name, lc.ManagedBy, lc.ImageID, lc.InstanceType, lc.UserData, string(raw), store.Millis(lc.CreatedAt))
	if errors.Is(err, store.ErrConflict) {
		old, gerr := s.LaunchConfiguration(ctx, lc.ProjectID, lc.Name)
		if gerr == nil && lc.ManagedBy != "" && old.ManagedBy == lc.ManagedBy {
			return old, nil
		}
		return nil, fmt.Errorf("launch configuration %s %w: names are unique on the server; choose another", lc.Name, store.ErrConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("create launch configuration %s: %w", lc.Name, err)
	}
	return &lc, nil
}

// LaunchConfiguration returns the project's launch configuration name.
func (s *Service) LaunchConfiguration(ctx context.Context, projectID, name string) (*LaunchConfiguration, error) {
	row := s.db.QueryRowContext(ctx, "SELECT "+lcColumns+" FROM launch_configurations WHERE project_id = ? AND name = ?", projectID, name)
	var lc LaunchConfiguration
	var raw string
	var created int64
	if err := store.Scan(row, &lc.ID, &lc.ProjectID, &lc.Name, &lc.ManagedBy, &lc.ImageID, &lc.InstanceType, &lc.UserData, &raw, &created); err != nil {
		return nil, fmt.Errorf("launch configuration %s: %w", name, err)
	}
	lc.CreatedAt = store.Time(created)
	_ = json.Unmarshal([]byte(raw), &lc.Settings)
	return &lc, nil
}

// DeleteLaunchConfiguration removes a launch configuration no group uses;
// an absent one is not an error.
func (s *Service) DeleteLaunchConfiguration(ctx context.Context, projectID, name string) error {
	var n int
	if err := store.Scan(s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM instance_groups WHERE project_id = ? AND launch_configuration = ?", projectID, name), &n); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("Cannot delete launch configuration %s because it is attached to AutoScalingGroup", name)
	}
	_, err := s.db.ExecContext(ctx, "DELETE FROM launch_configurations WHERE project_id = ? AND name = ?", projectID, name)
	return err
}

const groupColumns = "id, project_id, name, managed_by, stack_name, logical_id, launch_configuration, min_size, max_size, desired, health_check_type, grace_seconds, target_groups, settings, deleting, created_at, updated_at"

func (g *Group) check() error {
	switch {
	case g.MinSize < 0 || g.MaxSize < g.MinSize:
		return fmt.Errorf("group %s: MinSize %d and MaxSize %d: MaxSize must be at least MinSize, and both at least 0", g.Name, g.MinSize, g.MaxSize)
	case g.Desired < g.MinSize || g.Desired > g.MaxSize:
		return fmt.Errorf("group %s: DesiredCapacity %d must be between MinSize %d and MaxSize %d", g.Name, g.Desired, g.MinSize, g.MaxSize)
	case g.HealthCheckType != CheckEC2 && g.HealthCheckType != CheckELB:
		return fmt.Errorf("group %s: HealthCheckType %q: use EC2 or ELB", g.Name, g.HealthCheckType)
	}
	return nil
}

// CreateGroup records a group and lets the reconciler launch its
// instances. A create resumed with the same managedBy returns the group the
// first attempt made.
func (s *Service) CreateGroup(ctx context.Context, g Group) (*Group, error) {
	if g.HealthCheckType == "" {
		g.HealthCheckType = CheckEC2
	}
	if err := g.check(); err != nil {
		return nil, err
	}
	if _, err := s.LaunchConfiguration(ctx, g.ProjectID, g.LaunchConfiguration); err != nil {
		return nil, err
	}
	if g.TargetGroups == nil {
		g.TargetGroups = []string{}
	}
	if g.Settings == nil {
		g.Settings = map[string]any{}
	}
	tgs, _ := json.Marshal(g.TargetGroups)
	settings, _ := json.Marshal(g.Settings)
	now := store.Time(store.Millis(time.Now()))
	g.ID, g.CreatedAt, g.UpdatedAt = store.NewID(), now, now
	_, err := s.db.ExecContext(ctx, "INSERT INTO instance_groups ("+groupColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
		g.ID, g.ProjectID, g.Name, g.ManagedBy, g.StackName, g.LogicalID, g.LaunchConfiguration, g.MinSize, g.MaxSize, g.Desired,
		g.HealthCheckType, int(g.GracePeriod/time.Second), string(tgs), string(settings), store.Millis(now), store.Millis(now))
	if errors.Is(err, store.ErrConflict) {
		old, gerr := s.Group(ctx, g.ProjectID, g.Name)
		if gerr == nil && g.ManagedBy != "" && old.ManagedBy == g.ManagedBy {
			return old, nil
		}
		return nil, fmt.Errorf("AutoScalingGroup %s %w: names are unique on the server; choose another", g.Name, store.ErrConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("create group %s: %w", g.Name, err)
	}
	g.GraceSeconds = int(g.GracePeriod / time.Second)
	s.poke()
	return &g, nil
}

// UpdateGroup changes a group's sizes, health checks, target groups and
// launch configuration. Instances of an earlier launch configuration keep
// running until replaced (see RollingReplace) or scaled in first.
func (s *Service) UpdateGroup(ctx context.Context, g Group) (*Group, error) {
	if g.HealthCheckType == "" {
		g.HealthCheckType = CheckEC2
	}
	if err := g.check(); err != nil {
		return nil, err
	}
	if _, err := s.LaunchConfiguration(ctx, g.ProjectID, g.LaunchConfiguration); err != nil {
		return nil, err
	}
	old, err := s.Group(ctx, g.ProjectID, g.Name)
	if err != nil {
		return nil, err
	}
	if g.TargetGroups == nil {
		g.TargetGroups = []string{}
	}
	if g.Settings == nil {
		g.Settings = map[string]any{}
	}
	tgs, _ := json.Marshal(g.TargetGroups)
	settings, _ := json.Marshal(g.Settings)
	now := time.Now()
	if _, err := s.db.ExecContext(ctx, `UPDATE instance_groups SET launch_configuration = ?, min_size = ?, max_size = ?, desired = ?,
		health_check_type = ?, grace_seconds = ?, target_groups = ?, settings = ?, updated_at = ? WHERE id = ?`,
		g.LaunchConfiguration, g.MinSize, g.MaxSize, g.Desired, g.HealthCheckType, int(g.GracePeriod/time.Second),
		string(tgs), string(settings), store.Millis(now), old.ID); err != nil {
		return nil, fmt.Errorf("update group %s: %w", g.Name, err)
	}
	// Instances leave target groups the group no longer names, and join
	// the new ones.
	if s.cfg.Balancer != nil {
		insts, err := s.Instances(ctx, old.ID)
		if err != nil {
			return nil, err
		}
		for _, in := range insts {
			if in.State != InService {
				continue
			}
			for _, tg := range old.TargetGroups {
				if !slices.Contains(g.TargetGroups, tg) {
					_ = s.cfg.Balancer.Deregister(ctx, tg, in.ID, false)
				}
			}
			for _, tg := range g.TargetGroups {
				if !slices.Contains(old.TargetGroups, tg) {
					if err := s.cfg.Balancer.Register(ctx, tg, in.ID); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	s.poke()
	return s.Group(ctx, g.ProjectID, g.Name)
}

// SetDesired changes a group's desired capacity within its sizes.
func (s *Service) SetDesired(ctx context.Context, projectID, name string, desired int) (*Group, error) {
	g, err := s.Group(ctx, projectID, name)
	if err != nil {
		return nil, err
	}
	if desired < g.MinSize || desired > g.MaxSize {
		return nil, fmt.Errorf("New SetDesiredCapacity value %d is below min value %d or above max value %d for the AutoScalingGroup %s", desired, g.MinSize, g.MaxSize, name)
	}
	if _, err := s.db.ExecContext(ctx, "UPDATE instance_groups SET desired = ?, updated_at = ? WHERE id = ?", desired, store.Millis(time.Now()), g.ID); err != nil {
		return nil, err
	}
	s.poke()
	return s.Group(ctx, projectID, name)
}

// DeleteGroup terminates every instance of the group (each deregistered
// from its target groups first) and removes it once they are gone. It
// blocks until then or until ctx ends; called again, it carries on.
func (s *Service) DeleteGroup(ctx context.Context, projectID, name string) error {
	g, err := s.Group(ctx, projectID, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, "UPDATE instance_groups SET deleting = 1, desired = 0, min_size = 0 WHERE id = ?", g.ID); err != nil {
		return err
	}
	s.poke()
	if err := s.waitInstances(ctx, g.ID, func(ins []*Instance) bool {
		return !slices.ContainsFunc(ins, func(in *Instance) bool { return in.State != Terminated })
	}); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM instances WHERE group_id = ?", g.ID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM instance_groups WHERE id = ?", g.ID)
		return err
	})
}

// Group returns the project's group called name.
func (s *Service) Group(ctx context.Context, projectID, name string) (*Group, error) {
	gs, err := s.groups(ctx, "project_id = ? AND name = ?", projectID, name)
	if err != nil {
		return nil, err
	}
	if len(gs) == 0 {
		return nil, fmt.Errorf("AutoScalingGroup %s: %w", name, store.ErrNotFound)
	}
	return gs[0], nil
}

// Groups lists the project's groups by name.
func (s *Service) Groups(ctx context.Context, projectID string) ([]*Group, error) {
	return s.groups(ctx, "project_id = ?", projectID)
}

func (s *Service) groups(ctx context.Context, where string, args ...any) ([]*Group, error) {
	q := "SELECT " + groupColumns + " FROM instance_groups"
	if where != "" {
		q += " WHERE " + where
	}
	rows, err := s.db.QueryContext(ctx, q+" ORDER BY name", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Group
	for rows.Next() {
		var g Group
		var tgs, settings string
		var deleting int
		var created, updated int64
		if err := rows.Scan(&g.ID, &g.ProjectID, &g.Name, &g.ManagedBy, &g.StackName, &g.LogicalID, &g.LaunchConfiguration,
			&g.MinSize, &g.MaxSize, &g.Desired, &g.HealthCheckType, &g.GraceSeconds, &tgs, &settings, &deleting, &created, &updated); err != nil {
			return nil, err
		}
		g.GracePeriod = time.Duration(g.GraceSeconds) * time.Second
		g.deleting = deleting != 0
		g.CreatedAt, g.UpdatedAt = store.Time(created), store.Time(updated)
		_ = json.Unmarshal([]byte(tgs), &g.TargetGroups)
		_ = json.Unmarshal([]byte(settings), &g.Settings)
		out = append(out, &g)
	}
	return out, rows.Err()
}

const instanceColumns = "i.id, i.group_id, g.name, i.project_id, i.launch_configuration, i.state, i.health, i.reason, i.proc, i.launched_at, i.in_service_at, i.ended_at"

// Instances lists a group's instances, terminated ones included, oldest
// first.
func (s *Service) Instances(ctx context.Context, groupID string) ([]*Instance, error) {
	return s.instances(ctx, "i.group_id = ?", groupID)
}

// Instance returns one instance of the project.
func (s *Service) Instance(ctx context.Context, projectID, id string) (*Instance, error) {
	ins, err := s.instances(ctx, "i.project_id = ? AND i.id = ?", projectID, id)
	if err != nil {
		return nil, err
	}
	if len(ins) == 0 {
		return nil, fmt.Errorf("instance %s: %w", id, store.ErrNotFound)
	}
	return ins[0], nil
}

func (s *Service) instances(ctx context.Context, where string, args ...any) ([]*Instance, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+instanceColumns+" FROM instances i JOIN instance_groups g ON g.id = i.group_id WHERE "+where+" ORDER BY i.launched_at, i.id", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Instance
	for rows.Next() {
		var in Instance
		var proc string
		var launched, inService, ended int64
		if err := rows.Scan(&in.ID, &in.GroupID, &in.Group, &in.ProjectID, &in.LaunchConfiguration, &in.State, &in.Health, &in.Reason,
			&proc, &launched, &inService, &ended); err != nil {
			return nil, err
		}
		_ = json.Unmarshal([]byte(proc), &in.proc)
		in.Mode, in.Port = in.proc.Mode, in.proc.Port
		in.Description = describeMode(in.proc.Mode)
		if in.proc.Limits != "" {
			in.Description += "; " + in.proc.Limits
		}
		in.LaunchedAt = store.Time(launched)
		if inService > 0 {
			in.InServiceAt = store.Time(inService)
		}
		if ended > 0 {
			in.EndedAt = store.Time(ended)
		}
		out = append(out, &in)
	}
	return out, rows.Err()
}

func describeMode(mode string) string {
	switch mode {
	case ModeNamespaced:
		return "namespaced: own /opt, /var, /tmp, /srv, /home, /root, PID namespace, hostname and network (the application listens on its usual port)"
	case ModeProcess:
		return "plain process: this machine refused namespaces; the application must listen on $PORT, its root directory is $INSTANCE_ROOT"
	}
	return ""
}

// InstanceConfig is the file an instance reads at
// /var/lib/slipway/instance.json ($SLIPWAY_INSTANCE_CONFIG): who it is to
// the server. The server's API is the Unix socket server/api.sock beside
// it (see InstanceSocket).
type InstanceConfig struct {
	InstanceID string `json:"instance_id"`
	Token      string `json:"token"`
	Stack      string `json:"stack,omitempty"`
	// Resource is the group's logical ID, which cfn-signal signals by
	// default.
	Resource string `json:"resource,omitempty"`
}

// TokenPrefix starts every instance credential, so the API tells them from
// user tokens.
const TokenPrefix = "swi_"

// Authenticate returns the live instance whose credential token is, and its
// group.
func (s *Service) Authenticate(ctx context.Context, token string) (*Instance, *Group, error) {
	if !strings.HasPrefix(token, TokenPrefix) {
		return nil, nil, errors.New("not an instance credential")
	}
	sum := sha256.Sum256([]byte(token))
	ins, err := s.instances(ctx, "i.token_hash = ? AND i.state <> ?", hex.EncodeToString(sum[:]), Terminated)
	if err != nil {
		return nil, nil, err
	}
	if len(ins) == 0 {
		return nil, nil, errors.New("invalid or expired instance credential")
	}
	gs, err := s.groups(ctx, "id = ?", ins[0].GroupID)
	if err != nil || len(gs) == 0 {
		return nil, nil, errors.New("invalid or expired instance credential")
	}
	return ins[0], gs[0], nil
}

func newInstanceID() string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	return "i-" + hex.EncodeToString(b)[:17]
}

// Run reconciles every group until ctx ends: it first sweeps instances left
// by an earlier server (adopting live ones), then keeps each group at its
// desired capacity of healthy instances.
//
// Of several servers on one data directory, only the one holding the
// instance directory's lock runs the instances (a crashed holder's lock
// goes with it); the others wait to take over.
func (s *Service) Run(ctx context.Context) error {
	defer s.rt.Close()
	unlock, err := s.rt.own(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer unlock()
	s.stoppable.Store(true)
	if err := s.sweep(ctx); err != nil {
		s.log.Error("fleet: sweep", "err", err)
	}
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if err := s.reconcile(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("fleet: reconcile", "err", err)
		}
		select {
		case <-ctx.Done():
			s.wg.Wait()
			return nil
		case <-t.C:
		case <-s.wake:
		}
	}
}

// StopAll stops every local instance's processes, for a server that stops
// without --keep-instances. Their records stay: the next start finds them
// dead and replaces them.
func (s *Service) StopAll(ctx context.Context) error {
	if !s.stoppable.Load() {
		// Another server process runs this data directory's instances.
		return nil
	}
	ins, err := s.instances(ctx, "i.state <> ?", Terminated)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, in := range ins {
		wg.Go(func() {
			s.rt.Stop(ctx, in.proc, s.cfg.StopGrace)
			removeCgroups(in.ID)
		})
	}
	wg.Wait()
	return nil
}

// sweep runs once at start: instance directories without a live record are
// stopped and removed, so no process is left orphaned by a crash between a
// launch and its record.
func (s *Service) sweep(ctx context.Context) error {
	entries, err := os.ReadDir(s.rt.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	live := map[string]*Instance{}
	ins, err := s.instances(ctx, "i.state <> ?", Terminated)
	if err != nil {
		return err
	}
	for _, in := range ins {
		live[in.ID] = in
	}
	for _, e := range entries {
		id := e.Name()
		if !e.IsDir() {
			continue // the lock file
		}
		if in, ok := live[id]; ok && in.proc.PID != 0 {
			continue
		}
		if p, err := readProc(s.rt.InstanceDir(id)); err == nil {
			s.rt.Stop(ctx, p, s.cfg.StopGrace)
		}
		if in, ok := live[id]; ok {
			// Launched, but the record of its process was never written.
			s.setState(ctx, in.ID, Terminated, NotHealthy, "the server stopped while it was launching")
			continue
		}
		_ = s.rt.Remove(id)
	}
	return nil
}

func readProc(dir string) (Proc, error) {
	var p Proc
	b, err := os.ReadFile(dir + "/proc.json")
	if err != nil {
		return p, err
	}
	return p, json.Unmarshal(b, &p)
}

// reconcile is one pass over every group.
func (s *Service) reconcile(ctx context.Context) error {
	groups, err := s.groups(ctx, "")
	if err != nil {
		return err
	}
	for _, g := range groups {
		if err := s.reconcileGroup(ctx, g); err != nil && ctx.Err() == nil {
			s.log.Error("fleet: group", "group", g.Name, "err", err)
		}
	}
	return nil
}

func (s *Service) reconcileGroup(ctx context.Context, g *Group) error {
	ins, err := s.Instances(ctx, g.ID)
	if err != nil {
		return err
	}
	var live []*Instance
	for _, in := range ins {
		if in.State == Terminated || s.isBusy(in.ID) {
			if in.State == Pending || in.State == InService {
				live = append(live, in)
			}
			continue
		}
		switch in.State {
		case Pending, InService:
			if why := s.unhealthy(ctx, g, in); why != "" {
				s.log.Info("fleet: instance unhealthy; replacing it", "group", g.Name, "instance", in.ID, "reason", why)
				s.setState(ctx, in.ID, Unhealthy, NotHealthy, why)
				s.terminate(g, in, false)
				continue
			}
			live = append(live, in)
		case Unhealthy:
			s.terminate(g, in, false)
		case Terminating:
			s.terminate(g, in, true)
		}
	}
	switch {
	case len(live) < g.Desired && !g.deleting:
		s.mu.Lock()
		wait := time.Now().Before(s.backoff[g.ID])
		s.mu.Unlock()
		if !wait {
			for i := len(live); i < g.Desired; i++ {
				s.launch(ctx, g)
			}
		}
	case len(live) > g.Desired:
		// Scale in: instances of an older launch configuration first, then
		// the oldest (Auto Scaling's default termination policy, without
		// zones and billing hours).
		sort.SliceStable(live, func(i, j int) bool {
			oi, oj := live[i].LaunchConfiguration != g.LaunchConfiguration, live[j].LaunchConfiguration != g.LaunchConfiguration
			if oi != oj {
				return oi
			}
			return live[i].LaunchedAt.Before(live[j].LaunchedAt)
		})
		for _, in := range live[:len(live)-g.Desired] {
			s.setState(ctx, in.ID, Terminating, in.Health, "scale in")
			s.terminate(g, in, true)
		}
	}
	return nil
}

// unhealthy says why a running instance fails its group's health check,
// "" when it passes.
func (s *Service) unhealthy(ctx context.Context, g *Group, in *Instance) string {
	if in.State == Pending {
		return ""
	}
	if !s.rt.Alive(in.proc) {
		return "EC2 health check: the instance's init process is gone"
	}
	if g.HealthCheckType != CheckELB || s.cfg.Balancer == nil || time.Since(in.InServiceAt) < g.GracePeriod {
		return ""
	}
	for _, tg := range g.TargetGroups {
		if state, why := s.cfg.Balancer.TargetState(ctx, tg, in.ID); state == "unhealthy" {
			return "ELB health check: " + why
		}
	}
	return ""
}

func (s *Service) isBusy(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.busy[id]
}

func (s *Service) claim(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy[id] {
		return false
	}
	s.busy[id] = true
	return true
}

func (s *Service) release(id string) {
	s.mu.Lock()
	delete(s.busy, id)
	s.mu.Unlock()
	s.poke()
}

func (s *Service) setState(ctx context.Context, id, state, health, reason string) {
	ended := int64(0)
	if state == Terminated {
		ended = store.Millis(time.Now())
	}
	if _, err := s.db.ExecContext(ctx, "UPDATE instances SET state = ?, health = ?, reason = ?, ended_at = ? WHERE id = ?",
		state, health, reason, ended, id); err != nil && ctx.Err() == nil {
		s.log.Error("fleet: record instance state", "instance", id, "state", state, "err", err)
	}
}

// launch records one Pending instance of g, so that the next pass counts
// it, and starts it in the background.
func (s *Service) launch(ctx context.Context, g *Group) {
	id := newInstanceID()
	secret := make([]byte, 24)
	_, _ = rand.Read(secret)
	token := TokenPrefix + hex.EncodeToString(secret)
	sum := sha256.Sum256([]byte(token))
	if !s.claim(id) {
		return
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO instances (id, group_id, project_id, launch_configuration, state, health, token_hash, launched_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, id, g.ID, g.ProjectID, g.LaunchConfiguration, Pending, HealthUnknown, hex.EncodeToString(sum[:]), store.Millis(time.Now())); err != nil {
		s.release(id)
		if ctx.Err() == nil {
			s.log.Error("fleet: record a new instance", "group", g.Name, "err", err)
		}
		return
	}
	s.wg.Go(func() {
		defer s.release(id)
		if err := s.launchOne(ctx, g, id, token); err != nil && ctx.Err() == nil {
			s.log.Error("fleet: launch failed", "group", g.Name, "instance", id, "err", err)
			s.mu.Lock()
			s.backoff[g.ID] = time.Now().Add(2 * time.Second)
			s.mu.Unlock()
		}
	})
}

func (s *Service) launchOne(ctx context.Context, g *Group, id, token string) error {
	now := time.Now()
	fail := func(err error) error {
		s.setState(context.WithoutCancel(ctx), id, Terminated, NotHealthy, "launch failed: "+err.Error())
		_ = s.rt.Remove(id)
		return err
	}
	lc, err := s.LaunchConfiguration(ctx, g.ProjectID, g.LaunchConfiguration)
	if err != nil {
		return fail(err)
	}
	cfg := InstanceConfig{InstanceID: id, Token: token, Stack: g.StackName, Resource: g.LogicalID}
	if err := s.rt.Prepare(id, []byte(lc.UserData), cfg); err != nil {
		return fail(err)
	}
	env := []string{"SLIPWAY_INSTANCE_TYPE=" + lc.InstanceType, "SLIPWAY_IMAGE_ID=" + lc.ImageID, "SLIPWAY_GROUP=" + g.Name}
	p, err := s.rt.Launch(ctx, Spec{ID: id, Hostname: id, Env: env, DataDir: s.rt.DataDir, RunDir: s.rt.RunDir, InstanceType: lc.InstanceType, Agent: s.cfg.Agent})
	if err != nil {
		return fail(err)
	}
	raw, _ := json.Marshal(p)
	_ = os.WriteFile(s.rt.InstanceDir(id)+"/proc.json", raw, 0o600)
	if s.cfg.LaunchHook != nil {
		if err := s.cfg.LaunchHook(ctx, g, id); err != nil {
			s.rt.Stop(context.WithoutCancel(ctx), p, 0)
			return fail(fmt.Errorf("launch hook: %w", err))
		}
	}
	// Registered first, so that an instance in service is one the load
	// balancer knows (its health checks decide when it gets traffic).
	if s.cfg.Balancer != nil {
		for _, tg := range g.TargetGroups {
			if err := s.cfg.Balancer.Register(ctx, tg, id); err != nil {
				s.rt.Stop(context.WithoutCancel(ctx), p, 0)
				return fail(fmt.Errorf("register with target group %s: %w", tg, err))
			}
		}
	}
	if _, err := s.db.ExecContext(ctx, "UPDATE instances SET proc = ?, state = ?, health = ?, in_service_at = ? WHERE id = ?",
		string(raw), InService, Healthy, store.Millis(time.Now()), id); err != nil {
		s.rt.Stop(context.WithoutCancel(ctx), p, 0)
		return fail(err)
	}
	s.log.Info("fleet: instance in service", "group", g.Name, "instance", id, "mode", p.Mode, "took", time.Since(now))
	return nil
}

// terminate ends instance in in the background: deregistered from its
// target groups (waiting for draining when drain), its processes stopped,
// its directory removed.
func (s *Service) terminate(g *Group, in *Instance, drain bool) {
	if !s.claim(in.ID) {
		return
	}
	s.wg.Go(func() {
		defer s.release(in.ID)
		ctx := context.Background()
		if in.State != Unhealthy {
			s.setState(ctx, in.ID, Terminating, in.Health, in.Reason)
		}
		if s.cfg.Balancer != nil {
			var wg sync.WaitGroup
			for _, tg := range g.TargetGroups {
				wg.Go(func() {
					if err := s.cfg.Balancer.Deregister(ctx, tg, in.ID, drain); err != nil {
						s.log.Error("fleet: deregister", "instance", in.ID, "target_group", tg, "err", err)
					}
				})
			}
			wg.Wait()
		}
		s.rt.Stop(ctx, in.proc, s.cfg.StopGrace)
		if err := s.rt.Remove(in.ID); err != nil {
			s.log.Error("fleet: remove instance directory", "instance", in.ID, "err", err)
		}
		reason := in.Reason
		if reason == "" {
			reason = "terminated"
		}
		s.setState(ctx, in.ID, Terminated, in.Health, reason)
		s.log.Info("fleet: instance terminated", "group", g.Name, "instance", in.ID, "reason", reason)
	})
}

// Terminate ends one instance of the project; the group launches a
// replacement unless decrement lowers its desired capacity.
func (s *Service) Terminate(ctx context.Context, projectID, id string, decrement bool) (*Instance, error) {
	in, err := s.Instance(ctx, projectID, id)
	if err != nil {
		return nil, err
	}
	if in.State == Terminated || in.State == Terminating {
		return in, nil
	}
	if decrement {
		gs, err := s.groups(ctx, "id = ?", in.GroupID)
		if err != nil || len(gs) == 0 {
			return nil, fmt.Errorf("instance %s: its group: %w", id, err)
		}
		if gs[0].Desired-1 < gs[0].MinSize {
			return nil, fmt.Errorf("Currently, desired capacity %d of group %s cannot go below its MinSize %d", gs[0].Desired, gs[0].Name, gs[0].MinSize)
		}
		if _, err := s.db.ExecContext(ctx, "UPDATE instance_groups SET desired = desired - 1 WHERE id = ?", in.GroupID); err != nil {
			return nil, err
		}
	}
	s.setState(ctx, id, Terminating, in.Health, "terminated by request")
	s.poke()
	return s.Instance(ctx, projectID, id)
}

// WaitInService blocks until the group has at least n instances in
// service, or ctx ends. Instances of an earlier launch configuration count:
// as on AWS, a new launch configuration applies to instances launched
// after it.
func (s *Service) WaitInService(ctx context.Context, projectID, name string, n int) error {
	g, err := s.Group(ctx, projectID, name)
	if err != nil {
		return err
	}
	up := 0
	err = s.waitInstances(ctx, g.ID, func(ins []*Instance) bool {
		up = 0
		for _, in := range ins {
			if in.State == InService {
				up++
			}
		}
		return up >= n
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("group %s: %d of %d instances in service: %w", name, up, n, ctx.Err())
	}
	return err
}

// waitInstances reads the group's instances every 20 ms until done says
// so, or ctx ends.
func (s *Service) waitInstances(ctx context.Context, groupID string, done func([]*Instance) bool) error {
	for {
		ins, err := s.Instances(ctx, groupID)
		if err != nil {
			return err
		}
		if done(ins) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Dial reaches port on a running instance (the load balancer's way in).
func (s *Service) Dial(ctx context.Context, id string, port int) (net.Conn, error) {
	return s.rt.Dial(ctx, id, port)
}

// InstanceSocket is the server's API socket as an instance whose
// configuration file is config sees it.
func InstanceSocket(config string) string {
	return filepath.Join(filepath.Dir(config), "server", "api.sock")
}

// RollingPolicy is an UpdatePolicy's AutoScalingRollingUpdate.
type RollingPolicy struct {
	// MinInService is how many instances stay in service throughout.
	MinInService int
	// MaxBatch is how many instances are replaced at a time (at least 1).
	MaxBatch int
	// Pause follows each batch; with signals it is how long to wait for
	// the batch's signals.
	Pause time.Duration
}

// rollingWait bounds how long a batch's new instances may take to come
// into service.
const rollingWait = 5 * time.Minute

// RollingReplace replaces the group's instances of earlier launch
// configurations in batches of p.MaxBatch, never leaving fewer than
// p.MinInService in service: a batch is terminated first (its instances
// drained) when the rest suffice, else new instances are launched first.
// After each batch's new instances are in service, signals (when not nil)
// waits for their success signals, or the pause passes.
func (s *Service) RollingReplace(ctx context.Context, projectID, name string, p RollingPolicy, signals func(ctx context.Context, ids []string) error) error {
	if p.MaxBatch < 1 {
		p.MaxBatch = 1
	}
	for {
		g, err := s.Group(ctx, projectID, name)
		if err != nil {
			return err
		}
		ins, err := s.Instances(ctx, g.ID)
		if err != nil {
			return err
		}
		var old []*Instance
		before := map[string]bool{}
		for _, in := range ins {
			if in.State != Pending && in.State != InService {
				continue
			}
			if in.LaunchConfiguration != g.LaunchConfiguration {
				old = append(old, in)
			} else {
				before[in.ID] = true
			}
		}
		if len(old) == 0 {
			return nil
		}
		batch := min(p.MaxBatch, len(old))
		surge := g.Desired-batch < p.MinInService
		if surge {
			// Launch first: the group may exceed its MaxSize meanwhile, as
			// Auto Scaling's does during a rolling update.
			if _, err := s.db.ExecContext(ctx, "UPDATE instance_groups SET desired = ? WHERE id = ?", g.Desired+batch, g.ID); err != nil {
				return err
			}
		} else {
			for _, in := range old[:batch] {
				s.setState(ctx, in.ID, Terminating, in.Health, "rolling update to launch configuration "+g.LaunchConfiguration)
			}
		}
		s.poke()
		fresh, err := s.waitFresh(ctx, g, before, batch)
		if surge {
			// Back to the desired capacity: scaling in takes the instances
			// of the old launch configuration first.
			if _, uerr := s.db.ExecContext(context.WithoutCancel(ctx), "UPDATE instance_groups SET desired = ? WHERE id = ?", g.Desired, g.ID); uerr != nil && err == nil {
				err = uerr
			}
			s.poke()
		}
		if err != nil {
			return err
		}
		s.log.Info("fleet: rolling update batch in service", "group", g.Name, "instances", fresh)
		switch {
		case signals != nil:
			if err := signals(ctx, fresh); err != nil {
				return err
			}
		case p.Pause > 0:
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(p.Pause):
			}
		}
		if surge {
			// The old batch goes before the next one starts.
			if err := s.waitGone(ctx, g, old[:batch]); err != nil {
				return err
			}
		}
	}
}

// waitFresh waits until n instances of g's launch configuration that are
// not in before are in service and healthy in g's target groups, and
// returns their IDs.
func (s *Service) waitFresh(ctx context.Context, g *Group, before map[string]bool, n int) ([]string, error) {
	wctx, cancel := context.WithTimeout(ctx, rollingWait)
	defer cancel()
	var fresh []string
	err := s.waitInstances(wctx, g.ID, func(ins []*Instance) bool {
		fresh = fresh[:0]
		for _, in := range ins {
			if in.State == InService && in.LaunchConfiguration == g.LaunchConfiguration && !before[in.ID] && s.takesTraffic(wctx, g, in.ID) {
				fresh = append(fresh, in.ID)
			}
		}
		return len(fresh) >= n
	})
	if err != nil && ctx.Err() == nil && wctx.Err() != nil {
		return nil, fmt.Errorf("group %s: %d of %d new instances of launch configuration %s in service after %s; see slipway fleet get %s --all",
			g.Name, len(fresh), n, g.LaunchConfiguration, rollingWait, g.Name)
	}
	if err != nil {
		return nil, err
	}
	return fresh, nil
}

// takesTraffic reports whether every target group of g has found the
// instance healthy: a rolling update goes on only once the new instances
// serve, so the load balancer always has some to send to.
func (s *Service) takesTraffic(ctx context.Context, g *Group, id string) bool {
	if s.cfg.Balancer == nil {
		return true
	}
	for _, tg := range g.TargetGroups {
		if state, _ := s.cfg.Balancer.TargetState(ctx, tg, id); state != "healthy" {
			return false
		}
	}
	return true
}

// waitGone waits until the instances have left service.
func (s *Service) waitGone(ctx context.Context, g *Group, gone []*Instance) error {
	return s.waitInstances(ctx, g.ID, func(ins []*Instance) bool {
		return !slices.ContainsFunc(ins, func(in *Instance) bool {
			return (in.State == Pending || in.State == InService) &&
				slices.ContainsFunc(gone, func(o *Instance) bool { return o.ID == in.ID })
		})
	})
}
