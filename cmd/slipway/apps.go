package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/client"
)

// appCommand is `slipway app`: applications made from blueprints.
func appCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "app", Short: "Applications made from blueprints: a repository, a pipeline and its environments in one step"}
	cmd.AddCommand(appCreateCommand(g), appGetCommand(g), appListCommand(g), appDeleteCommand(g))
	return cmd
}

// blueprintCommand is `slipway blueprint`: what applications are made from.
func blueprintCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "blueprint", Short: "Blueprints: application environments as files, which applications are made from"}
	cmd.AddCommand(blueprintListCommand(g), blueprintShowCommand(g), blueprintAddCommand(g))
	return cmd
}

// appPollInterval is how often a followed application is read.
const appPollInterval = 500 * time.Millisecond

// parseParams reads --param K=V flags. A value may hold '=' and ','.
func parseParams(words []string) (map[string]string, error) {
	out := map[string]string{}
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("--param %q: write NAME=VALUE, such as Branch=main (slipway blueprint show BLUEPRINT lists its parameters)", w)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("--param %s is given twice", k)
		}
		out[k] = v
	}
	return out, nil
}

// projectFlag is what a printed command needs to name the project: nothing
// for the default one.
func projectFlag(project string) string {
	if project == "" || project == "default" {
		return ""
	}
	return " -p " + project
}

func appCreateCommand(g *globals) *cobra.Command {
	var in client.CreateAppInput
	var params []string
	var noWait bool
	cmd := &cobra.Command{
		Use:   "create NAME --blueprint BLUEPRINT [--param K=V ...]",
		Short: "Make an application from a blueprint and follow it until its first environment is live",
		Long: "Make an application from a blueprint: its pipeline stack (repository, build project, deployment\n" +
			"application, pipeline), the repository's first commit from the blueprint's starter content, and the\n" +
			"pipeline execution that ships it. The command follows it as it happens: the application's status,\n" +
			"where to clone it, the execution's stages, and once the first environment is live, its URL and the\n" +
			"approval the execution waits at. It exits non-zero if the application or the execution fails first.\n" +
			"Ctrl-C stops following, not the application. --no-wait (or --output json) returns at once.",
		Example: "  slipway app create hello --blueprint go-service\n" +
			"  slipway app create pr-42 --blueprint go-service --param Branch=pr-42 --ttl 24h --approver team:leads",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := parseParams(params)
			if err != nil {
				return err
			}
			if len(p) > 0 {
				in.Parameters = p
			}
			in.Name = args[0]
			ctx, c := cmd.Context(), g.client()
			a, err := c.CreateApp(ctx, g.proj(), in)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.output == "json" {
				return g.print(out, a, nil)
			}
			if noWait {
				fmt.Fprintf(out, "Creating application %s from blueprint %s (%s)\nWatch:  slipway app get %s%s\n",
					a.Name, a.Blueprint, a.Status, a.Name, projectFlag(g.proj()))
				return nil
			}
			f := &appFollower{r: c, project: g.proj(), name: a.Name, out: out, interval: appPollInterval, color: isTerminal(out)}
			return f.follow(ctx)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&in.Blueprint, "blueprint", "", "the blueprint to make it from (slipway blueprint list)")
	fl.StringArrayVar(&params, "param", nil, "a blueprint parameter as NAME=VALUE; repeat for several")
	fl.StringVar(&in.Owner, "owner", "", "a team that gets admin on the application, and write on its repository and pipeline")
	fl.StringArrayVar(&in.Approvers, "approver", nil, "a user, or team:NAME, who may approve its pipeline's approvals; repeat for several")
	fl.StringVar(&in.TTL, "ttl", "", "make a preview application, deleted by itself after this long (such as 24h)")
	fl.BoolVar(&noWait, "no-wait", false, "return once the application is recorded, without following it")
	_ = cmd.MarkFlagRequired("blueprint")
	return cmd
}

