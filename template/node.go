package template

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v4"

	"github.com/slipway/slipway/spell"
)

// Kind says what a Node holds.
type Kind uint8

// The kinds of Node.
const (
	// Scalar is a literal: Value holds a string, bool or json.Number.
	Scalar Kind = iota + 1
	// List is a sequence: Items holds the elements.
	List
	// Map is a mapping: Fields holds the entries in file order.
	Map
	// Call is an intrinsic function: Fn names it ("Ref", "Fn::Sub", ...)
	// and Arg is its argument as written.
	Call
)

// Node is a decoded template value with its position. Short forms (!Sub)
// and long forms (Fn::Sub:) decode to the same Call; !Condition X decodes,
// as CloudFormation reads it, to the mapping {Condition: X}.
type Node struct {
	Kind   Kind
	Pos    Pos
	Value  any
	Items  []*Node
	Fields []Field
	Fn     string
	Arg    *Node
}

// Field is one entry of a Map node.
type Field struct {
	Key    string
	KeyPos Pos
	Value  *Node
}

// Get returns the value of key in a Map node, or nil.
func (n *Node) Get(key string) *Node {
	if n == nil || n.Kind != Map {
		return nil
	}
	for _, f := range n.Fields {
		if f.Key == key {
			return f.Value
		}
	}
	return nil
}

// Text returns a Scalar's value as CloudFormation sees it: strings as they
// are, numbers in their source text, booleans as "true" or "false".
func (n *Node) Text() (string, bool) {
	if n == nil || n.Kind != Scalar {
		return "", false
	}
	return scalarText(n.Value)
}

