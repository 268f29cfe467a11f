package template

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v4"

	"github.com/slipway/slipway/spell"
)

var parameterKeys = []string{"Type", "Default", "AllowedValues", "AllowedPattern", "MinLength", "MaxLength",
	"MinValue", "MaxValue", "NoEcho", "Description", "ConstraintDescription"}

// awsTypes are the AWS-specific parameter types. AWS checks their values
// against the account; here they are plain strings, as there is no account
// to check against.
var awsTypes = []string{
	"AWS::EC2::AvailabilityZone::Name", "AWS::EC2::Image::Id", "AWS::EC2::Instance::Id",
	"AWS::EC2::KeyPair::KeyName", "AWS::EC2::SecurityGroup::GroupName", "AWS::EC2::SecurityGroup::Id",
	"AWS::EC2::Subnet::Id", "AWS::EC2::Volume::Id", "AWS::EC2::VPC::Id", "AWS::Route53::HostedZone::Id",
}

// typeKind is how a parameter type binds.
type typeKind uint8

const (
	kindString typeKind = iota + 1
	kindNumber
	kindStringList
	kindNumberList
)

// parameterKind classifies a parameter type; ok is false for an unknown
// type. SSM parameter types bind the value given as it is: there is no
// Parameter Store to look the name up in, so the caller passes the value.
func parameterKind(typ string) (typeKind, bool) {
	switch typ {
	case "String":
		return kindString, true
	case "Number":
		return kindNumber, true
	case "CommaDelimitedList":
		return kindStringList, true
	case "List<Number>":
		return kindNumberList, true
	case "AWS::SSM::Parameter::Name":
		return kindString, true
	}
	if inner, ok := strings.CutPrefix(typ, "AWS::SSM::Parameter::Value<"); ok && strings.HasSuffix(inner, ">") {
		inner = strings.TrimSuffix(inner, ">")
		switch {
		case inner == "String" || slices.Contains(awsTypes, inner):
			return kindString, true
		case inner == "CommaDelimitedList" || inner == "List<String>":
			return kindStringList, true
		}
		if elem, ok := listOf(inner); ok && slices.Contains(awsTypes, elem) {
			return kindStringList, true
		}
		return 0, false
	}
	if slices.Contains(awsTypes, typ) {
		return kindString, true
	}
	if elem, ok := listOf(typ); ok && slices.Contains(awsTypes, elem) {
		return kindStringList, true
	}
	return 0, false
}

func listOf(typ string) (string, bool) {
	if s, ok := strings.CutPrefix(typ, "List<"); ok && strings.HasSuffix(s, ">") {
		return strings.TrimSuffix(s, ">"), true
	}
	return "", false
}

func (p *parser) parameters(f Field) {
	for _, e := range p.section(f, maxParameters, "parameters") {
		if !p.name(e, "Parameter") || e.Value == nil {
			continue
		}
		if e.Value.Kind != Map {
			p.errorf(e.Value.Pos, "Template format error: Any Parameters member must be a JSON object.")
			continue
		}
		if !p.noFunctions(e.Value, "Parameters") {
			continue
		}
		if prm := p.parameter(e); prm != nil {
			p.t.Parameters[e.Key] = prm
			p.t.ParameterOrder = append(p.t.ParameterOrder, e.Key)
		}
	}
}

