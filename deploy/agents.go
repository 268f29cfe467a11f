package deploy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/slipway/slipway/agent"
	"github.com/slipway/slipway/store"
)

// HostTokenPrefix starts every standalone agent's credential.
const HostTokenPrefix = "swa_"

// Host is an on-premises instance: a host a standalone agent registered.
type Host struct {
	ID           string            `json:"id"`
	ProjectID    string            `json:"project_id"`
	Name         string            `json:"name"`
	Tags         map[string]string `json:"tags"`
	RegisteredBy string            `json:"registered_by"`
	RegisteredAt time.Time         `json:"registered_at"`
	Revoked      bool              `json:"revoked,omitempty"`
	LastSeen     time.Time         `json:"last_seen,omitzero"`
}

// RegisterHost registers an on-premises host and returns its agent's
// credential, shown this once (only its hash is kept). A name already
// registered and not revoked is refused.
func (s *Service) RegisterHost(ctx context.Context, projectID, name string, tags map[string]string, by string) (*Host, string, error) {
	if err := checkName("host", name); err != nil {
		return nil, "", err
	}
	if tags == nil {
		tags = map[string]string{}
	}
	secret := make([]byte, 24)
	_, _ = rand.Read(secret)
	token := HostTokenPrefix + hex.EncodeToString(secret)
	sum := sha256.Sum256([]byte(token))
	h := &Host{ID: newID("mi-", 17), ProjectID: projectID, Name: name, Tags: tags, RegisteredBy: by, RegisteredAt: time.Now().UTC()}
	raw, _ := json.Marshal(tags)
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		// A revoked registration gives its name back.
		if _, err := tx.ExecContext(ctx, "DELETE FROM deploy_hosts WHERE project_id = ? AND name = ? AND revoked_at <> 0", projectID, name); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO deploy_hosts (id, project_id, name, tags, token_hash, registered_by, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			h.ID, projectID, name, string(raw), hex.EncodeToString(sum[:]), by, store.Millis(h.RegisteredAt))
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, "", fmt.Errorf("host %s is registered already; revoke it first (slipway onprem revoke %s): %w", name, name, err)
	}
	if err != nil {
		return nil, "", err
	}
	return h, token, nil
}

const hostColumns = `h.id, h.project_id, h.name, h.tags, h.registered_by, h.registered_at, h.revoked_at, COALESCE(s.seen_at, 0)`

func (s *Service) hosts(ctx context.Context, where string, args ...any) ([]*Host, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+hostColumns+" FROM deploy_hosts h LEFT JOIN deploy_agents_seen s ON s.host_id = h.id WHERE "+where+" ORDER BY h.name", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*Host{}
	for rows.Next() {
		var h Host
		var tags string
		var at, revoked, seen int64
		if err := rows.Scan(&h.ID, &h.ProjectID, &h.Name, &tags, &h.RegisteredBy, &at, &revoked, &seen); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(tags), &h.Tags); err != nil {
			return nil, fmt.Errorf("host %s: %w", h.Name, err)
		}
		h.RegisteredAt, h.Revoked = store.Time(at), revoked != 0
		if seen != 0 {
			h.LastSeen = store.Time(seen)
		}
		out = append(out, &h)
	}
	return out, rows.Err()
}

// Hosts lists the project's on-premises hosts.
func (s *Service) Hosts(ctx context.Context, projectID string) ([]*Host, error) {
	return s.hosts(ctx, "h.project_id = ?", projectID)
}

// Host returns the project's on-premises host called name.
func (s *Service) Host(ctx context.Context, projectID, name string) (*Host, error) {
	hs, err := s.hosts(ctx, "h.project_id = ? AND h.name = ?", projectID, name)
	if err != nil {
		return nil, err
	}
	if len(hs) == 0 {
		return nil, fmt.Errorf("host %s: %w", name, store.ErrNotFound)
	}
	return hs[0], nil
}

