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

// advertiser holds what lets the server write git's opening advertisements
// without starting git: every push and every fetch over HTTP asks for one
// first, and on a small machine starting a git process costs as much as the
// rest of that request. What does not depend on a repository's refs (the
// capability lists) is learnt once per server from git itself, against a
// scratch repository configured like ours, so it always matches the git that
// serves the following request.
type advertiser struct {
	mu          sync.Mutex
	receiveCaps string // what receive-pack advertises after its first ref
	uploadV2    []byte // upload-pack's whole protocol v2 capability advertisement
}

// nativeAdvertisement reports whether the receive-pack advertisement for this
// repository and protocol can be written natively: protocol v0 (v2 falls back
// to v0 for pushes) and no alternates, whose refs git would add as ".have"
// lines.
func nativeAdvertisement(dir, protocol string) bool {
	if protocol != "" && protocol != "version=2" {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, "objects", "info", "alternates"))
	return errors.Is(err, fs.ErrNotExist)
}

// askGit runs an advertising git command against a scratch repository made
// by initBare; the caller holds s.adv.mu.
func (s *Service) askGit(ctx context.Context, protocol, sub string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "slipway-caps-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "caps.git")
	if err := s.initBare(ctx, dir); err != nil {
		return nil, err
	}
	out, err := s.command(ctx, protocol, gitArgs(sub, dir, "--advertise-refs")...).Output()
	if err != nil {
		return nil, fmt.Errorf("learn %s capabilities: %w", sub, err)
	}
	return out, nil
}

// receivePackCapabilities returns what receive-pack advertises after the first ref.
func (s *Service) receivePackCapabilities(ctx context.Context) (string, error) {
	a := &s.adv
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.receiveCaps != "" {
		return a.receiveCaps, nil
	}
	out, err := s.askGit(ctx, "", "receive-pack")
	if err != nil {
		return "", err
	}
	// An empty repository advertises "<zero id> capabilities^{}\0CAPS\n".
	_, caps, ok := bytes.Cut(out, []byte{0})
	if !ok || bytes.IndexByte(caps, '\n') <= 0 {
		return "", fmt.Errorf("learn receive-pack capabilities: unexpected advertisement %q", out)
	}
	a.receiveCaps = string(caps[:bytes.IndexByte(caps, '\n')])
	return a.receiveCaps, nil
}

// uploadPackV2Advertisement returns upload-pack's protocol v2 capability
// advertisement, which lists no refs and so is the same for every repository.
func (s *Service) uploadPackV2Advertisement(ctx context.Context) ([]byte, error) {
	a := &s.adv
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.uploadV2 != nil {
		return a.uploadV2, nil
	}
	out, err := s.askGit(ctx, "version=2", "upload-pack")
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(out, []byte(pktLine("version 2\n"))) || !bytes.HasSuffix(out, []byte("0000")) {
		return nil, fmt.Errorf("learn upload-pack capabilities: unexpected advertisement %q", out)
	}
	a.uploadV2 = out
	return out, nil
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
