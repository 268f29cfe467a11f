package template

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// skeleton is the template the intrinsic-function cases are evaluated in;
// the case's snippet becomes the value of property V of resource R, on line
// vLine from column 10.
const skeleton = `Parameters:
  Name: {Type: String, Default: app}
  Count: {Type: Number, Default: 3}
  Subnets: {Type: CommaDelimitedList, Default: "a, b,c"}
  Env: {Type: String, Default: prod}
  Key: {Type: String, Default: k1}
  Index: {Type: Number, Default: 1}
Mappings:
  M:
    k1: {k2: v, list: [x, y], num: 5}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsDev: !Not [!Condition IsProd]
Resources:
  Bucket:
    Type: AWS::S3::Bucket
  Pending:
    Type: AWS::S3::Bucket
  Other:
    Type: AWS::S3::Bucket
    Condition: IsDev
  R:
    Type: AWS::X::Y
    Properties:
      V: %s
`

const vLine = 25

// withSnippet puts a snippet into the skeleton; lines after the first are
// indented under V.
func withSnippet(snippet string) string {
	return strings.Replace(skeleton, "%s", strings.ReplaceAll(snippet, "\n", "\n        "), 1)
}

// evalSnippet parses the skeleton with snippet, binds the defaults and
// evaluates R's properties; Pending is not created yet, and the export
// exp-app exists.
func evalSnippet(t *testing.T, snippet string) (map[string]any, error) {
	t.Helper()
	tpl, err := Parse("t.yml", []byte(withSnippet(snippet)))
	if err != nil {
		return nil, err
	}
	params, err := tpl.Bind(nil)
	if err != nil {
		t.Fatalf("Bind: %v", err)
	}
	env := fakeEnv(params, map[string]string{"exp-app": "imported"}, "Pending")
	return tpl.EvalProperties(env, nil, "R")
}

type valueCase struct {
	name    string
	snippet string
	want    Value
}

func runValueCases(t *testing.T, cases []valueCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			props, err := evalSnippet(t, c.snippet)
			if err != nil {
				t.Fatalf("%s:\n%v", c.snippet, err)
			}
			got, ok := props["V"]
			if c.want == nil {
				if ok {
					t.Fatalf("V = %#v, want the property removed", got)
				}
				return
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s\n got %#v\nwant %#v", c.snippet, got, c.want)
			}
		})
	}
}

type errorCase struct {
	name    string
	snippet string
	// want is "line:col: message", the line relative to V's line.
	col  int
	line int
	msg  string
}

func runErrorCases(t *testing.T, cases []errorCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := evalSnippet(t, c.snippet)
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("%s: want an error, got %v", c.snippet, err)
			}
			want := &Error{Pos: Pos{File: "t.yml", Line: vLine + c.line, Col: c.col}, Msg: c.msg}
			if len(errs) != 1 || *errs[0] != *want {
				t.Errorf("%s\n got %v\nwant %v", c.snippet, err, want)
			}
		})
	}
}

func TestRefYieldsParameterValuesPhysicalIDsAndPseudoParameters(t *testing.T) {
	runValueCases(t, []valueCase{
		{"a String parameter", "!Ref Name", "app"},
		{"a Number parameter is a string", "!Ref Count", "3"},
		{"a list parameter is trimmed and split", "!Ref Subnets", []any{"a", "b", "c"}},
		{"the long form", "{Ref: Name}", "app"},
		{"the long form in JSON", `{"Ref": "Name"}`, "app"},
		{"a resource gives its physical ID", "!Ref Bucket", "phys-Bucket"},
		{"a resource not created yet", "!Ref Pending", Unknown{Ref: "Pending"}},
		{"AWS::Region", "!Ref AWS::Region", "local"},
		{"AWS::AccountId", "!Ref AWS::AccountId", "000000000000"},
		{"AWS::Partition", "!Ref AWS::Partition", "aws"},
		{"AWS::URLSuffix", "!Ref AWS::URLSuffix", "slipway.local"},
		{"AWS::StackName", "!Ref AWS::StackName", "stack"},
		{"AWS::StackId", "!Ref AWS::StackId", DefaultPseudo("stack").StackID},
		{"AWS::NotificationARNs", "!Ref AWS::NotificationARNs", []any{}},
		{"AWS::NoValue removes the property", "!Ref AWS::NoValue", nil},
		{"AWS::NoValue removes a list element", "[a, !Ref AWS::NoValue, b]", []any{"a", "b"}},
	})
	runErrorCases(t, []errorCase{
		{"a list", "!Ref [Name]", 10, 0, "Template error: All References must be of type string"},
		{"a function", "{Ref: !Sub x}", 10, 0, "Template error: All References must be of type string"},
		{"an unknown name", "!Ref Nope", 10, 0, "Template format error: Unresolved resource dependencies [Nope] in the Resources block of the template"},
		{"a resource whose condition is false", "!Ref Other", 10, 0, "Template format error: Unresolved resource dependencies [Other] in the Resources block of the template"},
	})
}

