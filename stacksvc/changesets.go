package stacksvc

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/store"
)

// Change set statuses and execution statuses, as CloudFormation has them.
const (
	ChangeSetComplete  = "CREATE_COMPLETE"
	ChangeSetFailed    = "FAILED"
	ExecAvailable      = "AVAILABLE"
	ExecUnavailable    = "UNAVAILABLE"
	ExecComplete       = "EXECUTE_COMPLETE"
	ExecObsolete       = "OBSOLETE"
	emptyChangeSetText = "The submitted information didn't contain changes. Submit different information to create a change set."
)

// ChangeSet is a plan kept for review, executed or deleted later.
type ChangeSet struct {
	ID              string         `json:"id"`
	Name            string         `json:"name"`
	StackName       string         `json:"stack_name"`
	Type            string         `json:"type"` // CREATE or UPDATE
	Status          string         `json:"status"`
	ExecutionStatus string         `json:"execution_status"`
	StatusReason    string         `json:"status_reason,omitempty"`
	Changes         []stack.Change `json:"changes"`
	CreatedAt       time.Time      `json:"created_at"`

	input Input
}

// CreateChangeSet plans the input against the stack and keeps the plan.
// For a stack that does not exist yet, the stack is made in
// REVIEW_IN_PROGRESS, with no resources, as on AWS. A plan without
// changes is kept as FAILED with CloudFormation's reason.
func (s *Service) CreateChangeSet(ctx context.Context, pr Project, stackName, name string, in Input) (*ChangeSet, error) {
	if err := ValidateName(name); err != nil {
		return nil, fmt.Errorf("%w change set name %q: 1 to 128 letters, digits and hyphens, starting with a letter", ErrInvalid, name)
	}
	changes, err := s.Plan(ctx, pr, stackName, in)
	if err != nil {
		return nil, err
	}
	cs := &ChangeSet{ID: store.NewID(), Name: name, StackName: stackName, Type: "UPDATE", Status: ChangeSetComplete,
		ExecutionStatus: ExecAvailable, Changes: changes, CreatedAt: time.Now().UTC().Truncate(time.Millisecond), input: in}
	if len(changes) == 0 {
		cs.Status, cs.ExecutionStatus, cs.StatusReason = ChangeSetFailed, ExecUnavailable, emptyChangeSetText
	}
	body, _ := json.Marshal(changes)
	params, _ := json.Marshal(nonNil(in.Parameters))
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		st, err := s.get(ctx, tx, pr.ID, stackName)
		if errors.Is(err, store.ErrNotFound) {
			cs.Type = "CREATE"
			now := store.Millis(time.Now())
			st = &Stack{ID: store.NewID()}
			if _, err := tx.ExecContext(ctx, `INSERT INTO stacks (id, project_id, name, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
				st.ID, pr.ID, stackName, stack.ReviewInProgress, now, now); err != nil {
				return err
			}
		} else if err != nil {
			return err
		} else if st.Status == stack.ReviewInProgress {
			cs.Type = "CREATE"
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM change_sets WHERE stack_id = ? AND name = ?`, st.ID, name); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO change_sets (id, stack_id, name, status, execution_status, status_reason, template_name, template, parameters, changes, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, cs.ID, st.ID, name, cs.Status, cs.ExecutionStatus, cs.StatusReason,
			in.TemplateName, in.Template, string(params), string(body), store.Millis(cs.CreatedAt))
		return err
	})
	if err != nil {
		return nil, err
	}
	return cs, nil
}

// ChangeSet returns a stack's change set by name.
func (s *Service) ChangeSet(ctx context.Context, projectID, stackName, name string) (*ChangeSet, error) {
	st, err := s.get(ctx, s.db, projectID, stackName)
	if err != nil {
		return nil, err
	}
	sets, err := s.changeSets(ctx, st, name)
	if err != nil {
		return nil, err
	}
	if len(sets) == 0 {
		return nil, fmt.Errorf("ChangeSet [%s] does not exist: %w", name, store.ErrNotFound)
	}
	return &sets[0], nil
}

// ChangeSets lists a stack's change sets.
func (s *Service) ChangeSets(ctx context.Context, projectID, stackName string) ([]ChangeSet, error) {
	st, err := s.get(ctx, s.db, projectID, stackName)
	if err != nil {
		return nil, err
	}
	return s.changeSets(ctx, st, "")
}

func (s *Service) changeSets(ctx context.Context, st *Stack, name string) ([]ChangeSet, error) {
	q := `SELECT id, name, status, execution_status, status_reason, template_name, template, parameters, changes, created_at
		FROM change_sets WHERE stack_id = ?`
	args := []any{st.ID}
	if name != "" {
		q += ` AND name = ?`
		args = append(args, name)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY created_at`, args...)
	if err != nil {
		return nil, fmt.Errorf("change sets: %w", err)
	}
	defer rows.Close()
	out := []ChangeSet{}
	for rows.Next() {
		cs := ChangeSet{StackName: st.Name, Type: "UPDATE"}
		var params, changes string
		var created int64
		if err := rows.Scan(&cs.ID, &cs.Name, &cs.Status, &cs.ExecutionStatus, &cs.StatusReason, &cs.input.TemplateName,
			&cs.input.Template, &params, &changes, &created); err != nil {
			return nil, err
		}
		if err := errors.Join(json.Unmarshal([]byte(params), &cs.input.Parameters), json.Unmarshal([]byte(changes), &cs.Changes)); err != nil {
			return nil, fmt.Errorf("change set %s: %w", cs.Name, err)
		}
		if st.Status == stack.ReviewInProgress {
			cs.Type = "CREATE"
		}
		cs.CreatedAt = store.Time(created)
		out = append(out, cs)
	}
	return out, rows.Err()
}

// ExecuteChangeSet applies a change set; the stack's other change sets
// become OBSOLETE.
func (s *Service) ExecuteChangeSet(ctx context.Context, pr Project, stackName, name string) (*Stack, error) {
	cs, err := s.ChangeSet(ctx, pr.ID, stackName, name)
	if err != nil {
		return nil, err
	}
	if cs.ExecutionStatus != ExecAvailable {
		reason := "ChangeSet [" + name + "] cannot be executed in its current execution status of [" + cs.ExecutionStatus + "]"
		if cs.StatusReason != "" {
			reason += ": " + cs.StatusReason
		}
		return nil, fmt.Errorf("%w: %s", ErrState, reason)
	}
	out, err := s.Deploy(ctx, pr, stackName, cs.input)
	if err != nil {
		return nil, err
	}
	_, err = s.db.ExecContext(ctx, `UPDATE change_sets SET execution_status = CASE WHEN name = ? THEN ? ELSE ? END
		WHERE stack_id = (SELECT id FROM stacks WHERE project_id = ? AND name = ?)`, name, ExecComplete, ExecObsolete, pr.ID, stackName)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteChangeSet removes a change set; removing the last one of a stack
// still in REVIEW_IN_PROGRESS removes the stack shell too.
func (s *Service) DeleteChangeSet(ctx context.Context, projectID, stackName, name string) error {
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		st, err := s.get(ctx, tx, projectID, stackName)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM change_sets WHERE stack_id = ? AND name = ?`, st.ID, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("ChangeSet [%s] does not exist: %w", name, store.ErrNotFound)
		}
		if st.Status != stack.ReviewInProgress {
			return nil
		}
		var left int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM change_sets WHERE stack_id = ?`, st.ID).Scan(&left); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if left == 0 {
			_, err = tx.ExecContext(ctx, `DELETE FROM stacks WHERE id = ?`, st.ID)
		}
		return err
	})
}
