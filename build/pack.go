package build

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/slipway/slipway/buildspec"
)

// ErrNoMatchingArtifactPaths is wrapped by Pack's error when the artifact
// selects no file; its text is CodeBuild's, which users search for.
var ErrNoMatchingArtifactPaths = errors.New("no matching artifact paths found")

// Pack writes the files that spec selects from srcDir as a zip archive to w
// and returns the archive's paths in order.
//
// The selection follows CodeBuild's artifacts block: files are globs
// relative to srcDir, or to each directory that base-directory (itself a
// glob) matches, whose contents, not itself, go in the archive; "*" matches
// within one path element, "**" any number of them; patterns select files,
// so a pattern naming a directory ("dist") selects nothing: "dist/**/*"
// selects what is in it. exclude-paths are globs relative to the base
// directory; one that matches a directory drops everything in it.
// discard-paths stores every file at the archive root. Name, S3Prefix and
// Secondary are the caller's business (each secondary artifact is its own
// Pack).
//
// Nothing outside srcDir is read: a pattern or base-directory leaving it, or
// a symlink pointing out of it, is an error naming the path. Symlinks are
// followed when they stay inside; with enable-symlinks they are stored as
// links instead (and then must point inside the archive). Entries are
// sorted, keep their permission bits and modification times, and are
// deflated unless that would not shrink them (then stored, as zip does).
// Files are streamed: memory does not grow with file or archive size.
func Pack(w io.Writer, srcDir string, spec *buildspec.Artifacts) ([]string, error) {
	if spec == nil {
		return nil, errors.New("pack artifacts: no artifacts block")
	}
	if len(spec.Files) == 0 {
		return nil, errors.New("pack artifacts: artifacts.files is required")
	}
	files, err := packCompileAll("files", spec.Files)
	if err != nil {
		return nil, err
	}
	excludes, err := packCompileAll("exclude-paths", spec.ExcludePaths)
	if err != nil {
		return nil, err
	}
	var basePat []string
	if spec.BaseDirectory != "" {
		if basePat, err = packCompile("base-directory", spec.BaseDirectory); err != nil {
			return nil, err
		}
	}

	p, err := packOpen(srcDir)
	if err != nil {
		return nil, err
	}
	defer p.root.Close()

	bases := []packDir{{phys: "."}}
	if len(basePat) > 0 {
		finder := &packBaseFinder{pat: basePat}
		if err := p.walk(packDir{phys: "."}, false, finder); err != nil {
			return nil, err
		}
		if len(finder.found) == 0 {
			return nil, fmt.Errorf("pack artifacts: %w: base-directory %q matches no directory", ErrNoMatchingArtifactPaths, spec.BaseDirectory)
		}
		bases = finder.found
	}

	entries := map[string]*packEntry{}
	var dirHints []string
	for _, base := range bases {
		c := &packCollector{
			p: p, base: base, files: files, excludes: excludes,
			discard: spec.DiscardPaths, entries: entries,
		}
		// The base directory becomes the archive root: paths below it are
		// relative to it.
		if err := p.walk(packDir{phys: base.phys}, spec.EnableSymlinks, c); err != nil {
			return nil, err
		}
		dirHints = append(dirHints, c.dirHints...)
	}
	if len(entries) == 0 {
		return nil, packNoMatch(spec, dirHints)
	}

	names := make([]string, 0, len(entries))
	for name := range entries {
		names = append(names, name)
	}
	slices.Sort(names)

	zw := zip.NewWriter(w)
	wr := newPackWriter(zw)
	for _, name := range names {
		if err := wr.add(p, entries[name]); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("pack artifacts: %w", err)
	}
	return names, nil
}

func packNoMatch(spec *buildspec.Artifacts, dirHints []string) error {
	msg := fmt.Sprintf("files %q", spec.Files)
	if spec.BaseDirectory != "" {
		msg += fmt.Sprintf(" in base-directory %q", spec.BaseDirectory)
	}
	msg += " select no file"
	if len(spec.ExcludePaths) > 0 {
		msg += " not excluded"
	}
	slices.Sort(dirHints)
	for _, h := range slices.Compact(dirHints) {
		msg += fmt.Sprintf("; %q matches a directory, and patterns select files: %q selects the files in it", h, h+"/**/*")
	}
	return fmt.Errorf("pack artifacts: %w: %s", ErrNoMatchingArtifactPaths, msg)
}

// packCompileAll compiles the patterns of one buildspec field.
func packCompileAll(field string, pats []string) ([][]string, error) {
	var out [][]string
	for _, pat := range pats {
		segs, err := packCompile(field, pat)
		if err != nil {
			return nil, err
		}
		out = append(out, segs)
	}
	return out, nil
}

