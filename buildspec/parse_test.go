package buildspec

import (
	"errors"
	goparser "go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// sample01 is the buildspec of the public CodeBuild/CodeDeploy Go sample.
const sample01 = `version: 0.1

phases:
  install:
    commands:
      - go get -u github.com/golang/lint/golint
  pre_build:
    commands:
      - golint -set_exit_status
      - go test
  build:
    commands:
      - go build -o app
artifacts:
  files:
    - app
    - appspec.yml
    - buildspec.yml
    - config/*
    - codedeploy/*
    - cloudformation/*
`

func TestTheVersion01SampleBuildspecParses(t *testing.T) {
	spec, err := Parse("buildspec.yml", []byte(sample01))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	stripPos(spec)
	want := &Spec{
		Version:  "0.1",
		Install:  &Phase{Name: "install", Commands: []Command{{Text: "go get -u github.com/golang/lint/golint"}}},
		PreBuild: &Phase{Name: "pre_build", Commands: []Command{{Text: "golint -set_exit_status"}, {Text: "go test"}}},
		Build:    &Phase{Name: "build", Commands: []Command{{Text: "go build -o app"}}},
		Artifacts: &Artifacts{Files: []string{"app", "appspec.yml", "buildspec.yml",
			"config/*", "codedeploy/*", "cloudformation/*"}},
	}
	if !reflect.DeepEqual(spec, want) {
		t.Errorf("Parse:\n got %#v\nwant %#v", spec, want)
	}
}

// full02 uses every key of version 0.2; the line numbers in the test below
// refer to it.
const full02 = `version: 0.2

run-as: builder

env:
  shell: bash
  variables:
    JAVA_HOME: "/usr/lib/jvm/java-17"
    PORT: 8000
    DEBUG: yes
    EXTRA_PATH: $PATH:/opt/bin
    EMPTY:
  parameter-store:
    DB_PASSWORD: /prod/db/password
  secrets-manager:
    TOKEN: arn:aws:secretsmanager:eu-west-1:123456789012:secret:tok-AbCdEf:token:AWSCURRENT
  exported-variables:
    - PORT
    - CODEBUILD_BUILD_NUMBER
  git-credential-helper: yes

proxy:
  upload-artifacts: no
  logs: yes

batch:
  fast-fail: false
  build-list:
    - identifier: linux
      anything: goes here

phases:
  install:
    run-as: root
    on-failure: ABORT
    runtime-versions:
      golang: 1.20
      nodejs: latest
    commands:
      - go version
  pre_build:
    commands:
      - go vet ./...
  build:
    on-failure: CONTINUE
    commands:
      - go build -o app
      - |
        echo multi
        echo line
      - true
      - 42
    finally:
      - echo done
  post_build:
    commands:
      - 'echo "post: ok"'

reports:
  unit:
    files:
      - report.xml
    base-directory: out
    discard-paths: yes
  coverage:
    files: cover.xml
    file-format: COBERTURAXML

artifacts:
  files:
    - app
  name: app-$(date +%s)
  discard-paths: no
  base-directory: dist
  exclude-paths:
    - "*.tmp"
  enable-symlinks: Yes
  s3-prefix: builds
  secondary-artifacts:
    docs:
      files:
        - '**/*'
      base-directory: docs

cache:
  paths:
    - /root/.cache/go-build/**/*
`

func TestAFullVersion02BuildspecParsesIntoTheExpectedSpec(t *testing.T) {
	spec, err := Parse("buildspec.yml", []byte(full02))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}

	// A few positions first: keys for named things, items for commands.
	checkPos := func(what string, got Pos, line, col int) {
		t.Helper()
		if got != (Pos{Line: line, Column: col}) {
			t.Errorf("%s at %d:%d, want %d:%d", what, got.Line, got.Column, line, col)
		}
	}
	checkPos("variable JAVA_HOME", spec.Env.Variables[0].Pos, 8, 5)
	checkPos("parameter DB_PASSWORD", spec.Env.ParameterStore[0].Pos, 14, 5)
	checkPos("phase install", spec.Install.Pos, 33, 3)
	checkPos("phase build", spec.Build.Pos, 44, 3)
	checkPos("first build command", spec.Build.Commands[0].Pos, 47, 9)
	checkPos("block command", spec.Build.Commands[1].Pos, 48, 9)
	checkPos("finally command", spec.Build.Finally[0].Pos, 54, 9)
	checkPos("report unit", spec.Reports["unit"].Pos, 60, 3)
	checkPos("artifacts", spec.Artifacts.Pos, 69, 1)
	checkPos("secondary artifact docs", spec.Artifacts.Secondary["docs"].Pos, 80, 5)
	checkPos("cache", spec.Cache.Pos, 85, 1)

	stripPos(spec)
	want := &Spec{
		Version: "0.2",
		RunAs:   "builder",
		Env: Env{
			Shell: "bash",
			Variables: []Var{
				{Name: "JAVA_HOME", Value: "/usr/lib/jvm/java-17"},
				{Name: "PORT", Value: "8000"},
				{Name: "DEBUG", Value: "yes"},
				{Name: "EXTRA_PATH", Value: "$PATH:/opt/bin"},
				{Name: "EMPTY", Value: ""},
			},
			ParameterStore: []Var{{Name: "DB_PASSWORD", Value: "/prod/db/password"}},
			SecretsManager: []Var{{Name: "TOKEN",
				Value: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tok-AbCdEf:token:AWSCURRENT"}},
			ExportedVariables:   []string{"PORT", "CODEBUILD_BUILD_NUMBER"},
			GitCredentialHelper: true,
		},
		Install: &Phase{Name: "install", RunAs: "root", OnFailure: OnFailureAbort,
			RuntimeVersions: map[string]string{"golang": "1.20", "nodejs": "latest"},
			Commands:        []Command{{Text: "go version"}}},
		PreBuild: &Phase{Name: "pre_build", Commands: []Command{{Text: "go vet ./..."}}},
		Build: &Phase{Name: "build", OnFailure: OnFailureContinue,
			Commands: []Command{{Text: "go build -o app"}, {Text: "echo multi\necho line\n"}, {Text: "true"}, {Text: "42"}},
			Finally:  []Command{{Text: "echo done"}}},
		PostBuild: &Phase{Name: "post_build", Commands: []Command{{Text: `echo "post: ok"`}}},
		Artifacts: &Artifacts{
			Files:          []string{"app"},
			Name:           "app-$(date +%s)",
			BaseDirectory:  "dist",
			ExcludePaths:   []string{"*.tmp"},
			EnableSymlinks: true,
			S3Prefix:       "builds",
			Secondary: map[string]*Artifacts{
				"docs": {Files: []string{"**/*"}, BaseDirectory: "docs"},
			},
		},
		Cache: &Cache{Paths: []string{"/root/.cache/go-build/**/*"}},
		Reports: map[string]Report{
			"unit":     {Files: []string{"report.xml"}, BaseDirectory: "out", DiscardPaths: true, FileFormat: "JUNITXML"},
			"coverage": {Files: []string{"cover.xml"}, FileFormat: "COBERTURAXML"},
		},
	}
	if !reflect.DeepEqual(spec, want) {
		t.Errorf("Parse:\n got %#v\nwant %#v", spec, want)
	}
}

func TestTheVersionMayBeANumberOrAString(t *testing.T) {
	for _, v := range []string{`0.1`, `0.2`, `"0.1"`, `'0.2'`} {
		spec, err := Parse("b.yml", []byte("version: "+v+"\nphases:\n  build:\n    commands: [make]\n"))
		if err != nil {
			t.Errorf("version %s: %v", v, err)
			continue
		}
		if want := strings.Trim(v, `"'`); spec.Version != want {
			t.Errorf("version %s: Version = %q, want %q", v, spec.Version, want)
		}
	}
}

func TestBooleansMayBeYesNoTrueOrFalseInAnyCase(t *testing.T) {
	for text, want := range map[string]bool{
		"yes": true, "Yes": true, "YES": true, "true": true, "True": true, "TRUE": true,
		"no": false, "No": false, "NO": false, "false": false, "False": false, "FALSE": false,
	} {
		spec, err := Parse("b.yml", []byte("version: 0.2\nphases:\n  build:\n    commands: [make]\n"+
			"artifacts:\n  files: [app]\n  discard-paths: "+text+"\n"))
		if err != nil {
			t.Errorf("discard-paths: %s: %v", text, err)
			continue
		}
		if spec.Artifacts.DiscardPaths != want {
			t.Errorf("discard-paths: %s gave %v, want %v", text, spec.Artifacts.DiscardPaths, want)
		}
	}
}

func TestValuesYAMLReadsAsOtherTypesKeepTheirSourceText(t *testing.T) {
	spec, err := Parse("b.yml", []byte(`version: 0.2
env:
  variables:
    PORT: 8000
    DEBUG: yes
    ON: true
    HEX: 0x1F
    RATIO: 1.50
    BIG: 1e3
    NOTHING: ~
phases:
  build:
    commands:
      - true
      - 42
      - 0o17
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	var got []string
	for _, v := range spec.Env.Variables {
		got = append(got, v.Name+"="+v.Value)
	}
	for _, c := range spec.Build.Commands {
		got = append(got, c.Text)
	}
	want := []string{"PORT=8000", "DEBUG=yes", "ON=true", "HEX=0x1F", "RATIO=1.50", "BIG=1e3", "NOTHING=", "true", "42", "0o17"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestASinglePathWrittenWithoutAListIsAccepted(t *testing.T) {
	// CodeBuild's ECS tutorial writes "files: imagedefinitions.json".
	spec, err := Parse("b.yml", []byte("version: 0.2\nphases:\n  build:\n    commands: [make]\n"+
		"artifacts:\n  files: imagedefinitions.json\ncache:\n  paths: /root/.m2/**/*\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if !reflect.DeepEqual(spec.Artifacts.Files, []string{"imagedefinitions.json"}) ||
		!reflect.DeepEqual(spec.Cache.Paths, []string{"/root/.m2/**/*"}) {
		t.Errorf("files %q, cache paths %q", spec.Artifacts.Files, spec.Cache.Paths)
	}
}

func TestTheInstallPhaseMayLeaveOutCommands(t *testing.T) {
	spec, err := Parse("b.yml", []byte("version: 0.2\nphases:\n  install:\n    runtime-versions:\n      golang: 1.x\n  build:\n    commands: [make]\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if spec.Install == nil || len(spec.Install.Commands) != 0 || spec.Install.RuntimeVersions["golang"] != "1.x" {
		t.Errorf("install = %#v", spec.Install)
	}
}

func TestAnchorsAliasesAndMergeKeysWork(t *testing.T) {
	spec, err := Parse("b.yml", []byte(`version: 0.2
phases:
  pre_build: &defaults
    on-failure: ABORT
    commands:
      - make deps
  build:
    <<: *defaults
    commands:
      - make
      - &test make test
  post_build:
    commands:
      - *test
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if spec.Build.OnFailure != OnFailureAbort || len(spec.Build.Commands) != 2 || spec.Build.Commands[0].Text != "make" {
		t.Errorf("build = %#v: the merge key should bring on-failure, and the explicit commands should win", spec.Build)
	}
	if got := spec.PostBuild.Commands; len(got) != 1 || got[0].Text != "make test" || got[0].Pos != (Pos{Line: 14, Column: 9}) {
		t.Errorf("post_build commands = %#v, want the aliased text at the alias", got)
	}
}

// base is a valid buildspec that the error cases below extend or break.
const base = "version: 0.2\nphases:\n  build:\n    commands:\n      - make\n"

func TestEachRuleReportsItsProblemAtItsPosition(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		// want is one "line:col: message fragment" per expected problem,
		// in file order; no other problem may be reported.
		want []string
	}{
		{"an unknown top-level key suggests the closest known one",
			"version: 0.2\nphase:\n  build:\n    commands: [make]\n",
			[]string{`1:1: missing phases`, `2:1: unknown key "phase" in the top level (did you mean "phases"?)`}},
		{"an unknown key far from any known one lists the known ones",
			base + "colour: blue\n",
			[]string{`6:1: unknown key "colour" in the top level; the keys allowed there are version, run-as, env, proxy, batch, phases, reports, artifacts, cache`}},
		{"a phase written at the top level says to move it under phases",
			"version: 0.2\nbuild:\n  commands: [make]\n",
			[]string{`1:1: missing phases`, `2:1: unknown key "build" in the top level; phases go under phases:`}},
		{"a missing version is reported at the top mapping",
			"# comment\nphases:\n  build:\n    commands: [make]\n",
			[]string{`2:1: missing version; add version: 0.2`}},
		{"missing phases is reported at the top mapping",
			"version: 0.2\n",
			[]string{`1:1: missing phases; add phases: with at least one of install, pre_build, build, post_build`}},
		{"an empty file is reported at the document start",
			"",
			[]string{`1:1: missing version`, `1:1: missing phases`}},
		{"a file of comments only is empty",
			"# nothing yet\n",
			[]string{`1:1: missing version`, `1:1: missing phases`}},
		{"an unsupported version lists the supported ones",
			strings.Replace(base, "0.2", "0.3", 1),
			[]string{`1:10: unsupported version "0.3"; the supported versions are 0.1 and 0.2`}},
		{"a version that is not a single value is refused",
			strings.Replace(base, "0.2", "[0.2]", 1),
			[]string{`1:10: version must be 0.1 or 0.2, found a list`}},
		{"the buildspec must be a mapping",
			"- make\n",
			[]string{`1:1: the buildspec must be a mapping of keys such as version: and phases:, found a list`}},
		{"env belongs to version 0.2",
			strings.Replace(base, "0.2", "0.1", 1) + "env:\n  variables:\n    A: b\n",
			[]string{`6:1: env is the version 0.2 form; in version 0.1 write environment_variables: with plaintext:`}},
		{"environment_variables belongs to version 0.1",
			base + "environment_variables:\n  plaintext:\n    A: b\n",
			[]string{`6:1: environment_variables is the version 0.1 form; in version 0.2 write env: with variables:`}},
		{"version 0.1 environment_variables knows only plaintext",
			strings.Replace(base, "0.2", "0.1", 1) + "environment_variables:\n  parameter-store:\n    A: /b\n",
			[]string{`7:3: unknown key "parameter-store" in environment_variables; the keys allowed there are plaintext; version 0.1 supports only plaintext:`}},
		{"an unknown phase suggests the closest phase name",
			base + "  pre-build:\n    commands: [make]\n",
			[]string{`6:3: unknown phase "pre-build" (did you mean "pre_build"?)`}},
		{"an unknown phase far from any lists the phases",
			base + "  test:\n    commands: [make]\n",
			[]string{`6:3: unknown phase "test"; the phases are install, pre_build, build and post_build`}},
		{"empty phases are refused",
			"version: 0.2\nphases:\n",
			[]string{`2:1: phases is empty; add at least one of install, pre_build, build, post_build`}},
		{"a phase other than install needs commands",
			"version: 0.2\nphases:\n  build:\n    finally: [echo done]\n  post_build:\n    commands: []\n",
			[]string{`3:3: phase build has no commands; add commands:`, `5:3: phase post_build has no commands`}},
		{"a phase written as a list says to put it under commands",
			"version: 0.2\nphases:\n  build:\n    - make\n",
			[]string{`4:5: phase build must be a mapping, found a list; put the list under commands:`}},
		{"commands written as one string must be a list",
			"version: 0.2\nphases:\n  build:\n    commands: echo hi\n",
			[]string{`4:15: commands in phase build must be a list with one command per item, found a single value; write it as "- echo hi" on its own line below commands:`}},
		{"a command YAML read as a mapping must be quoted",
			base + "      - echo foo: bar\n",
			[]string{`6:9: this command was read as a mapping because it contains ": "; quote the whole command: - 'echo foo: bar'`}},
		{"a command with a quote shows the double-quoted form",
			base + "      - echo it's: here\n",
			[]string{`6:9: quote the whole command: - "echo it's: here"`}},
		{"an empty command is refused",
			base + "      -\n",
			[]string{`6:8: empty command in phase build; remove the lone "-" or write a command after it`}},
		{"a nested list is not a command",
			base + "      - [make, test]\n",
			[]string{`6:9: each command in phase build must be a single value, found a list`}},
		{"on-failure is ABORT or CONTINUE",
			base + "    on-failure: abort\n",
			[]string{`6:17: on-failure must be ABORT or CONTINUE, found "abort" (did you mean "ABORT"?)`}},
		{"runtime-versions belongs to install",
			base + "    runtime-versions:\n      golang: 1.x\n",
			[]string{`6:5: runtime-versions is only allowed in the install phase; move it there`}},
		{"a runtime version must be a single value",
			"version: 0.2\nphases:\n  install:\n    runtime-versions:\n      golang:\n",
			[]string{`5:14: the version of runtime "golang" must be a single value such as 1.x or latest, found an empty value`}},
		{"an unknown phase key suggests the closest",
			base + "    command: [make]\n",
			[]string{`6:5: unknown key "command" in phase build (did you mean "commands"?)`}},
		{"duplicate keys are refused everywhere",
			"version: 0.2\nphases:\n  build:\n    commands: [make]\n  build:\n    commands: [make]\nversion: 0.2\n" +
				"env:\n  variables:\n    A: b\n    A: c\n",
			[]string{`5:3: duplicate key "build" (first written at line 3); keep only one`,
				`7:1: duplicate key "version" (first written at line 1)`,
				`11:5: duplicate key "A" (first written at line 10)`}},
		{"CODEBUILD_ names are reserved",
			base + "env:\n  variables:\n    CODEBUILD_FOO: x\n  parameter-store:\n    CODEBUILD_BAR: /x\n",
			[]string{`8:5: variable "CODEBUILD_FOO" begins with CODEBUILD_, which is reserved for CodeBuild's own variables; rename it`,
				`10:5: variable "CODEBUILD_BAR" begins with CODEBUILD_`}},
		{"AWS_ names cannot be exported",
			base + "env:\n  exported-variables:\n    - AWS_REGION\n",
			[]string{`8:7: exported variable "AWS_REGION" begins with AWS_, and such names cannot be exported; rename the variable`}},
		{"secrets cannot be exported",
			base + "env:\n  secrets-manager:\n    TOKEN: tok\n  exported-variables:\n    - TOKEN\n",
			[]string{`10:7: exported variable "TOKEN" comes from secrets-manager, and exporting it would reveal a secret`}},
		{"exported-variables must be a list",
			base + "env:\n  exported-variables: A\n",
			[]string{`7:23: exported-variables in env must be a list with one variable name per item`}},
		{"an env value that is a mapping or a list is refused",
			base + "env:\n  variables:\n    A: {b: c}\n    B: [c]\n",
			[]string{`8:8: the value of "A" in env variables must be a single value, found a mapping; quote it if it is meant as text`,
				`9:8: the value of "B" in env variables must be a single value, found a list`}},
		{"a parameter needs a name to fetch",
			base + "env:\n  parameter-store:\n    DB:\n",
			[]string{`8:5: "DB" in env parameter-store has no value; write what to fetch after the colon`}},
		{"a name defined twice across env blocks is refused",
			base + "env:\n  variables:\n    DB: x\n  parameter-store:\n    DB: /db\n",
			[]string{`10:5: variable "DB" is defined twice, in variables (line 8) and in parameter-store; keep one of them`}},
		{"the shell is bash or /bin/sh",
			base + "env:\n  shell: zsh\n",
			[]string{`7:10: shell "zsh" is not supported; use bash or /bin/sh`}},
		{"a boolean must be yes or no",
			base + "env:\n  git-credential-helper: maybe\nproxy:\n  logs: 1\n",
			[]string{`7:26: git-credential-helper in env must be yes or no, found "maybe"`,
				`9:9: logs in proxy must be yes or no, found "1"`}},
		{"artifacts need files",
			base + "artifacts:\n  name: app\n",
			[]string{`6:1: artifacts has no files; add files: with at least one path (it is required even when only secondary artifacts are declared)`}},
		{"a secondary artifact needs files and cannot nest",
			base + "artifacts:\n  files: [app]\n  secondary-artifacts:\n    docs:\n      base-directory: docs\n      secondary-artifacts: {}\n",
			[]string{`9:5: secondary artifact "docs" has no files`,
				`11:7: a secondary artifact cannot have secondary-artifacts of its own`}},
		{"an unknown artifacts key suggests the closest",
			base + "artifacts:\n  files: [app]\n  discard_paths: yes\n",
			[]string{`8:3: unknown key "discard_paths" in artifacts (did you mean "discard-paths"?)`}},
		{"cache needs paths",
			base + "cache:\n",
			[]string{`6:1: cache has no paths; add paths: with at least one path, or remove cache:`}},
		{"a report group needs files and a known file-format",
			base + "reports:\n  unit:\n    file-format: junitxml\n",
			[]string{`7:3: report group "unit" has no files; add files:`,
				`8:18: unknown file-format "junitxml" (did you mean "JUNITXML"?); the formats are CUCUMBERJSON, JUNITXML,`}},
		{"a YAML syntax error is positioned",
			"version: 0.2\nphases:\n  build:\n    commands: [make, test\n",
			[]string{`5:1: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence that starts at 4:15)`}},
		{"a tab in the indentation says to use spaces",
			"version: 0.2\nphases:\n  build:\n\tcommands: [make]\n",
			[]string{`4:1: invalid YAML: found character that cannot start any token; indent with spaces, YAML does not allow tabs`}},
		{"a colon inside a mapping value says to quote it",
			base + "      - echo a: b: c\n",
			[]string{`6:18: invalid YAML: mapping values are not allowed in this context; a value that contains ": " must be quoted`}},
		{"invalid UTF-8 is positioned at the offending byte",
			base + "      - echo \xff\n",
			[]string{`6:14: invalid YAML: invalid leading UTF-8 octet (value: 255); save the file as UTF-8`}},
		{"an unknown anchor is positioned",
			base + "      - *nope\n",
			[]string{`6:9: invalid YAML: unknown anchor 'nope' referenced`}},
		{"a second YAML document is refused",
			base + "---\nversion: 0.1\n",
			[]string{`6:1: a second YAML document starts here; a buildspec is one document`}},
		{"a merge key needs a mapping",
			"version: 0.2\nphases:\n  build:\n    <<: make\n    commands: [make]\n",
			[]string{`4:9: a merge key (<<) needs a mapping or a list of mappings, such as *defaults, found "make"`}},
		{"a key must be a plain name",
			base + "? [a, b]\n: c\n",
			[]string{`6:3: a key must be a plain name, found a list`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := Parse("buildspec.yml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded with %#v, want errors %q", spec, tc.want)
			}
			if spec != nil {
				t.Errorf("Parse returned a Spec together with an error")
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T is not Errors: %v", err, err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				at, frag, _ := strings.Cut(w, " ")
				if !strings.HasPrefix(lines[i], "buildspec.yml:"+at+" ") || !strings.Contains(lines[i], frag) {
					t.Errorf("problem %d:\n got %s\nwant buildspec.yml:%s …%s…", i, lines[i], at, frag)
				}
			}
		})
	}
}

func TestEveryProblemOfTheFileIsReportedAtOnceInFileOrder(t *testing.T) {
	_, err := Parse("ci/buildspec.yml", []byte(`version: 0.2
env:
  variables:
    CODEBUILD_X: 1
phases:
  biuld:
    commands: [make]
  post_build:
    commands:
      - echo result: done
artifacts:
  base-directory: out
`))
	want := `ci/buildspec.yml:4:5: variable "CODEBUILD_X" begins with CODEBUILD_, which is reserved for CodeBuild's own variables; rename it
ci/buildspec.yml:6:3: unknown phase "biuld" (did you mean "build"?)
ci/buildspec.yml:10:9: this command was read as a mapping because it contains ": "; quote the whole command: - 'echo result: done'
ci/buildspec.yml:11:1: artifacts has no files; add files: with at least one path (it is required even when only secondary artifacts are declared)`
	if err == nil || err.Error() != want {
		t.Errorf("Parse error:\n%v\nwant:\n%s", err, want)
	}
}

func TestEachProblemIsAnErrorValueWithFileAndPosition(t *testing.T) {
	_, err := Parse("b.yml", []byte("version: 9\nphases:\n  build:\n    commands: [make]\n"))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("errors.As(%v, *Error) failed", err)
	}
	if e.File != "b.yml" || e.Pos != (Pos{Line: 1, Column: 10}) || !strings.Contains(e.Msg, `unsupported version "9"`) {
		t.Errorf("Error = %+v", e)
	}
	if got := (&Error{Pos: Pos{Line: 2, Column: 3}, Msg: "m"}).Error(); got != "2:3: m" {
		t.Errorf("Error without a file prints %q", got)
	}
}

func TestTheProblemsOfAnAliasedNodeAreReportedOnce(t *testing.T) {
	_, err := Parse("b.yml", []byte("version: 0.2\nphases:\n  build: &p\n    commands: [make]\n    on-failure: NEVER\n  post_build: *p\n"))
	if err == nil || strings.Count(err.Error(), "\n") != 0 {
		t.Errorf("want exactly one problem, got:\n%v", err)
	}
}

func TestAMessageStaysOnOneLineWhateverTheInput(t *testing.T) {
	_, err := Parse("b.yml", []byte("version: 0.2\nphases:\n  build:\n    commands: \"a\\nb\\rc\"\n  \"x\\ny\": {}\n"))
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	if n := strings.Count(err.Error(), "\n"); n != 1 {
		t.Errorf("want 2 lines, got:\n%v", err)
	}
}

func TestThePackageDoesNoIO(t *testing.T) {
	forbidden := []string{"os", "os/exec", "net", "net/http", "io/ioutil", "syscall", "unsafe"}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := goparser.ParseFile(fset, name, nil, goparser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				if path == bad || strings.HasPrefix(path, bad+"/") {
					t.Errorf("%s imports %s; buildspec is a pure format package", name, path)
				}
			}
		}
	}
}

// stripPos zeroes every position, so that a whole Spec can be compared.
func stripPos(s *Spec) {
	zero := func(vs []Var) {
		for i := range vs {
			vs[i].Pos = Pos{}
		}
	}
	zero(s.Env.Variables)
	zero(s.Env.ParameterStore)
	zero(s.Env.SecretsManager)
	for _, ph := range []*Phase{s.Install, s.PreBuild, s.Build, s.PostBuild} {
		if ph == nil {
			continue
		}
		ph.Pos = Pos{}
		for i := range ph.Commands {
			ph.Commands[i].Pos = Pos{}
		}
		for i := range ph.Finally {
			ph.Finally[i].Pos = Pos{}
		}
	}
	if s.Artifacts != nil {
		s.Artifacts.Pos = Pos{}
		for _, a := range s.Artifacts.Secondary {
			a.Pos = Pos{}
		}
	}
	if s.Cache != nil {
		s.Cache.Pos = Pos{}
	}
	for k, r := range s.Reports {
		r.Pos = Pos{}
		s.Reports[k] = r
	}
}
