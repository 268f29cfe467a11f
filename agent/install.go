package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/slipway/slipway/appspec"
)

// Installer copies a revision's files into place as the agent's Install
// event does.
type Installer struct {
	// Layout is where the group's cleanup record and install plan are
	// kept.
	Layout Layout
	// Prefix is prepended to every destination (the fallback "process"
	// instance mode installs below its own root); "" means destinations
	// are used as written.
	Prefix string
	// Chown sets the owner and group of a path this install created (-1
	// leaves one as it is) without following a final link; nil means
	// os.Lchown. Owner and group names are looked up with os/user.
	Chown func(path string, uid, gid int) error
}

// Install replaces what the group's last install put on the host with the
// revision unpacked at archive, as CodeDeploy's agent does:
//
//  1. The group's cleanup record, the list of every file and directory the
//     last install made, is replayed backwards: files and links are
//     deleted, directories only when empty. Files of the previous revision
//     therefore never count as already there.
//  2. spec.Files are planned, in order: a directory source's contents are
//     copied into the destination, a file source goes to
//     destination/<name>, missing directories are made, links are made as
//     links. A file already at a destination is handled by
//     spec.FileExistsBehavior.Or(deploymentBehavior): DISALLOW fails,
//     OVERWRITE replaces it, RETAIN keeps it. Every check (sources inside
//     the revision, two sources for one destination, the file already
//     there, spec.Permissions) is done before anything is copied.
//  3. The plan is written to <group>-install.json, then carried out; every
//     file and directory made is added to a new cleanup record as soon as
//     it exists, so even an install that stops halfway can be undone.
//  4. spec.Permissions are applied to what this install made: a
//     permission whose object is an installed file applies to it; one
//     whose object is a directory applies to the files and directories
//     installed beneath it that match its pattern, except and type, not
//     to the directory itself.
//
// Every step writes a line to log.
func (in *Installer) Install(ctx context.Context, groupID, archive string, spec *appspec.Spec, deploymentBehavior appspec.FileExistsBehavior, log io.Writer) error {
	if spec == nil {
		return errors.New("install: no appspec")
	}
	behavior := spec.FileExistsBehavior.Or(deploymentBehavior)
	switch behavior {
	case appspec.DisallowExisting, appspec.OverwriteExisting, appspec.RetainExisting:
	default:
		return fmt.Errorf("The deployment failed because an invalid option was specified for fileExistsBehavior: %s. Valid options include OVERWRITE, RETAIN, and DISALLOW.", behavior)
	}
	cleanupFile, err := in.Layout.instructions(groupID, "-cleanup")
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	planFile, _ := in.Layout.instructions(groupID, "-install.json") // the same ID, checked
	if err := os.MkdirAll(filepath.Dir(cleanupFile), 0o755); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	if err := replayCleanup(cleanupFile, log); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	src, err := os.OpenRoot(archive)
	if err != nil {
		return fmt.Errorf("install: revision: %w", err)
	}
	defer src.Close()
	pl := &planner{src: src, prefix: in.Prefix, behavior: behavior, log: log,
		copies: map[string]string{}, dirs: map[string]bool{}}
	if err := pl.files(spec.Files); err != nil {
		return err
	}
	if err := pl.permissions(spec.Permissions); err != nil {
		return err
	}
	fmt.Fprintf(log, "[install] plan: %d directories to make, %d files to copy, %d permission settings (file_exists_behavior %s)\n",
		len(pl.dirs), len(pl.copies), len(pl.perms), behavior)
	if err := writePlan(planFile, archive, pl); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	record, err := os.OpenFile(cleanupFile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	defer record.Close()
	chown := in.Chown
	if chown == nil {
		chown = os.Lchown
	}
	ex := &executor{src: src, record: record, log: log, chown: chown, buf: make([]byte, 256<<10)}
	for _, s := range pl.steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := ex.file(s); err != nil {
			return err
		}
	}
	for _, p := range pl.perms {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := ex.permission(ctx, p); err != nil {
			return err
		}
	}
	if err := record.Close(); err != nil {
		return fmt.Errorf("install: cleanup record: %w", err)
	}
	fmt.Fprintf(log, "[install] done\n")
	return nil
}

