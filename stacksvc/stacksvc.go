// Package stacksvc keeps stacks on the server: their templates, parameter
// values, resources, events, outputs and exports, in the database, and runs
// every stack operation as a durable job through the stack engine, so a
// server killed in the middle of one resumes it after a restart.
package stacksvc

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/slipway/slipway/jobs"
	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/template"
)

// JobKind is the kind of the durable job that runs one stack operation.
const JobKind = "stack.run"

// Errors callers branch on.
var (
	// ErrInvalid wraps a malformed template, parameter value or request.
	ErrInvalid = errors.New("invalid")
	// ErrNoUpdates is CloudFormation's "No updates are to be performed.":
	// the template and parameter values are those the stack already has.
	// Tools treat it as success.
	ErrNoUpdates = errors.New("No updates are to be performed.")
	// ErrState says the stack's status does not allow the operation.
	ErrState = errors.New("stack state")
)

// noEchoMask replaces NoEcho parameter values wherever they are shown.
const noEchoMask = "****"

// Project names the project a stack lives in.
type Project struct{ ID, Name string }

// Stack is a stack as described to users.
type Stack struct {
	ID           string            `json:"id"`
	ProjectID    string            `json:"project_id"`
	Name         string            `json:"name"`
	Status       string            `json:"status"`
	StatusReason string            `json:"status_reason,omitempty"`
	TemplateName string            `json:"template_name,omitempty"`
	Description  string            `json:"description,omitempty"`
	Parameters   []Parameter       `json:"parameters"`
	Outputs      []Output          `json:"outputs"`
	Tags         map[string]string `json:"tags"`
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`

	template, prevTemplate, prevName string
	params, prevParams               map[string]string
}

// Parameter is a parameter value of a stack (NoEcho ones masked).
type Parameter struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Output is a stack output.
type Output struct {
	Key         string `json:"key"`
	Value       string `json:"value"`
	Description string `json:"description,omitempty"`
	ExportName  string `json:"export_name,omitempty"`
}

// Event is a stack event with its sequence number (for following).
type Event struct {
	Seq int64 `json:"seq"`
	stack.Event
}

// Export is an exported output.
type Export struct {
	Name      string   `json:"name"`
	Value     string   `json:"value"`
	StackName string   `json:"stack_name"`
	Importers []string `json:"importing_stacks"`
}

// Input is what a deploy, plan or change set is made from.
type Input struct {
	TemplateName string            `json:"template_name"`
	Template     string            `json:"template"`
	Parameters   map[string]string `json:"parameters"`
	Tags         map[string]string `json:"tags"`
}

// Config is what a Service needs besides the database.
type Config struct {
	Jobs   *jobs.Engine
	Engine *stack.Engine
	// Pseudo gives the pseudo parameters of a stack (region, account...).
	Pseudo func(stackName, stackID string) template.Pseudo
	// ProjectName names a project for the providers (repositories live
	// under their project's name).
	ProjectName func(ctx context.Context, projectID string) (string, error)
	Log         *slog.Logger
	// SignalPoll is how often a resource waiting for signals looks for
	// them; default 200ms.
	SignalPoll time.Duration
}

// Service owns the stack tables.
type Service struct {
	db  *store.DB
	cfg Config
}

// New returns the stack service.
func New(db *store.DB, cfg Config) *Service {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Pseudo == nil {
		cfg.Pseudo = func(name, id string) template.Pseudo {
			p := template.DefaultPseudo(name)
			p.StackID = fmt.Sprintf("arn:%s:cloudformation:%s:%s:stack/%s/%s", p.Partition, p.Region, p.AccountID, name, id)
			return p
		}
	}
	if cfg.SignalPoll <= 0 {
		cfg.SignalPoll = 200 * time.Millisecond
	}
	return &Service{db: db, cfg: cfg}
}

// Register makes the job engine run stack operations.
func (s *Service) Register(e *jobs.Engine) { e.Register(JobKind, s.run) }

var stackName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)

// ValidateName checks a stack name as CloudFormation does.
func ValidateName(name string) error {
	if !stackName.MatchString(name) {
		return fmt.Errorf("%w stack name %q: 1 to 128 letters, digits and hyphens, starting with a letter", ErrInvalid, name)
	}
	return nil
}

// Validation is what ValidateTemplate finds.
type Validation struct {
	Description string             `json:"description,omitempty"`
	Parameters  []ParamInfo        `json:"parameters"`
	Resources   []string           `json:"resources"`
	Warnings    []string           `json:"warnings,omitempty"`
	Template    *template.Template `json:"-"`
}

// ParamInfo describes a template parameter.
type ParamInfo struct {
	Name        string  `json:"name"`
	Type        string  `json:"type"`
	Default     *string `json:"default,omitempty"`
	NoEcho      bool    `json:"no_echo,omitempty"`
	Description string  `json:"description,omitempty"`
}

// ValidateTemplate checks a template as AWS's ValidateTemplate does (no
// parameter values needed), against the installed resource types; types
// without a provider are warnings. With values, it also binds them.
func (s *Service) ValidateTemplate(name, body string, values map[string]string) (*Validation, template.Params, error) {
	t, err := template.Parse(name, []byte(body))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	warnings, err := t.Check(s.cfg.Engine.Registry)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	v := &Validation{Description: t.Description, Warnings: warnings, Template: t, Resources: t.ResourceOrder, Parameters: []ParamInfo{}}
	for _, n := range t.ParameterOrder {
		p := t.Parameters[n]
		v.Parameters = append(v.Parameters, ParamInfo{Name: n, Type: p.Type, Default: p.Default, NoEcho: p.NoEcho, Description: p.Description})
	}
	if values == nil {
		return v, nil, nil
	}
	params, err := t.Bind(values)
	if err != nil {
		return v, nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return v, params, nil
}

// target parses and binds an input, refusing types without a provider.
func (s *Service) target(in Input, name, id string) (*stack.Target, *Validation, error) {
	v, params, err := s.ValidateTemplate(in.TemplateName, in.Template, nonNil(in.Parameters))
	if err != nil {
		return nil, nil, err
	}
	var unknown []string
	for _, l := range v.Template.ResourceOrder {
		if typ := v.Template.Resources[l].Type; !s.cfg.Engine.Registry.Known(typ) && !contains(unknown, typ) {
			unknown = append(unknown, typ)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, nil, fmt.Errorf("%w: %s", ErrInvalid, s.cfg.Engine.Registry.Unsupported(unknown))
	}
	return &stack.Target{Template: v.Template, Params: params, Pseudo: s.cfg.Pseudo(name, id)}, v, nil
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// stackARN is the StackId CloudFormation users know.
func (s *Service) stackARN(name, id string) string {
	return s.cfg.Pseudo(name, id).StackID
}

const stackColumns = `id, project_id, name, status, status_reason, template_name, template, parameters,
	prev_template_name, prev_template, prev_parameters, tags, outputs, created_at, updated_at`

func scanStack(row interface{ Scan(...any) error }) (*Stack, error) {
	var st Stack
	var params, prevParams, tags, outputs string
	var created, updated int64
	if err := row.Scan(&st.ID, &st.ProjectID, &st.Name, &st.Status, &st.StatusReason, &st.TemplateName, &st.template, &params,
		&st.prevName, &st.prevTemplate, &prevParams, &tags, &outputs, &created, &updated); err != nil {
		return nil, err
	}
	if err := errors.Join(json.Unmarshal([]byte(params), &st.params), json.Unmarshal([]byte(prevParams), &st.prevParams),
		json.Unmarshal([]byte(tags), &st.Tags), json.Unmarshal([]byte(outputs), &st.Outputs)); err != nil {
		return nil, fmt.Errorf("stack %s: %w", st.Name, err)
	}
	st.CreatedAt, st.UpdatedAt = store.Time(created), store.Time(updated)
	return &st, nil
}

// describe fills what is shown from the template: parameters (NoEcho
// masked) and the description.
func (s *Service) describe(st *Stack) *Stack {
	st.Parameters = []Parameter{}
	if st.Tags == nil {
		st.Tags = map[string]string{}
	}
	if st.Outputs == nil {
		st.Outputs = []Output{}
	}
	t, err := template.Parse(st.TemplateName, []byte(st.template))
	if err != nil {
		return st
	}
	st.Description = t.Description
	bound, err := t.Bind(nonNil(st.params))
	for _, n := range t.ParameterOrder {
		v := st.params[n]
		if err == nil {
			v = valueString(bound[n])
		}
		if t.NoEcho(n) {
			v = noEchoMask
		}
		st.Parameters = append(st.Parameters, Parameter{Key: n, Value: v})
	}
	return st
}

func valueString(v template.Value) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = fmt.Sprint(x)
		}
		return strings.Join(parts, ",")
	case json.Number:
		return v.String()
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func notFound(name string) error {
	return fmt.Errorf("Stack with id %s does not exist: %w", name, store.ErrNotFound)
}

// Get returns a stack by name.
func (s *Service) Get(ctx context.Context, projectID, name string) (*Stack, error) {
	st, err := s.get(ctx, s.db, projectID, name)
	if err != nil {
		return nil, err
	}
	return s.describe(st), nil
}

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func (s *Service) get(ctx context.Context, q querier, projectID, name string) (*Stack, error) {
	st, err := scanStack(q.QueryRowContext(ctx, "SELECT "+stackColumns+" FROM stacks WHERE project_id = ? AND name = ?", projectID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(name)
	}
	return st, err
}

// List returns a project's stacks by name.
func (s *Service) List(ctx context.Context, projectID string) ([]Stack, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+stackColumns+" FROM stacks WHERE project_id = ? ORDER BY name", projectID)
	if err != nil {
		return nil, fmt.Errorf("list stacks: %w", err)
	}
	defer rows.Close()
	out := []Stack{}
	for rows.Next() {
		st, err := scanStack(rows)
		if err != nil {
			return nil, fmt.Errorf("list stacks: %w", err)
		}
		out = append(out, *s.describe(st))
	}
	return out, rows.Err()
}

// Deploy creates the stack, or updates it to the input. It returns the
// stack as the operation starts; the operation runs as a job.
func (s *Service) Deploy(ctx context.Context, pr Project, name string, in Input) (*Stack, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if _, _, err := s.target(in, name, ""); err != nil {
		return nil, err
	}
	params, _ := json.Marshal(nonNil(in.Parameters))
	tags, _ := json.Marshal(nonNil(in.Tags))
	now := store.Millis(time.Now())
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		st, err := s.get(ctx, tx, pr.ID, name)
		if errors.Is(err, store.ErrNotFound) {
			id := store.NewID()
			if _, err := tx.ExecContext(ctx, `INSERT INTO stacks (id, project_id, name, status, template_name, template, parameters, tags, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, pr.ID, name, stack.CreateInProgress, in.TemplateName, in.Template, string(params), string(tags), now, now); err != nil {
				return fmt.Errorf("create stack %s: %w", name, err)
			}
			return s.enqueue(ctx, tx, id, name, stack.CreateInProgress, "User Initiated")
		}
		if err != nil {
			return err
		}
		if st.Status == stack.ReviewInProgress {
			// The shell a CREATE change set made becomes the stack.
			if _, err := tx.ExecContext(ctx, `UPDATE stacks SET status = ?, template_name = ?, template = ?, parameters = ?, tags = ?, updated_at = ?
				WHERE id = ?`, stack.CreateInProgress, in.TemplateName, in.Template, string(params), string(tags), now, st.ID); err != nil {
				return fmt.Errorf("create stack %s: %w", name, err)
			}
			return s.enqueue(ctx, tx, st.ID, name, stack.CreateInProgress, "User Initiated")
		}
		switch {
		case stack.InProgress(st.Status):
			return fmt.Errorf("%w: Stack:%s is in %s state and can not be updated.", ErrState, s.stackARN(name, st.ID), st.Status)
		case st.Status == stack.RollbackComplete || st.Status == stack.RollbackFailed || st.Status == stack.DeleteFailed ||
			st.Status == stack.UpdateRollbackFailed || st.Status == stack.CreateFailed:
			return fmt.Errorf("%w: Stack:%s is in %s state and can not be updated. Delete it and deploy again.", ErrState, s.stackARN(name, st.ID), st.Status)
		}
		if st.template == in.Template && equalMaps(st.params, nonNil(in.Parameters)) && equalMaps(st.Tags, nonNil(in.Tags)) {
			return ErrNoUpdates
		}
		if _, err := tx.ExecContext(ctx, `UPDATE stacks SET status = ?, status_reason = '', prev_template_name = template_name,
			prev_template = template, prev_parameters = parameters, template_name = ?, template = ?, parameters = ?, tags = ?, updated_at = ?
			WHERE id = ?`, stack.UpdateInProgress, in.TemplateName, in.Template, string(params), string(tags), now, st.ID); err != nil {
			return fmt.Errorf("update stack %s: %w", name, err)
		}
		// Executing anything makes the stack's change sets stale.
		if _, err := tx.ExecContext(ctx, `UPDATE change_sets SET execution_status = 'OBSOLETE' WHERE stack_id = ? AND execution_status = 'AVAILABLE'`, st.ID); err != nil {
			return err
		}
		return s.enqueue(ctx, tx, st.ID, name, stack.UpdateInProgress, "User Initiated")
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, pr.ID, name)
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

