// Package build runs buildspec.yml builds: the phases and their transition
// table, the shell semantics of versions 0.1 and 0.2, environment variables,
// timeouts and stops, and the output artifact. Where commands run is an
// Executor's business; build projects and their history live in the service.
package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/buildspec"
)

// Status is the status of a build or of one of its phases.
type Status string

// The statuses CodeBuild users know.
const (
	InProgress Status = "IN_PROGRESS"
	Succeeded  Status = "SUCCEEDED"
	Failed     Status = "FAILED"
	Fault      Status = "FAULT"
	TimedOut   Status = "TIMED_OUT"
	Stopped    Status = "STOPPED"
)

// The build phases, in order.
const (
	PhaseSubmitted       = "SUBMITTED"
	PhaseQueued          = "QUEUED"
	PhaseProvisioning    = "PROVISIONING"
	PhaseDownloadSource  = "DOWNLOAD_SOURCE"
	PhaseInstall         = "INSTALL"
	PhasePreBuild        = "PRE_BUILD"
	PhaseBuild           = "BUILD"
	PhasePostBuild       = "POST_BUILD"
	PhaseUploadArtifacts = "UPLOAD_ARTIFACTS"
	PhaseFinalizing      = "FINALIZING"
	PhaseCompleted       = "COMPLETED"
)

// Causes of a cancelled build context that decide its final status.
var (
	// ErrStopped ends a build STOPPED: cancel its context with this cause.
	ErrStopped = errors.New("build stopped")
	// ErrTimedOut ends a build TIMED_OUT; the runner applies Options.Timeout itself.
	ErrTimedOut = errors.New("build timed out")
)

// PhaseReport is one phase of a build as it started or ended.
type PhaseReport struct {
	Name    string    `json:"name"`
	Status  Status    `json:"status"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end,omitzero"`
	Context string    `json:"context,omitempty"` // why it failed
}

// Duration is how long the phase took (zero while it runs).
func (p PhaseReport) Duration() time.Duration {
	if p.End.IsZero() {
		return 0
	}
	return p.End.Sub(p.Start)
}

// Result is how a build ended.
type Result struct {
	Status   Status
	Phases   []PhaseReport
	Exported map[string]string
}

// Options are the inputs of one build.
type Options struct {
	Executor Executor
	Spec     *buildspec.Spec
	// SrcDir is the source tree; the build runs on a copy.
	SrcDir string
	// BuildID, BuildNumber, Initiator, SourceVersion fill the CODEBUILD_*
	// variables.
	BuildID     string
	BuildNumber int64
	// Submitted is when the build was requested (zero: now).
	Submitted     time.Time
	Initiator     string
	SourceVersion string
	// BaseEnv is the environment commands start from (PATH, HOME...): the
	// server gives a clean one; never the server's own.
	BaseEnv []string
	// Env overrides buildspec variables of the same name (project
	// environment, then start overrides, in increasing precedence).
	Env []buildspec.Var
	// Resolve returns the value of a parameter-store or secrets-manager
	// reference; such values are masked in the log. Nil refuses them.
	Resolve func(ctx context.Context, kind, ref string) (string, error)
	// Secrets are more values to mask in the log.
	Secrets []string
	// Timeout ends the build TIMED_OUT; zero means none.
	Timeout time.Duration
	// Log receives the build log; OnPhase hears of each phase as it
	// starts and ends.
	Log     io.Writer
	OnPhase func(PhaseReport)
	// Upload runs in UPLOAD_ARTIFACTS when the buildspec declares artifacts:
	// once for the primary artifact (id "") and once per secondary artifact,
	// in the order of their identifiers.
	Upload func(ctx context.Context, ws *Workspace, id string, a *buildspec.Artifacts) error
	// Cache, when set, keeps the buildspec's cache.paths between builds: it
	// is restored in DOWNLOAD_SOURCE and saved in UPLOAD_ARTIFACTS. Both are
	// best effort, as in CodeBuild: a failure is logged, never fails the build.
	Cache *DirCache
	Now   func() time.Time
}