// replayCleanup undoes the last install of the group from its cleanup
// record, newest entry first, and removes the record.
func replayCleanup(file string, log io.Writer) error {
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("install: cleanup record: %w", err)
	}
	var paths []string
	for _, line := range strings.SplitAfter(string(b), "\n") {
		// A last line without its newline was being written when the
		// agent stopped: it may be part of a path only.
		if p, whole := strings.CutSuffix(line, "\n"); whole && p != "" {
			paths = append(paths, p)
		}
	}
	removed, kept := 0, 0
	for _, p := range slices.Backward(paths) {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("install: cleanup record %s: %q is not an absolute path", file, p)
		}
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("install: clean up %s: %w", p, err)
		}
		err = os.Remove(p)
		switch {
		case err == nil:
			removed++
		case fi.IsDir() && (errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)):
			// Something not installed by the agent was put there; it stays.
			kept++
		default:
			return fmt.Errorf("install: clean up %s: %w", p, err)
		}
	}
	if err := os.Remove(file); err != nil {
		return fmt.Errorf("install: cleanup record: %w", err)
	}
	fmt.Fprintf(log, "[install] removed %d files and directories of the previous install (%d directories kept: not empty)\n", removed, kept)
	return nil
}

// step is one file or directory to make.
type step struct {
	// dir is set for a directory to make; otherwise source is copied (a
	// link made as a link).
	dir  bool
	link bool
	// source is the path inside the revision, as os.Root takes it.
	source string
	dest   string
	// replace is set when OVERWRITE replaces a file already there.
	replace bool
}

// objectType is what a permission's type calls what s makes: a link is
// installed as a file is.
func (s step) objectType() string {
	if s.dir {
		return appspec.ObjectDirectory
	}
	return appspec.ObjectFile
}

// permStep is the settings of one permission for one path it applies to.
type permStep struct {
	path     string
	link     bool
	perm     *appspec.Permission
	uid, gid int // -1 for none
}

// planner works out an install before anything is copied.
type planner struct {
	src      *os.Root
	prefix   string
	behavior appspec.FileExistsBehavior
	log      io.Writer

	steps []step
	perms []permStep
	// copies maps each file destination to its source, dirs holds the
	// directories to make: what a later entry may not collide with.
	copies map[string]string
	dirs   map[string]bool
}

// existsError is the agent's message for a file already at a destination.
func existsError(p string) error {
	return fmt.Errorf("The deployment failed because a specified file already exists at this location: %s", p)
}

// dest is where an absolute path of the appspec is on this host.
func (pl *planner) dest(p, what string) (string, error) {
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("install: %s %q is not an absolute path", what, p)
	}
	return filepath.Join(pl.prefix, p), nil
}

func (pl *planner) files(files []appspec.File) error {
	for _, f := range files {
		rel := strings.TrimLeft(f.Source, "/")
		if rel == "" {
			rel = "." // "/" is the whole revision
		}
		if !filepath.IsLocal(rel) {
			return fmt.Errorf("install: source %q leads out of the revision", f.Source)
		}
		rel = path.Clean(rel)
		dst, err := pl.dest(f.Destination, "destination")
		if err != nil {
			return err
		}
		// The root refuses a source reached through a link that leaves
		// the revision.
		fi, err := pl.src.Lstat(rel)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("install: source %s does not exist in the revision", f.Source)
		}
		if err != nil {
			return fmt.Errorf("install: source %s: %w", f.Source, err)
		}
		if fi.IsDir() {
			if err := pl.ancestors(dst); err != nil {
				return err
			}
			if err := pl.dirCopy(rel, dst); err != nil {
				return err
			}
			continue
		}
		fileDst := filepath.Join(dst, path.Base(rel))
		if err := pl.ancestors(fileDst); err != nil {
			return err
		}
		if err := pl.copy(rel, fileDst, fi); err != nil {
			return err
		}
	}
	return nil
}

