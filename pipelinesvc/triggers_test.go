package pipelinesvc

import (
	"fmt"
	"testing"

	"github.com/slipway/slipway/pipeline"
	"github.com/slipway/slipway/repo"
)

func TestMatches_PushFiltersAsPipelineTypeV2HasThem(t *testing.T) {
	base := `
Name: app
RoleArn: arn:aws:iam::000000000000:role/pipeline
ArtifactStore: {Type: S3, Location: artifacts}
PipelineType: V2
%s
Stages:
  - Name: Source
    Actions:
      - Name: App
        ActionTypeId: {Category: Source, Owner: AWS, Provider: CodeCommit, Version: "1"}
        Configuration: {RepositoryName: app, BranchName: main}
        OutputArtifacts: [{Name: Src}]
  - Name: Approve
    Actions:
      - Name: Gate
        ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: "1"}
`
	trig := func(push string) string {
		return "Triggers:\n  - ProviderType: CodeStarSourceConnection\n    GitConfiguration:\n      SourceActionName: App\n      Push:\n" + push
	}
	cases := []struct {
		name, triggers, ref string
		files               []string
		want                bool
	}{
		{"no triggers: the source's branch", "", "refs/heads/main", nil, true},
		{"no triggers: another branch", "", "refs/heads/dev", nil, false},
		{"no triggers: a tag", "", "refs/tags/v1", nil, false},
		{"branch include glob", trig("        - Branches: {Includes: ['release/*']}\n"), "refs/heads/release/1.2", nil, true},
		{"branch exclude wins", trig("        - Branches: {Includes: ['release/*'], Excludes: ['release/old']}\n"), "refs/heads/release/old", nil, false},
		{"tags", trig("        - Tags: {Includes: ['v*']}\n"), "refs/tags/v2.0", nil, true},
		{"tags do not take branches", trig("        - Tags: {Includes: ['v*']}\n"), "refs/heads/v2", nil, false},
		{"file paths take a changed file", trig("        - Branches: {Includes: [main]}\n          FilePaths: {Includes: ['src/**/*.go']}\n"), "refs/heads/main", []string{"docs/a.md", "src/x/y.go"}, true},
		{"file paths with no matching file", trig("        - Branches: {Includes: [main]}\n          FilePaths: {Includes: ['src/**/*.go']}\n"), "refs/heads/main", []string{"docs/a.md"}, false},
		{"file path excludes", trig("        - Branches: {Includes: [main]}\n          FilePaths: {Excludes: ['docs/**']}\n"), "refs/heads/main", []string{"docs/a.md"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := pipeline.Parse("p.yml", fmt.Appendf(nil, base, c.triggers))
			if err != nil {
				t.Fatal(err)
			}
			p := repo.PushPayload{Repository: "app", Ref: c.ref, New: "1111111111111111111111111111111111111111"}
			got, err := matches(d, p, func() ([]string, error) { return c.files, nil })
			if err != nil || got != c.want {
				t.Fatalf("matches = %v %v, want %v", got, err, c.want)
			}
		})
	}
}
