package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// Parse reads a declaration file, YAML or JSON, as CloudFormation's
// properties of AWS::CodePipeline::Pipeline or as the AWS CLI's
// create-pipeline input ({"pipeline": {...}, "tags": [...]}). Keys match
// their property name whatever their case, so CloudFormation's PascalCase
// and the API's camelCase both read; the keys of an action's Configuration
// are the provider's own and keep their case. file is only used in
// messages. On any
// problem it returns a nil Declaration and an Errors value listing every
// problem of the file, each as file:line:col: message.
func Parse(file string, data []byte) (*Declaration, error) {
	src := newSource(file, true)
	root := load(src, data)
	if len(src.errs) > 0 {
		return nil, src.errs.sorted()
	}
	return finish(src, root, true)
}

// FromProperties reads the evaluated Properties of the
// AWS::CodePipeline::Pipeline resource logical, as the stack engine hands
// them: strings, numbers (json.Number, float64 or integers), booleans,
// []any and map[string]any. It checks what Parse checks, except that Name
// may be absent; problems name the property path
// (Stages[0].Actions[1].ActionTypeId) since the values have no place in a
// file.
func FromProperties(logical string, props map[string]any) (*Declaration, error) {
	src := newSource(logical, false)
	c := &converter{src: src}
	root := c.fromAny(props, 0)
	if len(src.errs) > 0 {
		return nil, src.errs.sorted()
	}
	return finish(src, root, false)
}

// finish decodes and validates the tree; both report everything they find.
func finish(src *source, root *node, needName bool) (*Declaration, error) {
	d := decode(src, root, needName)
	errs := append(src.errs, d.validate(src)...)
	if len(errs) > 0 {
		return nil, errs.sorted()
	}
	return d, nil
}

// kind says what a node holds.
type kind uint8

const (
	scalarNode kind = iota + 1
	listNode
	mapNode
	nullNode
	// otherNode is a Go value FromProperties cannot read (a value the
	// stack engine does not know yet, for instance).
	otherNode
)

// node is a value of the document with where it was written: the common
// form of a YAML file and of a stack's properties, so that one decoder
// reads both.
type node struct {
	kind   kind
	pos    Pos
	text   string // a scalar's text; otherNode: a description
	items  []*node
	fields []field
}

// field is one key of a mapping.
type field struct {
	key    string
	keyPos Pos
	val    *node
}

// describe names the kind of a node for "found ..." messages.
func (n *node) describe() string {
	switch n.kind {
	case listNode:
		return "a list"
	case mapNode:
		return "a mapping"
	case nullNode:
		return "an empty value"
	case otherNode:
		return n.text
	}
	return quoteValue(n.text)
}

// Limits that keep hostile input cheap: a real declaration nests fewer
// than ten levels and holds at most 500 actions.
const (
	maxDepth = 64
	maxNodes = 200_000
)

// converter builds the node tree, counting nodes so that aliases cannot
// multiply a small file into a huge tree.
type converter struct {
	src     *source
	nodes   int
	tooMany bool
}

func (c *converter) count(at Pos) bool {
	c.nodes++
	if c.nodes > maxNodes {
		if !c.tooMany {
			c.tooMany = true
			c.src.errAt(at, "", "the document expands to more than %d values (through its aliases, or by its size); a pipeline declaration is far smaller", maxNodes)
		}
		return false
	}
	return true
}

// load parses the YAML into the node tree; nil for an empty document.
func load(src *source, data []byte) *node {
	var docs []yaml.Node
	if err := yaml.Load(data, &docs, yaml.WithV3Defaults(), yaml.WithAllDocuments()); err != nil {
		yamlError(src, data, err)
		return nil
	}
	for i := 1; i < len(docs); i++ {
		if !emptyDocument(&docs[i]) {
			src.errAt(yamlPos(&docs[i]), "", "a second YAML document starts here; a declaration is one document, so remove this --- line or what follows it")
			return nil
		}
	}
	if len(docs) == 0 || emptyDocument(&docs[0]) {
		return nil
	}
	c := &converter{src: src}
	return c.fromYAML(docs[0].Content[0], 0)
}

