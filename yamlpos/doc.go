package yamlpos

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v4"

	"github.com/slipway/slipway/spell"
)

// Doc is one file being parsed: its text and the problems found so far.
// A format parser embeds it, reads the root that Load returns, and reports
// through Errorf and ErrorAt.
type Doc struct {
	// File is the name the caller gave Parse; it is only printed.
	File string
	Data []byte
	// Format names what the file is, with its article, for messages such
	// as "a buildspec is one document".
	Format string
	// ColonExample shows, in the format's own terms, a quoted value that
	// contains ": ", such as - 'echo a: b'.
	ColonExample string
	// Errs is every problem reported so far, in the order reported.
	Errs Errors
}

// Errorf reports a problem at the place n was written.
func (d *Doc) Errorf(n *yaml.Node, format string, args ...any) {
	d.ErrorAt(At(n), format, args...)
}

// ErrorAt reports a problem at a position.
func (d *Doc) ErrorAt(at Pos, format string, args ...any) {
	// User text is quoted with %q where it appears; this is the safety net
	// that keeps every problem on one line whatever slipped through.
	msg := strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r':
			return ' '
		case unicode.IsControl(r) && r != '\t':
			return '?'
		}
		return r
	}, fmt.Sprintf(format, args...))
	d.Errs = append(d.Errs, &Error{File: d.File, Pos: at, Msg: msg})
}

// At is where n was written; nodes without a position (an empty file) are
// placed at the document start.
func At(n *yaml.Node) Pos {
	if n == nil || n.Line <= 0 {
		return Pos{Line: 1, Column: 1}
	}
	return Pos{Line: n.Line, Column: max(n.Column, 1)}
}

// Load parses the YAML and returns the root node of the single document,
// nil when the file is empty; ok is false when the YAML itself is invalid
// (the problems are then in Errs). It uses yaml.Load with the v3 defaults,
// the very options yaml.Unmarshal uses, but asks for all documents:
// Unmarshal silently drops a second document, and a file whose real
// content sits after a stray --- would then be read as something else than
// written.
func (d *Doc) Load() (root *yaml.Node, ok bool) {
	var docs []yaml.Node
	if err := yaml.Load(d.Data, &docs, yaml.WithV3Defaults(), yaml.WithAllDocuments()); err != nil {
		d.yamlError(err)
		return nil, false
	}
	for i := 1; i < len(docs); i++ {
		if !emptyDocument(&docs[i]) {
			// The first document is still checked, so all its problems
			// come out together with this one.
			d.Errorf(&docs[i], "a second YAML document starts here; %s is one document, so remove this --- line or what follows it", d.Format)
			break
		}
	}
	if len(docs) == 0 || emptyDocument(&docs[0]) {
		return nil, true
	}
	return docs[0].Content[0], true
}

// Read loads the single document and hands its root (nil for an empty
// file) to read. On any problem it returns the zero T and Errs, sorted;
// otherwise what read returned and a nil error.
func Read[T any](d *Doc, read func(root *yaml.Node) T) (T, error) {
	var zero T
	root, ok := d.Load()
	if !ok {
		return zero, d.Errs.Sorted()
	}
	v := read(root)
	if len(d.Errs) > 0 {
		return zero, d.Errs.Sorted()
	}
	return v, nil
}

// emptyDocument reports a document with no content, such as the one a
// trailing --- creates.
func emptyDocument(d *yaml.Node) bool {
	if len(d.Content) == 0 {
		return true
	}
	c := d.Content[0]
	return c.Kind == yaml.ScalarNode && IsNull(c) && c.Value == "" && c.Anchor == ""
}

// yamlError turns a YAML syntax error into positioned problems.
func (d *Doc) yamlError(err error) {
	var many *yaml.LoadErrors
	if errors.As(err, &many) && len(many.Errors) > 0 {
		for _, le := range many.Errors {
			d.loadError(le)
		}
		return
	}
	var one *yaml.LoadError
	if errors.As(err, &one) {
		d.loadError(one)
		return
	}
	d.ErrorAt(Pos{Line: 1, Column: 1}, "invalid YAML: %v", err)
}

