package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slipway/slipway/agent"
	"github.com/slipway/slipway/appspec"
	"github.com/slipway/slipway/fleet"
	"github.com/slipway/slipway/jobs"
	"github.com/slipway/slipway/store"
)

// lifecycle is the events an instance goes through, in CodeDeploy's
// order; the traffic events only when the deployment controls traffic.
func lifecycle(traffic bool) []string {
	var out []string
	for _, e := range appspec.Events() {
		if e.LoadBalancerOnly() && !traffic {
			continue
		}
		out = append(out, string(e))
	}
	return out
}

func (s *Service) runJob(ctx context.Context, job *jobs.Job) error {
	var p struct {
		ID string `json:"id"`
	}
	if err := job.Decode(&p); err != nil {
		return jobs.Permanent(err)
	}
	err := s.run(ctx, p.ID)
	if errors.Is(err, store.ErrNotFound) {
		return jobs.Permanent(err)
	}
	return err
}

// run drives a deployment from where it is (a resumed job continues the
// targets and commands recorded) to its end.
func (s *Service) run(ctx context.Context, id string) error {
	d, err := s.get(ctx, id)
	if err != nil {
		return err
	}
	if d.Done() {
		return nil
	}
	gs, err := s.groups(ctx, s.db, "g.id = ?", d.GroupID)
	if err != nil {
		return err
	}
	if len(gs) == 0 {
		return s.finish(ctx, d, nil, Failed, "DEPLOYMENT_GROUP_MISSING", "the deployment group was deleted", false)
	}
	g := gs[0]
	targets, err := s.targets(ctx, id)
	if err != nil {
		return err
	}
	if len(targets) == 0 {
		ids, traffic, err := s.resolve(ctx, g, d)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return s.finish(ctx, d, g, Failed, ErrNoInstances, "the deployment group has no instances to deploy to: "+describeSelection(g), false)
		}
		if why := newPlan(d.Options.ConfigRule, len(ids)).invalid(); why != "" {
			return s.finish(ctx, d, g, Failed, ErrHealthConstraintsInvalid, why, false)
		}
		now := time.Now()
		err = s.db.Tx(ctx, func(tx *store.Tx) error {
			for i, in := range ids {
				var evs []LifecycleEvent
				for _, e := range lifecycle(traffic[in]) {
					evs = append(evs, LifecycleEvent{Name: e, Status: Pending})
				}
				raw, _ := json.Marshal(evs)
				if _, err := tx.ExecContext(ctx, "INSERT INTO deployment_targets (deployment_id, instance_id, ord, status, events) VALUES (?, ?, ?, ?, ?)",
					id, in, i, Pending, string(raw)); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, "UPDATE deployments SET status = ?, started_at = ? WHERE id = ?", InProgress, store.Millis(now), id)
			return err
		})
		if err != nil {
			return err
		}
		s.log.Info("deploy: deployment started", "deployment", id, "group", g.Name, "instances", len(ids), "config", d.Config)
		if targets, err = s.targets(ctx, id); err != nil {
			return err
		}
	}
	return s.drive(ctx, d, g, targets)
}

func describeSelection(g *Group) string {
	var parts []string
	if len(g.AutoScalingGroups) > 0 {
		parts = append(parts, "Auto Scaling groups "+strings.Join(g.AutoScalingGroups, ", ")+" have no instance in service")
	}
	if len(g.TagFilters) > 0 {
		parts = append(parts, "no registered on-premises host matches its tag filters (slipway agent --tags)")
	}
	if len(parts) == 0 {
		return "it names no Auto Scaling group and no on-premises tag filter"
	}
	return strings.Join(parts, "; ")
}

