package stacksvc

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/slipway/slipway/jobs"
	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/template"
)

// run is the job handler of one stack operation: it continues the
// operation from the stack's recorded status.
func (s *Service) run(ctx context.Context, job *jobs.Job) error {
	var pl jobPayload
	if err := job.Decode(&pl); err != nil {
		return jobs.Permanent(err)
	}
	st, err := scanStack(s.db.QueryRowContext(ctx, "SELECT "+stackColumns+" FROM stacks WHERE id = ?", pl.StackID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if !stack.InProgress(st.Status) || st.Status == stack.ReviewInProgress {
		return nil
	}
	op, err := s.operation(ctx, st)
	if err != nil {
		// A stored template that no longer parses cannot be applied or
		// rolled back by retrying.
		_ = s.setStatus(context.WithoutCancel(ctx), st, failedStatus(st.Status), err.Error())
		return jobs.Permanent(err)
	}
	state := &dbState{s: s, st: st, imports: map[string]bool{}}
	if _, err := s.cfg.Engine.Run(ctx, op, state); err != nil {
		return fmt.Errorf("stack %s: %w", st.Name, err) // resumes from the recorded status
	}
	return nil
}

// failedStatus is where an operation that cannot go on ends.
func failedStatus(status string) string {
	switch status {
	case stack.CreateInProgress, stack.RollbackInProgress:
		return stack.RollbackFailed
	case stack.DeleteInProgress:
		return stack.DeleteFailed
	}
	return stack.UpdateRollbackFailed
}

// operation rebuilds the engine's operation from the stack's rows.
func (s *Service) operation(ctx context.Context, st *Stack) (*stack.Operation, error) {
	op := &stack.Operation{StackID: st.ID, StackName: st.Name, ProjectID: st.ProjectID, Status: st.Status}
	if s.cfg.ProjectName != nil {
		name, err := s.cfg.ProjectName(ctx, st.ProjectID)
		if err != nil {
			return nil, err
		}
		op.ProjectName = name
	}
	recs, err := s.records(ctx, s.db, st.ID)
	if err != nil {
		return nil, err
	}
	op.Resources = recs
	if st.Status != stack.DeleteInProgress {
		if op.New, err = s.bound(st.Name, st.ID, st.TemplateName, st.template, st.params); err != nil {
			return nil, err
		}
		if st.prevTemplate != "" {
			if op.Old, err = s.bound(st.Name, st.ID, st.prevName, st.prevTemplate, st.prevParams); err != nil {
				return nil, err
			}
		}
	}
	return op, nil
}

func (s *Service) bound(name, id, file, body string, params map[string]string) (*stack.Target, error) {
	t, err := template.Parse(file, []byte(body))
	if err != nil {
		return nil, err
	}
	p, err := t.Bind(nonNil(params))
	if err != nil {
		return nil, err
	}
	return &stack.Target{Template: t, Params: p, Pseudo: s.cfg.Pseudo(name, id)}, nil
}

func (s *Service) setStatus(ctx context.Context, st *Stack, status, reason string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE stacks SET status = ?, status_reason = ?, updated_at = ? WHERE id = ?`,
		status, reason, store.Millis(time.Now()), st.ID)
	return err
}

// dbState records an operation in the stack's tables.
type dbState struct {
	s  *Service
	st *Stack

	mu      sync.Mutex
	imports map[string]bool
}

func (d *dbState) SetStatus(ctx context.Context, status, reason string) error {
	if status == stack.DeleteComplete {
		// A deleted stack is gone at once, with its events, exports and
		// imports: nobody sees it DELETE_COMPLETE and still there.
		_, err := d.s.db.ExecContext(ctx, `DELETE FROM stacks WHERE id = ?`, d.st.ID)
		return err
	}
	return d.s.db.Tx(ctx, func(tx *store.Tx) error {
		q := `UPDATE stacks SET status = ?, status_reason = ?, updated_at = ? WHERE id = ?`
		if status == stack.UpdateRollbackComplete {
			// The stack is back on the template it had before the update.
			q = `UPDATE stacks SET status = ?, status_reason = ?, updated_at = ?, template_name = prev_template_name,
				template = prev_template, parameters = prev_parameters WHERE id = ?`
		}
		if _, err := tx.ExecContext(ctx, q, status, reason, store.Millis(time.Now()), d.st.ID); err != nil {
			return fmt.Errorf("stack %s status: %w", d.st.Name, err)
		}
		if status == stack.RollbackComplete {
			// Nothing of the stack is left to export or import.
			for _, q := range []string{`DELETE FROM stack_exports WHERE stack_id = ?`, `DELETE FROM stack_imports WHERE stack_id = ?`} {
				if _, err := tx.ExecContext(ctx, q, d.st.ID); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func (d *dbState) SaveResource(ctx context.Context, r *stack.Resource) error {
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = d.s.db.ExecContext(ctx, `INSERT INTO stack_resources (id, stack_id, logical_id, body, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at`,
		r.ID, d.st.ID, r.Logical, string(body), store.Millis(time.Now()))
	if err != nil {
		return fmt.Errorf("save stack resource %s: %w", r.Logical, err)
	}
	return nil
}

func (d *dbState) DropResource(ctx context.Context, r *stack.Resource) error {
	_, err := d.s.db.ExecContext(ctx, `DELETE FROM stack_resources WHERE id = ?`, r.ID)
	return err
}

func (d *dbState) Event(ctx context.Context, e *stack.Event) error {
	if e.Type == stack.StackType && e.Status == stack.DeleteComplete {
		return nil // the stack and its events are gone
	}
	return insertEvent(ctx, d.s.db, d.st.ID, e)
}

func (d *dbState) NewID() string { return store.NewID() }

func (d *dbState) Import(ctx context.Context, name string) (string, error) {
	d.mu.Lock()
	d.imports[name] = true
	d.mu.Unlock()
	return lookupExport(ctx, d.s.db, d.st.ProjectID, name)
}

func lookupExport(ctx context.Context, db *store.DB, projectID, name string) (string, error) {
	var v string
	err := db.QueryRowContext(ctx, `SELECT value FROM stack_exports WHERE project_id = ? AND name = ?`, projectID, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("No export named %s found", name)
	}
	return v, err
}

// Outputs records the outputs, then the exports, refusing to change or
// drop an export another stack imports, and the imports this apply used.
func (d *dbState) Outputs(ctx context.Context, outs []template.OutputValue) error {
	shown := []Output{}
	exports := map[string]string{}
	for _, o := range outs {
		v := valueString(o.Value)
		shown = append(shown, Output{Key: o.Name, Value: v, Description: o.Description, ExportName: o.ExportName})
		if o.ExportName != "" {
			exports[o.ExportName] = v
		}
	}
	d.mu.Lock()
	imports := make([]string, 0, len(d.imports))
	for n := range d.imports {
		imports = append(imports, n)
	}
	d.imports = map[string]bool{}
	d.mu.Unlock()
	sort.Strings(imports)
	body, _ := json.Marshal(shown)
	return d.s.db.Tx(ctx, func(tx *store.Tx) error {
		for name := range exports {
			var owner string
			err := tx.QueryRowContext(ctx, `SELECT s.name FROM stack_exports e JOIN stacks s ON s.id = e.stack_id
				WHERE e.project_id = ? AND e.name = ? AND e.stack_id <> ?`, d.st.ProjectID, name, d.st.ID).Scan(&owner)
			if err == nil {
				return fmt.Errorf("Export with name %s is already exported by stack %s", name, owner)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, `SELECT name, value FROM stack_exports WHERE stack_id = ?`, d.st.ID)
		if err != nil {
			return err
		}
		old := map[string]string{}
		for rows.Next() {
			var n, v string
			if err := rows.Scan(&n, &v); err != nil {
				rows.Close()
				return err
			}
			old[n] = v
		}
		rows.Close()
		for name, v := range old {
			nv, kept := exports[name]
			if kept && nv == v {
				continue
			}
			var importer string
			err := tx.QueryRowContext(ctx, `SELECT s.name FROM stack_imports i JOIN stacks s ON s.id = i.stack_id
				WHERE i.project_id = ? AND i.name = ? AND i.stack_id <> ? ORDER BY s.name LIMIT 1`, d.st.ProjectID, name, d.st.ID).Scan(&importer)
			switch {
			case err == nil && kept:
				return fmt.Errorf("Export %s cannot be updated as it is in use by %s", name, importer)
			case err == nil:
				return fmt.Errorf("Export %s cannot be deleted as it is in use by %s", name, importer)
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
		}
		stmts := []struct {
			q    string
			args []any
		}{
			{`DELETE FROM stack_exports WHERE stack_id = ?`, []any{d.st.ID}},
			{`DELETE FROM stack_imports WHERE stack_id = ?`, []any{d.st.ID}},
			{`UPDATE stacks SET outputs = ? WHERE id = ?`, []any{string(body), d.st.ID}},
		}
		for name, v := range exports {
			stmts = append(stmts, struct {
				q    string
				args []any
			}{`INSERT INTO stack_exports (project_id, name, stack_id, value) VALUES (?, ?, ?, ?)`, []any{d.st.ProjectID, name, d.st.ID, v}})
		}
		for _, name := range imports {
			stmts = append(stmts, struct {
				q    string
				args []any
			}{`INSERT INTO stack_imports (stack_id, project_id, name) VALUES (?, ?, ?)`, []any{d.st.ID, d.st.ProjectID, name}})
		}
		for _, st := range stmts {
			if _, err := tx.ExecContext(ctx, st.q, st.args...); err != nil {
				return fmt.Errorf("stack %s outputs: %w", d.st.Name, err)
			}
		}
		return nil
	})
}

// WaitSignals waits for count SUCCESS signals of a resource (of the given
// unique IDs, when from is not empty); a FAILURE signal or the timeout
// fails it.
func (d *dbState) WaitSignals(ctx context.Context, logical string, count int, timeout time.Duration, from ...string) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(d.s.cfg.SignalPoll)
	defer tick.Stop()
	for {
		rows, err := d.s.db.QueryContext(ctx, `SELECT status, unique_id FROM stack_signals WHERE stack_id = ? AND logical_id = ? ORDER BY id`, d.st.ID, logical)
		if err != nil {
			return err
		}
		ok := 0
		var failure error
		for rows.Next() {
			var status, uid string
			if err := rows.Scan(&status, &uid); err != nil {
				rows.Close()
				return err
			}
			if len(from) > 0 && !slices.Contains(from, uid) {
				continue
			}
			if status == "FAILURE" && failure == nil {
				failure = fmt.Errorf("Received FAILURE signal with UniqueId %s", uid)
			}
			if status == "SUCCESS" {
				ok++
			}
		}
		rows.Close()
		switch {
		case failure != nil:
			return failure
		case ok >= count:
			return nil
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-deadline.C:
			return fmt.Errorf("Failed to receive %d resource signal(s) within the specified duration", count)
		case <-tick.C:
		}
	}
}

// Plan computes the change set that deploying the input would make.
func (s *Service) Plan(ctx context.Context, pr Project, name string, in Input) ([]stack.Change, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	var recs []*stack.Resource
	id := ""
	st, err := s.get(ctx, s.db, pr.ID, name)
	switch {
	case err == nil:
		id = st.ID
		if recs, err = s.records(ctx, s.db, st.ID); err != nil {
			return nil, err
		}
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	t, _, err := s.target(in, name, id)
	if err != nil {
		return nil, err
	}
	changes, err := s.cfg.Engine.Plan(ctx, t, recs, func(n string) (string, error) { return lookupExport(ctx, s.db, pr.ID, n) })
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if changes == nil {
		changes = []stack.Change{}
	}
	return changes, nil
}