// packCompile checks a glob and splits it into path elements; "." (the
// directory itself) gives none. A pattern that could name something outside
// the directory it is relative to is refused before anything is read.
func packCompile(field, pat string) ([]string, error) {
	if pat == "" {
		return nil, fmt.Errorf("pack artifacts: %s: empty path", field)
	}
	if path.IsAbs(pat) || filepath.IsAbs(pat) {
		return nil, fmt.Errorf("pack artifacts: %s %q is an absolute path; paths are relative to the source directory", field, pat)
	}
	clean := path.Clean(pat)
	if !filepath.IsLocal(clean) {
		return nil, fmt.Errorf("pack artifacts: %s %q leaves the source directory", field, pat)
	}
	if clean == "." {
		return nil, nil
	}
	segs := strings.Split(clean, "/")
	for _, s := range segs {
		if _, err := path.Match(s, ""); err != nil {
			return nil, fmt.Errorf("pack artifacts: %s %q: %w", field, pat, err)
		}
	}
	return segs, nil
}

// packMatch reports whether the path elements p match the pattern elements
// pat: "**" matches any number of elements (none too), anything else one
// element by path.Match.
func packMatch(pat, p []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(p); i++ {
				if packMatch(pat[1:], p[i:]) {
					return true
				}
			}
			return false
		}
		if len(p) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], p[0]); !ok {
			return false
		}
		pat, p = pat[1:], p[1:]
	}
	return len(p) == 0
}

// packMatchBelow reports whether a path strictly below the directory dir
// could match pat, so the walk skips directories that cannot hold a match.
func packMatchBelow(pat, dir []string) bool {
	for len(pat) > 0 {
		if len(dir) == 0 || pat[0] == "**" {
			return true
		}
		if ok, _ := path.Match(pat[0], dir[0]); !ok {
			return false
		}
		pat, dir = pat[1:], dir[1:]
	}
	return false
}

// packer reads the source tree, only through root.
type packer struct {
	root *os.Root
	// realSrc and absSrc are the source directory's real and given absolute
	// paths, to recognise absolute symlink targets inside it.
	realSrc, absSrc string
}

func packOpen(srcDir string) (*packer, error) {
	absSrc, err := filepath.Abs(srcDir)
	if err != nil {
		return nil, fmt.Errorf("pack artifacts: %w", err)
	}
	realSrc, err := filepath.EvalSymlinks(absSrc)
	if err != nil {
		return nil, fmt.Errorf("pack artifacts: source directory: %w", err)
	}
	root, err := os.OpenRoot(realSrc)
	if err != nil {
		return nil, fmt.Errorf("pack artifacts: source directory: %w", err)
	}
	return &packer{root: root, realSrc: realSrc, absSrc: absSrc}, nil
}

// packDir is a directory reached by a walk.
type packDir struct {
	logical []string // path elements from the walk's start, as the archive sees them
	phys    string   // symlink-free path from the source directory ("." for itself)
}

// packVisitor decides what a walk descends into and takes what it finds.
type packVisitor interface {
	wantDir(logical []string) bool  // worth descending into (or a hit)
	wantLeaf(logical []string) bool // a non-directory here would be taken
	dir(d packDir) (descend bool)
	leaf(logical []string, phys string, link bool) error
}

// walk hands v the entries under start it wants, depth first in name order.
// Symlinks are resolved (and refused if they leave the source directory)
// only when v could want what they lead to; with keepLinks they are leaves.
func (p *packer) walk(start packDir, keepLinks bool, v packVisitor) error {
	return p.walkDir(start, []string{start.phys}, keepLinks, v)
}

