package providers

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/slipway/slipway/bucket"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

func TestS3BucketWithoutANameGetsAValidNameFromItsToken(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		p := f.provider(t, s3BucketType)
		props := map[string]any{"Tags": []any{}, "VersioningConfiguration": map[string]any{"Status": "Enabled"}}

		out, err := p.Create(ctx, f.request(s3BucketType, "ArtifactS3Bucket", "tok-1", props))
		if err != nil {
			t.Fatal(err)
		}
		name := out.PhysicalID
		if err := bucket.ValidateName(name); err != nil {
			t.Fatalf("generated name: %v", err)
		}
		if !strings.HasPrefix(name, "app-staging-artifacts3bucket-") || len(name) != len("app-staging-artifacts3bucket-")+12 {
			t.Errorf("generated name %q is not <stack>-<logical id>-<12 characters>", name)
		}
		b, err := f.buckets.Get(ctx, f.projectID, name)
		if err != nil || b.ManagedBy != "tok-1" || !reflect.DeepEqual(b.Settings, props) {
			t.Fatalf("bucket: %+v %v", b, err)
		}
		want := map[string]any{
			"Arn":                 "arn:aws:s3:::" + name,
			"DomainName":          name + ".s3.slipway.local",
			"RegionalDomainName":  name + ".s3.local.slipway.local",
			"DualStackDomainName": name + ".s3.dualstack.local.slipway.local",
			"WebsiteURL":          "http://" + name + ".s3-website-local.slipway.local",
		}
		if !reflect.DeepEqual(out.Attrs, want) {
			t.Errorf("attributes %v, want %v", out.Attrs, want)
		}

		again, err := p.Create(ctx, f.request(s3BucketType, "ArtifactS3Bucket", "tok-1", props))
		if err != nil || again.PhysicalID != name {
			t.Fatalf("resumed create: %+v %v", again, err)
		}
		other, err := p.Create(ctx, f.request(s3BucketType, "ArtifactS3Bucket", "tok-2", props))
		if err != nil || other.PhysicalID == name {
			t.Fatalf("create under another token: %+v %v (first was %s)", other, err, name)
		}
		if list, _ := f.buckets.List(ctx, f.projectID); len(list) != 2 {
			t.Errorf("%d buckets, want 2", len(list))
		}

		upd := f.request(s3BucketType, "ArtifactS3Bucket", "tok-1", map[string]any{"Tags": []any{map[string]any{"Key": "a", "Value": "b"}}})
		upd.PhysicalID, upd.Previous = name, props
		if _, err := p.Update(ctx, upd); err != nil {
			t.Fatal(err)
		}
		if b, _ := f.buckets.Get(ctx, f.projectID, name); b == nil || !reflect.DeepEqual(b.Settings, upd.Properties) {
			t.Fatalf("settings after Update: %+v", b)
		}

		del := f.request(s3BucketType, "ArtifactS3Bucket", "tok-1", upd.Properties)
		del.PhysicalID = name
		for i := range 2 {
			if err := p.Delete(ctx, del); err != nil {
				t.Fatalf("Delete #%d: %v", i+1, err)
			}
		}
		if _, err := f.buckets.Get(ctx, f.projectID, name); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("bucket still there after Delete: %v", err)
		}
		if _, err := p.Update(ctx, upd); err == nil || !strings.Contains(err.Error(), "no longer exists") {
			t.Fatalf("Update of a deleted bucket: %v", err)
		}
	})
}

func TestS3BucketNamesConflictAcrossResources(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		p := f.provider(t, s3BucketType)
		named := map[string]any{"BucketName": "my-artifacts"}
		out, err := p.Create(ctx, f.request(s3BucketType, "Bucket", "tok-1", named))
		if err != nil || out.PhysicalID != "my-artifacts" {
			t.Fatalf("Create: %+v %v", out, err)
		}
		b, _ := f.buckets.Get(ctx, f.projectID, "my-artifacts")
		if b == nil || len(b.Settings) != 0 {
			t.Errorf("BucketName is kept among the settings: %+v", b)
		}
		_, err = p.Create(ctx, f.request(s3BucketType, "Other", "tok-2", named))
		if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "my-artifacts already exists") {
			t.Fatalf("create by another resource: %v", err)
		}
		// Its rollback (no physical ID) leaves the first resource's bucket.
		if err := p.Delete(ctx, f.request(s3BucketType, "Other", "tok-2", named)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.buckets.Get(ctx, f.projectID, "my-artifacts"); err != nil {
			t.Fatalf("another resource's rollback deleted the bucket: %v", err)
		}
		// A create cut short before it returned is cleaned up by its token.
		if err := p.Delete(ctx, f.request(s3BucketType, "Bucket", "tok-1", named)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.buckets.Get(ctx, f.projectID, "my-artifacts"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("bucket of an interrupted create left behind: %v", err)
		}
		if _, err := p.Create(ctx, f.request(s3BucketType, "Bad", "tok-3", map[string]any{"BucketName": "Bad_Name"})); err == nil {
			t.Fatal("an invalid BucketName was accepted")
		}
	})
}
