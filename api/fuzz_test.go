package api

import (
	"strings"
	"testing"
)

// FuzzParseGitPath: whatever the URL, a parsed repository name is one plain
// path element and so is its project.
func FuzzParseGitPath(f *testing.F) {
	for _, s := range []string{"/git/a.git/info/refs", "/git/p/a.git/git-upload-pack", "/git/../x.git", "/git/.git", "/git/a/b/c.git/x", "/git/%2e%2e/a.git"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		project, name, subpath, ok := parseGitPath(path)
		if !ok {
			return
		}
		if name == "" || strings.Contains(name, "/") || strings.Contains(project, "/") || project == "" {
			t.Fatalf("%q parsed as project %q name %q", path, project, name)
		}
		if !strings.HasPrefix(subpath, "/") {
			t.Fatalf("%q: subpath %q", path, subpath)
		}
	})
}