func TestGetAttYieldsAttributesAndSplitsTheShortFormAtTheFirstDot(t *testing.T) {
	runValueCases(t, []valueCase{
		{"the short form", "!GetAtt Bucket.Arn", "Bucket.Arn-value"},
		{"the short form splits at the first dot", "!GetAtt Bucket.Endpoint.Address", "Bucket.Endpoint.Address-value"},
		{"the list form", "!GetAtt [Bucket, Arn]", "Bucket.Arn-value"},
		{"the long form", "{Fn::GetAtt: [Bucket, Arn]}", "Bucket.Arn-value"},
		{"the long form with a dotted string", "{Fn::GetAtt: Bucket.Arn}", "Bucket.Arn-value"},
		{"the attribute given by Ref", "!GetAtt [Bucket, !Ref Name]", "Bucket.app-value"},
		{"a resource not created yet", "!GetAtt Pending.Arn", Unknown{Ref: "Pending.Arn"}},
	})
	runErrorCases(t, []errorCase{
		{"no dot", "!GetAtt Bucket", 10, 0, "Template error: every Fn::GetAtt object requires two non-empty parameters, the resource name and the resource attribute"},
		{"three elements", "!GetAtt [Bucket, Arn, X]", 10, 0, "Template error: every Fn::GetAtt object requires two non-empty parameters, the resource name and the resource attribute"},
		{"an undefined resource", "!GetAtt Nope.Arn", 10, 0, "Template error: instance of Fn::GetAtt references undefined resource Nope"},
		{"a parameter", "!GetAtt Name.Arn", 10, 0, "Template error: instance of Fn::GetAtt references undefined resource Name"},
		{"a function as the resource name", "!GetAtt [!Ref Name, Arn]", 10, 0, "Template error: every Fn::GetAtt object requires two non-empty parameters, the resource name and the resource attribute"},
		{"Sub as the attribute name", "!GetAtt [Bucket, !Sub x]", 27, 0, "Template error: Fn::Sub cannot be used in the attribute name of Fn::GetAtt; the functions allowed there are Ref"},
	})
}