// ancestors plans the directories missing above p, outermost first.
func (pl *planner) ancestors(p string) error {
	var missing []string
	for dir := filepath.Dir(p); dir != filepath.Dir(dir) && !pl.dirs[dir]; dir = filepath.Dir(dir) {
		if _, planned := pl.copies[dir]; planned {
			missing = append(missing, dir) // for mkdir to report the collision
			break
		}
		if _, err := os.Lstat(dir); err == nil {
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				return fmt.Errorf("install %s: %s is in the way: it is not a directory", p, dir)
			}
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("install %s: %w", p, err)
		}
		missing = append(missing, dir)
	}
	for _, dir := range slices.Backward(missing) {
		if err := pl.mkdir(dir); err != nil {
			return err
		}
	}
	return nil
}

func (pl *planner) mkdir(dir string) error {
	if src, planned := pl.copies[dir]; planned {
		return fmt.Errorf("The deployment failed because the application specification file calls for making the directory %s, where it also installs the file %s. Update your AppSpec file or directory structure, and then try again.", dir, src)
	}
	if pl.dirs[dir] {
		return nil
	}
	if err := recordable(dir); err != nil {
		return err
	}
	pl.dirs[dir] = true
	pl.steps = append(pl.steps, step{dir: true, dest: dir})
	return nil
}

// recordable checks that p fits on a line of the cleanup record.
func recordable(p string) error {
	if strings.ContainsAny(p, "\n\r") {
		return fmt.Errorf("install %q: a name with a line break cannot be recorded for cleanup", p)
	}
	return nil
}

// dirCopy plans the copy of the revision's directory rel into dst.
func (pl *planner) dirCopy(rel, dst string) error {
	if !pl.dirs[dst] {
		fi, err := os.Stat(dst)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if _, err := os.Lstat(dst); err == nil {
				return existsError(dst) // a link to nothing
			}
			if err := pl.mkdir(dst); err != nil {
				return err
			}
		case err != nil:
			return fmt.Errorf("install %s: %w", dst, err)
		case !fi.IsDir():
			return existsError(dst)
		}
	}
	d, err := pl.src.Open(rel)
	if err != nil {
		return fmt.Errorf("install: source %s: %w", rel, err)
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("install: source %s: %w", rel, err)
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	for _, e := range entries {
		childRel, childDst := path.Join(rel, e.Name()), filepath.Join(dst, e.Name())
		if e.IsDir() {
			if err := pl.dirCopy(childRel, childDst); err != nil {
				return err
			}
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return fmt.Errorf("install: source %s: %w", childRel, err)
		}
		if err := pl.copy(childRel, childDst, fi); err != nil {
			return err
		}
	}
	return nil
}

// copy plans the copy of the revision's file (or link) rel, described by
// fi, to dst.
func (pl *planner) copy(rel, dst string, fi fs.FileInfo) error {
	if other, planned := pl.copies[dst]; planned {
		return fmt.Errorf("The deployment failed because the application specification file specifies two source files named %s and %s for the same destination (%s). Remove one of the source file paths from the AppSpec file, and then try again.", rel, other, dst)
	}
	if pl.dirs[dst] {
		return fmt.Errorf("The deployment failed because the application specification file calls for installing the file %s at %s, where it also makes a directory. Update your AppSpec file or directory structure, and then try again.", rel, dst)
	}
	if err := recordable(dst); err != nil {
		return err
	}
	s := step{source: rel, dest: dst, link: fi.Mode()&fs.ModeSymlink != 0}
	if !s.link && !fi.Mode().IsRegular() {
		return fmt.Errorf("install: source %s is not a file, a directory or a link", rel)
	}
	there, err := os.Lstat(dst)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("install %s: %w", dst, err)
	case pl.behavior == appspec.RetainExisting:
		fmt.Fprintf(pl.log, "[install] retain %s: already there\n", dst)
		return nil
	case pl.behavior == appspec.OverwriteExisting && !there.IsDir():
		s.replace = true
	default:
		// DISALLOW, and a directory where OVERWRITE would put a file: a
		// whole tree that is not the agent's is never deleted.
		return existsError(dst)
	}
	pl.copies[dst] = rel
	pl.steps = append(pl.steps, s)
	return nil
}

