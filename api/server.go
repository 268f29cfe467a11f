// Package api serves Slipway's REST API under /api/v1, Git smart HTTP under
// /git, health and metrics. Handlers are thin: decode, authorise, call a
// service, encode.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/slipway/slipway/appsvc"
	"github.com/slipway/slipway/artifact"
	"github.com/slipway/slipway/auth"
	"github.com/slipway/slipway/buildsvc"
	"github.com/slipway/slipway/deploy"
	"github.com/slipway/slipway/dnssvc"
	"github.com/slipway/slipway/fleet"
	"github.com/slipway/slipway/lbsvc"
	"github.com/slipway/slipway/pipelinesvc"
	"github.com/slipway/slipway/repo"
	"github.com/slipway/slipway/secret"
	"github.com/slipway/slipway/stacksvc"
	"github.com/slipway/slipway/store"
)

// Server holds the services the handlers call.
type Server struct {
	Auth      *auth.Service
	Repos     *repo.Service
	Secrets   *secret.Service
	Builds    *buildsvc.Service
	Stacks    *stacksvc.Service
	Pipelines *pipelinesvc.Service
	// LoadBalancers and DNS answer the read-mostly load balancer and DNS
	// endpoints (and target registration).
	LoadBalancers *lbsvc.Service
	DNS           *dnssvc.Service
	// Fleet answers instance groups and instances, and instances' signals.
	Fleet *fleet.Service
	// Deploys answers applications, deployment groups, revisions,
	// deployments and on-premises hosts, and the agents of hosts and
	// instances.
	Deploys *deploy.Service
	// Apps answers applications made from blueprints, and blueprints.
	Apps *appsvc.Service
	// Artifacts is the artifact store build artifacts are downloaded from.
	Artifacts artifact.Store
	// Console serves every path that is not the API's, Git's or the
	// server's own: the web console (which calls the API like any client).
	Console  http.Handler
	Log      *slog.Logger
	Registry *prometheus.Registry

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// route is one API endpoint; the OpenAPI test walks this table.
type route struct {
	method, pattern string
	handler         func(w http.ResponseWriter, r *http.Request, p *auth.Principal) error
	// machine routes take a machine's credential instead of a user's
	// token: an instance's, or a deployment agent's. The handler checks it
	// and audits what is worth auditing itself.
	machine bool
	// anonymous routes take no credential at all (signing in); the
	// handler audits itself.
	anonymous bool
	// bodyLimit is the most a request body may hold; 0 means
	// defaultBodyLimit.
	bodyLimit int64
}

// defaultBodyLimit bounds the body of every route that sets no bodyLimit:
// JSON requests are small.
const defaultBodyLimit = 1 << 20

func (s *Server) routes() []route {
	return []route{
		{method: "GET", pattern: "/api/v1/me", handler: s.me},
		{method: "POST", pattern: "/api/v1/sessions", handler: s.signIn, anonymous: true},
		{method: "PUT", pattern: "/api/v1/users/{name}/password", handler: s.setPassword},
		{method: "GET", pattern: "/api/v1/projects", handler: s.listProjects},
		{method: "POST", pattern: "/api/v1/projects", handler: s.createProject},
		{method: "GET", pattern: "/api/v1/projects/{project}/repos", handler: s.listRepos},
		{method: "POST", pattern: "/api/v1/projects/{project}/repos", handler: s.createRepo},
		{method: "GET", pattern: "/api/v1/projects/{project}/repos/{name}", handler: s.getRepo},
		{method: "DELETE", pattern: "/api/v1/projects/{project}/repos/{name}", handler: s.deleteRepo},
		{method: "GET", pattern: "/api/v1/projects/{project}/repos/{name}/events", handler: s.repoEvents},
		{method: "GET", pattern: "/api/v1/projects/{project}/repos/{name}/branches", handler: s.repoBranches},
		{method: "GET", pattern: "/api/v1/projects/{project}/repos/{name}/commits", handler: s.repoCommits},
		{method: "GET", pattern: "/api/v1/projects/{project}/repos/{name}/commits/{sha}", handler: s.repoCommit},
		{method: "GET", pattern: "/api/v1/projects/{project}/repos/{name}/tree", handler: s.repoTree},
		{method: "GET", pattern: "/api/v1/projects/{project}/repos/{name}/blob", handler: s.repoBlob},
		{method: "POST", pattern: "/api/v1/projects/{project}/grants", handler: s.grant},
		{method: "GET", pattern: "/api/v1/projects/{project}/grants", handler: s.listGrants},
		{method: "DELETE", pattern: "/api/v1/projects/{project}/grants/{id}", handler: s.revokeGrant},
		{method: "GET", pattern: "/api/v1/projects/{project}/secrets", handler: s.listSecrets},
		{method: "PUT", pattern: "/api/v1/projects/{project}/secrets/{name...}", handler: s.setSecret},
		{method: "DELETE", pattern: "/api/v1/projects/{project}/secrets/{name...}", handler: s.deleteSecret},
		{method: "GET", pattern: "/api/v1/projects/{project}/params", handler: s.listParams},
		{method: "GET", pattern: "/api/v1/projects/{project}/params/{name...}", handler: s.getParam},
		{method: "PUT", pattern: "/api/v1/projects/{project}/params/{name...}", handler: s.setParam},
		{method: "DELETE", pattern: "/api/v1/projects/{project}/params/{name...}", handler: s.deleteParam},
		{method: "GET", pattern: "/api/v1/projects/{project}/build-projects", handler: s.listBuildProjects},
		{method: "POST", pattern: "/api/v1/projects/{project}/build-projects", handler: s.createBuildProject},
		{method: "GET", pattern: "/api/v1/projects/{project}/build-projects/{name}", handler: s.getBuildProject},
		{method: "DELETE", pattern: "/api/v1/projects/{project}/build-projects/{name}", handler: s.deleteBuildProject},
		{method: "GET", pattern: "/api/v1/projects/{project}/build-projects/{name}/builds", handler: s.listBuilds},
		{method: "POST", pattern: "/api/v1/projects/{project}/build-projects/{name}/builds", handler: s.startBuild, bodyLimit: maxSourceUpload},
		{method: "GET", pattern: "/api/v1/projects/{project}/builds/{id}", handler: s.getBuild},
		{method: "POST", pattern: "/api/v1/projects/{project}/builds/{id}/stop", handler: s.stopBuild},
		{method: "GET", pattern: "/api/v1/projects/{project}/builds/{id}/logs", handler: s.buildLogs},
		{method: "GET", pattern: "/api/v1/projects/{project}/builds/{id}/artifacts/{name}", handler: s.buildArtifact},
		{method: "GET", pattern: "/api/v1/projects/{project}/stacks", handler: s.listStacks},
		{method: "GET", pattern: "/api/v1/projects/{project}/stacks/{name}", handler: s.getStack},
		{method: "PUT", pattern: "/api/v1/projects/{project}/stacks/{name}", handler: s.deployStack},
		{method: "DELETE", pattern: "/api/v1/projects/{project}/stacks/{name}", handler: s.deleteStack},
		{method: "GET", pattern: "/api/v1/projects/{project}/stacks/{name}/events", handler: s.stackEvents},
		{method: "GET", pattern: "/api/v1/projects/{project}/stacks/{name}/resources", handler: s.stackResources},
		{method: "POST", pattern: "/api/v1/projects/{project}/stacks/{name}/plan", handler: s.planStack},
		{method: "POST", pattern: "/api/v1/projects/{project}/stacks/{name}/signals", handler: s.signalStack},
		{method: "GET", pattern: "/api/v1/projects/{project}/stacks/{name}/change-sets", handler: s.listChangeSets},
		{method: "POST", pattern: "/api/v1/projects/{project}/stacks/{name}/change-sets", handler: s.createChangeSet},
		{method: "GET", pattern: "/api/v1/projects/{project}/stacks/{name}/change-sets/{cs}", handler: s.getChangeSet},
		{method: "DELETE", pattern: "/api/v1/projects/{project}/stacks/{name}/change-sets/{cs}", handler: s.deleteChangeSet},
		{method: "POST", pattern: "/api/v1/projects/{project}/stacks/{name}/change-sets/{cs}/execute", handler: s.executeChangeSet},
		{method: "GET", pattern: "/api/v1/projects/{project}/exports", handler: s.listExports},
		{method: "POST", pattern: "/api/v1/projects/{project}/templates/validate", handler: s.validateTemplate},
		{method: "GET", pattern: "/api/v1/projects/{project}/pipelines", handler: s.listPipelines},
		{method: "POST", pattern: "/api/v1/projects/{project}/pipelines", handler: s.createPipeline},
		{method: "GET", pattern: "/api/v1/projects/{project}/pipelines/{name}", handler: s.getPipeline},
		{method: "DELETE", pattern: "/api/v1/projects/{project}/pipelines/{name}", handler: s.deletePipeline},
		{method: "GET", pattern: "/api/v1/projects/{project}/pipelines/{name}/executions", handler: s.listExecutions},
		{method: "POST", pattern: "/api/v1/projects/{project}/pipelines/{name}/executions", handler: s.startPipeline},
		{method: "POST", pattern: "/api/v1/projects/{project}/pipelines/{name}/approvals", handler: s.decideApproval},
		{method: "POST", pattern: "/api/v1/projects/{project}/pipelines/{name}/transitions", handler: s.setTransition},
		{method: "GET", pattern: "/api/v1/projects/{project}/pipeline-executions/{id}", handler: s.getExecution},
		{method: "POST", pattern: "/api/v1/projects/{project}/pipeline-executions/{id}/retry", handler: s.retryExecution},
		{method: "POST", pattern: "/api/v1/projects/{project}/pipeline-executions/{id}/stop", handler: s.stopExecution},
		{method: "GET", pattern: "/api/v1/projects/{project}/load-balancers", handler: s.listLoadBalancers},
		{method: "GET", pattern: "/api/v1/projects/{project}/load-balancers/{name}", handler: s.getLoadBalancer},
		{method: "GET", pattern: "/api/v1/projects/{project}/target-groups", handler: s.listTargetGroups},
		{method: "GET", pattern: "/api/v1/projects/{project}/target-groups/{name}/targets", handler: s.targetHealth},
		{method: "POST", pattern: "/api/v1/projects/{project}/target-groups/{name}/targets", handler: s.registerTargets},
		{method: "POST", pattern: "/api/v1/projects/{project}/target-groups/{name}/targets/deregister", handler: s.deregisterTargets},
		{method: "GET", pattern: "/api/v1/projects/{project}/hosted-zones", handler: s.listHostedZones},
		{method: "GET", pattern: "/api/v1/projects/{project}/hosted-zones/{zone}", handler: s.getHostedZone},
		{method: "GET", pattern: "/api/v1/projects/{project}/instance-groups", handler: s.listGroups},
		{method: "GET", pattern: "/api/v1/projects/{project}/instance-groups/{name}", handler: s.getGroup},
		{method: "PUT", pattern: "/api/v1/projects/{project}/instance-groups/{name}/desired-capacity", handler: s.setCapacity},
		{method: "GET", pattern: "/api/v1/projects/{project}/instances/{id}", handler: s.getInstance},
		{method: "GET", pattern: "/api/v1/projects/{project}/instances/{id}/console", handler: s.instanceConsole},
		{method: "POST", pattern: "/api/v1/projects/{project}/instances/{id}/terminate", handler: s.terminateInstance},
		{method: "GET", pattern: "/api/v1/projects/{project}/applications", handler: s.listApplications},
		{method: "POST", pattern: "/api/v1/projects/{project}/applications", handler: s.createApplication},
		{method: "GET", pattern: "/api/v1/projects/{project}/applications/{app}", handler: s.getApplication},
		{method: "DELETE", pattern: "/api/v1/projects/{project}/applications/{app}", handler: s.deleteApplication},
		{method: "GET", pattern: "/api/v1/projects/{project}/applications/{app}/deployment-groups", handler: s.listDeploymentGroups},
		{method: "GET", pattern: "/api/v1/projects/{project}/applications/{app}/deployment-groups/{group}", handler: s.getDeploymentGroup},
		{method: "GET", pattern: "/api/v1/projects/{project}/applications/{app}/revisions", handler: s.listRevisions},
		{method: "POST", pattern: "/api/v1/projects/{project}/applications/{app}/revisions", handler: s.uploadRevision, bodyLimit: maxRevisionUpload},
		{method: "GET", pattern: "/api/v1/projects/{project}/deployment-configs", handler: s.listDeploymentConfigs},
		{method: "POST", pattern: "/api/v1/projects/{project}/deployment-configs", handler: s.createDeploymentConfig},
		{method: "GET", pattern: "/api/v1/projects/{project}/deployments", handler: s.listDeployments},
		{method: "POST", pattern: "/api/v1/projects/{project}/deployments", handler: s.createDeployment},
		{method: "GET", pattern: "/api/v1/projects/{project}/deployments/{id}", handler: s.getDeployment},
		{method: "POST", pattern: "/api/v1/projects/{project}/deployments/{id}/stop", handler: s.stopDeployment},
		{method: "GET", pattern: "/api/v1/projects/{project}/deployments/{id}/instances", handler: s.deploymentInstances},
		{method: "GET", pattern: "/api/v1/projects/{project}/deployments/{id}/logs", handler: s.deploymentLogs},
		{method: "GET", pattern: "/api/v1/projects/{project}/on-premises-instances", handler: s.listHosts},
		{method: "POST", pattern: "/api/v1/projects/{project}/on-premises-instances", handler: s.registerHost},
		{method: "PUT", pattern: "/api/v1/projects/{project}/on-premises-instances/{name}/tags", handler: s.setHostTags},
		{method: "DELETE", pattern: "/api/v1/projects/{project}/on-premises-instances/{name}", handler: s.revokeHost},
		{method: "GET", pattern: "/api/v1/projects/{project}/apps", handler: s.listApps},
		{method: "POST", pattern: "/api/v1/projects/{project}/apps", handler: s.createApp},
		{method: "GET", pattern: "/api/v1/projects/{project}/apps/{name}", handler: s.getApp},
		{method: "DELETE", pattern: "/api/v1/projects/{project}/apps/{name}", handler: s.deleteApp},
		{method: "GET", pattern: "/api/v1/projects/{project}/blueprints", handler: s.listBlueprints},
		{method: "POST", pattern: "/api/v1/projects/{project}/blueprints", handler: s.addBlueprint, bodyLimit: appsvc.MaxBlueprintArchive},
		{method: "GET", pattern: "/api/v1/projects/{project}/blueprints/{name}", handler: s.getBlueprint},
		{method: "POST", pattern: "/api/v1/instance/signal", handler: s.instanceSignal, machine: true},
		{method: "GET", pattern: "/api/v1/agent/host", handler: s.agentHost, machine: true},
		{method: "GET", pattern: "/api/v1/agent/commands", handler: s.agentPoll, machine: true},
		{method: "POST", pattern: "/api/v1/agent/commands/{id}/ack", handler: s.agentAck, machine: true},
		{method: "POST", pattern: "/api/v1/agent/commands/{id}/log", handler: s.agentLog, machine: true},
		{method: "POST", pattern: "/api/v1/agent/commands/{id}/complete", handler: s.agentComplete, machine: true},
		{method: "GET", pattern: "/api/v1/agent/commands/{id}/bundle", handler: s.agentBundle, machine: true},
		{method: "GET", pattern: "/api/v1/users", handler: s.listUsers},
		{method: "POST", pattern: "/api/v1/users", handler: s.createUser},
		{method: "GET", pattern: "/api/v1/tokens", handler: s.listTokens},
		{method: "POST", pattern: "/api/v1/tokens", handler: s.createToken},
		{method: "DELETE", pattern: "/api/v1/tokens/{id}", handler: s.revokeToken},
		{method: "GET", pattern: "/api/v1/teams", handler: s.listTeams},
		{method: "POST", pattern: "/api/v1/teams", handler: s.createTeam},
		{method: "POST", pattern: "/api/v1/teams/{team}/members", handler: s.addMember},
		{method: "GET", pattern: "/api/v1/audit", handler: s.auditLog},
	}
}

// Handler returns the whole HTTP surface of the server.
func (s *Server) Handler() http.Handler {
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "slipway_http_requests_total", Help: "HTTP requests by route and status code.",
	}, []string{"route", "code"})
	s.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "slipway_http_request_duration_seconds", Help: "HTTP request duration by route.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
	}, []string{"route"})
	s.Registry.MustRegister(s.requests, s.duration)

	mux := http.NewServeMux()
	handle := func(pattern string, h http.Handler) { mux.Handle(pattern, s.instrument(pattern, h)) }
	handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	}))
	// Metrics hold only aggregate counts, so any valid token may scrape them
	// (a user with no grants is enough); anonymous scrapes are refused.
	metrics := promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{})
	handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err == nil && p == nil {
			err = &Error{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "authentication required: scrape with 'Authorization: Bearer TOKEN'"}
		}
		if err != nil {
			writeError(w, err)
			return
		}
		metrics.ServeHTTP(w, r)
	}))
	handle("GET /api/v1/openapi.json", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	}))
	for _, rt := range s.routes() {
		handle(rt.method+" "+rt.pattern, s.apiHandler(rt))
	}
	handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such API endpoint: " + r.Method + " " + r.URL.Path})
	}))
	handle("/git/", http.HandlerFunc(s.git))
	if s.Console != nil {
		handle("/", s.Console)
	}
	return mux
}

