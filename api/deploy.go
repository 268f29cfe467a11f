package api

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/agent"
	"github.com/slipway/slipway/auth"
	"github.com/slipway/slipway/deploy"
	"github.com/slipway/slipway/fleet"
	"github.com/slipway/slipway/store"
)

// maxRevisionUpload bounds an uploaded revision, as CodeDeploy bounds a
// revision bundle in S3 for EC2/on-premises deployments (1 GB).
const maxRevisionUpload = 1 << 30

// revisionTypes are the Content-Types a revision upload may carry: the
// archive's format is read from its first bytes, not from them.
var revisionTypes = []string{"application/zip", "application/x-tar", "application/gzip", "application/octet-stream"}

// deployError turns the deployment service's errors into API errors.
//
// The service wraps store.ErrNotFound and store.ErrConflict either under a
// bare name ("application web: not found") or under a sentence that says
// what is in the way and what to do ("application web has a deployment in
// progress; stop it first (slipway deploy stop): already exists"). The
// sentence is answered as it is, the name with what happened to it; the
// database driver's words after the sentinel never reach the caller. With
// input, any other error is the caller's mistake (the service validates
// what it is given); without, it is the server's.
func deployError(err error, input bool) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, deploy.ErrActive):
		return &Error{Status: http.StatusConflict, Code: "conflict", Message: sayWhy(err, deploy.ErrActive, "")}
	case errors.Is(err, store.ErrConflict):
		return &Error{Status: http.StatusConflict, Code: "conflict", Message: sayWhy(err, store.ErrConflict, "already exists")}
	case errors.Is(err, store.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: sayWhy(err, store.ErrNotFound, "not found")}
	case input && !errors.Is(err, context.Canceled):
		return badRequest("%v", err)
	}
	return err
}

// sayWhy is err's message up to sentinel: a sentence as it is, a bare name
// followed by what.
func sayWhy(err, sentinel error, what string) string {
	msg, _, _ := strings.Cut(err.Error(), ": "+sentinel.Error())
	if what == "" || explains(msg) {
		return msg
	}
	return msg + " " + what
}

// explains reports whether a message of the deployment service is a
// sentence rather than a name: names ("deployment group g of application
// a") hold none of these.
func explains(msg string) bool {
	return strings.ContainsAny(msg, ";(") || strings.Contains(msg, " is ") || strings.Contains(msg, " has ") ||
		strings.Contains(msg, " already ")
}

func (s *Server) listApplications(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	as, err := s.Deploys.Applications(r.Context(), pr.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, as)
	return nil
}

