package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/slipway/slipway/store"
)

// AuditEntry is one state-changing request: who did what, when, from where,
// and how it ended.
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

// Audit records an entry.
func (s *Service) Audit(ctx context.Context, e AuditEntry) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO audit_log (at, actor, action, target, remote_addr, outcome, status) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		store.Millis(e.At), e.Actor, e.Action, e.Target, e.RemoteAddr, e.Outcome, e.Status)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// AuditLog returns the entries the query selects, newest first.
func (s *Service) AuditLog(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	limit := q.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	where, args := q.where()
	rows, err := s.db.QueryContext(ctx, `SELECT id, at, actor, action, target, remote_addr, outcome, status FROM audit_log`+where+
		` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.RemoteAddr, &e.Outcome, &e.Status); err != nil {
			return nil, err
		}
		e.At = store.Time(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