// emptyDocument reports a document with no content, such as the one a
// trailing --- creates.
func emptyDocument(d *yaml.Node) bool {
	if len(d.Content) == 0 {
		return true
	}
	c := d.Content[0]
	return c.Kind == yaml.ScalarNode && c.ShortTag() == "!!null" && c.Value == "" && c.Anchor == ""
}

func yamlPos(n *yaml.Node) Pos {
	if n == nil || n.Line <= 0 {
		return Pos{Line: 1, Column: 1}
	}
	return Pos{Line: n.Line, Column: max(n.Column, 1)}
}

// yamlError turns a YAML syntax error into positioned problems.
func yamlError(src *source, data []byte, err error) {
	var many *yaml.LoadErrors
	var one *yaml.LoadError
	switch {
	case errors.As(err, &many) && len(many.Errors) > 0:
		for _, le := range many.Errors {
			loadError(src, data, le)
		}
	case errors.As(err, &one):
		loadError(src, data, one)
	default:
		src.errAt(Pos{Line: 1, Column: 1}, "", "invalid YAML: %v", err)
	}
}

func loadError(src *source, data []byte, le *yaml.LoadError) {
	at := Pos{Line: le.Mark.Line, Column: max(le.Mark.Column, 1)}
	if at.Line <= 0 {
		// Encoding errors come from the reader, which knows only the
		// byte offset.
		at = offsetPos(data, le.Mark.Index)
	}
	msg := "invalid YAML: " + strings.TrimPrefix(le.Message, "yaml: ")
	switch {
	case strings.Contains(le.Message, "tab character"):
		msg += "; indent with spaces, YAML does not allow tabs"
	case strings.Contains(le.Message, "mapping values are not allowed"):
		msg += `; a value that contains ": " must be quoted`
	}
	src.errAt(at, "", "%s", msg)
}

// offsetPos converts a byte offset into a line and a column in characters.
func offsetPos(data []byte, off int) Pos {
	if off < 0 || off > len(data) {
		return Pos{Line: 1, Column: 1}
	}
	before := string(data[:off])
	lineStart := strings.LastIndexByte(before, '\n') + 1
	return Pos{Line: 1 + strings.Count(before, "\n"), Column: 1 + len([]rune(before[lineStart:]))}
}

// fromYAML converts a YAML node, following aliases and expanding merge
// keys (<<: *defaults), which pipeline files use for repeated actions.
func (c *converter) fromYAML(y *yaml.Node, depth int) *node {
	at := yamlPos(y)
	if !c.count(at) {
		return &node{kind: nullNode, pos: at}
	}
	if depth > maxDepth {
		c.src.errAt(at, "", "the document nests values more than %d levels deep", maxDepth)
		return &node{kind: nullNode, pos: at}
	}
	if y.Kind == yaml.AliasNode {
		if y.Alias == nil {
			return &node{kind: nullNode, pos: at}
		}
		n := c.fromYAML(y.Alias, depth+1)
		// The alias, not the anchor, is where this value was written.
		n.pos = at
		return n
	}
	if tag := y.Tag; strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!") && tag != "!" {
		c.src.errAt(at, "", "%s is a CloudFormation function or an unknown YAML tag; a declaration file takes literal values (functions are evaluated when the pipeline is declared in a template deployed as a stack)", tag)
		return &node{kind: nullNode, pos: at}
	}
	switch y.Kind {
	case yaml.ScalarNode:
		if y.ShortTag() == "!!null" {
			return &node{kind: nullNode, pos: at}
		}
		return &node{kind: scalarNode, pos: at, text: y.Value}
	case yaml.SequenceNode:
		n := &node{kind: listNode, pos: at}
		for _, it := range y.Content {
			n.items = append(n.items, c.fromYAML(it, depth+1))
		}
		return n
	case yaml.MappingNode:
		n := &node{kind: mapNode, pos: at}
		c.mapping(n, y, depth, false, map[*yaml.Node]bool{y: true}, map[string]bool{})
		return n
	}
	return &node{kind: nullNode, pos: at}
}