func (p *parser) parameter(e Field) *Parameter {
	prm := &Parameter{Name: e.Key, Pos: e.KeyPos}
	var minLen, maxLen, minVal, maxVal Field
	ok := true
	for _, a := range e.Value.Fields {
		if !slices.Contains(parameterKeys, a.Key) {
			hint := ""
			if s := spell.Closest(a.Key, parameterKeys); s != "" {
				hint = fmt.Sprintf(" (did you mean %s?)", s)
			}
			p.errorf(a.KeyPos, "Template format error: Invalid template parameter property '%s'%s", a.Key, hint)
			ok = false
			continue
		}
		v := a.Value
		if v == nil {
			ok = false
			continue
		}
		switch a.Key {
		case "Type":
			prm.Type, _ = p.paramText(e.Key, a)
		case "Default":
			if s, good := p.paramText(e.Key, a); good {
				prm.Default = &s
			}
		case "Description":
			prm.Description, _ = p.paramText(e.Key, a)
		case "ConstraintDescription":
			prm.ConstraintDescription, _ = p.paramText(e.Key, a)
		case "AllowedPattern":
			prm.AllowedPattern, _ = p.paramText(e.Key, a)
		case "AllowedValues":
			if v.Kind != List {
				p.errorf(v.Pos, "Template format error: Every AllowedValues value must be a list of strings.")
				ok = false
				continue
			}
			prm.AllowedValues = []string{}
			for _, it := range v.Items {
				s, good := it.Text()
				if !good {
					if it != nil {
						p.errorf(it.Pos, "Template format error: Every AllowedValues value must be a string.")
					}
					ok = false
					continue
				}
				prm.AllowedValues = append(prm.AllowedValues, s)
			}
		case "NoEcho":
			s, _ := v.Text()
			switch strings.ToLower(s) {
			case "true":
				prm.NoEcho = true
			case "false":
			default:
				p.errorf(v.Pos, "Template format error: NoEcho of parameter %s must be true or false", e.Key)
				ok = false
			}
		case "MinLength":
			minLen = a
		case "MaxLength":
			maxLen = a
		case "MinValue":
			minVal = a
		case "MaxValue":
			maxVal = a
		}
	}
	kind, known := parameterKind(prm.Type)
	switch {
	case prm.Type == "":
		p.errorf(e.KeyPos, "Template format error: Every Parameters object must contain a Type member.")
		return nil
	case !known:
		p.errorf(e.Value.Get("Type").Pos, "Template format error: Unrecognized parameter type: %s", prm.Type)
		return nil
	}
	stringLike := kind == kindString || kind == kindStringList
	if prm.AllowedPattern != "" {
		if !stringLike {
			p.errorf(e.Value.Get("AllowedPattern").Pos, "Template error: Parameter '%s' AllowedPattern must be on a parameter of type String", e.Key)
			ok = false
		} else if _, err := regexp.Compile(prm.AllowedPattern); err != nil {
			p.errorf(e.Value.Get("AllowedPattern").Pos, "Parameter '%s' AllowedPattern must be a valid regular expression. (%s)", e.Key, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			ok = false
		} else {
			// The pattern must match the whole value; a valid pattern stays
			// valid inside a group between anchors.
			p.t.patterns[e.Key] = regexp.MustCompile(`^(?:` + prm.AllowedPattern + `)$`)
		}
	}
	prm.MinLength, ok = p.bound(e.Key, minLen, stringLike, ok)
	prm.MaxLength, ok = p.bound(e.Key, maxLen, stringLike, ok)
	prm.MinValue, ok = p.boundValue(e.Key, minVal, !stringLike, ok)
	prm.MaxValue, ok = p.boundValue(e.Key, maxVal, !stringLike, ok)
	if prm.MinLength != nil && prm.MaxLength != nil && *prm.MinLength > *prm.MaxLength {
		p.errorf(minLen.KeyPos, "Template error: Parameter '%s' MinLength must be less than MaxLength.", e.Key)
		ok = false
	}
	if prm.MinValue != nil && prm.MaxValue != nil && *prm.MinValue > *prm.MaxValue {
		p.errorf(minVal.KeyPos, "Template error: Parameter '%s' MinValue must be less than MaxValue.", e.Key)
		ok = false
	}
	if !ok {
		return nil
	}
	return prm
}

// paramText reads a literal property of a parameter; numbers and booleans
// turn into their text, as CloudFormation turns them (Default: yes is
// "true", which is why Yes/No in AllowedValues must be quoted).
func (p *parser) paramText(param string, a Field) (string, bool) {
	s, ok := a.Value.Text()
	if !ok {
		p.errorf(a.Value.Pos, "Template format error: %s of parameter %s must be a string, found %s", a.Key, param, describeNode(a.Value))
	}
	return s, ok
}

// bound reads MinLength or MaxLength: a whole number at least 0.
func (p *parser) bound(param string, a Field, applies bool, ok bool) (*int, bool) {
	if a.Value == nil {
		return nil, ok
	}
	if !applies {
		p.errorf(a.KeyPos, "Template error: Parameter '%s' %s must be on a parameter of type String", param, a.Key)
		return nil, false
	}
	s, _ := a.Value.Text()
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		p.errorf(a.Value.Pos, "Template format error: %s of parameter %s must be a whole number, found %s", a.Key, param, describeNode(a.Value))
		return nil, false
	}
	return &n, ok
}

// boundValue reads MinValue or MaxValue: a number.
func (p *parser) boundValue(param string, a Field, applies bool, ok bool) (*float64, bool) {
	if a.Value == nil {
		return nil, ok
	}
	if !applies {
		p.errorf(a.KeyPos, "Template error: Parameter '%s' %s must be on a parameter of type Number", param, a.Key)
		return nil, false
	}
	s, _ := a.Value.Text()
	f, good := number(s)
	if !good {
		p.errorf(a.Value.Pos, "Template format error: %s of parameter %s must be a number, found %s", a.Key, param, describeNode(a.Value))
		return nil, false
	}
	return &f, ok
}