func (s *Server) createApplication(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Write, r.PathValue("project"))
	if err != nil {
		return err
	}
	var req struct {
		Name string `json:"name"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	a, err := s.Deploys.CreateApplication(r.Context(), pr.ID, req.Name, "")
	if err != nil {
		return deployError(err, true)
	}
	writeJSON(w, http.StatusCreated, a)
	return nil
}

func (s *Server) getApplication(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	a, err := s.Deploys.Application(r.Context(), pr.ID, r.PathValue("app"))
	if err != nil {
		return deployError(err, false)
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) deleteApplication(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Write, r.PathValue("project"))
	if err != nil {
		return err
	}
	if err := s.Deploys.DeleteApplication(r.Context(), pr.ID, r.PathValue("app")); err != nil {
		return deployError(err, false)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listDeploymentGroups(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	gs, err := s.Deploys.Groups(r.Context(), pr.ID, r.PathValue("app"))
	if err != nil {
		return deployError(err, false)
	}
	writeJSON(w, http.StatusOK, gs)
	return nil
}

func (s *Server) getDeploymentGroup(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	g, err := s.Deploys.Group(r.Context(), pr.ID, r.PathValue("app"), r.PathValue("group"))
	if err != nil {
		return deployError(err, false)
	}
	writeJSON(w, http.StatusOK, g)
	return nil
}

func (s *Server) listRevisions(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	rs, err := s.Deploys.Revisions(r.Context(), pr.ID, r.PathValue("app"))
	if err != nil {
		return deployError(err, false)
	}
	writeJSON(w, http.StatusOK, rs)
	return nil
}

// uploadRevision registers the archive sent as the body with the
// application; deployments then name it by the digest answered.
func (s *Server) uploadRevision(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Write, r.PathValue("project"))
	if err != nil {
		return err
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if !slices.Contains(revisionTypes, mt) {
		return &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
			Message: "send the revision as the body, a zip, tar or tgz archive with appspec.yml at its root, with Content-Type " + strings.Join(revisionTypes, ", ")}
	}
	ri, err := s.Deploys.RegisterRevision(r.Context(), pr.ID, r.PathValue("app"), r.Body, r.URL.Query().Get("description"))
	if errors.As(err, new(*http.MaxBytesError)) {
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: "the revision is larger than 1 GiB"}
	}
	if err != nil {
		return deployError(err, true)
	}
	writeJSON(w, http.StatusCreated, ri)
	return nil
}

func (s *Server) listDeploymentConfigs(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	cs, err := s.Deploys.Configs(r.Context(), pr.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, cs)
	return nil
}

// deploymentConfigRequest is the body of POST .../deployment-configs.
type deploymentConfigRequest struct {
	Name                string                     `json:"name"`
	MinimumHealthyHosts deploy.MinimumHealthyHosts `json:"minimum_healthy_hosts"`
}

func (s *Server) createDeploymentConfig(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Write, r.PathValue("project"))
	if err != nil {
		return err
	}
	var req deploymentConfigRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	c, err := s.Deploys.CreateConfig(r.Context(), pr.ID, deploy.DeploymentConfig{Name: req.Name, MinimumHealthyHosts: req.MinimumHealthyHosts})
	if err != nil {
		return deployError(err, true)
	}
	writeJSON(w, http.StatusCreated, c)
	return nil
}

func (s *Server) listDeployments(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	limit, err := intParam(r, "limit", 0)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	ds, err := s.Deploys.List(r.Context(), pr.ID, q.Get("application"), q.Get("group"), limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ds)
	return nil
}

// createDeploymentRequest is the body of POST .../deployments.
type createDeploymentRequest struct {
	Application                   string `json:"application"`
	Group                         string `json:"deployment_group"`
	Revision                      string `json:"revision"`
	Description                   string `json:"description"`
	FileExistsBehavior            string `json:"file_exists_behavior"`
	IgnoreApplicationStopFailures bool   `json:"ignore_application_stop_failures"`
	// AutoRollback overrides the group's when present.
	AutoRollback *deploy.AutoRollback `json:"auto_rollback"`
}

func (req *createDeploymentRequest) check() error {
	switch {
	case req.Application == "":
		return badRequest("application: name the application to deploy")
	case req.Group == "":
		return badRequest("deployment_group: name the deployment group to deploy to")
	case req.Revision == "":
		return badRequest("revision: give the digest of a revision registered with application %s (POST .../applications/%s/revisions uploads one)", req.Application, req.Application)
	}
	if ar := req.AutoRollback; ar != nil {
		for _, e := range ar.Events {
			if e != deploy.RollbackOnFailure && e != deploy.RollbackOnStop && e != deploy.RollbackOnAlarm {
				return badRequest("auto_rollback event %s: use %s, %s or %s", e, deploy.RollbackOnFailure, deploy.RollbackOnStop, deploy.RollbackOnAlarm)
			}
		}
		if ar.Enabled && len(ar.Events) == 0 {
			return badRequest("auto_rollback is enabled with no events: name %s and/or %s", deploy.RollbackOnFailure, deploy.RollbackOnStop)
		}
	}
	return nil
}

func (s *Server) createDeployment(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Write, r.PathValue("project"))
	if err != nil {
		return err
	}
	var req createDeploymentRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := req.check(); err != nil {
		return err
	}
	d, err := s.Deploys.Create(r.Context(), pr.ID, deploy.CreateInput{Application: req.Application, Group: req.Group, Digest: req.Revision,
		Creator: deploy.CreatorUser, CreatedBy: p.Name, Options: deploy.Options{Description: req.Description, FileExistsBehavior: req.FileExistsBehavior,
			AutoRollback: req.AutoRollback, IgnoreApplicationStopFailures: req.IgnoreApplicationStopFailures}})
	if err != nil {
		return deployError(err, true)
	}
	writeJSON(w, http.StatusCreated, d)
	return nil
}

func (s *Server) getDeployment(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	d, err := s.Deploys.Get(r.Context(), pr.ID, r.PathValue("id"))
	if err != nil {
		return deployError(err, false)
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) stopDeployment(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Write, r.PathValue("project"))
	if err != nil {
		return err
	}
	var req struct {
		Rollback bool `json:"rollback"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	d, err := s.Deploys.Stop(r.Context(), pr.ID, r.PathValue("id"), req.Rollback)
	if err != nil {
		return deployError(err, false)
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) deploymentInstances(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	ts, err := s.Deploys.Targets(r.Context(), pr.ID, r.PathValue("id"))
	if err != nil {
		return deployError(err, false)
	}
	writeJSON(w, http.StatusOK, ts)
	return nil
}

// deploymentLogs is the answer of GET .../deployments/{id}/logs.
type deploymentLogs struct {
	// Status is the deployment's, read before the chunks: once it has
	// ended, the chunks read after it are all there will be.
	Status string            `json:"deployment_status"`
	Chunks []deploy.LogChunk `json:"chunks"`
}

// deploymentLogs answers an instance's script output in a deployment,
// the chunks after ?after=SEQ.
func (s *Server) deploymentLogs(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	instance := r.URL.Query().Get("instance")
	if instance == "" {
		return badRequest("instance: name the instance whose script output to read (GET .../deployments/%s/instances lists them)", r.PathValue("id"))
	}
	var after int64
	if a := r.URL.Query().Get("after"); a != "" {
		if after, err = strconv.ParseInt(a, 10, 64); err != nil || after < 0 {
			return badRequest("after %q: want the seq of the last chunk read (0 or more)", a)
		}
	}
	d, err := s.Deploys.Get(r.Context(), pr.ID, r.PathValue("id"))
	if err != nil {
		return deployError(err, false)
	}
	cs, err := s.Deploys.Logs(r.Context(), pr.ID, d.ID, instance, after)
	if err != nil {
		return deployError(err, false)
	}
	writeJSON(w, http.StatusOK, deploymentLogs{Status: d.Status, Chunks: cs})
	return nil
}

func (s *Server) listHosts(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	hs, err := s.Deploys.Hosts(r.Context(), pr.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, hs)
	return nil
}

// hostRequest is the body of POST .../on-premises-instances and of PUT
// .../on-premises-instances/{name}/tags (which has no name).
type hostRequest struct {
	Name string            `json:"name"`
	Tags map[string]string `json:"tags"`
}

func checkTags(tags map[string]string) error {
	if _, ok := tags[""]; ok {
		return badRequest("tags: every tag needs a key")
	}
	return nil
}

// hostRegistration is the answer of POST .../on-premises-instances.
type hostRegistration struct {
	Host *deploy.Host `json:"host"`
	// Token is the host's agent credential; only its hash is kept, so it
	// is shown this once.
	Token string `json:"token"`
}

func (s *Server) registerHost(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Write, r.PathValue("project"))
	if err != nil {
		return err
	}
	var req hostRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkTags(req.Tags); err != nil {
		return err
	}
	h, token, err := s.Deploys.RegisterHost(r.Context(), pr.ID, req.Name, req.Tags, p.Name)
	if err != nil {
		return deployError(err, true)
	}
	writeJSON(w, http.StatusCreated, hostRegistration{Host: h, Token: token})
	return nil
}

