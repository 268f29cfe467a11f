// Package bucket keeps named artifact buckets, the local meaning of
// AWS::S3::Bucket: a namespace for artifacts in the artifact store whose name,
// as in S3, is unique across every project.
package bucket

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/slipway/slipway/store"
)

// Bucket is a named artifact bucket.
type Bucket struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id"`
	Name      string `json:"name"`
	// ManagedBy is set when a stack made the bucket: the idempotency token
	// of the stack resource, so a resumed create finds it.
	ManagedBy string `json:"managed_by,omitempty"`
	// Settings are the bucket's configuration as given (for a stack's
	// bucket, its properties but the name), kept for later features.
	Settings  map[string]any `json:"settings"`
	CreatedAt time.Time      `json:"created_at"`
}

// Service manages buckets. It is safe for concurrent use.
type Service struct {
	db *store.DB
}

// NewService returns a Service over db.
func NewService(db *store.DB) *Service { return &Service{db: db} }

// Limits of a bucket name's length, as S3's.
const (
	MinNameLen = 3
	MaxNameLen = 63
)

// ValidateName checks a bucket name against S3's rules: 3 to 63 lowercase
// letters, digits, '.' and '-', starting and ending with a letter or digit,
// without "..", and not shaped like an IP address.
func ValidateName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("invalid bucket name %q: %s; use %d to %d lowercase letters, digits, '.' or '-', starting and ending with a letter or digit",
			name, why, MinNameLen, MaxNameLen)
	}
	alnum := func(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }
	switch {
	case len(name) < MinNameLen || len(name) > MaxNameLen:
		return bad(fmt.Sprintf("%d characters", len(name)))
	case !alnum(name[0]) || !alnum(name[len(name)-1]):
		return bad("does not start and end with a letter or digit")
	case strings.Contains(name, ".."):
		return bad(`contains ".."`)
	}
	for _, c := range []byte(name) {
		if !alnum(c) && c != '.' && c != '-' {
			return bad(fmt.Sprintf("contains %q", c))
		}
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return bad("is an IP address")
	}
	return nil
}

const columns = "id, project_id, name, managed_by, settings, created_at"

// Create makes a bucket in the project. Names are global: if any project
// has a bucket of that name, the error wraps store.ErrConflict and says
// "NAME already exists" (S3's wording), unless that bucket is this
// project's and was made by the same non-empty managedBy, in which case it
// is returned as it is, so a create resumed after a crash finds what its
// first attempt made.
func (s *Service) Create(ctx context.Context, projectID, name, managedBy string, settings map[string]any) (*Bucket, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if settings == nil {
		settings = map[string]any{}
	}
	raw, err := encode(settings)
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", name, err)
	}
	b := &Bucket{ID: store.NewID(), ProjectID: projectID, Name: name, ManagedBy: managedBy,
		Settings: settings, CreatedAt: store.Time(store.Millis(time.Now()))}
	// Insert first and look only on a conflict: the unique name decides a
	// race between two creates, and the common case is one statement.
	_, err = s.db.ExecContext(ctx, "INSERT INTO buckets ("+columns+") VALUES (?, ?, ?, ?, ?, ?)",
		b.ID, b.ProjectID, b.Name, b.ManagedBy, raw, store.Millis(b.CreatedAt))
	if err == nil {
		return b, nil
	}
	if !errors.Is(err, store.ErrConflict) {
		return nil, fmt.Errorf("create bucket %s: %w", name, err)
	}
	old, gerr := s.get(ctx, name, "name = ?", name)
	if gerr == nil && managedBy != "" && old.ManagedBy == managedBy && old.ProjectID == projectID {
		return old, nil
	}
	// store.ErrConflict reads "already exists".
	return nil, fmt.Errorf("%s %w: bucket names are shared by every project; choose another name", name, store.ErrConflict)
}

// Get returns the project's bucket called name, or an error wrapping
// store.ErrNotFound (also when another project has it).
func (s *Service) Get(ctx context.Context, projectID, name string) (*Bucket, error) {
	return s.get(ctx, name, "project_id = ? AND name = ?", projectID, name)
}

// get returns the one bucket called name that where selects.
func (s *Service) get(ctx context.Context, name, where string, args ...any) (*Bucket, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+columns+" FROM buckets WHERE "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", name, err)
	}
	out, err := scanAll(rows)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bucket %s: %w", name, store.ErrNotFound)
	}
	return &out[0], nil
}

// List returns the project's buckets by name.
func (s *Service) List(ctx context.Context, projectID string) ([]Bucket, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+columns+" FROM buckets WHERE project_id = ? ORDER BY name", projectID)
	if err != nil {
		return nil, fmt.Errorf("list buckets: %w", err)
	}
	out, err := scanAll(rows)
	if err != nil {
		return nil, fmt.Errorf("list buckets: %w", err)
	}
	return out, nil
}

// UpdateSettings replaces the settings of the project's bucket called name,
// or returns an error wrapping store.ErrNotFound.
func (s *Service) UpdateSettings(ctx context.Context, projectID, name string, settings map[string]any) error {
	raw, err := encode(settings)
	if err != nil {
		return fmt.Errorf("update bucket %s: %w", name, err)
	}
	res, err := s.db.ExecContext(ctx, "UPDATE buckets SET settings = ? WHERE project_id = ? AND name = ?", raw, projectID, name)
	if err != nil {
		return fmt.Errorf("update bucket %s: %w", name, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("update bucket %s: %w", name, store.ErrNotFound)
	}
	return nil
}

// Delete removes the project's bucket called name; an absent bucket is not
// an error, so a repeated delete succeeds. Only the name goes: the artifact
// store is content-addressed and shared by every bucket, so the objects it
// holds are not one bucket's to delete.
func (s *Service) Delete(ctx context.Context, projectID, name string) error {
	if _, err := s.db.ExecContext(ctx, "DELETE FROM buckets WHERE project_id = ? AND name = ?", projectID, name); err != nil {
		return fmt.Errorf("delete bucket %s: %w", name, err)
	}
	return nil
}

func encode(settings map[string]any) (string, error) {
	if settings == nil {
		settings = map[string]any{}
	}
	b, err := json.Marshal(settings)
	if err != nil {
		return "", fmt.Errorf("settings are not JSON: %w", err)
	}
	return string(b), nil
}

func scanAll(rows *sql.Rows) ([]Bucket, error) {
	defer rows.Close()
	var out []Bucket
	for rows.Next() {
		var b Bucket
		var raw string
		var created int64
		if err := rows.Scan(&b.ID, &b.ProjectID, &b.Name, &b.ManagedBy, &raw, &created); err != nil {
			return nil, err
		}
		// Numbers stay json.Number, as in the stack's properties, so a
		// bucket's settings compare equal to the properties they came from.
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&b.Settings); err != nil {
			return nil, fmt.Errorf("settings of bucket %s: %w", b.Name, err)
		}
		b.CreatedAt = store.Time(created)
		out = append(out, b)
	}
	return out, rows.Err()
}