// mapping adds the keys of y to n. Keys written in the mapping itself are
// all kept (the decoder reports duplicates); keys that come from a merge
// are added only when absent, as YAML defines. visited stops a mapping
// that merges itself; keys holds the keys n has.
func (c *converter) mapping(n *node, y *yaml.Node, depth int, merged bool, visited map[*yaml.Node]bool, keys map[string]bool) {
	var merges []*yaml.Node
	for i := 0; i+1 < len(y.Content); i += 2 {
		k, v := y.Content[i], y.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			c.src.errAt(yamlPos(k), "", "a key must be a plain name, found a list or a mapping")
			continue
		}
		if merged && keys[k.Value] {
			continue
		}
		keys[k.Value] = true
		n.fields = append(n.fields, field{key: k.Value, keyPos: yamlPos(k), val: c.fromYAML(v, depth+1)})
	}
	for _, m := range merges {
		c.merge(n, m, depth, visited, keys)
	}
}

// merge adds the keys of a merge value: a mapping or a list of mappings.
func (c *converter) merge(n *node, raw *yaml.Node, depth int, visited map[*yaml.Node]bool, keys map[string]bool) {
	v := resolve(raw)
	var maps []*yaml.Node
	switch v.Kind {
	case yaml.MappingNode:
		maps = []*yaml.Node{v}
	case yaml.SequenceNode:
		for _, it := range v.Content {
			maps = append(maps, resolve(it))
		}
	}
	if len(maps) == 0 {
		c.src.errAt(yamlPos(raw), "", "a merge key (<<) needs a mapping or a list of mappings, such as *defaults")
		return
	}
	for _, m := range maps {
		if m.Kind != yaml.MappingNode {
			c.src.errAt(yamlPos(raw), "", "a merge key (<<) list may hold only mappings")
			continue
		}
		if visited[m] || !c.count(yamlPos(m)) {
			continue
		}
		visited[m] = true
		c.mapping(n, m, depth+1, true, visited, keys)
	}
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	// Anchors always name a real node; the bound only guards against a
	// malformed tree.
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// fromAny converts a value of a stack's evaluated properties. Mapping keys
// are read in sorted order so that problems come out in a stable order.
func (c *converter) fromAny(v any, depth int) *node {
	if !c.count(Pos{}) {
		return &node{kind: nullNode}
	}
	if depth > maxDepth {
		c.src.errAt(Pos{}, "", "the properties nest values more than %d levels deep", maxDepth)
		return &node{kind: nullNode}
	}
	switch v := v.(type) {
	case nil:
		return &node{kind: nullNode}
	case string:
		return &node{kind: scalarNode, text: v}
	case json.Number:
		return &node{kind: scalarNode, text: string(v)}
	case bool:
		return &node{kind: scalarNode, text: strconv.FormatBool(v)}
	case float64:
		return &node{kind: scalarNode, text: strconv.FormatFloat(v, 'f', -1, 64)}
	case float32:
		return &node{kind: scalarNode, text: strconv.FormatFloat(float64(v), 'f', -1, 32)}
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &node{kind: scalarNode, text: strconv.FormatInt(rv.Int(), 10)}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &node{kind: scalarNode, text: strconv.FormatUint(rv.Uint(), 10)}
	case reflect.Slice, reflect.Array:
		n := &node{kind: listNode}
		for i := range rv.Len() {
			n.items = append(n.items, c.fromAny(rv.Index(i).Interface(), depth+1))
		}
		return n
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			break
		}
		n := &node{kind: mapNode}
		keys := rv.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			n.fields = append(n.fields, field{key: k.String(), val: c.fromAny(rv.MapIndex(k).Interface(), depth+1)})
		}
		return n
	}
	return &node{kind: otherNode, text: fmt.Sprintf("a value of Go type %T (a value not known yet?)", v)}
}
