package auth_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/slipway/slipway/auth"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

func TestPassword_HashVerifiesOnlyTheSamePassword(t *testing.T) {
	h := auth.HashPassword("correct horse")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash not in PHC argon2id form: %s", h)
	}
	if !auth.CheckPassword(h, "correct horse") {
		t.Fatal("right password rejected")
	}
	if auth.CheckPassword(h, "correct horsE") || auth.CheckPassword("garbage", "correct horse") {
		t.Fatal("wrong password or malformed hash accepted")
	}
	if h == auth.HashPassword("correct horse") {
		t.Fatal("two hashes of one password are equal: salt missing")
	}
}

func TestRoles_IncludeTheirActions(t *testing.T) {
	cases := []struct {
		role    auth.Role
		allowed []auth.Action
		denied  []auth.Action
	}{
		{auth.RoleRead, []auth.Action{auth.Read}, []auth.Action{auth.Write, auth.Approve, auth.Admin}},
		{auth.RoleWrite, []auth.Action{auth.Read, auth.Write}, []auth.Action{auth.Approve, auth.Admin}},
		{auth.RoleApprove, []auth.Action{auth.Read, auth.Approve}, []auth.Action{auth.Write, auth.Admin}},
		{auth.RoleAdmin, []auth.Action{auth.Read, auth.Write, auth.Approve, auth.Admin}, nil},
	}
	for _, c := range cases {
		for _, a := range c.allowed {
			if !c.role.Allows(a) {
				t.Errorf("%s should allow %s", c.role, a)
			}
		}
		for _, a := range c.denied {
			if c.role.Allows(a) {
				t.Errorf("%s should not allow %s", c.role, a)
			}
		}
	}
	if _, err := auth.ParseRole("owner"); err == nil {
		t.Error("unknown role accepted")
	}
}

// bootstrapped is the auth service on db after its first start, and the
// default project.
func bootstrapped(t *testing.T, db *store.DB) (*auth.Service, *auth.Project) {
	t.Helper()
	s := auth.NewService(db)
	if _, err := s.Bootstrap(context.Background(), filepath.Join(t.TempDir(), "admin-token")); err != nil {
		t.Fatal(err)
	}
	def, err := s.Project(context.Background(), auth.DefaultProject)
	if err != nil {
		t.Fatal(err)
	}
	return s, def
}

func TestService_TokensGrantsAndTeams(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, def := bootstrapped(t, db)
		alice, err := s.CreateUser(ctx, "alice", "", false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateUser(ctx, "alice", "", false); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate user: %v", err)
		}
		secret, _, err := s.CreateToken(ctx, alice.ID, "laptop")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(secret, auth.TokenPrefix) || len(secret) < len(auth.TokenPrefix)+26 {
			t.Fatalf("token %q too short for 128 bits", secret)
		}
		for _, c := range secret {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				t.Fatalf("token %q has a character that is not URL-safe: %q", secret, c)
			}
		}
		p, err := s.Authenticate(ctx, secret)
		if err != nil || p.Name != "alice" || p.SiteAdmin {
			t.Fatalf("authenticate: %+v, %v", p, err)
		}
		if _, err := s.Authenticate(ctx, secret+"x"); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("wrong token: %v", err)
		}

		res := auth.Resource{Kind: "repo", ID: "r1", ProjectID: def.ID}
		other := auth.Resource{Kind: "repo", ID: "r2", ProjectID: def.ID}
		if err := s.Authorize(ctx, p, auth.Read, res); !errors.Is(err, auth.ErrHidden) {
			t.Fatalf("no grant: %v, want ErrHidden", err)
		}
		if _, err := s.SetGrant(ctx, auth.SubjectUser, alice.ID, res, auth.RoleRead); err != nil {
			t.Fatal(err)
		}
		if err := s.Authorize(ctx, p, auth.Read, res); err != nil {
			t.Fatalf("read with read grant: %v", err)
		}
		if err := s.Authorize(ctx, p, auth.Write, res); !errors.Is(err, auth.ErrForbidden) {
			t.Fatalf("write with read grant: %v, want ErrForbidden", err)
		}
		if err := s.Authorize(ctx, p, auth.Read, other); !errors.Is(err, auth.ErrHidden) {
			t.Fatalf("grant leaked to another resource: %v", err)
		}

		// A team's project grant reaches every resource of the project.
		team, err := s.CreateTeam(ctx, "devs")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AddMember(ctx, team.ID, alice.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.AddMember(ctx, team.ID, alice.ID); err != nil {
			t.Fatalf("adding a member twice: %v", err)
		}
		if _, err := s.SetGrant(ctx, auth.SubjectTeam, team.ID, auth.ProjectResource(def.ID), auth.RoleWrite); err != nil {
			t.Fatal(err)
		}
		p, _ = s.Authenticate(ctx, secret)
		if err := s.Authorize(ctx, p, auth.Write, other); err != nil {
			t.Fatalf("write through team project grant: %v", err)
		}
		if err := s.Authorize(ctx, p, auth.Admin, other); !errors.Is(err, auth.ErrForbidden) {
			t.Fatalf("admin through write grant: %v", err)
		}
		teams, err := s.ListTeams(ctx)
		if err != nil || len(teams) != 1 || len(teams[0].Members) != 1 || teams[0].Members[0] != "alice" {
			t.Fatalf("teams: %+v, %v", teams, err)
		}
		// Replacing a grant changes the role instead of adding a second one.
		if _, err := s.SetGrant(ctx, auth.SubjectUser, alice.ID, res, auth.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		if err := s.Authorize(ctx, p, auth.Admin, res); err != nil {
			t.Fatalf("admin after regrant: %v", err)
		}
		if err := s.RevokeToken(ctx, alice.ID, p.TokenID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(ctx, secret); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("revoked token still works: %v", err)
		}
	})
}