type jobPayload struct {
	StackID string `json:"stack_id"`
}

// enqueue records the operation's first event and its job.
func (s *Service) enqueue(ctx context.Context, tx *store.Tx, id, name, status, reason string) error {
	if err := insertEvent(ctx, tx, id, &stack.Event{Logical: name, PhysicalID: id, Type: stack.StackType, Status: status, Reason: reason, At: time.Now().UTC()}); err != nil {
		return err
	}
	// Stack operations resume after a crash: many attempts, each one
	// continuing from the recorded status.
	jobID, err := s.cfg.Jobs.EnqueueTx(ctx, tx, JobKind, jobPayload{StackID: id}, jobs.MaxAttempts(50))
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE stacks SET job_id = ? WHERE id = ?`, jobID, id)
	return err
}

func insertEvent(ctx context.Context, tx interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}, stackID string, e *stack.Event) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO stack_events (stack_id, logical_id, physical_id, type, status, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		stackID, e.Logical, e.PhysicalID, e.Type, e.Status, e.Reason, store.Millis(e.At))
	if err != nil {
		return fmt.Errorf("stack event: %w", err)
	}
	return nil
}

// Delete starts deleting a stack. A stack whose exports other stacks
// import cannot be deleted.
func (s *Service) Delete(ctx context.Context, pr Project, name string) (*Stack, error) {
	var deleting *Stack
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		st, err := s.get(ctx, tx, pr.ID, name)
		if err != nil {
			return err
		}
		deleting = st
		if stack.InProgress(st.Status) && st.Status != stack.ReviewInProgress {
			return fmt.Errorf("%w: Stack:%s is in %s state and can not be deleted now; wait for the operation to end.", ErrState, s.stackARN(name, st.ID), st.Status)
		}
		var exp, importer string
		err = tx.QueryRowContext(ctx, `SELECT e.name, s.name FROM stack_exports e JOIN stack_imports i ON i.project_id = e.project_id AND i.name = e.name
			JOIN stacks s ON s.id = i.stack_id WHERE e.stack_id = ? AND i.stack_id <> ? ORDER BY e.name, s.name LIMIT 1`, st.ID, st.ID).Scan(&exp, &importer)
		if err == nil {
			return fmt.Errorf("%w: Export %s cannot be deleted as it is in use by %s", ErrState, exp, importer)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE stacks SET status = ?, status_reason = '', updated_at = ? WHERE id = ?`,
			stack.DeleteInProgress, store.Millis(time.Now()), st.ID); err != nil {
			return err
		}
		return s.enqueue(ctx, tx, st.ID, name, stack.DeleteInProgress, "User Initiated")
	})
	if err != nil {
		return nil, err
	}
	// The stack as the delete began: the job may have removed it already.
	deleting.Status, deleting.StatusReason = stack.DeleteInProgress, ""
	return s.describe(deleting), nil
}

