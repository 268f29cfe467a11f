package template

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/slipway/slipway/spell"
)

// maxTemplateSize is the largest template CloudFormation accepts (through
// S3; inline bodies are limited to 51,200 bytes, a transport limit this
// package does not impose).
const maxTemplateSize = 1 << 20

// The section limits of CloudFormation.
const (
	maxParameters = 200
	maxMappings   = 200
	maxResources  = 500
	maxOutputs    = 200
)

// sections lists the top-level keys, in the order CloudFormation documents
// them.
var sections = []string{"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Rules",
	"Mappings", "Conditions", "Transform", "Resources", "Outputs"}

var resourceKeys = []string{"Type", "Properties", "DependsOn", "Condition", "DeletionPolicy",
	"UpdateReplacePolicy", "CreationPolicy", "UpdatePolicy", "Metadata"}

var outputKeys = []string{"Description", "Value", "Export", "Condition"}

var (
	alphanumeric = regexp.MustCompile(`^[A-Za-z0-9]+$`)
	// resourceType accepts AWS::Service::Resource, third-party
	// Org::Service::Resource (with an optional ::MODULE), and
	// Custom::Name.
	resourceType = regexp.MustCompile(`^(?:[A-Za-z0-9]+::[A-Za-z0-9]+::[A-Za-z0-9]+(?:::MODULE)?|Custom::[A-Za-z0-9_@-]{1,60})$`)
)

// pseudoParams are the names Ref accepts besides parameters and resources.
var pseudoParams = []string{"AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition",
	"AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix"}

// Parse decodes a template (YAML, or JSON, which is YAML) and checks its
// structure: sections, parameters, mappings, conditions, resource
// attributes, outputs, the arguments and nesting of every intrinsic function,
// references to parameters, resources and conditions, and cycles between
// resources. file is only used in positions. On any problem it returns a nil
// Template and an Errors value listing every problem.
func Parse(file string, data []byte) (*Template, error) {
	p := &parser{file: file, data: data}
	t := p.parse()
	if len(p.errs) > 0 {
		return nil, p.errs.sorted()
	}
	return t, nil
}

// parser holds the state of one Parse call.
type parser struct {
	file string
	data []byte
	errs Errors
	t    *Template
	// resources, params and conds are the names each section declares,
	// known before any reference is checked.
	resources    map[string]bool
	params       map[string]bool
	conds        map[string]bool
	mappingNames map[string]bool
	// condDeps holds each condition's references to other conditions.
	condDeps map[string][]string
}

func (p *parser) errorf(at Pos, format string, args ...any) {
	p.errs = append(p.errs, &Error{Pos: at, Msg: oneLine(fmt.Sprintf(format, args...))})
}

func (p *parser) pos(y *yaml.Node) Pos {
	if y == nil || y.Line <= 0 {
		return Pos{File: p.file, Line: 1, Col: 1}
	}
	return Pos{File: p.file, Line: y.Line, Col: max(y.Column, 1)}
}

func (p *parser) unsupported(at Pos, fn string) {
	p.errorf(at, "Template format error: Encountered unsupported function: %s Supported functions are: [%s]", fn, strings.Join(supported, ", "))
}

