package catalog_test

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/slipway/slipway/catalog"
	"github.com/slipway/slipway/template"
	"github.com/slipway/slipway/yamlpos"
)

func goService(t *testing.T) *catalog.Blueprint {
	t.Helper()
	bps, err := catalog.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bps {
		if b.Name == "go-service" {
			return b
		}
	}
	t.Fatalf("no built-in go-service among %d blueprints", len(bps))
	return nil
}

func readContent(t *testing.T, b *catalog.Blueprint, name string) []byte {
	t.Helper()
	content, err := b.Content()
	if err != nil {
		t.Fatal(err)
	}
	data, err := fs.ReadFile(content, name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestBuiltin_GoServiceLoadsAndValidates(t *testing.T) {
	b := goService(t)
	if err := b.Validate(); err != nil {
		t.Fatalf("the built-in go-service does not validate:\n%v", err)
	}
	if b.Description == "" || b.Pipeline != "app/cloudformation/pipeline.yml" || b.ContentDir != "app" {
		t.Errorf("go-service: %+v", b)
	}
	var names []string
	for _, p := range b.Parameters {
		names = append(names, p.Name)
	}
	if strings.Join(names, ",") != "ApplicationName,Branch,GoCache" {
		t.Errorf("parameters %v", names)
	}
}

func TestBuiltin_GoServiceContentIsTheStarterRepository(t *testing.T) {
	b := goService(t)
	content, err := b.Content()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".gitignore", "go.mod", "main.go", "main_test.go", "buildspec.yml", "appspec.yml",
		"cloudformation/pipeline.yml", "cloudformation/infrastructure.yml", "config/staging.conf", "config/production.conf",
		"codedeploy/application-stop.sh", "codedeploy/before-install.sh", "codedeploy/after-install.sh",
		"codedeploy/application-start.sh", "codedeploy/validate-service.sh"}
	// TestFS also checks the file system itself: go.mod, kept under
	// another name in the binary, must look like any other file.
	if err := fstest.TestFS(content, want...); err != nil {
		t.Fatal(err)
	}
	var all []string
	if err := fs.WalkDir(content, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			all = append(all, p)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(all) != len(want) {
		t.Errorf("the content has %v, want exactly %v", all, want)
	}
	if !strings.Contains(string(readContent(t, b, "main.go")), `const version = "1.0.0"`) {
		t.Errorf("main.go does not set the version 1.0.0 as a constant")
	}
	pipeline, err := b.PipelineTemplate()
	if err != nil {
		t.Fatal(err)
	}
	if string(pipeline) != string(readContent(t, b, "cloudformation/pipeline.yml")) {
		t.Error("the pipeline template is not the content's cloudformation/pipeline.yml")
	}
}

// The pipeline template takes what Bind gives, and each environment's
// template what its configuration file and the pipeline's overrides give.
func TestBuiltin_GoServiceTemplatesBindTheirParameters(t *testing.T) {
	b := goService(t)
	values, err := b.Bind(map[string]string{"ApplicationName": "hello"})
	if err != nil {
		t.Fatal(err)
	}
	data, err := b.PipelineTemplate()
	if err != nil {
		t.Fatal(err)
	}
	pt, err := template.Parse(b.Pipeline, data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pt.Bind(values); err != nil {
		t.Errorf("the pipeline template refuses %v: %v", values, err)
	}
	it, err := template.Parse("infrastructure.yml", readContent(t, b, "cloudformation/infrastructure.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"staging", "production"} {
		conf, err := template.ParseConfig(env+".conf", readContent(t, b, "config/"+env+".conf"))
		if err != nil {
			t.Fatal(err)
		}
		params := template.MergeParameters(conf.Parameters, map[string]string{"ApplicationName": "hello", "EnvironmentName": env})
		if _, err := it.Bind(params); err != nil {
			t.Errorf("%s: the infrastructure refuses %v: %v", env, params, err)
		}
		if conf.Tags["Environment"] != env {
			t.Errorf("%s.conf tags %v", env, conf.Tags)
		}
	}
}

// The starter service is what a team gets on its first clone: it must pass
// its own buildspec's checks with the real go tool.
func TestBuiltin_GoServiceStarterPassesGoVetAndGoTest(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go vet, go test and go build on the starter service (seconds warm, a minute cold); not in -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go tool")
	}
	content, err := goService(t).Content()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, content); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"vet", "./..."}, {"test", "-count=1", "./..."}, {"build", "-o", "app", "."}} {
		start := time.Now()
		cmd := exec.Command(goTool, args...)
		cmd.Dir = dir
		// As the buildspec builds it, and never a toolchain download.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("go %s: %s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	}
	if _, err := os.Stat(filepath.Join(dir, "app")); err != nil {
		t.Errorf("go build made no app: %v", err)
	}
}

func TestBind_AppliesDefaultsAndRefusesBadValuesNamingTheParameter(t *testing.T) {
	b := goService(t)
	got, err := b.Bind(map[string]string{"ApplicationName": "hello"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got["ApplicationName"] != "hello" || got["Branch"] != "main" || got["GoCache"] != "" {
		t.Errorf("Bind = %v, want the name, Branch main and an empty GoCache", got)
	}
	got, err = b.Bind(map[string]string{"ApplicationName": "hello", "Branch": "release/2.0"})
	if err != nil || got["Branch"] != "release/2.0" {
		t.Errorf("Bind with a branch = %v, %v", got, err)
	}

	for _, tc := range []struct {
		name   string
		params map[string]string
		want   []string
	}{
		{"missing", map[string]string{},
			[]string{"parameter ApplicationName needs a value: The application's name."}},
		{"pattern with its description", map[string]string{"ApplicationName": "Hello_World"},
			[]string{`parameter ApplicationName: "Hello_World" is not allowed: 1 to 21 lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen`}},
		{"too long", map[string]string{"ApplicationName": "a-very-long-application-name"},
			[]string{`parameter ApplicationName: "a-very-long-application-name" is not allowed: 1 to 21`}},
		{"unknown, with a suggestion", map[string]string{"ApplicationName": "hello", "Brnach": "main"},
			[]string{`blueprint go-service has no parameter "Brnach" (did you mean "Branch"?); its parameters are ApplicationName, Branch, GoCache`}},
		{"every problem at once", map[string]string{"Branch": "-x", "Extra": "1"},
			[]string{`no parameter "Extra"`, "parameter ApplicationName needs a value", `parameter Branch: "-x" is not allowed: a branch name`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := b.Bind(tc.params)
			if err == nil {
				t.Fatalf("Bind(%v) = %v, want an error", tc.params, got)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Bind(%v):\n%v\nwant it to say %q", tc.params, err, w)
				}
			}
			if n := len(strings.Split(err.Error(), "\n")); n != len(tc.want) {
				t.Errorf("Bind(%v) reports %d problems, want %d:\n%v", tc.params, n, len(tc.want), err)
			}
		})
	}
}

// demo is a small valid blueprint in directory bp: files replaces or (with
// an empty text) removes its files.
func demo(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{
		"bp/blueprint.yml": {Data: []byte(`name: demo
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
`)},
		"bp/app/pipeline.yml": {Data: []byte(`Parameters:
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
`)},
		"bp/app/appspec.yml":   {Data: []byte("version: 0.0\nos: linux\n")},
		"bp/app/buildspec.yml": {Data: []byte("version: 0.2\nphases:\n  build:\n    commands:\n      - make\n")},
		"bp/app/infra.yml":     {Data: []byte("Parameters:\n  Size: {Type: Number}\nResources:\n  Bucket: {Type: AWS::S3::Bucket}\n")},
		"bp/app/test.conf":     {Data: []byte(`{"Parameters": {"Size": "1"}}`)},
	}
	for name, text := range files {
		if text == "" {
			delete(fsys, name)
		} else {
			fsys[name] = &fstest.MapFile{Data: []byte(text)}
		}
	}
	return fsys
}

func TestLoad_AValidBlueprintLoadsValidatesAndBindsAllowedValues(t *testing.T) {
	b, err := catalog.Load(demo(nil), "bp")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Bind(map[string]string{"ApplicationName": "x", "Stage": "live"}); err != nil || got["Stage"] != "live" {
		t.Errorf("Bind = %v, %v", got, err)
	}
	_, err = b.Bind(map[string]string{"ApplicationName": "x", "Stage": "lve"})
	if want := `parameter Stage: "lve" is not one of the allowed values test, live (did you mean "live"?)`; err == nil || err.Error() != want {
		t.Errorf("Bind with a bad value: %v, want %s", err, want)
	}
}

func TestLoad_ABrokenBlueprintYmlReportsEveryProblemAtFileLineCol(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"not YAML", "name: demo\n\tdescription: x\n",
			[]string{"bp/blueprint.yml:2:1: invalid YAML: found a tab character that violates indentation (while scanning a plain scalar that starts at 1:7); indent with spaces, YAML does not allow tabs"}},
		{"misspelt and missing keys", "name: Demo\ndescripton: x\npipeline: app/pipeline.yml\n",
			[]string{
				`bp/blueprint.yml:1:1: missing description; add a sentence saying what an application made from the blueprint is`,
				`bp/blueprint.yml:1:1: missing content; add the directory of the starter content in the blueprint's directory, such as content: app`,
				`bp/blueprint.yml:1:7: name "Demo" is not a blueprint name; use lower-case letters, digits and hyphens, starting with a letter, such as go-service`,
				`bp/blueprint.yml:2:1: unknown key "descripton" in blueprint.yml (did you mean "description"?)`,
			}},
		{"paths", "name: demo\ndescription: x\npipeline: ../pipeline.yml\ncontent: app/pipeline.yml\n",
			[]string{
				`bp/blueprint.yml:3:11: pipeline "../pipeline.yml" must be a path inside the blueprint's directory, written with / and without . or .. parts, such as app/cloudformation/pipeline.yml`,
				`bp/blueprint.yml:4:10: content "app/pipeline.yml" is a file; name the directory whose files are the repository's first commit`,
			}},
		{"absent files", "name: demo\ndescription: x\npipeline: app/pipe.yml\ncontent: src/\n",
			[]string{
				`bp/blueprint.yml:3:11: pipeline "app/pipe.yml" is not in the blueprint's directory`,
				`bp/blueprint.yml:4:10: content "src/" is not in the blueprint's directory`,
			}},
		{"parameters", `name: demo
description: x
pipeline: app/pipeline.yml
content: app
parameters:
  - name: Application-Name
    description: x
  - name: Stage
    default: prod
    allowed_values: [test, live]
  - name: Size
    description: x
    pattern: "[0-9"
    defualt: "1"
  - name: Stage
    description: again
  - just a name
  - description: nameless
  - name: Empty
    description: x
    default:
`,
			[]string{
				`bp/blueprint.yml:6:11: parameter name "Application-Name" must be letters and digits only, as a CloudFormation parameter's, such as ApplicationName`,
				`bp/blueprint.yml:8:5: parameter Stage needs a description: saying what it sets, for whoever makes an application from the blueprint`,
				`bp/blueprint.yml:9:14: the default of parameter Stage is refused by its own constraints: "prod" is not one of the allowed values test, live`,
				`bp/blueprint.yml:13:14: pattern "[0-9" is not a regular expression: missing closing ]: ` + "`[0-9)$`",
				`bp/blueprint.yml:14:5: unknown key "defualt" in a parameter (did you mean "default"?)`,
				`bp/blueprint.yml:15:11: parameter Stage is declared twice (first at line 8); keep one`,
				`bp/blueprint.yml:17:5: each parameter must be a mapping with name:, description: and default:, allowed_values: or pattern:, found "just a name"`,
				`bp/blueprint.yml:18:5: a parameter needs a name:, the name of a parameter of the pipeline template, such as name: ApplicationName`,
				`bp/blueprint.yml:21:13: default must be a single value, found an empty value; write default: "" for an empty value, or leave default out to make the parameter required`,
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := catalog.Load(demo(map[string]string{"bp/blueprint.yml": tc.text}), "bp")
			if err == nil {
				t.Fatalf("Load = %+v, want an error", b)
			}
			var es yamlpos.Errors
			if !errors.As(err, &es) {
				t.Fatalf("Load: %T %v, want yamlpos.Errors", err, err)
			}
			if got := err.Error(); got != strings.Join(tc.want, "\n") {
				t.Errorf("Load said:\n%s\nwant:\n%s", got, strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestLoad_ADirectoryWithoutBlueprintYmlIsNotABlueprint(t *testing.T) {
	_, err := catalog.Load(demo(map[string]string{"bp/blueprint.yml": ""}), "bp")
	if err == nil || err.Error() != "bp is not a blueprint: it has no blueprint.yml, which names the blueprint, its parameters, its pipeline template and its starter content" {
		t.Fatalf("Load: %v", err)
	}
}

func TestValidate_ReportsEveryProblemOfTheFilesItNames(t *testing.T) {
	b, err := catalog.Load(demo(map[string]string{
		"bp/blueprint.yml": `name: demo
description: A demo.
pipeline: app/pipeline.yml
content: app
parameters:
  - name: Stage
    description: Where it runs.
    default: test
  - name: Colour
    description: Not in the template.
    default: red
`,
		"bp/app/pipeline.yml": `Parameters:
  ApplicationName: {Type: String}
  Stage: {Type: String}
  Size: {Type: Number}
Resources:
  Pipeline:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      Stages:
        - Name: Deploy
          Actions:
            - Name: Infra
              ActionTypeId: {Category: Deploy, Owner: AWS, Provider: CloudFormation, Version: "1"}
              Configuration: {TemplatePath: Built::infra.yml, TemplateConfiguration: Built::test.conf}
            - Name: Generated
              ActionTypeId: {Category: Deploy, Owner: AWS, Provider: CloudFormation, Version: "1"}
              Configuration: {TemplatePath: Built::made-by-the-build.yml}
`,
		"bp/app/appspec.yml":   "",
		"bp/app/appspec.yaml":  "version: 0.0\nos: linux\nhooks:\n  AfterInstal:\n    - location: x.sh\n",
		"bp/app/buildspec.yml": "",
		"bp/app/test.conf":     `{"Parameters": {"Size": "1", "Sise": "2"}}`,
	}), "bp")
	if err != nil {
		t.Fatal(err)
	}
	err = b.Validate()
	want := []string{
		"bp/blueprint.yml:1:1: the blueprint has no parameter ApplicationName; every blueprint takes the application's name as ApplicationName, and its pipeline template names what it makes after it",
		"bp/blueprint.yml:9:11: parameter Colour is not a parameter of the pipeline template app/pipeline.yml; declare it there or remove it here",
		"bp/app/pipeline.yml:2:3: parameter ApplicationName has no Default and blueprint.yml does not list it, so nothing could give it a value; give it a Default or add it to the blueprint's parameters",
		"bp/app/pipeline.yml:4:3: parameter Size has no Default and blueprint.yml does not list it, so nothing could give it a value; give it a Default or add it to the blueprint's parameters",
		`bp/app/appspec.yaml:4:3: unknown lifecycle event "AfterInstal" (did you mean "AfterInstall"?)`,
		"bp/app: the starter content has no buildspec.yml; the pipeline's Build stage runs it",
		`bp/app/test.conf: Parameters: Sise is not a parameter of infra.yml (did you mean "Size"?); the stack deploy would refuse it`,
	}
	if err == nil {
		t.Fatal("Validate passed a broken blueprint")
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("Validate said:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

func TestValidate_APipelineTemplateThatDoesNotParseOrMakesNoPipeline(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{
			text: "Resources:\n  Repo:\n    Type: AWS::CodeCommit::Repository\n    Properties: {RepositoryName: !Reff x}\n",
			want: "bp/app/pipeline.yml:4:34: Template format error: unknown tag !Reff (did you mean !Ref?)",
		},
		{
			text: "Parameters:\n  ApplicationName: {Type: String}\n  Stage: {Type: String, Default: test}\nResources:\n  Repo: {Type: AWS::CodeCommit::Repository}\n",
			want: "bp/app/pipeline.yml:1:1: the pipeline template makes no AWS::CodePipeline::Pipeline",
		},
	} {
		b, err := catalog.Load(demo(map[string]string{"bp/app/pipeline.yml": tc.text}), "bp")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Validate: %v\nwant it to start with %s", err, tc.want)
		}
	}
}
