package main

import (
	"context"
	"encoding/json"
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

	"github.com/slipway/slipway/appspec"
	"github.com/slipway/slipway/build"
	"github.com/slipway/slipway/buildspec"
	"github.com/slipway/slipway/client"
	"github.com/slipway/slipway/unpack"
)

// deployCommand is `slipway deploy`: CodeDeploy's applications, deployment
// groups, revisions and deployments.
func deployCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "deploy", Short: "Deploy revisions to deployment groups' instances and on-premises hosts (CodeDeploy)"}
	cmd.AddCommand(deployCreateCommand(g), deployGetCommand(g), deployListCommand(g), deployStopCommand(g), deployInstancesCommand(g),
		deployAppCommand(g), deployGroupsCommand(g), deployRevisionsCommand(g), deployConfigsCommand(g))
	return cmd
}

// revisionKind is what deploy create --revision names.
type revisionKind int

const (
	// revisionDigest is a revision registered with the application already.
	revisionDigest revisionKind = iota
	// revisionDir is a directory, packed as a zip on the fly.
	revisionDir
	// revisionFile is a zip, tar or tgz archive, uploaded as it is.
	revisionFile
)

// revisionHelp says what --revision takes.
const revisionHelp = "give a zip, tar or tgz file, a directory holding appspec.yml, or the sha256:... digest of a revision registered already (slipway deploy revisions APP)"

// classifyRevision tells a digest from a local directory or archive file.
func classifyRevision(arg string) (revisionKind, error) {
	if strings.HasPrefix(arg, "sha256:") {
		return revisionDigest, nil
	}
	fi, err := os.Stat(arg)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0, fmt.Errorf("--revision %s: no such file or directory; %s", arg, revisionHelp)
	case err != nil:
		return 0, fmt.Errorf("--revision: %w", err)
	case fi.IsDir():
		return revisionDir, nil
	case fi.Mode().IsRegular():
		return revisionFile, nil
	}
	return 0, fmt.Errorf("--revision %s: not a regular file nor a directory; %s", arg, revisionHelp)
}

// archiveContentType is the Content-Type an archive file travels as.
func archiveContentType(f *os.File) (string, error) {
	format, err := unpack.Detect(f)
	if err != nil {
		return "", fmt.Errorf("--revision %s: %w; %s", f.Name(), err, revisionHelp)
	}
	switch format {
	case unpack.FormatZip:
		return "application/zip", nil
	case unpack.FormatTar:
		return "application/x-tar", nil
	}
	return "application/gzip", nil
}

// uploadRevision uploads the file or directory arg names and registers it
// with the application. A directory is zipped as it is sent (never whole
// in memory), without its .git.
func uploadRevision(ctx context.Context, c *client.Client, project, app, arg string, kind revisionKind) (*client.RevisionInfo, error) {
	description := "uploaded from " + filepath.Base(filepath.Clean(arg))
	if kind == revisionFile {
		f, err := os.Open(arg)
		if err != nil {
			return nil, fmt.Errorf("--revision: %w", err)
		}
		defer f.Close()
		ct, err := archiveContentType(f)
		if err != nil {
			return nil, err
		}
		return c.UploadRevision(ctx, project, app, ct, f, description)
	}
	if !slices.ContainsFunc(appspec.FileNames(), func(n string) bool {
		fi, err := os.Stat(filepath.Join(arg, n))
		return err == nil && fi.Mode().IsRegular()
	}) {
		return nil, fmt.Errorf("--revision %s: the directory has no appspec.yml at its root, which a revision needs", arg)
	}
	pr, pw := io.Pipe()
	packed := make(chan error, 1)
	go func() {
		_, err := build.Pack(pw, arg, &buildspec.Artifacts{Files: []string{"**/*"}, ExcludePaths: []string{"**/.git"}})
		pw.CloseWithError(err)
		packed <- err
	}()
	ri, err := c.UploadRevision(ctx, project, app, "application/zip", pr, description)
	pr.CloseWithError(io.ErrClosedPipe) // stops the packer if the request ended early
	if perr := <-packed; perr != nil && !errors.Is(perr, io.ErrClosedPipe) {
		return nil, fmt.Errorf("pack %s: %w", arg, perr) // the cause, not the broken request it made
	}
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", arg, err)
	}
	return ri, nil
}

