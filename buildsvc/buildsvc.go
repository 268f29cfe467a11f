// Package buildsvc runs builds on the server: build projects (the settings of
// AWS::CodeBuild::Project), builds started from a hosted repository and run
// as durable jobs by the build engine, their phases, logs and artifacts.
package buildsvc

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/slipway/slipway/artifact"
	"github.com/slipway/slipway/build"
	"github.com/slipway/slipway/buildspec"
	"github.com/slipway/slipway/jobs"
	"github.com/slipway/slipway/repo"
	"github.com/slipway/slipway/secret"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/unpack"
)

// JobKind is the kind of the durable job that runs one build.
const JobKind = "build.run"

// ErrInvalid is wrapped by errors about malformed input (the caller's mistake).
var ErrInvalid = errors.New("invalid")

// EnvVar is a project environment variable.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	// Type is PLAINTEXT (default), PARAMETER_STORE or SECRETS_MANAGER.
	Type string `json:"type,omitempty"`
}

// Environment is where and with what a project's builds run.
type Environment struct {
	ComputeType string `json:"compute_type"` // advisory
	// Image is the container image builds run in, on Docker. Empty, "local"
	// and CodeBuild's own images (aws/codebuild/...), which exist only on
	// AWS, run as local processes.
	Image     string   `json:"image"`
	Variables []EnvVar `json:"variables"`
}

// LocalImage reports whether builds with this image run as local processes.
func LocalImage(image string) bool {
	return image == "" || image == "local" || strings.HasPrefix(image, "aws/codebuild/")
}

// Cache is the project's cache setting: with LOCAL, the buildspec's
// cache.paths are kept between the project's builds on this server.
type Cache struct {
	Type  string   `json:"type"` // NO_CACHE or LOCAL
	Modes []string `json:"modes,omitempty"`
}

// Settings are a build project's fields, as AWS::CodeBuild::Project has them.
type Settings struct {
	Description      string      `json:"description"`
	Environment      Environment `json:"environment"`
	TimeoutInMinutes int         `json:"timeout_in_minutes"`
	// Buildspec overrides buildspec.yml: a path in the source, or inline YAML.
	Buildspec string `json:"buildspec,omitempty"`
	Cache     Cache  `json:"cache"`
}

// Project is a build project.
type Project struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id"`
	Name      string `json:"name"`
	Settings
	CreatedAt time.Time `json:"created_at"`
}

// ArtifactRef is an artifact a build stored.
type ArtifactRef struct {
	// Identifier names a secondary artifact; it is empty for the primary one.
	Identifier string `json:"identifier,omitempty"`
	Name       string `json:"name"`
	Digest     string `json:"digest"`
	Size       int64  `json:"size"`
}

// Build is one run of a build project.
type Build struct {
	ID           string              `json:"id"`
	ProjectID    string              `json:"project_id"`
	BuildProject string              `json:"build_project"`
	Number       int64               `json:"number"`
	Status       build.Status        `json:"status"`
	Source       string              `json:"source"`
	Commit       string              `json:"commit"`
	Initiator    string              `json:"initiator"`
	Phases       []build.PhaseReport `json:"phases"`
	Exported     map[string]string   `json:"exported"`
	Artifacts    []ArtifactRef       `json:"artifacts"`
	StartedAt    time.Time           `json:"started_at"`
	EndedAt      time.Time           `json:"ended_at,omitzero"`

	jobID int64
	env   []EnvVar // given at the start, over the project's
}

// Finished reports whether the build has ended.
func (b *Build) Finished() bool { return b.Status != build.InProgress }

// Config is what a Service needs besides the database.
type Config struct {
	Jobs      *jobs.Engine
	Repos     *repo.Service
	Secrets   *secret.Service
	Artifacts artifact.Store
	// Docker, when set, runs the builds of projects whose image is a
	// container image (its Image is set per build); nil means none can run.
	Docker *build.Docker
	// WorkDir is where build workspaces are made (DATA/builds); Hide lists
	// directories builds must not see (the data directory).
	WorkDir string
	Hide    []string
	Log     *slog.Logger
}