func (p *parser) parse() *Template {
	p.t = &Template{
		file:       p.file,
		Parameters: map[string]*Parameter{},
		Mappings:   map[string]map[string]map[string]any{},
		Conditions: map[string]*Node{},
		Resources:  map[string]*Resource{},
		Outputs:    map[string]*Output{},
		refs:       map[string][]reference{},
		patterns:   map[string]*regexp.Regexp{},
	}
	start := Pos{File: p.file, Line: 1, Col: 1}
	if len(p.data) > maxTemplateSize {
		p.errorf(start, "Template format error: the template is %d bytes; a template may be at most %d bytes", len(p.data), maxTemplateSize)
		return nil
	}
	root, ok := p.load()
	if !ok {
		return nil
	}
	if root == nil {
		p.errorf(start, "Template format error: At least one Resources member must be defined.")
		return nil
	}
	if root.Kind != yaml.MappingNode || root.Tag != "" && shortTag(root.Tag) != "!!map" {
		p.errorf(p.pos(root), "Template format error: a template must be a mapping of sections such as Resources:, found %s", describeYAML(root))
		return nil
	}
	top := p.sections(root)
	p.collectNames(top)
	for _, name := range sections {
		f, ok := top[name]
		if !ok {
			continue
		}
		switch name {
		case "AWSTemplateFormatVersion":
			p.formatVersion(f)
		case "Description":
			p.description(f)
		case "Metadata":
			p.t.Metadata = f.Value
		case "Rules":
			p.t.Rules = f.Value
		case "Transform":
			p.transform(f)
		case "Parameters":
			p.parameters(f)
		case "Mappings":
			p.mappings(f)
		case "Conditions":
			p.conditions(f)
		case "Resources":
			p.resourcesSection(f)
		case "Outputs":
			p.outputs(f)
		}
	}
	if _, ok := top["Resources"]; !ok {
		p.errorf(start, "Template format error: At least one Resources member must be defined.")
	}
	p.resourceCycles()
	p.conditionCycles()
	return p.t
}

// load parses the YAML and returns the root node of the single document,
// nil when the document is empty; ok is false after a syntax error.
func (p *parser) load() (root *yaml.Node, ok bool) {
	var docs []yaml.Node
	if err := yaml.Load(p.data, &docs, yaml.WithV3Defaults(), yaml.WithAllDocuments()); err != nil {
		p.syntaxError(err)
		return nil, false
	}
	for i := 1; i < len(docs); i++ {
		if !emptyDocument(&docs[i]) {
			p.errorf(p.pos(&docs[i]), "Template format error: a second YAML document starts here; a template is one document, so remove this --- line or what follows it")
			return nil, false
		}
	}
	if len(docs) == 0 || emptyDocument(&docs[0]) {
		return nil, true
	}
	return docs[0].Content[0], true
}

func emptyDocument(d *yaml.Node) bool {
	if len(d.Content) == 0 {
		return true
	}
	c := d.Content[0]
	return c.Kind == yaml.ScalarNode && c.Style == 0 && plainNull[c.Value] && c.Anchor == ""
}

// syntaxError reports a YAML syntax error with CloudFormation's message,
// which names only the place; JSON templates get the JSON wording.
func (p *parser) syntaxError(err error) {
	at := Pos{File: p.file, Line: 1, Col: 1}
	var many *yaml.LoadErrors
	var one *yaml.LoadError
	var le *yaml.LoadError
	switch {
	case errors.As(err, &many) && len(many.Errors) > 0:
		le = many.Errors[0]
	case errors.As(err, &one):
		le = one
	}
	if le != nil {
		if le.Mark.Line > 0 {
			at.Line, at.Col = le.Mark.Line, max(le.Mark.Column, 1)
		} else {
			// Encoding errors come from the reader, which knows only the
			// byte offset.
			at.Line, at.Col = offsetPos(p.data, le.Mark.Index)
		}
	}
	format := "YAML"
	if strings.HasPrefix(strings.TrimLeft(strings.TrimPrefix(string(p.data), "\ufeff"), " \t\r\n"), "{") {
		format = "JSON"
	}
	p.errorf(at, "Template format error: %s not well-formed. (line %d, column %d)", format, at.Line, at.Col)
}

// offsetPos converts a byte offset into a line and a column in characters.
func offsetPos(data []byte, off int) (line, col int) {
	if off < 0 || off > len(data) {
		return 1, 1
	}
	before := string(data[:off])
	line = 1 + strings.Count(before, "\n")
	lineStart := strings.LastIndexByte(before, '\n') + 1
	return line, 1 + len([]rune(before[lineStart:]))
}

func describeYAML(y *yaml.Node) string {
	switch y.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "the value " + quoteText(y.Value)
	}
	return "something else"
}

