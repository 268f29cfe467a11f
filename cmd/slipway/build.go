package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/build"
	"github.com/slipway/slipway/buildspec"
)

func buildCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "build", Short: "Builds that run buildspec.yml"}
	cmd.AddCommand(buildRunCommand())
	cmd.AddCommand(buildServerCommands(g)...)
	return cmd
}

func buildRunCommand() *cobra.Command {
	var specFile, artifact string
	var envs []string
	var timeout time.Duration
	var sandbox bool
	cmd := &cobra.Command{
		Use:   "run [DIR]",
		Short: "Run DIR/buildspec.yml on a copy of DIR, here and now, with no server",
		Long: "Run a buildspec.yml against a copy of DIR (default: the current directory) as a build\n" +
			"would, phase by phase, and write the output artifact with --artifact. The exit status is 0\n" +
			"only when the build SUCCEEDED. The build sees PATH, HOME and the Go cache variables of this\n" +
			"shell, not the rest of its environment.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			if specFile == "" {
				specFile = filepath.Join(dir, "buildspec.yml")
			}
			data, err := os.ReadFile(specFile)
			if err != nil {
				return fmt.Errorf("read buildspec: %w", err)
			}
			spec, err := buildspec.Parse(specFile, data)
			if err != nil {
				return err
			}
			var overrides []buildspec.Var
			for _, kv := range envs {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return fmt.Errorf("--env %q: write NAME=VALUE", kv)
				}
				overrides = append(overrides, buildspec.Var{Name: k, Value: v})
			}
			return runLocalBuild(cmd, dir, spec, overrides, artifact, timeout, &build.Local{NoSandbox: !sandbox})
		},
	}
	cmd.Flags().StringVar(&specFile, "buildspec", "", "the buildspec file (default DIR/buildspec.yml)")
	cmd.Flags().StringVar(&artifact, "artifact", "", "write the output artifact to this .zip file (secondary artifacts go beside it as IDENTIFIER.zip)")
	cmd.Flags().StringArrayVar(&envs, "env", nil, "set a variable, NAME=VALUE (repeatable; overrides the buildspec)")
	cmd.Flags().DurationVar(&timeout, "timeout", 60*time.Minute, "end the build TIMED_OUT after this long")
	cmd.Flags().BoolVar(&sandbox, "sandbox", false, "run the commands inside bubblewrap (own PID namespace and /tmp), as the server does")
	return cmd
}

// colours only on a terminal.
type palette struct{ green, red, bold, reset string }

func paletteFor(f *os.File) palette {
	if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("NO_COLOR") == "" {
		return palette{green: "\033[32m", red: "\033[31m", bold: "\033[1m", reset: "\033[0m"}
	}
	return palette{}
}

func runLocalBuild(cmd *cobra.Command, dir string, spec *buildspec.Spec, env []buildspec.Var, artifact string, timeout time.Duration, executor build.Executor) error {
	out := cmd.OutOrStdout()
	pal := palette{}
	if f, ok := out.(*os.File); ok {
		pal = paletteFor(f)
	}
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(cmd.Context()))
	defer cancel(nil)
	// Ctrl-C stops the build (STOPPED) rather than abandoning it.
	go func() {
		select {
		case <-cmd.Context().Done():
			cancel(build.ErrStopped)
		case <-ctx.Done():
		}
	}()
	type written struct {
		path, sum string
		files     int
		size      int64
	}
	var artifacts []written
	res := build.Run(ctx, build.Options{
		Executor:    executor,
		Spec:        spec,
		SrcDir:      dir,
		BuildID:     "local:" + time.Now().UTC().Format("20060102T150405"),
		BuildNumber: 1,
		Initiator:   "slipway build run",
		BaseEnv:     build.LocalEnv(),
		Env:         env,
		Timeout:     timeout,
		Log:         out,
		OnPhase: func(p build.PhaseReport) {
			if p.Status == build.InProgress {
				return
			}
			colour := pal.green
			if p.Status != build.Succeeded {
				colour = pal.red
			}
			fmt.Fprintf(out, "%s==> %-16s %s%-9s%s %s%s\n", pal.bold, p.Name, colour, p.Status, pal.reset+pal.bold, p.Duration().Round(time.Millisecond), pal.reset)
		},
		Upload: func(ctx context.Context, ws *build.Workspace, id string, a *buildspec.Artifacts) error {
			dest := artifact
			if id != "" && dest != "" {
				// Secondary artifacts go next to the primary one, named by identifier.
				dest = filepath.Join(filepath.Dir(artifact), id+".zip")
			}
			packed, sum, size, err := writeArtifact(ws, a, dest)
			if err == nil && dest != "" {
				artifacts = append(artifacts, written{path: dest, sum: sum, files: len(packed), size: size})
			}
			return err
		},
	})
	var total time.Duration
	if n := len(res.Phases); n > 0 {
		total = res.Phases[n-1].End.Sub(res.Phases[0].Start)
	}
	colour := pal.green
	if res.Status != build.Succeeded {
		colour = pal.red
	}
	fmt.Fprintf(out, "%sBuild %s%s%s in %s%s\n", pal.bold, colour, res.Status, pal.reset+pal.bold, total.Round(time.Millisecond), pal.reset)
	for _, a := range artifacts {
		fmt.Fprintf(out, "Artifact %s: %d files, %d bytes, sha256:%s\n", a.path, a.files, a.size, a.sum)
	}
	for k, v := range res.Exported {
		fmt.Fprintf(out, "Exported %s=%s\n", k, v)
	}
	if res.Status != build.Succeeded {
		return &exitError{code: 1, msg: "build " + strings.ToLower(string(res.Status))}
	}
	return nil
}

// writeArtifact packs the artifact into dest (write, then rename, so a
// failed build never leaves a half zip that looks whole), or only checks
// what it would hold when dest is empty.
func writeArtifact(ws *build.Workspace, a *buildspec.Artifacts, dest string) ([]string, string, int64, error) {
	if dest == "" {
		files, err := build.Pack(io.Discard, ws.SrcDir, a)
		return files, "", 0, clientError(err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".artifact-*.zip")
	if err != nil {
		return nil, "", 0, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(tmp, h)}
	files, err := build.Pack(cw, ws.SrcDir, a)
	if err != nil {
		tmp.Close()
		return nil, "", 0, clientError(err)
	}
	if err := tmp.Close(); err != nil {
		return nil, "", 0, err
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return nil, "", 0, err
	}
	return files, hex.EncodeToString(h.Sum(nil)), cw.n, nil
}

// clientError marks packing failures as the build's own (CLIENT_ERROR).
func clientError(err error) error {
	if err == nil {
		return nil
	}
	return &build.ClientError{Err: err}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// exitError ends the program with a status and a short message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }
