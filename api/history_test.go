package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/slipway/slipway/auth"
	"github.com/slipway/slipway/store/storetest"
)

// The history pages by a cursor and filters by status; an execution's
// actions say what they ran as (the console links them).
func TestPipelines_HistoryPagesByCursorAndStatusAndActionsSayWhatTheyRanAs(t *testing.T) {
	f := newFixture(t)
	name := f.newPipeline(t)
	ctx := context.Background()
	def, err := f.auth.Project(ctx, auth.DefaultProject)
	if err != nil {
		t.Fatal(err)
	}
	newest := storetest.PipelineHistory(t, f.db, def.ID, name, 40)
	base := "/api/v1/projects/default/pipelines/" + name + "/executions"
	list := func(query string) []map[string]any {
		t.Helper()
		code, b := f.do(t, "reader", "GET", base+query, nil)
		var out []map[string]any
		if err := json.Unmarshal(b, &out); code != 200 || err != nil {
			t.Fatalf("GET %s: %d %s", query, code, b)
		}
		return out
	}
	var got []string
	before := ""
	for range 10 {
		q := "?limit=15"
		if before != "" {
			q += "&before=" + before
		}
		page := list(q)
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			got = append(got, e["id"].(string))
			if e["actions"] != nil {
				t.Fatalf("a listing holds actions: %v", e["actions"])
			}
		}
		before = page[len(page)-1]["id"].(string)
	}
	if len(got) != 40 || got[0] != newest || got[39] != "h000000" {
		t.Fatalf("paged %d executions from %v to %v", len(got), got[0], got[len(got)-1])
	}
	failed := list("?status=Failed&before=h000033")
	if len(failed) != 3 || failed[0]["id"] != "h000023" || failed[2]["id"] != "h000003" {
		t.Fatalf("failed before h000033: %v", failed)
	}
	for _, q := range []string{"?status=failed", "?before=nosuch"} {
		if code, b := f.do(t, "reader", "GET", base+q, nil); code != 400 {
			t.Errorf("%s: %d %s, want 400", q, code, b)
		}
	}

	code, b := f.do(t, "reader", "GET", "/api/v1/projects/default/pipeline-executions/"+newest, nil)
	var e struct {
		Actions []struct {
			Action string
			Target *struct{ Kind, Name, Commit string }
		}
	}
	if err := json.Unmarshal(b, &e); code != 200 || err != nil || len(e.Actions) != 1 {
		t.Fatalf("execution: %d %s", code, b)
	}
	if tg := e.Actions[0].Target; tg == nil || tg.Kind != "repository" || tg.Name != "app" || tg.Commit != fmt.Sprintf("%040x", 39) {
		t.Errorf("the source attempt's target: %s", b)
	}
}
