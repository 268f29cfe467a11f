package template

import (
	"slices"
	"strconv"
	"strings"
)

// fnSet is a set of intrinsic functions, one bit each, for the nesting
// rules: which functions may stand in which argument.
type fnSet uint32

const (
	bRef fnSet = 1 << iota
	bBase64
	bCidr
	bFindInMap
	bGetAtt
	bGetAZs
	bImportValue
	bJoin
	bSelect
	bSplit
	bSub
	bIf
	bEquals
	bAnd
	bOr
	bNot
)

// fnBits maps each function to its bit; fnNames lists them in the order
// messages name them.
var (
	fnBits = map[string]fnSet{fnRef: bRef, fnBase64: bBase64, fnCidr: bCidr, fnFindInMap: bFindInMap,
		fnGetAtt: bGetAtt, fnGetAZs: bGetAZs, fnImportValue: bImportValue, fnJoin: bJoin, fnSelect: bSelect,
		fnSplit: bSplit, fnSub: bSub, fnIf: bIf, fnEquals: bEquals, fnAnd: bAnd, fnOr: bOr, fnNot: bNot}
	fnNames = []string{fnBase64, fnCidr, fnFindInMap, fnGetAtt, fnGetAZs, fnIf, fnImportValue, fnJoin,
		fnSelect, fnSplit, fnSub, fnEquals, fnAnd, fnOr, fnNot, fnRef}
)

// The nesting rules of the CloudFormation reference (aws-formats §6.4).
// Where this package is more lenient, the reason is given.
const (
	condFns = bEquals | bAnd | bOr | bNot
	// valueFns may stand anywhere in resource properties, metadata,
	// policies and outputs. Fn::If branches take all of them: Fn::If is
	// the only way to choose a property value, and real templates put
	// Fn::ImportValue, Fn::Split and Fn::Cidr in its branches.
	valueFns       = bRef | bBase64 | bCidr | bFindInMap | bGetAtt | bGetAZs | bImportValue | bJoin | bSelect | bSplit | bSub | bIf
	subVarFns      = bBase64 | bFindInMap | bGetAtt | bGetAZs | bIf | bImportValue | bJoin | bSelect | bRef
	joinListFns    = bBase64 | bFindInMap | bGetAtt | bGetAZs | bIf | bImportValue | bJoin | bSplit | bSelect | bSub | bRef
	selectIndexFns = bRef | bFindInMap
	// selectListFns adds Fn::Cidr to the documented list: the Fn::Cidr
	// reference's own example is !Select [0, !Cidr [...]].
	selectListFns  = bFindInMap | bGetAtt | bGetAZs | bIf | bSplit | bRef | bCidr
	splitStringFns = bBase64 | bFindInMap | bGetAtt | bGetAZs | bIf | bImportValue | bJoin | bSelect | bSub | bRef
	findInMapFns   = bFindInMap | bRef
	getAZsFns      = bRef
	importFns      = bBase64 | bFindInMap | bIf | bJoin | bSelect | bSub | bRef
	base64Fns      = bBase64 | bFindInMap | bGetAtt | bIf | bImportValue | bJoin | bSelect | bSub | bRef
	// cidrFns adds Fn::GetAtt to the documented list: the Fn::Cidr
	// reference's own example takes the block from !GetAtt Vpc.CidrBlock.
	cidrFns     = bSelect | bRef | bGetAtt
	getAttNames = bRef
	// equalsFns adds Fn::Join, Fn::Select, Fn::Split and Fn::Sub to the
	// documented Fn::FindInMap and Ref: CloudFormation accepts them, and
	// !Equals [!Join ['', !Ref List], ''] is the common test for an empty
	// list parameter.
	equalsFns = bFindInMap | bRef | bJoin | bSelect | bSplit | bSub | condFns
)