// appReader is what following an application reads; *client.Client is
// one.
type appReader interface {
	App(ctx context.Context, project, name string) (*client.App, error)
	GetPipelineExecution(ctx context.Context, project, id string) (*client.PipelineExecution, error)
}

// appFollower prints an application's progress, one line per change,
// until its first environment is live (and an approval waits, if one
// does), or it fails; with watch, for as long as its context lives.
type appFollower struct {
	r        appReader
	project  string
	name     string
	out      io.Writer
	interval time.Duration
	// watch follows every execution, every environment's new revision and
	// every approval that waits, until the context ends (slipway up's view).
	watch bool
	// color paints the stages' marks (for a terminal).
	color bool

	status string            // the application status printed last
	exec   string            // the execution, stage and status printed last
	live   bool              // the first environment was printed live
	seen   map[string]string // environment -> the revision printed live
	asked  string            // the execution and stage whose approval was printed
}

// follow reads the application every interval until step says it is done.
func (f *appFollower) follow(ctx context.Context) error {
	for {
		a, err := f.r.App(ctx, f.project, f.name)
		done := false
		if err == nil {
			done, err = f.step(ctx, a)
		}
		if err != nil && ctx.Err() != nil {
			return f.stopped()
		}
		if done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return f.stopped()
		case <-time.After(f.interval):
		}
	}
}

// stopped is what ends following when it is interrupted: the
// application goes on regardless.
func (f *appFollower) stopped() error {
	return &exitError{code: 130, msg: fmt.Sprintf("Stopped following application %s; it goes on (slipway app get %s%s)",
		f.name, f.name, projectFlag(f.project))}
}

func (f *appFollower) printf(format string, args ...any) { fmt.Fprintf(f.out, format+"\n", args...) }

// step prints what changed in a since the last step, and says whether
// there is nothing more to follow. A failure before the first environment
// is live is an error.
func (f *appFollower) step(ctx context.Context, a *client.App) (bool, error) {
	pf := projectFlag(f.project)
	if a.Status != f.status {
		f.status = a.Status
		switch a.Status {
		case client.AppCreateInProgress:
			f.printf("Application %s: %s, creating its pipeline stack %s (repository, build project, deployment application, pipeline)...",
				a.Name, a.Status, a.PipelineStack)
		case client.AppCreateComplete:
			f.printf("Application %s: %s, its repository holds the %s blueprint's starter content", a.Name, a.Status, a.Blueprint)
			if a.CloneURL != "" {
				f.printf("Clone:  git clone %s", a.CloneURL)
			}
			if a.Pipeline != "" {
				f.printf("Watch:  slipway pipeline executions %s%s  (or slipway app get %s%s)", a.Pipeline, pf, a.Name, pf)
			}
		case client.AppCreateFailed:
			return true, &exitError{code: 1, msg: fmt.Sprintf("application %s %s: %s\n(delete it with slipway app delete %s%s, then try again)",
				a.Name, a.Status, a.StatusReason, a.Name, pf)}
		default:
			return true, &exitError{code: 1, msg: fmt.Sprintf("application %s is %s: %s", a.Name, a.Status, a.StatusReason)}
		}
	}
	if a.Status != client.AppCreateComplete {
		return false, nil
	}
	e := a.LatestExecution
	if e != nil && e.Trigger == "CreatePipeline" {
		// Making the pipeline started an execution on the empty
		// repository, which ends at its source; the starter commit's push
		// starts the one that ships the application.
		e = nil
	}
	if e != nil {
		if key := e.ID + " " + e.Stage + " " + e.Status; key != f.exec {
			f.exec = key
			f.printf("%s", f.picture(a.Stages, e))
		}
	}
	var env *client.AppEnvironment
	if len(a.Environments) > 0 {
		env = &a.Environments[0]
	}
	if f.seen == nil {
		f.seen = map[string]string{}
	}
	for i, en := range a.Environments {
		if en.Revision == "" || f.seen[en.Name] == en.Revision {
			continue
		}
		f.seen[en.Name] = en.Revision
		f.live = f.live || i == 0
		if en.URL != "" {
			f.printf("%s is live: %s (commit %s)", en.Name, en.URL, short(en.Revision))
		} else {
			f.printf("%s is deployed (commit %s, stack %s)", en.Name, short(en.Revision), en.Stack)
		}
	}
	if e == nil {
		return false, nil
	}
	past := f.live || env == nil // nothing more to wait for but the execution
	switch e.Status {
	case "InProgress", "Stopping":
		if !past || f.asked == e.ID+" "+e.Stage {
			return false, nil
		}
		x, err := f.r.GetPipelineExecution(ctx, f.project, e.ID)
		if err != nil {
			return false, err
		}
		for _, act := range x.Actions {
			if act.Status == "InProgress" && act.Category == "Approval" {
				f.asked = e.ID + " " + e.Stage
				f.printf("Waiting for approval: slipway approve %s %s %s%s", a.Pipeline, act.Stage, act.Action, pf)
				return !f.watch, nil
			}
		}
		return false, nil
	case "Succeeded":
		return !f.watch, nil
	}
	if past && !f.watch {
		return true, nil
	}
	why := e.Status
	if x, err := f.r.GetPipelineExecution(ctx, f.project, e.ID); err == nil {
		why = failureOf(x)
	}
	if f.watch {
		if f.asked != e.ID+" "+e.Status {
			f.asked = e.ID + " " + e.Status
			f.printf("Pipeline execution %s ended %s: %s", e.ID, e.Status, why)
		}
		return false, nil
	}
	return true, &exitError{code: 1, msg: fmt.Sprintf("pipeline execution %s of application %s ended %s before %s was live: %s\n(slipway pipeline executions %s%s shows it; slipway pipeline retry can run its stage again)",
		e.ID, a.Name, e.Status, envName(env), why, a.Pipeline, pf)}
}

