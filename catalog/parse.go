package catalog

import (
	"errors"
	"io/fs"
	"path"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/slipway/slipway/yamlpos"
)

// The keys of blueprint.yml and of each of its parameters; unknown keys are
// reported with the closest of these.
var (
	topKeys       = []string{"name", "description", "pipeline", "content", "parameters"}
	parameterKeys = []string{"name", "description", "default", "allowed_values", "pattern", "constraint_description"}
)

var (
	// blueprintName is what a blueprint may be called: it is typed on
	// command lines and appears in URLs.
	blueprintName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	// parameterName is CloudFormation's rule for parameter names, since
	// each blueprint parameter is one of the pipeline template's.
	parameterName = regexp.MustCompile(`^[A-Za-z0-9]{1,255}$`)
)

// parser reads one blueprint.yml.
type parser struct {
	yamlpos.Doc
	// fsys is the blueprint's directory, where the files blueprint.yml
	// names must be.
	fsys fs.FS
}

// parse reads blueprint.yml (file is its name in messages) against the
// blueprint's directory fsys.
func parse(fsys fs.FS, file string, data []byte) (*Blueprint, error) {
	p := &parser{
		Doc:  yamlpos.Doc{File: file, Data: data, Format: "a blueprint.yml", ColonExample: "description: 'Go: a web service'"},
		fsys: fsys,
	}
	return yamlpos.Read(&p.Doc, p.blueprint)
}

func (p *parser) blueprint(root *yaml.Node) *Blueprint {
	b := &Blueprint{}
	if root == nil {
		p.ErrorAt(yamlpos.Pos{Line: 1, Column: 1}, "the file is empty; a blueprint.yml has name:, description:, pipeline: (the pipeline template), content: (the starter content's directory) and parameters:")
		return b
	}
	top := yamlpos.Resolve(root)
	if top.Kind != yaml.MappingNode {
		p.Errorf(root, "a blueprint.yml is a mapping of keys such as name: and pipeline:, found %s", yamlpos.Describe(top))
		return b
	}
	seen := map[string]bool{}
	for _, e := range p.Entries(top) {
		seen[e.Name] = true
		switch e.Name {
		case "name":
			if s, ok := p.text(e); ok {
				if !blueprintName.MatchString(s) {
					p.Errorf(e.Raw, "name %q is not a blueprint name; use lower-case letters, digits and hyphens, starting with a letter, such as go-service", yamlpos.Short(s))
				}
				b.Name = s
			}
		case "description":
			b.Description, _ = p.text(e)
		case "pipeline":
			b.Pipeline = p.path(e, false)
		case "content":
			b.ContentDir = p.path(e, true)
		case "parameters":
			b.Parameters = p.parameters(e)
		default:
			p.UnknownKey(e, "blueprint.yml", topKeys, "")
		}
	}
	for _, k := range []string{"name", "description", "pipeline", "content"} {
		if !seen[k] {
			p.Errorf(top, "missing %s; %s", k, missingHint[k])
		}
	}
	return b
}

// missingHint says what each required key of blueprint.yml holds.
var missingHint = map[string]string{
	"name":        "add the blueprint's name, such as name: go-service",
	"description": "add a sentence saying what an application made from the blueprint is",
	"pipeline":    "add the path of the pipeline template in the blueprint's directory, such as pipeline: app/cloudformation/pipeline.yml",
	"content":     "add the directory of the starter content in the blueprint's directory, such as content: app",
}

// text reads a value that must be a single, non-empty value; numbers and
// booleans keep their source text.
func (p *parser) text(e yamlpos.Entry) (string, bool) {
	v := e.Val
	if v.Kind != yaml.ScalarNode || yamlpos.IsNull(v) || v.Value == "" {
		p.Errorf(e.Raw, "%s must be a single value, found %s", e.Name, yamlpos.Describe(v))
		return "", false
	}
	return v.Value, true
}

// path reads a path in the blueprint's directory and checks that a file,
// or with dir a directory, is there.
func (p *parser) path(e yamlpos.Entry, dir bool) string {
	s, ok := p.text(e)
	if !ok {
		return ""
	}
	clean := strings.TrimSuffix(s, "/")
	switch {
	case !fs.ValidPath(clean) || path.Clean(clean) != clean:
		p.Errorf(e.Raw, "%s %q must be a path inside the blueprint's directory, written with / and without . or .. parts, such as %s", e.Name, yamlpos.Short(s), pathExample(dir))
		return ""
	case clean == "." && dir:
		p.Errorf(e.Raw, "content must be a directory inside the blueprint's directory, such as app, not the directory itself: %s would be part of every application", FileName)
		return ""
	}
	info, err := fs.Stat(p.fsys, clean)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p.Errorf(e.Raw, "%s %q is not in the blueprint's directory", e.Name, yamlpos.Short(s))
		return ""
	case err != nil:
		p.Errorf(e.Raw, "%s %q cannot be read: %v", e.Name, yamlpos.Short(s), err)
		return ""
	case dir && !info.IsDir():
		p.Errorf(e.Raw, "content %q is a file; name the directory whose files are the repository's first commit", yamlpos.Short(s))
		return ""
	case !dir && info.IsDir():
		p.Errorf(e.Raw, "pipeline %q is a directory; name the pipeline template itself, such as %s", yamlpos.Short(s), pathExample(false))
		return ""
	}
	return clean
}

