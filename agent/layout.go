package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/slipway/slipway/appspec"
	"github.com/slipway/slipway/unpack"
)

// Layout is the agent's deployment root on a host.
//
// It is laid out as CodeDeploy's agent lays out its own, so that what users
// know of one (where the bundle, the unpacked revision and the scripts' log
// of a deployment are, which files say what was installed) holds for the
// other:
//
//	<Root>/<deployment-group-id>/<deployment-id>/bundle.tar
//	<Root>/<deployment-group-id>/<deployment-id>/deployment-archive/
//	<Root>/<deployment-group-id>/<deployment-id>/logs/scripts.log
//	<Root>/deployment-instructions/<deployment-group-id>_last_successful_install
//	<Root>/deployment-instructions/<deployment-group-id>_most_recent_install
//	<Root>/deployment-instructions/<deployment-group-id>-cleanup
//	<Root>/deployment-instructions/<deployment-group-id>-install.json
//
// The methods that return a path return "" when an ID is not valid (see
// CheckID), so that it never names somewhere else; the others return an
// error.
type Layout struct {
	// Root is the deployment root; the embedded agent uses
	// /opt/codedeploy-agent/deployment-root, as CodeDeploy's does.
	Root string
}

// defaultMaxRevisions is how many deployment directories Prune keeps of a
// group when not told, the agent's default max_revisions.
const defaultMaxRevisions = 5

// instructionsDir holds the bookkeeping files of every group.
const instructionsDir = "deployment-instructions"

// CheckID reports whether id can name a deployment group or a deployment
// in the layout: it must not be empty nor hold "/" or "..", which would
// make it a path to somewhere else.
func CheckID(id string) error {
	if id == "" || id == "." || strings.Contains(id, "..") || strings.ContainsAny(id, "/\x00") {
		return fmt.Errorf("invalid ID %q: an ID is not empty and holds no / and no ..", id)
	}
	return nil
}

// DeploymentDir is the directory of one deployment of a group.
func (l Layout) DeploymentDir(groupID, deploymentID string) string {
	if CheckID(groupID) != nil || CheckID(deploymentID) != nil {
		return ""
	}
	return filepath.Join(l.Root, groupID, deploymentID)
}

// Bundle is where a deployment's revision is downloaded to. It is always
// called bundle.tar, whatever the bundle's type.
func (l Layout) Bundle(groupID, deploymentID string) string {
	return l.inDeployment(groupID, deploymentID, "bundle.tar")
}

// Archive is the directory the bundle is unpacked into, the root of the
// revision that hooks run from.
func (l Layout) Archive(groupID, deploymentID string) string {
	return l.inDeployment(groupID, deploymentID, "deployment-archive")
}

// ScriptsLog is the log of a deployment's hook scripts.
func (l Layout) ScriptsLog(groupID, deploymentID string) string {
	return l.inDeployment(groupID, deploymentID, "logs", "scripts.log")
}

func (l Layout) inDeployment(groupID, deploymentID string, elem ...string) string {
	dir := l.DeploymentDir(groupID, deploymentID)
	if dir == "" {
		return ""
	}
	return filepath.Join(append([]string{dir}, elem...)...)
}

// instructions is the path of one of a group's bookkeeping files.
func (l Layout) instructions(groupID, suffix string) (string, error) {
	if err := CheckID(groupID); err != nil {
		return "", fmt.Errorf("deployment group: %w", err)
	}
	return filepath.Join(l.Root, instructionsDir, groupID+suffix), nil
}

// LastSuccessful returns the deployment directory of the group's last
// successful install (the revision ApplicationStop and the BlockTraffic
// hooks run from), or "" when the group has none yet.
func (l Layout) LastSuccessful(groupID string) (string, error) {
	return l.readPointer(groupID, "_last_successful_install")
}

// MostRecent returns the deployment directory of the group's most recent
// install, successful or not, or "" when the group has none yet.
func (l Layout) MostRecent(groupID string) (string, error) {
	return l.readPointer(groupID, "_most_recent_install")
}

// SetLastSuccessful records dir (a DeploymentDir) as the group's last
// successful install; the agent does so at the end of the Install event.
func (l Layout) SetLastSuccessful(groupID, dir string) error {
	return l.writePointer(groupID, "_last_successful_install", dir)
}

// SetMostRecent records dir (a DeploymentDir) as the group's most recent
// install; the agent does so after DownloadBundle.
func (l Layout) SetMostRecent(groupID, dir string) error {
	return l.writePointer(groupID, "_most_recent_install", dir)
}