// runner is one build in progress.
type runner struct {
	o          Options
	ws         *Workspace
	log        *maskWriter
	env        []string // the environment of every command
	home       string   // the build's HOME
	succeeding bool
	result     Result
}

// Run runs one build to its end and returns how it ended. It never returns
// early: a stop or timeout still runs FINALIZING and cleans the workspace.
func Run(ctx context.Context, o Options) *Result {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.Timeout, ErrTimedOut)
		defer cancel()
	}
	r := &runner{o: o, succeeding: true, log: newMaskWriter(o.Log, o.Secrets)}
	defer r.log.Flush()
	r.result.Status = Succeeded
	start := o.Now()
	submitted := o.Submitted
	if submitted.IsZero() || submitted.After(start) {
		submitted = start
	}
	// SUBMITTED is the moment of the request; QUEUED lasts until a worker
	// picked the build up.
	r.result.Phases = append(r.result.Phases,
		PhaseReport{Name: PhaseSubmitted, Status: Succeeded, Start: submitted, End: submitted},
		PhaseReport{Name: PhaseQueued, Status: Succeeded, Start: submitted, End: start})

	ok := r.phase(ctx, PhaseProvisioning, func(ctx context.Context) error {
		r.logf("Isolation: %s", o.Executor.Isolation())
		return r.setEnv(ctx, start)
	})
	if ok {
		ok = r.phase(ctx, PhaseDownloadSource, func(ctx context.Context) error {
			ws, err := o.Executor.Prepare(ctx, o.SrcDir)
			if err != nil {
				return err
			}
			r.ws = ws
			r.env = append(r.env, "CODEBUILD_SRC_DIR="+ws.SrcDir)
			if err := r.setHome(); err != nil {
				return err
			}
			r.restoreCache(ctx)
			return nil
		})
	}
	if r.ws != nil {
		defer func() {
			if err := o.Executor.Cleanup(context.WithoutCancel(ctx), r.ws); err != nil {
				r.logf("Could not remove the build's workspace: %v", err)
			}
		}()
	}
	upload := false
	if ok {
		upload = r.commandPhases(ctx)
	}
	caching := o.Cache != nil && o.Spec.Cache != nil && len(o.Spec.Cache.Paths) > 0
	if upload && (o.Spec.Artifacts != nil && o.Upload != nil || caching) {
		r.phase(ctx, PhaseUploadArtifacts, func(ctx context.Context) error {
			r.saveCache(ctx)
			return r.upload(ctx)
		})
	}
	r.phase(context.WithoutCancel(ctx), PhaseFinalizing, func(context.Context) error { return nil })
	r.instant(PhaseCompleted, o.Now())
	return &r.result
}

// upload hands the primary artifact, then each secondary one, to Options.Upload.
func (r *runner) upload(ctx context.Context) error {
	a := r.o.Spec.Artifacts
	if a == nil || r.o.Upload == nil {
		return nil
	}
	if err := r.o.Upload(ctx, r.ws, "", a); err != nil {
		return err
	}
	ids := make([]string, 0, len(a.Secondary))
	for id := range a.Secondary {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if err := r.o.Upload(ctx, r.ws, id, a.Secondary[id]); err != nil {
			return fmt.Errorf("secondary artifact %s: %w", id, err)
		}
	}
	return nil
}

// setHome gives the build a home directory of its own inside the workspace
// unless the base environment brings one (slipway build run keeps the
// developer's, so their caches stay warm without a cache block).
func (r *runner) setHome() error {
	for _, kv := range r.env {
		if h, ok := strings.CutPrefix(kv, "HOME="); ok {
			r.home = h
			return nil
		}
	}
	r.home = filepath.Join(r.ws.Root, "home")
	if err := os.MkdirAll(r.home, 0o700); err != nil {
		return fmt.Errorf("build home: %w", err)
	}
	r.env = append(r.env, "HOME="+r.home)
	return nil
}

