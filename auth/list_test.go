package auth_test

import (
	"context"
	"errors"
	"testing"

	"github.com/slipway/slipway/auth"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

func TestProjectGrants_NamesSubjectsAndStaysInItsProject(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, def := bootstrapped(t, db)
		other, err := s.CreateProject(ctx, "other", "")
		if err != nil {
			t.Fatal(err)
		}
		alice, err := s.CreateUser(ctx, "alice", "", false)
		if err != nil {
			t.Fatal(err)
		}
		devs, err := s.CreateTeam(ctx, "devs")
		if err != nil {
			t.Fatal(err)
		}
		repo := auth.Resource{Kind: "repo", ID: "r1", ProjectID: def.ID}
		onRepo, err := s.SetGrant(ctx, auth.SubjectUser, alice.ID, repo, auth.RoleRead)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetGrant(ctx, auth.SubjectTeam, devs.ID, auth.ProjectResource(def.ID), auth.RoleWrite); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetGrant(ctx, auth.SubjectUser, alice.ID, auth.ProjectResource(other.ID), auth.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		gs, err := s.ProjectGrants(ctx, def.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(gs) != 2 {
			t.Fatalf("grants of the default project: %+v", gs)
		}
		if g := gs[0]; g.ResourceKind != "project" || g.SubjectKind != auth.SubjectTeam || g.SubjectName != "devs" || g.Role != auth.RoleWrite || g.ProjectID != def.ID {
			t.Errorf("first grant: %+v", g)
		}
		if g := gs[1]; g.ID != onRepo.ID || g.ResourceKind != "repo" || g.ResourceID != "r1" || g.SubjectName != "alice" || g.Role != auth.RoleRead {
			t.Errorf("second grant: %+v", g)
		}
		g, err := s.GrantByID(ctx, onRepo.ID)
		if err != nil || g.SubjectName != "alice" || g.ProjectID != def.ID {
			t.Fatalf("grant by id: %+v, %v", g, err)
		}
		if err := s.DeleteGrant(ctx, onRepo.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GrantByID(ctx, onRepo.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted grant: %v", err)
		}
		if err := s.DeleteGrant(ctx, onRepo.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleting twice: %v", err)
		}
		if gs, err := s.ProjectGrants(ctx, other.ID); err != nil || len(gs) != 1 || gs[0].SubjectName != "alice" {
			t.Errorf("the other project's grants: %+v, %v", gs, err)
		}
	})
}

func TestAuditLog_FiltersByActorAndActionText(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := auth.NewService(db)
		for _, e := range []auth.AuditEntry{
			{Actor: "alice", Action: "POST /api/v1/teams", Status: 201, Outcome: "success"},
			{Actor: "bob", Action: "DELETE /api/v1/tokens/{id}", Status: 204, Outcome: "success"},
			{Actor: "alice", Action: "POST /api/v1/projects/{project}/grants", Status: 403, Outcome: "failure"},
			{Actor: "alice_", Action: "PUT 100% /x", Status: 200, Outcome: "success"},
		} {
			if err := s.Audit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		count := func(q auth.AuditQuery) []auth.AuditEntry {
			t.Helper()
			es, err := s.AuditLog(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			return es
		}
		all := count(auth.AuditQuery{})
		if len(all) != 4 || all[0].Actor != "alice_" || all[0].ID <= all[1].ID {
			t.Fatalf("newest first: %+v", all)
		}
		for _, c := range []struct {
			q    auth.AuditQuery
			want int
		}{
			{auth.AuditQuery{Actor: "alice"}, 2},
			{auth.AuditQuery{Actor: "ALICE"}, 0},
			{auth.AuditQuery{Action: "post"}, 2},
			{auth.AuditQuery{Action: "/GRANTS"}, 1},
			{auth.AuditQuery{Action: "post", Actor: "bob"}, 0},
			// Wildcards are plain text.
			{auth.AuditQuery{Action: "%"}, 1},
			{auth.AuditQuery{Action: "_"}, 0},
			{auth.AuditQuery{Action: `\`}, 0},
			{auth.AuditQuery{Before: all[1].ID}, 2},
			{auth.AuditQuery{Before: all[0].ID, Actor: "alice", Limit: 1}, 1},
		} {
			if es := count(c.q); len(es) != c.want {
				t.Errorf("%+v: %d entries %+v, want %d", c.q, len(es), es, c.want)
			}
		}
	})
}