// sections decodes the top-level mapping into its sections, each with the
// decoding its section needs.
func (p *parser) sections(root *yaml.Node) map[string]Field {
	top := map[string]Field{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		kp := p.pos(k)
		if k.Kind != yaml.ScalarNode || k.Style&yaml.TaggedStyle != 0 || shortTag(k.Tag) == "!!merge" {
			p.errorf(kp, "Template format error: a section name must be a plain name such as Resources")
			continue
		}
		name := k.Value
		if !contains(sections, name) {
			hint := ""
			if s := spell.Closest(name, sections); s != "" {
				hint = fmt.Sprintf(" (did you mean %s?)", s)
			}
			p.errorf(kp, "Template format error: Invalid template property or properties [%s]%s", name, hint)
			continue
		}
		if prev, dup := top[name]; dup {
			p.errorf(kp, "Template format error: duplicate key %s (first written at line %d); keep only one", quoteText(name), prev.KeyPos.Line)
			continue
		}
		d := &decoder{p: p, lenient: name == "Metadata" || name == "Rules"}
		top[name] = Field{Key: name, KeyPos: kp, Value: d.decode(v, "/"+name, 1)}
	}
	return top
}

// collectNames records the names each section declares, so that references
// can be checked in any order.
func (p *parser) collectNames(top map[string]Field) {
	p.resources, p.params, p.conds, p.mappingNames = map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	p.condDeps = map[string][]string{}
	for section, names := range map[string]map[string]bool{"Resources": p.resources, "Parameters": p.params,
		"Conditions": p.conds, "Mappings": p.mappingNames} {
		if f, ok := top[section]; ok && f.Value != nil && f.Value.Kind == Map {
			for _, e := range f.Value.Fields {
				names[e.Key] = true
			}
		}
	}
}

func (p *parser) formatVersion(f Field) {
	s, ok := f.Value.Text()
	if !ok || s != "2010-09-09" {
		p.errorf(valuePos(f), "Template format error: unsupported value for AWSTemplateFormatVersion.")
		return
	}
	p.t.FormatVersion = s
}

func (p *parser) description(f Field) {
	n := f.Value
	if n == nil {
		return
	}
	s, ok := n.Text()
	if !ok {
		p.errorf(n.Pos, "Template format error: Every Description member must be a string.")
		return
	}
	if len(s) > 1024 {
		p.errorf(n.Pos, "Template format error: Description must be no longer than 1024 bytes; it is %d bytes", len(s))
		return
	}
	p.t.Description = s
}

func (p *parser) transform(f Field) {
	n := f.Value
	if n == nil {
		return
	}
	one := func(m *Node) {
		if s, ok := m.Text(); ok {
			p.t.Transform = append(p.t.Transform, s)
			return
		}
		if name, ok := m.Get("Name").Text(); ok && m.Kind == Map {
			p.t.Transform = append(p.t.Transform, name)
			return
		}
		p.errorf(m.Pos, "Template format error: a Transform must be a transform name such as AWS::Serverless-2016-10-31, or a list of them")
	}
	if n.Kind == List {
		for _, it := range n.Items {
			if it != nil {
				one(it)
			}
		}
		return
	}
	one(n)
}

// valuePos is where a field's value is, or its key when the value was
// rejected.
func valuePos(f Field) Pos {
	if f.Value != nil {
		return f.Value.Pos
	}
	return f.KeyPos
}

// section checks that a section is a mapping and within its limit (0: no
// limit), and returns its entries.
func (p *parser) section(f Field, limit int, noun string) []Field {
	n := f.Value
	if n == nil {
		return nil
	}
	if n.Kind != Map {
		p.errorf(n.Pos, "Template format error: %s must be a mapping of logical IDs to declarations", f.Key)
		return nil
	}
	if limit > 0 && len(n.Fields) > limit {
		p.errorf(f.KeyPos, "Template format error: Number of %s, %d, is greater than maximum allowed, %d", noun, len(n.Fields), limit)
	}
	return n.Fields
}