// The CloudFormation messages for malformed function arguments.
const (
	msgRef       = "Template error: All References must be of type string"
	msgCondName  = "Template error: All Conditions must be of type string"
	msgIfCond    = "Template error: Fn::If requires a list argument with the first element being a condition"
	msgIfThree   = "Template error: Fn::If requires a list argument with three elements"
	msgEquals    = "Template error: Fn::Equals requires a list argument with two elements"
	msgNotOne    = "Template error: Fn::Not requires a list argument with one element"
	msgNotToken  = "Template error: Fn::Not requires a list argument with one function token"
	msgFindInMap = "Template error: every Fn::FindInMap object requires three parameters, the map name, map key and the attribute for return value"
	msgBase64    = "Template error: every Fn::Base64 object must have a String-typed value."
	msgSelectTwo = "Template error: Fn::Select requires a list argument with two elements: an integer index and a list"
	msgSelectIdx = "Template error: Fn::Select requires a list argument with a valid index value as its first element"
	msgJoin      = "Template error: every Fn::Join object requires two parameters, (1) a string delimiter and (2) a list of strings to be joined or a function that returns a list of strings (such as Fn::GetAZs) to be joined."
	msgSplit     = "Template error: every Fn::Split object requires two parameters, (1) a string delimiter and (2) a string to be split or a function that returns a string to be split."
	msgGetAZs    = "Template error: every Fn::GetAZs object must have a String-typed value."
	msgGetAtt    = "Template error: every Fn::GetAtt object requires two non-empty parameters, the resource name and the resource attribute"
	msgSub       = "Template error: One or more Fn::Sub intrinsic functions don't specify expected arguments. Specify a string as first argument, and an optional second argument to specify a mapping of values to replace in the string"
	msgSubVar    = "Template error: variable names in Fn::Sub syntax must contain only alphanumeric characters, underscores, periods, and colons"
	msgImport    = "Template error: every Fn::ImportValue object must have a String-typed value."
	msgImportRes = "Template error: the attribute in Fn::ImportValue must not depend on any resources, imported values, or Fn::GetAZs"
	msgCidr      = "Template error: every Fn::Cidr object requires three parameters, (1) an IP block in CIDR notation, (2) the number of CIDRs to generate and (3) the number of host bits of each CIDR"
)

// andOrMessage is CloudFormation's message for a malformed Fn::And or Fn::Or.
func andOrMessage(fn string) string {
	return "Template error: every " + fn + " object requires a list of at least 2 and at most 10 boolean parameters."
}

// sectionKind says which section a walker is in.
type sectionKind uint8

const (
	inConditions sectionKind = iota + 1
	inResources
	inOutputs
)

// guard is one Fn::If branch a reference sits in.
type guard struct {
	cond   string
	branch bool
}

// reference is one use of a resource by another resource or an output.
type reference struct {
	target string
	// attr is the Fn::GetAtt attribute; "" for a Ref or DependsOn, or when
	// the attribute name is itself a Ref.
	attr   string
	getAtt bool
	pos    Pos
	// guards are the Fn::If branches, outermost first, that must be taken
	// for the reference to be made.
	guards []guard
}

// holds reports whether every guard of r is taken under conds; nil conds
// take every branch.
func (r reference) holds(conds map[string]bool) bool {
	if conds == nil {
		return true
	}
	for _, g := range r.guards {
		if conds[g.cond] != g.branch {
			return false
		}
	}
	return true
}

// walker checks the intrinsic functions of one evaluated part of the
// template and records the references it makes.
type walker struct {
	p     *parser
	sect  sectionKind
	owner string
	// guards are the Fn::If branches around the current node.
	guards []guard
	// noResources, when set, is the message for a reference to a resource
	// (inside Fn::ImportValue or an export name).
	noResources string
}

// free is the set of functions allowed in a literal list or mapping.
func (w *walker) free() fnSet {
	if w.sect == inConditions {
		return equalsFns
	}
	return valueFns
}

func (w *walker) block() string {
	if w.sect == inOutputs {
		return "Outputs"
	}
	return "Resources"
}

func (w *walker) record(r reference) {
	r.guards = slices.Clone(w.guards)
	if w.sect == inOutputs {
		w.p.t.outputRefs = append(w.p.t.outputRefs, r)
		return
	}
	w.p.t.refs[w.owner] = append(w.p.t.refs[w.owner], r)
}

// value checks a node that may be a literal or a call of one of allowed;
// where names the place for messages.
func (w *walker) value(n *Node, allowed fnSet, where string) {
	if n == nil {
		return
	}
	switch n.Kind {
	case List:
		for _, it := range n.Items {
			w.value(it, w.free(), where)
		}
	case Map:
		for _, f := range n.Fields {
			w.value(f.Value, w.free(), where)
		}
	case Call:
		w.call(n, allowed, where)
	}
}

