package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v4"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/appsvc"
	"github.com/slipway/slipway/artifact"
	"github.com/slipway/slipway/auth"
	"github.com/slipway/slipway/bucket"
	"github.com/slipway/slipway/build"
	"github.com/slipway/slipway/buildsvc"
	"github.com/slipway/slipway/deploy"
	"github.com/slipway/slipway/dnssvc"
	"github.com/slipway/slipway/events"
	"github.com/slipway/slipway/jobs"
	"github.com/slipway/slipway/lbsvc"
	"github.com/slipway/slipway/pipeline"
	"github.com/slipway/slipway/pipelinesvc"
	"github.com/slipway/slipway/providers"
	"github.com/slipway/slipway/repo"
	"github.com/slipway/slipway/secret"
	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/stacksvc"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/template"
	"github.com/slipway/slipway/web"
)

type serverConfig struct {
	data, listen, database string
	tlsCert, tlsKey        string
	secretKeyFile          string
	logFormat, logLevel    string
	configFile             string
	artifactStore          string
	dockerNetwork          string
	lbListenHost           string
	lbPortMap              string
	lbAccessLog            bool
	dnsListen              string
	keepInstances          bool
	agentTimeout           time.Duration
}

func serverCommand(up bool) *cobra.Command {
	cfg := &serverConfig{}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Slipway server",
		Long: "Run the Slipway server. Every flag may also come from an environment variable\n" +
			"(SLIPWAY_ and the flag name in capitals, dashes as underscores: SLIPWAY_LISTEN, SLIPWAY_TLS_CERT)\n" +
			"or from a YAML config file (--config FILE) whose keys are the flag names.\n" +
			"Precedence: flag, then environment, then config file, then default.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := resolveFlags(cmd.Flags(), cfg.configFile); err != nil {
				return err
			}
			return runServer(cmd.Context(), cfg, up)
		},
	}
	if up {
		cmd.Use = "up"
		cmd.Short = "Run Slipway with its embedded defaults (SQLite, local data directory)"
	}
	f := cmd.Flags()
	f.StringVar(&cfg.data, "data", ".slipway", "data directory")
	f.StringVar(&cfg.listen, "listen", "127.0.0.1:8080", "address to serve HTTP on")
	f.StringVar(&cfg.database, "database", "", "database: a postgres:// URL, or a SQLite file (default DATA/slipway.db)")
	f.StringVar(&cfg.tlsCert, "tls-cert", "", "TLS certificate file (serve HTTPS with --tls-key)")
	f.StringVar(&cfg.tlsKey, "tls-key", "", "TLS private key file")
	f.StringVar(&cfg.secretKeyFile, "secret-key-file", "", "the key sealing secrets (default DATA/secret.key, made on first start); keep it out of database backups")
	f.StringVar(&cfg.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&cfg.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&cfg.configFile, "config", "", "YAML config file")
	f.StringVar(&cfg.artifactStore, "artifact-store", "", "where artifacts go: empty for DATA/artifacts, or s3://BUCKET/PREFIX?endpoint=URL&region=R&path-style=true (credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or the AWS SDK's usual chain)")
	f.StringVar(&cfg.dockerNetwork, "docker-network", "none", "network of build containers when a project's image runs on Docker: none, bridge, host or a network of the engine")
	f.StringVar(&cfg.lbListenHost, "lb-listen-host", "127.0.0.1", "host that load balancer listener ports are served on")
	f.StringVar(&cfg.lbPortMap, "lb-port-map", "80=8081,443=8444", "local ports (or HOST:PORT) serving load balancer listener ports that need privileges, as LISTENER=LOCAL,...; other listener ports are served as they are; 0 picks a free port")
	f.BoolVar(&cfg.lbAccessLog, "lb-access-log", false, "log every request through the load balancers (at info level)")
	f.DurationVar(&cfg.agentTimeout, "agent-timeout", 30*time.Second, "how long a host's deployment agent may stay silent before its lifecycle event fails")
	f.BoolVar(&cfg.keepInstances, "keep-instances", false, "leave local instances running when the server stops, for the next start to adopt (by default they are stopped, and replaced at the next start)")
	f.StringVar(&cfg.dnsListen, "dns-listen", "127.0.0.1:8053", "UDP and TCP address the DNS server answers for hosted zones on; empty runs none")
	return cmd
}

