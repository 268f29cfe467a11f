package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/slipway/slipway/store"
)

// DefaultProject is the project used when none is named.
const DefaultProject = "default"

// TokenPrefix starts every API token, so a leaked one is easy to recognise.
const TokenPrefix = "slw_"

// Service owns the projects, users, teams, tokens, grants and audit_log tables.
type Service struct {
	db  *store.DB
	now func() time.Time
}

// NewService returns the auth service.
func NewService(db *store.DB) *Service {
	return &Service{db: db, now: time.Now}
}

// User is an account.
type User struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	SiteAdmin bool      `json:"site_admin"`
	CreatedAt time.Time `json:"created_at"`
}

// Project is a namespace resources belong to.
type Project struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
}

// Team is a named group of users that grants can name.
type Team struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Members   []string  `json:"members"`
	CreatedAt time.Time `json:"created_at"`
}

// Token describes an API token; the secret itself is never stored.
type Token struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	User       string    `json:"user"`
	Name       string    `json:"name"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
}

// Grant gives a role on a resource to a user or a team.
type Grant struct {
	ID           string    `json:"id"`
	SubjectKind  string    `json:"subject_kind"`
	SubjectID    string    `json:"subject_id"`
	ResourceKind string    `json:"resource_kind"`
	ResourceID   string    `json:"resource_id"`
	Role         Role      `json:"role"`
	CreatedAt    time.Time `json:"created_at"`
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// ValidateName checks a user, team or project name.
func ValidateName(kind, name string) error {
	if !namePattern.MatchString(name) || strings.Contains(name, "..") {
		return fmt.Errorf("invalid %s name %q: use 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit", kind, name)
	}
	return nil
}

// CreateUser adds a user; an empty password means the user signs in with tokens only.
func (s *Service) CreateUser(ctx context.Context, name, password string, siteAdmin bool) (*User, error) {
	if err := ValidateName("user", name); err != nil {
		return nil, err
	}
	u := &User{ID: store.NewID(), Name: name, SiteAdmin: siteAdmin, CreatedAt: s.now().UTC()}
	hash := ""
	if password != "" {
		hash = HashPassword(password)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO users (id, name, password_hash, site_admin, created_at) VALUES (?, ?, ?, ?, ?)`,
		u.ID, u.Name, hash, boolInt(siteAdmin), store.Millis(u.CreatedAt))
	if err != nil {
		return nil, fmt.Errorf("create user %s: %w", name, err)
	}
	return u, nil
}

// UserByName finds a user.
func (s *Service) UserByName(ctx context.Context, name string) (*User, error) {
	var u User
	var admin int
	var created int64
	err := store.Scan(s.db.QueryRowContext(ctx, `SELECT id, name, site_admin, created_at FROM users WHERE name = ?`, name),
		&u.ID, &u.Name, &admin, &created)
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", name, err)
	}
	u.SiteAdmin, u.CreatedAt = admin != 0, store.Time(created)
	return &u, nil
}

// ListUsers returns every user by name.
func (s *Service) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, site_admin, created_at FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var u User
		var admin int
		var created int64
		if err := rows.Scan(&u.ID, &u.Name, &admin, &created); err != nil {
			return nil, err
		}
		u.SiteAdmin, u.CreatedAt = admin != 0, store.Time(created)
		out = append(out, u)
	}
	return out, rows.Err()
}

// CheckUserPassword returns the user when the password matches.
func (s *Service) CheckUserPassword(ctx context.Context, name, password string) (*User, error) {
	var hash string
	if err := store.Scan(s.db.QueryRowContext(ctx, `SELECT password_hash FROM users WHERE name = ?`, name), &hash); err != nil {
		// Hash anyway so a missing user costs the same time as a wrong password.
		CheckPassword(HashPassword("x"), password)
		return nil, ErrUnauthenticated
	}
	if hash == "" || !CheckPassword(hash, password) {
		return nil, ErrUnauthenticated
	}
	return s.UserByName(ctx, name)
}

// CreateToken makes a new API token for a user and returns its secret, which
// is shown once: only its SHA-256 is stored.
func (s *Service) CreateToken(ctx context.Context, userID, name string) (string, *Token, error) {
	secret := TokenPrefix + rand.Text()
	t := &Token{ID: store.NewID(), UserID: userID, Name: name, CreatedAt: s.now().UTC()}
	_, err := s.db.ExecContext(ctx, `INSERT INTO tokens (id, user_id, name, hash, created_at) VALUES (?, ?, ?, ?, ?)`,
		t.ID, userID, name, hashToken(secret), store.Millis(t.CreatedAt))
	if err != nil {
		return "", nil, fmt.Errorf("create token: %w", err)
	}
	return secret, t, nil
}

// ListTokens returns a user's tokens (never their secrets).
func (s *Service) ListTokens(ctx context.Context, userID string) ([]Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT t.id, t.user_id, u.name, t.name, t.created_at, t.last_used_at
		FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.user_id = ? ORDER BY t.created_at`, userID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		var t Token
		var created, used int64
		if err := rows.Scan(&t.ID, &t.UserID, &t.User, &t.Name, &created, &used); err != nil {
			return nil, err
		}
		t.CreatedAt = store.Time(created)
		if used > 0 {
			t.LastUsedAt = store.Time(used)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken deletes one of a user's tokens.
func (s *Service) RevokeToken(ctx context.Context, userID, tokenID string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM tokens WHERE id = ? AND user_id = ?`, tokenID, userID)
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("token %s: %w", tokenID, store.ErrNotFound)
	}
	return nil
}

// Authenticate resolves an API token to its user and teams.
func (s *Service) Authenticate(ctx context.Context, secret string) (*Principal, error) {
	if !strings.HasPrefix(secret, TokenPrefix) {
		return nil, ErrUnauthenticated
	}
	p := &Principal{}
	var admin int
	var used int64
	err := store.Scan(s.db.QueryRowContext(ctx, `SELECT u.id, u.name, u.site_admin, t.id, t.last_used_at
		FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?`, hashToken(secret)),
		&p.UserID, &p.Name, &admin, &p.TokenID, &used)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	p.SiteAdmin = admin != 0
	// Record use at most once a minute: a write per request would make SQLite
	// the bottleneck of every git fetch.
	if now := s.now(); now.Sub(store.Time(used)) > time.Minute {
		_, _ = s.db.ExecContext(ctx, `UPDATE tokens SET last_used_at = ? WHERE id = ?`, store.Millis(now), p.TokenID)
	}
	if p.teamIDs, err = s.teamsOf(ctx, p.UserID); err != nil {
		return nil, err
	}
	return p, nil
}

func (s *Service) teamsOf(ctx context.Context, userID string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT team_id FROM team_members WHERE user_id = ?`, userID)
	if err != nil {
		return nil, fmt.Errorf("teams of %s: %w", userID, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func hashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// MinPasswordLength is the shortest password a user may set.
const MinPasswordLength = 8

// ErrWeakPassword refuses a password shorter than MinPasswordLength.
var ErrWeakPassword = fmt.Errorf("a password has at least %d characters", MinPasswordLength)

// SetPassword replaces a user's password.
func (s *Service) SetPassword(ctx context.Context, userID, password string) error {
	if len(password) < MinPasswordLength {
		return ErrWeakPassword
	}
	res, err := s.db.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, HashPassword(password), userID)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("set password: user %s: %w", userID, store.ErrNotFound)
	}
	return nil
}
