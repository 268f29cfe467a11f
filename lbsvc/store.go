package lbsvc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/slipway/slipway/store"
)

// state is every table's rows, as the data plane is built from them.
type state struct {
	lbs       []LoadBalancer
	listeners []Listener
	rules     []Rule
	groups    []TargetGroup
	targets   map[string][]Target // by target group ARN
}

const (
	lbColumns       = "arn, project_id, name, scheme, type, ip_address_type, settings, managed_by, created_at"
	listenerColumns = "arn, project_id, lb_arn, port, protocol, default_actions, managed_by, created_at"
	ruleColumns     = "arn, project_id, listener_arn, priority, conditions, actions, managed_by, created_at"
	groupColumns    = "arn, project_id, name, port, protocol, target_type, vpc_id, health_check, deregistration_delay, settings, managed_by, created_at"
)

// load reads every row through q.
func load(ctx context.Context, q store.Querier, s *Service) (*state, error) {
	st := &state{targets: map[string][]Target{}}
	var err error
	if st.lbs, err = s.queryLBs(ctx, q, ""); err != nil {
		return nil, err
	}
	if st.listeners, err = s.queryListeners(ctx, q, ""); err != nil {
		return nil, err
	}
	if st.rules, err = queryRules(ctx, q, ""); err != nil {
		return nil, err
	}
	if st.groups, err = queryGroups(ctx, q, ""); err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, "SELECT target_group_arn, id, port FROM lb_targets ORDER BY target_group_arn, id")
	if err != nil {
		return nil, fmt.Errorf("load targets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var arn string
		var t Target
		if err := rows.Scan(&arn, &t.ID, &t.Port); err != nil {
			return nil, fmt.Errorf("load targets: %w", err)
		}
		st.targets[arn] = append(st.targets[arn], t)
	}
	return st, rows.Err()
}

func (s *Service) queryLBs(ctx context.Context, q store.Querier, where string, args ...any) ([]LoadBalancer, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+lbColumns+" FROM load_balancers"+where+" ORDER BY name", args...)
	if err != nil {
		return nil, fmt.Errorf("load balancers: %w", err)
	}
	defer rows.Close()
	var out []LoadBalancer
	for rows.Next() {
		var l LoadBalancer
		var settings string
		var created int64
		if err := rows.Scan(&l.ARN, &l.ProjectID, &l.Name, &l.Scheme, &l.Type, &l.IPAddressType, &settings, &l.ManagedBy, &created); err != nil {
			return nil, fmt.Errorf("load balancers: %w", err)
		}
		if err := decode(settings, &l.Settings); err != nil {
			return nil, fmt.Errorf("load balancer %s: %w", l.Name, err)
		}
		l.DNSName, l.CreatedAt = s.DNSName(l.Name), store.Time(created)
		out = append(out, l)
	}
	return out, rows.Err()
}

func (s *Service) queryListeners(ctx context.Context, q store.Querier, where string, args ...any) ([]Listener, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+listenerColumns+" FROM lb_listeners"+where+" ORDER BY lb_arn, port", args...)
	if err != nil {
		return nil, fmt.Errorf("listeners: %w", err)
	}
	defer rows.Close()
	var out []Listener
	for rows.Next() {
		var l Listener
		var actions string
		var created int64
		if err := rows.Scan(&l.ARN, &l.ProjectID, &l.LoadBalancerARN, &l.Port, &l.Protocol, &actions, &l.ManagedBy, &created); err != nil {
			return nil, fmt.Errorf("listeners: %w", err)
		}
		if err := decode(actions, &l.DefaultActions); err != nil {
			return nil, fmt.Errorf("listener %s: %w", l.ARN, err)
		}
		l.LocalAddress, l.CreatedAt = s.ListenerAddress(l.Port), store.Time(created)
		out = append(out, l)
	}
	return out, rows.Err()
}

func queryRules(ctx context.Context, q store.Querier, where string, args ...any) ([]Rule, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+ruleColumns+" FROM lb_rules"+where+" ORDER BY listener_arn, priority", args...)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	defer rows.Close()
	var out []Rule
	for rows.Next() {
		var r Rule
		var conds, actions string
		var created int64
		if err := rows.Scan(&r.ARN, &r.ProjectID, &r.ListenerARN, &r.Priority, &conds, &actions, &r.ManagedBy, &created); err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		if err := decode(conds, &r.Conditions); err != nil {
			return nil, fmt.Errorf("rule %s: %w", r.ARN, err)
		}
		if err := decode(actions, &r.Actions); err != nil {
			return nil, fmt.Errorf("rule %s: %w", r.ARN, err)
		}
		r.CreatedAt = store.Time(created)
		out = append(out, r)
	}
	return out, rows.Err()
}

func queryGroups(ctx context.Context, q store.Querier, where string, args ...any) ([]TargetGroup, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+groupColumns+" FROM target_groups"+where+" ORDER BY name", args...)
	if err != nil {
		return nil, fmt.Errorf("target groups: %w", err)
	}
	defer rows.Close()
	var out []TargetGroup
	for rows.Next() {
		var tg TargetGroup
		var hc, settings string
		var created int64
		if err := rows.Scan(&tg.ARN, &tg.ProjectID, &tg.Name, &tg.Port, &tg.Protocol, &tg.TargetType, &tg.VpcID, &hc,
			&tg.DeregistrationDelay, &settings, &tg.ManagedBy, &created); err != nil {
			return nil, fmt.Errorf("target groups: %w", err)
		}
		if err := decode(hc, &tg.HealthCheck); err != nil {
			return nil, fmt.Errorf("target group %s: %w", tg.Name, err)
		}
		if err := decode(settings, &tg.Settings); err != nil {
			return nil, fmt.Errorf("target group %s: %w", tg.Name, err)
		}
		tg.CreatedAt = store.Time(created)
		out = append(out, tg)
	}
	return out, rows.Err()
}

// one returns the first row of a query, or store.ErrNotFound.
func one[T any](rows []T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, store.ErrNotFound
	}
	return &rows[0], nil
}

// decode reads stored JSON, keeping numbers as json.Number as a stack's
// properties do, so recorded settings compare equal to what they came from.
func decode(raw string, v any) error {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(v)
}

// encode writes JSON for a column; nil maps and lists become {} and [].
func encode(v any) (string, error) {
	switch x := v.(type) {
	case map[string]any:
		if x == nil {
			return "{}", nil
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("not JSON: %w", err)
	}
	if string(b) == "null" {
		return "[]", nil
	}
	return string(b), nil
}

// resourceID is the 16 hex digits that end an ARN: derived from managedBy
// when set, so that a create resumed under the same token makes the same
// ARN, random otherwise.
func resourceID(kind, managedBy string) string {
	if managedBy != "" {
		sum := sha256.Sum256([]byte("lbsvc\x00" + kind + "\x00" + managedBy))
		return hex.EncodeToString(sum[:8])
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// arn makes an ELBv2 ARN of a resource path.
func (s *Service) arn(resource string) string {
	return fmt.Sprintf("arn:%s:elasticloadbalancing:%s:%s:%s", s.cfg.Partition, s.cfg.Region, s.cfg.AccountID, resource)
}

// exists reports whether a query selects a row.
func exists(ctx context.Context, q store.Querier, query string, args ...any) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, query, args...).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	return err == nil, err
}
