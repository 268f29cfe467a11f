package template

import (
	"errors"
	"fmt"
	goparser "go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// problems returns the problems of err as "line:col: message".
func problems(t *testing.T, err error) []string {
	t.Helper()
	var errs Errors
	if !errors.As(err, &errs) || len(errs) == 0 {
		t.Fatalf("error %T is not a non-empty Errors: %v", err, err)
	}
	var out []string
	for _, e := range errs {
		if e.Pos.File != "t.yml" {
			t.Errorf("problem %v names file %q", e, e.Pos.File)
		}
		out = append(out, fmt.Sprintf("%d:%d: %s", e.Pos.Line, e.Pos.Col, e.Msg))
	}
	return out
}

const res = "Resources:\n  R: {Type: AWS::S3::Bucket}\n"

func TestEachTemplateErrorHasCloudFormationsWordingAndItsPosition(t *testing.T) {
	for _, c := range []struct {
		name string
		src  string
		want []string
	}{
		{"YAML not well-formed", "Resources:\n  R: a: b\n",
			[]string{"2:7: Template format error: YAML not well-formed. (line 2, column 7)"}},
		{"JSON not well-formed", "{\n  \"Resources\": {,}\n}\n",
			[]string{"2:17: Template format error: JSON not well-formed. (line 2, column 17)"}},
		{"two tags on one node", "Resources:\n  R:\n    Type: AWS::S3::Bucket\n    Properties: {A: !Base64 !Sub x}\n",
			[]string{"4:29: Template format error: YAML not well-formed. (line 4, column 29)"}},
		{"a tab for indentation", "Resources:\n\tR: {Type: AWS::S3::Bucket}\n",
			[]string{"2:1: Template format error: YAML not well-formed. (line 2, column 1)"}},
		{"an empty template", "",
			[]string{"1:1: Template format error: At least one Resources member must be defined."}},
		{"no Resources section", "Description: nothing\n",
			[]string{"1:1: Template format error: At least one Resources member must be defined."}},
		{"an empty Resources section", "Resources: {}\n",
			[]string{"1:1: Template format error: At least one Resources member must be defined."}},
		{"a malformed resource type", "Resources:\n  R: {Type: Bucket}\n",
			[]string{"2:13: Template format error: Unrecognized resource types: [Bucket]"}},
		{"no Type", "Resources:\n  R:\n    Properties: {}\n",
			[]string{"2:3: Template format error: [/Resources/R] Every Resources object must contain a Type member."}},
		{"a Ref to nothing", "Resources:\n  R:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Ref Nope\n",
			[]string{"5:19: Template format error: Unresolved resource dependencies [Nope] in the Resources block of the template"}},
		{"a Ref to nothing in Outputs", res + "Outputs:\n  O:\n    Value: !Ref Nope\n",
			[]string{"5:12: Template format error: Unresolved resource dependencies [Nope] in the Outputs block of the template"}},
		{"DependsOn on nothing", "Resources:\n  R:\n    Type: AWS::S3::Bucket\n    DependsOn: [Nope]\n",
			[]string{"4:17: Template format error: Unresolved resource dependencies [Nope] in the Resources block of the template"}},
		{"an output without Value", res + "Outputs:\n  O:\n    Description: d\n",
			[]string{"4:3: Template format error: Every Outputs member must contain a Value object"}},
		{"a cycle", "Resources:\n  A:\n    Type: AWS::S3::Bucket\n    Properties: {Name: !Ref B}\n  B:\n    Type: AWS::S3::Bucket\n    Properties: {Name: !Sub '${A.Arn}'}\n",
			[]string{"2:3: Circular dependency between resources: [A, B]"}},
		{"a cycle through DependsOn", "Resources:\n  C:\n    Type: AWS::S3::Bucket\n    DependsOn: A\n  A:\n    Type: AWS::S3::Bucket\n    DependsOn: B\n  B:\n    Type: AWS::S3::Bucket\n    Properties: {Name: !GetAtt C.Arn}\n",
			[]string{"2:3: Circular dependency between resources: [C, A, B]"}},
		{"a resource referring to itself", "Resources:\n  A:\n    Type: AWS::S3::Bucket\n    Properties: {Name: !Ref A}\n",
			[]string{"2:3: Circular dependency between resources: [A]"}},
		{"GetAtt of nothing", "Resources:\n  R:\n    Type: AWS::S3::Bucket\n    Properties: {Name: !GetAtt Nope.Arn}\n",
			[]string{"4:24: Template error: instance of Fn::GetAtt references undefined resource Nope"}},
		{"a resource in Conditions", res + "Conditions:\n  C: !Equals [!Ref R, x]\n",
			[]string{"4:15: Template format error: Unresolved dependencies [R]. Cannot reference resources in the Conditions block of the template"}},
		{"an undefined condition on a resource", "Resources:\n  R:\n    Type: AWS::S3::Bucket\n    Condition: Nope\n",
			[]string{"4:16: Template format error: Unresolved condition dependencies [Nope] in the Resources block of the template"}},
		{"an undefined condition in Conditions", res + "Conditions:\n  C: !Not [!Condition Nope]\n",
			[]string{"4:12: Template format error: Unresolved condition dependencies [Nope] in the Conditions block of the template"}},
		{"a condition that is not boolean", res + "Conditions:\n  C: !Ref AWS::Region\n",
			[]string{"4:6: Template format error: Conditions can only be boolean operations on parameters and other conditions"}},
		{"circular conditions", res + "Conditions:\n  A: !Not [!Condition B]\n  B: !Not [!Condition A]\n",
			[]string{"4:6: Template format error: Circular dependency between conditions: [A, B]"}},
		{"And with one condition", res + "Conditions:\n  A: !Equals [a, a]\n  B: !And [!Condition A]\n",
			[]string{"5:6: Template error: every Fn::And object requires a list of at least 2 and at most 10 boolean parameters."}},
		{"Or with eleven", res + "Conditions:\n  A: !Equals [a, a]\n  B: !Or [" + strings.Repeat("!Condition A, ", 10) + "!Condition A]\n",
			[]string{"5:6: Template error: every Fn::Or object requires a list of at least 2 and at most 10 boolean parameters."}},
		{"Or with a non-condition", res + "Conditions:\n  A: !Equals [a, a]\n  B: !Or [!Condition A, x]\n",
			[]string{"5:6: Template error: every Fn::Or object requires a list of at least 2 and at most 10 boolean parameters."}},
		{"Equals with three", res + "Conditions:\n  A: !Equals [a, a, a]\n",
			[]string{"4:6: Template error: Fn::Equals requires a list argument with two elements"}},
		{"Not with two", res + "Conditions:\n  A: !Equals [a, a]\n  B: !Not [!Condition A, !Condition A]\n",
			[]string{"5:6: Template error: Fn::Not requires a list argument with one element"}},
		{"Not of a value", res + "Conditions:\n  A: !Not [x]\n",
			[]string{"4:6: Template error: Fn::Not requires a list argument with one function token"}},
		{"GetAtt in a condition", res + "Conditions:\n  A: !Equals [!GetAtt R.Arn, x]\n",
			[]string{"4:15: Template error: Fn::GetAtt cannot be used in Fn::Equals; the functions allowed there are Fn::FindInMap, Fn::Join, Fn::Select, Fn::Split, Fn::Sub, Fn::Equals, Fn::And, Fn::Or, Fn::Not, Ref",
				"4:15: Template format error: Unresolved dependencies [R]. Cannot reference resources in the Conditions block of the template"}},
		{"a null value", "Resources:\n  R:\n    Type: AWS::S3::Bucket\n    Properties:\n",
			[]string{"4:16: Template format error: [/Resources/R/Properties] 'null' values are not allowed in templates"}},
		{"a null in a list", "Resources:\n  R:\n    Type: AWS::S3::Bucket\n    Properties:\n      Tags:\n        - ~\n",
			[]string{"6:11: Template format error: [/Resources/R/Properties/Tags/0] 'null' values are not allowed in templates"}},
		{"a duplicate key", "Resources:\n  R: {Type: AWS::S3::Bucket}\n  R: {Type: AWS::S3::Bucket}\n",
			[]string{`3:3: Template format error: duplicate key "R" (first written at line 2); keep only one`}},
		{"a duplicate section", res + "Resources: {}\n",
			[]string{`3:1: Template format error: duplicate key "Resources" (first written at line 1); keep only one`}},
		{"an alias", "Resources:\n  R:\n    Type: &t AWS::S3::Bucket\n  S:\n    Type: *t\n",
			[]string{"5:11: Template format error: YAML aliases are not allowed in templates; repeat the value of &t instead of writing *t"}},
		{"a merge key", "Resources:\n  R:\n    <<: {Type: AWS::S3::Bucket}\n",
			[]string{"2:3: Template format error: [/Resources/R] Every Resources object must contain a Type member.",
				"3:5: Template format error: YAML merge keys (<<) are not allowed in templates; write the keys out"}},
		{"an unknown tag", "Resources:\n  R:\n    Type: AWS::S3::Bucket\n    Properties: {Name: !GetAttr R.Arn}\n",
			[]string{"4:24: Template format error: unknown tag !GetAttr (did you mean !GetAtt?); the short forms are !Ref, !Sub, !GetAtt, !Join, !Select, !Split, !FindInMap, !GetAZs, !ImportValue, !If, !Equals, !And, !Or, !Not, !Base64, !Cidr, !Condition"}},
		{"a timestamp tag", "Resources:\n  R:\n    Type: AWS::S3::Bucket\n    Properties: {Date: !!timestamp 2001-01-01}\n",
			[]string{"4:24: Template format error: the YAML tag !!timestamp is not allowed in templates; write the value as a string"}},
		{"an unknown section", res + "Resource: {}\n",
			[]string{"3:1: Template format error: Invalid template property or properties [Resource] (did you mean Resources?)"}},
		{"an unknown resource attribute", "Resources:\n  R:\n    Type: AWS::S3::Bucket\n    Propertes: {}\n",
			[]string{"4:5: Template format error: Invalid template resource property 'Propertes' (did you mean Properties?)"}},
		{"an unsupported function", "Resources:\n  R:\n    Type: AWS::S3::Bucket\n    Properties: {N: {Fn::Length: [a]}}\n",
			[]string{"4:22: Template format error: Encountered unsupported function: Fn::Length Supported functions are: [Fn::Base64, Fn::GetAtt, Fn::GetAZs, Fn::ImportValue, Fn::Join, Fn::Split, Fn::FindInMap, Fn::Select, Ref, Fn::Equals, Fn::If, Fn::Not, Condition, Fn::And, Fn::Or, Fn::Sub, Fn::Cidr]"}},
		{"a function key beside others", "Resources:\n  R:\n    Type: AWS::S3::Bucket\n    Properties: {N: {Ref: R, X: 1}}\n",
			[]string{"4:22: Template format error: Ref must be the only key of its mapping; move the other keys out of it"}},
		{"a resource name with a dash", "Resources:\n  my-bucket: {Type: AWS::S3::Bucket}\n",
			[]string{"2:3: Template format error: Resource name my-bucket is non alphanumeric."}},
		{"a format version", "AWSTemplateFormatVersion: 2010-09-10\n" + res,
			[]string{"1:27: Template format error: unsupported value for AWSTemplateFormatVersion."}},
		{"a function in a mapping", res + "Mappings:\n  M:\n    k: {a: !Ref AWS::Region}\n",
			[]string{"5:12: Template format error: Every Mappings attribute must be a String or a List."}},
		{"an unknown mapping", "Resources:\n  R:\n    Type: AWS::S3::Bucket\n    Properties: {N: !FindInMap [M, a, b]}\n",
			[]string{"4:33: Template error: Mapping named 'M' is not present in the 'Mappings' section of template"}},
		{"an export name from a resource", res + "Outputs:\n  O:\n    Value: x\n    Export: {Name: !Ref R}\n",
			[]string{"6:20: Template error: the Export Name of output O must not depend on any resources"}},
		{"a list as output value", res + "Outputs:\n  O:\n    Value: [a]\n",
			[]string{"5:12: Template format error: The Value field of every Outputs member must evaluate to a String and not a List."}},
		{"a second document", res + "---\nResources: {}\n",
			[]string{"3:1: Template format error: a second YAML document starts here; a template is one document, so remove this --- line or what follows it"}},
		{"a deletion policy", "Resources:\n  R:\n    Type: AWS::S3::Bucket\n    DeletionPolicy: Keep\n",
			[]string{"4:21: Template format error: Unrecognized DeletionPolicy Keep for resource R; use one of Delete, Retain, RetainExceptOnCreate, Snapshot"}},
		{"a parameter and a resource of one name", "Parameters:\n  R: {Type: String}\n" + res,
			[]string{"4:3: Template error: all resources and parameters must have unique names. Common name(s):[R]"}},
		{"a parameter without Type", "Parameters:\n  P: {Default: x}\n" + res,
			[]string{"2:3: Template format error: Every Parameters object must contain a Type member."}},
		{"an unknown parameter type", "Parameters:\n  P: {Type: Strin}\n" + res,
			[]string{"2:13: Template format error: Unrecognized parameter type: Strin"}},
		{"an unknown parameter property", "Parameters:\n  P: {Type: String, Defualt: x}\n" + res,
			[]string{"2:21: Template format error: Invalid template parameter property 'Defualt' (did you mean Default?)"}},
		{"a bad AllowedPattern", "Parameters:\n  P: {Type: String, AllowedPattern: '(a'}\n" + res,
			[]string{"2:37: Parameter 'P' AllowedPattern must be a valid regular expression. (missing closing ): `(a`)"}},
		{"MinValue on a String", "Parameters:\n  P: {Type: String, MinValue: 1}\n" + res,
			[]string{"2:21: Template error: Parameter 'P' MinValue must be on a parameter of type Number"}},
		{"MinLength above MaxLength", "Parameters:\n  P: {Type: String, MinLength: 5, MaxLength: 2}\n" + res,
			[]string{"2:21: Template error: Parameter 'P' MinLength must be less than MaxLength."}},
		{"a function in Parameters", "Parameters:\n  P: {Type: String, Default: !Ref AWS::Region}\n" + res,
			[]string{"2:30: Template format error: Ref cannot be used in Parameters; write a literal value"}},
		{"too deep", res + "Metadata: " + strings.Repeat("[", 120) + strings.Repeat("]", 120) + "\n",
			[]string{"3:111: Template format error: the template nests values more than 100 levels deep"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tpl, err := Parse("t.yml", []byte(c.src))
			if tpl != nil {
				t.Fatalf("Parse returned a Template and %v", err)
			}
			if got := problems(t, err); !reflect.DeepEqual(got, c.want) {
				t.Errorf("%q:\n got %q\nwant %q", c.src, got, c.want)
			}
		})
	}
}

func TestEveryProblemOfATemplateIsReportedAtOnceInFileOrder(t *testing.T) {
	src := `Parameters:
  P: {Type: Strng}
Resources:
  A:
    Type: AWS::S3::Bucket
    Properties:
      Name: !Ref Nope
      Other: !GetAtt Missing.Arn
      Joined: !Join ['-']
  B:
    Typo: x
Outputs:
  O:
    Description: no value
`
	_, err := Parse("t.yml", []byte(src))
	want := []string{
		"2:13: Template format error: Unrecognized parameter type: Strng",
		"7:13: Template format error: Unresolved resource dependencies [Nope] in the Resources block of the template",
		"8:14: Template error: instance of Fn::GetAtt references undefined resource Missing",
		"9:15: Template error: every Fn::Join object requires two parameters, (1) a string delimiter and (2) a list of strings to be joined or a function that returns a list of strings (such as Fn::GetAZs) to be joined.",
		"10:3: Template format error: [/Resources/B] Every Resources object must contain a Type member.",
		"11:5: Template format error: Invalid template resource property 'Typo' (did you mean Type?)",
		"13:3: Template format error: Every Outputs member must contain a Value object",
	}
	if got := problems(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.HasPrefix(err.Error(), "t.yml:2:13: Template format error: Unrecognized parameter type: Strng\nt.yml:7:13: ") {
		t.Errorf("Error() = %q", err.Error())
	}
}

func TestAJSONTemplateIndentedWithTabsParses(t *testing.T) {
	src := "{\n\t\"Parameters\": {\"P\": {\"Type\": \"String\", \"Default\": \"x\", \"NoEcho\": \"true\"}},\n\t\"Resources\": {\n\t\t\"R\": {\"Type\": \"AWS::S3::Bucket\", \"Properties\": {\"N\": {\"Fn::Sub\": \"${P}-${AWS::Region}\"}, \"B\": true}}\n\t}\n}\n"
	tpl := mustParse(t, "t.json", []byte(src))
	props, err := tpl.EvalProperties(&Env{Params: Params{"P": "x"}}, nil, "R")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(props, map[string]any{"N": "x-local", "B": true}) || !tpl.NoEcho("P") {
		t.Errorf("props = %v, NoEcho = %v", props, tpl.NoEcho("P"))
	}
}

func TestAnErrorPrintsFileLineAndColumn(t *testing.T) {
	e := &Error{Pos: Pos{File: "a.yml", Line: 3, Col: 7}, Msg: "boom"}
	if e.Error() != "a.yml:3:7: boom" {
		t.Errorf("Error() = %q", e.Error())
	}
	if got := (Pos{File: "a.yml"}).String(); got != "a.yml" {
		t.Errorf("a position without a line prints %q", got)
	}
	var target *Error
	if !errors.As(Errors{e}, &target) || target != e {
		t.Error("errors.As does not find the problem in Errors")
	}
}

func TestAMessageStaysOnOneLineWhateverTheInput(t *testing.T) {
	_, err := Parse("t.yml", []byte("Resources:\n  R:\n    Type: \"AWS::S3::Bucket\\nX\"\n"))
	if err == nil || strings.Count(err.Error(), "\n") != 0 {
		t.Errorf("want one line, got %q", err)
	}
}

func TestMetadataAndRulesAreKeptAsWritten(t *testing.T) {
	tpl := mustParse(t, "t.yml", []byte(`Metadata:
  Anything: {Fn::Whatever: [1]}
Rules:
  R1:
    Assertions:
      - Assert: !Contains [[a], a]
Transform: AWS::Serverless-2016-10-31
`+res))
	if tpl.Metadata == nil || tpl.Rules == nil {
		t.Fatal("Metadata or Rules dropped")
	}
	if got := tpl.Rules.Get("R1").Get("Assertions").Items[0].Get("Assert"); got.Kind != Call || got.Fn != "Fn::Contains" {
		t.Errorf("rule assertion = %+v", got)
	}
	if !reflect.DeepEqual(tpl.Transform, []string{"AWS::Serverless-2016-10-31"}) {
		t.Errorf("Transform = %v", tpl.Transform)
	}
}

// schema knows S3 buckets with an Arn attribute.
type schema struct{}

func (schema) Known(typ string) bool { return typ == "AWS::S3::Bucket" }
func (schema) HasAttribute(typ, attr string) bool {
	return typ == "AWS::S3::Bucket" && attr == "Arn"
}

func TestCheckReportsUnsupportedAttributesAndWarnsOfUnknownTypes(t *testing.T) {
	tpl := mustParse(t, "t.yml", []byte(`Resources:
  B: {Type: AWS::S3::Bucket}
  C:
    Type: Custom::Thing
    Properties:
      A: !GetAtt B.Arn
      D: !Sub '${B.DomainName}'
      E: !GetAtt D.Anything
  D: {Type: Custom::Thing}
Outputs:
  O: {Value: !GetAtt [B, Nope]}
`))
	warnings, err := tpl.Check(schema{})
	if !reflect.DeepEqual(warnings, []string{"Custom::Thing"}) {
		t.Errorf("warnings = %v", warnings)
	}
	want := []string{
		"7:10: Template error: resource B does not support attribute type DomainName in Fn::GetAtt",
		"11:23: Template error: resource B does not support attribute type Nope in Fn::GetAtt",
	}
	if got := problems(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if w, err := tpl.Check(nil); w != nil || err != nil {
		t.Errorf("Check(nil) = %v, %v", w, err)
	}
}

func TestACycleThroughTheTakenBranchesIsReportedByOrder(t *testing.T) {
	tpl := mustParse(t, "t.yml", []byte(`Conditions:
  C: !Equals [a, a]
Resources:
  A:
    Type: AWS::S3::Bucket
    Properties: {N: !If [C, !Ref B, x]}
  B:
    Type: AWS::S3::Bucket
    Properties: {N: !If [C, y, !Ref A]}
  D:
    Type: AWS::S3::Bucket
    Condition: C
    Properties: {N: !If [C, !Ref A, !Ref B]}
`))
	order, err := tpl.Order(map[string]bool{"C": true})
	if err != nil || !reflect.DeepEqual(order, []string{"B", "A", "D"}) {
		t.Errorf("Order(C) = %v, %v", order, err)
	}
	deps := tpl.Dependencies(map[string]bool{"C": false})
	if !reflect.DeepEqual(deps, map[string][]string{"A": {}, "B": {"A"}}) {
		t.Errorf("Dependencies(!C) = %v", deps)
	}
	// Every branch taken at once closes the circle.
	_, err = tpl.Order(nil)
	if got := problems(t, err); !reflect.DeepEqual(got, []string{"4:3: Circular dependency between resources: [A, B]"}) {
		t.Errorf("Order(nil): %q", got)
	}
}

func TestAReferenceToAResourceWhoseConditionIsFalseFailsOrder(t *testing.T) {
	tpl := mustParse(t, "t.yml", []byte(`Conditions:
  C: !Equals [a, b]
Resources:
  A:
    Type: AWS::S3::Bucket
    Condition: C
  B:
    Type: AWS::S3::Bucket
    Properties: {N: !Ref A}
`))
	conds, err := tpl.EvalConditions(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := tpl.Active(conds); !reflect.DeepEqual(got, []string{"B"}) {
		t.Errorf("Active = %v", got)
	}
	_, err = tpl.Order(conds)
	want := []string{"9:21: Template format error: Unresolved resource dependencies [A] in the Resources block of the template"}
	if got := problems(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q", got)
	}
}

func TestThePackageDoesNoIO(t *testing.T) {
	forbidden := []string{"os", "os/exec", "net/http", "io/ioutil", "syscall", "unsafe"}
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
				if path == bad || strings.HasPrefix(path, bad+"/") || path == "net" {
					t.Errorf("%s imports %s; template is a pure format package", name, path)
				}
			}
		}
	}
}
