package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/catalog"
	"github.com/slipway/slipway/providers"
	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/template"
)

// builtinBlueprint returns the built-in blueprint called name.
func builtinBlueprint(t *testing.T, name string) *catalog.Blueprint {
	t.Helper()
	bps, err := catalog.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bps {
		if b.Name == name {
			return b
		}
	}
	t.Fatalf("no built-in blueprint %s", name)
	return nil
}

// planOnSchemas checks a template as a deploy would, with no server: every
// resource type has a provider, every GetAtt an attribute, every resource
// the properties its schema takes (the change set of a new stack). It
// returns the template.
func planOnSchemas(t *testing.T, reg *stack.Registry, file string, data []byte, values map[string]string, imports func(string) (string, error)) *template.Template {
	t.Helper()
	tpl, err := template.Parse(file, data)
	if err != nil {
		t.Fatal(err)
	}
	warnings, err := tpl.Check(reg)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("%s against the resource schemas: %v; types without a provider: %v", file, err, warnings)
	}
	params, err := tpl.Bind(values)
	if err != nil {
		t.Fatalf("%s refuses %v: %v", file, values, err)
	}
	eng := &stack.Engine{Registry: reg}
	changes, err := eng.Plan(context.Background(), &stack.Target{Template: tpl, Params: params, Pseudo: template.DefaultPseudo("plan")}, nil, imports)
	if err != nil {
		t.Fatalf("plan of %s: %v", file, err)
	}
	if len(changes) != len(tpl.ResourceOrder) {
		t.Errorf("plan of %s adds %d resources, the template has %d", file, len(changes), len(tpl.ResourceOrder))
	}
	return tpl
}

// The go-service blueprint's templates against the resource types of the
// server: the pipeline stack, and the environments, which import what the
// pipeline stack exports.
func checkGoServiceSchemas(t *testing.T, b *catalog.Blueprint, values map[string]string) {
	t.Helper()
	reg := stack.NewRegistry()
	providers.Register(reg, providers.Deps{})
	data, err := b.PipelineTemplate()
	if err != nil {
		t.Fatal(err)
	}
	pipelineTpl := planOnSchemas(t, reg, b.Pipeline, data, values, nil)
	params, err := pipelineTpl.Bind(values)
	if err != nil {
		t.Fatal(err)
	}
	outputs, err := pipelineTpl.EvalOutputs(&template.Env{Params: params}, nil)
	if err != nil {
		t.Fatal(err)
	}
	exports := map[string]bool{}
	for _, o := range outputs {
		if o.ExportName != "" {
			exports[o.ExportName] = true
		}
	}
	imports := func(name string) (string, error) {
		if !exports[name] {
			return "", fmt.Errorf("No export named %s found (the pipeline stack exports %v)", name, exports)
		}
		return "imported-" + name, nil
	}
	content, err := b.Content()
	if err != nil {
		t.Fatal(err)
	}
	infra, err := fs.ReadFile(content, "cloudformation/infrastructure.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"staging", "production"} {
		conf, err := fs.ReadFile(content, "config/"+env+".conf")
		if err != nil {
			t.Fatal(err)
		}
		c, err := template.ParseConfig(env+".conf", conf)
		if err != nil {
			t.Fatal(err)
		}
		// As the pipeline's CloudFormation action gives them: its
		// ParameterOverrides beat the configuration file.
		envValues := template.MergeParameters(c.Parameters, map[string]string{"ApplicationName": values["ApplicationName"], "EnvironmentName": env})
		planOnSchemas(t, reg, "cloudformation/infrastructure.yml", infra, envValues, imports)
	}
}

