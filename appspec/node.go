package appspec

import (
	"slices"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/slipway/slipway/yamlpos"
)

// This file holds the small readers of values that every block shares;
// loading with positions and walking mappings (duplicates, merge keys,
// aliases) are yamlpos's, shared with buildspec.

// parser holds the state of one Parse call.
type parser struct {
	yamlpos.Doc
	// os is the os: value once read and valid, "" otherwise; rules that
	// depend on it are skipped while it is unknown, so that one wrong os
	// does not bury the file under follow-on errors.
	os OS
}

// entry is one key of a mapping.
type entry = yamlpos.Entry

// text returns the source text of a single value, spaces trimmed as the
// agent trims them, and reports anything else.
func (p *parser) text(e entry, what string) (string, bool) {
	n := e.Val
	switch {
	case n.Kind != yaml.ScalarNode:
		p.Errorf(e.Raw, "%s must be a single value, found %s", what, yamlpos.Describe(n))
		return "", false
	case yamlpos.IsNull(n) || strings.TrimSpace(n.Value) == "":
		p.Errorf(e.Raw, "%s is empty; write a value after %s:", what, e.Name)
		return "", false
	case strings.ContainsRune(n.Value, 0):
		p.Errorf(e.Raw, "%s contains a NUL character; remove it", what)
		return "", false
	}
	return strings.TrimSpace(n.Value), true
}

// boolean reads true/false (and yes/no, which the agent's YAML 1.1 reads
// as booleans too) in any case.
func (p *parser) boolean(e entry, what string) bool {
	n := e.Val
	if v, ok := yamlpos.Boolean(n); ok && !yamlpos.Quoted(n) {
		return v
	}
	p.Errorf(e.Raw, "%s must be true or false, found %s", what, yamlpos.Describe(n))
	return false
}

// list reads a list of single values (except, acls, type). present is
// false when the value is empty, so that callers can tell "not written".
func (p *parser) list(e entry, what, noun string) (items []item, present bool) {
	n := e.Val
	switch {
	case yamlpos.IsNull(n):
		return nil, false
	case n.Kind == yaml.ScalarNode:
		p.Errorf(e.Raw, "%s must be a list with one %s per item, found a single value; write it as [%s]", what, noun, yamlpos.Short(n.Value))
		return nil, true
	case n.Kind != yaml.SequenceNode:
		p.Errorf(e.Raw, "%s must be a list with one %s per item, found %s", what, noun, yamlpos.Describe(n))
		return nil, true
	}
	return p.Items(n, what, noun, nil), true
}

// item is one entry of a list of strings.
type item = yamlpos.Item

// object checks that e's value is a mapping and hands each known key to
// fn; ok is false when the value was of another kind. where names the
// block in messages. meant lists the known keys that misspelt ones were
// taken for, so that callers do not also report them as missing.
func (p *parser) object(e entry, where string, known []string, fn func(entry)) (meant []string, ok bool) {
	n := e.Val
	if n.Kind != yaml.MappingNode {
		p.Errorf(e.Raw, "%s must be a mapping of keys (%s), found %s", where, strings.Join(known, ", "), yamlpos.Describe(n))
		return nil, false
	}
	for _, f := range p.Entries(n) {
		if !slices.Contains(known, f.Name) {
			if s := p.UnknownKey(f, where, known, ""); s != "" {
				meant = append(meant, s)
			}
			continue
		}
		fn(f)
	}
	return meant, true
}
