package secret_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway/slipway/secret"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

func project(t *testing.T, db *store.DB, id string) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), "INSERT INTO projects (id, name, created_at) VALUES (?, ?, 1)", id, id); err != nil {
		t.Fatal(err)
	}
}

func TestLoadKey_CreatesAPrivateKeyOnceAndKeepsIt(t *testing.T) {
	file := filepath.Join(t.TempDir(), "secret.key")
	k1, err := secret.LoadKey(file)
	if err != nil || len(k1) != 32 {
		t.Fatalf("%v %d", err, len(k1))
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	k2, err := secret.LoadKey(file)
	if err != nil || string(k1) != string(k2) {
		t.Fatal("the key changed between loads")
	}
	os.WriteFile(file, []byte("short"), 0o600)
	if _, err := secret.LoadKey(file); err == nil {
		t.Fatal("a damaged key file was accepted")
	}
}

func TestSecrets_SealedAtRestListedWithoutValuesAndResolvedForBuilds(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		project(t, db, "p1")
		project(t, db, "p2")
		key, _ := secret.LoadKey(filepath.Join(t.TempDir(), "k"))
		s, err := secret.NewService(db, key)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetSecret(ctx, "p1", "prod/db", `{"user":"app","password":"hunter2-very-secret"}`); err != nil {
			t.Fatal(err)
		}
		if err := s.SetSecret(ctx, "p1", "token", "first"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetSecret(ctx, "p1", "token", "second"); err != nil {
			t.Fatal(err)
		}
		// Nothing readable at rest.
		var sealed string
		if err := store.Scan(db.QueryRowContext(ctx, "SELECT sealed FROM secrets WHERE name = 'prod/db'"), &sealed); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(sealed, "hunter2") {
			t.Fatal("secret stored in the clear")
		}
		list, err := s.ListSecrets(ctx, "p1")
		if err != nil || len(list) != 2 || list[0].Value != "" || list[1].Value != "" {
			t.Fatalf("listing: %+v %v", list, err)
		}
		for _, c := range []struct{ ref, want string }{
			{"token", "second"},
			{"prod/db:password", "hunter2-very-secret"},
			{"prod/db:user:AWSCURRENT", "app"},
		} {
			if got, err := s.Resolve(ctx, "p1", "secrets-manager", c.ref); err != nil || got != c.want {
				t.Errorf("%s: %q %v", c.ref, got, err)
			}
		}
		for _, ref := range []string{"prod/db:nokey", "token:field", "token::AWSPREVIOUS", "missing"} {
			if _, err := s.Resolve(ctx, "p1", "secrets-manager", ref); err == nil {
				t.Errorf("%s resolved", ref)
			}
		}
		// Another project sees nothing of p1's.
		if _, err := s.Resolve(ctx, "p2", "secrets-manager", "token"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("cross-project read: %v", err)
		}
		// A sealed value moved to another row does not open.
		if _, err := db.ExecContext(ctx, "UPDATE secrets SET sealed = (SELECT sealed FROM secrets WHERE name = 'prod/db') WHERE name = 'token'"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Secret(ctx, "p1", "token"); !errors.Is(err, secret.ErrUnsealable) {
			t.Fatalf("moved ciphertext: %v", err)
		}
		// Another key opens nothing.
		other, _ := secret.NewService(db, make([]byte, 32))
		if _, err := other.Secret(ctx, "p1", "prod/db"); !errors.Is(err, secret.ErrUnsealable) {
			t.Fatalf("wrong key: %v", err)
		}
		if err := s.DeleteSecret(ctx, "p1", "token"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteSecret(ctx, "p1", "token"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
	})
}

func TestParams_SetGetListAndResolve(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		project(t, db, "p1")
		s, _ := secret.NewService(db, make([]byte, 32))
		if err := s.SetParam(ctx, "p1", "/app/url", "http://a"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetParam(ctx, "p1", "/app/url", "http://b"); err != nil {
			t.Fatal(err)
		}
		if p, err := s.Param(ctx, "p1", "/app/url"); err != nil || p.Value != "http://b" {
			t.Fatalf("%+v %v", p, err)
		}
		if v, err := s.Resolve(ctx, "p1", "parameter-store", "/app/url"); err != nil || v != "http://b" {
			t.Fatalf("%q %v", v, err)
		}
		if list, _ := s.ListParams(ctx, "p1"); len(list) != 1 || list[0].Value != "http://b" {
			t.Fatalf("%+v", list)
		}
		for _, bad := range []string{"", "a b", "../x", strings.Repeat("x", 201)} {
			if err := s.SetParam(ctx, "p1", bad, "v"); err == nil {
				t.Errorf("name %q accepted", bad)
			}
		}
	})
}