func (p *packer) walkDir(d packDir, chain []string, keepLinks bool, v packVisitor) error {
	f, err := p.root.Open(d.phys)
	if err != nil {
		return fmt.Errorf("pack artifacts: %w", err)
	}
	ents, err := f.ReadDir(-1)
	_ = f.Close()
	if err != nil {
		return fmt.Errorf("pack artifacts: %w", err)
	}
	// File.ReadDir gives directory order; sorting makes the walk, and so
	// which of two colliding files an error names first, deterministic.
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	for _, e := range ents {
		logical := append(d.logical[:len(d.logical):len(d.logical)], e.Name())
		phys := path.Join(d.phys, e.Name())
		typ := e.Type()
		if typ&fs.ModeSymlink != 0 {
			if keepLinks {
				if v.wantLeaf(logical) {
					if err := v.leaf(logical, phys, true); err != nil {
						return err
					}
				}
				continue
			}
			if !v.wantLeaf(logical) && !v.wantDir(logical) {
				continue
			}
			resolved, err := p.resolve(phys)
			if err != nil {
				return fmt.Errorf("pack artifacts: %s: %w", phys, err)
			}
			fi, err := p.root.Lstat(resolved)
			if err != nil {
				return fmt.Errorf("pack artifacts: %s: %w", phys, err)
			}
			phys, typ = resolved, fi.Mode().Type()
		}
		switch {
		case typ.IsDir():
			if !v.wantDir(logical) {
				continue
			}
			// A directory already being walked is reached again only through
			// a symlink loop, which would never end.
			if slices.Contains(chain, phys) {
				return fmt.Errorf("pack artifacts: %s: symlink loop (back to %s); exclude it or set enable-symlinks", path.Join(d.phys, e.Name()), phys)
			}
			sub := packDir{logical: logical, phys: phys}
			if v.dir(sub) {
				if err := p.walkDir(sub, append(chain, phys), keepLinks, v); err != nil {
					return err
				}
			}
		case typ.IsRegular():
			if v.wantLeaf(logical) {
				if err := v.leaf(logical, phys, false); err != nil {
					return err
				}
			}
		default:
			// Devices, FIFOs and sockets are not build output (and opening a
			// FIFO would block).
		}
	}
	return nil
}

// packMaxLinks bounds symlink hops, as the kernel does (ELOOP).
const packMaxLinks = 40

// resolve follows the symlinks in rel, a path from the source directory,
// and returns the symlink-free path it leads to. It reads only link
// targets inside the source directory: a target that leaves it is refused
// by looking at its text, never by following it.
func (p *packer) resolve(rel string) (string, error) {
	todo := strings.Split(rel, "/")
	done := "."
	link, target := "", "" // the last symlink followed, for messages
	for hops := 0; len(todo) > 0; {
		elem := todo[0]
		todo = todo[1:]
		switch elem {
		case "", ".":
			continue
		case "..":
			if done == "." {
				return "", fmt.Errorf("symlink %s -> %s points outside the source directory", link, target)
			}
			done = path.Dir(done)
			continue
		}
		next := path.Join(done, elem)
		fi, err := p.root.Lstat(next)
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = next
			continue
		}
		if hops++; hops > packMaxLinks {
			return "", errors.New("too many levels of symlinks")
		}
		link = next
		if target, err = p.root.Readlink(next); err != nil {
			return "", err
		}
		rest := target
		if filepath.IsAbs(target) {
			inside, ok := p.inside(target)
			if !ok {
				return "", fmt.Errorf("symlink %s -> %s points outside the source directory", link, target)
			}
			rest, done = inside, "."
		}
		todo = append(strings.Split(filepath.ToSlash(rest), "/"), todo...)
	}
	return done, nil
}

// inside returns an absolute path as a path from the source directory, if
// it names something in it (judged by its text alone).
func (p *packer) inside(abs string) (string, bool) {
	abs = filepath.Clean(abs)
	for _, src := range []string{p.realSrc, p.absSrc} {
		if rel, err := filepath.Rel(src, abs); err == nil && (rel == "." || filepath.IsLocal(rel)) {
			return filepath.ToSlash(rel), true
		}
	}
	return "", false
}

// packBaseFinder finds the directories base-directory matches.
type packBaseFinder struct {
	pat   []string
	found []packDir
}

func (b *packBaseFinder) wantDir(l []string) bool {
	return packMatch(b.pat, l) || packMatchBelow(b.pat, l)
}
func (b *packBaseFinder) wantLeaf([]string) bool { return false }
func (b *packBaseFinder) dir(d packDir) bool {
	if packMatch(b.pat, d.logical) {
		b.found = append(b.found, d)
	}
	return packMatchBelow(b.pat, d.logical)
}
func (b *packBaseFinder) leaf([]string, string, bool) error { return nil }

// packEntry is one archive entry.
type packEntry struct {
	name   string // path in the archive
	source string // path from the source directory, for messages
	phys   string // what to read: the file, or the symlink itself
	link   bool
	target string // a symlink's target, checked
}

// packCollector takes the files of one base directory.
type packCollector struct {
	p               *packer
	base            packDir
	files, excludes [][]string
	discard         bool
	entries         map[string]*packEntry
	dirHints        []string // patterns that name a directory
}

func (c *packCollector) excluded(l []string) bool {
	for _, ex := range c.excludes {
		if packMatch(ex, l) {
			return true
		}
	}
	return false
}

