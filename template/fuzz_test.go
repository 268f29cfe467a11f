package template

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// fuzzSeeds are templates that reach the decoder's and evaluator's corners;
// the committed corpus in testdata/fuzz adds the two sample templates.
var fuzzSeeds = []string{
	"",
	res,
	withSnippet("!Sub ['${X}-${Name}-${!Lit}', {X: !Select [0, !GetAZs '']}]"),
	withSnippet("!If [IsDev, [a, !Ref AWS::NoValue], {k: !Join ['-', !Split [',', 'a,b']]}]"),
	withSnippet("{Fn::Base64: !Cidr ['10.0.0.0/16', !Ref Count, 8]}"),
	withSnippet("!FindInMap [M, !Ref Key, list]"),
	"Resources:\n  A:\n    Type: AWS::S3::Bucket\n    Properties: {N: !Ref B}\n  B:\n    Type: AWS::S3::Bucket\n    Properties: {N: !Ref A}\n",
	"{\"Resources\": {\"R\": {\"Type\": \"AWS::S3::Bucket\", \"Properties\": {\"A\": {\"Fn::GetAtt\": \"R.Arn\"}}}}}",
	"Resources:\n  R: &a {Type: AWS::S3::Bucket}\n  S: *a\n  T: {<<: *a}\n",
	"Conditions:\n  A: !Not [!Condition B]\n  B: !And [!Condition A, !Equals [yes, 'true']]\n" + res,
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tpl, err := Parse("t.yml", data)
		if err != nil {
			if tpl != nil {
				t.Fatalf("Parse returned a Template and an error: %v", err)
			}
			checkErrors(t, err)
			if _, again := Parse("t.yml", data); again == nil || again.Error() != err.Error() {
				t.Fatalf("Parse is not deterministic:\n%v\nthen\n%v", err, again)
			}
			return
		}
		if len(tpl.ResourceOrder) == 0 || len(tpl.ResourceOrder) != len(tpl.Resources) {
			t.Fatalf("resources %v / %d", tpl.ResourceOrder, len(tpl.Resources))
		}
		for _, name := range tpl.ResourceOrder {
			r := tpl.Resources[name]
			if r == nil || r.Type == "" || r.Logical != name || r.Pos.Line < 1 {
				t.Fatalf("resource %s = %+v", name, r)
			}
		}
		if _, err := tpl.Check(schema{}); err != nil {
			checkErrors(t, err)
		}
		deps := tpl.Dependencies(nil)
		if order, err := tpl.Order(nil); err == nil {
			at := map[string]int{}
			for i, n := range order {
				at[n] = i
			}
			for n, ds := range deps {
				for _, d := range ds {
					if at[d] >= at[n] {
						t.Fatalf("%s is ordered before its dependency %s", n, d)
					}
				}
			}
		} else {
			checkErrors(t, err)
		}
	})
}

func FuzzEval(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tpl, err := Parse("t.yml", data)
		if err != nil {
			return
		}
		values := map[string]string{}
		for _, name := range tpl.ParameterOrder {
			if tpl.Parameters[name].Default == nil {
				values[name] = "1"
			}
		}
		params, err := tpl.Bind(values)
		if err != nil {
			checkErrors(t, err)
			return
		}
		env := fakeEnv(params, map[string]string{"x": "y"}, "Pending")
		conds, err := tpl.EvalConditions(env)
		if err != nil {
			checkErrors(t, err)
			return
		}
		for _, name := range tpl.Active(conds) {
			props, err := tpl.EvalProperties(env, conds, name)
			if err != nil {
				checkErrors(t, err)
				continue
			}
			checkValue(t, props)
			r := tpl.Resources[name]
			for _, n := range []*Node{r.Metadata, r.CreationPolicy, r.UpdatePolicy} {
				if n == nil {
					continue
				}
				v, err := tpl.EvalNode(env, conds, n)
				if err != nil {
					checkErrors(t, err)
					continue
				}
				checkValue(t, v)
			}
		}
		outputs, err := tpl.EvalOutputs(env, conds)
		if err != nil {
			checkErrors(t, err)
			return
		}
		for _, o := range outputs {
			if _, ok := o.Value.(Unknown); !ok {
				if _, ok := o.Value.(string); !ok {
					t.Fatalf("output %s = %#v", o.Name, o.Value)
				}
			}
		}
	})
}

// checkErrors checks that err is a non-empty Errors of positioned one-line
// problems.
func checkErrors(t *testing.T, err error) {
	t.Helper()
	var errs Errors
	if !errors.As(err, &errs) || len(errs) == 0 {
		t.Fatalf("error %T is not a non-empty Errors: %v", err, err)
	}
	for _, e := range errs {
		if e.Msg == "" || strings.ContainsAny(e.Msg, "\r\n") {
			t.Fatalf("malformed problem %q", e.Msg)
		}
	}
}

// checkValue checks that an evaluated value holds only the documented
// types, never an internal marker.
func checkValue(t *testing.T, v Value) {
	t.Helper()
	switch v := v.(type) {
	case string, bool, json.Number, Unknown:
	case []any:
		for _, x := range v {
			checkValue(t, x)
		}
	case map[string]any:
		for _, x := range v {
			checkValue(t, x)
		}
	default:
		t.Fatalf("evaluation yielded %s", fmt.Sprintf("%T", v))
	}
}