// number parses a Number parameter value: a decimal number (CloudFormation
// takes Java's Double syntax; hexadecimal, Inf and NaN are left out).
func number(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, "xXpP_") {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// Bind resolves the parameter values: values (the configuration file's and
// the overrides, already merged by MergeParameters) over each parameter's
// Default. It checks each value against its type and constraints with
// CloudFormation's messages and reports every problem at once: missing
// values ("Parameters: [X] must have values"), names the template does not
// declare, and constraint failures, each at the declaration of its
// parameter.
func (t *Template) Bind(values map[string]string) (Params, error) {
	var errs Errors
	at := Pos{File: t.file, Line: 1, Col: 1}
	var unknown []string
	for name := range values {
		if _, ok := t.Parameters[name]; !ok {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	switch {
	case len(unknown) > 0 && len(t.Parameters) == 0:
		errs = append(errs, &Error{Pos: at, Msg: "Parameter values specified for a template which does not require them."})
	case len(unknown) > 0:
		errs = append(errs, &Error{Pos: at, Msg: oneLine(fmt.Sprintf("Parameters: [%s] do not exist in the template", strings.Join(unknown, ", ")))})
	}
	params := Params{}
	var missing []string
	var missingAt Pos
	for _, name := range t.ParameterOrder {
		prm := t.Parameters[name]
		v, given := values[name]
		if !given {
			if prm.Default == nil {
				if missing == nil {
					missingAt = prm.Pos
				}
				missing = append(missing, name)
				continue
			}
			v = *prm.Default
		}
		value, msg := t.bindOne(prm, v)
		if msg != "" {
			errs = append(errs, &Error{Pos: prm.Pos, Msg: oneLine(msg)})
			continue
		}
		params[name] = value
	}
	if len(missing) > 0 {
		errs = append(errs, &Error{Pos: missingAt, Msg: "Parameters: [" + strings.Join(missing, ", ") + "] must have values"})
	}
	if len(errs) > 0 {
		return nil, errs.sorted()
	}
	return params, nil
}

// bindOne checks one value and returns what Ref yields for it, or the
// problem.
func (t *Template) bindOne(prm *Parameter, v string) (Value, string) {
	kind, _ := parameterKind(prm.Type)
	if kind == kindString || kind == kindNumber {
		if msg := t.check(prm, kind, v); msg != "" {
			return nil, msg
		}
		return v, ""
	}
	// Lists are split on commas, each element trimmed of spaces, and every
	// constraint applies to each element.
	elems := strings.Split(v, ",")
	out := make([]any, len(elems))
	elemKind := kindString
	if kind == kindNumberList {
		elemKind = kindNumber
	}
	for i, e := range elems {
		e = strings.TrimSpace(e)
		if msg := t.check(prm, elemKind, e); msg != "" {
			return nil, msg
		}
		out[i] = e
	}
	return out, ""
}

// check applies the constraints to one value (or list element); the
// message uses the ConstraintDescription when the template gives one.
func (t *Template) check(prm *Parameter, kind typeKind, v string) string {
	msg := ""
	switch {
	case prm.AllowedValues != nil && !slices.Contains(prm.AllowedValues, v):
		msg = fmt.Sprintf("Parameter '%s' must be one of AllowedValues", prm.Name)
	case kind == kindNumber:
		f, ok := number(v)
		switch {
		case !ok:
			msg = fmt.Sprintf("Parameter '%s' must be a number", prm.Name)
		case prm.MinValue != nil && f < *prm.MinValue:
			msg = fmt.Sprintf("Parameter '%s' must be a number not less than %s", prm.Name, formatFloat(*prm.MinValue))
		case prm.MaxValue != nil && f > *prm.MaxValue:
			msg = fmt.Sprintf("Parameter '%s' must be a number not greater than %s", prm.Name, formatFloat(*prm.MaxValue))
		}
	case prm.MinLength != nil && utf8.RuneCountInString(v) < *prm.MinLength:
		msg = fmt.Sprintf("Parameter '%s' must contain at least %d characters", prm.Name, *prm.MinLength)
	case prm.MaxLength != nil && utf8.RuneCountInString(v) > *prm.MaxLength:
		msg = fmt.Sprintf("Parameter '%s' must contain at most %d characters", prm.Name, *prm.MaxLength)
	case t.patterns[prm.Name] != nil && !t.patterns[prm.Name].MatchString(v):
		msg = fmt.Sprintf("Malformed input-Parameter %s must match pattern %s", prm.Name, prm.AllowedPattern)
	}
	if msg != "" && prm.ConstraintDescription != "" {
		msg = fmt.Sprintf("Parameter '%s' failed to satisfy constraint: %s", prm.Name, prm.ConstraintDescription)
	}
	return msg
}

func formatFloat(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// NoEcho reports whether a parameter's value must be masked (as ****) in
// descriptions and events.
func (t *Template) NoEcho(name string) bool {
	p, ok := t.Parameters[name]
	return ok && p.NoEcho
}

// Config is a template configuration file, as the CloudFormation deploy
// action of CodePipeline reads it (TemplateConfiguration).
type Config struct {
	Parameters, Tags map[string]string
	StackPolicy      map[string]any
}

// ParseConfig reads a template configuration file: a JSON object with
// optional Parameters and Tags (objects whose values are all strings) and
// StackPolicy (an object). Every problem is reported with its position.
func ParseConfig(file string, data []byte) (*Config, error) {
	p := &parser{file: file, data: data}
	c := p.config()
	if len(p.errs) > 0 {
		return nil, p.errs.sorted()
	}
	return c, nil
}

func (p *parser) config() *Config {
	start := Pos{File: p.file, Line: 1, Col: 1}
	if !json.Valid(stripBOM(p.data)) {
		var v any
		err := json.Unmarshal(stripBOM(p.data), &v)
		at := start
		if se, ok := err.(*json.SyntaxError); ok {
			// Offset counts the bytes read, the offending one included.
			at.Line, at.Col = offsetPos(stripBOM(p.data), max(int(se.Offset)-1, 0))
		}
		p.errorf(at, "the configuration file is not valid JSON: %s; write it as {\"Parameters\": {\"Name\": \"value\"}}", strings.TrimPrefix(fmt.Sprint(err), "json: "))
		return nil
	}
	var doc yaml.Node
	if err := yaml.Load(p.data, &doc, yaml.WithV3Defaults()); err != nil {
		p.errorf(start, "the configuration file is not valid JSON")
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		p.errorf(p.pos(root), "the configuration file must be a JSON object with Parameters, Tags and StackPolicy")
		return nil
	}
	c := &Config{}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if seen[k.Value] {
			p.errorf(p.pos(k), "duplicate key %s in the configuration file; keep only one", quoteText(k.Value))
			continue
		}
		seen[k.Value] = true
		switch k.Value {
		case "Parameters":
			c.Parameters = p.stringMap(v, "Parameters")
		case "Tags":
			c.Tags = p.stringMap(v, "Tags")
		case "StackPolicy":
			if v.Kind != yaml.MappingNode {
				p.errorf(p.pos(v), "StackPolicy must be a JSON object such as {\"Statement\": [...]}")
				continue
			}
			var policy map[string]any
			if err := v.Decode(&policy); err != nil {
				p.errorf(p.pos(v), "StackPolicy cannot be read: %v", err)
				continue
			}
			c.StackPolicy = policy
		default:
			hint := ""
			if s := spell.Closest(k.Value, []string{"Parameters", "Tags", "StackPolicy"}); s != "" {
				hint = fmt.Sprintf(" (did you mean %s?)", s)
			}
			p.errorf(p.pos(k), "unknown key %s in the configuration file%s; the keys are Parameters, Tags and StackPolicy", quoteText(k.Value), hint)
		}
	}
	return c
}

// stripBOM strips a UTF-8 byte order mark, which editors on Windows add and
// encoding/json rejects.
func stripBOM(b []byte) []byte {
	if len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		return b[3:]
	}
	return b
}

// stringMap reads an object whose values must all be strings.
func (p *parser) stringMap(v *yaml.Node, what string) map[string]string {
	if v.Kind != yaml.MappingNode {
		p.errorf(p.pos(v), "%s must be a JSON object of names to string values", what)
		return nil
	}
	out := map[string]string{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		if _, dup := out[k.Value]; dup {
			p.errorf(p.pos(k), "duplicate key %s in %s; keep only one", quoteText(k.Value), what)
			continue
		}
		if val.Kind != yaml.ScalarNode || val.Style&yaml.DoubleQuotedStyle == 0 {
			p.errorf(p.pos(val), "the value of %s in %s must be a string; write it in double quotes, e.g. %q", quoteText(k.Value), what, val.Value)
			continue
		}
		out[k.Value] = val.Value
	}
	return out
}

// MergeParameters returns the parameter values a stack gets: the
// configuration file's, with the overrides taking precedence (overrides >
// configuration file; the template's Default applies in Bind to what is
// left). Neither argument is changed.
func MergeParameters(config map[string]string, overrides map[string]string) map[string]string {
	out := make(map[string]string, len(config)+len(overrides))
	for k, v := range config {
		out[k] = v
	}
	for k, v := range overrides {
		out[k] = v
	}
	return out
}