// parsePortMap reads --lb-port-map: "80=8081,443=127.0.0.1:8444".
func parsePortMap(spec string) (map[int]string, error) {
	out := map[int]string{}
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		from, to, ok := strings.Cut(part, "=")
		port, err := strconv.Atoi(strings.TrimSpace(from))
		if !ok || err != nil || port < 1 || port > 65535 || strings.TrimSpace(to) == "" {
			return nil, fmt.Errorf("--lb-port-map %q: write LISTENER-PORT=LOCAL-PORT (or =HOST:PORT), several separated by commas, as in 80=8081,443=8444", part)
		}
		out[port] = strings.TrimSpace(to)
	}
	return out, nil
}

// resolveFlags fills every flag not given on the command line from
// SLIPWAY_<NAME>, then from the config file.
func resolveFlags(fs *pflag.FlagSet, configFile string) error {
	if configFile == "" {
		configFile = os.Getenv("SLIPWAY_CONFIG")
	}
	fileValues := map[string]string{}
	if configFile != "" {
		b, err := os.ReadFile(configFile)
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		var raw map[string]any
		if err := yaml.Unmarshal(b, &raw); err != nil {
			return fmt.Errorf("config file %s: %w", configFile, err)
		}
		for k, v := range raw {
			if fs.Lookup(k) == nil {
				return fmt.Errorf("config file %s: unknown key %q (keys are the server's flag names, e.g. listen, data)", configFile, k)
			}
			fileValues[k] = fmt.Sprint(v)
		}
	}
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || err != nil {
			return
		}
		env := "SLIPWAY_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %w", env, v, e)
			}
		} else if v, ok := fileValues[f.Name]; ok {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("config file %s: %s: %w", configFile, f.Name, e)
			}
		}
	})
	return err
}

func newLogger(cfg *serverConfig) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", cfg.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch cfg.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", cfg.logFormat)
}