// SetHostTags replaces a host's tags: deployment groups select by them.
func (s *Service) SetHostTags(ctx context.Context, projectID, name string, tags map[string]string) (*Host, error) {
	if tags == nil {
		tags = map[string]string{}
	}
	raw, _ := json.Marshal(tags)
	res, err := s.db.ExecContext(ctx, "UPDATE deploy_hosts SET tags = ? WHERE project_id = ? AND name = ? AND revoked_at = 0", string(raw), projectID, name)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, fmt.Errorf("host %s: %w", name, store.ErrNotFound)
	}
	return s.Host(ctx, projectID, name)
}

// RevokeHost withdraws a host's credential: its agent can do nothing more,
// and deployment groups no longer select it. What it installed stays.
func (s *Service) RevokeHost(ctx context.Context, projectID, name string) error {
	res, err := s.db.ExecContext(ctx, "UPDATE deploy_hosts SET revoked_at = ? WHERE project_id = ? AND name = ? AND revoked_at = 0",
		store.Millis(time.Now()), projectID, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("host %s: %w", name, store.ErrNotFound)
	}
	return nil
}

// AuthenticateHost returns the live host whose agent credential token is.
func (s *Service) AuthenticateHost(ctx context.Context, token string) (*Host, error) {
	if !strings.HasPrefix(token, HostTokenPrefix) {
		return nil, errors.New("not an agent credential")
	}
	sum := sha256.Sum256([]byte(token))
	hs, err := s.hosts(ctx, "h.token_hash = ? AND h.revoked_at = 0", hex.EncodeToString(sum[:]))
	if err != nil {
		return nil, err
	}
	if len(hs) == 0 {
		return nil, errors.New("invalid or revoked agent credential")
	}
	return hs[0], nil
}