// resolve chooses a deployment's instances: those of its group's Auto
// Scaling groups in service, then the matching on-premises hosts; and
// which of them take part in traffic control.
func (s *Service) resolve(ctx context.Context, g *Group, d *Deployment) ([]string, map[string]bool, error) {
	traffic := map[string]bool{}
	if len(d.Options.Instances) > 0 {
		return d.Options.Instances, traffic, nil
	}
	var ids []string
	if s.cfg.Fleet != nil {
		for _, name := range g.AutoScalingGroups {
			fg, err := s.cfg.Fleet.Group(ctx, g.ProjectID, name)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, nil, err
			}
			ins, err := s.cfg.Fleet.Instances(ctx, fg.ID)
			if err != nil {
				return nil, nil, err
			}
			for _, in := range ins {
				if in.State == fleet.InService {
					ids = append(ids, in.ID)
					traffic[in.ID] = d.Options.TrafficControl
				}
			}
		}
	}
	if len(g.TagFilters) > 0 {
		hosts, err := s.Hosts(ctx, g.ProjectID)
		if err != nil {
			return nil, nil, err
		}
		for _, h := range hosts {
			if h.Revoked {
				continue
			}
			if slices.ContainsFunc(g.TagFilters, func(f TagFilter) bool { return f.matches(h.Tags) }) {
				ids = append(ids, h.ID)
			}
		}
	}
	return ids, traffic, nil
}

// drive starts targets as the configuration allows and ends the
// deployment once none is left to start.
func (s *Service) drive(ctx context.Context, d *Deployment, g *Group, targets []*Target) error {
	p := newPlan(d.Options.ConfigRule, len(targets))
	type result struct {
		i int
		t *Target
	}
	results := make(chan result)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); wg.Wait() }()
	// Each instance's goroutine works on its own copy of the target; drive
	// takes the outcome back from the channel.
	start := func(i int) {
		t := *targets[i]
		t.Events = slices.Clone(t.Events)
		targets[i].Status = InProgress
		wg.Go(func() {
			s.instance(ctx, d, g, &t)
			select {
			case results <- result{i, &t}:
			case <-ctx.Done():
			}
		})
	}
	for i, t := range targets {
		if t.Status == InProgress {
			start(i) // resumed after a restart
		}
	}
	for {
		stop, err := s.stopRequested(ctx, d.ID)
		if err != nil {
			return err
		}
		c := count(targets)
		if stop == 0 {
			n := p.startable(c)
			for i, t := range targets {
				if n == 0 {
					break
				}
				if t.Status == Pending {
					start(i)
					n--
				}
			}
			c = count(targets)
		}
		if c.inProgress == 0 {
			if stop != 0 {
				return s.finish(ctx, d, g, Stopped, ErrManualStop, "the deployment was stopped by request", stop == 2 || d.autoRollback(g).on(RollbackOnStop))
			}
			if done, ok, reason := p.outcome(c); done {
				if ok {
					return s.finish(ctx, d, g, Succeeded, "", "", false)
				}
				if first := firstFailure(targets); first != "" {
					reason += ": " + first
				}
				return s.finish(ctx, d, g, Failed, ErrHealthConstraints, reason, d.autoRollback(g).on(RollbackOnFailure))
			}
		}
		stopped, unwait := s.wait("d:" + d.ID)
		select {
		case r := <-results:
			targets[r.i] = r.t
		case <-stopped:
		case <-ctx.Done():
			unwait()
			return ctx.Err()
		}
		unwait()
	}
}

func (d *Deployment) autoRollback(g *Group) AutoRollback {
	if d.Options.AutoRollback != nil {
		return *d.Options.AutoRollback
	}
	return g.AutoRollback
}

func count(ts []*Target) counts {
	var c counts
	for _, t := range ts {
		switch t.Status {
		case Pending:
			c.pending++
		case InProgress:
			c.inProgress++
		case Succeeded:
			c.succeeded++
		case Failed, Skipped:
			c.failed++
		}
	}
	return c
}

// firstFailure describes the first failed lifecycle event.
func firstFailure(ts []*Target) string {
	for _, t := range ts {
		for _, e := range t.Events {
			if e.Status == Failed && e.Diagnostics != nil {
				return fmt.Sprintf("instance %s failed %s: %s", t.InstanceID, e.Name, e.Diagnostics.Message)
			}
		}
	}
	return ""
}