// instrument counts requests by their route pattern, never by raw path, so
// metric cardinality stays bounded.
func (s *Server) instrument(pattern string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		s.Log.Debug("request", "method", r.Method, "route", pattern, "status", sw.status,
			"duration", time.Since(start), "remote", remoteAddr(r))
		s.requests.WithLabelValues(pattern, strconv.Itoa(sw.status)).Inc()
		s.duration.WithLabelValues(pattern).Observe(time.Since(start).Seconds())
	})
}

// apiHandler authenticates, runs the handler, renders its error, and writes
// every state-changing request to the audit log.
func (s *Server) apiHandler(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		p, err := s.authenticate(r)
		if err == nil && p == nil && !rt.machine && !rt.anonymous {
			err = &Error{Status: http.StatusUnauthorized, Code: "unauthenticated",
				Message: "authentication required: send an API token as 'Authorization: Bearer TOKEN' (slipway token create)"}
		}
		if err == nil {
			limit := rt.bodyLimit
			if limit == 0 {
				limit = defaultBodyLimit
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
			err = rt.handler(sw, r, p)
		}
		if err != nil {
			writeError(sw, err)
			if st := sw.status; st >= 500 {
				s.Log.Error("request failed", "method", r.Method, "route", rt.pattern, "err", err)
			}
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !rt.machine && !rt.anonymous {
			s.audit(r, p, r.Method+" "+rt.pattern, r.URL.Path, sw.status)
		}
	})
}