func (c *packCollector) wantDir(l []string) bool {
	if c.excluded(l) {
		return false
	}
	want := false
	for _, pat := range c.files {
		if packMatch(pat, l) && pat[len(pat)-1] != "**" {
			c.dirHints = append(c.dirHints, strings.Join(pat, "/"))
		}
		want = want || packMatchBelow(pat, l)
	}
	return want
}

func (c *packCollector) wantLeaf(l []string) bool {
	if c.excluded(l) {
		return false
	}
	for _, pat := range c.files {
		if packMatch(pat, l) {
			return true
		}
	}
	return false
}

func (c *packCollector) dir(packDir) bool { return true }

func (c *packCollector) leaf(l []string, phys string, link bool) error {
	e := &packEntry{
		name:   strings.Join(l, "/"),
		source: path.Join(append(slices.Clone(c.base.logical), l...)...),
		phys:   phys,
		link:   link,
	}
	if c.discard {
		e.name = l[len(l)-1]
	}
	if link {
		target, err := c.p.linkTarget(e)
		if err != nil {
			return err
		}
		e.target = target
	}
	if prev, ok := c.entries[e.name]; ok {
		if prev.phys == e.phys && prev.link == e.link {
			return nil // the same file selected twice
		}
		return fmt.Errorf("pack artifacts: %s and %s would both be stored as %s", prev.source, e.source, e.name)
	}
	c.entries[e.name] = e
	return nil
}

// linkTarget returns the target to store for a symlink kept as a link. It
// must point inside the source directory and, read from the link's place
// in the archive, inside the archive, so unpacking it cannot reach out.
// An absolute target inside the source directory is made relative.
func (p *packer) linkTarget(e *packEntry) (string, error) {
	target, err := p.root.Readlink(e.phys)
	if err != nil {
		return "", fmt.Errorf("pack artifacts: %s: %w", e.source, err)
	}
	if filepath.IsAbs(target) {
		inside, ok := p.inside(target)
		if !ok {
			return "", fmt.Errorf("pack artifacts: symlink %s -> %s points outside the source directory", e.source, target)
		}
		rel, err := filepath.Rel(path.Dir(e.phys), inside)
		if err != nil {
			return "", fmt.Errorf("pack artifacts: symlink %s -> %s: %w", e.source, target, err)
		}
		target = filepath.ToSlash(rel)
	}
	if j := path.Join(path.Dir(e.phys), target); j != "." && !filepath.IsLocal(j) {
		return "", fmt.Errorf("pack artifacts: symlink %s -> %s points outside the source directory", e.source, target)
	}
	if j := path.Join(path.Dir(e.name), target); j != "." && !filepath.IsLocal(j) {
		return "", fmt.Errorf("pack artifacts: symlink %s -> %s points outside the artifact (stored as %s)", e.source, target, e.name)
	}
	return target, nil
}

// Compression is decided per file, as zip does (it stores what deflate
// does not shrink), without holding whole files: a file of up to
// packSmall bytes is deflated in memory and stored raw if that is not
// smaller; a larger one is deflated only if a fast trial on its first
// packSmall bytes saves at least 1/packMinSaving of them.
const (
	packSmall      = 64 << 10
	packMinSaving  = 50 // 2%
	packBufferSize = 256 << 10
)

// packWriter writes entries to a zip.Writer, reusing its buffers.
type packWriter struct {
	zw    *zip.Writer
	buf   []byte
	small *flate.Writer // same level as the archive's own deflate
	trial *flate.Writer
	out   bytes.Buffer
	count packCounter
}

func newPackWriter(zw *zip.Writer) *packWriter {
	small, _ := flate.NewWriter(nil, flate.DefaultCompression) // errors only for a bad level
	trial, _ := flate.NewWriter(nil, flate.BestSpeed)
	return &packWriter{zw: zw, buf: make([]byte, packBufferSize), small: small, trial: trial}
}

type packCounter struct{ n int }