func (r *runner) cacheRoots() cacheRoots { return cacheRoots{src: r.ws.SrcDir, home: r.home} }

func (r *runner) restoreCache(ctx context.Context) {
	if r.o.Cache == nil || r.o.Spec.Cache == nil || len(r.o.Spec.Cache.Paths) == 0 {
		return
	}
	n, err := r.o.Cache.Restore(ctx, r.cacheRoots())
	switch {
	case err != nil:
		r.logf("Cache not restored: %v", err)
	case n == 0:
		r.logf("No cache saved yet for this project: starting cold")
	default:
		r.logf("Restored the cache of the previous build")
	}
}

func (r *runner) saveCache(ctx context.Context) {
	if r.o.Cache == nil || r.o.Spec.Cache == nil || len(r.o.Spec.Cache.Paths) == 0 {
		return
	}
	skipped, files, err := r.o.Cache.Save(ctx, r.cacheRoots(), r.o.Spec.Cache.Paths)
	for _, p := range skipped {
		r.logf("Cache path %s is outside the source and home directories: not cached", p)
	}
	if err != nil {
		r.logf("Cache not saved: %v", err)
		return
	}
	r.logf("Saved %d files to the cache", files)
}

// commandPhases runs install to post_build by the transition table and
// reports whether UPLOAD_ARTIFACTS is to be attempted.
func (r *runner) commandPhases(ctx context.Context) bool {
	s := r.o.Spec
	steps := []struct {
		name  string
		phase *buildspec.Phase
	}{{PhaseInstall, s.Install}, {PhasePreBuild, s.PreBuild}, {PhaseBuild, s.Build}, {PhasePostBuild, s.PostBuild}}
	for i, st := range steps {
		if st.phase == nil {
			continue
		}
		if st.name == PhaseInstall && len(st.phase.RuntimeVersions) > 0 {
			r.logf("Skipping install of runtimes. Runtime version selection is not supported by this build image")
		}
		ok := r.phase(ctx, st.name, func(ctx context.Context) error { return r.commands(ctx, st.phase) })
		if ctx.Err() != nil {
			return false
		}
		if ok {
			continue
		}
		switch st.phase.OnFailure {
		case buildspec.OnFailureContinue:
			continue
		case buildspec.OnFailureAbort:
			return false
		}
		switch st.name {
		case PhaseInstall, PhasePreBuild:
			return false // straight to FINALIZING
		case PhaseBuild:
			// post_build still runs, then UPLOAD_ARTIFACTS is attempted.
			if i+1 < len(steps) && steps[i+1].phase != nil {
				post := steps[i+1].phase
				r.phase(ctx, PhasePostBuild, func(ctx context.Context) error { return r.commands(ctx, post) })
			}
			r.captureExported(ctx)
			return ctx.Err() == nil
		}
	}
	r.captureExported(ctx)
	return ctx.Err() == nil
}

// phase runs one phase, records it and reports whether it succeeded.
func (r *runner) phase(ctx context.Context, name string, f func(context.Context) error) bool {
	rep := PhaseReport{Name: name, Status: InProgress, Start: r.o.Now()}
	r.logf("Entering phase %s", name)
	r.notify(rep)
	err := f(ctx)
	rep.End = r.o.Now()
	rep.Status = Succeeded
	if err != nil {
		rep.Status, rep.Context = r.failure(ctx, err)
		r.logf("Phase context status code: %s", rep.Context)
		if r.succeeding {
			r.succeeding = false
		}
		if r.result.Status == Succeeded || rep.Status != Failed {
			r.result.Status = rep.Status
		}
	}
	r.logf("Phase complete: %s State: %s", name, rep.Status)
	r.result.Phases = append(r.result.Phases, rep)
	r.notify(rep)
	return err == nil
}

