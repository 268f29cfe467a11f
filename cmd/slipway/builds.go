package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/build"
	"github.com/slipway/slipway/buildspec"
	"github.com/slipway/slipway/client"
)

// buildProjectCommand is `slipway build project ...`.
func buildProjectCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "project", Short: "Build projects: what to run and with which settings"}
	var bp client.BuildProject
	var envs []string
	create := &cobra.Command{
		Use: "create NAME", Short: "Create a build project", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bp.Name = args[0]
			for _, kv := range envs {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return fmt.Errorf("--env %q: write NAME=VALUE, NAME=parameter-store:REF or NAME=secrets-manager:REF", kv)
				}
				ev := client.EnvVar{Name: k, Value: v, Type: "PLAINTEXT"}
				if ref, ok := strings.CutPrefix(v, "parameter-store:"); ok {
					ev.Value, ev.Type = ref, "PARAMETER_STORE"
				} else if ref, ok := strings.CutPrefix(v, "secrets-manager:"); ok {
					ev.Value, ev.Type = ref, "SECRETS_MANAGER"
				}
				bp.Environment.Variables = append(bp.Environment.Variables, ev)
			}
			out, err := g.client().CreateBuildProject(cmd.Context(), g.proj(), &bp)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), out, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "Created build project %s in project %s\n", out.Name, g.proj())
			})
		},
	}
	create.Flags().StringVar(&bp.Description, "description", "", "description")
	create.Flags().StringArrayVar(&envs, "env", nil, "environment variable NAME=VALUE (or NAME=parameter-store:REF, NAME=secrets-manager:REF); repeatable")
	create.Flags().IntVar(&bp.TimeoutInMinutes, "timeout", 60, "build timeout in minutes (5 to 2160)")
	create.Flags().StringVar(&bp.Buildspec, "buildspec", "", "buildspec path in the source (default buildspec.yml) or inline YAML")
	create.Flags().StringVar(&bp.Environment.Image, "image", "", "build image (advisory)")
	create.Flags().StringVar(&bp.Environment.ComputeType, "compute-type", "BUILD_GENERAL1_SMALL", "compute type (advisory)")
	create.Flags().StringVar(&bp.Cache.Type, "cache", "NO_CACHE", "LOCAL keeps the buildspec's cache.paths between this project's builds; NO_CACHE")
	list := &cobra.Command{
		Use: "list", Short: "List build projects", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ps, err := g.client().ListBuildProjects(cmd.Context(), g.proj())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), ps, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tTIMEOUT\tDESCRIPTION")
				for _, p := range ps {
					fmt.Fprintf(tw, "%s\t%dm\t%s\n", p.Name, p.TimeoutInMinutes, p.Description)
				}
			})
		},
	}
	get := &cobra.Command{
		Use: "get NAME", Short: "Show a build project", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := g.client().GetBuildProject(cmd.Context(), g.proj(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), p, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "Name:\t%s\nDescription:\t%s\nTimeout:\t%d minutes\nCompute type:\t%s\nImage:\t%s\nBuildspec:\t%s\n",
					p.Name, p.Description, p.TimeoutInMinutes, p.Environment.ComputeType, p.Environment.Image, first(p.Buildspec, "buildspec.yml"))
				for _, v := range p.Environment.Variables {
					fmt.Fprintf(tw, "Env:\t%s (%s) = %s\n", v.Name, v.Type, v.Value)
				}
			})
		},
	}
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a build project and its builds", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.client().DeleteBuildProject(cmd.Context(), g.proj(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted build project %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, get, del)
	return cmd
}

func printBuild(g *globals, cmd *cobra.Command, b *client.Build) error {
	return g.print(cmd.OutOrStdout(), b, func(tw *tabwriter.Writer) {
		fmt.Fprintf(tw, "Build:\t%s (#%d)\nStatus:\t%s\nSource:\t%s\nCommit:\t%s\nInitiator:\t%s\nStarted:\t%s\n",
			b.ID, b.Number, b.Status, b.Source, b.Commit, b.Initiator, b.StartedAt.Format(time.RFC3339))
		for _, p := range b.Phases {
			fmt.Fprintf(tw, "Phase:\t%s\t%s\t%s\n", p.Name, p.Status, p.Context)
		}
		for k, v := range b.Exported {
			fmt.Fprintf(tw, "Exported:\t%s=%s\n", k, v)
		}
		for _, a := range b.Artifacts {
			name := a.Name
			if a.Identifier != "" {
				name = a.Identifier + ": " + a.Name
			}
			fmt.Fprintf(tw, "Artifact:\t%s\t%s\t%d bytes\n", name, a.Digest, a.Size)
		}
	})
}