func (d *Doc) loadError(le *yaml.LoadError) {
	at := Pos{Line: le.Mark.Line, Column: max(le.Mark.Column, 1)}
	if at.Line <= 0 {
		// Encoding errors come from the reader, which knows only the
		// byte offset.
		at = d.offsetPos(le.Mark.Index)
	}
	msg := "invalid YAML: " + strings.TrimPrefix(le.Message, "yaml: ")
	if le.ContextMsg != "" && le.ContextMark.Line > 0 && le.ContextMark != le.Mark {
		msg += fmt.Sprintf(" (%s that starts at %d:%d)", le.ContextMsg, le.ContextMark.Line, max(le.ContextMark.Column, 1))
	}
	c := d.charAt(at)
	switch {
	case c == '\t' || strings.Contains(le.Message, "tab character"):
		msg += "; indent with spaces, YAML does not allow tabs"
	case strings.Contains(le.Message, "mapping values are not allowed"):
		msg += `; a value that contains ": " must be quoted, e.g. ` + d.ColonExample
	case strings.Contains(le.Message, "cannot start any token") && (c == '`' || c == '@'):
		msg += fmt.Sprintf("; a value that starts with %c must be quoted", c)
	case strings.Contains(le.Message, "UTF-8") || strings.Contains(le.Message, "UTF-16"):
		msg += "; save the file as UTF-8"
	}
	d.ErrorAt(at, "%s", msg)
}

// offsetPos converts a byte offset into a line and a column in characters.
func (d *Doc) offsetPos(off int) Pos {
	if off < 0 || off > len(d.Data) {
		return Pos{Line: 1, Column: 1}
	}
	before := d.Data[:off]
	line := 1 + strings.Count(string(before), "\n")
	lineStart := strings.LastIndexByte(string(before), '\n') + 1
	return Pos{Line: line, Column: 1 + len([]rune(string(before[lineStart:])))}
}

// charAt returns the character at a position (columns count characters,
// as the YAML scanner does), or 0.
func (d *Doc) charAt(at Pos) rune {
	lines := strings.SplitN(string(d.Data), "\n", at.Line+1)
	if at.Line < 1 || at.Line > len(lines) {
		return 0
	}
	r := []rune(lines[at.Line-1])
	if at.Column < 1 || at.Column > len(r) {
		return 0
	}
	return r[at.Column-1]
}

// UnknownKey reports a key that is not allowed in where and returns the
// known key it suggested, if any. hint, when not empty, ends the message.
func (d *Doc) UnknownKey(e Entry, where string, known []string, hint string) string {
	msg := fmt.Sprintf("unknown key %q in %s", e.Name, where)
	s := spell.Closest(e.Name, known)
	if s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else {
		msg += "; the keys allowed there are " + strings.Join(known, ", ")
	}
	if hint != "" {
		msg += "; " + hint
	}
	d.Errorf(e.Key, "%s", msg)
	return s
}

// Item is one entry of a list of single values.
type Item struct {
	Text string
	Node *yaml.Node // as written, for its position
}

// Items reads the items of the sequence seq, each a single value; items
// YAML reads as numbers or booleans keep their source text. where names
// the list and noun one of its items in messages. An item that is a
// mapping goes to mapping, which explains the mistake, when it is not nil.
func (d *Doc) Items(seq *yaml.Node, where, noun string, mapping func(raw, m *yaml.Node)) []Item {
	var items []Item
	for _, raw := range seq.Content {
		it := Resolve(raw)
		switch {
		case it.Kind == yaml.ScalarNode && IsNull(it):
			d.Errorf(raw, "empty %s in %s; remove the lone \"-\" or write a %s after it", noun, where, noun)
		case it.Kind == yaml.ScalarNode && strings.ContainsRune(it.Value, 0):
			d.Errorf(raw, "this %s contains a NUL character; remove it", noun)
		case it.Kind == yaml.ScalarNode:
			items = append(items, Item{Text: it.Value, Node: raw})
		case it.Kind == yaml.MappingNode && mapping != nil:
			mapping(raw, it)
		default:
			d.Errorf(raw, "each %s in %s must be a single value, found %s", noun, where, Describe(it))
		}
	}
	return items
}

// Entry is one key of a mapping.
type Entry struct {
	Name string
	Key  *yaml.Node // the key as written
	Val  *yaml.Node // the value, aliases followed
	Raw  *yaml.Node // the value as written, for positions
}