func deployCreateCommand(g *globals) *cobra.Command {
	var revision, description, fileExists string
	var ignoreStop, noRollback, wait bool
	cmd := &cobra.Command{
		Use:   "create APP GROUP --revision FILE|DIR|DIGEST",
		Short: "Deploy a revision to a deployment group; --wait follows it to its end",
		Long: "Deploy a revision to a deployment group. --revision names a zip, tar or tgz archive (uploaded as\n" +
			"it is), a directory (zipped as it is uploaded, without .git), or the sha256:... digest of a\n" +
			"revision registered with the application already. An upload registers the revision, then the\n" +
			"deployment starts. With --wait the command prints each instance's lifecycle events as they\n" +
			"change and exits 0 only when the deployment Succeeded.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, app := cmd.Context(), g.client(), args[0]
			kind, err := classifyRevision(revision)
			if err != nil {
				return err
			}
			digest := revision
			if kind != revisionDigest {
				ri, err := uploadRevision(ctx, c, g.proj(), app, revision, kind)
				if err != nil {
					return err
				}
				digest = ri.Digest
				if g.output != "json" {
					fmt.Fprintf(cmd.ErrOrStderr(), "Registered revision %s (%s, %d bytes) with application %s\n", ri.Digest, ri.BundleType, ri.Size, app)
				}
			}
			in := client.CreateDeploymentInput{Application: app, Group: args[1], Revision: digest, Description: description,
				FileExistsBehavior: fileExists, IgnoreApplicationStopFailures: ignoreStop}
			if noRollback {
				in.AutoRollback = &client.AutoRollback{}
			}
			d, err := c.CreateDeployment(ctx, g.proj(), in)
			if err != nil {
				return err
			}
			if !wait {
				return g.print(cmd.OutOrStdout(), d, func(tw *tabwriter.Writer) {
					fmt.Fprintf(tw, "%s\n", d.ID)
				})
			}
			return watchDeployment(cmd, g, c, d.ID)
		},
	}
	f := cmd.Flags()
	f.StringVar(&revision, "revision", "", "a zip, tar or tgz FILE, a DIR to upload, or the sha256:... DIGEST of a registered revision")
	f.StringVar(&description, "description", "", "what the deployment is for")
	f.StringVar(&fileExists, "file-exists-behavior", "", "for files already on the instances that the appspec does not decide: DISALLOW (default), OVERWRITE or RETAIN")
	f.BoolVar(&ignoreStop, "ignore-application-stop-failures", false, "count failures of ApplicationStop, BeforeBlockTraffic and AfterBlockTraffic as successes")
	f.BoolVar(&noRollback, "no-rollback", false, "do not roll back automatically, whatever the deployment group says")
	f.BoolVar(&wait, "wait", false, "follow the deployment to its end; exit 0 only if it Succeeded")
	_ = cmd.MarkFlagRequired("revision")
	return cmd
}

// watchInterval is how often a followed deployment is read.
const watchInterval = 300 * time.Millisecond

