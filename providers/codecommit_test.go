package providers

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

func TestCodeCommitRepositoryLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		p := f.provider(t, codeCommitType)
		props := map[string]any{"RepositoryName": "app", "RepositoryDescription": "the app", "Tags": []any{}}

		out, err := p.Create(ctx, f.request(codeCommitType, "Repo", "tok-1", props))
		if err != nil {
			t.Fatal(err)
		}
		rp, err := f.repos.Get(ctx, f.projectID, "app")
		if err != nil {
			t.Fatalf("no repository was made: %v", err)
		}
		if out.PhysicalID != rp.ID || rp.Description != "the app" || rp.ManagedBy != "tok-1" {
			t.Fatalf("physical ID %q, repository %+v", out.PhysicalID, rp)
		}
		want := map[string]any{
			"Arn":          "arn:aws:codecommit:local:000000000000:app",
			"CloneUrlHttp": "http://127.0.0.1:7000/git/acme/app.git",
			"CloneUrlSsh":  "http://127.0.0.1:7000/git/acme/app.git",
			"Name":         "app",
		}
		for k, v := range want {
			if out.Attrs[k] != v {
				t.Errorf("%s = %v, want %v", k, out.Attrs[k], v)
			}
		}

		// A create resumed after a crash gets the same repository back.
		again, err := p.Create(ctx, f.request(codeCommitType, "Repo", "tok-1", props))
		if err != nil || again.PhysicalID != out.PhysicalID {
			t.Fatalf("resumed create: %+v %v", again, err)
		}
		// Another resource may not take the name.
		_, err = p.Create(ctx, f.request(codeCommitType, "Other", "tok-2", props))
		if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "choose another RepositoryName") {
			t.Fatalf("create by another resource: %v", err)
		}

		upd := f.request(codeCommitType, "Repo", "tok-1", map[string]any{"RepositoryName": "app", "RepositoryDescription": "renamed"})
		upd.PhysicalID, upd.Previous = out.PhysicalID, props
		uout, err := p.Update(ctx, upd)
		if err != nil || uout.PhysicalID != out.PhysicalID || uout.Attrs["Arn"] != want["Arn"] {
			t.Fatalf("Update: %+v %v", uout, err)
		}
		if rp, _ := f.repos.Get(ctx, f.projectID, "app"); rp == nil || rp.Description != "renamed" {
			t.Fatalf("description after Update: %+v", rp)
		}

		del := f.request(codeCommitType, "Repo", "tok-1", upd.Properties)
		del.PhysicalID = out.PhysicalID
		for i := range 2 {
			if err := p.Delete(ctx, del); err != nil {
				t.Fatalf("Delete #%d: %v", i+1, err)
			}
		}
		if _, err := f.repos.Get(ctx, f.projectID, "app"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("repository still there after Delete: %v", err)
		}
		if _, err := p.Update(ctx, upd); err == nil || !strings.Contains(err.Error(), "no longer exists") {
			t.Fatalf("Update of a deleted repository: %v", err)
		}
	})
}

func TestCodeCommitDeleteLeavesRepositoriesItDidNotMake(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		p := f.provider(t, codeCommitType)
		handmade, err := f.repos.Create(ctx, f.projectID, f.projectName, "handmade", "")
		if err != nil {
			t.Fatal(err)
		}
		props := map[string]any{"RepositoryName": "handmade"}
		if _, err := p.Create(ctx, f.request(codeCommitType, "Repo", "tok-1", props)); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("create over a hand-made repository: %v", err)
		}
		// The rollback deletes the failed resource: no physical ID.
		if err := p.Delete(ctx, f.request(codeCommitType, "Repo", "tok-1", props)); err != nil {
			t.Fatal(err)
		}
		// Nor does a physical ID that is not the repository's own.
		stale := f.request(codeCommitType, "Repo", "tok-1", props)
		stale.PhysicalID = "some-other-id"
		if err := p.Delete(ctx, stale); err != nil {
			t.Fatal(err)
		}
		if rp, err := f.repos.Get(ctx, f.projectID, "handmade"); err != nil || rp.ID != handmade.ID {
			t.Fatalf("hand-made repository deleted: %+v %v", rp, err)
		}

		// A create cut short before it returned is cleaned up by its token.
		mine := map[string]any{"RepositoryName": "mine"}
		if _, err := p.Create(ctx, f.request(codeCommitType, "Mine", "tok-3", mine)); err != nil {
			t.Fatal(err)
		}
		if err := p.Delete(ctx, f.request(codeCommitType, "Mine", "tok-3", mine)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.repos.Get(ctx, f.projectID, "mine"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("repository of an interrupted create left behind: %v", err)
		}
		// Properties refused at create leave nothing to delete.
		if err := p.Delete(ctx, f.request(codeCommitType, "Bad", "tok-4", map[string]any{"RepositoryName": []any{"x"}})); err != nil {
			t.Fatal(err)
		}
	})
}