func TestSubSubstitutesVariablesAndKeepsEscapesAsText(t *testing.T) {
	runValueCases(t, []valueCase{
		{"parameters and pseudo parameters", "!Sub ${Name}-${AWS::Region}", "app-local"},
		{"a resource attribute", "!Sub arn-${Bucket.Arn}", "arn-Bucket.Arn-value"},
		{"the escape gives the literal", "!Sub '${!Literal}-${Name}'", "${Literal}-app"},
		{"dollar-bang without a brace is text", "!Sub $!Sub ${Name}-x", "$!Sub app-x"},
		{"a lone dollar is text", "!Sub cost $5 ${Name}", "cost $5 app"},
		{"an unclosed brace is text", "!Sub a${Name", "a${Name"},
		{"the list form with a variable map", "!Sub ['${X}-${Name}', {X: !Ref Count}]", "3-app"},
		{"the variable map overrides a name", "!Sub ['${Name}', {Name: other}]", "other"},
		{"FindInMap in the variable map", "!Sub\n- ${Bucket}/${X}\n- X:\n    Fn::FindInMap: [M, k1, k2]", "phys-Bucket/v"},
		{"a block scalar", "!Sub |\n  {\"a\": \"${Name}\"}", "{\"a\": \"app\"}\n"},
		{"the long form", "{Fn::Sub: '${Name}'}", "app"},
		{"a resource not created yet", "!Sub ${Pending}/x", Unknown{Ref: "Pending"}},
		{"the first unknown is kept", "!Sub ${Pending.Arn}${Pending}", Unknown{Ref: "Pending.Arn"}},
		{"a number variable", "!Sub ['${X}', {X: 5}]", "5"},
	})
	runErrorCases(t, []errorCase{
		{"a bad variable name", "!Sub '${Not Valid}'", 10, 0, "Template error: variable names in Fn::Sub syntax must contain only alphanumeric characters, underscores, periods, and colons"},
		{"an empty variable", "!Sub '${}'", 10, 0, "Template error: variable names in Fn::Sub syntax must contain only alphanumeric characters, underscores, periods, and colons"},
		{"three elements", "!Sub [a, {}, b]", 10, 0, "Template error: One or more Fn::Sub intrinsic functions don't specify expected arguments. Specify a string as first argument, and an optional second argument to specify a mapping of values to replace in the string"},
		{"a list as the variable map", "!Sub [a, [b]]", 10, 0, "Template error: One or more Fn::Sub intrinsic functions don't specify expected arguments. Specify a string as first argument, and an optional second argument to specify a mapping of values to replace in the string"},
		{"a function as the string", "!Sub [!Ref Name, {}]", 16, 0, "Template error: Ref cannot be used in the string of Fn::Sub; only a literal value is allowed there"},
		{"an unknown variable", "!Sub ${Nope}", 10, 0, "Template format error: Unresolved resource dependencies [Nope] in the Resources block of the template"},
		{"an unknown resource attribute", "!Sub ${Nope.Arn}", 10, 0, "Template error: instance of Fn::GetAtt references undefined resource Nope"},
		{"Split in the variable map", "!Sub ['${X}', {X: !Split [',', a]}]", 28, 0, "Template error: Fn::Split cannot be used in the variable map of Fn::Sub; the functions allowed there are Fn::Base64, Fn::FindInMap, Fn::GetAtt, Fn::GetAZs, Fn::If, Fn::ImportValue, Fn::Join, Fn::Select, Ref"},
		{"a list variable", "!Sub ${Subnets}", 10, 0, "Template error: variable Subnets in Fn::Sub expression does not resolve to a string"},
	})
}

func TestJoinPutsTheDelimiterBetweenItems(t *testing.T) {
	runValueCases(t, []valueCase{
		{"literals and functions", "!Join ['-', [a, !Ref Name, 5, true]]", "a-app-5-true"},
		{"a list from a parameter", "!Join [',', !Ref Subnets]", "a,b,c"},
		{"the delimiter only between items", "!Join [', ', [one]]", "one"},
		{"an empty list", "!Join ['', []]", ""},
		{"the zones of the region", "!Join [' ', !GetAZs '']", "locala localb localc"},
		{"If removing an item", "!Join ['-', [a, !If [IsDev, b, !Ref AWS::NoValue], c]]", "a-c"},
		{"a resource not created yet", "!Join ['', [x, !Ref Pending]]", Unknown{Ref: "Pending"}},
		{"the long form", "{Fn::Join: ['', [a, b]]}", "ab"},
	})
	msg := "Template error: every Fn::Join object requires two parameters, (1) a string delimiter and (2) a list of strings to be joined or a function that returns a list of strings (such as Fn::GetAZs) to be joined."
	runErrorCases(t, []errorCase{
		{"one parameter", "!Join ['-']", 10, 0, msg},
		{"a string instead of a list", "!Join ['-', abc]", 22, 0, msg},
		{"a list item that is a list", "!Join ['-', [[a]]]", 23, 0, msg},
		{"a list parameter in the list", "!Join ['-', [!Ref Subnets]]", 10, 0, msg},
		{"a function as the delimiter", "!Join [!Ref Name, [a]]", 17, 0, "Template error: Ref cannot be used in the delimiter of Fn::Join; only a literal value is allowed there"},
		{"Cidr as the list", "!Join [',', !Cidr [10.0.0.0/16, 2, 8]]", 22, 0, "Template error: Fn::Cidr cannot be used in the list of Fn::Join; the functions allowed there are Fn::Base64, Fn::FindInMap, Fn::GetAtt, Fn::GetAZs, Fn::If, Fn::ImportValue, Fn::Join, Fn::Select, Fn::Split, Fn::Sub, Ref"},
	})
}