// permissions plans spec's permissions over what the plan makes.
func (pl *planner) permissions(perms []appspec.Permission) error {
	targets := map[string]bool{}
	needACL := ""
	for i := range perms {
		perm := &perms[i]
		obj, err := pl.dest(perm.Object, "permissions object")
		if err != nil {
			return err
		}
		uid, gid, err := lookupOwner(perm.Owner, perm.Group)
		if err != nil {
			return fmt.Errorf("install: permissions for %s: %w", perm.Object, err)
		}
		types := perm.Type
		if len(types) == 0 {
			types = []string{appspec.ObjectFile, appspec.ObjectDirectory}
		}
		pattern := perm.Pattern
		if pattern == "" {
			pattern = "**"
		}
		var matches []permStep
		if _, isFile := pl.copies[obj]; isFile {
			if !slices.Contains(types, appspec.ObjectFile) {
				continue
			}
			if pattern != "**" {
				return fmt.Errorf("The deployment failed because the application specification file includes an object (%s) with an invalid pattern (%s), such as a pattern for a file applied to a directory. Correct the permissions section of the AppSpec file, and then try again.", perm.Object, pattern)
			}
			if len(perm.Except) > 0 {
				return fmt.Errorf("The deployment failed because the except parameter for a pattern in the permissions section (%s) for the object named %s contains an invalid format. Update the AppSpec file, and then try again.", strings.Join(perm.Except, ", "), perm.Object)
			}
			matches = append(matches, permStep{path: obj})
		} else if fi, err := os.Stat(obj); pl.dirs[obj] || (err == nil && fi.IsDir()) {
			for _, s := range pl.steps {
				if !slices.Contains(types, s.objectType()) || !beneath(obj, s.dest, pattern, perm.Except) {
					continue
				}
				matches = append(matches, permStep{path: s.dest, link: s.link})
			}
		}
		if len(matches) == 0 {
			fmt.Fprintf(pl.log, "[install] permissions for %s: nothing this install makes matches\n", perm.Object)
		}
		if perm.Context != nil {
			fmt.Fprintf(pl.log, "[install] permissions for %s: SELinux context %s skipped: this agent does not set SELinux contexts\n", perm.Object, perm.Context.Type)
		}
		for _, m := range matches {
			if targets[m.path] {
				return fmt.Errorf("The deployment failed because the permissions setting for (%s) is specified more than once in the application specification file. Update the files section of the AppSpec file, and then try again.", m.path)
			}
			targets[m.path] = true
			if len(perm.ACLs) > 0 {
				needACL = perm.Object
				if !pl.dirs[m.path] && slices.ContainsFunc(perm.ACLs, defaultACL) {
					return errors.New("The deployment failed because the -d parameter has been specified to apply an acl setting to a file. This parameter is supported for directories only. Update the AppSpec file, and then try again.")
				}
			}
			m.perm, m.uid, m.gid = perm, uid, gid
			pl.perms = append(pl.perms, m)
		}
	}
	if needACL != "" {
		if _, err := exec.LookPath("setfacl"); err != nil {
			return fmt.Errorf("install: permissions for %s set acls, but setfacl is not installed on this host (%v); install the acl package or remove acls: from the AppSpec file", needACL, err)
		}
	}
	return nil
}

// defaultACL reports a default entry (d:... or default:...), which only a
// directory can have.
func defaultACL(ace string) bool {
	return strings.HasPrefix(ace, "d:") || strings.HasPrefix(ace, "default:")
}

// beneath reports whether p is below dir and matches pattern and none of
// except, as the agent matches: "**" is everything below dir; any other
// pattern, and every except, is matched against the name of an entry
// directly inside dir (deeper entries never match one).
func beneath(dir, p, pattern string, except []string) bool {
	base := strings.TrimSuffix(dir, "/") + "/"
	rel, ok := strings.CutPrefix(p, base)
	if !ok || rel == "" {
		return false
	}
	if pattern != "**" && !simpleGlob(pattern, rel) {
		return false
	}
	for _, e := range except {
		if simpleGlob(e, rel) {
			return false
		}
	}
	return true
}

