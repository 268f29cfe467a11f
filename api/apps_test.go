package api_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/slipway/slipway/auth"
)

// demoFiles are a small valid blueprint, "demo" (catalog's tests' own),
// by path in its directory.
func demoFiles() map[string]string {
	return map[string]string{
		"blueprint.yml": `name: demo
description: A demo.
pipeline: app/pipeline.yml
content: app
parameters:
  - name: ApplicationName
    description: The name.
    pattern: "[a-z]+"
  - name: Stage
    description: Where it runs.
    default: test
    allowed_values: [test, live]
`,
		"app/pipeline.yml": `Parameters:
  ApplicationName: {Type: String}
  Stage: {Type: String, Default: test}
Resources:
  Pipeline:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      Stages:
        - Name: Deploy
          Actions:
            - Name: Infra
              ActionTypeId: {Category: Deploy, Owner: AWS, Provider: CloudFormation, Version: "1"}
              Configuration:
                TemplatePath: Built::infra.yml
                TemplateConfiguration: Built::test.conf
`,
		"app/appspec.yml":   "version: 0.0\nos: linux\n",
		"app/buildspec.yml": "version: 0.2\nphases:\n  build:\n    commands:\n      - make\n",
		"app/infra.yml":     "Parameters:\n  Size: {Type: Number}\nResources:\n  Bucket: {Type: AWS::S3::Bucket}\n",
		"app/test.conf":     `{"Parameters": {"Size": "1"}}`,
	}
}

// demoBlueprint is the demo blueprint in directory dir ("" for the top)
// of a file system.
func demoBlueprint(dir string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, text := range demoFiles() {
		if dir != "" {
			name = dir + "/" + name
		}
		fsys[name] = &fstest.MapFile{Data: []byte(text)}
	}
	return fsys
}

// demoTgz is the demo blueprint as a gzipped tar of its directory; change
// replaces files or (with an empty text) removes them.
func demoTgz(change map[string]string) []byte {
	files := demoFiles()
	for name, text := range change {
		if text == "" {
			delete(files, name)
		} else {
			files[name] = text
		}
	}
	return tgz(files)
}

// tgz packs files as a gzipped tar, names as they are (even ../evil).
// Writing to memory cannot fail.
func tgz(files map[string]string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte(files[name]))
	}
	_ = tw.Close()
	_ = zw.Close()
	return buf.Bytes()
}

// app is an application as the API shows it.
type app struct {
	Name          string            `json:"name"`
	Blueprint     string            `json:"blueprint"`
	Parameters    map[string]string `json:"parameters"`
	Owner         string            `json:"owner"`
	Approvers     []string          `json:"approvers"`
	Status        string            `json:"status"`
	StatusReason  string            `json:"status_reason"`
	Creator       string            `json:"creator"`
	ExpiresAt     time.Time         `json:"expires_at"`
	PipelineStack string            `json:"pipeline_stack"`
	Environments  []json.RawMessage `json:"environments"`
}

// blueprint is a blueprint as the API shows it.
type blueprint struct {
	Name       string `json:"name"`
	Source     string `json:"source"`
	Pipeline   string `json:"pipeline"`
	Content    string `json:"content"`
	CreatedBy  string `json:"created_by"`
	Parameters []struct {
		Name    string  `json:"name"`
		Default *string `json:"default"`
	} `json:"parameters"`
	Files []string `json:"files"`
}

func decodeAs[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// errorMessage is the message of an answer in the API's error shape.
func errorMessage(t *testing.T, b []byte) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("not in the API's error shape: %s", b)
	}
	return e.Error.Message
}

const appsURL = "/api/v1/projects/default/apps"
const blueprintsURL = "/api/v1/projects/default/blueprints"