func TestSelectPicksAnElementByIndex(t *testing.T) {
	runValueCases(t, []valueCase{
		{"from a literal list", "!Select [1, [x, y, z]]", "y"},
		{"the index as a string", "!Select ['0', [x, y]]", "x"},
		{"the index from a Number parameter", "!Select [!Ref Index, !Ref Subnets]", "b"},
		{"the index from a mapping", "!Select [!FindInMap [M, k1, num], [0, 1, 2, 3, 4, five]]", "five"},
		{"the first zone of an empty GetAZs", "!Select [ 0, !GetAZs ]", "locala"},
		{"from Split", "!Select [2, !Split ['/', !Sub 'x/${Name}/z']]", "z"},
		{"from Cidr", "!Select [1, !Cidr ['10.0.0.0/16', '2', '4']]", "10.0.0.16/28"},
		{"a number element keeps its type", "!Select [0, [7]]", json.Number("7")},
		{"from a list not known yet", "!Select [0, !GetAtt Pending.Subnets]", Unknown{Ref: "Pending.Subnets"}},
	})
	runErrorCases(t, []errorCase{
		{"out of range", "!Select [3, [x, y]]", 10, 0, "Template error: Fn::Select cannot select nonexistent value at index 3"},
		{"a negative index", "!Select [-1, [x]]", 19, 0, "Template error: Fn::Select requires a list argument with a valid index value as its first element"},
		{"a word as the index", "!Select [first, [x]]", 19, 0, "Template error: Fn::Select requires a list argument with a valid index value as its first element"},
		{"one element", "!Select [0]", 10, 0, "Template error: Fn::Select requires a list argument with two elements: an integer index and a list"},
		{"Sub as the index", "!Select [!Sub '1', [x, y]]", 19, 0, "Template error: Fn::Sub cannot be used in the index of Fn::Select; the functions allowed there are Fn::FindInMap, Ref"},
		{"Join as the list", "!Select [0, !Join [',', [a]]]", 22, 0, "Template error: Fn::Join cannot be used in the list of Fn::Select; the functions allowed there are Fn::Cidr, Fn::FindInMap, Fn::GetAtt, Fn::GetAZs, Fn::If, Fn::Split, Ref"},
		{"out of range at evaluation", "!Select [!Ref Count, !Ref Subnets]", 10, 0, "Template error: Fn::Select cannot select nonexistent value at index 3"},
	})
}

func TestSplitKeepsEmptyStrings(t *testing.T) {
	runValueCases(t, []valueCase{
		{"consecutive and trailing delimiters give empty strings", "!Split [',', 'a,,b,']", []any{"a", "", "b", ""}},
		{"a string from Sub", "!Split ['-', !Sub '${Name}-x']", []any{"app", "x"}},
		{"no delimiter in the string", "!Split ['|', abc]", []any{"abc"}},
		{"a string not known yet", "!Split [',', !GetAtt Pending.List]", Unknown{Ref: "Pending.List"}},
	})
	msg := "Template error: every Fn::Split object requires two parameters, (1) a string delimiter and (2) a string to be split or a function that returns a string to be split."
	runErrorCases(t, []errorCase{
		{"one parameter", "!Split [',']", 10, 0, msg},
		{"a list to split", "!Split [',', [a]]", 23, 0, msg},
		{"a list parameter to split", "!Split [',', !Ref Subnets]", 10, 0, msg},
		{"GetAZs as the delimiter", "!Split [!GetAZs '', a]", 18, 0, "Template error: Fn::GetAZs cannot be used in the delimiter of Fn::Split; only a literal value is allowed there"},
		{"Split in Split", "!Split [',', !Split [',', a]]", 23, 0, "Template error: Fn::Split cannot be used in the string of Fn::Split; the functions allowed there are Fn::Base64, Fn::FindInMap, Fn::GetAtt, Fn::GetAZs, Fn::If, Fn::ImportValue, Fn::Join, Fn::Select, Fn::Sub, Ref"},
	})
}

