package template

import (
	"fmt"
	"slices"
)

// Check reports, beyond Parse's structural checks, the problems that need
// the schema: a GetAtt of an attribute its resource's type does not have
// ("Template error: resource X does not support attribute type Y in
// Fn::GetAtt"). It returns as warnings the resource types the schema does
// not know, each once, in file order; the caller decides their wording and
// severity (CloudFormation's is "Template format error: Unrecognized
// resource types: [X]"). A nil schema checks nothing.
func (t *Template) Check(s Schema) (warnings []string, err error) {
	if s == nil {
		return nil, nil
	}
	for _, name := range t.ResourceOrder {
		typ := t.Resources[name].Type
		if !s.Known(typ) && !slices.Contains(warnings, typ) {
			warnings = append(warnings, typ)
		}
	}
	var errs Errors
	check := func(refs []reference) {
		for _, r := range refs {
			if !r.getAtt || r.attr == "" {
				continue
			}
			typ := t.Resources[r.target].Type
			if s.Known(typ) && !s.HasAttribute(typ, r.attr) {
				errs = append(errs, &Error{Pos: r.pos, Msg: oneLine(fmt.Sprintf("Template error: resource %s does not support attribute type %s in Fn::GetAtt", r.target, r.attr))})
			}
		}
	}
	for _, name := range t.ResourceOrder {
		check(t.refs[name])
	}
	check(t.outputRefs)
	return warnings, errs.asError()
}
