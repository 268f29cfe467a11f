package stacksvc_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/jobs"
	"github.com/slipway/slipway/providers"
	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/stacksvc"
	"github.com/slipway/slipway/store/storetest"
)

// BenchmarkDeploy100IndependentModelledResources deploys a stack of 100
// security groups with nothing between them, on SQLite, from the API call
// to CREATE_COMPLETE: job pickup, every record and event written, the
// provider calls in parallel.
func BenchmarkDeploy100IndependentModelledResources(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("Resources:\n")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&sb, "  G%d:\n    Type: AWS::EC2::SecurityGroup\n    Properties: {GroupDescription: group %d}\n", i, i)
	}
	body := sb.String()
	db := storetest.SQLite(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := db.ExecContext(ctx, "INSERT INTO projects (id, name, created_at) VALUES ('p1', 'p1', 1)"); err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	engine := jobs.New(db, jobs.Options{Logger: log})
	reg := stack.NewRegistry()
	providers.Register(reg, providers.Deps{})
	s := stacksvc.New(db, stacksvc.Config{Jobs: engine, Engine: &stack.Engine{Registry: reg}, Log: log})
	s.Register(engine)
	go func() { _ = engine.Run(ctx) }()
	pr := stacksvc.Project{ID: "p1", Name: "p1"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("bench%d", i)
		if _, err := s.Deploy(ctx, pr, name, stacksvc.Input{Template: body}); err != nil {
			b.Fatal(err)
		}
		for {
			st, err := s.Get(ctx, pr.ID, name)
			if err != nil {
				b.Fatal(err)
			}
			if st.Status == stack.CreateComplete {
				break
			}
			if !stack.InProgress(st.Status) {
				b.Fatalf("%s: %s", st.Status, st.StatusReason)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
}