func TestFindInMapLooksUpTwoLevels(t *testing.T) {
	runValueCases(t, []valueCase{
		{"a string", "!FindInMap [M, k1, k2]", "v"},
		{"a list", "!FindInMap [M, k1, list]", []any{"x", "y"}},
		{"a number keeps its text", "!FindInMap [M, k1, num]", json.Number("5")},
		{"the key from Ref", "!FindInMap [M, !Ref Key, k2]", "v"},
	})
	runErrorCases(t, []errorCase{
		{"a missing key", "!FindInMap [M, nope, k2]", 10, 0, "Template error: Unable to get mapping for M::nope::k2"},
		{"a missing second key", "!FindInMap [M, !Ref Key, nope]", 10, 0, "Template error: Unable to get mapping for M::k1::nope"},
		{"an unknown map", "!FindInMap [Nope, k1, k2]", 22, 0, "Template error: Mapping named 'Nope' is not present in the 'Mappings' section of template"},
		{"two parameters", "!FindInMap [M, k1]", 10, 0, "Template error: every Fn::FindInMap object requires three parameters, the map name, map key and the attribute for return value"},
		{"Sub as a key", "!FindInMap [M, !Sub k1, k2]", 25, 0, "Template error: Fn::Sub cannot be used in the arguments of Fn::FindInMap; the functions allowed there are Fn::FindInMap, Ref"},
	})
}

func TestGetAZsOfEmptyIsTheCurrentRegion(t *testing.T) {
	runValueCases(t, []valueCase{
		{"empty is the current region", "!GetAZs ''", []any{"locala", "localb", "localc"}},
		{"no argument is the current region", "!GetAZs", []any{"locala", "localb", "localc"}},
		{"a named region", "!GetAZs eu-west-1", []any{"eu-west-1a", "eu-west-1b", "eu-west-1c"}},
		{"the region from Ref", "!GetAZs {Ref: AWS::Region}", []any{"locala", "localb", "localc"}},
		{"the long form", "{Fn::GetAZs: ''}", []any{"locala", "localb", "localc"}},
	})
	runErrorCases(t, []errorCase{
		{"a list", "{Fn::GetAZs: [a]}", 23, 0, "Template error: every Fn::GetAZs object must have a String-typed value."},
		{"Sub", "{Fn::GetAZs: !Sub x}", 23, 0, "Template error: Fn::Sub cannot be used in Fn::GetAZs; the functions allowed there are Ref"},
	})
}

func TestImportValueAsksTheEnvironment(t *testing.T) {
	runValueCases(t, []valueCase{
		{"a literal name", "!ImportValue exp-app", "imported"},
		{"a name from Sub", "{Fn::ImportValue: !Sub 'exp-${Name}'}", "imported"},
	})
	runErrorCases(t, []errorCase{
		{"a missing export", "!ImportValue nope", 10, 0, "No export named nope found"},
		{"a resource in the name", "{Fn::ImportValue: !Sub 'exp-${Bucket}'}", 28, 0, "Template error: the attribute in Fn::ImportValue must not depend on any resources, imported values, or Fn::GetAZs"},
		{"an import in the name", "{Fn::ImportValue: !ImportValue x}", 28, 0, "Template error: Fn::ImportValue cannot be used in Fn::ImportValue; the functions allowed there are Fn::Base64, Fn::FindInMap, Fn::If, Fn::Join, Fn::Select, Fn::Sub, Ref"},
		{"a list", "{Fn::ImportValue: [a]}", 28, 0, "Template error: every Fn::ImportValue object must have a String-typed value."},
	})
}

