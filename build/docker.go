package build

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

// Docker runs each build in a container of its own, on a Docker engine on
// this machine.
//
// Prepare makes the workspace on this machine as Local does, then starts one
// container from Image with the workspace bind-mounted at the same absolute
// path, so CODEBUILD_SRC_DIR and the runner's state files mean the same
// inside and out, and nothing else of this machine (the server's data
// directory, other builds' workspaces) is visible. The container's PID 1 is
// the engine's init (docker-init) over an idle shell loop, so the image needs
// only sh and sleep, which every image that can run a build has. Every
// command is an exec in that container, as root, as in CodeBuild's images.
// A timeout or a stop kills the container: that ends its PID namespace, so
// every process the build started, background ones included, dies with it.
// Cleanup removes the container (and its anonymous volumes) and the
// workspace.
//
// The engine must see this machine's files (it is local, or the server runs
// where the engine's host paths are the same), and Image must already be on
// the engine: Slipway never pulls.
type Docker struct {
	// Client talks to the engine; DockerAvailable makes one.
	Client *client.Client
	// Image is the build image, as `docker run` would name it.
	Image string
	// Network is the container's network mode: "none" when empty, so a
	// build has no network unless the operator gives it one ("bridge",
	// "host" or a network of the engine).
	Network string
	// Dir is where workspaces are made on this machine; "" means the
	// system's temp directory.
	Dir string
}

// dockerCallTimeout bounds the engine calls that must finish even when the
// build's context is done (kill, removal), so a hung engine cannot hang the
// server.
const dockerCallTimeout = 30 * time.Second

// dockerWorkspaceLabel marks a build container with its workspace, so that
// leftovers (of a server that crashed) can be found on the engine.
const dockerWorkspaceLabel = "dev.slipway.workspace"

// DockerAvailable connects to the Docker engine that DOCKER_HOST (and
// DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, DOCKER_API_VERSION) name, or the
// default socket, and checks that it answers. The server offers the docker
// executor only when it does; the error says why not.
func DockerAvailable(ctx context.Context) (*client.Client, error) {
	c, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("docker: bad client settings in DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH or DOCKER_API_VERSION: %w", err)
	}
	ping, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("docker: no Docker engine answers at %s (start dockerd, or set DOCKER_HOST to where one listens): %w", c.DaemonHost(), err)
	}
	if ping.OSType != "" && ping.OSType != "linux" {
		c.Close()
		return nil, fmt.Errorf("docker: the engine at %s runs %s containers; builds need linux ones", c.DaemonHost(), ping.OSType)
	}
	return c, nil
}

// Isolation describes the container, for the build log.
func (d *Docker) Isolation() string {
	return fmt.Sprintf("Docker container from image %s (network %s), commands run as root; only the build's workspace is mounted from the host", d.Image, d.network())
}

func (d *Docker) network() string {
	return cmp.Or(d.Network, "none")
}

// containerName names the container of the workspace: Run and Cleanup find
// it from the workspace alone, and no two workspaces on this machine share
// a root.
func containerName(ws *Workspace) string {
	sum := sha256.Sum256([]byte(ws.Root))
	return "slipway-" + hex.EncodeToString(sum[:8])
}

// Prepare copies srcDir into a fresh workspace and starts the build's
// container over it.
func (d *Docker) Prepare(ctx context.Context, srcDir string) (*Workspace, error) {
	// The engine needs absolute paths to mount, and the build sees them.
	dir, err := filepath.Abs(cmp.Or(d.Dir, os.TempDir()))
	if err != nil {
		return nil, fmt.Errorf("workspace: %w", err)
	}
	ws, err := newWorkspace(ctx, dir, srcDir)
	if err != nil {
		return nil, err
	}
	if err := d.start(ctx, ws); err != nil {
		return nil, errors.Join(err, d.Cleanup(context.WithoutCancel(ctx), ws))
	}
	return ws, nil
}

// start creates and starts the workspace's container.
func (d *Docker) start(ctx context.Context, ws *Workspace) error {
	name := containerName(ws)
	withInit := true
	_, err := d.Client.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: name,
		Config: &container.Config{
			Image: d.Image,
			User:  "0:0",
			// The image's entrypoint is for running the image, not for
			// hosting a build; $0 names the process in ps.
			Entrypoint: []string{"sh", "-c", "while :; do sleep 3600; done"},
			Cmd:        []string{"slipway-build"},
			WorkingDir: ws.SrcDir,
			Labels:     map[string]string{dockerWorkspaceLabel: ws.Root},
		},
		HostConfig: &container.HostConfig{
			NetworkMode: container.NetworkMode(d.network()),
			// An init as PID 1 reaps the orphans a build leaves behind.
			Init:   &withInit,
			Mounts: []mount.Mount{{Type: mount.TypeBind, Source: ws.Root, Target: ws.Root}},
		},
	})
	if cerrdefs.IsNotFound(err) {
		return fmt.Errorf("docker: image %q is not on the Docker engine at %s (Slipway never pulls: docker pull, load or build it there): %w", d.Image, d.Client.DaemonHost(), err)
	}
	if err != nil {
		return fmt.Errorf("docker: create the build container from image %q: %w", d.Image, err)
	}
	if _, err := d.Client.ContainerStart(ctx, name, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("docker: start the build container from image %q (it needs sh and sleep, and the engine its docker-init): %w", d.Image, err)
	}
	return nil
}

