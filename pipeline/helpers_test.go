package pipeline

import (
	"testing"
)

func TestGroupsOrdersActionsByRunOrderAndKeepsDeclaredOrderWithin(t *testing.T) {
	s := &Stage{Name: "Deploy", Actions: []*Action{
		{Name: "c", RunOrder: 3}, {Name: "a"}, {Name: "d", RunOrder: 3}, {Name: "b", RunOrder: 2}, {Name: "a2", RunOrder: 1},
	}}
	var got [][]string
	for _, g := range s.Groups() {
		var names []string
		for _, a := range g {
			names = append(names, a.Name)
		}
		got = append(got, names)
	}
	want := [][]string{{"a", "a2"}, {"b"}, {"c", "d"}}
	if len(got) != len(want) {
		t.Fatalf("groups %v, want %v", got, want)
	}
	for i := range want {
		if len(got[i]) != len(want[i]) || got[i][0] != want[i][0] || got[i][len(got[i])-1] != want[i][len(want[i])-1] {
			t.Fatalf("groups %v, want %v", got, want)
		}
	}
	if s.Actions[0].Name != "c" {
		t.Error("Groups reordered the stage's actions")
	}
	var none *Stage
	if none.Groups() != nil {
		t.Error("a nil stage has groups")
	}
}

func TestStageFindsAStageByName(t *testing.T) {
	d := &Declaration{Stages: []*Stage{{Name: "Source"}, {Name: "Build"}}}
	if d.Stage("Build") != d.Stages[1] || d.Stage("build") != nil || d.Stage("Deploy") != nil {
		t.Error("Stage")
	}
}

func TestParseArtifactPath(t *testing.T) {
	for _, c := range []struct {
		in, artifact, path, err string
	}{
		{in: "Built::config/staging.conf", artifact: "Built", path: "config/staging.conf"},
		{in: "Source::a::b", artifact: "Source", path: "a::b"},
		{in: "config/staging.conf", err: `"config/staging.conf" is not an artifact path; write ArtifactName::path/in/artifact, e.g. Built::cloudformation/template.yml`},
		{in: "::x.yml", err: `"::x.yml" names no artifact before ::; write ArtifactName::x.yml`},
		{in: "Built::", err: `"Built::" names no file after ::; write Built::path/in/artifact`},
		{in: "My Build::x", err: `the artifact "My Build" in "My Build::x" contains a space, which artifact names cannot hold; use only letters, digits, - and _ (for instance My-Build)`},
		{in: "Built::/etc/passwd", err: `the path in "Built::/etc/passwd" must be relative to the artifact's root; remove the leading /`},
		{in: "Built::config/../../x", err: `the path in "Built::config/../../x" leaves the artifact with ..; name a file inside it`},
	} {
		artifact, path, err := ParseArtifactPath(c.in)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("ParseArtifactPath(%q) error %v, want %s", c.in, err, c.err)
			}
			continue
		}
		if err != nil || artifact != c.artifact || path != c.path {
			t.Errorf("ParseArtifactPath(%q) = %q, %q, %v", c.in, artifact, path, err)
		}
	}
}

func TestSubstituteVariables(t *testing.T) {
	vars := map[string]string{
		"SourceVariables.CommitId":         "abc123",
		"codepipeline.PipelineExecutionId": "e-1",
		"variables.stage":                  "#{variables.stage}",
	}
	lookup := func(ns, name string) (string, bool) {
		v, ok := vars[ns+"."+name]
		return v, ok
	}
	for _, c := range []struct {
		in, out, err string
	}{
		{in: "plain", out: "plain"},
		{in: "app-#{SourceVariables.CommitId}-#{codepipeline.PipelineExecutionId}", out: "app-abc123-e-1"},
		{in: "#{variables.stage}", out: "#{variables.stage}"}, // one pass
		{in: `{"Commit": "#{SourceVariables.CommitId}"}`, out: `{"Commit": "abc123"}`},
		{in: "echo #{ not a reference", out: "echo #{ not a reference"},
		{in: "#{SourceVariables.Author}", err: "unresolved variable reference #{SourceVariables.Author}"},
		{in: "#{a.b} and #{c.d}", err: "unresolved variable references #{a.b}, #{c.d}"},
		{in: "#{CommitId}", err: "#{CommitId} is not a variable reference; write #{Namespace.Variable}"},
	} {
		out, err := SubstituteVariables(c.in, lookup)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("SubstituteVariables(%q) error %v, want %s", c.in, err, c.err)
			}
			continue
		}
		if err != nil || out != c.out {
			t.Errorf("SubstituteVariables(%q) = %q, %v, want %q", c.in, out, err, c.out)
		}
	}
}
