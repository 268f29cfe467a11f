package repo

import (
	"context"
	"errors"
	"testing"

	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

func TestCreateManagedAgainWithTheSameTokenReturnsTheFirstRepository(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		ctx := context.Background()
		first, err := f.svc.CreateManaged(ctx, f.projectID, f.projectName, "app", "first", "token-1")
		if err != nil {
			t.Fatal(err)
		}
		if first.ManagedBy != "token-1" {
			t.Fatalf("ManagedBy = %q", first.ManagedBy)
		}
		again, err := f.svc.CreateManaged(ctx, f.projectID, f.projectName, "app", "second", "token-1")
		if err != nil {
			t.Fatalf("resumed create: %v", err)
		}
		if again.ID != first.ID || again.Description != "first" || again.ManagedBy != "token-1" {
			t.Fatalf("resumed create returned %+v, want the first repository %+v", again, first)
		}
		got, err := f.svc.Get(ctx, f.projectID, "app")
		if err != nil || got.ManagedBy != "token-1" {
			t.Fatalf("Get: %+v %v", got, err)
		}
		list, err := f.svc.List(ctx, f.projectID)
		if err != nil || len(list) != 1 || list[0].ManagedBy != "token-1" {
			t.Fatalf("List: %+v %v", list, err)
		}
	})
}

func TestCreateManagedConflictsWithARepositoryItDidNotMake(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		ctx := context.Background()
		f.create(t, "handmade")
		if _, err := f.svc.CreateManaged(ctx, f.projectID, f.projectName, "handmade", "", "token-1"); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("managed create over a hand-made repository: %v", err)
		}
		if _, err := f.svc.CreateManaged(ctx, f.projectID, f.projectName, "stacked", "", "token-1"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.CreateManaged(ctx, f.projectID, f.projectName, "stacked", "", "token-2"); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("create with another token: %v", err)
		}
		// A plain Create never adopts a repository, managed or not.
		if _, err := f.svc.Create(ctx, f.projectID, f.projectName, "stacked", ""); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("plain create over a managed repository: %v", err)
		}
		if _, err := f.svc.CreateManaged(ctx, f.projectID, f.projectName, "handmade", "", ""); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("create with an empty token over a hand-made repository: %v", err)
		}
	})
}

func TestSetDescriptionChangesOnlyTheDescription(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		ctx := context.Background()
		r := f.create(t, "app")
		if err := f.svc.SetDescription(ctx, f.projectID, "app", "the app"); err != nil {
			t.Fatal(err)
		}
		got, err := f.svc.Get(ctx, f.projectID, "app")
		if err != nil || got.Description != "the app" || got.ID != r.ID {
			t.Fatalf("Get: %+v %v", got, err)
		}
		if err := f.svc.SetDescription(ctx, f.projectID, "nope", "x"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("SetDescription of a missing repository: %v", err)
		}
	})
}
