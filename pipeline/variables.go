package pipeline

import (
	"errors"
	"fmt"
	"strings"
)

// ParseArtifactPath splits an artifact reference such as
// "Built::config/staging.conf" into the artifact name and the path of a
// file inside the artifact. The path must be relative and stay inside the
// artifact.
func ParseArtifactPath(s string) (artifact, path string, err error) {
	artifact, path, ok := strings.Cut(s, "::")
	switch {
	case !ok:
		return "", "", fmt.Errorf("%s is not an artifact path; write ArtifactName::path/in/artifact, e.g. Built::cloudformation/template.yml", quoteValue(s))
	case artifact == "":
		return "", "", fmt.Errorf("%s names no artifact before ::; write ArtifactName::%s", quoteValue(s), path)
	case path == "":
		return "", "", fmt.Errorf("%s names no file after ::; write %s::path/in/artifact", quoteValue(s), artifact)
	}
	if msg := artifactNameProblem(artifact); msg != "" {
		return "", "", fmt.Errorf("the artifact %s in %s %s", quoteValue(artifact), quoteValue(s), msg)
	}
	if strings.HasPrefix(path, "/") || strings.HasPrefix(path, `\`) {
		return "", "", fmt.Errorf("the path in %s must be relative to the artifact's root; remove the leading /", quoteValue(s))
	}
	for _, step := range strings.FieldsFunc(path, func(r rune) bool { return r == '/' || r == '\\' }) {
		if step == ".." {
			return "", "", fmt.Errorf("the path in %s leaves the artifact with ..; name a file inside it", quoteValue(s))
		}
	}
	return artifact, path, nil
}

// ref is one #{Namespace.Variable} reference in a text.
type ref struct {
	raw       string // as written, #{...} included
	start     int    // byte offset of raw in the text
	namespace string
	name      string
	// valid is false for a #{...} that is not Namespace.Variable.
	valid bool
}

// references lists the variable references of s in order. A #{ with no
// closing } is plain text, so a stray "#{" in a message does not make a
// configuration invalid.
func references(s string) []ref {
	var out []ref
	for off := 0; ; {
		i := strings.Index(s[off:], "#{")
		if i < 0 {
			return out
		}
		i += off
		j := strings.IndexByte(s[i+2:], '}')
		if j < 0 {
			return out
		}
		j += i + 2
		r := ref{raw: s[i : j+1], start: i}
		r.namespace, r.name, _ = strings.Cut(s[i+2:j], ".")
		r.valid = r.name != "" && isNamespace(r.namespace) && !strings.ContainsAny(r.name, " \t\r\n#{")
		out = append(out, r)
		off = j + 1
	}
}

// SubstituteVariables replaces each #{Namespace.Variable} of s with the
// value lookup gives, in one pass (a value is not searched for further
// references). It fails naming every reference lookup cannot resolve, or
// one that is not of the form #{Namespace.Variable}; a #{ without a
// closing } is kept as text.
func SubstituteVariables(s string, lookup func(namespace, name string) (string, bool)) (string, error) {
	var b strings.Builder
	var unresolved []string
	last := 0
	for _, r := range references(s) {
		if !r.valid {
			return "", fmt.Errorf("%s is not a variable reference; write #{Namespace.Variable}", r.raw)
		}
		b.WriteString(s[last:r.start])
		last = r.start + len(r.raw)
		v, ok := lookup(r.namespace, r.name)
		if !ok {
			unresolved = append(unresolved, r.raw)
			continue
		}
		b.WriteString(v)
	}
	switch len(unresolved) {
	case 0:
	case 1:
		return "", fmt.Errorf("unresolved variable reference %s", unresolved[0])
	default:
		return "", errors.New("unresolved variable references " + strings.Join(unresolved, ", "))
	}
	b.WriteString(s[last:])
	return b.String(), nil
}