// name checks a logical ID.
func (p *parser) name(e Field, noun string) bool {
	if !alphanumeric.MatchString(e.Key) {
		p.errorf(e.KeyPos, "Template format error: %s name %s is non alphanumeric.", noun, e.Key)
		return false
	}
	return true
}

// noFunctions reports intrinsic functions where CloudFormation reads only
// literals.
func (p *parser) noFunctions(n *Node, where string) bool {
	ok := true
	walk(n, func(m *Node) bool {
		if m.Kind == Call {
			p.errorf(m.Pos, "Template format error: %s cannot be used in %s; write a literal value", m.Fn, where)
			ok = false
			return false
		}
		return true
	})
	return ok
}

// walk calls fn on n and, while fn returns true, on everything inside it.
func walk(n *Node, fn func(*Node) bool) {
	if n == nil || !fn(n) {
		return
	}
	for _, it := range n.Items {
		walk(it, fn)
	}
	for _, f := range n.Fields {
		walk(f.Value, fn)
	}
	walk(n.Arg, fn)
}

func (p *parser) mappings(f Field) {
	for _, m := range p.section(f, maxMappings, "mappings") {
		if !p.name(m, "Mapping") || m.Value == nil {
			continue
		}
		if m.Value.Kind != Map {
			p.errorf(m.Value.Pos, "Template format error: Every Mappings member %s must be a map", m.Key)
			continue
		}
		top := map[string]map[string]any{}
		for _, k := range m.Value.Fields {
			if k.Value == nil {
				continue
			}
			if k.Value.Kind != Map {
				p.errorf(k.Value.Pos, "Template format error: Every Mappings member %s must be a map", k.Key)
				continue
			}
			second := map[string]any{}
			for _, a := range k.Value.Fields {
				if v, ok := p.mappingValue(a.Value); ok {
					second[a.Key] = v
				}
			}
			top[k.Key] = second
		}
		p.t.Mappings[m.Key] = top
	}
}

// mappingValue reads a mapping attribute: a literal or a list of literals.
func (p *parser) mappingValue(n *Node) (any, bool) {
	if n == nil {
		return nil, false
	}
	switch n.Kind {
	case Scalar:
		return n.Value, true
	case List:
		out := make([]any, 0, len(n.Items))
		for _, it := range n.Items {
			if it == nil {
				return nil, false
			}
			if it.Kind != Scalar {
				p.errorf(it.Pos, "Template format error: Every Mappings attribute must be a String or a List.")
				return nil, false
			}
			out = append(out, it.Value)
		}
		return out, true
	}
	p.errorf(n.Pos, "Template format error: Every Mappings attribute must be a String or a List.")
	return nil, false
}

func (p *parser) conditions(f Field) {
	for _, c := range p.section(f, 0, "conditions") {
		if !p.name(c, "Condition") || c.Value == nil {
			continue
		}
		p.t.ConditionOrder = append(p.t.ConditionOrder, c.Key)
		p.t.Conditions[c.Key] = c.Value
		w := &walker{p: p, sect: inConditions, owner: c.Key}
		if !isConditionExpr(c.Value) {
			p.errorf(c.Value.Pos, "Template format error: Conditions can only be boolean operations on parameters and other conditions")
			continue
		}
		w.condition(c.Value)
	}
}

// isConditionExpr reports a node that yields a boolean: a condition
// function or a {Condition: Name} reference.
func isConditionExpr(n *Node) bool {
	if n == nil {
		return false
	}
	if n.Kind == Call {
		return n.Fn == fnEquals || n.Fn == fnAnd || n.Fn == fnOr || n.Fn == fnNot
	}
	return n.Kind == Map && len(n.Fields) == 1 && n.Fields[0].Key == keyCondition
}

