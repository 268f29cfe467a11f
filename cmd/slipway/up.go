package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/slipway/slipway/appsvc"
	"github.com/slipway/slipway/auth"
	"github.com/slipway/slipway/client"
	"github.com/slipway/slipway/stacksvc"
	"github.com/slipway/slipway/store"
)

// The sample application `slipway up` makes on its first start.
const (
	sampleApp       = "hello"
	sampleBlueprint = "go-service"
	// sampleMarker, in the data directory, says the sample was made once:
	// a sample deleted since is not made again.
	sampleMarker = "sample-created"
)

// ensureSample makes the sample application on the first start, and says
// whether it exists now.
func ensureSample(ctx context.Context, apps *appsvc.Service, authSvc *auth.Service, dataDir string, log *slog.Logger) (bool, error) {
	pr, err := authSvc.Project(ctx, auth.DefaultProject)
	if err != nil {
		return false, err
	}
	if _, err := apps.Find(ctx, pr.ID, sampleApp); err == nil {
		return true, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	marker := filepath.Join(dataDir, sampleMarker)
	if _, err := os.Stat(marker); err == nil {
		return false, nil
	}
	admin, err := authSvc.UserByName(ctx, auth.AdminUser)
	if err != nil {
		return false, err
	}
	params := map[string]string{}
	// The machine's own Go build cache makes the sample's first build
	// warm: it holds what building Slipway compiled (net/http and the rest).
	if c := goBuildCache(ctx); c != "" {
		params["GoCache"] = c
	}
	_, err = apps.Create(ctx, stacksvc.Project{ID: pr.ID, Name: pr.Name}, appsvc.CreateInput{Name: sampleApp, Blueprint: sampleBlueprint,
		Parameters: params, Creator: admin.Name, CreatorID: admin.ID})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return false, fmt.Errorf("make the sample application %s: %w", sampleApp, err)
	}
	if err := os.WriteFile(marker, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600); err != nil {
		return false, err
	}
	log.Info("making the sample application", "app", sampleApp, "blueprint", sampleBlueprint)
	return true, nil
}

// sampleInterval is how often slipway up looks at its sample: a stage that
// turns green shows within it.
const sampleInterval = 200 * time.Millisecond

// goBuildCache is the Go build cache of whoever runs Slipway, or "".
func goBuildCache(ctx context.Context) string {
	if c := os.Getenv("GOCACHE"); c != "" && c != "off" {
		return c
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "env", "GOCACHE").Output()
	if err != nil {
		return ""
	}
	c := strings.TrimSpace(string(out))
	if c == "off" {
		return ""
	}
	return c
}

// watchSample makes the sample on the first start, then prints its
// progress for as long as the server runs: each execution's stages, each
// environment as it goes live, each approval that waits. Nothing here
// stops the server: a failure is logged.
func watchSample(ctx context.Context, apps *appsvc.Service, authSvc *auth.Service, dataDir, url, tokenFile string, log *slog.Logger) error {
	exists, err := ensureSample(ctx, apps, authSvc, dataDir, log)
	if err != nil {
		log.Error("the sample application", "err", err)
		return nil
	}
	if !exists {
		fmt.Printf("\nThe sample application %s was deleted; make your own with slipway app create NAME --blueprint %s\n", sampleApp, sampleBlueprint)
		return nil
	}
	fmt.Printf("\nThe sample application %s (blueprint %s):\n", sampleApp, sampleBlueprint)
	fmt.Printf("  git clone %s/git/%s.git   (user name: anything; password: the token in %s)\n", url, sampleApp, tokenFile)
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		fmt.Printf("  (not followed here: %v)\n", err)
		return nil
	}
	// Through the API, as slipway app create follows an application.
	f := &appFollower{r: client.New(url, strings.TrimSpace(string(token))), project: auth.DefaultProject, name: sampleApp,
		out: os.Stdout, interval: sampleInterval, watch: true, color: isTerminal(os.Stdout)}
	if err := f.follow(ctx); err != nil && ctx.Err() == nil {
		log.Error("following the sample application", "err", err)
	}
	return nil
}