func TestIfEvaluatesOnlyTheChosenBranch(t *testing.T) {
	runValueCases(t, []valueCase{
		{"the true branch", "!If [IsProd, yes-value, no-value]", "yes-value"},
		{"the false branch", "!If [IsDev, yes-value, no-value]", "no-value"},
		{"NoValue removes the property", "!If [IsDev, x, !Ref AWS::NoValue]", nil},
		{"NoValue removes a list element", "[a, !If [IsDev, b, !Ref AWS::NoValue]]", []any{"a"}},
		{"only the chosen branch is evaluated", "!If [IsProd, ok, !GetAtt Other.Arn]", "ok"},
		{"a mapping branch", "!If [IsProd, {A: !Ref Name}, {}]", map[string]any{"A": "app"}},
		{"nested If", "!If [IsDev, a, !If [IsProd, b, c]]", "b"},
		{"ImportValue in a branch", "!If [IsProd, !ImportValue exp-app, x]", "imported"},
	})
	runErrorCases(t, []errorCase{
		{"an unknown condition", "!If [Nope, a, b]", 15, 0, "Template error: unresolved condition dependency Nope in Fn::If"},
		{"two elements", "!If [IsProd, a]", 10, 0, "Template error: Fn::If requires a list argument with three elements"},
		{"no condition name", "!If [[IsProd], a, b]", 10, 0, "Template error: Fn::If requires a list argument with the first element being a condition"},
		{"the chosen branch names an inactive resource", "!If [IsProd, !Ref Other, x]", 23, 0, "Template format error: Unresolved resource dependencies [Other] in the Resources block of the template"},
		{"Equals in properties", "!Equals [a, a]", 10, 0, "Template error: Fn::Equals cannot be partially collapsed; condition functions belong in the Conditions section, and Fn::If chooses a value by a condition's name"},
	})
}

func TestBase64EncodesAString(t *testing.T) {
	runValueCases(t, []valueCase{
		{"a literal", "!Base64 hello", "aGVsbG8="},
		{"over Sub", "{Fn::Base64: !Sub '${Name}'}", "YXBw"},
		{"the non-specific tag and the long form", "!\n  Fn::Base64: !Sub 'x-${Name}'", "eC1hcHA="},
		{"over a value not known yet", "{Fn::Base64: !Ref Pending}", Unknown{Ref: "Pending"}},
	})
	runErrorCases(t, []errorCase{
		{"a list", "{Fn::Base64: [a]}", 23, 0, "Template error: every Fn::Base64 object must have a String-typed value."},
		{"a list from a parameter", "{Fn::Base64: !Ref Subnets}", 10, 0, "Template error: every Fn::Base64 object must have a String-typed value."},
		{"GetAZs", "{Fn::Base64: !GetAZs ''}", 23, 0, "Template error: Fn::GetAZs cannot be used in Fn::Base64; the functions allowed there are Fn::Base64, Fn::FindInMap, Fn::GetAtt, Fn::If, Fn::ImportValue, Fn::Join, Fn::Select, Fn::Sub, Ref"},
	})
}

func TestCidrSplitsABlockByHostBits(t *testing.T) {
	runValueCases(t, []valueCase{
		{"IPv4 /24 blocks", "!Cidr [10.0.0.0/16, 3, 8]", []any{"10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"}},
		{"a block given with host bits set", "!Cidr [10.0.5.7/16, 1, 8]", []any{"10.0.0.0/24"}},
		{"IPv6", "!Cidr ['2001:db8::/56', 2, 64]", []any{"2001:db8::/64", "2001:db8:0:1::/64"}},
		{"the block from a resource not created yet", "!Cidr [!GetAtt Pending.CidrBlock, 1, 8]", Unknown{Ref: "Pending.CidrBlock"}},
	})
	runErrorCases(t, []errorCase{
		{"too many", "!Cidr [10.0.0.0/24, 3, 7]", 10, 0, "Template error: Fn::Cidr cannot make 3 CIDRs with 7 host bits from 10.0.0.0/24, only 2"},
		{"too few host bits for the block", "!Cidr [10.0.0.0/24, 1, 9]", 10, 0, "Template error: Fn::Cidr cannot make CIDRs with 9 host bits from 10.0.0.0/24"},
		{"a count of 0", "!Cidr [10.0.0.0/16, 0, 8]", 10, 0, "Template error: Fn::Cidr can make 1 to 256 CIDRs, not 0"},
		{"not a block", "!Cidr [banana, 1, 8]", 10, 0, `Template error: Fn::Cidr needs an IP block in CIDR notation such as 10.0.0.0/16, found "banana"`},
		{"two parameters", "!Cidr [10.0.0.0/16, 1]", 10, 0, "Template error: every Fn::Cidr object requires three parameters, (1) an IP block in CIDR notation, (2) the number of CIDRs to generate and (3) the number of host bits of each CIDR"},
		{"Sub as the count", "!Cidr [10.0.0.0/16, !Sub '1', 8]", 30, 0, "Template error: Fn::Sub cannot be used in the arguments of Fn::Cidr; the functions allowed there are Fn::GetAtt, Fn::Select, Ref"},
	})
}