// watchDeployment follows a deployment to its end, printing each instance's
// lifecycle events as their status changes (with --output json, only the
// ended deployment), and fails unless it Succeeded.
func watchDeployment(cmd *cobra.Command, g *globals, c *client.Client, id string) error {
	ctx, out := cmd.Context(), cmd.OutOrStdout()
	seen := map[string]string{} // instance + event -> status printed
	for {
		// The deployment is read first: once it has ended, the events read
		// after it are final.
		d, err := c.Deployment(ctx, g.proj(), id)
		if err != nil {
			return err
		}
		ts, err := c.DeploymentInstances(ctx, g.proj(), id)
		if err != nil {
			return err
		}
		if g.output != "json" {
			for _, line := range eventChanges(ts, seen) {
				fmt.Fprintln(out, line)
			}
		}
		if d.Done() {
			if g.output == "json" {
				if err := g.print(out, d, nil); err != nil {
					return err
				}
			} else {
				fmt.Fprintln(out, deploymentOutcome(d))
			}
			if d.Status != "Succeeded" {
				return &exitError{code: 1, msg: "deployment " + d.ID + " " + strings.ToLower(d.Status)}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(watchInterval):
		}
	}
}

// eventChanges returns a line for each lifecycle event whose status
// changed since seen (Pending is no change), and records it there.
func eventChanges(ts []client.DeploymentTarget, seen map[string]string) []string {
	var lines []string
	for _, t := range ts {
		for _, e := range t.Events {
			key := t.InstanceID + " " + e.Name
			if e.Status == "Pending" || seen[key] == e.Status {
				continue
			}
			seen[key] = e.Status
			at, detail := e.StartedAt, ""
			if e.Status != "InProgress" && !e.EndedAt.IsZero() {
				at, detail = e.EndedAt, took(e.StartedAt, e.EndedAt)
			}
			if e.Diagnostics != nil && e.Status == "Failed" {
				detail = strings.TrimSpace(detail + "  " + oneLine(e.Diagnostics.Message))
			}
			stamp := "--:--:--"
			if !at.IsZero() {
				stamp = at.Local().Format(time.TimeOnly)
			}
			lines = append(lines, strings.TrimRight(fmt.Sprintf("%s  %-20s  %-22s  %-10s  %s", stamp, t.InstanceID, e.Name, e.Status, detail), " "))
		}
	}
	return lines
}

// deploymentOutcome is the line that ends a followed deployment.
func deploymentOutcome(d *client.Deployment) string {
	o := d.Overview
	s := fmt.Sprintf("Deployment %s %s (%d succeeded, %d failed, %d skipped)", d.ID, d.Status, o.Succeeded, o.Failed, o.Skipped)
	if d.ErrorCode != "" {
		s += fmt.Sprintf("\n%s: %s", d.ErrorCode, d.ErrorMessage)
	}
	if rb := d.Rollback; rb.RollbackDeploymentID != "" {
		s += fmt.Sprintf("\nRollback started: %s (slipway deploy get %s)", rb.RollbackDeploymentID, rb.RollbackDeploymentID)
	} else if rb.RollbackMessage != "" {
		s += "\n" + rb.RollbackMessage
	}
	return s
}

func printDeployment(g *globals, cmd *cobra.Command, d *client.Deployment) error {
	return g.print(cmd.OutOrStdout(), d, func(tw *tabwriter.Writer) {
		o := d.Overview
		fmt.Fprintf(tw, "Deployment:\t%s\nApplication:\t%s\nDeployment group:\t%s\nConfiguration:\t%s\nStatus:\t%s\n",
			d.ID, d.Application, d.Group, d.Config, d.Status)
		fmt.Fprintf(tw, "Creator:\t%s\n", strings.TrimSpace(d.Creator+" "+parens(d.CreatedBy)))
		fmt.Fprintf(tw, "Revision:\t%s (%s, %d bytes)\n", d.Revision.Digest, d.Revision.BundleType, d.Revision.Size)
		if d.Options.Description != "" {
			fmt.Fprintf(tw, "Description:\t%s\n", d.Options.Description)
		}
		fmt.Fprintf(tw, "Instances:\t%d succeeded, %d failed, %d skipped, %d in progress, %d pending\n",
			o.Succeeded, o.Failed, o.Skipped, o.InProgress, o.Pending)
		if d.ErrorCode != "" {
			fmt.Fprintf(tw, "Error:\t%s: %s\n", d.ErrorCode, d.ErrorMessage)
		}
		rb := d.Rollback
		switch {
		case rb.RollbackDeploymentID != "":
			fmt.Fprintf(tw, "Rolled back by:\t%s\n", rb.RollbackDeploymentID)
		case rb.RollbackTriggeringDeploymentID != "":
			fmt.Fprintf(tw, "Rollback of:\t%s\n", rb.RollbackTriggeringDeploymentID)
		}
		if rb.RollbackMessage != "" {
			fmt.Fprintf(tw, "Rollback:\t%s\n", rb.RollbackMessage)
		}
		fmt.Fprintf(tw, "Created:\t%s\nStarted:\t%s\nEnded:\t%s\n", ago(d.CreatedAt), ago(d.StartedAt), ago(d.EndedAt))
	})
}

func parens(s string) string {
	if s == "" {
		return ""
	}
	return "(" + s + ")"
}

func deployGetCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "get ID", Short: "Show a deployment", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := g.client().Deployment(cmd.Context(), g.proj(), args[0])
			if err != nil {
				return err
			}
			return printDeployment(g, cmd, d)
		},
	}
}