// picture draws an execution as its pipeline's stages, each marked: ✓
// passed, … under way, ✗ failed, ■ stopped, · not reached yet.
func (f *appFollower) picture(stages []string, e *client.AppExecution) string {
	head := "Pipeline execution " + e.ID
	if e.Commit != "" {
		head += " (commit " + short(e.Commit) + ")"
	}
	at := slices.Index(stages, e.Stage)
	if at < 0 {
		return fmt.Sprintf("%s: %s %s", head, e.Stage, e.Status)
	}
	parts := make([]string, len(stages))
	for i, st := range stages {
		var mark, color string
		switch {
		case e.Status == "Succeeded" || i < at:
			mark, color = "✓", "32"
		case i > at:
			mark = "·"
		case e.Status == "InProgress":
			mark, color = "…", "33"
		case e.Status == "Failed":
			mark, color = "✗", "31"
		default:
			mark = "■"
		}
		parts[i] = st + " " + mark
		if f.color && color != "" {
			parts[i] = "\x1b[" + color + "m" + parts[i] + "\x1b[0m"
		}
	}
	return head + ": " + strings.Join(parts, "  ")
}

func envName(env *client.AppEnvironment) string {
	if env == nil {
		return "it"
	}
	return env.Name
}

// failureOf says why an execution ended: its failed action's error, or
// its own reason.
func failureOf(x *client.PipelineExecution) string {
	for _, act := range x.Actions {
		if act.Status == "Failed" {
			return fmt.Sprintf("%s/%s failed: %s", act.Stage, act.Action, oneLine(first(act.Error, act.Summary, "no error recorded")))
		}
	}
	return first(x.Reason, x.Status)
}

func appGetCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "get NAME", Short: "Show an application: its status, repository, pipeline and environments", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := g.client().App(cmd.Context(), g.proj(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), a, func(tw *tabwriter.Writer) { printApp(tw, a) })
		},
	}
}

