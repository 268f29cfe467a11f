// Package template reads CloudFormation templates (YAML with the short-form
// tags, or JSON), checks them with CloudFormation's own error wording, binds
// parameter values, and evaluates intrinsic functions for the stack engine.
// It does no I/O of its own.
package template

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Pos is a place in a template or configuration file; Line and Col start at
// 1. A zero Line means the problem has no place in the file (a parameter
// value given on the command line, for instance).
type Pos struct {
	File      string
	Line, Col int
}

// String prints the position as file:line:col, the form editors turn into a
// link; parts that are unknown are left out.
func (p Pos) String() string {
	switch {
	case p.Line <= 0 && p.File == "":
		return "-"
	case p.Line <= 0:
		return p.File
	case p.File == "":
		return fmt.Sprintf("%d:%d", p.Line, p.Col)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is one problem of a template, with where it is. Msg uses
// CloudFormation's wording where CloudFormation has one, so that a search
// for the message finds help.
type Error struct {
	Pos Pos
	Msg string
}

// Error prints the problem as file:line:col: message.
func (e *Error) Error() string {
	return e.Pos.String() + ": " + e.Msg
}

// Errors is every problem found in one pass, in file order. It is returned
// (never empty) so that a user can fix a whole template at once.
type Errors []*Error

// Error prints one problem per line.
func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap lets errors.As and errors.Is see each problem.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// sorted orders the problems by position (stable, so problems at one place
// keep the order they were found in) and drops exact repeats.
func (es Errors) sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Pos, es[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	seen := make(map[Error]bool, len(es))
	out := es[:0]
	for _, e := range es {
		if seen[*e] {
			continue
		}
		seen[*e] = true
		out = append(out, e)
	}
	return out
}

// asError returns es sorted, or nil when there is no problem; it keeps a nil
// Errors from becoming a non-nil error interface.
func (es Errors) asError() error {
	if len(es) == 0 {
		return nil
	}
	return es.sorted()
}

// A Value is what evaluation yields: string, bool, json.Number (numbers keep
// their source text), []any, map[string]any, or Unknown.
type Value = any

// Unknown stands for a value not known until a resource exists: a Ref to, or
// a GetAtt of, a resource the Env cannot resolve yet. Functions over an
// Unknown (Sub, Join, Base64, Select, ...) give an Unknown that keeps the
// first reason.
type Unknown struct {
	// Ref names what is missing: "MyBucket" for a Ref, "MyBucket.Arn" for a
	// GetAtt. (A missing export is an error, never an Unknown.)
	Ref string
}

// Template is a parsed and structurally valid template.
type Template struct {
	// FormatVersion is AWSTemplateFormatVersion, "" when absent.
	FormatVersion string
	Description   string

	Parameters map[string]*Parameter
	// ParameterOrder lists the parameters as written.
	ParameterOrder []string
	// Mappings maps a map name, a top-level key and a second-level key to a
	// string, json.Number, bool or []any of those.
	Mappings map[string]map[string]map[string]any
	// Conditions holds each condition's expression.
	Conditions map[string]*Node
	// ConditionOrder lists the conditions as written.
	ConditionOrder []string
	Resources      map[string]*Resource
	// ResourceOrder lists the resources as written.
	ResourceOrder []string
	Outputs       map[string]*Output
	// OutputOrder lists the outputs as written.
	OutputOrder []string
	// Metadata is the top-level Metadata section, nil when absent; it is
	// kept as written and never evaluated.
	Metadata *Node
	// Rules is the Rules section, nil when absent; it is kept as written
	// and not evaluated (rule functions are a service-side check).
	Rules *Node
	// Transform lists the declared transforms. They are recorded, not
	// applied: the caller decides whether a transform it cannot run is an
	// error.
	Transform []string

	file string
	// refs holds, per resource, every reference its Properties, Metadata,
	// CreationPolicy and UpdatePolicy make, with the Fn::If branches it sits
	// in, so that Dependencies need not walk the tree again.
	refs map[string][]reference
	// outputRefs are the references of the Outputs, for Check.
	outputRefs []reference
	// patterns holds each parameter's AllowedPattern, compiled to match
	// whole values.
	patterns map[string]*regexp.Regexp
}

// Parameter is one entry of the Parameters section.
type Parameter struct {
	Name, Type, Description, AllowedPattern, ConstraintDescription string
	// Default is nil when the parameter has none.
	Default       *string
	AllowedValues []string
	// MinLength and MaxLength are nil when not given.
	MinLength, MaxLength *int
	// MinValue and MaxValue are nil when not given.
	MinValue, MaxValue *float64
	NoEcho             bool
	Pos                Pos
}

// Resource is one entry of the Resources section.
type Resource struct {
	Logical, Type string
	// Properties is nil when the resource has none.
	Properties *Node
	DependsOn  []string
	// Condition names the condition that decides whether the resource
	// exists; "" means always.
	Condition string
	// DeletionPolicy and UpdateReplacePolicy are "" when not given, which
	// means Delete.
	DeletionPolicy, UpdateReplacePolicy string
	// CreationPolicy, UpdatePolicy and Metadata are nil when absent; the
	// engine evaluates them with EvalNode.
	CreationPolicy, UpdatePolicy, Metadata *Node
	Pos                                    Pos
}

// Output is one entry of the Outputs section.
type Output struct {
	Name, Description, Condition string
	Value                        *Node
	// ExportName is Export.Name, nil when the output is not exported.
	ExportName *Node
	Pos        Pos
}

// OutputValue is an evaluated output.
type OutputValue struct {
	Name, Description string
	// Value is a string, or an Unknown while a resource it names does not
	// exist yet.
	Value Value
	// ExportName is "" when the output is not exported.
	ExportName string
}

// Schema lets the caller (the stack engine's provider registry) check
// resource types and GetAtt attributes without this package knowing them.
type Schema interface {
	Known(resourceType string) bool
	HasAttribute(resourceType, attr string) bool
}

// Params maps each parameter to its bound value: a string for String,
// Number and the AWS-specific single-value types (numbers stay strings, as
// on AWS), an []any of strings for CommaDelimitedList and the List<...>
// types.
type Params map[string]Value
