// Package secret keeps a project's secrets (sealed with a key kept outside
// the database, never returned by any listing) and its parameters (plain
// configuration values), which builds resolve as parameter-store and
// secrets-manager variables.
package secret

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/slipway/slipway/store"
)

// ErrInvalidName is wrapped by the error for a malformed secret or parameter name.
var ErrInvalidName = errors.New("invalid name")

// ErrUnsealable means a stored secret cannot be opened with the key given:
// the key file was replaced or the row was tampered with.
var ErrUnsealable = errors.New("secret cannot be decrypted with this server's key")

// Service owns the secrets and params tables.
type Service struct {
	db   *store.DB
	aead cipher.AEAD
	now  func() time.Time
}

// LoadKey reads the 32-byte key in file, creating it (mode 0600) with a
// random key when it does not exist yet.
func LoadKey(file string) ([]byte, error) {
	key, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
		if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
			return nil, err
		}
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, key, 0o600); err != nil {
			return nil, fmt.Errorf("write secret key: %w", err)
		}
		// Link, not rename: of two servers starting at once, one key wins
		// and both use it.
		if err := os.Link(tmp, file); err != nil && !errors.Is(err, fs.ErrExist) {
			os.Remove(tmp)
			return nil, fmt.Errorf("write secret key: %w", err)
		}
		os.Remove(tmp)
		key, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("secret key %s: want 32 bytes, found %d", file, len(key))
	}
	return key, nil
}

// NewService returns the service sealing secrets with key (32 bytes).
func NewService(db *store.DB, key []byte) (*Service, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Service{db: db, aead: aead, now: time.Now}, nil
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9_.\-/]{1,200}$`)

// ValidateName checks a secret or parameter name.
func ValidateName(kind, name string) error {
	if !namePattern.MatchString(name) || strings.Contains(name, "..") {
		return fmt.Errorf("%w: %s %q: use 1 to 200 letters, digits, '_', '.', '-' or '/'", ErrInvalidName, kind, name)
	}
	return nil
}

// Entry describes a secret or a parameter; Value is empty for secrets.
type Entry struct {
	Name      string    `json:"name"`
	Value     string    `json:"value,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// additional binds a sealed value to its project and name, so a sealed
// value copied to another row does not open.
func additional(projectID, name string) []byte { return []byte(projectID + "\x00" + name) }

// SetSecret creates or replaces a secret.
func (s *Service) SetSecret(ctx context.Context, projectID, name, value string) error {
	if err := ValidateName("secret", name); err != nil {
		return err
	}
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	sealed := base64.StdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, []byte(value), additional(projectID, name)))
	now := store.Millis(s.now())
	_, err := s.db.ExecContext(ctx, `INSERT INTO secrets (id, project_id, name, sealed, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (project_id, name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at`,
		store.NewID(), projectID, name, sealed, now, now)
	if err != nil {
		return fmt.Errorf("set secret %s: %w", name, err)
	}
	return nil
}

// Secret opens a secret's value; only builds call this, never an API handler.
func (s *Service) Secret(ctx context.Context, projectID, name string) (string, error) {
	var sealed string
	if err := store.Scan(s.db.QueryRowContext(ctx, `SELECT sealed FROM secrets WHERE project_id = ? AND name = ?`, projectID, name), &sealed); err != nil {
		return "", fmt.Errorf("secret %s: %w", name, err)
	}
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return "", fmt.Errorf("secret %s: %w", name, ErrUnsealable)
	}
	plain, err := s.aead.Open(nil, raw[:s.aead.NonceSize()], raw[s.aead.NonceSize():], additional(projectID, name))
	if err != nil {
		return "", fmt.Errorf("secret %s: %w", name, ErrUnsealable)
	}
	return string(plain), nil
}

// ListSecrets returns the names of a project's secrets, never their values.
func (s *Service) ListSecrets(ctx context.Context, projectID string) ([]Entry, error) {
	return s.list(ctx, `SELECT name, '', updated_at FROM secrets WHERE project_id = ? ORDER BY name`, projectID)
}