func (s *Service) stopRequested(ctx context.Context, id string) (int, error) {
	var stop int
	err := s.db.QueryRowContext(ctx, "SELECT stop_requested FROM deployments WHERE id = ?", id).Scan(&stop)
	return stop, err
}

// instance runs one instance's lifecycle events, from the first one not
// yet done, and leaves t with its outcome (also recorded).
func (s *Service) instance(ctx context.Context, d *Deployment, g *Group, t *Target) {
	if t.StartedAt.IsZero() {
		t.StartedAt = time.Now().UTC()
	}
	t.Status = InProgress
	s.saveTarget(ctx, d.ID, t)
	for i := range t.Events {
		e := &t.Events[i]
		if e.Status == Succeeded || e.Status == Skipped {
			continue
		}
		if stop, err := s.stopRequested(ctx, d.ID); err != nil || stop != 0 {
			if ctx.Err() != nil {
				return
			}
			s.endTarget(ctx, d.ID, t, i, Skipped)
			return
		}
		e.Status, e.StartedAt, e.EndedAt, e.Diagnostics = InProgress, time.Now().UTC(), time.Time{}, nil
		s.saveTarget(ctx, d.ID, t)
		status, diag := s.event(ctx, d, g, t.InstanceID, e.Name)
		if ctx.Err() != nil {
			return // resumed by the next attempt of the job
		}
		if status == Failed && d.Options.IgnoreApplicationStopFailures && appspec.Event(e.Name).FromLastRevision() {
			status = Succeeded
		}
		e.Status, e.EndedAt, e.Diagnostics = status, time.Now().UTC(), diag
		if status == Failed {
			s.log.Info("deploy: lifecycle event failed", "deployment", d.ID, "instance", t.InstanceID, "event", e.Name, "message", diagMessage(diag))
			s.endTarget(ctx, d.ID, t, i+1, Failed)
			return
		}
		s.saveTarget(ctx, d.ID, t)
	}
	s.endTarget(ctx, d.ID, t, len(t.Events), Succeeded)
}

func diagMessage(d *agent.Diagnostics) string {
	if d == nil {
		return ""
	}
	return d.Message
}

// endTarget skips the events from index from on and records t's outcome.
func (s *Service) endTarget(ctx context.Context, id string, t *Target, from int, status string) {
	for i := from; i < len(t.Events); i++ {
		if t.Events[i].Status == Pending || t.Events[i].Status == InProgress {
			t.Events[i].Status = Skipped
		}
	}
	t.Status, t.EndedAt = status, time.Now().UTC()
	s.saveTarget(ctx, id, t)
}

func (s *Service) saveTarget(ctx context.Context, id string, t *Target) {
	raw, _ := json.Marshal(t.Events)
	var ended int64
	if !t.EndedAt.IsZero() {
		ended = store.Millis(t.EndedAt)
	}
	if _, err := s.db.ExecContext(context.WithoutCancel(ctx), "UPDATE deployment_targets SET status = ?, events = ?, started_at = ?, ended_at = ? WHERE deployment_id = ? AND instance_id = ?",
		t.Status, string(raw), store.Millis(t.StartedAt), ended, id, t.InstanceID); err != nil {
		s.log.Error("deploy: record instance", "deployment", id, "instance", t.InstanceID, "err", err)
	}
}

// event runs one lifecycle event on an instance: the traffic events here,
// the others through the host's agent.
func (s *Service) event(ctx context.Context, d *Deployment, g *Group, host, event string) (string, *agent.Diagnostics) {
	switch appspec.Event(event) {
	case appspec.BlockTraffic:
		return s.blockTraffic(ctx, d, host)
	case appspec.AllowTraffic:
		return s.allowTraffic(ctx, d, host)
	}
	cmd, err := s.command(ctx, d, g, host, event)
	if err != nil {
		return Failed, &agent.Diagnostics{ErrorCode: "UnknownError", Message: "could not hand the event to the agent: " + err.Error()}
	}
	return s.await(ctx, d, host, cmd)
}

