package appsvc

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/slipway/slipway/catalog"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/unpack"
)

// MaxBlueprintArchive bounds the archive of a blueprint added from a
// directory: blueprints are templates and starter code.
const MaxBlueprintArchive = 32 << 20

// Builtin is the source of the blueprints that come with Slipway.
const Builtin = "built-in"

// BlueprintInfo describes a blueprint to users.
type BlueprintInfo struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  []ParameterInfo `json:"parameters"`
	// Pipeline is the pipeline template's path in the blueprint.
	Pipeline string `json:"pipeline"`
	// Content is the starter content's directory in the blueprint.
	Content string `json:"content"`
	// Files are the starter content's files.
	Files []string `json:"files,omitempty"`
	// Source is built-in, "directory", or repo NAME@COMMIT[:DIR].
	Source string `json:"source"`
	// Digest names the blueprint's archive in the artifact store.
	Digest    string    `json:"digest,omitempty"`
	CreatedBy string    `json:"created_by,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// ParameterInfo is a blueprint's parameter.
type ParameterInfo struct {
	Name                  string   `json:"name"`
	Description           string   `json:"description,omitempty"`
	Default               *string  `json:"default,omitempty"`
	AllowedValues         []string `json:"allowed_values,omitempty"`
	Pattern               string   `json:"pattern,omitempty"`
	ConstraintDescription string   `json:"constraint_description,omitempty"`
}

func info(b *catalog.Blueprint, source string) *BlueprintInfo {
	bi := &BlueprintInfo{Name: b.Name, Description: b.Description, Pipeline: b.Pipeline, Content: b.ContentDir,
		Source: source, Parameters: []ParameterInfo{}}
	for _, p := range b.Parameters {
		bi.Parameters = append(bi.Parameters, ParameterInfo{Name: p.Name, Description: p.Description, Default: p.Default,
			AllowedValues: p.AllowedValues, Pattern: p.Pattern, ConstraintDescription: p.ConstraintDescription})
	}
	return bi
}

func (s *Service) builtinNamed(name string) *catalog.Blueprint {
	for _, b := range s.builtin {
		if b.Name == name {
			return b
		}
	}
	return nil
}

// blueprint returns the blueprint called name: a built-in one, or one
// added to the project (with the digest of its archive).
func (s *Service) blueprint(ctx context.Context, projectID, name string) (*catalog.Blueprint, string, error) {
	if b := s.builtinNamed(name); b != nil {
		return b, "", nil
	}
	var digest string
	err := s.cfg.DB.QueryRowContext(ctx, `SELECT digest FROM blueprints WHERE project_id = ? AND name = ?`, projectID, name).Scan(&digest)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", fmt.Errorf("%w: no blueprint %q (slipway blueprint list shows them)", ErrInvalid, name)
	}
	if err != nil {
		return nil, "", fmt.Errorf("blueprint %s: %w", name, err)
	}
	b, err := s.loadArchive(ctx, digest)
	if err != nil {
		return nil, "", err
	}
	return b, digest, nil
}

// blueprintOf returns the blueprint an application was made from, as it
// was then.
func (s *Service) blueprintOf(ctx context.Context, a *App) (*catalog.Blueprint, string, error) {
	var digest string
	if err := s.cfg.DB.QueryRowContext(ctx, `SELECT blueprint_digest FROM apps WHERE id = ?`, a.ID).Scan(&digest); err != nil {
		return nil, "", fmt.Errorf("application %s: %w", a.Name, err)
	}
	if digest == "" {
		if b := s.builtinNamed(a.Blueprint); b != nil {
			return b, "", nil
		}
		return nil, "", fmt.Errorf("no built-in blueprint %q in this version of Slipway", a.Blueprint)
	}
	b, err := s.loadArchive(ctx, digest)
	return b, digest, err
}

// loadArchive returns the blueprint whose archive has digest, unpacked
// into the cache directory once.
func (s *Service) loadArchive(ctx context.Context, digest string) (*catalog.Blueprint, error) {
	if strings.ContainsAny(digest, `/\.`) || digest == "" {
		return nil, fmt.Errorf("blueprint archive %q: not a digest", digest)
	}
	dir := filepath.Join(s.cfg.BlueprintDir, strings.ReplaceAll(digest, ":", "-"))
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := s.unpackArchive(ctx, digest, dir); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	return catalog.Load(os.DirFS(dir), ".")
}

// unpackArchive unpacks the archive beside dir and renames it into place,
// so that dir is whole or absent.
func (s *Service) unpackArchive(ctx context.Context, digest, dir string) error {
	if err := os.MkdirAll(s.cfg.BlueprintDir, 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(s.cfg.BlueprintDir, ".unpack-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	rc, _, err := s.cfg.Artifacts.Open(ctx, digest)
	if err != nil {
		return fmt.Errorf("blueprint archive %s: %w", digest, err)
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		return fmt.Errorf("blueprint archive %s: %w", digest, err)
	}
	if err := unpack.Tar(ctx, zr, tmp); err != nil {
		return fmt.Errorf("blueprint archive %s: %w", digest, err)
	}
	// Reading to the end checks the digest.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return fmt.Errorf("blueprint archive %s: %w", digest, err)
	}
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, fs.ErrExist) {
		if _, serr := os.Stat(dir); serr != nil {
			return err
		}
	}
	return nil
}

// Blueprints lists the built-in blueprints, then the project's, by name.
func (s *Service) Blueprints(ctx context.Context, projectID string) ([]BlueprintInfo, error) {
	out := []BlueprintInfo{}
	for _, b := range s.builtin {
		out = append(out, *info(b, Builtin))
	}
	rows, err := s.cfg.DB.QueryContext(ctx, `SELECT name FROM blueprints WHERE project_id = ? ORDER BY name`, projectID)
	if err != nil {
		return nil, fmt.Errorf("list blueprints: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, n := range names {
		bi, err := s.Blueprint(ctx, projectID, n)
		if err != nil {
			return nil, err
		}
		bi.Files = nil
		out = append(out, *bi)
	}
	return out, nil
}

// Blueprint describes one blueprint, with the files of its starter
// content.
func (s *Service) Blueprint(ctx context.Context, projectID, name string) (*BlueprintInfo, error) {
	var bi *BlueprintInfo
	b := s.builtinNamed(name)
	if b != nil {
		bi = info(b, Builtin)
	} else {
		var source, digest, by string
		var updated int64
		err := s.cfg.DB.QueryRowContext(ctx, `SELECT source, digest, created_by, updated_at FROM blueprints WHERE project_id = ? AND name = ?`,
			projectID, name).Scan(&source, &digest, &by, &updated)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("blueprint %s: %w", name, store.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("blueprint %s: %w", name, err)
		}
		if b, err = s.loadArchive(ctx, digest); err != nil {
			return nil, err
		}
		bi = info(b, source)
		bi.Digest, bi.CreatedBy, bi.UpdatedAt = digest, by, store.Time(updated)
	}
	content, err := b.Content()
	if err != nil {
		return nil, err
	}
	err = fs.WalkDir(content, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			bi.Files = append(bi.Files, p)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("blueprint %s: %w", name, err)
	}
	return bi, nil
}

// AddBlueprint adds to the project the blueprint in an archive (zip, tar
// or tgz) of its directory: blueprint.yml at the top, or in the archive's
// one top directory. A blueprint of the same name is replaced; the
// applications made from it keep the version they were made from.
func (s *Service) AddBlueprint(ctx context.Context, projectID string, archive io.Reader, by string) (*BlueprintInfo, error) {
	work, err := s.workDir()
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	file := filepath.Join(work, "archive")
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	n, err := io.Copy(f, io.LimitReader(archive, MaxBlueprintArchive+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("blueprint archive: %w", err)
	}
	if n > MaxBlueprintArchive {
		return nil, fmt.Errorf("%w: a blueprint's archive may hold at most %d MiB", ErrInvalid, MaxBlueprintArchive>>20)
	}
	dir := filepath.Join(work, "dir")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	format, err := detect(file)
	if err != nil {
		return nil, err
	}
	// Messages name the archive as the user knows it, not by its path here.
	if err := unpack.File(ctx, file, format, dir); err != nil {
		return nil, fmt.Errorf("%w: the archive: %s", ErrInvalid, strings.TrimPrefix(strings.ReplaceAll(err.Error(), file, "archive"), "unpack: "))
	}
	root, err := blueprintRoot(dir)
	if err != nil {
		return nil, err
	}
	return s.add(ctx, projectID, root, ".", "directory", by)
}

// AddBlueprintFromRepo adds the blueprint in directory dir ("" for the top)
// of a repository hosted here, at ref.
func (s *Service) AddBlueprintFromRepo(ctx context.Context, projectID, repoName, ref, dir, by string) (*BlueprintInfo, error) {
	rp, err := s.cfg.Repos.Get(ctx, projectID, repoName)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", repoName, err)
	}
	if ref == "" {
		ref = "HEAD"
	}
	dir = path.Clean("/" + dir)[1:]
	if dir == "" {
		dir = "."
	}
	work, err := s.workDir()
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	commit, err := s.cfg.Repos.Export(ctx, rp, ref, work)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	source := fmt.Sprintf("repo %s@%s", repoName, commit[:12])
	if dir != "." {
		source += ":" + dir
	}
	return s.add(ctx, projectID, work, dir, source, by)
}

// blueprintRoot is dir, or the one directory in it, whichever holds
// blueprint.yml.
func blueprintRoot(dir string) (string, error) {
	if _, err := os.Stat(filepath.Join(dir, catalog.FileName)); err == nil {
		return dir, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	if len(entries) == 1 && entries[0].IsDir() {
		sub := filepath.Join(dir, entries[0].Name())
		if _, err := os.Stat(filepath.Join(sub, catalog.FileName)); err == nil {
			return sub, nil
		}
	}
	return "", fmt.Errorf("%w: the archive holds no %s at its top or in its one directory: a blueprint is a directory with a %s", ErrInvalid, catalog.FileName, catalog.FileName)
}

// add validates the blueprint in sub of root, stores it as a gzipped tar
// and records it.
func (s *Service) add(ctx context.Context, projectID, root, sub, source, by string) (*BlueprintInfo, error) {
	fsys := os.DirFS(root)
	b, err := catalog.Load(fsys, sub)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if s.builtinNamed(b.Name) != nil {
		return nil, fmt.Errorf("%w: %q is a built-in blueprint's name; give yours another in its %s", ErrInvalid, b.Name, catalog.FileName)
	}
	bfs, err := fs.Sub(fsys, sub)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		zw := gzip.NewWriter(pw)
		tw := tar.NewWriter(zw)
		err := tw.AddFS(bfs)
		if err == nil {
			err = tw.Close()
		}
		if err == nil {
			err = zw.Close()
		}
		pw.CloseWithError(err)
	}()
	stored, err := s.cfg.Artifacts.Put(ctx, pr)
	_ = pr.CloseWithError(err)
	if err != nil {
		return nil, fmt.Errorf("store blueprint %s: %w", b.Name, err)
	}
	now := store.Millis(time.Now())
	if _, err := s.cfg.DB.ExecContext(ctx, `INSERT INTO blueprints (id, project_id, name, description, source, digest, created_by, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (project_id, name) DO UPDATE SET description = excluded.description, source = excluded.source,
			digest = excluded.digest, created_by = excluded.created_by, updated_at = excluded.updated_at`,
		store.NewID(), projectID, b.Name, b.Description, source, stored.Digest, by, now, now); err != nil {
		return nil, fmt.Errorf("add blueprint %s: %w", b.Name, err)
	}
	s.cfg.Log.Info("blueprint added", "blueprint", b.Name, "source", source, "digest", stored.Digest, "by", by)
	return s.Blueprint(ctx, projectID, b.Name)
}

// workDir makes a directory for one request's files.
func (s *Service) workDir() (string, error) {
	if err := os.MkdirAll(s.cfg.WorkDir, 0o700); err != nil {
		return "", err
	}
	return os.MkdirTemp(s.cfg.WorkDir, "blueprint-")
}

// detect says whether the file at path is a zip, tar or tgz archive.
func detect(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	format, err := unpack.Detect(f)
	if err != nil {
		return "", fmt.Errorf("%w: the upload is not a zip, tar or tgz archive of a blueprint's directory", ErrInvalid)
	}
	return format, nil
}