// buildServerCommands are the build verbs that talk to a server.
func buildServerCommands(g *globals) []*cobra.Command {
	var source string
	start := &cobra.Command{
		Use: "start PROJECT --source REPO[@REF]|DIR", Short: "Start a build of a build project", Args: cobra.ExactArgs(1),
		Long: "Start a build from a hosted repository (REPO@REF; REF defaults to main) or from a local\n" +
			"directory, which is uploaded as a zip archive without its .git. A path (with a '/', or '.')\n" +
			"is a directory; so is a bare name that is a directory here and has no '@'.",
		RunE: func(cmd *cobra.Command, args []string) error {
			var b *client.Build
			var err error
			if isSourceDir(source) {
				b, err = uploadBuild(cmd.Context(), g.client(), g.proj(), args[0], source)
			} else {
				b, err = g.client().StartBuild(cmd.Context(), g.proj(), args[0], source)
			}
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printBuild(g, cmd, b)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b.ID)
			return nil
		},
	}
	start.Flags().StringVar(&source, "source", "", "REPO@REF (a hosted repository and a branch, tag or commit; default main) or a local DIR to upload")
	_ = start.MarkFlagRequired("source")
	list := &cobra.Command{
		Use: "list PROJECT", Short: "List a build project's builds, newest first", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bs, err := g.client().ListBuilds(cmd.Context(), g.proj(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), bs, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "ID\tNUMBER\tSTATUS\tSOURCE\tCOMMIT\tSTARTED")
				for _, b := range bs {
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", b.ID, b.Number, b.Status, b.Source, short(b.Commit), ago(b.StartedAt))
				}
			})
		},
	}
	get := &cobra.Command{
		Use: "get ID", Short: "Show a build", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := g.client().GetBuild(cmd.Context(), g.proj(), args[0])
			if err != nil {
				return err
			}
			return printBuild(g, cmd, b)
		},
	}
	stop := &cobra.Command{
		Use: "stop ID", Short: "Stop a build", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := g.client().StopBuild(cmd.Context(), g.proj(), args[0])
			if err != nil {
				return err
			}
			return printBuild(g, cmd, b)
		},
	}
	return []*cobra.Command{buildProjectCommand(g), start, list, get, stop}
}

// logsCommand is `slipway logs ID [-f]`, of a build or of a deployment.
func logsCommand(g *globals) *cobra.Command {
	var follow bool
	var instance string
	cmd := &cobra.Command{
		Use:   "logs ID",
		Short: "Print a build's log, or an instance's script output in a deployment (d-...); -f follows it to the end",
		Long: "Print a build's log, or with a deployment ID (d-...) the script output of one of its instances\n" +
			"(--instance), as the agent sends it. With -f the command follows the log until the build or\n" +
			"the deployment ends, and exits 0 only if it succeeded.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if isDeploymentID(args[0]) {
				return deploymentLogs(cmd, g, args[0], instance, follow)
			}
			c := g.client()
			out := cmd.OutOrStdout()
			var offset int64
			for {
				data, next, status, err := c.BuildLog(cmd.Context(), g.proj(), args[0], offset)
				if err != nil {
					return err
				}
				if _, err := out.Write(data); err != nil {
					return err
				}
				if f, ok := out.(*os.File); ok {
					_ = f.Sync()
				}
				moved := next != offset
				offset = next
				if !follow {
					return nil
				}
				if status != "IN_PROGRESS" && status != "" {
					if moved {
						continue // drain what is left
					}
					if status != "SUCCEEDED" {
						return &exitError{code: 1, msg: "build " + strings.ToLower(status)}
					}
					return nil
				}
				if !moved {
					select {
					case <-cmd.Context().Done():
						return cmd.Context().Err()
					case <-time.After(200 * time.Millisecond):
					}
				}
			}
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the log until the build or deployment ends")
	cmd.Flags().StringVar(&instance, "instance", "", "the instance of the deployment whose script output to print")
	return cmd
}

// isSourceDir tells a local directory from REPO@REF in build start --source.
func isSourceDir(source string) bool {
	if strings.ContainsRune(source, '/') || source == "." || source == ".." {
		return true
	}
	fi, err := os.Stat(source)
	return err == nil && fi.IsDir() && !strings.Contains(source, "@")
}

// uploadBuild zips dir (streamed, never whole in memory) and starts a build from it.
func uploadBuild(ctx context.Context, c *client.Client, project, name, dir string) (*client.Build, error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("--source %s: not a directory", dir)
	}
	pr, pw := io.Pipe()
	packed := make(chan error, 1)
	go func() {
		_, err := build.Pack(pw, dir, &buildspec.Artifacts{Files: []string{"**/*"}, ExcludePaths: []string{"**/.git"}})
		pw.CloseWithError(err)
		packed <- err
	}()
	b, err := c.StartBuildUpload(ctx, project, name, pr)
	pr.CloseWithError(io.ErrClosedPipe) // stops the packer if the request ended early
	if perr := <-packed; perr != nil && !errors.Is(perr, io.ErrClosedPipe) {
		return nil, fmt.Errorf("build from %s: %w", dir, perr) // the cause, not the broken request it made
	}
	if err != nil {
		return nil, fmt.Errorf("build from %s: %w", dir, err)
	}
	return b, nil
}