func (l Layout) readPointer(groupID, suffix string) (string, error) {
	p, err := l.instructions(groupID, suffix)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func (l Layout) writePointer(groupID, suffix, dir string) error {
	p, err := l.instructions(groupID, suffix)
	if err != nil {
		return err
	}
	if dir == "" || strings.ContainsAny(dir, "\n\x00") {
		return fmt.Errorf("write %s: %q is not a deployment directory", p, dir)
	}
	return writeAtomic(p, []byte(dir))
}

// writeAtomic replaces the file at p with data: written beside it, then
// renamed over it, so a reader (or a crash) sees the old file or the new
// one, never half of one.
func writeAtomic(p string, data []byte) error {
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(p)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// Prune deletes the group's oldest deployment directories (by modification
// time) so that max are left (5 when max <= 0), as the
// agent's max_revisions does. The last successful install and the most
// recent one are never deleted: they still count towards max, and older
// directories go in their place.
func (l Layout) Prune(groupID string, max int) error {
	if err := CheckID(groupID); err != nil {
		return fmt.Errorf("prune: deployment group: %w", err)
	}
	if max <= 0 {
		max = defaultMaxRevisions
	}
	keep := map[string]bool{}
	for _, read := range []func(string) (string, error){l.LastSuccessful, l.MostRecent} {
		dir, err := read(groupID)
		if err != nil {
			return fmt.Errorf("prune: %w", err)
		}
		if dir != "" {
			keep[filepath.Clean(dir)] = true
		}
	}
	groupDir := filepath.Join(l.Root, groupID)
	entries, err := os.ReadDir(groupDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	type deployment struct {
		dir   string
		mtime time.Time
	}
	var all []deployment
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return fmt.Errorf("prune: %w", err)
		}
		all = append(all, deployment{filepath.Join(groupDir, e.Name()), fi.ModTime()})
	}
	slices.SortFunc(all, func(a, b deployment) int { return a.mtime.Compare(b.mtime) }) // oldest first
	excess := len(all) - max
	for _, d := range all {
		if excess <= 0 {
			break
		}
		if keep[d.dir] {
			continue
		}
		if err := os.RemoveAll(d.dir); err != nil {
			return fmt.Errorf("prune: %w", err)
		}
		excess--
	}
	return nil
}

// UnpackBundle extracts the deployment's Bundle (zip, tar or tgz, told
// apart by its first bytes) into a fresh Archive and returns the Archive.
// When the bundle holds a single top-level directory with an appspec in
// it, that directory's contents become the archive's root, as with the
// agent: zipping a project's folder rather than its contents is a common
// way to make a bundle.
func (l Layout) UnpackBundle(ctx context.Context, groupID, deploymentID string) (string, error) {
	if err := CheckID(groupID); err != nil {
		return "", fmt.Errorf("unpack bundle: deployment group: %w", err)
	}
	if err := CheckID(deploymentID); err != nil {
		return "", fmt.Errorf("unpack bundle: deployment: %w", err)
	}
	archive, bundle := l.Archive(groupID, deploymentID), l.Bundle(groupID, deploymentID)
	temp := archive + "-temp"
	for _, dir := range []string{archive, temp} {
		if err := os.RemoveAll(dir); err != nil {
			return "", fmt.Errorf("unpack bundle: %w", err)
		}
	}
	if err := os.MkdirAll(archive, 0o755); err != nil {
		return "", fmt.Errorf("unpack bundle: %w", err)
	}
	if err := unpack.File(ctx, bundle, "", archive); err != nil {
		return "", fmt.Errorf("unpack bundle: %w", err)
	}
	entries, err := os.ReadDir(archive)
	if err != nil {
		return "", fmt.Errorf("unpack bundle: %w", err)
	}
	if len(entries) != 1 || !entries[0].IsDir() || !hasAppSpec(filepath.Join(archive, entries[0].Name())) {
		return archive, nil
	}
	// Move the archive aside and its one directory into its place.
	if err := os.Rename(archive, temp); err != nil {
		return "", fmt.Errorf("unpack bundle: %w", err)
	}
	if err := os.Rename(filepath.Join(temp, entries[0].Name()), archive); err != nil {
		return "", fmt.Errorf("unpack bundle: %w", err)
	}
	if err := os.Remove(temp); err != nil {
		return "", fmt.Errorf("unpack bundle: %w", err)
	}
	return archive, nil
}

func hasAppSpec(dir string) bool {
	for _, name := range appspec.FileNames() {
		if fi, err := os.Lstat(filepath.Join(dir, name)); err == nil && fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}