func (c *packCounter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

func (wr *packWriter) add(p *packer, e *packEntry) error {
	if e.link {
		return wr.addLink(p, e)
	}
	// O_NONBLOCK: a file swapped for a FIFO since the walk must not block
	// the open; the Stat below then refuses it.
	f, err := p.root.OpenFile(e.phys, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("pack artifacts: %s: %w", e.source, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("pack artifacts: %s: %w", e.source, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("pack artifacts: %s: no longer a regular file", e.source)
	}
	hdr := packHeader(e.name, fi.Mode().Perm(), fi.ModTime())

	n, err := io.ReadFull(f, wr.buf[:packSmall])
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return wr.addSmall(hdr, wr.buf[:n], e)
	case err != nil:
		return fmt.Errorf("pack artifacts: %s: %w", e.source, err)
	}

	hdr.Method = zip.Store
	if wr.compressible(wr.buf[:n]) {
		hdr.Method = zip.Deflate
	}
	zf, err := wr.zw.CreateHeader(hdr)
	if err != nil {
		return fmt.Errorf("pack artifacts: %s: %w", e.source, err)
	}
	if _, err := zf.Write(wr.buf[:n]); err != nil {
		return fmt.Errorf("pack artifacts: %s: %w", e.source, err)
	}
	// Hiding the file's WriteTo makes io.CopyBuffer use our buffer.
	if _, err := io.CopyBuffer(zf, struct{ io.Reader }{f}, wr.buf); err != nil {
		return fmt.Errorf("pack artifacts: %s: %w", e.source, err)
	}
	return nil
}

// addSmall writes a whole small file, deflated or stored, whichever is
// smaller, with its sizes and CRC in the local header.
func (wr *packWriter) addSmall(hdr *zip.FileHeader, data []byte, e *packEntry) error {
	wr.out.Reset()
	wr.small.Reset(&wr.out)
	if _, err := wr.small.Write(data); err != nil {
		return fmt.Errorf("pack artifacts: %s: %w", e.source, err)
	}
	if err := wr.small.Close(); err != nil {
		return fmt.Errorf("pack artifacts: %s: %w", e.source, err)
	}
	body := data
	hdr.Method = zip.Store
	if wr.out.Len() < len(data) {
		body, hdr.Method = wr.out.Bytes(), zip.Deflate
	}
	hdr.CRC32 = crc32.ChecksumIEEE(data)
	hdr.UncompressedSize64 = uint64(len(data))
	hdr.CompressedSize64 = uint64(len(body))
	// CreateRaw, unlike CreateHeader, leaves these to the caller.
	hdr.ReaderVersion = 20
	if !packASCII(hdr.Name) && utf8.ValidString(hdr.Name) {
		hdr.Flags |= 0x800
	}
	zf, err := wr.zw.CreateRaw(hdr)
	if err != nil {
		return fmt.Errorf("pack artifacts: %s: %w", e.source, err)
	}
	if _, err := zf.Write(body); err != nil {
		return fmt.Errorf("pack artifacts: %s: %w", e.source, err)
	}
	return nil
}

// compressible tries fast deflate on a sample; random or already
// compressed data does not shrink, and deflating it would cost most of the
// time of a pack for nothing.
func (wr *packWriter) compressible(sample []byte) bool {
	wr.count.n = 0
	wr.trial.Reset(&wr.count)
	_, _ = wr.trial.Write(sample) // a counter never fails
	_ = wr.trial.Close()
	return wr.count.n < len(sample)-len(sample)/packMinSaving
}

func (wr *packWriter) addLink(p *packer, e *packEntry) error {
	fi, err := p.root.Lstat(e.phys)
	if err != nil {
		return fmt.Errorf("pack artifacts: %s: %w", e.source, err)
	}
	hdr := packHeader(e.name, fs.ModeSymlink|0o777, fi.ModTime())
	hdr.Method = zip.Store
	zf, err := wr.zw.CreateHeader(hdr)
	if err != nil {
		return fmt.Errorf("pack artifacts: %s: %w", e.source, err)
	}
	if _, err := io.WriteString(zf, e.target); err != nil {
		return fmt.Errorf("pack artifacts: %s: %w", e.source, err)
	}
	return nil
}

// packHeader returns an entry's header with Unix mode and modification
// time. The time is set here rather than through Modified because
// CreateRaw ignores Modified; it is written in UTC (archives do not depend
// on the server's zone), clamped to 1980, where MS-DOS time starts, and
// also as the Unix "extended timestamp" unzip and archive/zip read first.
func packHeader(name string, mode fs.FileMode, mtime time.Time) *zip.FileHeader {
	hdr := &zip.FileHeader{Name: name}
	hdr.SetMode(mode)
	t := mtime.UTC()
	if floor := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC); t.Before(floor) {
		t = floor
	}
	hdr.ModifiedDate = uint16(t.Day() + int(t.Month())<<5 + (t.Year()-1980)<<9)
	hdr.ModifiedTime = uint16(t.Second()/2 + t.Minute()<<5 + t.Hour()<<11)
	var ext [9]byte
	binary.LittleEndian.PutUint16(ext[0:], 0x5455) // extended timestamp
	binary.LittleEndian.PutUint16(ext[2:], 5)
	ext[4] = 1 // modification time only
	binary.LittleEndian.PutUint32(ext[5:], uint32(t.Unix()))
	hdr.Extra = ext[:]
	return hdr
}

func packASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