func (s *Service) blockTraffic(ctx context.Context, d *Deployment, host string) (string, *agent.Diagnostics) {
	if s.cfg.Balancer == nil {
		return Succeeded, nil
	}
	for _, tg := range d.Options.TargetGroups {
		if err := s.cfg.Balancer.Deregister(ctx, tg, host, true); err != nil {
			return Failed, &agent.Diagnostics{ErrorCode: "UnknownError", Message: fmt.Sprintf("deregister %s from target group %s: %v", host, tg, err)}
		}
	}
	return Succeeded, nil
}

// allowTraffic registers the instance again and waits until every target
// group finds it healthy.
func (s *Service) allowTraffic(ctx context.Context, d *Deployment, host string) (string, *agent.Diagnostics) {
	if s.cfg.Balancer == nil {
		return Succeeded, nil
	}
	for _, tg := range d.Options.TargetGroups {
		if err := s.cfg.Balancer.Register(ctx, tg, host); err != nil {
			return Failed, &agent.Diagnostics{ErrorCode: "UnknownError", Message: fmt.Sprintf("register %s with target group %s: %v", host, tg, err)}
		}
	}
	deadline := time.Now().Add(s.cfg.TrafficTimeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		healthy, last := true, ""
		for _, tg := range d.Options.TargetGroups {
			if state, why := s.cfg.Balancer.TargetState(ctx, tg, host); state != "healthy" {
				healthy, last = false, fmt.Sprintf("target group %s says %s %s", tg, state, why)
			}
		}
		if healthy {
			return Succeeded, nil
		}
		if time.Now().After(deadline) {
			return Failed, &agent.Diagnostics{ErrorCode: "UnknownError",
				Message: fmt.Sprintf("the instance did not pass its target groups' health checks within %s (%s)", s.cfg.TrafficTimeout, last)}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return Failed, nil
		}
	}
}

// command returns the agent command of host's event in d, made now unless
// an earlier attempt made it.
func (s *Service) command(ctx context.Context, d *Deployment, g *Group, host, event string) (string, error) {
	var id string
	err := store.Scan(s.db.QueryRowContext(ctx, "SELECT id FROM deploy_commands WHERE deployment_id = ? AND host_id = ? AND event = ?", d.ID, host, event), &id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	c := agent.Command{ID: newID("c-", 16), Event: event, DeploymentID: d.ID, ApplicationName: d.Application, GroupName: g.Name, GroupID: g.ID,
		Creator: d.Creator, Revision: d.Revision, FileExistsBehavior: d.Options.FileExistsBehavior,
		IgnoreApplicationStopFailures: d.Options.IgnoreApplicationStopFailures}
	raw, _ := json.Marshal(c)
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO deploy_commands (id, host_id, deployment_id, event, status, spec, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
			c.ID, host, d.ID, event, agent.CommandPending, string(raw), store.Millis(time.Now())); err != nil {
			return err
		}
		return s.announce(ctx, tx, "h:"+host)
	})
	return c.ID, err
}

// agentLost is CodeDeploy's message when an agent does not take an event.
const agentLost = "CodeDeploy agent was not able to receive the lifecycle event. Check the CodeDeploy agent logs on your host and make sure the agent is running and can connect to the CodeDeploy server."

// await waits for a command's outcome. A command fails when its host's
// agent stays silent longer than AgentTimeout, or its instance is gone.
func (s *Service) await(ctx context.Context, d *Deployment, host, id string) (string, *agent.Diagnostics) {
	for {
		ended, unwait := s.wait("c:" + id)
		status, diag, created, err := s.commandState(ctx, id)
		if err == nil && status != agent.CommandPending && status != agent.CommandInProgress {
			unwait()
			if status == agent.CommandSkipped {
				return Skipped, diag
			}
			return status, diag
		}
		if err == nil {
			if why := s.lost(ctx, d, host, created); why != "" {
				unwait()
				diag := &agent.Diagnostics{ErrorCode: "UnknownError", Message: why}
				raw, _ := json.Marshal(diag)
				_, _ = s.db.ExecContext(ctx, "UPDATE deploy_commands SET status = ?, diagnostics = ?, ended_at = ? WHERE id = ? AND status IN (?, ?)",
					agent.CommandFailed, string(raw), store.Millis(time.Now()), id, agent.CommandPending, agent.CommandInProgress)
				return Failed, diag
			}
		}
		select {
		case <-ended:
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
			unwait()
			return Failed, nil
		}
		unwait()
	}
}