func (s *Server) setHostTags(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Write, r.PathValue("project"))
	if err != nil {
		return err
	}
	var req struct {
		Tags map[string]string `json:"tags"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := checkTags(req.Tags); err != nil {
		return err
	}
	h, err := s.Deploys.SetHostTags(r.Context(), pr.ID, r.PathValue("name"), req.Tags)
	if err != nil {
		return deployError(err, true)
	}
	writeJSON(w, http.StatusOK, h)
	return nil
}

func (s *Server) revokeHost(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pr, err := s.projectFor(r.Context(), p, auth.Write, r.PathValue("project"))
	if err != nil {
		return err
	}
	if err := s.Deploys.RevokeHost(r.Context(), pr.ID, r.PathValue("name")); err != nil {
		return deployError(err, false)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// agentIdentity is who an agent's credential names: the host its
// commands are addressed to.
type agentIdentity struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Kind is "on-premises" (a standalone agent's host) or "instance" (an
	// instance of an instance group).
	Kind string            `json:"kind"`
	Tags map[string]string `json:"tags,omitempty"`
}

// agentCredential says what agent routes take, for a refused one.
const agentCredential = "this endpoint takes a deployment agent's credential: an on-premises host's (" + deploy.HostTokenPrefix +
	"..., printed once by 'slipway onprem register'), or an instance's own (" + fleet.TokenPrefix + "...); a revoked host's is refused"

// agentFor authenticates an agent route's credential, an instance's or an
// on-premises host's, never a user's token.
func (s *Server) agentFor(r *http.Request) (*agentIdentity, error) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	token = strings.TrimSpace(token)
	switch {
	case !ok:
	case strings.HasPrefix(token, fleet.TokenPrefix) && s.Fleet != nil:
		if in, _, err := s.Fleet.Authenticate(r.Context(), token); err == nil {
			return &agentIdentity{ID: in.ID, Name: in.ID, Kind: "instance"}, nil
		}
	case strings.HasPrefix(token, deploy.HostTokenPrefix):
		if h, err := s.Deploys.AuthenticateHost(r.Context(), token); err == nil {
			return &agentIdentity{ID: h.ID, Name: h.Name, Kind: "on-premises", Tags: h.Tags}, nil
		}
	}
	return nil, &Error{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: agentCredential}
}

// agentHost answers who the credential names, so that an agent can check
// its credential and its host's tags when it starts.
func (s *Server) agentHost(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	id, err := s.agentFor(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, id)
	return nil
}

// agentPoll hands out the host's next command, waiting up to ?wait=SECONDS
// (at most the service's MaxPoll) for one: 204 when none came.
func (s *Server) agentPoll(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	id, err := s.agentFor(r)
	if err != nil {
		return err
	}
	secs, err := intParam(r, "wait", 0)
	if err != nil {
		return err
	}
	wait := min(time.Duration(secs)*time.Second, s.Deploys.MaxPoll())
	c, err := s.Deploys.Poll(r.Context(), id.ID, wait)
	if err != nil && r.Context().Err() != nil {
		return nil // the agent hung up; nobody reads an answer
	}
	if err != nil {
		return err
	}
	if c == nil {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

// agentAck answers the status of a command the agent is about to run.
func (s *Server) agentAck(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	id, err := s.agentFor(r)
	if err != nil {
		return err
	}
	status, err := s.Deploys.Ack(r.Context(), id.ID, r.PathValue("id"))
	if err != nil {
		return deployError(err, false)
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": status})
	return nil
}

// agentLog keeps a chunk of a running command's script output, the body
// as text; an empty body is a heartbeat.
func (s *Server) agentLog(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	id, err := s.agentFor(r)
	if err != nil {
		return err
	}
	text, err := io.ReadAll(r.Body)
	if errors.As(err, new(*http.MaxBytesError)) {
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: "a log chunk is at most 1 MiB: send longer output in several"}
	}
	if err != nil {
		return badRequest("request body: %v", err)
	}
	if err := s.Deploys.AppendLog(r.Context(), id.ID, r.PathValue("id"), strings.ToValidUTF8(string(text), "\uFFFD")); err != nil {
		return deployError(err, false)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// completeRequest is the body of POST /api/v1/agent/commands/{id}/complete.
type completeRequest struct {
	Status      string            `json:"status"`
	Diagnostics agent.Diagnostics `json:"diagnostics"`
}

// agentComplete records a command's outcome. It is audited, as the agent
// of its host: it decides a deployment's course.
func (s *Server) agentComplete(w http.ResponseWriter, r *http.Request, _ *auth.Principal) (err error) {
	const action = "POST /api/v1/agent/commands/{id}/complete"
	var who *auth.Principal
	defer func() {
		status := http.StatusNoContent
		if err != nil {
			status = toAPIError(err).Status
		}
		s.audit(r, who, action, r.URL.Path, status)
	}()
	id, err := s.agentFor(r)
	if err != nil {
		return err
	}
	who = &auth.Principal{Name: "agent:" + id.ID}
	var req completeRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := s.Deploys.Complete(r.Context(), id.ID, r.PathValue("id"), req.Status, req.Diagnostics); err != nil {
		return deployError(err, true)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// agentBundle streams the revision of a command's deployment.
func (s *Server) agentBundle(w http.ResponseWriter, r *http.Request, _ *auth.Principal) error {
	id, err := s.agentFor(r)
	if err != nil {
		return err
	}
	rc, err := s.Deploys.Bundle(r.Context(), id.ID, r.PathValue("id"))
	if err != nil {
		return deployError(err, false)
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	if _, err := io.Copy(w, rc); err != nil && r.Context().Err() == nil {
		// The status is sent: the agent sees a short body, whose digest it
		// checks.
		s.Log.Warn("agent bundle: send the revision", "command", r.PathValue("id"), "host", id.ID, "err", err)
	}
	return nil
}