// Service owns build_projects, builds and build_logs.
type Service struct {
	db  *store.DB
	cfg Config
	exe *build.Local
}

// NewService returns the build service.
func NewService(db *store.DB, cfg Config) *Service {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Service{db: db, cfg: cfg, exe: &build.Local{Dir: cfg.WorkDir, Hide: cfg.Hide}}
}

// Register makes the job engine run builds.
func (s *Service) Register(e *jobs.Engine) { e.Register(JobKind, s.run) }

// ValidateName checks a build project name: 2 to 255 letters, digits, '-' or '_'.
func ValidateName(name string) error {
	if len(name) < 2 || len(name) > 255 {
		return fmt.Errorf("%w build project name %q: use 2 to 255 letters, digits, '-' or '_'", ErrInvalid, name)
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w build project name %q: contains %q; use letters, digits, '-' or '_'", ErrInvalid, name, c)
		}
	}
	return nil
}

var computeTypes = map[string]bool{
	"BUILD_GENERAL1_SMALL": true, "BUILD_GENERAL1_MEDIUM": true, "BUILD_GENERAL1_LARGE": true,
	"BUILD_GENERAL1_XLARGE": true, "BUILD_GENERAL1_2XLARGE": true,
	"BUILD_LAMBDA_1GB": true, "BUILD_LAMBDA_2GB": true, "BUILD_LAMBDA_4GB": true,
	"BUILD_LAMBDA_8GB": true, "BUILD_LAMBDA_10GB": true,
}

// Normalize fills the defaults of settings and validates them.
func Normalize(st *Settings) error {
	if st.TimeoutInMinutes == 0 {
		st.TimeoutInMinutes = 60
	}
	if st.TimeoutInMinutes < 5 || st.TimeoutInMinutes > 2160 {
		return fmt.Errorf("%w timeout %d minutes: use 5 to 2160", ErrInvalid, st.TimeoutInMinutes)
	}
	if st.Environment.ComputeType == "" {
		st.Environment.ComputeType = "BUILD_GENERAL1_SMALL"
	}
	if !computeTypes[st.Environment.ComputeType] {
		return fmt.Errorf("%w compute type %q: use BUILD_GENERAL1_SMALL, _MEDIUM, _LARGE, _XLARGE or _2XLARGE", ErrInvalid, st.Environment.ComputeType)
	}
	if st.Environment.Variables == nil {
		st.Environment.Variables = []EnvVar{}
	}
	seen := map[string]bool{}
	for i := range st.Environment.Variables {
		v := &st.Environment.Variables[i]
		if v.Type == "" {
			v.Type = "PLAINTEXT"
		}
		switch v.Type {
		case "PLAINTEXT", "PARAMETER_STORE", "SECRETS_MANAGER":
		default:
			return fmt.Errorf("%w environment variable %s: type %q: use PLAINTEXT, PARAMETER_STORE or SECRETS_MANAGER", ErrInvalid, v.Name, v.Type)
		}
		if v.Name == "" || strings.ContainsAny(v.Name, "= \x00") || strings.HasPrefix(v.Name, "CODEBUILD_") {
			return fmt.Errorf("%w environment variable name %q (names starting CODEBUILD_ are reserved)", ErrInvalid, v.Name)
		}
		if seen[v.Name] {
			return fmt.Errorf("%w environment variable %s is set twice", ErrInvalid, v.Name)
		}
		seen[v.Name] = true
	}
	if st.Cache.Type == "" {
		st.Cache.Type = "NO_CACHE"
	}
	if st.Cache.Type != "NO_CACHE" && st.Cache.Type != "LOCAL" {
		return fmt.Errorf("%w cache type %q: use NO_CACHE or LOCAL", ErrInvalid, st.Cache.Type)
	}
	if b := st.Buildspec; b != "" && !strings.Contains(b, "\n") && !filepath.IsLocal(b) {
		return fmt.Errorf("%w buildspec %q: a path inside the source, or inline YAML", ErrInvalid, b)
	}
	return nil
}