func pathExample(dir bool) string {
	if dir {
		return "app"
	}
	return "app/cloudformation/pipeline.yml"
}

// parameters reads the list of parameters.
func (p *parser) parameters(e yamlpos.Entry) []Parameter {
	if yamlpos.IsNull(e.Val) {
		return nil
	}
	if e.Val.Kind != yaml.SequenceNode {
		p.Errorf(e.Raw, "parameters must be a list, each item a mapping with name:, description: and default:, allowed_values: or pattern:, found %s", yamlpos.Describe(e.Val))
		return nil
	}
	var out []Parameter
	first := map[string]int{}
	for _, raw := range e.Val.Content {
		m := yamlpos.Resolve(raw)
		if m.Kind != yaml.MappingNode {
			p.Errorf(raw, "each parameter must be a mapping with name:, description: and default:, allowed_values: or pattern:, found %s", yamlpos.Describe(m))
			continue
		}
		prm, ok := p.parameter(m)
		if !ok {
			continue
		}
		if line, dup := first[prm.Name]; dup {
			p.ErrorAt(prm.at, "parameter %s is declared twice (first at line %d); keep one", prm.Name, line)
			continue
		}
		first[prm.Name] = prm.at.Line
		out = append(out, prm)
	}
	return out
}

// parameter reads one parameter; ok is false when it has no usable name.
func (p *parser) parameter(m *yaml.Node) (Parameter, bool) {
	prm := Parameter{at: yamlpos.At(m)}
	var defaultAt *yaml.Node
	// named is whether a name: was written, even one refused: its problem
	// is then reported, not its absence.
	var named bool
	for _, e := range p.Entries(m) {
		switch e.Name {
		case "name":
			named = true
			if s, ok := p.text(e); ok {
				if !parameterName.MatchString(s) {
					p.Errorf(e.Raw, "parameter name %q must be letters and digits only, as a CloudFormation parameter's, such as %s", yamlpos.Short(s), NameParameter)
				} else {
					prm.Name, prm.at = s, yamlpos.At(e.Raw)
				}
			}
		case "description":
			prm.Description, _ = p.text(e)
		case "default":
			// An empty default is a value, so it must be written as one:
			// a bare "default:" more likely lost its value.
			if e.Val.Kind != yaml.ScalarNode || yamlpos.IsNull(e.Val) {
				p.Errorf(e.Raw, "default must be a single value, found %s; write default: \"\" for an empty value, or leave default out to make the parameter required", yamlpos.Describe(e.Val))
				continue
			}
			v := e.Val.Value
			prm.Default, defaultAt = &v, e.Raw
		case "allowed_values":
			if e.Val.Kind != yaml.SequenceNode || len(e.Val.Content) == 0 {
				p.Errorf(e.Raw, "allowed_values must be a list of the values allowed, such as [staging, production], found %s", yamlpos.Describe(e.Val))
				continue
			}
			prm.AllowedValues = []string{}
			for _, it := range p.Items(e.Val, "allowed_values", "value", nil) {
				prm.AllowedValues = append(prm.AllowedValues, it.Text)
			}
		case "pattern":
			s, ok := p.text(e)
			if !ok {
				continue
			}
			// Anchored, since CloudFormation's AllowedPattern matches the
			// whole value.
			re, err := regexp.Compile("^(?:" + s + ")$")
			if err != nil {
				p.Errorf(e.Raw, "pattern %q is not a regular expression: %s", yamlpos.Short(s), strings.TrimPrefix(err.Error(), "error parsing regexp: "))
				continue
			}
			prm.Pattern, prm.re = s, re
		case "constraint_description":
			prm.ConstraintDescription, _ = p.text(e)
		default:
			p.UnknownKey(e, "a parameter", parameterKeys, "")
		}
	}
	if prm.Name == "" {
		if !named {
			p.Errorf(m, "a parameter needs a name:, the name of a parameter of the pipeline template, such as name: %s", NameParameter)
		}
		return prm, false
	}
	if prm.Description == "" {
		p.Errorf(m, "parameter %s needs a description: saying what it sets, for whoever makes an application from the blueprint", prm.Name)
	}
	if prm.Default != nil {
		if problem := prm.check(*prm.Default); problem != "" {
			p.Errorf(defaultAt, "the default of parameter %s is refused by its own constraints: %s", prm.Name, problem)
		}
	}
	return prm, true
}