func (s *Service) commandState(ctx context.Context, id string) (string, *agent.Diagnostics, time.Time, error) {
	var status, diag string
	var created int64
	if err := s.db.QueryRowContext(ctx, "SELECT status, diagnostics, created_at FROM deploy_commands WHERE id = ?", id).Scan(&status, &diag, &created); err != nil {
		return "", nil, time.Time{}, err
	}
	var dg *agent.Diagnostics
	if diag != "" {
		dg = &agent.Diagnostics{}
		if err := json.Unmarshal([]byte(diag), dg); err != nil {
			return "", nil, time.Time{}, err
		}
	}
	return status, dg, store.Time(created), nil
}

// lost says why host's agent cannot be waited for any longer, "" while it
// can: its instance is gone, or it has been silent too long.
func (s *Service) lost(ctx context.Context, d *Deployment, host string, created time.Time) string {
	if s.cfg.Fleet != nil && strings.HasPrefix(host, "i-") {
		in, err := s.cfg.Fleet.Instance(ctx, d.ProjectID, host)
		if err == nil && (in.State == fleet.Terminated || in.State == fleet.Terminating || in.State == fleet.Unhealthy) {
			return fmt.Sprintf("instance %s is %s (%s)", host, strings.ToLower(in.State), in.Reason)
		}
	}
	if time.Since(created) < s.cfg.AgentTimeout {
		return ""
	}
	seen := s.lastSeen(ctx, host)
	if time.Since(seen) < s.cfg.AgentTimeout {
		return ""
	}
	if seen.IsZero() {
		return agentLost
	}
	return fmt.Sprintf("%s (the agent on %s was last heard from %s ago)", agentLost, host, time.Since(seen).Round(time.Second))
}

func (s *Service) lastSeen(ctx context.Context, host string) time.Time {
	var at int64
	if err := s.db.QueryRowContext(ctx, "SELECT seen_at FROM deploy_agents_seen WHERE host_id = ?", host).Scan(&at); err != nil {
		return time.Time{}
	}
	return store.Time(at)
}