// simpleGlob matches name against pattern, in which * stands for any run
// of characters and every other character for itself: the agent's globs
// know nothing of ?, [ or {. A name with a / never matches.
func simpleGlob(pattern, name string) bool {
	if strings.Contains(name, "/") {
		return false
	}
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case p < len(pattern) && pattern[p] == name[n]:
			p++
			n++
		case star >= 0:
			// Let the last * take one more character and try again.
			mark++
			p, n = star+1, mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// lookupOwner returns the IDs of an owner and a group name, -1 for "".
func lookupOwner(owner, group string) (uid, gid int, err error) {
	uid, gid = -1, -1
	if owner != "" {
		u, err := user.Lookup(owner)
		if err != nil {
			return 0, 0, fmt.Errorf("owner: %w", err)
		}
		if uid, err = strconv.Atoi(u.Uid); err != nil {
			return 0, 0, fmt.Errorf("owner %s: %w", owner, err)
		}
	}
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return 0, 0, fmt.Errorf("group: %w", err)
		}
		if gid, err = strconv.Atoi(g.Gid); err != nil {
			return 0, 0, fmt.Errorf("group %s: %w", group, err)
		}
	}
	return uid, gid, nil
}

// instruction is one entry of <group>-install.json, in the agent's shape.
type instruction struct {
	Type        string   `json:"type"`
	Source      string   `json:"source,omitempty"`
	Destination string   `json:"destination,omitempty"`
	Directory   string   `json:"directory,omitempty"`
	File        string   `json:"file,omitempty"`
	Mode        string   `json:"mode,omitempty"`
	Owner       string   `json:"owner,omitempty"`
	Group       string   `json:"group,omitempty"`
	ACL         []string `json:"acl,omitempty"`
}

// writePlan writes the plan to file, as the agent's install.json.
func writePlan(file, archive string, pl *planner) error {
	out := []instruction{} // [] rather than null when there is nothing to do
	for _, s := range pl.steps {
		if s.dir {
			out = append(out, instruction{Type: "mkdir", Directory: s.dest})
		} else {
			out = append(out, instruction{Type: "copy", Source: filepath.Join(archive, s.source), Destination: s.dest})
		}
	}
	for _, p := range pl.perms {
		if p.perm.Owner != "" || p.perm.Group != "" {
			out = append(out, instruction{Type: "chown", File: p.path, Owner: p.perm.Owner, Group: p.perm.Group})
		}
		if p.perm.Mode != nil {
			out = append(out, instruction{Type: "chmod", File: p.path, Mode: octal(*p.perm.Mode)})
		}
		if len(p.perm.ACLs) > 0 {
			out = append(out, instruction{Type: "setfacl", File: p.path, ACL: p.perm.ACLs})
		}
	}
	b, err := json.MarshalIndent(struct {
		Instructions []instruction `json:"instructions"`
	}{out}, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(file, append(b, '\n'))
}

// octal writes a mode as chmod takes it.
func octal(m fs.FileMode) string {
	v := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	return fmt.Sprintf("%04o", v)
}

// executor carries out a plan.
type executor struct {
	src    *os.Root
	record *os.File
	log    io.Writer
	chown  func(string, int, int) error
	buf    []byte
}

// made adds p to the cleanup record. It is called as soon as p exists and
// is the install's own, before anything is written into it: one line in
// one write, so a crash leaves the record whole but for, at worst, a last
// line that replay ignores.
func (ex *executor) made(p string) error {
	if _, err := ex.record.WriteString(p + "\n"); err != nil {
		return fmt.Errorf("install %s: cleanup record: %w", p, err)
	}
	return nil
}

func (ex *executor) file(s step) error {
	switch {
	case s.dir:
		if err := os.Mkdir(s.dest, 0o777); errors.Is(err, fs.ErrExist) {
			return existsError(s.dest)
		} else if err != nil {
			return fmt.Errorf("install %s: %w", s.dest, err)
		}
		if err := ex.made(s.dest); err != nil {
			return err
		}
		fmt.Fprintf(ex.log, "[install] mkdir %s\n", s.dest)
		return nil
	case s.replace:
		// Removed, not written over: a running program keeps its old file,
		// and a link there is replaced rather than followed.
		if err := os.Remove(s.dest); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("install %s: %w", s.dest, err)
		}
	}
	if s.link {
		target, err := ex.src.Readlink(s.source)
		if err != nil {
			return fmt.Errorf("install %s: %w", s.dest, err)
		}
		if err := os.Symlink(target, s.dest); errors.Is(err, fs.ErrExist) {
			return existsError(s.dest)
		} else if err != nil {
			return fmt.Errorf("install %s: %w", s.dest, err)
		}
		if err := ex.made(s.dest); err != nil {
			return err
		}
		fmt.Fprintf(ex.log, "[install] link %s -> %s%s\n", s.dest, target, replaced(s))
		return nil
	}
	if err := ex.copyFile(s); err != nil {
		return err
	}
	fmt.Fprintf(ex.log, "[install] copy %s to %s%s\n", s.source, s.dest, replaced(s))
	return nil
}

