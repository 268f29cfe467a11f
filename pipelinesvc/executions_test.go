package pipelinesvc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/slipway/slipway/jobs"
	"github.com/slipway/slipway/pipeline"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

// historyService is a pipeline service with one pipeline and no job
// engine running: the tests write its history themselves.
func historyService(t *testing.T, db *store.DB, names ...string) (*Service, []*Pipeline) {
	t.Helper()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "INSERT INTO projects (id, name, created_at) VALUES ('p1', 'p1', 1)"); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := New(db, Config{Jobs: jobs.New(db, jobs.Options{Logger: log}), Log: log})
	var out []*Pipeline
	for _, name := range names {
		d, err := pipeline.Parse("pipeline.yml", fmt.Appendf(nil, noopDeclaration, name, "SUPERSEDED"))
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.Create(ctx, "p1", d)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return s, out
}

// addExecution writes an execution row as the orchestration would leave it.
func addExecution(t *testing.T, db *store.DB, p *Pipeline, id, status string, startedAt int64) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), `INSERT INTO pipeline_executions (id, pipeline_id, status, declaration, version, started_at)
		VALUES (?, ?, ?, '{}', 1, ?)`, id, p.ID, status, startedAt); err != nil {
		t.Fatal(err)
	}
}

func ids(es []Execution) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func TestListExecutions_PagesByCursorAndFiltersByStatus(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, ps := historyService(t, db, "history", "other")
		p, other := ps[0], ps[1]
		// Eleven executions; e03..e06 start in the same millisecond, so
		// only the ID orders them.
		statuses := []string{Succeeded, Failed, Succeeded, Failed, Stopped, Succeeded, Failed, Superseded, Succeeded, InProgress, Failed}
		var want []string
		for i, st := range statuses {
			at := int64(1000 + i)
			if i >= 3 && i <= 6 {
				at = 1003
			}
			id := fmt.Sprintf("e%02d", i)
			addExecution(t, db, p, id, st, at)
			want = append(want, id)
		}
		addExecution(t, db, other, "x01", Failed, 5000)
		slices.Reverse(want)

		var got []string
		before := ""
		for range 10 {
			page, err := s.ListExecutions(ctx, p, ExecutionQuery{Limit: 3, Before: before})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > 3 {
				t.Fatalf("a page of %d, limit 3", len(page))
			}
			if len(page) == 0 {
				break
			}
			got = append(got, ids(page)...)
			before = page[len(page)-1].ID
		}
		if !slices.Equal(got, want) {
			t.Fatalf("paged history %v, want %v", got, want)
		}

		var failed []string
		for i := len(statuses) - 1; i >= 0; i-- {
			if statuses[i] == Failed {
				failed = append(failed, fmt.Sprintf("e%02d", i))
			}
		}
		page, err := s.ListExecutions(ctx, p, ExecutionQuery{Status: Failed, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(page), failed[:2]) {
			t.Fatalf("first failed page %v, want %v", ids(page), failed[:2])
		}
		page, err = s.ListExecutions(ctx, p, ExecutionQuery{Status: Failed, Limit: 10, Before: page[1].ID})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(page), failed[2:]) {
			t.Fatalf("second failed page %v, want %v", ids(page), failed[2:])
		}

		// Executions wraps the whole first page.
		all, err := s.Executions(ctx, p, 0)
		if err != nil || !slices.Equal(ids(all), want) {
			t.Fatalf("Executions: %v %v", ids(all), err)
		}

		for _, q := range []ExecutionQuery{{Status: "failed"}, {Before: "nosuch"}, {Before: "x01"}} {
			if _, err := s.ListExecutions(ctx, p, q); !errors.Is(err, ErrInvalid) {
				t.Errorf("%+v: err %v, want ErrInvalid", q, err)
			}
		}
	})
}

// The page's query reads the executions in the index's order: no scan of
// the table, no sort, whatever the filter.
func TestListExecutions_QueryUsesAnIndexWithoutSorting(t *testing.T) {
	db := storetest.SQLite(t)
	_, ps := historyService(t, db, "history")
	for i := range 2000 {
		addExecution(t, db, ps[0], fmt.Sprintf("e%05d", i), []string{Succeeded, Failed}[i%2], int64(i/3))
	}
	if _, err := db.ExecContext(context.Background(), `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	cursor := &executionCursor{at: 100, id: "e00300"}
	for _, tc := range []struct {
		q      ExecutionQuery
		before *executionCursor
		index  string
	}{
		{ExecutionQuery{Limit: 25}, nil, "pipeline_executions_pipeline"},
		{ExecutionQuery{Limit: 25}, cursor, "pipeline_executions_pipeline"},
		{ExecutionQuery{Limit: 25, Status: Failed}, nil, "pipeline_executions_status"},
		{ExecutionQuery{Limit: 25, Status: Failed}, cursor, "pipeline_executions_status"},
	} {
		q, args := executionsQuery(ps[0].ID, tc.q, tc.before)
		rows, err := db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		text := strings.Join(plan, "; ")
		if !strings.Contains(text, "USING INDEX "+tc.index) || strings.Contains(text, "TEMP B-TREE") {
			t.Errorf("%+v (cursor %v): plan %q, want %s without a sort", tc.q, tc.before != nil, text, tc.index)
		}
	}
}
