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
	secret, tok, err := s.CreateToken(ctx, u.ID, "admin-token")
	if err != nil {
		return "", err
	}
	// Write a file of our own, then link it into place: a crash never
	// leaves a half-written token file, and of several servers starting on
	// one data directory at once the first to link wins, the others
	// withdrawing their tokens.
	if err := os.MkdirAll(filepath.Dir(tokenFile), 0o700); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(tokenFile), filepath.Base(tokenFile)+".*.tmp")
	if err != nil {
		return "", fmt.Errorf("write admin token: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(secret + "\n"); err != nil {
		tmp.Close()
		return "", fmt.Errorf("write admin token: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("write admin token: %w", err)
	}
	if err := os.Link(tmp.Name(), tokenFile); errors.Is(err, os.ErrExist) {
		if err := s.RevokeToken(ctx, u.ID, tok.ID); err != nil {
			return "", fmt.Errorf("withdraw a second admin token: %w", err)
		}
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("write admin token: %w", err)
	}
	return secret, nil
}