func TestApps_CreateAnswersTheApplicationInProgressWithItsParameters(t *testing.T) {
	f := newFixture(t)
	code, b := f.do(t, "teamwriter", "POST", appsURL, map[string]any{"name": "hello", "blueprint": "go-service",
		"parameters": map[string]string{"Branch": "trunk"}, "owner": "builders", "approvers": []string{"reader", "team:builders"}, "ttl": "24h"})
	if code != 201 {
		t.Fatalf("create: %d %s", code, b)
	}
	created := decodeAs[app](t, b)
	if created.Status != "CREATE_IN_PROGRESS" || created.Creator != "teamwriter" || created.ExpiresAt.Before(time.Now().Add(23*time.Hour)) {
		t.Errorf("created: %s", b)
	}
	code, b = f.do(t, "teamwriter", "GET", appsURL+"/hello", nil)
	if code != 200 {
		t.Fatalf("get: %d %s", code, b)
	}
	got := decodeAs[app](t, b)
	want := map[string]string{"ApplicationName": "hello", "Branch": "trunk", "GoCache": ""}
	if got.Status != "CREATE_IN_PROGRESS" || got.Blueprint != "go-service" || got.PipelineStack != "hello-pipeline" || got.Owner != "builders" ||
		!slices.Equal(got.Approvers, []string{"reader", "team:builders"}) || got.Environments == nil || len(got.Parameters) != len(want) {
		t.Errorf("get: %s", b)
	}
	for k, v := range want {
		if got.Parameters[k] != v {
			t.Errorf("parameter %s = %q, want %q", k, got.Parameters[k], v)
		}
	}
	// The creator has admin on it: deleting is refused for its state, not
	// for want of a role.
	if code, b := f.do(t, "teamwriter", "DELETE", appsURL+"/hello", nil); code != 409 || !strings.Contains(errorMessage(t, b), "CREATE_IN_PROGRESS") {
		t.Errorf("delete while creating: %d %s", code, b)
	}
	// Listings hold what the caller may read: reader was granted webapp
	// alone.
	for actor, want := range map[string][]string{"admin": {"hello", "webapp"}, "reader": {"webapp"}, "stranger": {}} {
		code, b := f.do(t, actor, "GET", appsURL, nil)
		var names []string
		for _, a := range decodeAs[[]app](t, b) {
			names = append(names, a.Name)
		}
		if code != 200 || !slices.Equal(names, want) {
			t.Errorf("list as %s: %d %v, want %v", actor, code, names, want)
		}
	}
}

func TestApps_BadRequestsSayWhatIsWrong(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		name string
		body map[string]any
		want int
		msg  string
	}{
		{"bad parameter", map[string]any{"name": "a", "blueprint": "go-service", "parameters": map[string]string{"Branch": "-x"}}, 400, "parameter Branch: "},
		{"unknown parameter", map[string]any{"name": "a", "blueprint": "go-service", "parameters": map[string]string{"Brnch": "x"}}, 400,
			`blueprint go-service has no parameter "Brnch" (did you mean "Branch"?)`},
		{"bad name", map[string]any{"name": "Hello_World", "blueprint": "go-service"}, 400, "parameter ApplicationName: "},
		{"name twice", map[string]any{"name": "a", "blueprint": "go-service", "parameters": map[string]string{"ApplicationName": "b"}}, 400, "ApplicationName"},
		{"no name", map[string]any{"blueprint": "go-service"}, 400, "name: "},
		{"unknown blueprint", map[string]any{"name": "a", "blueprint": "nosuch"}, 400, `no blueprint "nosuch" (slipway blueprint list shows them)`},
		{"no blueprint", map[string]any{"name": "a"}, 400, "blueprint: "},
		{"unknown owner", map[string]any{"name": "a", "blueprint": "go-service", "owner": "nosuch"}, 400, `owner: no team "nosuch"`},
		{"unknown approver", map[string]any{"name": "a", "blueprint": "go-service", "approvers": []string{"nobody"}}, 400, `no user "nobody"`},
		{"unknown approving team", map[string]any{"name": "a", "blueprint": "go-service", "approvers": []string{"team:nosuch"}}, 400, `no team "nosuch"`},
		{"bad ttl", map[string]any{"name": "a", "blueprint": "go-service", "ttl": "soon"}, 400, `ttl "soon"`},
		{"negative ttl", map[string]any{"name": "a", "blueprint": "go-service", "ttl": "-1h"}, 400, `ttl "-1h"`},
		{"unknown field", map[string]any{"name": "a", "blueprint": "go-service", "colour": "red"}, 400, "colour"},
		{"duplicate", map[string]any{"name": "webapp", "blueprint": "go-service"}, 409, "application webapp: already exists"},
	} {
		code, b := f.do(t, "admin", "POST", appsURL, c.body)
		if code != c.want || !strings.Contains(errorMessage(t, b), c.msg) {
			t.Errorf("%s: %d %s, want %d %q", c.name, code, b, c.want, c.msg)
		}
	}
	// Nothing was made.
	if code, b := f.do(t, "admin", "GET", appsURL+"/a", nil); code != 404 {
		t.Errorf("a refused application: %d %s", code, b)
	}
}