// Events returns a stack's events after seq (0: from the start), oldest
// first, at most limit.
func (s *Service) Events(ctx context.Context, stackID string, after int64, limit int) ([]Event, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, logical_id, physical_id, type, status, reason, at FROM stack_events
		WHERE stack_id = ? AND id > ? ORDER BY id LIMIT ?`, stackID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("stack events: %w", err)
	}
	defer rows.Close()
	out := []Event{}
	for rows.Next() {
		var e Event
		var at int64
		if err := rows.Scan(&e.Seq, &e.Logical, &e.PhysicalID, &e.Type, &e.Status, &e.Reason, &at); err != nil {
			return nil, err
		}
		e.At = store.Time(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Resources returns a stack's resources (not the old sides of replacements
// still waiting for cleanup), in logical ID order.
func (s *Service) Resources(ctx context.Context, stackID string) ([]stack.Resource, error) {
	recs, err := s.records(ctx, s.db, stackID)
	if err != nil {
		return nil, err
	}
	out := []stack.Resource{}
	for _, r := range recs {
		if !r.Replaced {
			out = append(out, *r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Logical < out[j].Logical })
	return out, nil
}

func (s *Service) records(ctx context.Context, q interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}, stackID string) ([]*stack.Resource, error) {
	rows, err := q.QueryContext(ctx, `SELECT body FROM stack_resources WHERE stack_id = ? ORDER BY logical_id, updated_at`, stackID)
	if err != nil {
		return nil, fmt.Errorf("stack resources: %w", err)
	}
	defer rows.Close()
	var out []*stack.Resource
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		r, err := decodeResource(body)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// decodeResource keeps numbers as json.Number, as templates give them, so
// that a stored property compares equal to the same one evaluated again.
func decodeResource(body string) (*stack.Resource, error) {
	d := json.NewDecoder(strings.NewReader(body))
	d.UseNumber()
	var r stack.Resource
	if err := d.Decode(&r); err != nil {
		return nil, fmt.Errorf("stack resource: %w", err)
	}
	return &r, nil
}

// Exports lists a project's exports and who imports them.
func (s *Service) Exports(ctx context.Context, projectID string) ([]Export, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT e.name, e.value, s.name, COALESCE(i2.name, '') FROM stack_exports e
		JOIN stacks s ON s.id = e.stack_id
		LEFT JOIN stack_imports i ON i.project_id = e.project_id AND i.name = e.name
		LEFT JOIN stacks i2 ON i2.id = i.stack_id
		WHERE e.project_id = ? ORDER BY e.name, i2.name`, projectID)
	if err != nil {
		return nil, fmt.Errorf("exports: %w", err)
	}
	defer rows.Close()
	out := []Export{}
	for rows.Next() {
		var e Export
		var importer string
		if err := rows.Scan(&e.Name, &e.Value, &e.StackName, &importer); err != nil {
			return nil, err
		}
		if n := len(out); n > 0 && out[n-1].Name == e.Name {
			if importer != "" {
				out[n-1].Importers = append(out[n-1].Importers, importer)
			}
			continue
		}
		e.Importers = []string{}
		if importer != "" {
			e.Importers = append(e.Importers, importer)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Signal records a signal for a resource waiting on a CreationPolicy.
func (s *Service) Signal(ctx context.Context, projectID, name, logical, status, uniqueID string) error {
	if status != "SUCCESS" && status != "FAILURE" {
		return fmt.Errorf("%w signal status %q: use SUCCESS or FAILURE", ErrInvalid, status)
	}
	st, err := s.get(ctx, s.db, projectID, name)
	if err != nil {
		return err
	}
	recs, err := s.records(ctx, s.db, st.ID)
	if err != nil {
		return err
	}
	found := false
	for _, r := range recs {
		found = found || r.Logical == logical
	}
	if !found {
		return fmt.Errorf("Resource %s does not exist in stack %s: %w", logical, name, store.ErrNotFound)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO stack_signals (stack_id, logical_id, status, unique_id, at) VALUES (?, ?, ?, ?, ?)`,
		st.ID, logical, status, uniqueID, store.Millis(time.Now()))
	return err
}
