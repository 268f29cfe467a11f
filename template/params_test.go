package template

import (
	"reflect"
	"strings"
	"testing"
)

const paramsTemplate = `Parameters:
  Str:
    Type: String
    Default: abc
    MinLength: 2
    MaxLength: 5
    AllowedPattern: '[a-z]+'
  Described:
    Type: String
    Default: ok
    AllowedPattern: '[a-z]+'
    ConstraintDescription: lower-case letters only
  Choice:
    Type: String
    Default: 'Yes'
    AllowedValues: ['Yes', 'No']
  Unquoted:
    Type: String
    Default: true
    AllowedValues: [Yes, No]
  Num:
    Type: Number
    Default: 5
    MinValue: 1
    MaxValue: 10.5
  Nums:
    Type: List<Number>
    Default: 1, 2
    MaxValue: 3
  Csv:
    Type: CommaDelimitedList
    Default: " a , b,c "
    AllowedValues: [a, b, c, d]
  Subnets:
    Type: List<AWS::EC2::Subnet::Id>
    Default: subnet-1,subnet-2
    AllowedPattern: 'subnet-[0-9]+'
  Vpc:
    Type: AWS::EC2::VPC::Id
    Default: ''
  Ssm:
    Type: AWS::SSM::Parameter::Value<String>
    Default: /app/ami
  SsmList:
    Type: AWS::SSM::Parameter::Value<List<String>>
    Default: /a,/b
  Secret:
    Type: String
    NoEcho: true
  SecretText:
    Type: String
    NoEcho: 'true'
    Default: x
  Open:
    Type: String
    NoEcho: 'false'
    Default: x
Resources:
  R: {Type: AWS::S3::Bucket}
`

func TestParametersBindEveryTypeWithItsDefault(t *testing.T) {
	tpl := mustParse(t, "t.yml", []byte(paramsTemplate))
	params, err := tpl.Bind(map[string]string{"Secret": "s3cr3t"})
	if err != nil {
		t.Fatal(err)
	}
	want := Params{
		"Str": "abc", "Described": "ok", "Choice": "Yes", "Unquoted": "true", "Num": "5",
		"Nums": []any{"1", "2"}, "Csv": []any{"a", "b", "c"}, "Subnets": []any{"subnet-1", "subnet-2"},
		"Vpc": "", "Ssm": "/app/ami", "SsmList": []any{"/a", "/b"}, "Secret": "s3cr3t", "SecretText": "x", "Open": "x",
	}
	if !reflect.DeepEqual(params, want) {
		t.Errorf("Bind\n got %#v\nwant %#v", params, want)
	}
	for name, want := range map[string]bool{"Secret": true, "SecretText": true, "Open": false, "Str": false, "Nope": false} {
		if tpl.NoEcho(name) != want {
			t.Errorf("NoEcho(%s) = %v", name, !want)
		}
	}
	p := tpl.Parameters["Num"]
	if p.Type != "Number" || *p.Default != "5" || *p.MinValue != 1 || *p.MaxValue != 10.5 || p.Pos.Line != 21 {
		t.Errorf("Num = %+v", p)
	}
	if got := tpl.Parameters["Unquoted"].AllowedValues; !reflect.DeepEqual(got, []string{"true", "false"}) {
		t.Errorf("unquoted Yes/No read as %v; YAML 1.1 makes them booleans", got)
	}
	if !reflect.DeepEqual(tpl.ParameterOrder[:3], []string{"Str", "Described", "Choice"}) {
		t.Errorf("ParameterOrder = %v", tpl.ParameterOrder)
	}
}