func TestApps_HiddenLooksMissingAndDeleteStartsFromAnEndedState(t *testing.T) {
	f := newFixture(t)
	_, hidden := f.do(t, "stranger", "GET", appsURL+"/webapp", nil)
	_, missing := f.do(t, "stranger", "GET", appsURL+"/nosuch", nil)
	if string(hidden) != strings.ReplaceAll(string(missing), "nosuch", "webapp") {
		t.Errorf("a hidden application and a missing one answer differently:\n%s\n%s", hidden, missing)
	}
	if code, b := f.do(t, "teamwriter", "DELETE", appsURL+"/webapp", nil); code != 403 || !strings.Contains(errorMessage(t, b), "admin role on application webapp") {
		t.Errorf("delete with write on the project: %d %s", code, b)
	}
	// As if its creation had failed: it may be deleted.
	if _, err := f.db.ExecContext(context.Background(), `UPDATE apps SET status = 'CREATE_FAILED' WHERE name = 'webapp'`); err != nil {
		t.Fatal(err)
	}
	code, b := f.do(t, "owner", "DELETE", appsURL+"/webapp", nil)
	if code != 202 || decodeAs[app](t, b).Status != "DELETE_IN_PROGRESS" {
		t.Fatalf("delete: %d %s", code, b)
	}
	if code, b := f.do(t, "owner", "DELETE", appsURL+"/webapp", nil); code != 409 || !strings.Contains(errorMessage(t, b), "application webapp is DELETE_IN_PROGRESS") {
		t.Errorf("delete again: %d %s", code, b)
	}
	code, b = f.do(t, "admin", "GET", "/api/v1/audit", nil)
	var es []auth.AuditEntry
	if err := json.Unmarshal(b, &es); code != 200 || err != nil {
		t.Fatalf("audit: %d %s", code, b)
	}
	if len(es) < 2 || es[1].Action != "DELETE /api/v1/projects/{project}/apps/{name}" || es[1].Actor != "owner" || es[1].Status != 202 {
		t.Errorf("audit: %+v", es)
	}
}

func TestBlueprints_BuiltInOnesAreListedWithTheirParametersAndFiles(t *testing.T) {
	f := newFixture(t)
	code, b := f.do(t, "teamwriter", "GET", blueprintsURL, nil)
	if code != 200 {
		t.Fatalf("list: %d %s", code, b)
	}
	var gs *blueprint
	for _, bp := range decodeAs[[]blueprint](t, b) {
		if bp.Name == "go-service" {
			gs = &bp
		}
	}
	if gs == nil || gs.Source != "built-in" || len(gs.Files) != 0 || len(gs.Parameters) < 2 || gs.Parameters[0].Name != "ApplicationName" ||
		gs.Parameters[1].Name != "Branch" || gs.Parameters[1].Default == nil || *gs.Parameters[1].Default != "main" {
		t.Fatalf("go-service in the list: %s", b)
	}
	code, b = f.do(t, "teamwriter", "GET", blueprintsURL+"/go-service", nil)
	if bp := decodeAs[blueprint](t, b); code != 200 || !slices.Contains(bp.Files, "main.go") || !slices.Contains(bp.Files, "buildspec.yml") ||
		bp.Pipeline != "app/cloudformation/pipeline.yml" {
		t.Errorf("show go-service: %d %s", code, b)
	}
	if code, b := f.do(t, "teamwriter", "GET", blueprintsURL+"/nosuch", nil); code != 404 || errorMessage(t, b) != "blueprint nosuch not found" {
		t.Errorf("show nosuch: %d %s", code, b)
	}
}