// notAllowed reports a function where the nesting rules forbid it.
func (w *walker) notAllowed(n *Node, allowed fnSet, where string) {
	p := w.p
	if fnBits[n.Fn]&condFns != 0 && w.sect != inConditions {
		p.errorf(n.Pos, "Template error: %s cannot be partially collapsed; condition functions belong in the Conditions section, and Fn::If chooses a value by a condition's name", n.Fn)
		return
	}
	if where == "" {
		where = "this place"
	}
	var names []string
	for _, name := range fnNames {
		if allowed&fnBits[name] != 0 {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		p.errorf(n.Pos, "Template error: %s cannot be used in %s; only a literal value is allowed there", n.Fn, where)
		return
	}
	p.errorf(n.Pos, "Template error: %s cannot be used in %s; the functions allowed there are %s", n.Fn, where, strings.Join(names, ", "))
}

// call checks one function call.
func (w *walker) call(n *Node, allowed fnSet, where string) {
	p := w.p
	if w.sect == inConditions {
		allowed &= equalsFns
	}
	if allowed&fnBits[n.Fn] == 0 {
		w.notAllowed(n, allowed, where)
		if fnBits[n.Fn]&condFns != 0 && w.sect != inConditions {
			return
		}
	}
	a := n.Arg
	if a == nil {
		return
	}
	switch n.Fn {
	case fnRef:
		name, ok := a.Text()
		if !ok {
			p.errorf(n.Pos, msgRef)
			return
		}
		w.ref(name, a.Pos)
	case fnGetAtt:
		w.getAttCall(n)
	case fnSub:
		w.sub(n)
	case fnJoin:
		w.join(n)
	case fnSelect:
		w.selectCall(n)
	case fnSplit:
		if a.Kind != List || len(a.Items) != 2 || hasNil(a.Items) {
			p.errorf(n.Pos, msgSplit)
			return
		}
		w.literalArg(a.Items[0], msgSplit, "the delimiter of Fn::Split")
		w.stringArg(a.Items[1], splitStringFns, msgSplit, "the string of Fn::Split")
	case fnFindInMap:
		if a.Kind != List || len(a.Items) != 3 || hasNil(a.Items) {
			p.errorf(n.Pos, msgFindInMap)
			return
		}
		for _, it := range a.Items {
			w.stringArg(it, findInMapFns, msgFindInMap, "the arguments of Fn::FindInMap")
		}
		if name, ok := a.Items[0].Text(); ok && !p.hasMapping(name) {
			p.errorf(a.Items[0].Pos, "Template error: Mapping named '%s' is not present in the 'Mappings' section of template", name)
		}
	case fnGetAZs:
		w.stringArg(a, getAZsFns, msgGetAZs, "Fn::GetAZs")
	case fnImportValue:
		iw := *w
		iw.noResources = msgImportRes
		iw.stringArg(a, importFns, msgImport, "Fn::ImportValue")
	case fnBase64:
		w.stringArg(a, base64Fns, msgBase64, "Fn::Base64")
	case fnCidr:
		if a.Kind != List || len(a.Items) != 3 || hasNil(a.Items) {
			p.errorf(n.Pos, msgCidr)
			return
		}
		for _, it := range a.Items {
			w.stringArg(it, cidrFns, msgCidr, "the arguments of Fn::Cidr")
		}
	case fnIf:
		w.ifCall(n)
	case fnEquals, fnAnd, fnOr, fnNot:
		w.condition(n)
	}
}

func hasNil(ns []*Node) bool {
	return slices.Contains(ns, nil)
}

// literalArg checks an argument that must be a literal.
func (w *walker) literalArg(n *Node, msg, where string) {
	switch n.Kind {
	case Call:
		w.notAllowed(n, 0, where)
	case List, Map:
		w.p.errorf(n.Pos, "%s", msg)
	}
}

// stringArg checks an argument that must be a literal or a call of one of
// allowed; a literal list or mapping is reported with msg.
func (w *walker) stringArg(n *Node, allowed fnSet, msg, where string) {
	switch n.Kind {
	case Call:
		w.call(n, allowed, where)
	case List, Map:
		w.p.errorf(n.Pos, "%s", msg)
	}
}

func (w *walker) getAttCall(n *Node) {
	p := w.p
	a := n.Arg
	switch a.Kind {
	case Scalar:
		s, _ := a.Text()
		res, attr, ok := strings.Cut(s, ".")
		if !ok || res == "" || attr == "" {
			p.errorf(n.Pos, msgGetAtt)
			return
		}
		w.getAtt(res, attr, a.Pos)
		return
	case List:
		if len(a.Items) != 2 || hasNil(a.Items) {
			break
		}
		res, ok := a.Items[0].Text()
		if !ok || res == "" {
			break
		}
		name := a.Items[1]
		if name.Kind == Call {
			w.call(name, getAttNames, "the attribute name of Fn::GetAtt")
			w.getAtt(res, "", a.Items[0].Pos)
			return
		}
		attr, ok := name.Text()
		if !ok || attr == "" {
			break
		}
		w.getAtt(res, attr, a.Items[0].Pos)
		return
	}
	p.errorf(n.Pos, msgGetAtt)
}

// subArgs splits the argument of Fn::Sub into its string and its variable
// map (nil when absent).
func subArgs(a *Node) (str *Node, vars *Node, ok bool) {
	switch {
	case a == nil:
		return nil, nil, false
	case a.Kind == Scalar:
		return a, nil, true
	case a.Kind != List || len(a.Items) < 1 || len(a.Items) > 2 || a.Items[0] == nil || a.Items[0].Kind != Scalar:
		return nil, nil, false
	case len(a.Items) == 2:
		if a.Items[1] == nil || a.Items[1].Kind != Map {
			return nil, nil, false
		}
		return a.Items[0], a.Items[1], true
	}
	return a.Items[0], nil, true
}

func (w *walker) sub(n *Node) {
	p := w.p
	str, vars, ok := subArgs(n.Arg)
	if !ok {
		if n.Arg.Kind == List && len(n.Arg.Items) > 0 && n.Arg.Items[0] != nil && n.Arg.Items[0].Kind == Call {
			w.notAllowed(n.Arg.Items[0], 0, "the string of Fn::Sub")
			return
		}
		p.errorf(n.Pos, msgSub)
		return
	}
	s, _ := str.Text()
	parts, err := parseSub(s)
	if err != nil {
		p.errorf(str.Pos, msgSubVar)
		return
	}
	for _, part := range parts {
		if !part.isVar || vars.Get(part.text) != nil {
			continue
		}
		if res, attr, dot := strings.Cut(part.text, "."); dot {
			w.getAtt(res, attr, str.Pos)
		} else {
			w.ref(part.text, str.Pos)
		}
	}
	if vars != nil {
		for _, f := range vars.Fields {
			if f.Value != nil && f.Value.Kind == Call {
				w.call(f.Value, subVarFns, "the variable map of Fn::Sub")
			}
		}
	}
}

func (w *walker) join(n *Node) {
	p := w.p
	a := n.Arg
	if a.Kind != List || len(a.Items) != 2 || hasNil(a.Items) {
		p.errorf(n.Pos, msgJoin)
		return
	}
	w.literalArg(a.Items[0], msgJoin, "the delimiter of Fn::Join")
	switch list := a.Items[1]; list.Kind {
	case Call:
		w.call(list, joinListFns, "the list of Fn::Join")
	case List:
		for _, it := range list.Items {
			if it != nil {
				w.stringArg(it, joinListFns, msgJoin, "the list of Fn::Join")
			}
		}
	default:
		p.errorf(list.Pos, msgJoin)
	}
}

func (w *walker) selectCall(n *Node) {
	p := w.p
	a := n.Arg
	if a.Kind != List || len(a.Items) != 2 || hasNil(a.Items) {
		p.errorf(n.Pos, msgSelectTwo)
		return
	}
	switch idx := a.Items[0]; idx.Kind {
	case Call:
		w.call(idx, selectIndexFns, "the index of Fn::Select")
	case Scalar:
		s, _ := idx.Text()
		if i, err := strconv.Atoi(s); err != nil || i < 0 {
			p.errorf(idx.Pos, msgSelectIdx)
		}
	default:
		p.errorf(idx.Pos, msgSelectIdx)
	}
	switch list := a.Items[1]; list.Kind {
	case Call:
		w.call(list, selectListFns, "the list of Fn::Select")
	case List:
		w.value(list, w.free(), "the list of Fn::Select")
	default:
		p.errorf(list.Pos, msgSelectTwo)
	}
}

func (w *walker) ifCall(n *Node) {
	p := w.p
	a := n.Arg
	if a.Kind != List || len(a.Items) < 1 || a.Items[0] == nil || a.Items[0].Kind != Scalar {
		p.errorf(n.Pos, msgIfCond)
		return
	}
	if len(a.Items) != 3 {
		p.errorf(n.Pos, msgIfThree)
		return
	}
	cond, _ := a.Items[0].Text()
	if !p.conds[cond] {
		p.errorf(a.Items[0].Pos, "Template error: unresolved condition dependency %s in Fn::If", cond)
	}
	w.guards = append(w.guards, guard{cond: cond, branch: true})
	w.value(a.Items[1], valueFns, "a branch of Fn::If")
	w.guards[len(w.guards)-1].branch = false
	w.value(a.Items[2], valueFns, "a branch of Fn::If")
	w.guards = w.guards[:len(w.guards)-1]
}

// condition checks a condition expression (in the Conditions section).
func (w *walker) condition(n *Node) {
	p := w.p
	if n == nil {
		return
	}
	if n.Kind == Map {
		name, ok := n.Fields[0].Value.Text()
		switch {
		case n.Fields[0].Value == nil:
		case !ok:
			p.errorf(n.Pos, msgCondName)
		case !p.conds[name]:
			p.errorf(n.Fields[0].Value.Pos, "Template format error: Unresolved condition dependencies [%s] in the Conditions block of the template", name)
		default:
			p.condDeps[w.owner] = append(p.condDeps[w.owner], name)
		}
		return
	}
	a := n.Arg
	switch n.Fn {
	case fnEquals:
		if a.Kind != List || len(a.Items) != 2 {
			p.errorf(n.Pos, msgEquals)
			return
		}
		for _, it := range a.Items {
			w.value(it, equalsFns, "Fn::Equals")
		}
	case fnAnd, fnOr:
		if a.Kind != List || len(a.Items) < 2 || len(a.Items) > 10 {
			p.errorf(n.Pos, "%s", andOrMessage(n.Fn))
			return
		}
		for _, it := range a.Items {
			if !isConditionExpr(it) {
				p.errorf(n.Pos, "%s", andOrMessage(n.Fn))
				return
			}
		}
		for _, it := range a.Items {
			w.condition(it)
		}
	case fnNot:
		if a.Kind != List || len(a.Items) != 1 {
			p.errorf(n.Pos, msgNotOne)
			return
		}
		if !isConditionExpr(a.Items[0]) {
			p.errorf(n.Pos, msgNotToken)
			return
		}
		w.condition(a.Items[0])
	}
}

// ref checks the target of a Ref (or of a ${Name} in Fn::Sub).
func (w *walker) ref(name string, at Pos) {
	p := w.p
	switch {
	case contains(pseudoParams, name) || p.params[name]:
	case w.sect == inConditions:
		p.errorf(at, "Template format error: Unresolved dependencies [%s]. Cannot reference resources in the Conditions block of the template", name)
	case !p.resources[name]:
		p.errorf(at, "Template format error: Unresolved resource dependencies [%s] in the %s block of the template", name, w.block())
	case w.noResources != "":
		p.errorf(at, "%s", w.noResources)
	default:
		w.record(reference{target: name, pos: at})
	}
}

// getAtt checks the resource of a GetAtt (or of a ${Res.Attr} in Fn::Sub);
// attr is "" when the attribute name is computed.
func (w *walker) getAtt(res, attr string, at Pos) {
	p := w.p
	switch {
	case w.sect == inConditions:
		p.errorf(at, "Template format error: Unresolved dependencies [%s]. Cannot reference resources in the Conditions block of the template", res)
	case !p.resources[res]:
		p.errorf(at, "Template error: instance of Fn::GetAtt references undefined resource %s", res)
	case w.noResources != "":
		p.errorf(at, "%s", w.noResources)
	default:
		w.record(reference{target: res, attr: attr, getAtt: true, pos: at})
	}
}

// hasMapping reports a mapping the template declares.
func (p *parser) hasMapping(name string) bool {
	_, ok := p.t.Mappings[name]
	return ok || p.mappingNames[name]
}