func printApp(tw *tabwriter.Writer, a *client.App) {
	status := a.Status
	if a.StatusReason != "" {
		status += " (" + oneLine(a.StatusReason) + ")"
	}
	expires := "never"
	if !a.ExpiresAt.IsZero() {
		expires = ago(a.ExpiresAt) + " (a preview)"
	}
	var params []string
	for _, k := range slices.Sorted(maps.Keys(a.Parameters)) {
		params = append(params, k+"="+a.Parameters[k])
	}
	fmt.Fprintf(tw, "Name:\t%s\nBlueprint:\t%s\nStatus:\t%s\nParameters:\t%s\n", a.Name, a.Blueprint, status, strings.Join(params, " "))
	fmt.Fprintf(tw, "Owner:\t%s\nApprovers:\t%s\nCreator:\t%s\nCreated:\t%s\nExpires:\t%s\n",
		first(a.Owner, "-"), first(strings.Join(a.Approvers, ", "), "-"), a.Creator, ago(a.CreatedAt), expires)
	fmt.Fprintf(tw, "Pipeline stack:\t%s\nClone URL:\t%s\nPipeline:\t%s\n", a.PipelineStack, first(a.CloneURL, "-"), first(a.Pipeline, "-"))
	latest := "-"
	if e := a.LatestExecution; e != nil {
		latest = fmt.Sprintf("%s  %s %s (%s)", e.ID, e.Stage, e.Status, e.Trigger)
	}
	fmt.Fprintf(tw, "Latest execution:\t%s\n", latest)
	if len(a.Environments) == 0 {
		return
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "ENVIRONMENT\tSTACK\tSTATUS\tURL\tREVISION\tSTAGE")
	for _, e := range a.Environments {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, e.Stack, e.Status, first(e.URL, "-"), first(short(e.Revision), "-"), e.Stage)
	}
}

func appListCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List applications", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			as, err := g.client().Apps(cmd.Context(), g.proj())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), as, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tBLUEPRINT\tSTATUS\tOWNER\tCREATOR\tEXPIRES\tCREATED")
				for _, a := range as {
					expires := "-"
					if !a.ExpiresAt.IsZero() {
						expires = ago(a.ExpiresAt)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Name, a.Blueprint, a.Status, first(a.Owner, "-"), a.Creator, expires, ago(a.CreatedAt))
				}
			})
		},
	}
}

// deletePrompt asks before deleting a, naming what goes with it.
func deletePrompt(a *client.App) string {
	var stacks []string
	for _, e := range a.Environments {
		stacks = append(stacks, e.Stack)
	}
	envs := "its environments (none made yet)"
	if len(stacks) > 0 {
		envs = "its environments (stacks " + strings.Join(stacks, ", ") + ")"
	}
	made := "and its pipeline stack " + a.PipelineStack
	switch {
	case a.Repository != "" && a.Pipeline != "":
		made += ", repository " + a.Repository + " and pipeline " + a.Pipeline
	default:
		made += ", repository and pipeline"
	}
	return fmt.Sprintf("Delete application %s: %s %s? [y/N] ", a.Name, envs, made)
}