func TestScalarsFollowYAML11(t *testing.T) {
	runValueCases(t, []valueCase{
		{"yes", "yes", true},
		{"On", "On", true},
		{"OFF", "OFF", false},
		{"False", "False", false},
		{"a quoted yes stays text", "'yes'", "yes"},
		{"y is text", "y", "y"},
		{"mixed case is text", "yEs", "yEs"},
		{"an integer keeps its text", "42", json.Number("42")},
		{"a float keeps its text", "1.50", json.Number("1.50")},
		{"hexadecimal stays text", "0x1F", "0x1F"},
		{"a leading zero stays text", "010", "010"},
		{"a date stays text", "2010-09-09", "2010-09-09"},
		{"the non-specific tag makes text", "! 42", "42"},
		{"!!str makes text", "!!str true", "true"},
		{"!!int", "!!int 7", json.Number("7")},
		{"a JSON mapping", `{"a": [1, "b", false]}`, map[string]any{"a": []any{json.Number("1"), "b", false}}},
	})
}

func TestConditionsEvaluateFromParametersAndOtherConditions(t *testing.T) {
	tpl := mustParse(t, "c.yml", []byte(`Parameters:
  Env: {Type: String, Default: prod}
  Count: {Type: Number, Default: 2}
  List: {Type: CommaDelimitedList, Default: ""}
Mappings:
  M: {prod: {big: "true"}, dev: {big: "false"}}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  NotProd: !Not [!Condition IsProd]
  Both: !And [!Condition IsProd, !Equals [!Ref Count, 2]]
  Either: !Or [!Condition NotProd, !Equals [!Ref "AWS::Region", local]]
  Big: !Equals [!FindInMap [M, !Ref Env, big], true]
  EmptyList: !Equals [!Join ['', !Ref List], '']
  LongForm: {"Fn::Not": [{"Condition": "Both"}]}
  Ten: !And [!Condition IsProd, !Condition IsProd, !Condition IsProd, !Condition IsProd, !Condition IsProd, !Condition IsProd, !Condition IsProd, !Condition IsProd, !Condition IsProd, !Condition IsProd]
  NumberText: !Equals ["2", !Ref Count]
Resources:
  R: {Type: AWS::X::Y}
`))
	params, err := tpl.Bind(nil)
	if err != nil {
		t.Fatal(err)
	}
	conds, err := tpl.EvalConditions(&Env{Params: params})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"IsProd": true, "NotProd": false, "Both": true, "Either": true, "Big": true,
		"EmptyList": true, "LongForm": false, "Ten": true, "NumberText": true}
	if !reflect.DeepEqual(conds, want) {
		t.Errorf("conditions\n got %v\nwant %v", conds, want)
	}
	conds, err = tpl.EvalConditions(&Env{Params: Params{"Env": "dev", "Count": "2", "List": []any{"a"}}})
	if err != nil {
		t.Fatal(err)
	}
	if conds["IsProd"] || !conds["NotProd"] || conds["Both"] || conds["EmptyList"] {
		t.Errorf("conditions for dev: %v", conds)
	}
	if _, err := tpl.EvalConditions(&Env{}); err == nil || !strings.Contains(err.Error(), "Parameters: [Env] must have values") {
		t.Errorf("EvalConditions without parameters: %v", err)
	}
}