// contentFiles reads the starter content into path → text.
func contentFiles(t *testing.T, b *catalog.Blueprint) map[string]string {
	t.Helper()
	content, err := b.Content()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	err = fs.WalkDir(content, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(content, p)
		files[p] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// checkEnvironment checks that an environment's load balancer, and its DNS
// name, serve the starter service from every instance.
func checkEnvironment(t *testing.T, s *server, env string) {
	t.Helper()
	stackName := "hello-" + env
	base := stackURL(t, s, stackName)
	if got := answers(t, 10, base); got["Hello from go-service 1.0.0"] != 10 {
		t.Errorf("%s answers %v", env, got)
	}
	if got := answers(t, 4, base+"version"); got["1.0.0"] != 4 {
		t.Errorf("%s /version answers %v", env, got)
	}
	// Every instance serves: both become healthy in the target group (in
	// staging, deployed without traffic control, the health checks catch
	// up after the deployment), and the deployment put the build on both.
	waitFor(t, env+"'s two targets to be healthy", func() bool { return healthyTargets(t, s, stackName) == 2 })
	var deps []deploymentView
	s.mustCLI(s.token, &deps, "deploy", "list", "--app", "hello", "--group", env)
	if len(deps) != 1 || deps[0].Status != "Succeeded" || deps[0].Overview["Succeeded"] != 2 {
		t.Errorf("%s deployments %+v", env, deps)
	}
	// The record set names the environment: the load balancer answers it.
	var st stackView
	s.mustCLI(s.token, &st, "stack", "describe", stackName)
	var domain string
	for _, o := range st.Outputs {
		if o.Key == "DomainName" {
			domain = o.Value
		}
	}
	if want := env + ".hello.internal"; domain != want {
		t.Errorf("%s DomainName %q, want %s", env, domain, want)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	out, err := curl("-sf", "--max-time", "5", "-H", "Host: "+domain, "http://127.0.0.1:"+u.Port()+"/version")
	if err != nil || strings.TrimSpace(out) != "1.0.0" {
		t.Errorf("%s by its DNS name: %q %v", env, out, err)
	}
}

// newExecution waits for a push to start an execution of pipeline other
// than those seen.
func newExecution(t *testing.T, s *server, pipeline string, seen ...string) string {
	t.Helper()
	var id string
	waitFor(t, "the push to start an execution", func() bool {
		var es []pipelineExecution
		s.mustCLI(s.token, &es, "pipeline", "executions", pipeline)
		for _, e := range es {
			if !slices.Contains(seen, e.ID) {
				id = e.ID
			}
		}
		return id != ""
	})
	return id
}

// atProductionGate holds once an execution of the go-service pipeline waits
// for its approval, or has ended.
func atProductionGate(e *pipelineExecution) bool {
	a := e.action("Approvals")
	return ended(e) || a != nil && a.Status == "InProgress"
}

func TestCatalog_TheGoServiceBlueprintShipsItsStarterServiceToStagingThenAfterApprovalToProduction(t *testing.T) {
	needTools(t, "curl")
	begin := time.Now()
	b := builtinBlueprint(t, "go-service")
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	// The builds use this machine's warm Go build cache, through the
	// blueprint's GoCache parameter: a cold one costs minutes on two
	// cores, and is not what this test is about.
	values, err := b.Bind(map[string]string{"ApplicationName": "hello", "GoCache": goCache(t)})
	if err != nil {
		t.Fatal(err)
	}
	checkGoServiceSchemas(t, b, values)

	s := startServer(t)
	data, err := b.PipelineTemplate()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "pipeline.yml")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"hello-pipeline", "--template", file, "--parameter-overrides"}
	for _, k := range slices.Sorted(maps.Keys(values)) {
		args = append(args, k+"="+values[k])
	}
	mark := time.Now()
	if out, code := s.deployStack(t, args...); code != 0 {
		t.Fatalf("deploy the pipeline stack: exit %d\n%s\n%s", code, out, s.log)
	}
	t.Logf("pipeline stack deployed in %s", time.Since(mark).Round(time.Millisecond))
	var pst stackView
	s.mustCLI(s.token, &pst, "stack", "describe", "hello-pipeline")
	var clone string
	for _, o := range pst.Outputs {
		if o.Key == "CloneURL" {
			clone = o.Value
		}
	}
	if want := s.url + "/git/default/hello.git"; clone != want {
		t.Errorf("CloneURL %q, want %s", clone, want)
	}

	// As on AWS, creating the pipeline starts it, and the repository is
	// still empty: the first execution fails at its source, saying so.
	first := firstExecution(t, s, "hello")
	e := waitExecution(t, s, first, "the execution the pipeline's creation started to end", ended)
	src := e.action("Source")
	if e.Status != "Failed" || e.Trigger.Type != "CreatePipeline" || src == nil || src.Status != "Failed" ||
		!strings.Contains(src.Error, `"main" is not a branch, tag or commit of the repository`) {
		t.Fatalf("the first execution: %+v", e)
	}
	t.Logf("first execution, on the empty repository: %s: %s", e.Status, src.Error)

	// The starter content is the first commit; its push starts the
	// execution that ships it.
	mark = time.Now()
	files := contentFiles(t, b)
	pushFiles(t, s, "hello", files)
	second := newExecution(t, s, "hello", first)
	e = waitExecution(t, s, second, "the push's execution to wait for the approval", atProductionGate)
	if e.Status != "InProgress" {
		t.Fatalf("the push's execution: %s %s\n%+v\n%s", e.Status, e.Reason, e.Actions, s.log)
	}
	t.Logf("push to staging serving, waiting for the approval: %s", time.Since(mark).Round(time.Millisecond))
	checkEnvironment(t, s, "staging")
	if _, _, err := s.cli(s.token, "stack", "describe", "hello-production"); err == nil {
		t.Error("production exists before the approval")
	}

	mark = time.Now()
	s.mustCLI(s.token, nil, "approve", "hello", "Approvals", "ProductionGate", "--execution", second, "--comment", "ship it")
	e = waitExecution(t, s, second, "the push's execution to end", ended)
	if e.Status != "Succeeded" {
		t.Fatalf("the push's execution: %s %s\n%+v\n%s", e.Status, e.Reason, e.Actions, s.log)
	}
	t.Logf("approval to production serving: %s", time.Since(mark).Round(time.Millisecond))
	checkEnvironment(t, s, "production")

	// A one-line change goes the same way: on each staging instance the
	// first revision's ApplicationStop stops the old version before the new
	// one starts, and production keeps the approved one.
	mark = time.Now()
	pushFiles(t, s, "hello", map[string]string{"main.go": strings.Replace(files["main.go"], `"1.0.0"`, `"1.0.1"`, 1)})
	third := newExecution(t, s, "hello", first, second)
	e = waitExecution(t, s, third, "the change's execution to wait for the approval", atProductionGate)
	if e.Status != "InProgress" {
		t.Fatalf("the change's execution: %s %s\n%+v\n%s", e.Status, e.Reason, e.Actions, s.log)
	}
	t.Logf("a one-line change, push to staging serving it: %s", time.Since(mark).Round(time.Millisecond))
	if got := answers(t, 10, stackURL(t, s, "hello-staging")); got["Hello from go-service 1.0.1"] != 10 {
		t.Errorf("staging after the change answers %v", got)
	}
	if got := answers(t, 4, stackURL(t, s, "hello-production")); got["Hello from go-service 1.0.0"] != 4 {
		t.Errorf("production before the change's approval answers %v", got)
	}
	t.Logf("whole test: %s", time.Since(begin).Round(time.Millisecond))
}