func TestBootstrap_CreatesAdminOnceAndKeepsTheTokenFile(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	s := auth.NewService(db)
	file := filepath.Join(t.TempDir(), "admin-token")
	tok, err := s.Bootstrap(ctx, file)
	if err != nil || tok == "" {
		t.Fatalf("first bootstrap: %q, %v", tok, err)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, %v", fi, err)
	}
	b, _ := os.ReadFile(file)
	p, err := s.Authenticate(ctx, strings.TrimSpace(string(b)))
	if err != nil || p.Name != auth.AdminUser || !p.SiteAdmin {
		t.Fatalf("admin token: %+v, %v", p, err)
	}
	again, err := s.Bootstrap(ctx, file)
	if err != nil || again != "" {
		t.Fatalf("second bootstrap made a token %q, %v", again, err)
	}
	// If the file was lost (a crash between creating the user and writing
	// it), the next start writes a fresh token.
	os.Remove(file)
	if tok, err := s.Bootstrap(ctx, file); err != nil || tok == "" {
		t.Fatalf("bootstrap after lost file: %q, %v", tok, err)
	}
}

func TestCheckUserPassword(t *testing.T) {
	ctx := context.Background()
	s := auth.NewService(storetest.SQLite(t))
	if _, err := s.CreateUser(ctx, "bob", "s3cret", false); err != nil {
		t.Fatal(err)
	}
	if u, err := s.CheckUserPassword(ctx, "bob", "s3cret"); err != nil || u.Name != "bob" {
		t.Fatalf("right password: %v", err)
	}
	for _, c := range [][2]string{{"bob", "wrong"}, {"nobody", "s3cret"}} {
		if _, err := s.CheckUserPassword(ctx, c[0], c[1]); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("%s/%s: %v", c[0], c[1], err)
		}
	}
}

// Servers starting at once on one data directory race to write the token
// file: one wins, the others withdraw their tokens, and none fails.
func TestBootstrap_ServersStartingAtOnceLeaveOneWorkingTokenFile(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	s := auth.NewService(db)
	if _, err := s.Bootstrap(ctx, filepath.Join(t.TempDir(), "other")); err != nil {
		t.Fatal(err) // the admin user exists; only the file is raced for
	}
	file := filepath.Join(t.TempDir(), "admin-token")
	const n = 6
	secrets := make(chan string, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			tok, err := s.Bootstrap(ctx, file)
			secrets <- tok
			errs <- err
		})
	}
	wg.Wait()
	close(secrets)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	inFile := strings.TrimSpace(string(b))
	var returned []string
	for tok := range secrets {
		if tok != "" {
			returned = append(returned, tok)
		}
	}
	if len(returned) != 1 || returned[0] != inFile {
		t.Fatalf("%d bootstraps said they wrote the file, want the one whose token it holds", len(returned))
	}
	p, err := s.Authenticate(ctx, inFile)
	if err != nil {
		t.Fatalf("the file's token does not authenticate: %v", err)
	}
	// The losers withdrew theirs: the admin has the first start's token
	// and the winner's.
	if toks, err := s.ListTokens(ctx, p.UserID); err != nil || len(toks) != 2 {
		t.Errorf("admin tokens after the race: %d %v, want 2", len(toks), err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(file)); len(entries) != 1 {
		t.Errorf("left in the directory: %v", entries)
	}
}
