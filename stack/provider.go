// Package stack is the stack engine: it plans a template against a stack's
// resources (a change set), applies it in dependency order with independent
// resources in parallel, rolls back a failure, and deletes. It reaches the
// world only through a Provider per resource type and a State that records
// every step, so an operation cut short by a crash resumes from what State
// holds.
package stack

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Update says what a change of a property does to the resource.
type Update int

// How a property changes, as CloudFormation's resource reference says.
const (
	// InPlace updates the resource, keeping its physical ID.
	InPlace Update = iota
	// Replace creates a new resource (new physical ID) and deletes the old one.
	Replace
)

// Property is one property of a resource type.
type Property struct {
	Required bool
	Update   Update
}

// Schema describes a resource type to the engine.
type Schema struct {
	// Properties lists every property the type accepts.
	Properties map[string]Property
	// Attributes are the names Fn::GetAtt may read.
	Attributes []string
	// NameProperty, when set in a template, fixes the resource's physical
	// name, so the resource cannot be replaced (CloudFormation refuses to
	// replace a custom-named resource).
	NameProperty string
	// Modelled types have no local effect: they validate their properties,
	// get a physical ID and attributes, and every event says so.
	Modelled bool
}

// Request is what a provider is asked to do for one resource.
type Request struct {
	// StackID, StackName, ProjectID and ProjectName say whose resource it is.
	StackID, StackName, ProjectID, ProjectName string
	Logical, Type                              string
	// PhysicalID is the resource's ID for Update and Delete (empty for
	// Create, and for a Delete of a resource whose Create never returned).
	PhysicalID string
	// Token is the same for every attempt at one Create, Update or Delete:
	// a provider that sees a Create with a token it has already honoured
	// returns the resource it made rather than a second one, so a resumed
	// operation is safe.
	Token      string
	Properties map[string]any
	// Previous are the properties of the resource as it was (Update only).
	Previous map[string]any
	// UpdatePolicy is the resource's UpdatePolicy attribute, evaluated;
	// nil when it has none (Update only).
	UpdatePolicy map[string]any
	// WaitSignals waits for count SUCCESS signals of this resource from the
	// given unique IDs, as an AutoScalingRollingUpdate with
	// WaitOnResourceSignals waits for its new instances (Update only).
	WaitSignals func(ctx context.Context, count int, timeout time.Duration, from ...string) error
}

// Outcome is what a provider made.
type Outcome struct {
	PhysicalID string
	Attrs      map[string]any
}

// A Provider creates, updates and deletes the resources of one type. The
// engine, not the provider, decides order, parallelism, replacement and
// rollback. Every method must be idempotent.
type Provider interface {
	Schema() Schema
	Create(ctx context.Context, r *Request) (*Outcome, error)
	// Update changes the resource in place (only InPlace properties changed).
	Update(ctx context.Context, r *Request) (*Outcome, error)
	// Delete removes the resource; an absent resource is not an error.
	Delete(ctx context.Context, r *Request) error
}

// Registry holds the providers by resource type. It satisfies
// template.Schema, so templates are checked against what is installed.
type Registry struct {
	providers map[string]Provider
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{providers: map[string]Provider{}} }

// Register installs p for typ.
func (r *Registry) Register(typ string, p Provider) { r.providers[typ] = p }

// Provider returns the provider of typ.
func (r *Registry) Provider(typ string) (Provider, bool) {
	p, ok := r.providers[typ]
	return p, ok
}

// Known reports whether typ has a provider.
func (r *Registry) Known(typ string) bool {
	_, ok := r.providers[typ]
	return ok
}

// HasAttribute reports whether typ's resources have attr for Fn::GetAtt.
func (r *Registry) HasAttribute(typ, attr string) bool {
	p, ok := r.providers[typ]
	return ok && slices.Contains(p.Schema().Attributes, attr)
}

// Types lists the installed types, sorted.
func (r *Registry) Types() []string {
	out := make([]string, 0, len(r.providers))
	for t := range r.providers {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Unsupported is the message for resource types that have no provider: it
// names them and lists what is supported.
func (r *Registry) Unsupported(types []string) string {
	return fmt.Sprintf("Template format error: Unrecognized resource types: [%s]. Slipway does not implement these types yet; supported types: %s",
		strings.Join(types, ", "), strings.Join(r.Types(), ", "))
}

// checkProperties refuses properties a schema does not have and reports
// required ones that are missing, with CloudFormation's wording.
func checkProperties(s Schema, props map[string]any) error {
	var unknown, missing []string
	for k := range props {
		if _, ok := s.Properties[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	for k, p := range s.Properties {
		if _, ok := props[k]; p.Required && !ok {
			missing = append(missing, k)
		}
	}
	sort.Strings(unknown)
	sort.Strings(missing)
	switch {
	case len(unknown) > 0:
		return fmt.Errorf("Encountered unsupported property %s", strings.Join(unknown, ", "))
	case len(missing) > 0:
		return fmt.Errorf("Properties validation failed for resource: required key [%s] not found", strings.Join(missing, ", "))
	}
	return nil
}