// touch records that host's agent is alive, at most once a second per
// process.
func (s *Service) touch(ctx context.Context, host string) {
	now := time.Now()
	s.mu.Lock()
	fresh := now.Sub(s.seen[host]) < time.Second
	if !fresh {
		s.seen[host] = now
	}
	s.mu.Unlock()
	if fresh {
		return
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO deploy_agents_seen (host_id, seen_at) VALUES (?, ?)
		ON CONFLICT (host_id) DO UPDATE SET seen_at = excluded.seen_at`, host, store.Millis(now)); err != nil && ctx.Err() == nil {
		s.log.Error("deploy: record agent seen", "host", host, "err", err)
	}
}

// MaxPoll bounds one long poll: shorter than AgentTimeout, so that an idle
// agent is never taken for a lost one.
func (s *Service) MaxPoll() time.Duration { return s.cfg.AgentTimeout / 2 }

// Poll waits up to wait for host's next command and hands it out (it is
// then InProgress). nil means none came.
func (s *Service) Poll(ctx context.Context, host string, wait time.Duration) (*agent.Command, error) {
	wait = min(wait, s.MaxPoll())
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		woken, unwait := s.wait("h:" + host)
		s.touch(ctx, host)
		c, err := s.claim(ctx, host)
		if c != nil || err != nil {
			unwait()
			return c, err
		}
		select {
		case <-woken:
		case <-timer.C:
			unwait()
			return nil, nil
		case <-ctx.Done():
			unwait()
			return nil, ctx.Err()
		}
		unwait()
	}
}

func (s *Service) claim(ctx context.Context, host string) (*agent.Command, error) {
	for {
		var id, spec string
		err := store.Scan(s.db.QueryRowContext(ctx, "SELECT id, spec FROM deploy_commands WHERE host_id = ? AND status = ? ORDER BY created_at, id LIMIT 1",
			host, agent.CommandPending), &id, &spec)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		res, err := s.db.ExecContext(ctx, "UPDATE deploy_commands SET status = ?, acked_at = ? WHERE id = ? AND status = ?",
			agent.CommandInProgress, store.Millis(time.Now()), id, agent.CommandPending)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // another poll of the same host took it
		}
		var c agent.Command
		if err := json.Unmarshal([]byte(spec), &c); err != nil {
			return nil, fmt.Errorf("command %s: %w", id, err)
		}
		return &c, nil
	}
}

// hostCommand returns the status and deployment of host's command id; a
// command of another host is not found.
func (s *Service) hostCommand(ctx context.Context, host, id string) (status, deployment, event string, err error) {
	err = store.Scan(s.db.QueryRowContext(ctx, "SELECT status, deployment_id, event FROM deploy_commands WHERE id = ? AND host_id = ?", id, host),
		&status, &deployment, &event)
	if err != nil {
		return "", "", "", fmt.Errorf("command %s: %w", id, err)
	}
	return status, deployment, event, nil
}

// Ack returns the status of host's command id: the agent runs it only
// while it is InProgress.
func (s *Service) Ack(ctx context.Context, host, id string) (string, error) {
	s.touch(ctx, host)
	status, _, _, err := s.hostCommand(ctx, host, id)
	return status, err
}

// AppendLog keeps script output of host's running command id.
func (s *Service) AppendLog(ctx context.Context, host, id, text string) error {
	s.touch(ctx, host)
	_, deployment, event, err := s.hostCommand(ctx, host, id)
	if err != nil || text == "" {
		return err
	}
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		var seq int64
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM deployment_logs WHERE deployment_id = ? AND instance_id = ?", deployment, host).Scan(&seq); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO deployment_logs (deployment_id, instance_id, seq, event, text) VALUES (?, ?, ?, ?, ?)",
			deployment, host, seq+1, event, text)
		return err
	})
}

// Complete records the outcome of host's command id. A command the server
// already ended (its agent was taken for lost) keeps its outcome.
func (s *Service) Complete(ctx context.Context, host, id, status string, d agent.Diagnostics) error {
	s.touch(ctx, host)
	switch status {
	case agent.CommandSucceeded, agent.CommandFailed, agent.CommandSkipped:
	default:
		return fmt.Errorf("a command completes Succeeded, Failed or Skipped, not %q", status)
	}
	if _, _, _, err := s.hostCommand(ctx, host, id); err != nil {
		return err
	}
	raw, _ := json.Marshal(d)
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE deploy_commands SET status = ?, diagnostics = ?, ended_at = ? WHERE id = ? AND host_id = ? AND status IN (?, ?)",
			status, string(raw), store.Millis(time.Now()), id, host, agent.CommandPending, agent.CommandInProgress)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("command %s has ended already: %w", id, store.ErrConflict)
		}
		return s.announce(ctx, tx, "c:"+id)
	})
}

// Bundle opens the revision of host's command id.
func (s *Service) Bundle(ctx context.Context, host, id string) (io.ReadCloser, error) {
	s.touch(ctx, host)
	var spec string
	if err := store.Scan(s.db.QueryRowContext(ctx, "SELECT spec FROM deploy_commands WHERE id = ? AND host_id = ?", id, host), &spec); err != nil {
		return nil, fmt.Errorf("command %s: %w", id, err)
	}
	var c agent.Command
	if err := json.Unmarshal([]byte(spec), &c); err != nil {
		return nil, err
	}
	rc, _, err := s.cfg.Artifacts.Open(ctx, c.Revision.Digest)
	return rc, err
}

// AgentServer is the service as the agent of host sees it, in this
// process (tests, and agents embedded without HTTP).
func (s *Service) AgentServer(host string) agent.Server { return hostServer{s: s, host: host} }

type hostServer struct {
	s    *Service
	host string
}

// permanent marks the answers retrying cannot change, as the agent
// expects them.
func permanent(err error) error {
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		return &agent.PermanentError{Err: err}
	}
	return err
}

func (h hostServer) Poll(ctx context.Context, wait time.Duration) (*agent.Command, error) {
	return h.s.Poll(ctx, h.host, wait)
}

func (h hostServer) Ack(ctx context.Context, id string) (string, error) {
	st, err := h.s.Ack(ctx, h.host, id)
	return st, permanent(err)
}

func (h hostServer) Log(ctx context.Context, id, text string) error {
	return permanent(h.s.AppendLog(ctx, h.host, id, text))
}

func (h hostServer) Complete(ctx context.Context, id, status string, d agent.Diagnostics) error {
	return permanent(h.s.Complete(ctx, h.host, id, status, d))
}

func (h hostServer) Bundle(ctx context.Context, id string) (io.ReadCloser, error) {
	rc, err := h.s.Bundle(ctx, h.host, id)
	return rc, permanent(err)
}
