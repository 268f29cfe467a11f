package buildspec

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that every problem it reports
// is one positioned line, and that a Spec it returns is well formed.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		sample01,
		full02,
		base,
		"",
		"version: 0.2\nphases:\n  build:\n    commands:\n      - echo foo: bar\n",
		"version: 0.2\nphases:\n  build: &p\n    <<: *p\n    commands: [make]\n  post_build: *p\n",
		"version: 0.2\nphases:\n  build:\n\tcommands: [make]\n",
		"version: 0.1\nenvironment_variables:\n  plaintext:\n    A: 1\nphases:\n  build:\n    commands: [make]\n---\nx: 1\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := Parse("b.yml", data)
		if err != nil {
			if spec != nil {
				t.Fatalf("Parse returned a Spec and an error: %v", err)
			}
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error %T is not a non-empty Errors: %v", err, err)
			}
			for _, e := range errs {
				if e.Pos.Line < 1 || e.Pos.Column < 1 || e.Msg == "" || strings.ContainsAny(e.Msg, "\r\n") {
					t.Fatalf("malformed problem %+v", e)
				}
			}
			if _, again := Parse("b.yml", data); again == nil || again.Error() != err.Error() {
				t.Fatalf("Parse is not deterministic:\n%v\nthen\n%v", err, again)
			}
			return
		}
		if spec == nil {
			t.Fatal("Parse returned neither a Spec nor an error")
		}
		if spec.Version != "0.1" && spec.Version != "0.2" {
			t.Fatalf("Version = %q", spec.Version)
		}
		for name, ph := range map[string]*Phase{"install": spec.Install, "pre_build": spec.PreBuild, "build": spec.Build, "post_build": spec.PostBuild} {
			if ph == nil {
				continue
			}
			if ph.Name != name {
				t.Fatalf("phase %s is named %q", name, ph.Name)
			}
			if name != "install" && len(ph.Commands) == 0 {
				t.Fatalf("phase %s has no commands", name)
			}
			for _, c := range append(ph.Commands, ph.Finally...) {
				if c.Pos.Line < 1 || c.Pos.Column < 1 {
					t.Fatalf("command %q has no position", c.Text)
				}
			}
		}
		if spec.Install == nil && spec.PreBuild == nil && spec.Build == nil && spec.PostBuild == nil {
			t.Fatal("a Spec without phases")
		}
		for _, vs := range [][]Var{spec.Env.Variables, spec.Env.ParameterStore, spec.Env.SecretsManager} {
			for _, v := range vs {
				if v.Name == "" || strings.HasPrefix(v.Name, "CODEBUILD_") {
					t.Fatalf("variable %q was accepted", v.Name)
				}
			}
		}
		for _, name := range spec.Env.ExportedVariables {
			if strings.HasPrefix(name, "AWS_") {
				t.Fatalf("exported variable %q was accepted", name)
			}
		}
		if spec.Artifacts != nil && len(spec.Artifacts.Files) == 0 {
			t.Fatal("artifacts without files were accepted")
		}
	})
}
