package store_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

func TestStore_MigratesAndMapsErrors(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, "INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)", "p1", "alpha", 1); err != nil {
			t.Fatal(err)
		}
		_, err := db.ExecContext(ctx, "INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)", "p2", "alpha", 1)
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate name: got %v, want ErrConflict", err)
		}
		var name string
		err = store.Scan(db.QueryRowContext(ctx, "SELECT name FROM projects WHERE id = ?", "nope"), &name)
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing row: got %v, want ErrNotFound", err)
		}
		// A literal question mark must survive placeholder rebinding.
		if err := store.Scan(db.QueryRowContext(ctx, "SELECT name || '?' FROM projects WHERE id = ?", "p1"), &name); err != nil || name != "alpha?" {
			t.Fatalf("got %q, %v", name, err)
		}
	})
}

func TestStore_TxRollsBackOnError(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		committed := false
		boom := errors.New("boom")
		err := db.Tx(ctx, func(tx *store.Tx) error {
			tx.OnCommit(func() { committed = true })
			if _, err := tx.ExecContext(ctx, "INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)", "p1", "alpha", 1); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) || committed {
			t.Fatalf("err=%v committed=%v", err, committed)
		}
		var n int
		if err := store.Scan(db.QueryRowContext(ctx, "SELECT COUNT(*) FROM projects"), &n); err != nil || n != 0 {
			t.Fatalf("rows after rollback: %d, %v", n, err)
		}
	})
}

func TestStore_ReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/s.db"
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO projects (id, name, created_at) VALUES ('a','b',1)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := store.Scan(db.QueryRowContext(ctx, "SELECT COUNT(*) FROM projects"), &n); err != nil || n != 1 {
		t.Fatalf("rows after reopen: %d, %v", n, err)
	}
}