// failure classifies why a phase failed.
func (r *runner) failure(ctx context.Context, err error) (Status, string) {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, ErrTimedOut):
		return TimedOut, "BUILD_TIMED_OUT Message: Build has timed out"
	case errors.Is(cause, ErrStopped):
		return Stopped, "BUILD_STOPPED Message: Build was stopped"
	case ctx.Err() != nil:
		return Stopped, "BUILD_STOPPED Message: " + cause.Error()
	}
	var ce *commandError
	if errors.As(err, &ce) {
		return Failed, fmt.Sprintf("COMMAND_EXECUTION_ERROR Message: Error while executing command: %s. Reason: exit status %d", ce.command, ce.code)
	}
	if errors.Is(err, ErrNoMatchingArtifactPaths) {
		// The exact wording AWS users search for; the details follow on their own line.
		r.logf("%v", err)
		return Failed, "CLIENT_ERROR Message: " + ErrNoMatchingArtifactPaths.Error()
	}
	var cl *ClientError
	if errors.As(err, &cl) {
		return Failed, "CLIENT_ERROR Message: " + cl.Error()
	}
	return Fault, "FAULT Message: " + err.Error()
}

// ClientError is a failure caused by the build's own inputs (for example no
// file matching the artifact paths), as opposed to a fault of the platform.
type ClientError struct{ Err error }

func (e *ClientError) Error() string { return e.Err.Error() }
func (e *ClientError) Unwrap() error { return e.Err }

type commandError struct {
	command string
	code    int
}

func (e *commandError) Error() string {
	return fmt.Sprintf("command %q exited with status %d", e.command, e.code)
}

func (r *runner) instant(name string, at time.Time) {
	rep := PhaseReport{Name: name, Status: Succeeded, Start: at, End: at}
	r.result.Phases = append(r.result.Phases, rep)
}

func (r *runner) notify(rep PhaseReport) {
	if r.o.OnPhase != nil {
		r.o.OnPhase(rep)
	}
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.log, "[Container] %s %s\n", r.o.Now().Format("2006/01/02 15:04:05"), fmt.Sprintf(format, args...))
}

// commands runs a phase's commands, stopping at the first failure, then its
// finally block; the phase fails if any of them failed.
func (r *runner) commands(ctx context.Context, p *buildspec.Phase) error {
	err := r.runList(ctx, p.Commands)
	if len(p.Finally) > 0 && ctx.Err() == nil {
		err = errors.Join(err, r.runList(ctx, p.Finally))
	}
	return err
}

func (r *runner) runList(ctx context.Context, cmds []buildspec.Command) error {
	for _, c := range cmds {
		r.logf("Running command %s", c.Text)
		code, err := r.o.Executor.Run(ctx, r.ws, r.command(c.Text), r.log)
		if err != nil {
			return err
		}
		if code != 0 {
			r.logf("Command did not exit successfully %s exit status %d", c.Text, code)
			return &commandError{command: c.Text, code: code}
		}
	}
	return nil
}

// command wraps one buildspec command for the shell. In 0.2 the working
// directory and exported variables carry over: each command starts from the
// state the previous one left in the workspace's state directory, and saves
// its own on exit, even when it calls exit itself.
func (r *runner) command(text string) Command {
	c := Command{Shell: r.shell(), Env: r.env, Dir: r.ws.SrcDir}
	succeeding := "1"
	if !r.succeeding {
		succeeding = "0"
	}
	if r.o.Spec.Version == "0.1" {
		c.Script = "export CODEBUILD_BUILD_SUCCEEDING=" + succeeding + "\n" + text
		return c
	}
	st := shellQuote(r.ws.StateDir)
	c.Script = "if [ -f " + st + "/env ]; then . " + st + "/env; fi\n" +
		"if [ -f " + st + "/cwd ]; then cd \"$(cat " + st + "/cwd)\" || exit 1; fi\n" +
		"export CODEBUILD_BUILD_SUCCEEDING=" + succeeding + "\n" +
		"trap '__slipway_rc=$?; export -p > " + st + "/env.new && mv " + st + "/env.new " + st + "/env; pwd > " + st + "/cwd; exit $__slipway_rc' EXIT\n" +
		text + "\n"
	return c
}