// Entries lists the keys of mapping m in file order, reporting duplicates
// and keys that are not plain names. Merge keys (<<: *defaults) are
// expanded after the explicit keys, which override them, as YAML defines.
func (d *Doc) Entries(m *yaml.Node) []Entry {
	var out []Entry
	seen := map[string]*yaml.Node{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if isMergeKey(k) {
			merges = append(merges, v)
			continue
		}
		name, ok := d.keyName(k)
		if !ok {
			continue
		}
		if first, dup := seen[name]; dup {
			d.Errorf(k, "duplicate key %q (first written at line %d); keep only one", name, first.Line)
			continue
		}
		seen[name] = k
		out = append(out, Entry{Name: name, Key: k, Val: Resolve(v), Raw: v})
	}
	// visited stops a mapping that merges itself, and bounds the work of
	// aliases that merge the same mapping many times.
	visited := map[*yaml.Node]bool{m: true}
	for _, v := range merges {
		out = d.merge(out, seen, visited, v)
	}
	return out
}

// merge appends the keys of a merge value not already present.
func (d *Doc) merge(out []Entry, seen map[string]*yaml.Node, visited map[*yaml.Node]bool, raw *yaml.Node) []Entry {
	v := Resolve(raw)
	switch v.Kind {
	case yaml.MappingNode:
		return d.mergeMapping(out, seen, visited, v)
	case yaml.SequenceNode:
		for _, it := range v.Content {
			m := Resolve(it)
			if m.Kind != yaml.MappingNode {
				d.Errorf(it, "a merge key (<<) list may hold only mappings, found %s", Describe(m))
				continue
			}
			out = d.mergeMapping(out, seen, visited, m)
		}
		return out
	}
	d.Errorf(raw, "a merge key (<<) needs a mapping or a list of mappings, such as *defaults, found %s", Describe(v))
	return out
}

func (d *Doc) mergeMapping(out []Entry, seen map[string]*yaml.Node, visited map[*yaml.Node]bool, m *yaml.Node) []Entry {
	if visited[m] {
		return out
	}
	visited[m] = true
	var inner []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if isMergeKey(k) {
			inner = append(inner, v)
			continue
		}
		name, ok := d.keyName(k)
		if !ok || seen[name] != nil {
			continue
		}
		seen[name] = k
		out = append(out, Entry{Name: name, Key: k, Val: Resolve(v), Raw: v})
	}
	for _, v := range inner {
		out = d.merge(out, seen, visited, v)
	}
	return out
}

func (d *Doc) keyName(k *yaml.Node) (string, bool) {
	r := Resolve(k)
	if r.Kind != yaml.ScalarNode {
		d.Errorf(k, "a key must be a plain name, found %s", Describe(r))
		return "", false
	}
	return r.Value, true
}

func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Tag == "!!merge"
}

// Resolve follows aliases to the node they name.
func Resolve(n *yaml.Node) *yaml.Node {
	// Anchors always name a real node; the bound only guards against a
	// malformed tree.
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// IsNull reports an empty value (nothing, ~ or null, unquoted).
func IsNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// Quoted reports a scalar written in quotes, which YAML always reads as
// text.
func Quoted(n *yaml.Node) bool {
	return n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0
}

// Boolean reads a scalar written yes, no, true or false, in any case (the
// YAML 1.1 spellings); ok is false for anything else.
func Boolean(n *yaml.Node) (v, ok bool) {
	if n.Kind == yaml.ScalarNode {
		switch strings.ToLower(n.Value) {
		case "yes", "true":
			return true, true
		case "no", "false":
			return false, true
		}
	}
	return false, false
}

// Describe names the kind of a node for "found ..." messages.
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if IsNull(n) {
			return "an empty value"
		}
		return fmt.Sprintf("%q", Short(n.Value))
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

// Short cuts a value to its first line and a readable length.
func Short(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + "…"
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) && r != '\t' {
			return '?'
		}
		return r
	}, s)
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

// Quote writes s as a YAML quoted string, single-quoted when it can be.
func Quote(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r == '\'' || unicode.IsControl(r) }) {
		return "'" + s + "'"
	}
	return strconv.Quote(s)
}

// DidYouMean returns ` (did you mean "x"?)` with the closest of candidates
// to s, or "" when none is close.
func DidYouMean(s string, candidates []string) string {
	if c := spell.Closest(s, candidates); c != "" {
		return fmt.Sprintf(" (did you mean %q?)", c)
	}
	return ""
}
