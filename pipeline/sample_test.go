package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func parseSample(t testing.TB) *Declaration {
	t.Helper()
	d, err := Parse("sample-pipeline.yml", readTestdata(t, "sample-pipeline.yml"))
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return d
}

func TestTheSamplePipelineValidatesWithItsFiveStages(t *testing.T) {
	d := parseSample(t)
	var names []string
	for _, s := range d.Stages {
		names = append(names, s.Name)
	}
	if want := []string{"Source", "Build", "Staging", "Approvals", "Production"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("stages %v, want %v", names, want)
	}
	if d.PipelineType != V1 || d.ExecutionMode != Superseded {
		t.Errorf("defaults: %s %s", d.PipelineType, d.ExecutionMode)
	}
	src := d.Stage("Source").Actions[0]
	if src.RunOrder != 1 || src.ActionTypeID != (ActionTypeID{Source, AWS, CodeCommit, "1"}) {
		t.Errorf("source action %+v", src)
	}
	for _, stage := range []string{"Staging", "Production"} {
		groups := d.Stage(stage).Groups()
		if len(groups) != 2 || len(groups[0]) != 1 || len(groups[1]) != 1 ||
			groups[0][0].ActionTypeID.Provider != CloudFormation || groups[1][0].ActionTypeID.Provider != CodeDeploy {
			t.Errorf("%s groups %v", stage, groups)
		}
	}
	cfn := d.Stage("Staging").Actions[0].Configuration
	if cfn["TemplateConfiguration"] != "Built::config/staging.conf" || !strings.Contains(cfn["ParameterOverrides"], `"EnvironmentName": "staging"`) {
		t.Errorf("staging configuration %v", cfn)
	}
	if approve := d.Stage("Approvals").Actions[0]; approve.Configuration != nil || approve.ActionTypeID.Category != Approval {
		t.Errorf("approval %+v", approve)
	}
	if err := d.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestTheBrokenRevisionGivesBothProblemsWithPositions(t *testing.T) {
	_, err := Parse("broken-pipeline.yml", readTestdata(t, "broken-pipeline.yml"))
	want := "broken-pipeline.yml:12:15: the name of action \"Git Pull\" in stage Source contains a space, which action names cannot hold; use only letters, digits and . @ - _ (for instance Git-Pull)\n" +
		"broken-pipeline.yml:13:9: unknown key ActionTypId in action Git Pull of stage Source; did you mean ActionTypeId?"
	if err == nil || err.Error() != want {
		t.Errorf("Parse:\n%v\nwant:\n%s", err, want)
	}
	var first *Error
	if !errors.As(err, &first) || first.Pos != (Pos{Line: 12, Column: 15}) || first.Path != "Stages[0].Actions[0].Name" {
		t.Errorf("errors.As gives %+v", first)
	}
}

func TestTheCreatePipelineInputReadsLikeTheCloudFormationProperties(t *testing.T) {
	want := parseSample(t)
	want.Tags = []Tag{{Key: "team", Value: "platform"}}
	got, err := Parse("sample-pipeline.json", readTestdata(t, "sample-pipeline.json"))
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("camelCase input:\n got %+v\nwant %+v", got, want)
	}
}

func TestADeclarationMarshalsToJSONThatParsesBack(t *testing.T) {
	want := parseSample(t)
	data, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(`"ActionTypeId":{"Category":"Source"`)) || !bytes.Contains(data, []byte(`"RoleArn":`)) {
		t.Errorf("JSON does not use the CloudFormation names: %s", data)
	}
	got, err := Parse("p.json", data)
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

// sampleProperties is the sample as a stack hands it over: JSON values,
// numbers as json.Number or, with useNumber false, float64.
func sampleProperties(t *testing.T, useNumber bool) map[string]any {
	t.Helper()
	data, err := json.Marshal(parseSample(t))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if useNumber {
		dec.UseNumber()
	}
	var props map[string]any
	if err := dec.Decode(&props); err != nil {
		t.Fatal(err)
	}
	return props
}

