package pipelinesvc

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/slipway/slipway/jobs"
	"github.com/slipway/slipway/pipeline"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

// noop is an action provider that does nothing: what is left of an
// action's time is the orchestration's.
type noop struct{}

func (noop) Run(_ context.Context, r *ActionRun) (*ActionResult, error) {
	out := map[string]Artifact{}
	for _, o := range r.Action.OutputArtifacts {
		out[o.Name] = Artifact{Digest: "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}
	}
	return &ActionResult{Outputs: out}, nil
}

const noopDeclaration = `
Name: %s
RoleArn: arn:aws:iam::000000000000:role/pipeline
ArtifactStore: {Type: S3, Location: artifacts}
ExecutionMode: %s
PipelineType: V2
Stages:
  - Name: One
    Actions:
      - Name: A
        ActionTypeId: {Category: Source, Owner: AWS, Provider: CodeCommit, Version: "1"}
        Configuration: {RepositoryName: app, BranchName: main}
        OutputArtifacts: [{Name: Src}]
  - Name: Two
    Actions:
      - Name: B
        ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: "1"}
        Configuration: {ProjectName: p}
        InputArtifacts: [{Name: Src}]
  - Name: Three
    Actions:
      - Name: C
        ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: "1"}
        Configuration: {ProjectName: p}
        InputArtifacts: [{Name: Src}]
`

// benchService is a pipeline service whose actions do nothing, on SQLite.
func benchService(b *testing.B) (*Service, *store.DB, context.CancelFunc) {
	db := storetest.SQLite(b)
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := db.ExecContext(ctx, "INSERT INTO projects (id, name, created_at) VALUES ('p1', 'p1', 1)"); err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	engine := jobs.New(db, jobs.Options{Logger: log, Workers: 16})
	s := New(db, Config{Jobs: engine, Log: log, Providers: map[string]ActionProvider{pipeline.CodeCommit: noop{}, pipeline.CodeBuild: noop{}}})
	s.Register(engine)
	done := make(chan struct{})
	go func() { _ = engine.Run(ctx); close(done) }()
	return s, db, func() { cancel(); <-done }
}

func benchPipeline(b *testing.B, s *Service, name, mode string) *Pipeline {
	d, err := pipeline.Parse("bench.yml", fmt.Appendf(nil, noopDeclaration, name, mode))
	if err != nil {
		b.Fatal(err)
	}
	p, err := s.Create(context.Background(), "p1", d)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkOrchestrationPerAction runs one execution at a time of a
// three-stage pipeline of actions that do nothing and reports the time
// per action: every job, transaction and stage lock included.
func BenchmarkOrchestrationPerAction(b *testing.B) {
	s, _, stop := benchService(b)
	defer stop()
	p := benchPipeline(b, s, "one", "SUPERSEDED")
	ctx := context.Background()
	var per []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		e, err := s.Start(ctx, p, Trigger{Type: TriggerManual}, "")
		if err != nil {
			b.Fatal(err)
		}
		for e.Status == InProgress {
			time.Sleep(200 * time.Microsecond)
			if e, err = s.Execution(ctx, e.ID); err != nil {
				b.Fatal(err)
			}
		}
		if e.Status != Succeeded {
			b.Fatalf("%s: %s", e.Status, e.Reason)
		}
		per = append(per, time.Since(start)/3)
	}
	sort.Slice(per, func(i, j int) bool { return per[i] < per[j] })
	b.ReportMetric(float64(per[len(per)/2].Microseconds())/1000, "p50-ms/action")
}

// BenchmarkParallel200Executions starts 200 executions of a three-stage
// no-op pipeline at once (PARALLEL mode: no stage waits for another
// execution) and waits for all of them.
func BenchmarkParallel200Executions(b *testing.B) {
	s, db, stop := benchService(b)
	defer stop()
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		p := benchPipeline(b, s, fmt.Sprintf("many%d", i), "PARALLEL")
		start := time.Now()
		for j := 0; j < 200; j++ {
			if _, err := s.Start(ctx, p, Trigger{Type: TriggerManual}, ""); err != nil {
				b.Fatal(err)
			}
		}
		for {
			var left, failed int
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pipeline_executions WHERE pipeline_id = ? AND status = ?`, p.ID, InProgress).Scan(&left); err != nil {
				b.Fatal(err)
			}
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pipeline_executions WHERE pipeline_id = ? AND status <> ?`, p.ID, Succeeded).Scan(&failed); err != nil {
				b.Fatal(err)
			}
			if left == 0 {
				if failed != 0 {
					b.Fatalf("%d executions did not succeed", failed)
				}
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		b.ReportMetric(200/time.Since(start).Seconds(), "executions/s")
	}
}