func deployListCommand(g *globals) *cobra.Command {
	var app, group string
	var limit int
	cmd := &cobra.Command{
		Use: "list", Short: "List deployments, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if group != "" && app == "" {
				return errors.New("--group names a deployment group of an application: give --app too")
			}
			ds, err := g.client().Deployments(cmd.Context(), g.proj(), app, group, limit)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), ds, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "ID\tAPPLICATION\tGROUP\tSTATUS\tCREATOR\tREVISION\tCREATED\tTOOK")
				for _, d := range ds {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.Application, d.Group, d.Status, d.Creator,
						shortDigest(d.Revision.Digest), ago(d.CreatedAt), took(d.StartedAt, d.EndedAt))
				}
			})
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "only this application's")
	cmd.Flags().StringVar(&group, "group", "", "only this deployment group's (with --app)")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many")
	return cmd
}

// shortDigest is a digest as tables show it.
func shortDigest(d string) string {
	if rest, ok := strings.CutPrefix(d, "sha256:"); ok {
		return "sha256:" + short(rest)
	}
	return d
}

func deployStopCommand(g *globals) *cobra.Command {
	var rollback bool
	cmd := &cobra.Command{
		Use: "stop ID", Short: "Stop a deployment: the events under way finish, no other starts", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := g.client().StopDeployment(cmd.Context(), g.proj(), args[0], rollback)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), d, func(tw *tabwriter.Writer) {
				then := ""
				if rollback {
					then = ", then roll it back"
				}
				fmt.Fprintf(tw, "Stopping deployment %s%s (slipway deploy get %s shows when it has)\n", d.ID, then, d.ID)
			})
		},
	}
	cmd.Flags().BoolVar(&rollback, "rollback", false, "roll back to the group's last successful revision once stopped")
	return cmd
}

func deployInstancesCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "instances ID", Short: "Show a deployment's instances and their lifecycle events", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := g.client().DeploymentInstances(cmd.Context(), g.proj(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), ts, func(tw *tabwriter.Writer) {
				instancesTable(tw, ts)
			})
		},
	}
}

// instancesTable shows each instance with its events, their status and how
// long they took, and the failed event's message.
func instancesTable(tw *tabwriter.Writer, ts []client.DeploymentTarget) {
	fmt.Fprintln(tw, "INSTANCE\tSTATUS\tEVENT\tEVENT STATUS\tTOOK\tMESSAGE")
	for _, t := range ts {
		instance, status := t.InstanceID, t.Status
		if !t.StartedAt.IsZero() {
			status += " (" + took(t.StartedAt, t.EndedAt) + ")"
		}
		for _, e := range t.Events {
			dur, msg := "", ""
			if !e.StartedAt.IsZero() {
				dur = took(e.StartedAt, e.EndedAt)
			}
			if e.Diagnostics != nil && e.Status == "Failed" {
				msg = oneLine(e.Diagnostics.Message)
				if e.Diagnostics.ScriptName != "" {
					msg = e.Diagnostics.ScriptName + ": " + msg
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", instance, status, e.Name, e.Status, dur, msg)
			instance, status = "", ""
		}
	}
}

func deployAppCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "app", Short: "Applications: the names deployment groups and revisions belong to"}
	create := &cobra.Command{
		Use: "create NAME", Short: "Create an application", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := g.client().CreateApplication(cmd.Context(), g.proj(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), a, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "Created application %s in project %s\n", a.Name, g.proj())
			})
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List applications", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			as, err := g.client().Applications(cmd.Context(), g.proj())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), as, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tMADE BY\tCREATED")
				for _, a := range as {
					by := "hand"
					if a.ManagedBy != "" {
						by = "a stack"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Name, by, ago(a.CreatedAt))
				}
			})
		},
	}
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete an application with its deployment groups and revisions", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.client().DeleteApplication(cmd.Context(), g.proj(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted application %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, del)
	return cmd
}

func deployGroupsCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "groups APP", Short: "List an application's deployment groups", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			gs, err := g.client().DeploymentGroups(cmd.Context(), g.proj(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), gs, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "GROUP\tCONFIGURATION\tINSTANCES\tTRAFFIC\tROLLBACK\tLAST SUCCESS\tREVISION")
				for _, gr := range gs {
					rev := "-"
					if gr.TargetRevision != nil {
						rev = shortDigest(gr.TargetRevision.Digest)
					}
					rollback := "-"
					if gr.AutoRollback.Enabled {
						rollback = strings.Join(gr.AutoRollback.Events, ",")
					}
					traffic := "-"
					if gr.DeploymentOption == "WITH_TRAFFIC_CONTROL" && len(gr.TargetGroups) > 0 {
						traffic = strings.Join(gr.TargetGroups, ",")
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", gr.Name, gr.Config, selection(gr), traffic, rollback, first(gr.LastSuccess, "-"), rev)
				}
			})
		},
	}
}

// selection says which instances a deployment group deploys to.
func selection(gr client.DeploymentGroup) string {
	var parts []string
	for _, n := range gr.AutoScalingGroups {
		parts = append(parts, "group "+n)
	}
	for _, f := range gr.TagFilters {
		switch f.Type {
		case "KEY_ONLY":
			parts = append(parts, "tag "+f.Key)
		case "VALUE_ONLY":
			parts = append(parts, "tag value "+f.Value)
		default:
			parts = append(parts, "tag "+f.Key+"="+f.Value)
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func deployRevisionsCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "revisions APP", Short: "List an application's registered revisions, newest first", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rs, err := g.client().Revisions(cmd.Context(), g.proj(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), rs, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "DIGEST\tTYPE\tSIZE\tREGISTERED\tDESCRIPTION")
				for _, r := range rs {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", r.Digest, r.BundleType, r.Size, ago(r.RegisteredAt), r.Description)
				}
			})
		},
	}
}

func deployConfigsCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "configs", Short: "List deployment configurations: the predefined ones and the project's own", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cs, err := g.client().DeploymentConfigs(cmd.Context(), g.proj())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), cs, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tMINIMUM HEALTHY HOSTS\tPREDEFINED")
				for _, c := range cs {
					fmt.Fprintf(tw, "%s\t%s %d\t%s\n", c.Name, c.MinimumHealthyHosts.Type, c.MinimumHealthyHosts.Value, yesNo(c.Predefined))
				}
			})
		},
	}
}

// isDeploymentID tells a deployment's ID (d-XXXXXXXXX) from a build's
// (PROJECT:NUMBER, whose project may start with d- too).
func isDeploymentID(id string) bool {
	return strings.HasPrefix(id, "d-") && !strings.Contains(id, ":")
}

