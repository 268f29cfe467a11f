package providers

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

func TestCodeBuildProjectLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		p := f.provider(t, codeBuildType)
		props := map[string]any{
			"Name":        "app-build",
			"Description": "builds the app",
			"ServiceRole": "arn:aws:iam::000000000000:role/build",
			"Artifacts":   map[string]any{"Type": "CODEPIPELINE"},
			"Source":      map[string]any{"Type": "CODEPIPELINE", "BuildSpec": "ci/buildspec.yml"},
			"Environment": map[string]any{"ComputeType": "BUILD_GENERAL1_SMALL", "Image": "aws/codebuild/golang:1.10", "Type": "LINUX_CONTAINER",
				"EnvironmentVariables": []any{map[string]any{"Name": "ARTIFACT_S3_BUCKET", "Value": "bucket-1"}}},
			"TimeoutInMinutes": json.Number("30"),
			"Cache":            map[string]any{"Type": "LOCAL", "Modes": []any{"LOCAL_CUSTOM_CACHE"}},
		}
		out, err := p.Create(ctx, f.request(codeBuildType, "Build", "tok-1", props))
		if err != nil {
			t.Fatal(err)
		}
		bp, err := f.builds.GetProject(ctx, f.projectID, "app-build")
		if err != nil {
			t.Fatalf("no build project was made: %v", err)
		}
		if out.PhysicalID != "app-build" || out.Attrs["Arn"] != "arn:aws:codebuild:local:000000000000:project/app-build" {
			t.Fatalf("outcome %+v", out)
		}
		if bp.Description != "builds the app" || bp.Buildspec != "ci/buildspec.yml" || bp.TimeoutInMinutes != 30 ||
			bp.Cache.Type != "LOCAL" || bp.Environment.Image != "aws/codebuild/golang:1.10" ||
			len(bp.Environment.Variables) != 1 || bp.Environment.Variables[0].Value != "bucket-1" {
			t.Fatalf("settings %+v", bp.Settings)
		}
		// A resumed create finds the same project; another one may not take the name.
		if again, err := p.Create(ctx, f.request(codeBuildType, "Build", "tok-1", props)); err != nil || again.PhysicalID != "app-build" {
			t.Fatalf("resumed create: %+v %v", again, err)
		}
		other := map[string]any{}
		for k, v := range props {
			other[k] = v
		}
		other["Description"] = "someone else's"
		if _, err := p.Create(ctx, f.request(codeBuildType, "Other", "tok-2", other)); err == nil || !strings.Contains(err.Error(), "app-build already exists") {
			t.Fatalf("create of a taken name: %v", err)
		}
		upd := f.request(codeBuildType, "Build", "tok-1", other)
		upd.PhysicalID = out.PhysicalID
		if _, err := p.Update(ctx, upd); err != nil {
			t.Fatal(err)
		}
		if bp, _ := f.builds.GetProject(ctx, f.projectID, "app-build"); bp.Description != "someone else's" {
			t.Fatalf("after update: %+v", bp)
		}
		// A failed create's record has no physical ID: deleting it must not
		// touch the project of that name.
		if err := p.Delete(ctx, f.request(codeBuildType, "Other", "tok-2", other)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.builds.GetProject(ctx, f.projectID, "app-build"); err != nil {
			t.Fatalf("the delete of a failed create removed another project: %v", err)
		}
		for range 2 {
			if err := p.Delete(ctx, upd); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := f.builds.GetProject(ctx, f.projectID, "app-build"); err == nil {
			t.Fatal("the project outlived its delete")
		}
	})
}
