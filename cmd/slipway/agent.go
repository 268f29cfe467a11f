package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/agent"
	"github.com/slipway/slipway/client"
	"github.com/slipway/slipway/deploy"
)

// instanceDeploymentRoot is the agent's deployment root inside an
// instance, where CodeDeploy's agent keeps its own.
const instanceDeploymentRoot = "/opt/codedeploy-agent/deployment-root"

// agentCommand is `slipway agent`: the deployment agent of an on-premises
// host, and (hidden, --instance) of a local instance, whose init starts it.
func agentCommand(g *globals) *cobra.Command {
	var server, name, tagList, dataDir, installRoot string
	var instance bool
	cmd := &cobra.Command{
		Use:   "agent --server URL --token TOKEN [--name NAME] [--tags KEY=VALUE,...]",
		Short: "Run the deployment agent on this host: it runs the lifecycle events deployments send it",
		Long: "Run the deployment agent of an on-premises host until SIGINT or SIGTERM.\n\n" +
			"The first start needs a credential: --token is either the agent credential 'slipway onprem\n" +
			"register' printed, or a user's API token (write on the project), with which the agent\n" +
			"registers the host itself as --name with --tags. The agent credential is then kept in\n" +
			"DATA-DIR/agent.json, and later starts need no --token. A host's tags are changed with\n" +
			"'slipway onprem tags'; the agent's credential cannot change them.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			if instance {
				return runInstanceAgent(cmd.Context(), log)
			}
			tags, err := parseTags(tagList)
			if err != nil {
				return fmt.Errorf("--tags: %w", err)
			}
			if name == "" {
				if name, err = os.Hostname(); err != nil {
					return fmt.Errorf("--name: this host's name: %w", err)
				}
			}
			opts := hostAgent{server: first(server, os.Getenv("SLIPWAY_URL")), token: first(g.token, os.Getenv("SLIPWAY_TOKEN")),
				project: g.proj(), name: name, tags: tags, dataDir: dataDir, log: log}
			c, err := opts.connect(cmd.Context())
			if err != nil {
				return err
			}
			if err := opts.check(cmd.Context(), c, cmd.Flags().Changed("name"), cmd.Flags().Changed("tags")); err != nil {
				return err
			}
			layout := agent.Layout{Root: filepath.Join(dataDir, "deployment-root")}
			return runAgent(cmd.Context(), c, layout, installRoot, log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", "", "the Slipway server's URL (default $SLIPWAY_URL, or the one saved in DATA-DIR/agent.json)")
	f.StringVar(&name, "name", "", "the host's name when the agent registers it (default: the host name)")
	f.StringVar(&tagList, "tags", "", "the host's tags when the agent registers it, KEY=VALUE,KEY=VALUE")
	f.StringVar(&dataDir, "data-dir", "/var/lib/slipway-agent", "where the agent keeps its credential and the revisions it installed")
	f.StringVar(&installRoot, "install-root", "", "a directory every appspec destination is placed below (default: destinations as written)")
	f.BoolVar(&instance, "instance", false, "run as the agent of the local instance this process is in (its init starts it)")
	_ = f.MarkHidden("instance")
	return cmd
}

// hostAgent is how the agent of an on-premises host was started.
type hostAgent struct {
	server, token, project, name string
	tags                         map[string]string
	dataDir                      string
	log                          *slog.Logger
}

// agentFile is what DATA-DIR/agent.json holds.
type agentFile struct {
	Server string `json:"server"`
	// Token is the host's agent credential, never a user's token.
	Token string `json:"token"`
}

func (h *hostAgent) file() string { return filepath.Join(h.dataDir, "agent.json") }

// connect returns a client with the host's agent credential: the one
// saved, else the one given, else one got by registering the host with
// the user's token given. A credential got is saved.
func (h *hostAgent) connect(ctx context.Context) (*client.Client, error) {
	if err := os.MkdirAll(h.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	saved, err := readAgentFile(h.file())
	if err != nil {
		return nil, err
	}
	server := first(h.server, saved.Server)
	if server == "" {
		return nil, errors.New("--server: give the Slipway server's URL, as in --server https://slipway.example.com")
	}
	token := saved.Token
	switch {
	case token != "":
		if h.token != "" && h.token != token {
			h.log.Info("agent: using the saved credential; --token is not needed any more", "file", h.file())
		}
	case h.token == "":
		return nil, errors.New("--token: give the agent credential 'slipway onprem register' printed, or a user's API token (slipway token create) to register this host with")
	case strings.HasPrefix(h.token, deploy.HostTokenPrefix):
		token = h.token
	default:
		reg, err := client.New(server, h.token).RegisterHost(ctx, h.project, h.name, h.tags)
		if err != nil {
			return nil, fmt.Errorf("register this host as %s in project %s: %w", h.name, h.project, err)
		}
		token = reg.Token
		h.log.Info("agent: registered this host", "name", reg.Host.Name, "id", reg.Host.ID, "project", h.project, "tags", tagsText(reg.Host.Tags))
		if err := writeAgentFile(h.file(), agentFile{Server: server, Token: token}); err != nil {
			return nil, fmt.Errorf("registered host %s but could not keep its credential: %w; revoke it (slipway onprem revoke %s) and start the agent again", h.name, err, h.name)
		}
		return client.New(server, token), nil
	}
	if saved.Token != token || saved.Server != server {
		if err := writeAgentFile(h.file(), agentFile{Server: server, Token: token}); err != nil {
			return nil, err
		}
	}
	return client.New(server, token), nil
}

// check asks the server who the credential names: a refused one ends the
// agent, and a name or tags given that differ from the host's are
// reported, since the agent cannot change them. An unreachable server is
// only reported: the agent waits for it.
func (h *hostAgent) check(ctx context.Context, c *client.Client, nameGiven, tagsGiven bool) error {
	id, err := c.AgentHost(ctx)
	var ce *client.Error
	switch {
	case errors.As(err, &ce) && ce.Status == http.StatusUnauthorized:
		return fmt.Errorf("the server refuses the agent credential in %s (was the host revoked?): remove the file and start the agent with a user's --token to register the host again", h.file())
	case err != nil:
		h.log.Warn("agent: cannot reach the server yet; the agent will keep trying", "server", c.BaseURL, "err", err)
		return nil
	}
	if nameGiven && id.Name != h.name {
		h.log.Warn("agent: this host is registered as "+id.Name+"; --name is used only to register a host", "id", id.ID)
	}
	if tagsGiven && !maps.Equal(id.Tags, h.tags) {
		h.log.Warn("agent: --tags differ from the host's tags, which stay as they are: change them with 'slipway onprem tags "+id.Name+" ...'",
			"registered", tagsText(id.Tags), "given", tagsText(h.tags))
	}
	h.log.Info("agent: host", "name", id.Name, "id", id.ID, "tags", tagsText(id.Tags))
	return nil
}

// readAgentFile reads DATA-DIR/agent.json; a missing file is an empty one.
func readAgentFile(path string) (agentFile, error) {
	var f agentFile
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("the agent's credential: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("the agent's credential in %s: %w; remove the file to register the host again", path, err)
	}
	return f, nil
}

// writeAgentFile replaces DATA-DIR/agent.json (0600) whole: written
// aside, then renamed, so that a crash never leaves half a credential.
func writeAgentFile(path string, f agentFile) error {
	b, _ := json.MarshalIndent(f, "", "  ")
	tmp, err := os.CreateTemp(filepath.Dir(path), ".agent.json.*")
	if err != nil {
		return fmt.Errorf("save the agent's credential: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(b, '\n'))
	err = errors.Join(err, tmp.Chmod(0o600), tmp.Sync(), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("save the agent's credential in %s: %w", path, err)
	}
	return nil
}

// runInstanceAgent serves the local instance this process is in, with the
// instance's own credential over the server's socket.
func runInstanceAgent(ctx context.Context, log *slog.Logger) error {
	c, cfg, ok, err := instanceClient()
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("--instance runs inside a local instance (it reads $SLIPWAY_INSTANCE_CONFIG); on a host of your own run: slipway agent --server URL --token TOKEN")
	}
	// A namespaced instance sees its own /opt; the fallback process mode
	// has no mount namespace, and the instance's files live below its
	// root directory.
	root, prefix := instanceDeploymentRoot, ""
	if r := os.Getenv("INSTANCE_ROOT"); r != "" {
		root, prefix = filepath.Join(r, instanceDeploymentRoot), r
	}
	return runAgent(ctx, c, agent.Layout{Root: root}, prefix, log.With("instance", cfg.InstanceID))
}

// runAgent serves deployments until ctx ends, or until the server refuses
// the agent's credential.
func runAgent(ctx context.Context, c *client.Client, layout agent.Layout, prefix string, log *slog.Logger) error {
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	a := &agent.Agent{Server: &agentServer{c: c, refused: stop}, Layout: layout,
		Installer: &agent.Installer{Layout: layout, Prefix: prefix}, Log: log}
	log.Info("agent: serving deployments", "server", c.BaseURL, "deployment_root", layout.Root)
	err := a.Run(ctx)
	var refused *refusedError
	if errors.As(context.Cause(ctx), &refused) {
		return refused
	}
	return err
}

// refusedError ends the agent: the server refuses its credential, which no
// retry changes.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

// maxLogChunk keeps each log request under the server's 1 MiB bound.
const maxLogChunk = 512 << 10

// agentServer is the deployment service as the agent reaches it through
// the API.
type agentServer struct {
	c *client.Client
	// refused stops the agent.
	refused context.CancelCauseFunc
}

// answer sorts the server's refusals: a 404 or 409 (the command is gone,
// or ended) is permanent for the agent, and a 401 stops it.
func (s *agentServer) answer(err error) error {
	var ce *client.Error
	if !errors.As(err, &ce) {
		return err
	}
	switch ce.Status {
	case http.StatusUnauthorized:
		s.refused(&refusedError{msg: "the server refuses this agent's credential: the host was revoked (slipway onprem list shows it), or its instance is gone"})
	case http.StatusNotFound, http.StatusConflict:
		return &agent.PermanentError{Err: err}
	}
	return err
}

func (s *agentServer) Poll(ctx context.Context, wait time.Duration) (*agent.Command, error) {
	c, err := s.c.AgentPoll(ctx, wait)
	if err != nil || c == nil {
		return nil, s.answer(err)
	}
	return &agent.Command{ID: c.ID, Event: c.Event, DeploymentID: c.DeploymentID, ApplicationName: c.ApplicationName,
		GroupName: c.GroupName, GroupID: c.GroupID, Creator: c.Creator,
		Revision:                      agent.Revision{Digest: c.Revision.Digest, Size: c.Revision.Size, BundleType: c.Revision.BundleType},
		FileExistsBehavior:            c.FileExistsBehavior,
		IgnoreApplicationStopFailures: c.IgnoreApplicationStopFailures}, nil
}

func (s *agentServer) Ack(ctx context.Context, id string) (string, error) {
	status, err := s.c.AgentAck(ctx, id)
	return status, s.answer(err)
}

// Log sends text in pieces the server takes, cut between characters; an
// empty text is a heartbeat.
func (s *agentServer) Log(ctx context.Context, id, text string) error {
	for {
		n := len(text)
		if n > maxLogChunk {
			n = maxLogChunk
			for n > 0 && !utf8.RuneStart(text[n]) {
				n--
			}
		}
		if err := s.c.AgentLog(ctx, id, text[:n]); err != nil {
			return s.answer(err)
		}
		if text = text[n:]; text == "" {
			return nil
		}
	}
}

func (s *agentServer) Complete(ctx context.Context, id, status string, d agent.Diagnostics) error {
	return s.answer(s.c.AgentComplete(ctx, id, status,
		client.AgentDiagnostics{ErrorCode: d.ErrorCode, ScriptName: d.ScriptName, Message: d.Message, LogTail: d.LogTail}))
}

func (s *agentServer) Bundle(ctx context.Context, id string) (io.ReadCloser, error) {
	rc, err := s.c.AgentBundle(ctx, id)
	return rc, s.answer(err)
}