// deploymentLogs prints an instance's script output in a deployment;
// with follow it goes on until the deployment ends, and fails unless it
// Succeeded.
func deploymentLogs(cmd *cobra.Command, g *globals, id, instance string, follow bool) error {
	ctx, c, out := cmd.Context(), g.client(), cmd.OutOrStdout()
	if instance == "" {
		ts, err := c.DeploymentInstances(ctx, g.proj(), id)
		if err != nil {
			return err
		}
		if len(ts) == 0 {
			return fmt.Errorf("deployment %s has no instances (yet): give --instance INSTANCE once it has (slipway deploy instances %s)", id, id)
		}
		var names []string
		for _, t := range ts {
			names = append(names, t.InstanceID)
		}
		return fmt.Errorf("deployment %s: give --instance INSTANCE, one of %s", id, strings.Join(names, ", "))
	}
	enc := json.NewEncoder(out)
	var after int64
	for {
		l, err := c.DeploymentLogs(ctx, g.proj(), id, instance, after)
		if err != nil {
			return err
		}
		for _, ch := range l.Chunks {
			if g.output == "json" {
				err = enc.Encode(ch)
			} else {
				_, err = io.WriteString(out, ch.Text)
			}
			if err != nil {
				return err
			}
			after = ch.Seq
		}
		if len(l.Chunks) > 0 {
			continue // the server answers a page at a time
		}
		done := l.Status == "Succeeded" || l.Status == "Failed" || l.Status == "Stopped"
		if !follow {
			return nil
		}
		if done {
			if l.Status != "Succeeded" {
				return &exitError{code: 1, msg: "deployment " + id + " " + strings.ToLower(l.Status)}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(watchInterval):
		}
	}
}

// parseTags reads tags written KEY=VALUE,KEY=VALUE (several words are
// joined); "" is no tags.
func parseTags(words ...string) (map[string]string, error) {
	tags := map[string]string{}
	for _, w := range words {
		for _, kv := range strings.Split(w, ",") {
			kv = strings.TrimSpace(kv)
			if kv == "" {
				continue
			}
			k, v, ok := strings.Cut(kv, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if !ok || k == "" {
				return nil, fmt.Errorf("tag %q: write KEY=VALUE, several separated by commas, as in env=prod,role=web", kv)
			}
			if _, dup := tags[k]; dup {
				return nil, fmt.Errorf("tag %s is given twice", k)
			}
			tags[k] = v
		}
	}
	return tags, nil
}

// tagsText shows tags sorted by key.
func tagsText(tags map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		parts = append(parts, k+"="+tags[k])
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

// onpremCommand is `slipway onprem`: hosts a standalone agent serves.
func onpremCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "onprem", Short: "On-premises hosts: machines a standalone agent (slipway agent) deploys to"}
	var tagList string
	register := &cobra.Command{
		Use: "register NAME [--tags KEY=VALUE,...]", Short: "Register a host and print its agent's credential (shown once)", Args: cobra.ExactArgs(1),
		Long: "Register an on-premises host. Deployment groups select hosts by their tags. The agent's\n" +
			"credential is printed this once, with the command to start the agent on the host; the\n" +
			"agent keeps it in its data directory.",
		RunE: func(cmd *cobra.Command, args []string) error {
			tags, err := parseTags(tagList)
			if err != nil {
				return fmt.Errorf("--tags: %w", err)
			}
			c := g.client()
			reg, err := c.RegisterHost(cmd.Context(), g.proj(), args[0], tags)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), reg, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "Registered host %s (%s) in project %s, tags %s.\n\n", reg.Host.Name, reg.Host.ID, g.proj(), tagsText(reg.Host.Tags))
				fmt.Fprintf(tw, "Its agent credential, shown this once:\n\n  %s\n\n", reg.Token)
				fmt.Fprintf(tw, "Start the agent on the host (it saves the credential in its --data-dir, so later starts need no --token):\n\n")
				fmt.Fprintf(tw, "  slipway agent --server %s --token %s\n", c.BaseURL, reg.Token)
			})
		},
	}
	register.Flags().StringVar(&tagList, "tags", "", "the host's tags, KEY=VALUE,KEY=VALUE")
	list := &cobra.Command{
		Use: "list", Short: "List on-premises hosts", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			hs, err := g.client().Hosts(cmd.Context(), g.proj())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), hs, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tID\tSTATE\tTAGS\tLAST SEEN\tREGISTERED BY\tREGISTERED")
				for _, h := range hs {
					state := "active"
					if h.Revoked {
						state = "revoked"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.Name, h.ID, state, tagsText(h.Tags), ago(h.LastSeen), h.RegisteredBy, ago(h.RegisteredAt))
				}
			})
		},
	}
	tags := &cobra.Command{
		Use: "tags NAME KEY=VALUE,...", Short: "Replace a host's tags (\"\" removes them all)", Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			tags, err := parseTags(args[1:]...)
			if err != nil {
				return err
			}
			h, err := g.client().SetHostTags(cmd.Context(), g.proj(), args[0], tags)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), h, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "Host %s: tags %s\n", h.Name, tagsText(h.Tags))
			})
		},
	}
	revoke := &cobra.Command{
		Use: "revoke NAME", Short: "Revoke a host's agent credential; what it installed stays", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.client().RevokeHost(cmd.Context(), g.proj(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Revoked host %s: its agent can do nothing more, and no deployment group selects it\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(register, list, tags, revoke)
	return cmd
}