// Run runs the command as an exec in the build's container. Cancelling ctx
// kills the container, and so every process of the build.
func (d *Docker) Run(ctx context.Context, ws *Workspace, c Command, out io.Writer) (int, error) {
	shell := cmp.Or(c.Shell, "sh")
	name := containerName(ws)
	ex, err := d.Client.ExecCreate(ctx, name, client.ExecCreateOptions{
		AttachStdout: true,
		AttachStderr: true,
		Env:          c.Env,
		WorkingDir:   c.Dir,
		Cmd:          []string{shell, "-c", c.Script},
	})
	if err != nil {
		if ctx.Err() != nil {
			return -1, d.cancelled(ctx, name)
		}
		return -1, fmt.Errorf("docker: run %s in the build container %s: %w", shell, name, err)
	}
	att, err := d.Client.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		if ctx.Err() != nil {
			return -1, d.cancelled(ctx, name)
		}
		return -1, fmt.Errorf("docker: attach to %s in the build container %s: %w", shell, name, err)
	}
	defer att.Close()

	var cancelErr error
	killed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(killed)
		cancelErr = d.cancelled(ctx, name)
		// Should the engine not end the stream, this does.
		att.Close()
	})
	code, err := d.wait(ctx, ex.ID, att.Reader, out)
	if !stop() {
		<-killed
		return -1, cancelErr
	}
	if err != nil {
		return -1, fmt.Errorf("docker: %s in the build container %s: %w", shell, name, err)
	}
	return code, nil
}

// wait copies the exec's output to out until it ends, then returns its exit
// code.
func (d *Docker) wait(ctx context.Context, execID string, stream io.Reader, out io.Writer) (int, error) {
	// The engine ends the stream when the command has exited and its
	// output is closed, or at most a few seconds after it exited when a
	// background process still holds the output.
	if _, err := stdcopy.StdCopy(out, out, stream); err != nil {
		return -1, fmt.Errorf("read the output: %w", err)
	}
	// The exit code is recorded as the stream ends; give it a moment.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := d.Client.ExecInspect(ctx, execID, client.ExecInspectOptions{})
		if err != nil {
			return -1, fmt.Errorf("exit code: %w", err)
		}
		if !st.Running {
			return st.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-tick.C:
		}
	}
}

// cancelled kills the build's container because ctx is done, and returns
// the error Run returns then: the context's cause, as Local's.
func (d *Docker) cancelled(ctx context.Context, name string) error {
	if err := d.kill(ctx, name); err != nil {
		return errors.Join(context.Cause(ctx), err)
	}
	return context.Cause(ctx)
}

// kill kills the container's init, which ends its PID namespace and every
// process in it, execs included, and waits until the container has stopped.
func (d *Docker) kill(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dockerCallTimeout)
	defer cancel()
	if _, err := d.Client.ContainerKill(ctx, name, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		if cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) {
			return nil // gone or not running: nothing left to kill
		}
		return fmt.Errorf("docker: kill the build container %s (Cleanup removes it): %w", name, err)
	}
	w := d.Client.ContainerWait(ctx, name, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case <-w.Result:
		return nil
	case err := <-w.Error:
		return fmt.Errorf("docker: wait for the killed build container %s to stop: %w", name, err)
	}
}

// Cleanup removes the build's container, then its workspace.
func (d *Docker) Cleanup(ctx context.Context, ws *Workspace) error {
	cerr := d.remove(ctx, containerName(ws))
	err := os.RemoveAll(ws.Root)
	if errors.Is(err, fs.ErrPermission) {
		err = d.removeAsRoot(ctx, ws)
	}
	if err != nil {
		err = fmt.Errorf("remove workspace %s: %w", ws.Root, err)
	}
	return errors.Join(cerr, err)
}

// remove force-removes a container, with its anonymous volumes (an image's
// VOLUME directories).
func (d *Docker) remove(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, dockerCallTimeout)
	defer cancel()
	_, err := d.Client.ContainerRemove(ctx, name, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("docker: remove the build container %s (docker rm -f it): %w", name, err)
	}
	return nil
}

// removeAsRoot removes a workspace holding files the build made as root in
// its container, which a server not running as root cannot delete: a new
// container from the build's image deletes them first.
func (d *Docker) removeAsRoot(ctx context.Context, ws *Workspace) error {
	ctx, cancel := context.WithTimeout(ctx, dockerCallTimeout)
	defer cancel()
	if err := d.start(ctx, ws); err != nil {
		return err
	}
	var out bytes.Buffer
	code, err := d.Run(ctx, ws, Command{Shell: "sh", Dir: "/",
		Script: "cd " + shellQuote(ws.Root) + " && rm -rf -- * .[!.]* ..?*"}, &out)
	err = errors.Join(err, d.remove(ctx, containerName(ws)))
	if err == nil && code != 0 {
		err = fmt.Errorf("rm in a container exited with status %d: %s", code, bytes.TrimSpace(out.Bytes()))
	}
	if err != nil {
		return err
	}
	return os.RemoveAll(ws.Root)
}
