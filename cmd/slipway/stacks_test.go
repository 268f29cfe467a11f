package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const paramsTemplate = `Parameters:
  A: {Type: String}
  B: {Type: String}
  C: {Type: String}
  D: {Type: String}
Resources:
  Repo:
    Type: AWS::CodeCommit::Repository
    Properties:
      RepositoryName: !Ref A
`

// run runs the CLI with args and returns its output and error.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(""))
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestStackDeploy_SeveralPairsFollowOneFlagAndTheFlagRepeats(t *testing.T) {
	dir := t.TempDir()
	tmpl := writeFile(t, dir, "infra.yml", paramsTemplate)
	cfg := writeFile(t, dir, "prod.json", `{"Parameters": {"A": "from-config", "D": "4"}, "Tags": {"env": "staging", "team": "web"}}`)
	var sent struct {
		TemplateName string            `json:"template_name"`
		Parameters   map[string]string `json:"parameters"`
		Tags         map[string]string `json:"tags"`
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "GET" && strings.HasSuffix(r.URL.Path, "/stacks/app/events"):
			w.WriteHeader(404)
			_, _ = w.Write([]byte(`{"error": {"code": "not_found", "message": "Stack with id app does not exist"}}`))
		case r.Method == "PUT" && r.URL.Path == "/api/v1/projects/default/stacks/app":
			if err := json.NewDecoder(r.Body).Decode(&sent); err != nil {
				t.Error(err)
			}
			_, _ = w.Write([]byte(`{"stack": {"name": "app", "status": "UPDATE_COMPLETE"}, "no_updates": true}`))
		default:
			t.Errorf("unexpected request %s %s", r.Method, r.URL)
			w.WriteHeader(500)
		}
	}))
	defer srv.Close()
	out, err := run(t, "stack", "deploy", "app", "--template", tmpl, "--parameter-overrides", "A=1", "B=2",
		"--config", cfg, "--parameter-overrides", "C=3", "--tags", "env=prod", "owner=ops", "--url", srv.URL, "--token", "t")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := map[string]string{"A": "1", "B": "2", "C": "3", "D": "4"}
	if len(sent.Parameters) != len(want) {
		t.Fatalf("parameters sent: %v, want %v", sent.Parameters, want)
	}
	for k, v := range want {
		if sent.Parameters[k] != v {
			t.Errorf("parameter %s = %q, want %q (all: %v)", k, sent.Parameters[k], v, sent.Parameters)
		}
	}
	if sent.Tags["env"] != "prod" || sent.Tags["team"] != "web" || sent.Tags["owner"] != "ops" || sent.TemplateName != tmpl {
		t.Errorf("tags %v, template name %q", sent.Tags, sent.TemplateName)
	}
	if !strings.Contains(out, "No updates are to be performed.") {
		t.Errorf("output: %s", out)
	}
}

func TestStackDeploy_BadPairsAndUnknownNamesAreRefusedBeforeAnyRequest(t *testing.T) {
	dir := t.TempDir()
	tmpl := writeFile(t, dir, "infra.yml", paramsTemplate)
	cfg := writeFile(t, dir, "c.json", "{\n  \"Parameters\": {\n    \"A\": \"1\",\n    \"Zed\": \"2\"\n  }\n}\n")
	// Nothing listens here: a request would fail with "cannot reach".
	base := []string{"stack", "deploy", "app", "--template", tmpl, "--url", "http://127.0.0.1:1"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--parameter-overrides", "A=1", "Bogus"}, `unexpected argument "Bogus"`},
		{[]string{"--parameter-overrides", "A=1", "=2"}, `--parameter-overrides "=2": write KEY=VALUE`},
		{[]string{"--parameter-overrides", "Nope"}, `--parameter-overrides "Nope": write KEY=VALUE`},
		{[]string{"--tags", "team"}, `--tags "team": write KEY=VALUE`},
		{[]string{"--parameter-overrides", "A=1", "Nope=2"}, "--parameter-overrides: Parameters: [Nope] do not exist in the template " + tmpl + " (it declares A, B, C, D)"},
		{[]string{"--config", cfg}, cfg + ":4:5: Parameters: [Zed] do not exist in the template " + tmpl},
	} {
		out, err := run(t, append(base, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v (%s), want %q", c.args, err, out, c.want)
		}
	}
}

func TestSpreadPairs_OnlyTheNamedFlagsTakeSeveralWords(t *testing.T) {
	got := spreadPairs([]string{"app", "--template", "a=b.yml", "--tags=x=1", "y=2", "--parameter-overrides", "A=1", "B=2", "app2", "C=3", "--", "D=4"},
		[]string{"parameter-overrides", "tags"})
	want := []string{"app", "--template", "a=b.yml", "--tags=x=1", "--tags", "y=2", "--parameter-overrides", "A=1", "--parameter-overrides", "B=2", "app2", "C=3", "--", "D=4"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestStackValidate_OfflineReportsEveryProblemAtItsPositionAndExitsOne(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.yml", `Parameters:
  Env:
    Type: String
    AllowedValues: [staging, prod]
Resources:
  Repo:
    Type: AWS::CodeCommit::Repository
    Properties:
      RepositoryName: !GetAtt Nope.Arn
  Other:
    Properties: {}
`)
	_, err := run(t, "stack", "validate", bad)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("got %v, want exit status 1", err)
	}
	for _, want := range []string{bad + ":9:23: Template error: instance of Fn::GetAtt references undefined resource Nope", bad + ":10:3: "} {
		if !strings.Contains(ee.msg, want) {
			t.Errorf("message lacks %q:\n%s", want, ee.msg)
		}
	}
	if n := strings.Count(ee.msg, "\n") + 1; n != 2 {
		t.Errorf("want the 2 problems, one per line:\n%s", ee.msg)
	}

	good := writeFile(t, dir, "good.yml", "Description: repos\nParameters:\n  Env: {Type: String, AllowedValues: [staging, prod]}\n"+
		"  Pass: {Type: String, NoEcho: true, Default: hunter2}\nResources:\n  Repo:\n    Type: AWS::CodeCommit::Repository\n"+
		"    Properties: {RepositoryName: !Ref Env}\n  Odd:\n    Type: AWS::Made::Up\n")
	out, err := run(t, "stack", "validate", good)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"Template " + good + " is valid.", "AWS::Made::Up", "Pass", "****"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hunter2") {
		t.Errorf("a NoEcho default is shown:\n%s", out)
	}
	_, err = run(t, "stack", "validate", good, "--parameters", "Env=dev", "Extra=1")
	if !errors.As(err, &ee) || !strings.Contains(ee.msg, good+":1:1: Parameters: [Extra] do not exist in the template") ||
		!strings.Contains(ee.msg, good+":3:3: Parameter 'Env' must be one of AllowedValues") {
		t.Fatalf("binding: %v", err)
	}
}
