package providers

import (
	"context"
	"strings"
	"testing"

	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

func pipelineProps(repoName string) map[string]any {
	return map[string]any{
		"RoleArn":       "arn:aws:iam::000000000000:role/pipeline",
		"ArtifactStore": map[string]any{"Type": "S3", "Location": "artifacts"},
		"Stages": []any{
			map[string]any{"Name": "Source", "Actions": []any{map[string]any{
				"Name":            "App",
				"ActionTypeId":    map[string]any{"Category": "Source", "Owner": "AWS", "Provider": "CodeCommit", "Version": "1"},
				"Configuration":   map[string]any{"RepositoryName": repoName, "BranchName": "main"},
				"OutputArtifacts": []any{map[string]any{"Name": "Source"}},
			}}},
			map[string]any{"Name": "Approve", "Actions": []any{map[string]any{
				"Name":         "Gate",
				"ActionTypeId": map[string]any{"Category": "Approval", "Owner": "AWS", "Provider": "Manual", "Version": "1"},
			}}},
		},
	}
}

func TestCodePipelineLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		p := f.provider(t, codePipelineType)
		out, err := p.Create(ctx, f.request(codePipelineType, "Pipeline", "tok-1", pipelineProps("app")))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out.PhysicalID, "app-staging-Pipeline-") || out.Attrs["Version"].(interface{ String() string }).String() != "1" {
			t.Fatalf("outcome %+v", out)
		}
		pl, err := f.pipelines.Get(ctx, f.projectID, out.PhysicalID)
		if err != nil {
			t.Fatal(err)
		}
		// Creating a pipeline starts an execution, as on AWS.
		if ex, err := f.pipelines.Executions(ctx, pl, 10); err != nil || len(ex) != 1 || ex[0].Trigger.Type != "CreatePipeline" {
			t.Fatalf("executions after create: %+v %v", ex, err)
		}
		// A resumed create finds the same pipeline and starts nothing more.
		if again, err := p.Create(ctx, f.request(codePipelineType, "Pipeline", "tok-1", pipelineProps("app"))); err != nil || again.PhysicalID != out.PhysicalID {
			t.Fatalf("resumed create: %+v %v", again, err)
		}
		if ex, _ := f.pipelines.Executions(ctx, pl, 10); len(ex) != 1 {
			t.Fatalf("%d executions after a resumed create", len(ex))
		}
		// A bad declaration fails with the path of the problem.
		bad := pipelineProps("app")
		bad["Stages"] = bad["Stages"].([]any)[:1]
		if _, err := p.Create(ctx, f.request(codePipelineType, "Other", "tok-2", bad)); err == nil || !strings.Contains(err.Error(), "Stages") {
			t.Fatalf("one-stage pipeline: %v", err)
		}
		upd := f.request(codePipelineType, "Pipeline", "tok-1", pipelineProps("other"))
		upd.PhysicalID = out.PhysicalID
		uout, err := p.Update(ctx, upd)
		if err != nil || uout.Attrs["Version"].(interface{ String() string }).String() != "2" {
			t.Fatalf("update: %+v %v", uout, err)
		}
		del := f.request(codePipelineType, "Pipeline", "tok-1", nil)
		del.PhysicalID = out.PhysicalID
		for range 2 {
			if err := p.Delete(ctx, del); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := f.pipelines.Get(ctx, f.projectID, out.PhysicalID); err == nil {
			t.Fatal("the pipeline outlived its delete")
		}
	})
}
