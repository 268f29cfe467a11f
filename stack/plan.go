package stack

import (
	"context"
	"errors"
	"sort"

	"github.com/slipway/slipway/template"
)

// Change is one resource change of a change set, as CloudFormation's
// ResourceChange has it.
type Change struct {
	// Action is Add, Modify or Remove.
	Action     string `json:"action"`
	Logical    string `json:"logical_id"`
	PhysicalID string `json:"physical_id,omitempty"`
	Type       string `json:"type"`
	// Replacement (Modify only) is True, False or Conditional (it depends
	// on a value known only once another resource has changed).
	Replacement string         `json:"replacement,omitempty"`
	Scope       []string       `json:"scope,omitempty"`
	Details     []ChangeDetail `json:"details,omitempty"`
	Modelled    bool           `json:"modelled,omitempty"`
}

// ChangeDetail is one changed property of a Modify.
type ChangeDetail struct {
	Name string `json:"name"`
	// RequiresRecreation is Never, Conditionally or Always.
	RequiresRecreation string `json:"requires_recreation"`
	// Evaluation is Static, or Dynamic when the new value is known only
	// once another resource has changed.
	Evaluation string `json:"evaluation"`
}

// Plan computes the change set that would take recs (a stack's resources)
// to t, without changing anything. Resources are taken in dependency
// order so that a replaced resource makes its dependents' references
// unknown (Dynamic), as on AWS.
func (e *Engine) Plan(ctx context.Context, t *Target, recs []*Resource, imports func(name string) (string, error)) ([]Change, error) {
	live := map[string]*Resource{}
	for _, rec := range recs {
		if !rec.Replaced {
			live[rec.Logical] = rec
		}
	}
	changing := map[string]bool{} // gets a new physical ID
	env := &template.Env{
		Params: t.Params, Pseudo: t.Pseudo,
		Ref: func(l string) (string, bool) {
			if rec := live[l]; rec != nil && !changing[l] && rec.PhysicalID != "" {
				return rec.PhysicalID, true
			}
			return "", false
		},
		Attr: func(l, a string) (template.Value, bool) {
			if rec := live[l]; rec != nil && !changing[l] {
				v, ok := rec.Attrs[a]
				return v, ok
			}
			return nil, false
		},
		Import: imports,
	}
	conds, err := t.Template.EvalConditions(env)
	if err != nil {
		return nil, err
	}
	active := t.Template.Active(conds)
	order, err := topoOrder(active, t.Template.Dependencies(conds))
	if err != nil {
		return nil, err
	}
	var out []Change
	var errs []error
	for _, l := range order {
		res := t.Template.Resources[l]
		p, ok := e.Registry.Provider(res.Type)
		if !ok {
			errs = append(errs, errors.New(e.Registry.Unsupported([]string{res.Type})))
			continue
		}
		schema := p.Schema()
		props, err := t.Template.EvalProperties(env, conds, l)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := checkProperties(schema, props); err != nil {
			errs = append(errs, &resourceError{logical: l, err: err})
			continue
		}
		cur := live[l]
		if cur == nil || cur.Status == CreateInProgress || cur.Status == CreateFailed {
			changing[l] = true
			out = append(out, Change{Action: "Add", Logical: l, Type: res.Type, Modelled: schema.Modelled})
			continue
		}
		if cur.Type != res.Type {
			changing[l] = true
			out = append(out, Change{Action: "Modify", Logical: l, PhysicalID: cur.PhysicalID, Type: res.Type,
				Replacement: "True", Scope: []string{"Properties"}, Modelled: schema.Modelled})
			continue
		}
		c := Change{Action: "Modify", Logical: l, PhysicalID: cur.PhysicalID, Type: res.Type, Replacement: "False", Modelled: schema.Modelled}
		for _, k := range changedKeys(cur.Properties, props) {
			d := ChangeDetail{Name: k, RequiresRecreation: "Never", Evaluation: "Static"}
			if hasUnknown(props[k]) {
				d.Evaluation = "Dynamic"
			}
			if schema.Properties[k].Update == Replace {
				d.RequiresRecreation = "Always"
				switch {
				case d.Evaluation == "Static":
					c.Replacement = "True"
				case c.Replacement == "False":
					c.Replacement = "Conditional"
				}
			}
			c.Details = append(c.Details, d)
		}
		if len(c.Details) == 0 {
			continue
		}
		c.Scope = []string{"Properties"}
		if c.Replacement != "False" {
			changing[l] = true
		}
		out = append(out, c)
	}
	keep := map[string]bool{}
	for _, l := range active {
		keep[l] = true
	}
	var removed []Change
	for l, rec := range live {
		if !keep[l] {
			removed = append(removed, Change{Action: "Remove", Logical: l, PhysicalID: rec.PhysicalID, Type: rec.Type, Modelled: rec.Modelled})
		}
	}
	sort.Slice(removed, func(i, j int) bool { return removed[i].Logical < removed[j].Logical })
	return append(out, removed...), errors.Join(errs...)
}

// hasUnknown reports whether a value holds anything not known yet.
func hasUnknown(v any) bool {
	switch v := v.(type) {
	case template.Unknown, *template.Unknown:
		return true
	case []any:
		for _, x := range v {
			if hasUnknown(x) {
				return true
			}
		}
	case map[string]any:
		for _, x := range v {
			if hasUnknown(x) {
				return true
			}
		}
	}
	return false
}

// topoOrder orders nodes so that each comes after what it depends on,
// keeping the given order among independent nodes.
func topoOrder(nodes []string, deps map[string][]string) ([]string, error) {
	in := map[string]bool{}
	for _, n := range nodes {
		in[n] = true
	}
	done := map[string]bool{}
	var out []string
	for len(out) < len(nodes) {
		progress := false
		for _, n := range nodes {
			if done[n] {
				continue
			}
			ready := true
			for _, d := range deps[n] {
				if in[d] && !done[d] && d != n {
					ready = false
					break
				}
			}
			if ready {
				done[n], progress = true, true
				out = append(out, n)
			}
		}
		if !progress {
			return nil, errors.New("Circular dependency between resources")
		}
	}
	return out, nil
}