func runServer(ctx context.Context, cfg *serverConfig, up bool) error {
	log, err := newLogger(cfg)
	if err != nil {
		return err
	}
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together: give both to serve HTTPS, or neither")
	}
	if err := os.MkdirAll(cfg.data, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	dsn := cfg.database
	if dsn == "" {
		dsn = filepath.Join(cfg.data, "slipway.db")
	}
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	authSvc := auth.NewService(db)
	tokenFile := filepath.Join(cfg.data, "admin-token")
	firstToken, err := authSvc.Bootstrap(ctx, tokenFile)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	keyFile := cfg.secretKeyFile
	if keyFile == "" {
		keyFile = filepath.Join(cfg.data, "secret.key")
	}
	key, err := secret.LoadKey(keyFile)
	if err != nil {
		return err
	}
	secrets, err := secret.NewService(db, key)
	if err != nil {
		return err
	}
	bus := events.New(db, log)
	engine := jobs.New(db, jobs.Options{Logger: log, Registerer: reg})
	repos := repo.NewService(db, filepath.Join(cfg.data, "repos"), bus, log, repo.NewMetrics(reg))
	if err := repos.FinishDeletes(ctx); err != nil {
		log.Error("settle interrupted repository deletes", "err", err)
	}
	housekeeping(engine, repos, bus, log)
	dataDir, err := filepath.Abs(cfg.data)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	artifacts, err := openArtifacts(ctx, cfg.artifactStore, dataDir)
	if err != nil {
		return err
	}
	engine.Register("artifacts.clean", func(ctx context.Context, _ *jobs.Job) error {
		n, err := artifacts.CleanTemp(ctx, 24*time.Hour)
		log.Debug("removed leftovers of interrupted artifact uploads", "count", n)
		return err
	})
	engine.Periodic("artifacts.clean", time.Hour, "artifacts.clean", nil)
	var docker *build.Docker
	dctx, dcancel := context.WithTimeout(ctx, 3*time.Second)
	if dc, err := build.DockerAvailable(dctx); err == nil {
		docker = &build.Docker{Client: dc, Network: cfg.dockerNetwork, Dir: filepath.Join(dataDir, "builds")}
		log.Info("builds of projects with a container image run on Docker", "network", cfg.dockerNetwork)
	} else {
		log.Info("no Docker engine: every build runs as local processes", "why", err)
	}
	dcancel()
	builds := buildsvc.NewService(db, buildsvc.Config{
		Jobs: engine, Repos: repos, Secrets: secrets, Artifacts: artifacts, Docker: docker,
		WorkDir: filepath.Join(dataDir, "builds"), Hide: []string{dataDir}, Log: log,
	})
	builds.Register(engine)
	// Clone URLs in stack outputs name the address the server listens on,
	// known once it does.
	var baseURL string
	// The stack engine's providers make pipelines, and the pipelines'
	// CloudFormation action deploys stacks: the registry is filled once
	// both services exist, before any job runs.
	resources := stack.NewRegistry()
	stacks := stacksvc.New(db, stacksvc.Config{Jobs: engine, Engine: &stack.Engine{Registry: resources}, Log: log,
		ProjectName: func(ctx context.Context, id string) (string, error) {
			p, err := authSvc.ProjectByID(ctx, id)
			if err != nil {
				return "", err
			}
			return p.Name, nil
		}})
	stacks.Register(engine)
	portMap, err := parsePortMap(cfg.lbPortMap)
	if err != nil {
		return err
	}
	var accessLog *slog.Logger
	if cfg.lbAccessLog {
		accessLog = log.With("component", "lb")
	}
	pseudo := template.DefaultPseudo("")
	lbCfg := lbsvc.Config{
		Partition: pseudo.Partition, Region: pseudo.Region, AccountID: pseudo.AccountID,
		ListenHost: cfg.lbListenHost, PortMap: portMap, Bus: bus, Registerer: reg, Log: log, AccessLog: accessLog,
	}
	fleetSvc, runDir, err := newFleet(db, dataDir, log)
	if err != nil {
		return err
	}
	// Instance targets are reached through the instances' forwarders:
	// each may live in a network namespace of its own.
	lbCfg.Dial = fleetSvc.Dial
	loadBalancers, err := lbsvc.New(db, lbCfg)
	if err != nil {
		return err
	}
	fleetSvc.SetBalancer(fleetBalancer{loadBalancers})
	deploys := deploy.New(deploy.Config{DB: db, Jobs: engine, Bus: bus, Artifacts: artifacts, Fleet: fleetSvc,
		Balancer: fleetBalancer{loadBalancers}, Log: log, AgentTimeout: cfg.agentTimeout})
	fleetSvc.SetLaunchHook(deploys.LaunchHook)
	pipelines := pipelinesvc.New(db, pipelinesvc.Config{Jobs: engine, Repos: repos, Log: log, Providers: map[string]pipelinesvc.ActionProvider{
		pipeline.CodeCommit: &pipelinesvc.CodeCommitSource{Repos: repos, Artifacts: artifacts, WorkDir: filepath.Join(dataDir, "sources")},
		pipeline.CodeBuild:  &pipelinesvc.CodeBuildAction{Builds: builds},
		pipeline.CloudFormation: &pipelinesvc.CloudFormationAction{Stacks: stacks, Artifacts: artifacts,
			WorkDir: filepath.Join(dataDir, "sources")},
		pipeline.CodeDeploy: &pipelinesvc.CodeDeployAction{Deploys: deploys},
	}})
	pipelines.Register(engine)
	// DNS aliases of load balancers answer with their address, and their
	// names route requests to them: the two services meet only here.
	dnsSvc, err := dnssvc.New(db, dnssvc.Config{Listen: cfg.dnsListen, Bus: bus, Log: log,
		AliasAddrs: loadBalancers.AliasAddrs, OnAliasesChanged: loadBalancers.SetAliases})
	if err != nil {
		return err
	}
	providers.Register(resources, providers.Deps{Repos: repos, Buckets: bucket.NewService(db), Builds: builds, Pipelines: pipelines,
		LoadBalancers: loadBalancers, DNS: dnsSvc, Fleet: fleetSvc, Deploys: deploys,
		BaseURL: func() string { return baseURL }})
	apps, err := appsvc.New(appsvc.Config{DB: db, Jobs: engine, Stacks: stacks, Pipelines: pipelines, Repos: repos, Auth: authSvc,
		Fleet: fleetSvc, Artifacts: artifacts, BlueprintDir: filepath.Join(dataDir, "blueprints"), WorkDir: filepath.Join(dataDir, "sources"), Log: log})
	if err != nil {
		return err
	}
	apps.Register(engine)
	srv := &api.Server{Apps: apps, Auth: authSvc, Repos: repos, Secrets: secrets, Builds: builds, Stacks: stacks, Pipelines: pipelines,
		LoadBalancers: loadBalancers, DNS: dnsSvc, Fleet: fleetSvc, Deploys: deploys, Artifacts: artifacts, Log: log, Registry: reg}

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (choose another address with --listen)", cfg.listen, err)
	}
	// The console calls the API as any client does, through a connection
	// in memory that only it dials (served below): no TLS certificate to
	// trust, no network between them, and the API may believe it about the
	// browser's address.
	consolePipe := newPipeListener()
	console, err := web.New(web.Config{API: "http://slipway", Secure: cfg.tlsCert != "", Log: log,
		Transport: consolePipe.Transport()})
	if err != nil {
		return err
	}
	srv.Console = console.Handler()
	// No read or write timeout: clones and pushes stream for as long as they take.
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	scheme := "http"
	if cfg.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
		if err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, hs.TLSConfig)
		scheme = "https"
	} else if host, _, _ := net.SplitHostPort(ln.Addr().String()); !net.ParseIP(host).IsLoopback() {
		log.Warn("serving plain HTTP on a non-loopback address: API tokens travel in every request and can be read on the network; use --tls-cert and --tls-key", "addr", ln.Addr().String())
	}
	url := scheme + "://" + ln.Addr().String()
	baseURL = url
	log.Info("slipway started", "url", url, "data", cfg.data, "database", string(db.Dialect()), "version", version,
		"lb_port_80", loadBalancers.ListenerAddress(80), "dns", dnsSvc.Addr())
	printWelcome(url, tokenFile, firstToken != "", up)
	lbAddr := loadBalancers.ListenerAddress(80)
	_, lbPort, _ := net.SplitHostPort(lbAddr)
	fmt.Printf("Load balancers' listener port 80 is served on %s: http://NAME.lb.localhost:%s reaches the one named NAME.\n", lbAddr, lbPort)
	if a := dnsSvc.Addr(); a != "" {
		host, port, _ := net.SplitHostPort(a)
		fmt.Printf("Hosted zones are answered on %s: dig @%s -p %s NAME\n", a, host, port)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 12) // one per run below
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	run("events", bus.Run)
	run("jobs", engine.Run)
	run("pipeline triggers", func(ctx context.Context) error { return pipelines.WatchPushes(ctx, bus) })
	run("load balancers", loadBalancers.Run)
	run("dns", dnsSvc.Run)
	run("fleet", fleetSvc.Run)
	run("deployments", deploys.Run)
	// Processes inside local instances reach the API on a Unix socket
	// (their network is their own); they authenticate like anyone else.
	uln, err := listenUnix(filepath.Join(runDir, "api.sock"))
	if err != nil {
		cancel()
		wg.Wait()
		return err
	}
	// The instances' socket and the console's listener carry the same
	// handler; only the console's connections are marked as the console's.
	for name, side := range map[string]struct {
		srv *http.Server
		ln  net.Listener
	}{
		"instance api": {&http.Server{Handler: hs.Handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: hs.ErrorLog}, uln},
		"console api": {&http.Server{Handler: hs.Handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: hs.ErrorLog,
			ConnContext: api.ConsoleConnContext}, consolePipe},
	} {
		run(name, func(ctx context.Context) error {
			go func() {
				<-ctx.Done()
				_ = side.srv.Close()
			}()
			if err := side.srv.Serve(side.ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	run("http", func(ctx context.Context) error {
		go func() {
			<-ctx.Done()
			sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer scancel()
			_ = hs.Shutdown(sctx)
		}()
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	if up {
		run("sample application", func(ctx context.Context) error {
			return watchSample(ctx, apps, authSvc, dataDir, url, tokenFile, log)
		})
	}
	<-ctx.Done()
	log.Info("slipway stopping")
	wg.Wait()
	if !cfg.keepInstances {
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := fleetSvc.StopAll(sctx); err != nil {
			log.Error("stop local instances", "err", err)
		}
		scancel()
	}
	close(errc)
	return <-errc
}

// cleanableStore is an artifact store whose interrupted uploads leave
// temporary objects to remove.
type cleanableStore interface {
	artifact.Store
	CleanTemp(ctx context.Context, olderThan time.Duration) (int, error)
}

// openArtifacts opens the filesystem store under the data directory, or
// the S3 store an s3:// URL names.
func openArtifacts(ctx context.Context, spec, dataDir string) (cleanableStore, error) {
	if spec == "" {
		s, err := artifact.NewFS(filepath.Join(dataDir, "artifacts"))
		if err != nil {
			return nil, fmt.Errorf("artifact store: %w", err)
		}
		return s, nil
	}
	c, err := artifact.ParseS3URL(spec)
	if err != nil {
		return nil, fmt.Errorf("--artifact-store: %w", err)
	}
	return artifact.NewS3(ctx, c)
}

// retention is how long finished jobs and delivered events are kept.
const retention = 7 * 24 * time.Hour

// housekeeping registers the periodic jobs that keep the data directory and
// the database from growing without bound. Each runs once per interval
// across all server processes.
func housekeeping(engine *jobs.Engine, repos *repo.Service, bus *events.Bus, log *slog.Logger) {
	engine.Register("repo.maintain", func(ctx context.Context, _ *jobs.Job) error {
		return repos.Maintain(ctx)
	})
	engine.Periodic("repo.maintain", 10*time.Minute, "repo.maintain", nil)
	engine.Register("events.prune", func(ctx context.Context, _ *jobs.Job) error {
		n, err := bus.Prune(ctx, time.Now().Add(-retention))
		log.Debug("pruned events", "count", n)
		return err
	})
	engine.Periodic("events.prune", time.Hour, "events.prune", nil)
	engine.Register("jobs.prune", func(ctx context.Context, _ *jobs.Job) error {
		n, err := engine.Prune(ctx, time.Now().Add(-retention))
		log.Debug("pruned jobs", "count", n)
		return err
	})
	engine.Periodic("jobs.prune", time.Hour, "jobs.prune", nil)
}

func printWelcome(url, tokenFile string, first, up bool) {
	if first {
		fmt.Printf("Created the user %q and an API token for it in %s (readable only by you).\n", auth.AdminUser, tokenFile)
	}
	if up {
		fmt.Printf("Slipway (embedded defaults: SQLite, local data directory) is serving on %s\n", url)
		fmt.Printf("  API and Git:  %s\n  admin token:  %s\n  use the CLI:  export SLIPWAY_URL=%s SLIPWAY_TOKEN=$(cat %s)\n", url, tokenFile, url, tokenFile)
		return
	}
	fmt.Printf("Slipway server is serving on %s\n", url)
	fmt.Printf("Use it from another shell:\n  export SLIPWAY_URL=%s\n  export SLIPWAY_TOKEN=$(cat %s)\n  slipway repo create hello\n  git clone %s/git/hello.git   # user name: anything, password: the token\n", url, tokenFile, url)
}
