package lbsvc

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/store"
)

// targetGroupByARN returns any project's target group with that ARN.
func (s *Service) targetGroupByARN(ctx context.Context, q store.Querier, arn string) (*TargetGroup, error) {
	tg, err := one(queryGroups(ctx, q, " WHERE arn = ?", arn))
	if err != nil {
		return nil, fmt.Errorf("TargetGroupNotFound: target group %s: %w", arn, err)
	}
	return tg, nil
}

// RegisterTargets registers targets with a target group: instance IDs for
// groups of type instance, IP addresses for type ip. Port 0 means the
// group's port. A target is its ID and port, as in ELBv2: the same ID may
// be registered on several ports. Registrations are stored, so a restarted
// server registers them again; a new target starts in the initial state
// and gets traffic once healthy (or, while no target of the group is
// healthy, at once).
func (s *Service) RegisterTargets(ctx context.Context, targetGroupARN string, targets ...Target) error {
	return s.mutate(ctx, func(tx *store.Tx) error {
		tg, err := s.targetGroupByARN(ctx, tx, targetGroupARN)
		if err != nil {
			return err
		}
		now := store.Millis(time.Now())
		for _, t := range targets {
			if t.Port == 0 {
				t.Port = tg.Port
			}
			if err := validTarget(tg, t); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO lb_targets (target_group_arn, id, port, registered_at) VALUES (?, ?, ?, ?) "+
				"ON CONFLICT (target_group_arn, id, port) DO UPDATE SET registered_at = excluded.registered_at",
				tg.ARN, t.ID, t.Port, now); err != nil {
				return fmt.Errorf("register target %s with %s: %w", t.ID, tg.Name, err)
			}
		}
		return nil
	})
}

// InvalidError is a request the service refuses for what it asks, not for
// the state it finds.
type InvalidError struct{ Message string }

func (e *InvalidError) Error() string { return e.Message }

func invalid(format string, args ...any) error {
	return &InvalidError{Message: fmt.Sprintf(format, args...)}
}

// validTarget checks a target against its group's type.
func validTarget(tg *TargetGroup, t Target) error {
	if t.Port < 1 || t.Port > 65535 {
		return invalid("ValidationError: target %s: port %d is not from 1 to 65535", t.ID, t.Port)
	}
	if tg.TargetType == TargetIP {
		if ip, err := netip.ParseAddr(t.ID); err != nil || ip.Zone() != "" {
			return invalid("ValidationError: target %q of target group %s (type ip) is not an IP address", t.ID, tg.Name)
		}
		return nil
	}
	if t.ID == "" || strings.Trim(t.ID, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
		return invalid("ValidationError: target %q of target group %s (type instance) is not an instance ID (letters, digits, '-' and '_')", t.ID, tg.Name)
	}
	return nil
}

// DeregisterTargets deregisters targets (Port 0: every port the ID is
// registered on). Each stops getting new requests at once and is dropped
// once its in-flight requests end or the group's deregistration delay
// passes. With wait, DeregisterTargets returns only once all are dropped
// (or ctx ends, with its error). Targets not registered are ignored.
func (s *Service) DeregisterTargets(ctx context.Context, targetGroupARN string, wait bool, targets ...Target) error {
	var group string
	var ids []string // data plane IDs of the deregistered targets
	err := s.mutate(ctx, func(tx *store.Tx) error {
		tg, err := s.targetGroupByARN(ctx, tx, targetGroupARN)
		if err != nil {
			return err
		}
		group = tg.Name
		for _, t := range targets {
			where, args := "target_group_arn = ? AND id = ?", []any{tg.ARN, t.ID}
			if t.Port != 0 {
				where, args = where+" AND port = ?", append(args, t.Port)
			}
			rows, err := tx.QueryContext(ctx, "SELECT port FROM lb_targets WHERE "+where, args...)
			if err != nil {
				return fmt.Errorf("deregister target %s from %s: %w", t.ID, tg.Name, err)
			}
			for rows.Next() {
				var port int
				if err := rows.Scan(&port); err != nil {
					rows.Close()
					return err
				}
				ids = append(ids, planeID(t.ID, port))
			}
			rows.Close()
			if _, err := tx.ExecContext(ctx, "DELETE FROM lb_targets WHERE "+where, args...); err != nil {
				return fmt.Errorf("deregister target %s from %s: %w", t.ID, tg.Name, err)
			}
		}
		return nil
	})
	if err != nil || !wait {
		return err
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		left := false
		for _, th := range s.plane.Targets(group) {
			if slices.Contains(ids, th.ID) && th.State == StateDraining {
				left = true
			}
		}
		if !left {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// TargetHealth reports a target group's targets, draining ones included,
// sorted by ID.
func (s *Service) TargetHealth(ctx context.Context, targetGroupARN string) ([]TargetHealth, error) {
	tg, err := s.targetGroupByARN(ctx, s.db, targetGroupARN)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, "SELECT id, port FROM lb_targets WHERE target_group_arn = ? ORDER BY id", tg.ARN)
	if err != nil {
		return nil, fmt.Errorf("targets of %s: %w", tg.Name, err)
	}
	var stored []Target
	for rows.Next() {
		var t Target
		if err := rows.Scan(&t.ID, &t.Port); err != nil {
			rows.Close()
			return nil, err
		}
		stored = append(stored, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	group := s.groups[tg.ARN]
	s.mu.Unlock()
	live := map[string]TargetHealth{}
	if group != "" {
		for _, th := range s.plane.Targets(group) {
			id, port := fromPlaneID(th.ID)
			live[th.ID] = TargetHealth{ID: id, Port: port, State: string(th.State), Reason: th.Reason, Description: th.Description}
		}
	}
	out := []TargetHealth{}
	for _, t := range stored {
		key := planeID(t.ID, t.Port)
		th, ok := live[key]
		if !ok || th.State == StateDraining {
			// Not applied yet (another server process made it a moment
			// ago), or registered again while its old registration drains.
			th = TargetHealth{ID: t.ID, Port: t.Port, State: StateInitial, Reason: "Elb.RegistrationInProgress",
				Description: "Target registration is in progress"}
		}
		delete(live, key)
		out = append(out, th)
	}
	for _, th := range live {
		if th.State == StateDraining {
			out = append(out, th)
		}
	}
	slices.SortFunc(out, func(a, b TargetHealth) int {
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return a.Port - b.Port
	})
	return out, nil
}

// planeID is a target's ID in the data plane: its ID and port, which
// together make a target.
func planeID(id string, port int) string { return id + "/" + strconv.Itoa(port) }

// fromPlaneID splits a data plane ID back into the target's ID and port.
func fromPlaneID(s string) (string, int) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return s, 0
	}
	port, _ := strconv.Atoi(s[i+1:])
	return s[:i], port
}

// parsePort reads a port number.
func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 0 || p > 65535 {
		return 0, fmt.Errorf("port %q is not a number from 0 to 65535", s)
	}
	return p, nil
}

// parseMatcher checks a health check matcher: HTTP codes from 200 to 499,
// as "200", "200-299" or "200,302".
func parseMatcher(m string) ([][2]int, error) {
	var out [][2]int
	for part := range strings.SplitSeq(m, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		if !isRange {
			hi = lo
		}
		l, err1 := strconv.Atoi(lo)
		h, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || l < 200 || h > 499 || l > h {
			return nil, fmt.Errorf("ValidationError: Matcher HttpCode %q: want HTTP codes from 200 to 499 like \"200\", \"200-299\" or \"200,302\"", m)
		}
		out = append(out, [2]int{l, h})
	}
	return out, nil
}