func zipOf(files map[string]string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, text := range files {
		w, _ := zw.Create(name)
		_, _ = w.Write([]byte(text))
	}
	_ = zw.Close()
	return buf.Bytes()
}

func TestBlueprints_AddedFromAnArchiveAreListedShownAndMakeApplications(t *testing.T) {
	f := newFixture(t)
	code, b := f.do(t, "teamwriter", "POST", blueprintsURL, rawBody{"application/gzip", demoTgz(nil)})
	if bp := decodeAs[blueprint](t, b); code != 201 || bp.Name != "demo" || bp.Source != "directory" || bp.CreatedBy != "teamwriter" {
		t.Fatalf("add: %d %s", code, b)
	}
	code, b = f.do(t, "reader", "GET", blueprintsURL, nil)
	if code != 403 {
		t.Errorf("list without a role on the project: %d %s", code, b)
	}
	code, b = f.do(t, "teamwriter", "GET", blueprintsURL, nil)
	var names []string
	for _, bp := range decodeAs[[]blueprint](t, b) {
		names = append(names, bp.Name+" "+bp.Source)
	}
	if code != 200 || !slices.Equal(names, []string{"go-service built-in", "demo directory"}) {
		t.Errorf("list: %d %v", code, names)
	}
	code, b = f.do(t, "teamwriter", "GET", blueprintsURL+"/demo", nil)
	if bp := decodeAs[blueprint](t, b); code != 200 || !slices.Equal(bp.Files, []string{"appspec.yml", "buildspec.yml", "infra.yml", "pipeline.yml", "test.conf"}) {
		t.Errorf("show: %d %s", code, b)
	}
	// In one top directory, or as a zip, it is the same blueprint.
	inDir := map[string]string{}
	for name, text := range demoFiles() {
		inDir["demo-1.0/"+name] = text
	}
	for what, body := range map[string]rawBody{"tgz with a top directory": {"application/gzip", tgz(inDir)},
		"zip": {"application/zip", zipOf(demoFiles())}, "octet-stream": {"application/octet-stream", demoTgz(nil)}} {
		if code, b := f.do(t, "admin", "POST", blueprintsURL, body); code != 201 || decodeAs[blueprint](t, b).Name != "demo" {
			t.Errorf("add a %s: %d %s", what, code, b)
		}
	}
	// An application made from it takes the blueprint's defaults.
	code, b = f.do(t, "teamwriter", "POST", appsURL, map[string]any{"name": "demoapp", "blueprint": "demo"})
	if a := decodeAs[app](t, b); code != 201 || a.Blueprint != "demo" || a.Parameters["Stage"] != "test" || a.Parameters["ApplicationName"] != "demoapp" {
		t.Errorf("create from an added blueprint: %d %s", code, b)
	}
	code, b = f.do(t, "teamwriter", "POST", appsURL, map[string]any{"name": "demoapp2", "blueprint": "demo", "parameters": map[string]string{"Stage": "lve"}})
	if code != 400 || !strings.Contains(errorMessage(t, b), `parameter Stage: "lve" is not one of the allowed values test, live (did you mean "live"?)`) {
		t.Errorf("a bad value: %d %s", code, b)
	}
}

func TestBlueprints_BadArchivesAreRefusedNamingTheProblem(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		name string
		body rawBody
		want int
		msg  string
	}{
		{"an entry out of the directory", rawBody{"application/gzip", demoTgz(map[string]string{"../evil": "x"})}, 400, "../evil"},
		{"no blueprint.yml", rawBody{"application/gzip", demoTgz(map[string]string{"blueprint.yml": ""})}, 400, "holds no blueprint.yml"},
		{"broken blueprint.yml", rawBody{"application/gzip", demoTgz(map[string]string{"blueprint.yml": "name: demo\n\tdescription: x\n"})}, 400,
			"blueprint.yml:2:1: invalid YAML"},
		{"a broken pipeline template", rawBody{"application/gzip", demoTgz(map[string]string{"app/pipeline.yml": "Resources: [\n"})}, 400,
			"app/pipeline.yml:"},
		{"a built-in name", rawBody{"application/gzip", demoTgz(map[string]string{"blueprint.yml": strings.Replace(demoFiles()["blueprint.yml"],
			"name: demo", "name: go-service", 1)})}, 400, `"go-service" is a built-in blueprint's name`},
		{"not an archive", rawBody{"application/gzip", []byte("hello")}, 400, ""},
		{"another content type", rawBody{"text/plain", demoTgz(nil)}, 415, "Content-Type application/gzip"},
	} {
		code, b := f.do(t, "admin", "POST", blueprintsURL, c.body)
		if msg := errorMessage(t, b); code != c.want || !strings.Contains(msg, c.msg) {
			t.Errorf("%s: %d %s, want %d %q", c.name, code, b, c.want, c.msg)
		}
	}
	if code, b := f.do(t, "admin", "GET", blueprintsURL+"/demo", nil); code != 404 {
		t.Errorf("a refused blueprint is there: %d %s", code, b)
	}
}

func TestBlueprints_AddedFromARepositoryNameTheirCommit(t *testing.T) {
	f := newFixture(t)
	code, b := f.do(t, "teamwriter", "POST", blueprintsURL, map[string]string{"repo": "bp-src", "ref": "main"})
	if bp := decodeAs[blueprint](t, b); code != 201 || bp.Name != "demo" || !strings.HasPrefix(bp.Source, "repo bp-src@") || len(bp.Source) != len("repo bp-src@")+12 {
		t.Fatalf("add from bp-src: %d %s", code, b)
	}
	// A blueprint in a directory of a repository, HEAD by default.
	ctx := context.Background()
	def, err := f.auth.Project(ctx, auth.DefaultProject)
	if err != nil {
		t.Fatal(err)
	}
	rp, err := f.repos.Create(ctx, def.ID, def.Name, "mono", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.repos.Seed(ctx, rp, "main", demoBlueprint("blueprints/demo"), "blueprints", "Admin <admin@example.com>", "admin"); err != nil {
		t.Fatal(err)
	}
	code, b = f.do(t, "admin", "POST", blueprintsURL, map[string]string{"repo": "mono", "path": "blueprints/demo"})
	if bp := decodeAs[blueprint](t, b); code != 201 || !strings.HasPrefix(bp.Source, "repo mono@") || !strings.HasSuffix(bp.Source, ":blueprints/demo") {
		t.Errorf("add from a directory of mono: %d %s", code, b)
	}
	for _, c := range []struct {
		body map[string]string
		want int
		msg  string
	}{
		{map[string]string{"repo": "mono"}, 400, "is not a blueprint"},
		{map[string]string{"repo": "mono", "ref": "nosuch", "path": "blueprints/demo"}, 400, "nosuch"},
		{map[string]string{"repo": "nosuch"}, 404, "repository nosuch not found"},
		{map[string]string{"ref": "main"}, 400, "repo: "},
	} {
		code, b := f.do(t, "admin", "POST", blueprintsURL, c.body)
		if msg := errorMessage(t, b); code != c.want || !strings.Contains(msg, c.msg) {
			t.Errorf("%v: %d %s, want %d %q", c.body, code, b, c.want, c.msg)
		}
	}
}
