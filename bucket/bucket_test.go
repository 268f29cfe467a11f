package bucket

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// project inserts a project row (buckets refer to one) and returns its id.
func project(t *testing.T, db *store.DB, name string) string {
	t.Helper()
	id := store.NewID()
	if _, err := db.ExecContext(context.Background(),
		"INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)", id, name, store.Millis(time.Now())); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestValidateNameFollowsS3Rules(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"abc", true},
		{"my-bucket.v2", true},
		{"0bucket9", true},
		{strings.Repeat("a", 63), true},
		{"ab", false},
		{strings.Repeat("a", 64), false},
		{"MyBucket", false},
		{"-bucket", false},
		{"bucket-", false},
		{".bucket", false},
		{"my..bucket", false},
		{"my_bucket", false},
		{"my bucket", false},
		{"192.168.1.1", false},
		{"", false},
	} {
		err := ValidateName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "lowercase letters, digits") {
			t.Errorf("ValidateName(%q) does not say what is allowed: %v", tc.name, err)
		}
	}
}

func TestCreateGetListUpdateDelete(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := NewService(db)
		pid := project(t, db, "acme")
		settings := map[string]any{"VersioningConfiguration": map[string]any{"Status": "Enabled"}, "Days": json.Number("30")}
		b, err := s.Create(ctx, pid, "artifacts", "", settings)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, pid, "logs", "", nil); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, pid, "artifacts")
		if err != nil || got.ID != b.ID || got.ProjectID != pid || !reflect.DeepEqual(got.Settings, settings) {
			t.Fatalf("Get: %+v %v", got, err)
		}
		list, err := s.List(ctx, pid)
		if err != nil || len(list) != 2 || list[0].Name != "artifacts" || list[1].Name != "logs" {
			t.Fatalf("List: %+v %v", list, err)
		}
		if len(list[1].Settings) != 0 || list[1].Settings == nil {
			t.Errorf("settings of a bucket made without any: %#v", list[1].Settings)
		}

		next := map[string]any{"Tags": []any{map[string]any{"Key": "team", "Value": "core"}}}
		if err := s.UpdateSettings(ctx, pid, "artifacts", next); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Get(ctx, pid, "artifacts"); err != nil || !reflect.DeepEqual(got.Settings, next) {
			t.Fatalf("after UpdateSettings: %+v %v", got, err)
		}
		if err := s.UpdateSettings(ctx, pid, "nope", next); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("UpdateSettings of a missing bucket: %v", err)
		}

		for range 2 {
			if err := s.Delete(ctx, pid, "artifacts"); err != nil {
				t.Fatalf("Delete: %v", err)
			}
		}
		if _, err := s.Get(ctx, pid, "artifacts"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get after Delete: %v", err)
		}
		// The name is free again.
		if _, err := s.Create(ctx, pid, "artifacts", "", nil); err != nil {
			t.Fatalf("Create after Delete: %v", err)
		}
	})
}

func TestNamesAreGlobalAndAResumedCreateGetsItsBucketBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := NewService(db)
		acme, other := project(t, db, "acme"), project(t, db, "other")
		first, err := s.Create(ctx, acme, "shared", "token-1", map[string]any{"A": "1"})
		if err != nil {
			t.Fatal(err)
		}
		again, err := s.Create(ctx, acme, "shared", "token-1", map[string]any{"A": "2"})
		if err != nil || again.ID != first.ID || again.ManagedBy != "token-1" || again.Settings["A"] != "1" {
			t.Fatalf("resumed create: %+v %v", again, err)
		}
		for _, tc := range []struct {
			what, project, token string
		}{
			{"another token", acme, "token-2"},
			{"no token", acme, ""},
			{"another project, same token", other, "token-1"},
		} {
			_, err := s.Create(ctx, tc.project, "shared", tc.token, nil)
			if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "shared already exists") {
				t.Errorf("%s: %v, want a conflict saying \"shared already exists\"", tc.what, err)
			}
		}
		if _, err := s.Get(ctx, other, "shared"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("another project's bucket is visible: %v", err)
		}
		if err := s.Delete(ctx, other, "shared"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, acme, "shared"); err != nil {
			t.Errorf("another project deleted the bucket: %v", err)
		}
		// Hand-made buckets are never adopted.
		if _, err := s.Create(ctx, acme, "plain", "", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, acme, "plain", "", nil); !errors.Is(err, store.ErrConflict) {
			t.Errorf("second plain create: %v", err)
		}
		if _, err := s.Create(ctx, acme, "Bad_Name", "", nil); err == nil || errors.Is(err, store.ErrConflict) {
			t.Errorf("invalid name: %v", err)
		}
	})
}