func replaced(s step) string {
	if s.replace {
		return " (replacing the file there: OVERWRITE)"
	}
	return ""
}

// copyFile copies a regular file with its mode and modification time.
func (ex *executor) copyFile(s step) error {
	in, err := ex.src.Open(s.source)
	if err != nil {
		return fmt.Errorf("install %s: %w", s.dest, err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return fmt.Errorf("install %s: %w", s.dest, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("install %s: source %s is no longer a file", s.dest, s.source)
	}
	// Private until complete; the source's mode is set at the end.
	out, err := os.OpenFile(s.dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return existsError(s.dest)
	}
	if err != nil {
		return fmt.Errorf("install %s: %w", s.dest, err)
	}
	if err := ex.made(s.dest); err != nil {
		out.Close()
		return err
	}
	_, err = io.CopyBuffer(out, struct{ io.Reader }{in}, ex.buf)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(s.dest, fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
	}
	if err == nil {
		err = os.Chtimes(s.dest, fi.ModTime(), fi.ModTime())
	}
	if err != nil {
		return fmt.Errorf("install %s: %w", s.dest, err)
	}
	return nil
}

// permission applies one permission to one path: owner first, since
// changing it clears setuid and setgid, then the mode, then the ACL
// entries (setfacl -m, which keeps the entries already there and
// recomputes the mask from the mode).
func (ex *executor) permission(ctx context.Context, p permStep) error {
	perm := p.perm
	if p.uid != -1 || p.gid != -1 {
		if err := ex.chown(p.path, p.uid, p.gid); err != nil {
			return fmt.Errorf("install %s: %w", p.path, err)
		}
		fmt.Fprintf(ex.log, "[install] chown %s:%s %s\n", perm.Owner, perm.Group, p.path)
	}
	if p.link && (perm.Mode != nil || len(perm.ACLs) > 0) {
		// Both would be set on whatever the link points to.
		fmt.Fprintf(ex.log, "[install] mode and acls of link %s skipped: a link has none of its own\n", p.path)
		return nil
	}
	if perm.Mode != nil {
		if err := os.Chmod(p.path, *perm.Mode); err != nil {
			return fmt.Errorf("install %s: %w", p.path, err)
		}
		fmt.Fprintf(ex.log, "[install] chmod %s %s\n", octal(*perm.Mode), p.path)
	}
	if len(perm.ACLs) > 0 {
		acl := strings.Join(perm.ACLs, ",")
		out, err := exec.CommandContext(ctx, "setfacl", "-m", acl, "--", p.path).CombinedOutput()
		if err != nil {
			return fmt.Errorf("The deployment failed because of a problem with the acls permission settings in the application specification file for this object: %s. Failed command: setfacl -m %s %s: %v: %s", p.path, acl, p.path, err, strings.TrimSpace(string(out)))
		}
		fmt.Fprintf(ex.log, "[install] setfacl -m %s %s\n", acl, p.path)
	}
	return nil
}