func (s *Server) audit(r *http.Request, p *auth.Principal, action, target string, status int) {
	actor := "anonymous"
	if p != nil {
		actor = p.Name
	}
	s.auditAs(r, actor, action, target, status)
}

// auditAs records an action by actor.
func (s *Server) auditAs(r *http.Request, actor, action, target string, status int) {
	outcome := "success"
	if status >= 400 {
		outcome = "failure"
	}
	// The audit entry must not be lost because the client went away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if err := s.Auth.Audit(ctx, auth.AuditEntry{Actor: actor, Action: action, Target: target,
		RemoteAddr: remoteAddr(r), Outcome: outcome, Status: status}); err != nil {
		s.Log.Error("audit write failed", "action", action, "err", err)
	}
}

// authenticate reads an API token from a Bearer header or from the password
// of Basic auth (what git sends). No credentials yields a nil principal.
func (s *Server) authenticate(r *http.Request) (*auth.Principal, error) {
	token := ""
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		token = strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
	} else if _, pw, ok := r.BasicAuth(); ok {
		token = pw
	} else if h != "" {
		return nil, &Error{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "unsupported Authorization scheme: use Bearer TOKEN"}
	}
	// An instance's or a deployment agent's credential is no user's: it is
	// checked by the machine routes that take it, and is anonymous
	// everywhere else, so a leaked one can do nothing more.
	if token == "" || strings.HasPrefix(token, fleet.TokenPrefix) || strings.HasPrefix(token, deploy.HostTokenPrefix) {
		return nil, nil
	}
	p, err := s.Auth.Authenticate(r.Context(), token)
	if errors.Is(err, auth.ErrUnauthenticated) {
		return nil, &Error{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "invalid or revoked API token"}
	}
	return p, err
}