// CreateProject creates a build project; an existing name gives an error
// wrapping store.ErrConflict.
func (s *Service) CreateProject(ctx context.Context, projectID, name string, st Settings) (*Project, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if err := Normalize(&st); err != nil {
		return nil, err
	}
	body, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	p := &Project{ID: store.NewID(), ProjectID: projectID, Name: name, Settings: st, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	_, err = s.db.ExecContext(ctx,
		`INSERT INTO build_projects (id, project_id, name, settings, created_at) VALUES (?, ?, ?, ?, ?)`,
		p.ID, projectID, name, string(body), store.Millis(p.CreatedAt))
	if err != nil {
		return nil, fmt.Errorf("build project %s: %w", name, err)
	}
	return p, nil
}

// UpdateProject replaces a build project's settings.
func (s *Service) UpdateProject(ctx context.Context, projectID, name string, st Settings) (*Project, error) {
	if err := Normalize(&st); err != nil {
		return nil, err
	}
	body, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	res, err := s.db.ExecContext(ctx, `UPDATE build_projects SET settings = ? WHERE project_id = ? AND name = ?`, string(body), projectID, name)
	if err != nil {
		return nil, fmt.Errorf("build project %s: %w", name, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return nil, fmt.Errorf("build project %s: %w", name, store.ErrNotFound)
	}
	return s.GetProject(ctx, projectID, name)
}

const projectColumns = "id, project_id, name, settings, created_at"

func scanProject(row interface{ Scan(...any) error }) (*Project, error) {
	var p Project
	var settings string
	var created int64
	if err := row.Scan(&p.ID, &p.ProjectID, &p.Name, &settings, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(settings), &p.Settings); err != nil {
		return nil, fmt.Errorf("build project %s: settings: %w", p.Name, err)
	}
	p.CreatedAt = store.Time(created)
	return &p, nil
}

// GetProject returns a build project, or an error wrapping store.ErrNotFound.
func (s *Service) GetProject(ctx context.Context, projectID, name string) (*Project, error) {
	p, err := scanProject(s.db.QueryRowContext(ctx,
		"SELECT "+projectColumns+" FROM build_projects WHERE project_id = ? AND name = ?", projectID, name))
	if errors.Is(err, sql.ErrNoRows) {
		err = fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	if err != nil {
		return nil, fmt.Errorf("build project %s: %w", name, err)
	}
	return p, nil
}

// ListProjects returns the project's build projects by name.
func (s *Service) ListProjects(ctx context.Context, projectID string) ([]Project, error) {
	rows, err := s.db.QueryContext(ctx,
		"SELECT "+projectColumns+" FROM build_projects WHERE project_id = ? ORDER BY name", projectID)
	if err != nil {
		return nil, fmt.Errorf("list build projects: %w", err)
	}
	defer rows.Close()
	out := []Project{}
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, fmt.Errorf("list build projects: %w", err)
		}
		out = append(out, *p)
	}
	return out, rows.Err()
}

// DeleteProject deletes a build project and its builds' history. Builds
// still running are stopped first.
func (s *Service) DeleteProject(ctx context.Context, projectID, name string) error {
	p, err := s.GetProject(ctx, projectID, name)
	if err != nil {
		return err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT job_id FROM builds WHERE build_project_id = ? AND status = 'IN_PROGRESS'`, p.ID)
	if err != nil {
		return fmt.Errorf("delete build project %s: %w", name, err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		if err := s.cfg.Jobs.Cancel(ctx, id); err != nil && !errors.Is(err, jobs.ErrFinished) && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("delete build project %s: stop build: %w", name, err)
		}
	}
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM build_logs WHERE build_id IN (SELECT id FROM builds WHERE build_project_id = ?)`, p.ID); err != nil {
			return fmt.Errorf("delete build project %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM builds WHERE build_project_id = ?`, p.ID); err != nil {
			return fmt.Errorf("delete build project %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM build_projects WHERE id = ?`, p.ID); err != nil {
			return fmt.Errorf("delete build project %s: %w", name, err)
		}
		return nil
	})
}

// ParseSource splits "REPO@REF" (REF defaults to main).
func ParseSource(src string) (repoName, ref string, err error) {
	repoName, ref, ok := strings.Cut(src, "@")
	if !ok || ref == "" {
		ref = "main"
	}
	if err := repo.ValidateName(repoName); err != nil {
		return "", "", fmt.Errorf("%w source %q: %w", ErrInvalid, src, err)
	}
	if strings.HasPrefix(ref, "-") || strings.ContainsAny(ref, " \x00\n\r\t~^:?*[\\") || strings.Contains(ref, "..") {
		return "", "", fmt.Errorf("%w source %q: %q is not a branch, tag or commit name", ErrInvalid, src, ref)
	}
	return repoName, ref, nil
}

type jobPayload struct {
	BuildID string `json:"build_id"`
}

// Start creates a build of project p from source and enqueues its job in
// the same transaction. The source is "REPO@REF" (already checked to exist
// and be readable by the caller) or the digest of a zip archive in the
// artifact store (an uploaded directory, or later a pipeline's artifact).
func (s *Service) Start(ctx context.Context, p *Project, source, initiator string, env ...EnvVar) (*Build, error) {
	overrides := Settings{Environment: Environment{Variables: env}}
	if err := Normalize(&overrides); err != nil {
		return nil, err
	}
	envJSON, _ := json.Marshal(overrides.Environment.Variables)
	if IsArtifactSource(source) {
		if err := artifact.ValidateDigest(source); err != nil {
			return nil, fmt.Errorf("%w source: %w", ErrInvalid, err)
		}
	} else if _, _, err := ParseSource(source); err != nil {
		return nil, err
	}
	b := &Build{ID: p.Name + ":" + store.NewID(), ProjectID: p.ProjectID, BuildProject: p.Name, Status: build.InProgress,
		Source: source, Initiator: initiator, Phases: []build.PhaseReport{}, Exported: map[string]string{},
		Artifacts: []ArtifactRef{}, StartedAt: time.Now().UTC().Truncate(time.Millisecond)}
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		if err := store.Scan(tx.QueryRowContext(ctx,
			`UPDATE build_projects SET next_number = next_number + 1 WHERE id = ? RETURNING next_number - 1`, p.ID), &b.Number); err != nil {
			return fmt.Errorf("start build of %s: %w", p.Name, err)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO builds (id, project_id, build_project_id, number, status, source, initiator, env, started_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			b.ID, p.ProjectID, p.ID, b.Number, string(b.Status), source, initiator, string(envJSON), store.Millis(b.StartedAt)); err != nil {
			return fmt.Errorf("start build of %s: %w", p.Name, err)
		}
		id, err := s.cfg.Jobs.EnqueueTx(ctx, tx, JobKind, jobPayload{BuildID: b.ID}, jobs.MaxAttempts(3))
		if err != nil {
			return err
		}
		b.jobID = id
		_, err = tx.ExecContext(ctx, `UPDATE builds SET job_id = ? WHERE id = ?`, id, b.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// StartUpload stores r, a zip archive of a source tree, in the artifact
// store and starts a build of project p from it.
func (s *Service) StartUpload(ctx context.Context, p *Project, r io.Reader, initiator string) (*Build, error) {
	info, err := s.cfg.Artifacts.Put(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("upload source: %w", err)
	}
	return s.Start(ctx, p, info.Digest, initiator)
}

const buildColumns = `b.id, b.project_id, p.name, b.number, b.status, b.source, b.commit_id, b.initiator,
	b.phases, b.exported, b.artifacts, b.env, b.job_id, b.started_at, b.ended_at`

func scanBuild(row interface{ Scan(...any) error }) (*Build, error) {
	var b Build
	var status, phases, exported, artifacts, env string
	var started, ended int64
	if err := row.Scan(&b.ID, &b.ProjectID, &b.BuildProject, &b.Number, &status, &b.Source, &b.Commit, &b.Initiator,
		&phases, &exported, &artifacts, &env, &b.jobID, &started, &ended); err != nil {
		return nil, err
	}
	b.Status = build.Status(status)
	if err := errors.Join(json.Unmarshal([]byte(phases), &b.Phases), json.Unmarshal([]byte(exported), &b.Exported),
		json.Unmarshal([]byte(artifacts), &b.Artifacts), json.Unmarshal([]byte(env), &b.env)); err != nil {
		return nil, fmt.Errorf("build %s: %w", b.ID, err)
	}
	b.StartedAt = store.Time(started)
	if ended != 0 {
		b.EndedAt = store.Time(ended)
	}
	return &b, nil
}

// Get returns a build of the project, or an error wrapping store.ErrNotFound.
func (s *Service) Get(ctx context.Context, projectID, id string) (*Build, error) {
	b, err := scanBuild(s.db.QueryRowContext(ctx,
		"SELECT "+buildColumns+" FROM builds b JOIN build_projects p ON p.id = b.build_project_id WHERE b.id = ? AND b.project_id = ?",
		id, projectID))
	if errors.Is(err, sql.ErrNoRows) {
		err = fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", id, err)
	}
	return b, nil
}

// List returns a build project's builds, newest first (at most limit).
func (s *Service) List(ctx context.Context, p *Project, limit int) ([]Build, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := s.db.QueryContext(ctx,
		"SELECT "+buildColumns+" FROM builds b JOIN build_projects p ON p.id = b.build_project_id WHERE b.build_project_id = ? ORDER BY b.number DESC LIMIT ?",
		p.ID, limit)
	if err != nil {
		return nil, fmt.Errorf("list builds of %s: %w", p.Name, err)
	}
	defer rows.Close()
	out := []Build{}
	for rows.Next() {
		b, err := scanBuild(rows)
		if err != nil {
			return nil, fmt.Errorf("list builds of %s: %w", p.Name, err)
		}
		out = append(out, *b)
	}
	return out, rows.Err()
}

// Stop stops a build: a running one ends STOPPED through its job's
// cancellation; one that has not started yet is marked STOPPED here.
func (s *Service) Stop(ctx context.Context, projectID, id string) (*Build, error) {
	b, err := s.Get(ctx, projectID, id)
	if err != nil || b.Finished() {
		return b, err
	}
	if err := s.cfg.Jobs.Cancel(ctx, b.jobID); err != nil && !errors.Is(err, jobs.ErrFinished) {
		return nil, fmt.Errorf("stop build %s: %w", id, err)
	}
	if j, err := s.cfg.Jobs.Get(ctx, b.jobID); err == nil && j.Attempt == 0 {
		if err := s.finish(ctx, id, build.Stopped, nil, nil); err != nil {
			return nil, err
		}
	}
	return s.Get(ctx, projectID, id)
}

// Log returns the build's log from byte offset on (at most max bytes) and
// the offset after it.
func (s *Service) Log(ctx context.Context, buildID string, offset int64, maxBytes int) ([]byte, int64, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT start, data FROM build_logs WHERE build_id = ? AND start + size > ? ORDER BY seq`, buildID, offset)
	if err != nil {
		return nil, offset, fmt.Errorf("build %s log: %w", buildID, err)
	}
	defer rows.Close()
	var out []byte
	next := offset
	for rows.Next() && len(out) < maxBytes {
		var start int64
		var data string
		if err := rows.Scan(&start, &data); err != nil {
			return nil, offset, fmt.Errorf("build %s log: %w", buildID, err)
		}
		if start < next {
			data = data[next-start:]
		}
		out = append(out, data...)
		next += int64(len(data))
	}
	return out, next, rows.Err()
}

// finish records a final status (if the build is still in progress).
func (s *Service) finish(ctx context.Context, id string, st build.Status, res *build.Result, extra func(tx *store.Tx) error) error {
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		q := `UPDATE builds SET status = ?, ended_at = ? WHERE id = ? AND status = 'IN_PROGRESS'`
		args := []any{string(st), store.Millis(time.Now()), id}
		if res != nil {
			phases, _ := json.Marshal(res.Phases)
			exp := res.Exported
			if exp == nil {
				exp = map[string]string{}
			}
			exported, _ := json.Marshal(exp)
			q = `UPDATE builds SET status = ?, ended_at = ?, phases = ?, exported = ? WHERE id = ? AND status = 'IN_PROGRESS'`
			args = []any{string(st), store.Millis(time.Now()), string(phases), string(exported), id}
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("finish build %s: %w", id, err)
		}
		if extra != nil {
			return extra(tx)
		}
		return nil
	})
}

// run is the job handler of one build.
func (s *Service) run(ctx context.Context, job *jobs.Job) error {
	var pl jobPayload
	if err := job.Decode(&pl); err != nil {
		return jobs.Permanent(err)
	}
	var projectID string
	if err := store.Scan(s.db.QueryRowContext(ctx, `SELECT project_id FROM builds WHERE id = ?`, pl.BuildID), &projectID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil // deleted with its project
		}
		return fmt.Errorf("build %s: %w", pl.BuildID, err)
	}
	b, err := s.Get(ctx, projectID, pl.BuildID)
	if err != nil {
		return fmt.Errorf("build %s: %w", pl.BuildID, err)
	}
	if b.Finished() {
		return nil
	}
	lw := newLogWriter(s.db, b.ID, s.cfg.Log)
	defer lw.Close()
	if job.Attempt > 1 {
		// An earlier attempt started this build and its server went away:
		// running it again silently could repeat side effects.
		fmt.Fprintf(lw, "[Container] %s Build ended: the server running the build stopped\n", time.Now().UTC().Format("2006/01/02 15:04:05"))
		lw.Close()
		return s.finish(context.WithoutCancel(ctx), b.ID, build.Fault, nil, nil)
	}
	st, res, commit, arts := s.execute(ctx, b, lw)
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, jobs.ErrLeaseLost):
		lw.Close()
		return cause // another process may hold the build now
	case errors.Is(cause, jobs.ErrShutdown):
		fmt.Fprintf(lw, "[Container] %s Build ended: the server running the build stopped\n", time.Now().UTC().Format("2006/01/02 15:04:05"))
		st = build.Fault
	}
	lw.Close()
	fctx := context.WithoutCancel(ctx)
	return s.finish(fctx, b.ID, st, res, func(tx *store.Tx) error {
		a, _ := json.Marshal(arts)
		_, err := tx.ExecContext(fctx, `UPDATE builds SET commit_id = ?, artifacts = ? WHERE id = ?`, commit, string(a), b.ID)
		return err
	})
}

// execute fetches the source, reads the buildspec and runs the build.
func (s *Service) execute(ctx context.Context, b *Build, lw *logWriter) (build.Status, *build.Result, string, []ArtifactRef) {
	arts := []ArtifactRef{}
	logf := func(format string, args ...any) {
		fmt.Fprintf(lw, "[Container] %s %s\n", time.Now().UTC().Format("2006/01/02 15:04:05"), fmt.Sprintf(format, args...))
	}
	fail := func(st build.Status, phase, msg string) (build.Status, *build.Result, string, []ArtifactRef) {
		if ctx.Err() != nil {
			st, msg = build.Stopped, "BUILD_STOPPED Message: Build was stopped"
		}
		logf("Phase complete: %s State: %s", phase, st)
		logf("Phase context status code: %s", msg)
		now := time.Now().UTC()
		res := &build.Result{Status: st, Phases: []build.PhaseReport{
			{Name: phase, Status: st, Start: b.StartedAt, End: now, Context: msg}}}
		return st, res, "", arts
	}
	p, err := s.GetProject(ctx, b.ProjectID, b.BuildProject)
	if err != nil {
		return fail(build.Fault, build.PhaseProvisioning, "FAULT Message: "+err.Error())
	}
	logf("Fetching source %s", b.Source)
	if err := os.MkdirAll(s.cfg.WorkDir, 0o700); err != nil {
		return fail(build.Fault, build.PhaseDownloadSource, "FAULT Message: "+err.Error())
	}
	src, err := os.MkdirTemp(s.cfg.WorkDir, "source-")
	if err != nil {
		return fail(build.Fault, build.PhaseDownloadSource, "FAULT Message: "+err.Error())
	}
	defer os.RemoveAll(src)
	commit, err := s.fetchSource(ctx, b, src)
	if err != nil {
		var cl *build.ClientError
		if errors.As(err, &cl) {
			return fail(build.Failed, build.PhaseDownloadSource, "CLIENT_ERROR Message: "+err.Error())
		}
		return fail(build.Fault, build.PhaseDownloadSource, "FAULT Message: "+err.Error())
	}
	if commit != b.Source {
		logf("Source %s resolved to commit %s", b.Source, commit)
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE builds SET commit_id = ? WHERE id = ?`, commit, b.ID); err != nil {
		s.cfg.Log.Warn("save build commit", "build", b.ID, "err", err)
	}
	specName, data := "buildspec.yml", []byte(nil)
	switch o := p.Buildspec; {
	case strings.Contains(o, "\n"):
		specName, data = "buildspec (project "+p.Name+")", []byte(o)
	default:
		if o != "" {
			specName = o
		}
		if !filepath.IsLocal(specName) {
			return fail(build.Failed, build.PhaseDownloadSource, "CLIENT_ERROR Message: buildspec path "+specName+" leaves the source")
		}
		data, err = readInside(src, specName)
		if err != nil {
			st, res, _, a := fail(build.Failed, build.PhaseDownloadSource, "YAML_FILE_ERROR Message: "+err.Error())
			return st, res, commit, a
		}
	}
	spec, err := buildspec.Parse(specName, data)
	if err != nil {
		fmt.Fprintf(lw, "%v\n", err)
		st, res, _, a := fail(build.Failed, build.PhaseDownloadSource, "YAML_FILE_ERROR Message: "+firstLine(err.Error()))
		return st, res, commit, a
	}
	var env []buildspec.Var
	var secrets []string
	// Variables given at the start win over the project's, as in CodeBuild.
	for _, v := range append(slices.Clone(p.Environment.Variables), b.env...) {
		val := v.Value
		kind := map[string]string{"PARAMETER_STORE": "parameter-store", "SECRETS_MANAGER": "secrets-manager"}[v.Type]
		if kind != "" {
			val, err = s.cfg.Secrets.Resolve(ctx, b.ProjectID, kind, v.Value)
			if err != nil {
				st, res, _, a := fail(build.Failed, build.PhaseProvisioning, fmt.Sprintf("CLIENT_ERROR Message: environment variable %s: %v", v.Name, err))
				return st, res, commit, a
			}
			secrets = append(secrets, val)
		}
		env = append(env, buildspec.Var{Name: v.Name, Value: val})
	}
	var exe build.Executor = s.exe
	base := baseEnv()
	if !LocalImage(p.Environment.Image) {
		if s.cfg.Docker == nil {
			st, res, _, a := fail(build.Failed, build.PhaseProvisioning, "CLIENT_ERROR Message: image "+p.Environment.Image+
				" needs a Docker engine, and this server has none: start it where DOCKER_HOST answers, or set the project's image to local")
			return st, res, commit, a
		}
		d := *s.cfg.Docker
		d.Image = p.Environment.Image
		exe = &d
		base = []string{"LANG=C.UTF-8"} // the image's own PATH applies
	}
	tmpDir := filepath.Join(s.cfg.WorkDir, "tmp")
	var cache *build.DirCache
	if p.Cache.Type == "LOCAL" {
		cache = &build.DirCache{Dir: filepath.Join(s.cfg.WorkDir, "cache", p.ID)}
	}
	var phases []build.PhaseReport
	res := build.Run(ctx, build.Options{
		Executor:      exe,
		Spec:          spec,
		SrcDir:        src,
		BuildID:       b.ID,
		BuildNumber:   b.Number,
		Submitted:     b.StartedAt,
		Initiator:     b.Initiator,
		SourceVersion: commit,
		BaseEnv:       base,
		Env:           env,
		Resolve: func(ctx context.Context, kind, ref string) (string, error) {
			return s.cfg.Secrets.Resolve(ctx, b.ProjectID, kind, ref)
		},
		Secrets: secrets,
		Timeout: time.Duration(p.TimeoutInMinutes) * time.Minute,
		Log:     lw,
		OnPhase: func(rep build.PhaseReport) {
			if n := len(phases); n > 0 && phases[n-1].Name == rep.Name && phases[n-1].Status == build.InProgress {
				phases[n-1] = rep
			} else {
				phases = append(phases, rep)
			}
			body, _ := json.Marshal(phases)
			if _, err := s.db.ExecContext(context.WithoutCancel(ctx), `UPDATE builds SET phases = ? WHERE id = ?`, string(body), b.ID); err != nil {
				s.cfg.Log.Warn("save build phases", "build", b.ID, "err", err)
			}
		},
		Cache: cache,
		Upload: func(ctx context.Context, ws *build.Workspace, id string, a *buildspec.Artifacts) error {
			ref, err := s.upload(ctx, ws, id, a, tmpDir)
			if err != nil {
				return err
			}
			arts = append(arts, *ref)
			return nil
		},
	})
	// Phases go to the database as the build goes; the final set comes with
	// the status.
	return res.Status, res, commit, arts
}

// fetchSource writes the build's source into dir and returns its resolved
// version: the commit of a repository source, the digest of an uploaded one.
func (s *Service) fetchSource(ctx context.Context, b *Build, dir string) (string, error) {
	if IsArtifactSource(b.Source) {
		rc, info, err := s.cfg.Artifacts.Open(ctx, b.Source)
		if err != nil {
			return "", &build.ClientError{Err: fmt.Errorf("source %s: %w", b.Source, err)}
		}
		defer rc.Close()
		// The archive is read twice (zip needs random access): copy it
		// out of the store, verifying its digest on the way.
		f, err := os.CreateTemp(s.cfg.WorkDir, "source-*.zip")
		if err != nil {
			return "", err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		if _, err := io.Copy(f, rc); err != nil {
			return "", fmt.Errorf("source %s: %w", b.Source, err)
		}
		if err := unpack.Zip(ctx, f, info.Size, dir); err != nil {
			return "", &build.ClientError{Err: fmt.Errorf("source %s: %w", b.Source, err)}
		}
		return b.Source, nil
	}
	repoName, ref, err := ParseSource(b.Source)
	if err != nil {
		return "", &build.ClientError{Err: err}
	}
	rp, err := s.cfg.Repos.Get(ctx, b.ProjectID, repoName)
	if err != nil {
		return "", &build.ClientError{Err: fmt.Errorf("repository %s not found", repoName)}
	}
	commit, err := s.cfg.Repos.Export(ctx, rp, ref, dir)
	if err != nil {
		return "", &build.ClientError{Err: err}
	}
	return commit, nil
}

// IsArtifactSource reports whether a build source names a zip archive in
// the artifact store ("sha256:<hex>") rather than a repository.
func IsArtifactSource(source string) bool {
	return strings.HasPrefix(source, "sha256:")
}

// upload packs the artifact into a temporary file outside the workspace and
// puts it into the artifact store.
func (s *Service) upload(ctx context.Context, ws *build.Workspace, id string, a *buildspec.Artifacts, tmpDir string) (*ArtifactRef, error) {
	if err := os.MkdirAll(tmpDir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(tmpDir, "artifact-*.zip")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := build.Pack(f, ws.SrcDir, a); err != nil {
		return nil, &build.ClientError{Err: err}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	info, err := s.cfg.Artifacts.Put(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("store artifact: %w", err)
	}
	name := a.Name
	switch {
	case name != "":
	case id != "":
		name = id + ".zip"
	default:
		name = "artifact.zip"
	}
	return &ArtifactRef{Identifier: id, Name: name, Digest: info.Digest, Size: info.Size}, nil
}

// readInside reads rel below root without following a symbolic link out of it.
func readInside(root, rel string) ([]byte, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := r.ReadFile(rel)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", rel, err)
	}
	return data, nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// baseEnv is the environment server builds start from: never the server's own.
func baseEnv() []string {
	// No HOME: the runner gives each build its own, inside its workspace.
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	if p := os.Getenv("PATH"); p != "" {
		env[0] = "PATH=" + p
	}
	return env
}
