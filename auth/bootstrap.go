package auth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/slipway/slipway/store"
)

// AdminUser is the site administrator created on the first start.
const AdminUser = "admin"

// Bootstrap makes sure the default project and the admin user exist. On the
// first start it also creates an admin token and writes it to tokenFile with
// mode 0600; it returns the token then, and "" on later starts. A start that
// crashed after creating the user but before writing the file gets a new
// token, so the file is never missing while the user exists.
func (s *Service) Bootstrap(ctx context.Context, tokenFile string) (string, error) {
	if _, err := s.Project(ctx, DefaultProject); errors.Is(err, store.ErrNotFound) {
		if _, err := s.CreateProject(ctx, DefaultProject, "The project used when none is named"); err != nil && !errors.Is(err, store.ErrConflict) {
			return "", err
		}
	} else if err != nil {
		return "", err
	}
	u, err := s.UserByName(ctx, AdminUser)
	if errors.Is(err, store.ErrNotFound) {
		u, err = s.CreateUser(ctx, AdminUser, "", true)
		if errors.Is(err, store.ErrConflict) {
			u, err = s.UserByName(ctx, AdminUser)
		}
	}
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(tokenFile); err == nil {
		return "", nil
	}
	secret, _, err := s.CreateToken(ctx, u.ID, "admin-token")
	if err != nil {
		return "", err
	}
	// Write then rename, so a crash never leaves a half-written token file.
	tmp := tokenFile + ".tmp"
	if err := os.MkdirAll(filepath.Dir(tokenFile), 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(tmp, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write admin token: %w", err)
	}
	if err := os.Rename(tmp, tokenFile); err != nil {
		return "", fmt.Errorf("write admin token: %w", err)
	}
	return secret, nil
}