func (p *parser) resourcesSection(f Field) {
	entries := p.section(f, maxResources, "resources")
	if f.Value != nil && f.Value.Kind == Map && len(entries) == 0 {
		p.errorf(f.KeyPos, "Template format error: At least one Resources member must be defined.")
		return
	}
	for _, e := range entries {
		if !p.name(e, "Resource") || e.Value == nil {
			continue
		}
		if p.params[e.Key] {
			p.errorf(e.KeyPos, "Template error: all resources and parameters must have unique names. Common name(s):[%s]", e.Key)
		}
		if r := p.resource(e); r != nil {
			p.t.Resources[e.Key] = r
			p.t.ResourceOrder = append(p.t.ResourceOrder, e.Key)
		}
	}
}

func (p *parser) resource(e Field) *Resource {
	n := e.Value
	path := "/Resources/" + escapePointer(e.Key)
	if n.Kind != Map {
		p.errorf(n.Pos, "Template format error: Any Resources member must be a JSON object.")
		return nil
	}
	r := &Resource{Logical: e.Key, Pos: e.KeyPos}
	w := &walker{p: p, sect: inResources, owner: e.Key}
	hasType := false
	for _, a := range n.Fields {
		v := a.Value
		if !contains(resourceKeys, a.Key) {
			hint := ""
			if s := spell.Closest(a.Key, resourceKeys); s != "" {
				hint = fmt.Sprintf(" (did you mean %s?)", s)
			}
			p.errorf(a.KeyPos, "Template format error: Invalid template resource property '%s'%s", a.Key, hint)
			continue
		}
		if v == nil {
			if a.Key == "Type" {
				hasType = true
			}
			continue
		}
		switch a.Key {
		case "Type":
			hasType = true
			s, ok := v.Text()
			if !ok || !resourceType.MatchString(s) {
				p.errorf(v.Pos, "Template format error: Unrecognized resource types: [%s]", describeNode(v))
				continue
			}
			r.Type = s
		case "Properties":
			if v.Kind != Map {
				p.errorf(v.Pos, "Template format error: the Properties of resource %s must be a mapping of property names to values", e.Key)
				continue
			}
			r.Properties = v
			w.value(v, valueFns, "")
		case "Metadata", "CreationPolicy", "UpdatePolicy":
			if v.Kind != Map {
				p.errorf(v.Pos, "Template format error: the %s of resource %s must be a mapping", a.Key, e.Key)
				continue
			}
			w.value(v, valueFns, "")
			switch a.Key {
			case "Metadata":
				r.Metadata = v
			case "CreationPolicy":
				r.CreationPolicy = v
			default:
				r.UpdatePolicy = v
			}
		case "DependsOn":
			r.DependsOn = p.dependsOn(w, v)
		case "Condition":
			s, ok := p.literal(v, "the Condition of a resource")
			if !ok {
				continue
			}
			if !p.conds[s] {
				p.errorf(v.Pos, "Template format error: Unresolved condition dependencies [%s] in the Resources block of the template", s)
				continue
			}
			r.Condition = s
		case "DeletionPolicy":
			r.DeletionPolicy = p.policy(e.Key, a.Key, v, "Delete", "Retain", "RetainExceptOnCreate", "Snapshot")
		case "UpdateReplacePolicy":
			r.UpdateReplacePolicy = p.policy(e.Key, a.Key, v, "Delete", "Retain", "Snapshot")
		}
	}
	if !hasType {
		p.errorf(e.KeyPos, "Template format error: [%s] Every Resources object must contain a Type member.", path)
	}
	return r
}

// literal reads a literal string where CloudFormation accepts no function.
func (p *parser) literal(n *Node, where string) (string, bool) {
	if n.Kind == Call {
		p.errorf(n.Pos, "Template format error: %s cannot be used in %s; write a literal value", n.Fn, where)
		return "", false
	}
	s, ok := n.Text()
	if !ok {
		p.errorf(n.Pos, "Template format error: %s must be a string, found %s", where, describeNode(n))
	}
	return s, ok
}