// scalarText turns a scalar value into the string CloudFormation uses for it.
func scalarText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return string(v), true
	case bool:
		if v {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

// The intrinsic functions, by their long names.
const (
	fnRef         = "Ref"
	fnBase64      = "Fn::Base64"
	fnCidr        = "Fn::Cidr"
	fnFindInMap   = "Fn::FindInMap"
	fnGetAtt      = "Fn::GetAtt"
	fnGetAZs      = "Fn::GetAZs"
	fnImportValue = "Fn::ImportValue"
	fnJoin        = "Fn::Join"
	fnSelect      = "Fn::Select"
	fnSplit       = "Fn::Split"
	fnSub         = "Fn::Sub"
	fnIf          = "Fn::If"
	fnEquals      = "Fn::Equals"
	fnAnd         = "Fn::And"
	fnOr          = "Fn::Or"
	fnNot         = "Fn::Not"
	keyCondition  = "Condition"
)

// shortTags maps each short-form tag to the function's long name; !Condition
// is handled apart because it makes a mapping, not a call.
var shortTags = map[string]string{
	"!Ref": fnRef, "!Base64": fnBase64, "!Cidr": fnCidr, "!FindInMap": fnFindInMap,
	"!GetAtt": fnGetAtt, "!GetAZs": fnGetAZs, "!ImportValue": fnImportValue, "!Join": fnJoin,
	"!Select": fnSelect, "!Split": fnSplit, "!Sub": fnSub, "!If": fnIf, "!Equals": fnEquals,
	"!And": fnAnd, "!Or": fnOr, "!Not": fnNot, "!Transform": "Fn::Transform",
}

// supported lists the functions a template may call, in the order
// CloudFormation's "unsupported function" message lists them.
var supported = []string{fnBase64, fnGetAtt, fnGetAZs, fnImportValue, fnJoin, fnSplit, fnFindInMap,
	fnSelect, fnRef, fnEquals, fnIf, fnNot, keyCondition, fnAnd, fnOr, fnSub, fnCidr}

func isFunction(name string) bool {
	return name != keyCondition && contains(supported, name)
}

// looksLikeFunction reports a key that CloudFormation reads as a function
// call when it is the only key of its mapping.
func looksLikeFunction(key string) bool {
	return key == fnRef || strings.HasPrefix(key, "Fn::")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// jsonNumber is the grammar of a JSON number; only plain scalars written so
// become json.Number. YAML-only forms (0x1F, 010, 1_000, .inf) stay strings
// with their source text, since CloudFormation hands every value to the
// services as text anyway and the source text is what the author meant.
var jsonNumber = regexp.MustCompile(`^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?$`)

// yaml11Bool maps the YAML 1.1 booleans to their value: the forms of
// true/false, yes/no and on/off that YAML 1.1 allows (lower case,
// capitalised, upper case). The one-letter y/n forms are left out, as
// SnakeYAML and PyYAML, the parsers CloudFormation and cfn-lint use, leave
// them out.
var yaml11Bool = map[string]bool{
	"true": true, "True": true, "TRUE": true, "false": false, "False": false, "FALSE": false,
	"yes": true, "Yes": true, "YES": true, "no": false, "No": false, "NO": false,
	"on": true, "On": true, "ON": true, "off": false, "Off": false, "OFF": false,
}

// plainNull lists the plain scalars YAML reads as null.
var plainNull = map[string]bool{"": true, "~": true, "null": true, "Null": true, "NULL": true}

// forbiddenTags are the YAML tags CloudFormation's YAML dialect leaves out.
var forbiddenTags = map[string]bool{"!!binary": true, "!!omap": true, "!!pairs": true, "!!set": true, "!!timestamp": true}

// maxDepth bounds the nesting of a template; real templates stay far below
// it, and the bound keeps hostile input from exhausting the stack.
const maxDepth = 100

// decoder turns yaml.Nodes into Nodes, reporting problems as it goes.
type decoder struct {
	p *parser
	// lenient keeps unknown Fn:: keys and tags as they are, for sections
	// CloudFormation does not evaluate (Metadata, Rules).
	lenient bool
}

// decode converts y; path is the JSON-pointer-like path CloudFormation
// prints in its null-value message. It returns nil for a node it rejected.
func (d *decoder) decode(y *yaml.Node, path string, depth int) *Node {
	p := d.p
	if depth > maxDepth {
		p.errorf(p.pos(y), "Template format error: the template nests values more than %d levels deep", maxDepth)
		return nil
	}
	switch y.Kind {
	case yaml.AliasNode:
		p.errorf(p.pos(y), "Template format error: YAML aliases are not allowed in templates; repeat the value of &%s instead of writing *%s", y.Value, y.Value)
		return nil
	case yaml.DocumentNode:
		if len(y.Content) == 0 {
			return nil
		}
		return d.decode(y.Content[0], path, depth)
	}
	tag := shortTag(y.Tag)
	var explicit bool
	switch {
	case y.Style&yaml.TaggedStyle != 0 || tag == "!":
		explicit = true
	case y.Kind == yaml.ScalarNode:
		// The resolver fills in the tag of every scalar (!!str, !!int...);
		// a local tag is the only other sign that the author wrote one.
		explicit = tag != "" && !strings.HasPrefix(tag, "!!")
	default:
		explicit = tag != "" && tag != "!!map" && tag != "!!seq"
	}
	switch {
	case explicit && tag != "!" && !strings.HasPrefix(tag, "!!"):
		return d.tagged(y, tag, path, depth)
	case explicit && forbiddenTags[tag]:
		p.errorf(p.pos(y), "Template format error: the YAML tag %s is not allowed in templates; write the value as a string", tag)
		return nil
	case explicit && y.Kind != yaml.ScalarNode && tag != "!" && tag != "!!map" && tag != "!!seq":
		p.errorf(p.pos(y), "Template format error: the YAML tag %s cannot be used on a list or mapping", tag)
		return nil
	}
	switch y.Kind {
	case yaml.ScalarNode:
		return d.scalar(y, tag, explicit, path)
	case yaml.SequenceNode:
		n := &Node{Kind: List, Pos: p.pos(y), Items: make([]*Node, 0, len(y.Content))}
		for i, c := range y.Content {
			n.Items = append(n.Items, d.decode(c, fmt.Sprintf("%s/%d", path, i), depth+1))
		}
		return n
	case yaml.MappingNode:
		return d.mapping(y, path, depth)
	}
	p.errorf(p.pos(y), "Template format error: unexpected YAML node")
	return nil
}

// scalar resolves a scalar by YAML 1.1 rules for plain text and explicit
// standard tags; quoted and block scalars are always strings.
func (d *decoder) scalar(y *yaml.Node, tag string, explicit bool, path string) *Node {
	p := d.p
	n := &Node{Kind: Scalar, Pos: p.pos(y), Value: y.Value}
	quoted := y.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0
	switch {
	case explicit && tag == "!":
		// The non-specific tag makes a plain scalar a string.
	case explicit && tag == "!!str":
	case explicit && tag == "!!bool":
		b, ok := yaml11Bool[y.Value]
		if !ok {
			p.errorf(n.Pos, "Template format error: %s is not a boolean; write true or false", quoteText(y.Value))
			return nil
		}
		n.Value = b
	case explicit && (tag == "!!int" || tag == "!!float"):
		if !jsonNumber.MatchString(y.Value) {
			p.errorf(n.Pos, "Template format error: %s is not a number", quoteText(y.Value))
			return nil
		}
		n.Value = json.Number(y.Value)
	case explicit && tag == "!!null", !explicit && !quoted && plainNull[y.Value]:
		p.errorf(n.Pos, "Template format error: [%s] 'null' values are not allowed in templates", pathOrRoot(path))
		return nil
	case explicit:
		p.errorf(n.Pos, "Template format error: unknown YAML tag %s", tag)
		return nil
	case quoted:
	default:
		if b, ok := yaml11Bool[y.Value]; ok {
			n.Value = b
		} else if jsonNumber.MatchString(y.Value) {
			n.Value = json.Number(y.Value)
		}
	}
	return n
}

func pathOrRoot(path string) string {
	if path == "" {
		return "/"
	}
	return path
}

// tagged decodes a node carrying a short-form tag.
func (d *decoder) tagged(y *yaml.Node, tag, path string, depth int) *Node {
	p := d.p
	at := p.pos(y)
	fn, ok := shortTags[tag]
	if tag == "!Condition" {
		fn, ok = keyCondition, true
	}
	if !ok {
		if !d.lenient {
			hint := ""
			if s := spell.Closest(tag, shortTagNames()); s != "" {
				hint = fmt.Sprintf(" (did you mean %s?)", s)
			}
			p.errorf(at, "Template format error: unknown tag %s%s; the short forms are %s", tag, hint, strings.Join(shortTagNames(), ", "))
			return nil
		}
		fn = "Fn::" + strings.TrimPrefix(tag, "!")
	}
	var arg *Node
	if y.Kind == yaml.ScalarNode {
		// A tagged scalar is text whatever it looks like: !GetAZs alone is
		// the empty string, !Ref 10 names "10".
		arg = &Node{Kind: Scalar, Pos: at, Value: y.Value}
	} else {
		// Decode the body as if untagged.
		body := *y
		body.Tag = ""
		body.Style &^= yaml.TaggedStyle
		arg = d.decode(&body, path+"/"+fn, depth+1)
		if arg == nil {
			return nil
		}
		arg.Pos = at
	}
	if fn == keyCondition {
		return &Node{Kind: Map, Pos: at, Fields: []Field{{Key: keyCondition, KeyPos: at, Value: arg}}}
	}
	if !d.lenient && !isFunction(fn) {
		p.unsupported(at, fn)
		return nil
	}
	return &Node{Kind: Call, Pos: at, Fn: fn, Arg: arg}
}

func shortTagNames() []string {
	return []string{"!Ref", "!Sub", "!GetAtt", "!Join", "!Select", "!Split", "!FindInMap", "!GetAZs",
		"!ImportValue", "!If", "!Equals", "!And", "!Or", "!Not", "!Base64", "!Cidr", "!Condition"}
}

// mapping decodes a mapping, rejecting merge keys and duplicate keys and
// recognising long-form function calls.
func (d *decoder) mapping(y *yaml.Node, path string, depth int) *Node {
	p := d.p
	n := &Node{Kind: Map, Pos: p.pos(y)}
	seen := map[string]int{}
	for i := 0; i+1 < len(y.Content); i += 2 {
		k, v := y.Content[i], y.Content[i+1]
		kp := p.pos(k)
		if k.Kind == yaml.ScalarNode && shortTag(k.Tag) == "!!merge" {
			p.errorf(kp, "Template format error: YAML merge keys (<<) are not allowed in templates; write the keys out")
			continue
		}
		if k.Kind != yaml.ScalarNode || k.Style&yaml.TaggedStyle != 0 {
			p.errorf(kp, "Template format error: a key must be a plain name")
			continue
		}
		if line, dup := seen[k.Value]; dup {
			p.errorf(kp, "Template format error: duplicate key %s (first written at line %d); keep only one", quoteText(k.Value), line)
			continue
		}
		seen[k.Value] = kp.Line
		val := d.decode(v, path+"/"+escapePointer(k.Value), depth+1)
		n.Fields = append(n.Fields, Field{Key: k.Value, KeyPos: kp, Value: val})
	}
	if d.lenient {
		if len(n.Fields) == 1 && looksLikeFunction(n.Fields[0].Key) && n.Fields[0].Value != nil {
			return &Node{Kind: Call, Pos: n.Pos, Fn: n.Fields[0].Key, Arg: n.Fields[0].Value}
		}
		return n
	}
	for _, f := range n.Fields {
		if !looksLikeFunction(f.Key) {
			continue
		}
		if len(n.Fields) > 1 {
			p.errorf(f.KeyPos, "Template format error: %s must be the only key of its mapping; move the other keys out of it", f.Key)
			return nil
		}
		if !isFunction(f.Key) {
			p.unsupported(f.KeyPos, f.Key)
			return nil
		}
		if f.Value == nil {
			return nil
		}
		return &Node{Kind: Call, Pos: n.Pos, Fn: f.Key, Arg: f.Value}
	}
	return n
}

// shortTag writes tag:yaml.org,2002:x as !!x, as authors write it.
func shortTag(tag string) string {
	if rest, ok := strings.CutPrefix(tag, "tag:yaml.org,2002:"); ok {
		return "!!" + rest
	}
	return tag
}

// escapePointer escapes a key for a JSON pointer.
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// quoteText quotes user text for a message, cut to a readable length and
// kept on one line.
func quoteText(s string) string {
	if r := []rune(s); len(r) > 60 {
		s = string(r[:60]) + "…"
	}
	return fmt.Sprintf("%q", s)
}

// oneLine keeps a message on one line whatever text it quotes.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r':
			return ' '
		case unicode.IsControl(r) && r != '\t':
			return '?'
		}
		return r
	}, s)
}
