package template

import (
	"fmt"
	"strings"
	"testing"
)

// generated returns a template of n resources, each referring to earlier
// ones through Ref, GetAtt and Sub.
func generated(n int) []byte {
	var b strings.Builder
	b.WriteString("Parameters:\n  Name: {Type: String, Default: app}\n  Count: {Type: Number, Default: 2}\n")
	b.WriteString("Mappings:\n  M:\n    local: {AMI: ami-1}\n")
	b.WriteString("Conditions:\n  Big: !Equals [!Ref Count, 2]\n")
	b.WriteString("Resources:\n")
	for i := range n {
		fmt.Fprintf(&b, "  R%d:\n    Type: AWS::S3::Bucket\n    Properties:\n", i)
		fmt.Fprintf(&b, "      Name: !Sub '${Name}-%d-${AWS::Region}'\n", i)
		fmt.Fprintf(&b, "      Image: !FindInMap [M, !Ref 'AWS::Region', AMI]\n")
		if i > 0 {
			fmt.Fprintf(&b, "      Parent: !Ref R%d\n", i-1)
			fmt.Fprintf(&b, "      ParentArn: !GetAtt R%d.Arn\n", i/2)
			fmt.Fprintf(&b, "      Both: !Sub '${R%d}/${R%d.Arn}'\n", i/3, i-1)
			fmt.Fprintf(&b, "      Maybe: !If [Big, !Join [',', [!Ref R%d, x]], !Ref 'AWS::NoValue']\n", i/4)
		}
		b.WriteString("      Tags:\n        - Key: Name\n          Value: !Sub '${AWS::StackName}'\n")
	}
	b.WriteString("Outputs:\n  Last:\n    Value: !GetAtt R0.Arn\n")
	return []byte(b.String())
}

func BenchmarkParseBindEval100Resources(b *testing.B) {
	data := generated(100)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		tpl, err := Parse("bench.yml", data)
		if err != nil {
			b.Fatal(err)
		}
		params, err := tpl.Bind(nil)
		if err != nil {
			b.Fatal(err)
		}
		env := fakeEnv(params, nil)
		conds, err := tpl.EvalConditions(env)
		if err != nil {
			b.Fatal(err)
		}
		tpl.Dependencies(conds)
		order, err := tpl.Order(conds)
		if err != nil {
			b.Fatal(err)
		}
		for _, name := range order {
			if _, err := tpl.EvalProperties(env, conds, name); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func TestTheBenchmarkTemplateIsValid(t *testing.T) {
	tpl := mustParse(t, "bench.yml", generated(100))
	deps := tpl.Dependencies(nil)
	if got := deps["R9"]; strings.Join(got, ",") != "R2,R3,R4,R8" {
		t.Errorf("R9 depends on %v", got)
	}
}