func (p *parser) policy(resource, key string, n *Node, allowed ...string) string {
	s, ok := p.literal(n, "the "+key+" of a resource")
	if !ok {
		return ""
	}
	if !contains(allowed, s) {
		p.errorf(n.Pos, "Template format error: Unrecognized %s %s for resource %s; use one of %s", key, s, resource, strings.Join(allowed, ", "))
		return ""
	}
	return s
}

func (p *parser) dependsOn(w *walker, n *Node) []string {
	var items []*Node
	switch n.Kind {
	case Scalar:
		items = []*Node{n}
	case List:
		items = n.Items
	default:
		p.errorf(n.Pos, "Template format error: DependsOn must be a string or list of strings.")
		return nil
	}
	var out []string
	for _, it := range items {
		if it == nil {
			continue
		}
		s, ok := it.Text()
		if !ok || it.Kind != Scalar {
			p.errorf(it.Pos, "Template format error: Every DependsOn value must be a string.")
			continue
		}
		if !p.resources[s] {
			p.errorf(it.Pos, "Template format error: Unresolved resource dependencies [%s] in the Resources block of the template", s)
			continue
		}
		out = append(out, s)
		w.record(reference{target: s, pos: it.Pos})
	}
	return out
}

func (p *parser) outputs(f Field) {
	for _, e := range p.section(f, maxOutputs, "outputs") {
		if !p.name(e, "Output") || e.Value == nil {
			continue
		}
		if o := p.output(e); o != nil {
			p.t.Outputs[e.Key] = o
			p.t.OutputOrder = append(p.t.OutputOrder, e.Key)
		}
	}
}

func (p *parser) output(e Field) *Output {
	n := e.Value
	if n.Kind != Map {
		p.errorf(n.Pos, "Template format error: Any Outputs member must be a JSON object.")
		return nil
	}
	o := &Output{Name: e.Key, Pos: e.KeyPos}
	w := &walker{p: p, sect: inOutputs, owner: e.Key}
	hasValue := false
	for _, a := range n.Fields {
		if !contains(outputKeys, a.Key) {
			p.errorf(a.KeyPos, "Template format error: Invalid output property or properties [%s]", a.Key)
			continue
		}
		v := a.Value
		if a.Key == "Value" {
			hasValue = true
		}
		if v == nil {
			continue
		}
		switch a.Key {
		case "Description":
			if s, ok := p.literal(v, "the Description of an output"); ok {
				o.Description = s
			}
		case "Condition":
			s, ok := p.literal(v, "the Condition of an output")
			if !ok {
				continue
			}
			if !p.conds[s] {
				p.errorf(v.Pos, "Template format error: Unresolved condition dependencies [%s] in the Outputs block of the template", s)
				continue
			}
			o.Condition = s
		case "Value":
			switch v.Kind {
			case List:
				p.errorf(v.Pos, "Template format error: The Value field of every Outputs member must evaluate to a String and not a List.")
				continue
			case Map:
				p.errorf(v.Pos, "Template format error: The Value field of every Outputs member must evaluate to a String and not a Map.")
				continue
			}
			o.Value = v
			w.value(v, valueFns, "")
		case "Export":
			name := v.Get("Name")
			if v.Kind != Map || len(v.Fields) != 1 || name == nil {
				p.errorf(v.Pos, "Template format error: the Export of output %s must be a mapping with only a Name", e.Key)
				continue
			}
			o.ExportName = name
			ew := &walker{p: p, sect: inOutputs, owner: e.Key,
				noResources: fmt.Sprintf("Template error: the Export Name of output %s must not depend on any resources", e.Key)}
			ew.value(name, valueFns, "")
		}
	}
	if !hasValue {
		p.errorf(e.KeyPos, "Template format error: Every Outputs member must contain a Value object")
	}
	return o
}

func describeNode(n *Node) string {
	switch n.Kind {
	case List:
		return "a list"
	case Map:
		return "a mapping"
	case Call:
		return n.Fn
	}
	s, _ := n.Text()
	return s
}
