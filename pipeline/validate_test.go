package pipeline

import (
	"errors"
	"strings"
	"testing"
)

// The parts of the small declarations the rule cases are made of. Lines
// 1-3 are head, 4-6 the Source stage, 7-9 the Build stage, so a case's
// own lines start at line 10.
const (
	head     = "Name: p\nArtifactStore: {Type: S3, Location: bucket}\nStages:\n"
	srcStage = "  - Name: Source\n    Actions:\n" +
		"      - {Name: Src, ActionTypeId: {Category: Source, Owner: AWS, Provider: CodeCommit, Version: 1}, Configuration: {RepositoryName: app, BranchName: main}, OutputArtifacts: [{Name: Source}]}\n"
	buildStage = "  - Name: Build\n    Actions:\n" +
		"      - {Name: Build, ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: 1}, Configuration: {ProjectName: app}, InputArtifacts: [{Name: Source}], OutputArtifacts: [{Name: Built}]}\n"
	valid = head + srcStage + buildStage
	// deploy opens a third stage; a case adds its actions.
	deploy = "  - Name: Deploy\n    Actions:\n"
	// cfn is a CloudFormation action's type and input, before its
	// configuration.
	cfn = "      - Name: Stack\n        ActionTypeId: {Category: Deploy, Owner: AWS, Provider: CloudFormation, Version: 1}\n        InputArtifacts: [{Name: Built}]\n"
	// v2 is the head of a V2 pipeline (4 lines).
	v2 = "Name: p\nPipelineType: V2\nArtifactStore: {Type: S3, Location: bucket}\nStages:\n"
)

// problems returns the problems of err as "line:col: message".
func problems(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %T is not an Errors: %v", err, err)
	}
	var out []string
	for _, e := range errs {
		e.File = ""
		out = append(out, e.Error())
	}
	return out
}

func TestTheSmallBaseDeclarationIsValid(t *testing.T) {
	if _, err := Parse("p.yml", []byte(valid)); err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
}

type ruleCase struct {
	name string
	doc  string
	want []string
}

func runRules(t *testing.T, cases []ruleCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Parse("p.yml", []byte(c.doc))
			if d != nil && err != nil {
				t.Fatal("Parse returned a Declaration and an error")
			}
			got := problems(t, err)
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}