func TestEachParameterConstraintHasCloudFormationsMessage(t *testing.T) {
	tpl := mustParse(t, "t.yml", []byte(paramsTemplate))
	for _, c := range []struct {
		name, param, value, want string
	}{
		{"too short", "Str", "a", "2:3: Parameter 'Str' must contain at least 2 characters"},
		{"too long", "Str", "abcdef", "2:3: Parameter 'Str' must contain at most 5 characters"},
		{"the pattern matches the whole value", "Str", "ab1", "2:3: Malformed input-Parameter Str must match pattern [a-z]+"},
		{"the constraint description replaces the message", "Described", "OK", "8:3: Parameter 'Described' failed to satisfy constraint: lower-case letters only"},
		{"not an allowed value", "Choice", "yes", "13:3: Parameter 'Choice' must be one of AllowedValues"},
		{"not a number", "Num", "five", "21:3: Parameter 'Num' must be a number"},
		{"hexadecimal is not a number", "Num", "0x5", "21:3: Parameter 'Num' must be a number"},
		{"below MinValue", "Num", "0.5", "21:3: Parameter 'Num' must be a number not less than 1"},
		{"above MaxValue", "Num", "11", "21:3: Parameter 'Num' must be a number not greater than 10.5"},
		{"a list element not a number", "Nums", "1,x", "26:3: Parameter 'Nums' must be a number"},
		{"a list element above MaxValue", "Nums", "1, 4", "26:3: Parameter 'Nums' must be a number not greater than 3"},
		{"a list element not allowed", "Csv", "a,e", "30:3: Parameter 'Csv' must be one of AllowedValues"},
		{"a list element against the pattern", "Subnets", "subnet-1,vpc-2", "34:3: Malformed input-Parameter Subnets must match pattern subnet-[0-9]+"},
	} {
		t.Run(c.name, func(t *testing.T) {
			values := map[string]string{"Secret": "s", c.param: c.value}
			_, err := tpl.Bind(values)
			if got := problems(t, err); !reflect.DeepEqual(got, []string{c.want}) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestBindReportsEveryProblemAtOnce(t *testing.T) {
	tpl := mustParse(t, "t.yml", []byte(paramsTemplate))
	_, err := tpl.Bind(map[string]string{"Str": "!", "Num": "x", "Nope": "1", "Other": "2"})
	want := []string{
		"1:1: Parameters: [Nope, Other] do not exist in the template",
		"2:3: Parameter 'Str' must contain at least 2 characters",
		"21:3: Parameter 'Num' must be a number",
		"47:3: Parameters: [Secret] must have values",
	}
	if got := problems(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParametersWithoutValuesAreListedTogether(t *testing.T) {
	tpl := mustParse(t, "t.yml", []byte("Parameters:\n  A: {Type: String}\n  B: {Type: Number, Default: 1}\n  C: {Type: String}\n"+res))
	_, err := tpl.Bind(nil)
	if got := problems(t, err); !reflect.DeepEqual(got, []string{"2:3: Parameters: [A, C] must have values"}) {
		t.Errorf("got %q", got)
	}
	if _, err := tpl.Bind(map[string]string{"A": "", "C": ""}); err != nil {
		t.Errorf("an empty string is a value: %v", err)
	}
}

func TestValuesForATemplateWithoutParametersAreRejected(t *testing.T) {
	tpl := mustParse(t, "t.yml", []byte(res))
	_, err := tpl.Bind(map[string]string{"X": "1"})
	if got := problems(t, err); !reflect.DeepEqual(got, []string{"1:1: Parameter values specified for a template which does not require them."}) {
		t.Errorf("got %q", got)
	}
	if params, err := tpl.Bind(nil); err != nil || len(params) != 0 {
		t.Errorf("Bind(nil) = %v, %v", params, err)
	}
}

func TestOverridesBeatTheConfigurationFileWhichBeatsTheDefault(t *testing.T) {
	tpl := mustParse(t, "t.yml", []byte(`Parameters:
  A: {Type: String, Default: default-a}
  B: {Type: String, Default: default-b}
  C: {Type: String, Default: default-c}
`+res))
	cfg, err := ParseConfig("c.conf", []byte(`{"Parameters": {"A": "config-a", "B": "config-b"}}`))
	if err != nil {
		t.Fatal(err)
	}
	overrides := map[string]string{"A": "override-a"}
	merged := MergeParameters(cfg.Parameters, overrides)
	params, err := tpl.Bind(merged)
	if err != nil {
		t.Fatal(err)
	}
	want := Params{"A": "override-a", "B": "config-b", "C": "default-c"}
	if !reflect.DeepEqual(params, want) {
		t.Errorf("got %v, want %v", params, want)
	}
	if cfg.Parameters["A"] != "config-a" || overrides["B"] != "" {
		t.Error("MergeParameters changed its arguments")
	}
	if got := MergeParameters(nil, nil); got == nil || len(got) != 0 {
		t.Errorf("MergeParameters(nil, nil) = %#v", got)
	}
}

func TestAConfigurationFileNamingAnUnknownParameterFailsBind(t *testing.T) {
	tpl := mustParse(t, "t.yml", []byte("Parameters:\n  A: {Type: String, Default: a}\n"+res))
	cfg, err := ParseConfig("c.conf", []byte(`{"Parameters": {"Typo": "x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = tpl.Bind(MergeParameters(cfg.Parameters, nil))
	if got := problems(t, err); !reflect.DeepEqual(got, []string{"1:1: Parameters: [Typo] do not exist in the template"}) {
		t.Errorf("got %q", got)
	}
}

func TestParseConfigReadsParametersTagsAndStackPolicy(t *testing.T) {
	cfg, err := ParseConfig("c.conf", []byte("\ufeff"+`{
  "Parameters": {"InstanceCount": "2"},
  "Tags": {"team": "go"},
  "StackPolicy": {"Statement": [{"Effect": "Allow", "Action": "Update:*", "Principal": "*", "Resource": "*"}]}
}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Parameters["InstanceCount"] != "2" || cfg.Tags["team"] != "go" {
		t.Errorf("config = %+v", cfg)
	}
	stmt := cfg.StackPolicy["Statement"].([]any)[0].(map[string]any)
	if stmt["Action"] != "Update:*" {
		t.Errorf("StackPolicy = %v", cfg.StackPolicy)
	}
}

func TestConfigurationErrorsNameTheirPlace(t *testing.T) {
	for _, c := range []struct {
		name, src string
		want      []string
	}{
		{"a number value", "{\"Parameters\": {\n  \"InstanceCount\": 2\n}}",
			[]string{`2:20: the value of "InstanceCount" in Parameters must be a string; write it in double quotes, e.g. "2"`}},
		{"not JSON", "Parameters:\n  A: b\n",
			[]string{`1:1: the configuration file is not valid JSON: invalid character 'P' looking for beginning of value; write it as {"Parameters": {"Name": "value"}}`}},
		{"broken JSON", "{\"Parameters\": {\"A\": \"b\",}}",
			[]string{`1:26: the configuration file is not valid JSON: invalid character '}' looking for beginning of object key string; write it as {"Parameters": {"Name": "value"}}`}},
		{"an unknown key", `{"Parameter": {}}`,
			[]string{`1:2: unknown key "Parameter" in the configuration file (did you mean Parameters?); the keys are Parameters, Tags and StackPolicy`}},
		{"a list", `[]`,
			[]string{`1:1: the configuration file must be a JSON object with Parameters, Tags and StackPolicy`}},
		{"every problem", "{\"Tags\": {\"a\": true}, \"StackPolicy\": [], \"Parameters\": {\"x\": \"1\", \"x\": \"2\"}}",
			[]string{`1:16: the value of "a" in Tags must be a string; write it in double quotes, e.g. "true"`,
				`1:38: StackPolicy must be a JSON object such as {"Statement": [...]}`,
				`1:67: duplicate key "x" in Parameters; keep only one`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := ParseConfig("t.yml", []byte(c.src))
			if cfg != nil {
				t.Fatalf("ParseConfig returned %+v", cfg)
			}
			if got := problems(t, err); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %q\nwant %q", got, c.want)
			}
		})
	}
}