// confirmed reads a line from in: y or yes (any case) confirms.
func confirmed(in io.Reader) (bool, error) {
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

func appDeleteCommand(g *globals) *cobra.Command {
	var yes, wait bool
	cmd := &cobra.Command{
		Use:   "delete NAME [--yes] [--wait]",
		Short: "Delete an application: its environments' stacks, then its pipeline stack, repository and pipeline",
		Long: "Delete an application as it was made, in reverse: first the stacks of its environments, then its\n" +
			"pipeline stack with its repository (and every commit in it), build project, deployment application\n" +
			"and pipeline. Without --yes it asks first, reading the answer from standard input. --wait follows\n" +
			"the deletion to its end.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, name := cmd.Context(), g.client(), args[0]
			pf := projectFlag(g.proj())
			if !yes {
				a, err := c.App(ctx, g.proj(), name)
				if err != nil {
					return err
				}
				fmt.Fprint(cmd.ErrOrStderr(), deletePrompt(a))
				ok, err := confirmed(cmd.InOrStdin())
				if err != nil {
					return err
				}
				if !ok {
					return &exitError{code: 1, msg: "Not confirmed: nothing was deleted"}
				}
			}
			a, err := c.DeleteApp(ctx, g.proj(), name)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !wait {
				return g.print(out, a, func(tw *tabwriter.Writer) {
					fmt.Fprintf(tw, "Deleting application %s (%s): its environments first, then its pipeline stack\nWatch:  slipway app get %s%s\n",
						a.Name, a.Status, a.Name, pf)
				})
			}
			if g.output != "json" {
				fmt.Fprintf(out, "Deleting application %s (%s): its environments first, then its pipeline stack...\n", a.Name, a.Status)
			}
			return waitAppDeleted(ctx, c, g.proj(), name, out, appPollInterval)
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the deletion until the application is gone; exit non-zero if it fails")
	return cmd
}

// waitAppDeleted reads the application every interval until it is gone
// (not found), or its deletion failed.
func waitAppDeleted(ctx context.Context, r appReader, project, name string, out io.Writer, interval time.Duration) error {
	for {
		a, err := r.App(ctx, project, name)
		var ce *client.Error
		switch {
		case errors.As(err, &ce) && ce.Status == 404:
			fmt.Fprintf(out, "Application %s deleted\n", name)
			return nil
		case ctx.Err() != nil:
			return &exitError{code: 130, msg: fmt.Sprintf("Stopped following; application %s is still being deleted (slipway app get %s%s)",
				name, name, projectFlag(project))}
		case err != nil:
			return err
		case a.Status == client.AppDeleteFailed:
			return &exitError{code: 1, msg: fmt.Sprintf("application %s %s: %s\n(fix what is in the way, then delete it again)", name, a.Status, a.StatusReason)}
		}
		select {
		case <-ctx.Done():
		case <-time.After(interval):
		}
	}
}

// firstLine is s up to its first line break.
func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

func blueprintListCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List the built-in blueprints and the project's", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bs, err := g.client().Blueprints(cmd.Context(), g.proj())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), bs, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tSOURCE\tDESCRIPTION")
				for _, b := range bs {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", b.Name, b.Source, firstLine(b.Description))
				}
			})
		},
	}
}

func blueprintShowCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "show NAME", Short: "Show a blueprint: its parameters, pipeline template and starter content", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := g.client().Blueprint(cmd.Context(), g.proj(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), b, func(tw *tabwriter.Writer) { printBlueprint(tw, b) })
		},
	}
}

func printBlueprint(tw *tabwriter.Writer, b *client.Blueprint) {
	fmt.Fprintf(tw, "Name:\t%s\nSource:\t%s\n", b.Name, b.Source)
	if b.CreatedBy != "" {
		fmt.Fprintf(tw, "Added by:\t%s (%s)\n", b.CreatedBy, ago(b.UpdatedAt))
	}
	fmt.Fprintf(tw, "Pipeline template:\t%s\nStarter content:\t%s\n", b.Pipeline, b.Content)
	fmt.Fprintf(tw, "\n%s\n\n", strings.TrimSpace(b.Description))
	fmt.Fprintln(tw, "PARAMETER\tDEFAULT\tALLOWED\tDESCRIPTION")
	for _, p := range b.Parameters {
		def := "(required)"
		if p.Default != nil {
			def = *p.Default
			if def == "" {
				def = `""`
			}
		}
		allowed := "-"
		switch {
		case len(p.AllowedValues) > 0:
			allowed = strings.Join(p.AllowedValues, " | ")
		case p.Pattern != "":
			allowed = "/" + p.Pattern + "/"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, def, allowed, oneLine(p.Description))
	}
	if len(b.Files) > 0 {
		fmt.Fprintf(tw, "\nFiles of the starter content (%s):\n", b.Content)
		for _, f := range b.Files {
			fmt.Fprintf(tw, "  %s\n", f)
		}
	}
}

// noGit is a directory's file system without its .git entries.
type noGit struct{ fs.FS }

func (n noGit) ReadDir(name string) ([]fs.DirEntry, error) {
	es, err := fs.ReadDir(n.FS, name)
	return slices.DeleteFunc(es, func(e fs.DirEntry) bool { return e.Name() == ".git" }), err
}