func (r *runner) shell() string {
	switch r.o.Spec.Env.Shell {
	case "bash":
		return "bash"
	case "/bin/sh", "":
		return "sh"
	}
	return r.o.Spec.Env.Shell
}

// setEnv builds the environment of every command: the base, the buildspec's
// variables, resolved parameters and secrets, the overrides, then CODEBUILD_*.
func (r *runner) setEnv(ctx context.Context, start time.Time) error {
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	for _, kv := range r.o.BaseEnv {
		if k, v, ok := strings.Cut(kv, "="); ok {
			set(k, v)
		}
	}
	for _, v := range r.o.Spec.Env.Variables {
		set(v.Name, v.Value)
	}
	for _, group := range []struct {
		kind string
		vars []buildspec.Var
	}{{"parameter-store", r.o.Spec.Env.ParameterStore}, {"secrets-manager", r.o.Spec.Env.SecretsManager}} {
		for _, v := range group.vars {
			if r.o.Resolve == nil {
				return &ClientError{fmt.Errorf("env.%s %s: no parameter or secret store is available to this build", group.kind, v.Name)}
			}
			val, err := r.o.Resolve(ctx, group.kind, v.Value)
			if err != nil {
				return &ClientError{fmt.Errorf("env.%s %s: %w", group.kind, v.Name, err)}
			}
			set(v.Name, val)
			r.log.secrets = append(r.log.secrets, []byte(val))
		}
	}
	sort.Slice(r.log.secrets, func(i, j int) bool { return len(r.log.secrets[i]) > len(r.log.secrets[j]) })
	for _, v := range r.o.Env {
		set(v.Name, v.Value)
	}
	set("CODEBUILD_BUILD_ID", r.o.BuildID)
	set("CODEBUILD_BUILD_NUMBER", strconv.FormatInt(r.o.BuildNumber, 10))
	set("CODEBUILD_INITIATOR", r.o.Initiator)
	set("CODEBUILD_START_TIME", strconv.FormatInt(start.UnixMilli(), 10))
	set("CODEBUILD_BUILD_IMAGE", "local")
	if r.o.SourceVersion != "" {
		set("CODEBUILD_RESOLVED_SOURCE_VERSION", r.o.SourceVersion)
		set("CODEBUILD_SOURCE_VERSION", r.o.SourceVersion)
	}
	r.env = r.env[:0]
	for _, k := range order {
		r.env = append(r.env, k+"="+vars[k])
	}
	return nil
}

// captureExported reads the exported variables as the last command left
// them (0.2 only, after post_build).
func (r *runner) captureExported(ctx context.Context) {
	names := r.o.Spec.Env.ExportedVariables
	if len(names) == 0 || r.o.Spec.Version == "0.1" || ctx.Err() != nil {
		return
	}
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "printf '%%s=%%s\\0' %s \"${%s}\"\n", shellQuote(n), n)
	}
	c := r.command(b.String())
	c.Script = strings.Replace(c.Script, "trap ", ": ", 1) // reading must not rewrite the state
	var out strings.Builder
	if code, err := r.o.Executor.Run(ctx, r.ws, c, &out); err != nil || code != 0 {
		r.logf("Could not read the exported variables: exit status %d %v", code, err)
		return
	}
	r.result.Exported = map[string]string{}
	for _, kv := range strings.Split(strings.TrimSuffix(out.String(), "\x00"), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			r.result.Exported[k] = v
		}
	}
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// LocalEnv is the environment `slipway build run` passes from the
// developer's shell: what tools need to be found and caches to stay warm,
// and nothing else (no cloud credentials or tokens).
func LocalEnv() []string {
	keep := []string{"PATH", "HOME", "USER", "LANG", "LC_ALL", "TERM", "TMPDIR", "SHELL",
		"GOPATH", "GOCACHE", "GOMODCACHE", "GOFLAGS", "GOPROXY", "GOTOOLCHAIN", "GOPRIVATE"}
	var env []string
	for _, k := range keep {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}
