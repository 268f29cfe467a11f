package appspec

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzParse checks that Parse never panics, that every problem it reports
// is one positioned line, and that a Spec it returns keeps the rules.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		sample,
		base,
		"",
		base + "permissions:\n  - object: /opt\n    mode: \"4755\"\n    acls: [u:bob:rwx, d:g:web:5]\n    context: {type: t, range: s0-s1:c0.c9,c12}\n    type: [file]\n",
		base + "hooks:\n  AfterInstal:\n    - location: a.sh\n      timeout: 3601\n  Install:\n    - b.sh\n",
		base + "hooks:\n  AfterInstall: &h\n    - <<: [*h, *h]\n      location: a.sh\n  BeforeInstall: *h\n",
		"version: 0.0\nos: linux\nfiles: [{source: /a, destination: /b}\n",
		base + "---\nversion: 0.0\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := Parse("a.yml", data)
		if err != nil {
			if spec != nil {
				t.Fatalf("Parse returned a Spec and an error: %v", err)
			}
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error %T is not a non-empty Errors: %v", err, err)
			}
			for _, e := range errs {
				if e.Pos.Line < 1 || e.Pos.Column < 1 || e.Msg == "" || strings.ContainsAny(e.Msg, "\r\n") {
					t.Fatalf("malformed problem %+v", e)
				}
			}
			if _, again := Parse("a.yml", data); again == nil || again.Error() != err.Error() {
				t.Fatalf("Parse is not deterministic:\n%v\nthen\n%v", err, again)
			}
			return
		}
		if spec == nil {
			t.Fatal("Parse returned neither a Spec nor an error")
		}
		if spec.Version != "0.0" || (spec.OS != Linux && spec.OS != Windows) {
			t.Fatalf("version %q, os %q", spec.Version, spec.OS)
		}
		for _, file := range spec.Files {
			if file.Source == "" || file.Destination == "" || escapes(file.Source) {
				t.Fatalf("files entry %+v was accepted", file)
			}
			if spec.OS == Linux && !strings.HasPrefix(file.Destination, "/") {
				t.Fatalf("relative destination %q was accepted", file.Destination)
			}
		}
		if spec.OS == Windows && len(spec.Permissions) > 0 {
			t.Fatal("permissions on Windows were accepted")
		}
		for _, perm := range spec.Permissions {
			if perm.Object == "" || perm.Pattern == "" || len(perm.Type) == 0 {
				t.Fatalf("permission %+v was accepted", perm)
			}
			if perm.Context != nil && perm.Context.Type == "" {
				t.Fatal("a context without a type was accepted")
			}
			for _, acl := range perm.ACLs {
				if aclProblem(acl) != "" {
					t.Fatalf("ACL entry %q was accepted", acl)
				}
			}
		}
		switch spec.FileExistsBehavior {
		case "", DisallowExisting, OverwriteExisting, RetainExisting:
		default:
			t.Fatalf("file_exists_behavior %q", spec.FileExistsBehavior)
		}
		for ev, hooks := range spec.Hooks {
			if !ev.Scriptable() || len(hooks) == 0 {
				t.Fatalf("event %q with %d scripts was accepted", ev, len(hooks))
			}
			var written time.Duration
			for _, h := range hooks {
				if h.Location == "" || h.Timeout <= 0 || h.Timeout%time.Second != 0 || h.Pos.Line < 1 {
					t.Fatalf("script %+v of %s was accepted", h, ev)
				}
				if h.Timeout != DefaultTimeout {
					written += h.Timeout
				}
			}
			if written > MaxEventTimeout {
				t.Fatalf("the timeouts of %s add up to %v", ev, written)
			}
		}
	})
}