// consoleConn marks the context of a connection from the server's own web
// console, which names the browser's address in X-Forwarded-For.
type consoleConn struct{}

// ConsoleConnContext is the http.Server ConnContext of the listener only
// the console dials: on its connections, and on no others, the API takes
// X-Forwarded-For as the caller's address (for the audit log and logs).
func ConsoleConnContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, consoleConn{}, true)
}

// remoteAddr is the caller's address: the browser's when the console
// forwards a request, else the connection's peer.
func remoteAddr(r *http.Request) string {
	if r.Context().Value(consoleConn{}) == true {
		if f, _, _ := strings.Cut(r.Header.Get("X-Forwarded-For"), ","); strings.TrimSpace(f) != "" {
			return strings.TrimSpace(f)
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Error is an API error with its HTTP status and a stable code.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

func badRequest(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Message: fmt.Sprintf(format, args...)}
}

// writeError renders any error in the one error shape of the API.
func writeError(w http.ResponseWriter, err error) {
	e := toAPIError(err)
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="slipway"`)
	}
	writeJSON(w, e.Status, map[string]any{"error": map[string]string{"code": e.Code, "message": e.Message}})
}

func toAPIError(err error) *Error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, auth.ErrHidden), errors.Is(err, store.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: notFoundMessage(err)}
	case errors.Is(err, auth.ErrForbidden):
		return &Error{Status: http.StatusForbidden, Code: "forbidden", Message: "permission denied: ask an admin of the resource for a role that allows this"}
	case errors.Is(err, auth.ErrUnauthenticated):
		return &Error{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: err.Error()}
	case errors.Is(err, store.ErrConflict):
		return &Error{Status: http.StatusConflict, Code: "conflict", Message: strings.SplitN(err.Error(), ": already exists", 2)[0] + ": already exists"}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error; the server log has the details"}
}

func notFoundMessage(err error) string {
	var nf *notFound
	if errors.As(err, &nf) {
		return nf.what + " not found"
	}
	return "not found"
}

// notFound names what was missing without leaking more than the caller asked for.
type notFound struct{ what string }

func (e *notFound) Error() string { return e.what + " not found" }
func (e *notFound) Unwrap() error { return store.ErrNotFound }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("request body: %v", err)
	}
	return nil
}

type statusWriter struct {
	http.ResponseWriter
	status  int
	written bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.written {
		w.status, w.written = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.written = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush on the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
