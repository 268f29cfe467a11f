package pipeline

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that every problem it reports
// is one positioned line, that it is deterministic, and that a Declaration
// it returns passes Validate and survives a JSON round trip.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		valid,
		"",
		v2 + srcStage + buildStage + "Triggers: [{ProviderType: CodeStarSourceConnection, GitConfiguration: {SourceActionName: Src, Push: [{Tags: {Includes: ['v*']}}]}}]\n",
		valid + deploy + cfn + "        Configuration: {ActionMode: CREATE_UPDATE, StackName: app, RoleArn: 'arn:aws:iam::123456789012:role/r', TemplatePath: 'Built::t.yml', ParameterOverrides: '{\"A\": {\"Fn::GetParam\": [\"Built\", \"p.json\", \"a\"]}}'}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse("p.yml", data)
		if err != nil {
			if d != nil {
				t.Fatalf("Parse returned a Declaration and an error: %v", err)
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
			if _, again := Parse("p.yml", data); again == nil || again.Error() != err.Error() {
				t.Fatalf("Parse is not deterministic:\n%v\nthen\n%v", err, again)
			}
			return
		}
		if d == nil {
			t.Fatal("Parse returned neither a Declaration nor an error")
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v", err)
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse("p.json", out)
		if err != nil {
			t.Fatalf("the JSON of an accepted declaration does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, d) {
			t.Fatalf("JSON round trip changed the declaration:\n%+v\n%+v", d, back)
		}
	})
}
