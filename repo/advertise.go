package repo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// receivePackAdvertiser holds what the ref advertisement of receive-pack
// needs so that it can be written without starting git: a push over HTTP
// asks for it first, and on a small machine starting a git process costs as
// much as the rest of that request. Only the capability line comes from git,
// learnt once per server from a repository configured like ours, so it always
// matches the git that takes the push.
type receivePackAdvertiser struct {
	mu   sync.Mutex
	caps string
}

// nativeAdvertisement reports whether the advertisement for this repository
// and protocol can be written natively: protocol v0 (v2 falls back to v0 for
// pushes) and no alternates, whose refs git would add as ".have" lines.
func nativeAdvertisement(dir, protocol string) bool {
	if protocol != "" && protocol != "version=2" {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, "objects", "info", "alternates"))
	return errors.Is(err, fs.ErrNotExist)
}

// capabilities returns what receive-pack advertises after the first ref.
func (s *Service) receivePackCapabilities(ctx context.Context) (string, error) {
	a := &s.adv
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.caps != "" {
		return a.caps, nil
	}
	tmp, err := os.MkdirTemp("", "slipway-caps-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "caps.git")
	if err := s.initBare(ctx, dir); err != nil {
		return "", err
	}
	out, err := s.command(ctx, "", gitArgs("receive-pack", dir, "--advertise-refs")...).Output()
	if err != nil {
		return "", fmt.Errorf("learn receive-pack capabilities: %w", err)
	}
	// An empty repository advertises "<zero id> capabilities^{}\0CAPS\n".
	_, caps, ok := bytes.Cut(out, []byte{0})
	if !ok || len(out) < 4 {
		return "", fmt.Errorf("learn receive-pack capabilities: unexpected advertisement %q", out)
	}
	a.caps = strings.TrimSuffix(string(caps[:bytes.IndexByte(caps, '\n')+1]), "\n")
	if a.caps == "" {
		return "", fmt.Errorf("learn receive-pack capabilities: empty capability list in %q", out)
	}
	return a.caps, nil
}

// receivePackAdvertisement builds the advertisement git receive-pack
// --advertise-refs --stateless-rpc would write for the bare repository dir.
func (s *Service) receivePackAdvertisement(ctx context.Context, dir string) ([]byte, error) {
	caps, err := s.receivePackCapabilities(ctx)
	if err != nil {
		return nil, err
	}
	refs, err := readRefs(dir)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if len(refs) == 0 {
		b.WriteString(pktLine(strings.Repeat("0", 40) + " capabilities^{}\x00" + caps + "\n"))
	}
	for i, r := range refs {
		line := r.oid + " " + r.name
		if i == 0 {
			line += "\x00" + caps
		}
		b.WriteString(pktLine(line + "\n"))
	}
	b.WriteString("0000")
	return b.Bytes(), nil
}

type ref struct{ name, oid string }

// readRefs lists the refs under refs/ with their object ids, sorted by name,
// as git's for_each_ref does: loose refs override packed ones, symbolic refs
// are resolved, and refs that do not resolve are left out. Loose refs are
// read before packed-refs: git pack-refs writes packed-refs before it deletes
// the loose files, so a ref being packed is seen in one or the other.
func readRefs(dir string) ([]ref, error) {
	values := map[string]string{} // name -> object id or "ref: target"
	refsDir := filepath.Join(dir, "refs")
	err := filepath.WalkDir(refsDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.HasSuffix(d.Name(), ".lock") {
			return nil
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted while we walked
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		values[filepath.ToSlash(rel)] = strings.TrimSpace(string(b))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read refs: %w", err)
	}
	packed, err := os.ReadFile(filepath.Join(dir, "packed-refs"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read packed-refs: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(packed))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || line[0] == '^' {
			continue
		}
		oid, name, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(name, "refs/") {
			continue
		}
		if _, loose := values[name]; !loose {
			values[name] = oid
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read packed-refs: %w", err)
	}
	var out []ref
	for name := range values {
		if oid, ok := resolveRef(values, name); ok {
			out = append(out, ref{name: name, oid: oid})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// resolveRef follows symbolic refs, at most five deep as git does.
func resolveRef(values map[string]string, name string) (string, bool) {
	for range 5 {
		v := values[name]
		target, sym := strings.CutPrefix(v, "ref: ")
		if !sym {
			return v, isObjectID(v)
		}
		name = strings.TrimSpace(target)
	}
	return "", false
}

func isObjectID(s string) bool {
	if len(s) != 40 || isZeroID(s) {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
