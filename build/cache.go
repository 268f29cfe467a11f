package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/slipway/slipway/buildspec"
	"github.com/slipway/slipway/unpack"
)

// DirCache keeps one build project's cache (the buildspec's cache.paths)
// between its builds, as CodeBuild's LOCAL_CUSTOM_CACHE does: saved when a
// build ends, restored before the next one runs a command. It is a
// directory of zip archives, one per root a path can live in; give every
// project its own Dir, so no build ever sees another project's cache.
//
// A path is a glob like those of artifacts.files: relative paths are below
// the source directory; paths starting with ~/, $HOME/ or /root/ (where
// CodeBuild's images keep HOME) are below the build's home directory, so
// "/root/.cache/go-build/**/*" and "~/go/pkg/mod/**/*" keep Go's caches
// warm. Other absolute paths are outside anything a build owns here and
// are skipped.
type DirCache struct {
	Dir string
}

// cacheRoots are the places cached paths live, by archive name.
type cacheRoots struct{ src, home string }

func (r cacheRoots) dir(name string) string {
	if name == "home" {
		return r.home
	}
	return r.src
}

// splitCachePaths sorts cache paths by root and returns the ones skipped.
func splitCachePaths(paths []string) (byRoot map[string][]string, skipped []string) {
	byRoot = map[string][]string{}
	for _, p := range paths {
		rest, home := "", false
		for _, prefix := range []string{"~/", "$HOME/", "${HOME}/", "/root/"} {
			if r, ok := strings.CutPrefix(p, prefix); ok {
				rest, home = r, true
				break
			}
		}
		switch {
		case home:
			byRoot["home"] = append(byRoot["home"], rest)
		case strings.HasPrefix(p, "/"):
			skipped = append(skipped, p)
		default:
			byRoot["src"] = append(byRoot["src"], p)
		}
	}
	return byRoot, skipped
}

// Restore unpacks the saved cache into the source and home directories and
// returns how many archives it restored (0 on a project's first build).
func (c *DirCache) Restore(ctx context.Context, roots cacheRoots) (int, error) {
	n := 0
	for _, name := range []string{"src", "home"} {
		f, err := os.Open(filepath.Join(c.Dir, name+".zip"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("restore cache: %w", err)
		}
		fi, err := f.Stat()
		if err == nil {
			err = unpack.Zip(ctx, f, fi.Size(), roots.dir(name))
		}
		f.Close()
		if err != nil {
			return n, fmt.Errorf("restore cache: %w", err)
		}
		n++
	}
	return n, nil
}

// Save packs what paths select into the cache, replacing what was there
// (write, then rename: a crash never leaves half an archive), and returns
// the paths it skipped and the number of files saved.
func (c *DirCache) Save(ctx context.Context, roots cacheRoots, paths []string) (skipped []string, files int, err error) {
	byRoot, skipped := splitCachePaths(paths)
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return skipped, 0, fmt.Errorf("save cache: %w", err)
	}
	for _, name := range []string{"src", "home"} {
		final := filepath.Join(c.Dir, name+".zip")
		pats := byRoot[name]
		if len(pats) == 0 {
			if err := os.Remove(final); err != nil && !errors.Is(err, os.ErrNotExist) {
				return skipped, files, fmt.Errorf("save cache: %w", err)
			}
			continue
		}
		n, err := c.saveOne(ctx, final, roots.dir(name), pats)
		if err != nil {
			return skipped, files, err
		}
		files += n
	}
	return skipped, files, nil
}

func (c *DirCache) saveOne(ctx context.Context, final, dir string, pats []string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(c.Dir, ".cache-*.zip")
	if err != nil {
		return 0, fmt.Errorf("save cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	packed, err := Pack(tmp, dir, &buildspec.Artifacts{Files: pats, EnableSymlinks: true})
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, ErrNoMatchingArtifactPaths) {
		// Nothing to keep: the next build starts cold rather than stale.
		if err := os.Remove(final); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("save cache: %w", err)
		}
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("save cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return 0, fmt.Errorf("save cache: %w", err)
	}
	return len(packed), nil
}