// finish ends a deployment: its status, the targets never started skipped,
// the group's revision on success, and a rollback when asked for.
func (s *Service) finish(ctx context.Context, d *Deployment, g *Group, status, code, msg string, rollback bool) error {
	ctx = context.WithoutCancel(ctx)
	targets, err := s.targets(ctx, d.ID)
	if err != nil {
		return err
	}
	for _, t := range targets {
		if t.Status == Pending {
			s.endTarget(ctx, d.ID, t, 0, Skipped)
		}
	}
	var rb *Deployment
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE deployments SET status = ?, error_code = ?, error_message = ?, active = NULL, ended_at = ? WHERE id = ? AND status IN (?, ?, ?)",
			status, code, msg, store.Millis(time.Now()), d.ID, Created, Queued, InProgress)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // another attempt ended it
		}
		if status == Succeeded && d.Creator != CreatorAutoScaling && g != nil {
			raw, _ := json.Marshal(d.Revision)
			if _, err := tx.ExecContext(ctx, "UPDATE deploy_groups SET target_revision = ?, last_success = ? WHERE id = ?", string(raw), d.ID, g.ID); err != nil {
				return err
			}
		}
		if rollback && g != nil && d.Creator != CreatorAutoScaling {
			info := RollbackInfo{}
			if g.TargetRevision == nil {
				info.RollbackMessage = "Automatic rollback was not possible: the deployment group has no earlier successful revision."
			} else {
				off := AutoRollback{}
				rb, err = s.create(ctx, tx, g, *g.TargetRevision, CreateInput{Application: g.Application, Group: g.Name, Creator: CreatorRollback,
					CreatedBy: "rollback of " + d.ID, Options: Options{Description: "rollback of " + d.ID, AutoRollback: &off,
						FileExistsBehavior: d.Options.FileExistsBehavior, IgnoreApplicationStopFailures: d.Options.IgnoreApplicationStopFailures}})
				if err != nil {
					return fmt.Errorf("roll back %s: %w", d.ID, err)
				}
				info.RollbackDeploymentID = rb.ID
				info.RollbackMessage = "Automatic rollback to the revision of " + g.LastSuccess + " in deployment " + rb.ID
				back, _ := json.Marshal(RollbackInfo{RollbackTriggeringDeploymentID: d.ID, RollbackMessage: "Rollback of " + d.ID})
				if _, err := tx.ExecContext(ctx, "UPDATE deployments SET rollback = ? WHERE id = ?", string(back), rb.ID); err != nil {
					return err
				}
			}
			raw, _ := json.Marshal(info)
			if _, err := tx.ExecContext(ctx, "UPDATE deployments SET rollback = ? WHERE id = ?", string(raw), d.ID); err != nil {
				return err
			}
		}
		return s.announce(ctx, tx, "d:"+d.ID)
	})
	if err != nil {
		return err
	}
	s.log.Info("deploy: deployment ended", "deployment", d.ID, "status", status, "error_code", code, "message", msg)
	if rb != nil {
		s.log.Info("deploy: rolling back", "deployment", d.ID, "rollback", rb.ID)
	}
	return nil
}

// Wait returns the deployment once it has ended, or when ctx ends.
func (s *Service) Wait(ctx context.Context, projectID, id string) (*Deployment, error) {
	for {
		ended, unwait := s.wait("d:" + id)
		d, err := s.Get(ctx, projectID, id)
		if err != nil || d.Done() {
			unwait()
			return d, err
		}
		select {
		case <-ended:
		case <-time.After(time.Second):
		case <-ctx.Done():
			unwait()
			return d, ctx.Err()
		}
		unwait()
	}
}

// LaunchHook installs the last successful revision of every deployment
// group that includes g on a newly launched instance, before the instance
// takes traffic (Auto Scaling's lifecycle hook); an error abandons the
// instance.
func (s *Service) LaunchHook(ctx context.Context, g *fleet.Group, instanceID string) error {
	gs, err := s.groups(ctx, s.db, "g.project_id = ? AND g.target_revision <> ''", g.ProjectID)
	if err != nil {
		return err
	}
	for _, dg := range gs {
		if !slices.Contains(dg.AutoScalingGroups, g.Name) {
			continue
		}
		var d *Deployment
		err := s.db.Tx(ctx, func(tx *store.Tx) error {
			var err error
			d, err = s.create(ctx, tx, dg, *dg.TargetRevision, CreateInput{Application: dg.Application, Group: dg.Name, Creator: CreatorAutoScaling,
				CreatedBy: "instance group " + g.Name, Options: Options{Description: "new instance " + instanceID, Instances: []string{instanceID}}})
			return err
		})
		if err != nil {
			return fmt.Errorf("deploy the last revision of %s/%s to %s: %w", dg.Application, dg.Name, instanceID, err)
		}
		s.log.Info("deploy: installing the group's revision on a new instance", "deployment", d.ID, "instance", instanceID, "group", dg.Name)
		d, err = s.Wait(ctx, g.ProjectID, d.ID)
		if err != nil {
			return err
		}
		if d.Status != Succeeded {
			return fmt.Errorf("deployment %s of the last revision of %s/%s to the new instance %s: %s %s", d.ID, dg.Application, dg.Name, instanceID, d.Status, d.ErrorMessage)
		}
	}
	return nil
}