func (n noGit) ReadLink(name string) (string, error) { return fs.ReadLink(n.FS, name) }

func (n noGit) Lstat(name string) (fs.FileInfo, error) { return fs.Lstat(n.FS, name) }

// packBlueprint writes dir as a gzipped tar, without .git.
func packBlueprint(w io.Writer, dir string) error {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	if err := tw.AddFS(noGit{os.DirFS(dir)}); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// uploadBlueprint adds the blueprint in dir, packed as it is sent (never
// whole in memory), or the archive file arg names as it is.
func uploadBlueprint(ctx context.Context, c *client.Client, project, arg string) (*client.Blueprint, error) {
	fi, err := os.Stat(arg)
	if err != nil {
		return nil, fmt.Errorf("blueprint add: %w", err)
	}
	if fi.Mode().IsRegular() {
		f, err := os.Open(arg)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return c.AddBlueprintArchive(ctx, project, f)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("blueprint add %s: not a directory nor an archive file", arg)
	}
	if _, err := os.Stat(filepath.Join(arg, "blueprint.yml")); err != nil {
		return nil, fmt.Errorf("blueprint add %s: the directory has no blueprint.yml, which makes a directory a blueprint", arg)
	}
	pr, pw := io.Pipe()
	packed := make(chan error, 1)
	go func() {
		err := packBlueprint(pw, arg)
		pw.CloseWithError(err)
		packed <- err
	}()
	b, err := c.AddBlueprintArchive(ctx, project, pr)
	pr.CloseWithError(io.ErrClosedPipe) // stops the packer if the request ended early
	if perr := <-packed; perr != nil && !errors.Is(perr, io.ErrClosedPipe) {
		return nil, fmt.Errorf("pack %s: %w", arg, perr) // the cause, not the broken request it made
	}
	return b, err
}

func blueprintAddCommand(g *globals) *cobra.Command {
	var repo, ref, path string
	cmd := &cobra.Command{
		Use:   "add DIR | add --repo NAME [--ref REF] [--path DIR]",
		Short: "Add a blueprint to the project (or replace the one of its name) from a directory or a repository",
		Long: "Add a blueprint to the project, or replace the one of the same name (applications made from it keep\n" +
			"the version they were made from). DIR is the blueprint's directory, holding blueprint.yml; it is\n" +
			"packed without .git and uploaded (a zip, tar or tgz file of it is uploaded as it is). --repo takes it\n" +
			"from a repository of the project instead: at --ref (default HEAD), in --path (default its top).\n" +
			"Every problem of the blueprint comes back at once, as file:line:col.",
		Example: "  slipway blueprint add ./blueprints/python-service\n  slipway blueprint add --repo platform --ref main --path blueprints/python-service",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c := cmd.Context(), g.client()
			var b *client.Blueprint
			var err error
			switch {
			case len(args) == 1 && repo != "":
				return errors.New("give a directory or --repo, not both")
			case len(args) == 1:
				if ref != "" || path != "" {
					return errors.New("--ref and --path go with --repo")
				}
				b, err = uploadBlueprint(ctx, c, g.proj(), args[0])
			case repo != "":
				b, err = c.AddBlueprintFromRepo(ctx, g.proj(), repo, ref, path)
			default:
				return errors.New("give the blueprint's directory, or --repo NAME for one in a repository")
			}
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), b, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "Added blueprint %s (%s)\nMake an application from it: slipway app create NAME --blueprint %s%s\n",
					b.Name, b.Source, b.Name, projectFlag(g.proj()))
			})
		},
	}
	cmd.Flags().StringVar(&repo, "repo", "", "a repository of the project holding the blueprint")
	cmd.Flags().StringVar(&ref, "ref", "", "the branch, tag or commit to take it from (default HEAD)")
	cmd.Flags().StringVar(&path, "path", "", "the blueprint's directory in the repository (default its top)")
	return cmd
}