func TestFromPropertiesReadsTheEvaluatedSample(t *testing.T) {
	want := parseSample(t)
	for _, useNumber := range []bool{true, false} {
		got, err := FromProperties("Pipeline", sampleProperties(t, useNumber))
		if err != nil {
			t.Fatalf("FromProperties:\n%v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("useNumber %v:\n got %+v\nwant %+v", useNumber, got, want)
		}
	}
}

func TestFromPropertiesAcceptsAnUnnamedPipelineAndGoValues(t *testing.T) {
	props := sampleProperties(t, true)
	delete(props, "Name")
	stages := props["Stages"].([]any)
	build := stages[1].(map[string]any)["Actions"].([]any)[0].(map[string]any)
	build["RunOrder"] = 1
	build["Configuration"] = map[string]string{"ProjectName": "app", "BatchEnabled": "false"}
	d, err := FromProperties("Pipeline", props)
	if err != nil {
		t.Fatalf("FromProperties:\n%v", err)
	}
	if d.Name != "" || d.Stages[1].Actions[0].Configuration["BatchEnabled"] != "false" {
		t.Errorf("declaration %+v", d)
	}
}

func TestFromPropertiesNamesThePathOfEachProblem(t *testing.T) {
	props := sampleProperties(t, true)
	source := props["Stages"].([]any)[0].(map[string]any)["Actions"].([]any)[0].(map[string]any)
	source["Name"] = "Git Pull"
	source["ActionTypId"] = source["ActionTypeId"]
	delete(source, "ActionTypeId")
	build := props["Stages"].([]any)[1].(map[string]any)["Actions"].([]any)[0].(map[string]any)
	build["Configuration"] = map[string]any{"ProjectName": struct{ Ref string }{"CodeBuild"}}
	_, err := FromProperties("Pipeline", props)
	want := []string{
		`Pipeline: Stages[0].Actions[0].ActionTypId: unknown key ActionTypId in action Git Pull of stage Source; did you mean ActionTypeId?`,
		`Pipeline: Stages[0].Actions[0].Name: the name of action "Git Pull" in stage Source contains a space, which action names cannot hold; use only letters, digits and . @ - _ (for instance Git-Pull)`,
		`Pipeline: Stages[1].Actions[0].Configuration.ProjectName: the value of ProjectName in Configuration of action CodeBuild of stage Build must be text, found a value of Go type struct { Ref string } (a value not known yet?); write JSON as a string (for instance ProjectName: |, then the JSON on the lines below)`,
	}
	var got []string
	if err != nil {
		got = strings.Split(err.Error(), "\n")
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestValidateChecksADeclarationBuiltInGo(t *testing.T) {
	d := parseSample(t)
	d.Stages[2].Actions[1].InputArtifacts = []Artifact{{Name: "Bilt"}}
	d.Stages[3].Actions[0].RunOrder = 0 // read as 1
	d.Stages = append(d.Stages, nil)
	err := d.Validate()
	want := "Stages[2].Actions[1].InputArtifacts[0].Name: input artifact Bilt of action DeployApplication of stage Staging is not the output of any action; did you mean Built?\n" +
		"Stages[5]: stage 6 is nil"
	if err == nil || err.Error() != want {
		t.Errorf("Validate:\n%v\nwant:\n%s", err, want)
	}
}

func TestAnchorsAndMergeKeysShareActionSettings(t *testing.T) {
	doc := head + srcStage + `  - Name: Build
    Actions:
      - &test
        Name: Unit
        ActionTypeId: {Category: Test, Owner: AWS, Provider: CodeBuild, Version: 1}
        Configuration: {ProjectName: unit}
        InputArtifacts: [{Name: Source}]
      - <<: *test
        Name: Lint
        Configuration: {ProjectName: lint}
`
	d, err := Parse("p.yml", []byte(doc))
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	lint := d.Stages[1].Actions[1]
	if lint.Name != "Lint" || lint.Configuration["ProjectName"] != "lint" || lint.ActionTypeID.Provider != CodeBuild || len(lint.InputArtifacts) != 1 {
		t.Errorf("merged action %+v", lint)
	}
	if groups := d.Stages[1].Groups(); len(groups) != 1 || len(groups[0]) != 2 {
		t.Errorf("groups %v", groups)
	}
}

func TestAliasesCannotBlowUpTheDocument(t *testing.T) {
	doc := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for c := 'b'; c <= 'h'; c++ {
		prev := string(c - 1)
		doc += string(c) + ": &" + string(c) + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n"
	}
	_, err := Parse("bomb.yml", []byte(doc))
	if err == nil || !strings.Contains(err.Error(), "expands to more than 200000 values") {
		t.Errorf("Parse: %v", err)
	}
}

func TestDeepNestingIsRefused(t *testing.T) {
	doc := "Name: " + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "\n"
	_, err := Parse("deep.yml", []byte(doc))
	if err == nil || !strings.Contains(err.Error(), "nests values more than 64 levels deep") {
		t.Errorf("Parse: %v", err)
	}
}