// DeleteSecret removes a secret.
func (s *Service) DeleteSecret(ctx context.Context, projectID, name string) error {
	return s.delete(ctx, "secrets", projectID, name)
}

// SetParam creates or replaces a parameter.
func (s *Service) SetParam(ctx context.Context, projectID, name, value string) error {
	if err := ValidateName("parameter", name); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO params (id, project_id, name, value, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (project_id, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		store.NewID(), projectID, name, value, store.Millis(s.now()))
	if err != nil {
		return fmt.Errorf("set parameter %s: %w", name, err)
	}
	return nil
}

// Param returns a parameter.
func (s *Service) Param(ctx context.Context, projectID, name string) (*Entry, error) {
	es, err := s.list(ctx, `SELECT name, value, updated_at FROM params WHERE project_id = ? AND name = ?`, projectID, name)
	if err != nil {
		return nil, err
	}
	if len(es) == 0 {
		return nil, fmt.Errorf("parameter %s: %w", name, store.ErrNotFound)
	}
	return &es[0], nil
}

// ListParams returns a project's parameters with their values.
func (s *Service) ListParams(ctx context.Context, projectID string) ([]Entry, error) {
	return s.list(ctx, `SELECT name, value, updated_at FROM params WHERE project_id = ? ORDER BY name`, projectID)
}

// DeleteParam removes a parameter.
func (s *Service) DeleteParam(ctx context.Context, projectID, name string) error {
	return s.delete(ctx, "params", projectID, name)
}

func (s *Service) list(ctx context.Context, q string, args ...any) ([]Entry, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Entry{}
	for rows.Next() {
		var e Entry
		var at int64
		if err := rows.Scan(&e.Name, &e.Value, &at); err != nil {
			return nil, err
		}
		e.UpdatedAt = store.Time(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *Service) delete(ctx context.Context, table, projectID, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM `+table+` WHERE project_id = ? AND name = ?`, projectID, name)
	if err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s: %w", name, store.ErrNotFound)
	}
	return nil
}

// Resolve answers a buildspec's parameter-store ("NAME") and
// secrets-manager ("secret-id[:json-key[:version-stage[:version-id]]]")
// references for builds of a project. Only the current version exists here,
// so a version stage other than AWSCURRENT or a version id is refused.
func (s *Service) Resolve(ctx context.Context, projectID, kind, ref string) (string, error) {
	switch kind {
	case "parameter-store":
		p, err := s.Param(ctx, projectID, ref)
		if err != nil {
			return "", err
		}
		return p.Value, nil
	case "secrets-manager":
		parts := strings.Split(ref, ":")
		if len(parts) > 4 {
			return "", fmt.Errorf("secret reference %q: write secret-id[:json-key[:version-stage[:version-id]]]", ref)
		}
		for len(parts) < 4 {
			parts = append(parts, "")
		}
		if (parts[2] != "" && parts[2] != "AWSCURRENT") || parts[3] != "" {
			return "", fmt.Errorf("secret reference %q: only the current version (AWSCURRENT) is kept here", ref)
		}
		v, err := s.Secret(ctx, projectID, parts[0])
		if err != nil || parts[1] == "" {
			return v, err
		}
		var fields map[string]any
		if err := json.Unmarshal([]byte(v), &fields); err != nil {
			return "", fmt.Errorf("secret %s is not a JSON object, so it has no key %q", parts[0], parts[1])
		}
		f, ok := fields[parts[1]]
		if !ok {
			return "", fmt.Errorf("secret %s has no key %q", parts[0], parts[1])
		}
		if str, ok := f.(string); ok {
			return str, nil
		}
		b, _ := json.Marshal(f)
		return string(b), nil
	}
	return "", fmt.Errorf("unknown reference kind %q", kind)
}
