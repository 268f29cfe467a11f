package template

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
)

// Pseudo holds the values of the pseudo parameters (AWS::Region and the
// others) for one stack.
type Pseudo struct {
	Region, AccountID, StackName, StackID, Partition, URLSuffix string
	NotificationARNs                                            []string
	// AZs lists the availability zones of a region, for Fn::GetAZs.
	AZs func(region string) []string
}

// DefaultPseudo returns the local values of the pseudo parameters: Region
// "local", AccountID "000000000000", Partition "aws", URLSuffix
// "slipway.local", no NotificationARNs, the zones "<region>a", "<region>b"
// and "<region>c" of every region, and a StackID in AWS's form
// (arn:aws:cloudformation:local:000000000000:stack/<name>/<uuid>) whose
// UUID is derived from the name. The stack engine overrides what it knows
// better, the StackID first of all, which must differ between two stacks
// of the same name.
func DefaultPseudo(stackName string) Pseudo {
	const region, account, partition = "local", "000000000000", "aws"
	sum := sha1.Sum([]byte(stackName))
	uuid := fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
	return Pseudo{
		Region:           region,
		AccountID:        account,
		StackName:        stackName,
		StackID:          fmt.Sprintf("arn:%s:cloudformation:%s:%s:stack/%s/%s", partition, region, account, stackName, uuid),
		Partition:        partition,
		URLSuffix:        "slipway.local",
		NotificationARNs: []string{},
		AZs:              defaultAZs,
	}
}

func defaultAZs(region string) []string {
	return []string{region + "a", region + "b", region + "c"}
}

// withDefaults fills the zero fields of ps from DefaultPseudo.
func (ps Pseudo) withDefaults() Pseudo {
	d := DefaultPseudo(ps.StackName)
	fill := func(s *string, def string) {
		if *s == "" {
			*s = def
		}
	}
	fill(&ps.Region, d.Region)
	fill(&ps.AccountID, d.AccountID)
	fill(&ps.StackID, d.StackID)
	fill(&ps.Partition, d.Partition)
	fill(&ps.URLSuffix, d.URLSuffix)
	if ps.AZs == nil {
		ps.AZs = d.AZs
	}
	return ps
}

// Env is what evaluation reads from outside the template.
type Env struct {
	Params Params
	// Pseudo gives the pseudo parameters; zero fields take DefaultPseudo's
	// values.
	Pseudo Pseudo
	// Ref returns a resource's physical ID; ok=false means not known yet
	// (→ Unknown). A nil Ref knows no resource.
	Ref func(logical string) (physicalID string, ok bool)
	// Attr returns a resource attribute; ok=false means not known yet
	// (→ Unknown). A nil Attr knows no attribute.
	Attr func(logical, attr string) (v Value, ok bool)
	// Import returns an export's value; an error (e.g. "No export named X
	// found") fails evaluation. A nil Import knows no export.
	Import func(name string) (string, error)
}

// noValue is what Ref AWS::NoValue yields: the enclosing property or list
// element is removed. It never leaves the package.
type noValue struct{}

// failed marks a value whose evaluation reported an error, so that the
// functions around it report nothing more. It never leaves the package.
type failed struct{}

// evaluator holds the state of one evaluation.
type evaluator struct {
	t     *Template
	env   *Env
	ps    Pseudo
	conds map[string]bool
	// condState memoises conditions while EvalConditions runs: absent,
	// being evaluated, or done (value in conds).
	condState map[string]uint8
	errs      Errors
}

const (
	condBusy uint8 = iota + 1
	condDone
)

func (t *Template) evaluator(env *Env, conds map[string]bool) *evaluator {
	if env == nil {
		env = &Env{}
	}
	return &evaluator{t: t, env: env, ps: env.Pseudo.withDefaults(), conds: conds}
}

// resolveConds returns conds, or evaluates them when nil.
func (t *Template) resolveConds(env *Env, conds map[string]bool) (map[string]bool, error) {
	if conds != nil {
		return conds, nil
	}
	return t.EvalConditions(env)
}

func (e *evaluator) errorf(at Pos, format string, args ...any) failed {
	e.errs = append(e.errs, &Error{Pos: at, Msg: oneLine(fmt.Sprintf(format, args...))})
	return failed{}
}

// EvalConditions evaluates every condition from the parameters and pseudo
// parameters of env.
func (t *Template) EvalConditions(env *Env) (map[string]bool, error) {
	e := t.evaluator(env, map[string]bool{})
	e.condState = map[string]uint8{}
	for _, name := range t.ConditionOrder {
		e.condValue(name, t.Conditions[name].Pos)
	}
	if err := e.errs.asError(); err != nil {
		return nil, err
	}
	return e.conds, nil
}

func (e *evaluator) condValue(name string, at Pos) (bool, bool) {
	switch e.condState[name] {
	case condDone:
		v, ok := e.conds[name]
		return v, ok
	case condBusy:
		e.errorf(at, "Template format error: Circular dependency between conditions: [%s]", name)
		return false, false
	}
	n, ok := e.t.Conditions[name]
	if !ok {
		e.errorf(at, "Template format error: Unresolved condition dependencies [%s] in the Conditions block of the template", name)
		return false, false
	}
	e.condState[name] = condBusy
	v, ok := e.condition(n)
	e.condState[name] = condDone
	if ok {
		e.conds[name] = v
	}
	return v, ok
}

// condition evaluates a condition expression; ok is false after an error.
func (e *evaluator) condition(n *Node) (bool, bool) {
	if n.Kind == Map && len(n.Fields) == 1 && n.Fields[0].Key == keyCondition {
		name, _ := n.Fields[0].Value.Text()
		return e.condValue(name, n.Pos)
	}
	if n.Kind != Call || n.Arg == nil || n.Arg.Kind != List {
		e.errorf(n.Pos, "Template format error: Conditions can only be boolean operations on parameters and other conditions")
		return false, false
	}
	items := n.Arg.Items
	switch n.Fn {
	case fnEquals:
		if len(items) != 2 {
			e.errorf(n.Pos, msgEquals)
			return false, false
		}
		a, b := e.eval(items[0]), e.eval(items[1])
		if isFailed(a) || isFailed(b) {
			return false, false
		}
		return reflect.DeepEqual(comparable(a), comparable(b)), true
	case fnAnd, fnOr:
		if len(items) < 2 || len(items) > 10 {
			e.errorf(n.Pos, "%s", andOrMessage(n.Fn))
			return false, false
		}
		result := n.Fn == fnAnd
		for _, it := range items {
			v, ok := e.condition(it)
			if !ok {
				return false, false
			}
			if n.Fn == fnAnd {
				result = result && v
			} else {
				result = result || v
			}
		}
		return result, true
	case fnNot:
		if len(items) != 1 {
			e.errorf(n.Pos, msgNotOne)
			return false, false
		}
		v, ok := e.condition(items[0])
		return !v, ok
	}
	e.errorf(n.Pos, "Template format error: Conditions can only be boolean operations on parameters and other conditions")
	return false, false
}

// comparable turns a value into the form Fn::Equals compares: scalars as
// the text CloudFormation uses for them, so that 2 equals "2" and true
// equals "true".
func comparable(v Value) Value {
	switch v := v.(type) {
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = comparable(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = comparable(x)
		}
		return out
	}
	if s, ok := scalarText(v); ok {
		return s
	}
	return v
}

// EvalProperties evaluates a resource's Properties. Nil conds are
// evaluated from env first. Properties that are Ref AWS::NoValue, or an
// Fn::If choosing it, are left out; values not known yet are Unknown.
// Every problem of the properties is reported at once.
func (t *Template) EvalProperties(env *Env, conds map[string]bool, logical string) (map[string]any, error) {
	r, ok := t.Resources[logical]
	if !ok {
		return nil, Errors{{Pos: Pos{File: t.file}, Msg: fmt.Sprintf("Template error: the template has no resource named %s", logical)}}
	}
	conds, err := t.resolveConds(env, conds)
	if err != nil {
		return nil, err
	}
	if !t.active(logical, conds) {
		return nil, Errors{{Pos: r.Pos, Msg: fmt.Sprintf("Template error: resource %s is not created, as its condition %s is false", logical, r.Condition)}}
	}
	if r.Properties == nil {
		return map[string]any{}, nil
	}
	v, err := t.EvalNode(env, conds, r.Properties)
	if err != nil {
		return nil, err
	}
	m, _ := v.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// EvalNode evaluates any node of the template (a resource's
// CreationPolicy, UpdatePolicy or Metadata, for instance). Nil conds are
// evaluated from env first. It returns nil for a node that is Ref
// AWS::NoValue.
func (t *Template) EvalNode(env *Env, conds map[string]bool, n *Node) (Value, error) {
	if n == nil {
		return nil, nil
	}
	conds, err := t.resolveConds(env, conds)
	if err != nil {
		return nil, err
	}
	e := t.evaluator(env, conds)
	v := e.eval(n)
	if err := e.errs.asError(); err != nil {
		return nil, err
	}
	if _, ok := v.(noValue); ok {
		return nil, nil
	}
	return v, nil
}

// EvalOutputs evaluates the outputs whose condition holds, in file order.
// Nil conds are evaluated from env first. An output's value is a string,
// or an Unknown while a resource it names does not exist yet.
func (t *Template) EvalOutputs(env *Env, conds map[string]bool) ([]OutputValue, error) {
	conds, err := t.resolveConds(env, conds)
	if err != nil {
		return nil, err
	}
	e := t.evaluator(env, conds)
	out := []OutputValue{}
	for _, name := range t.OutputOrder {
		o := t.Outputs[name]
		if o.Condition != "" && !conds[o.Condition] {
			continue
		}
		ov := OutputValue{Name: name, Description: o.Description}
		ok := true
		switch v := e.eval(o.Value).(type) {
		case failed:
			ok = false
		case Unknown:
			ov.Value = v
		case []any:
			e.errorf(o.Value.Pos, "Template format error: The Value field of every Outputs member must evaluate to a String and not a List.")
			ok = false
		case map[string]any:
			e.errorf(o.Value.Pos, "Template format error: The Value field of every Outputs member must evaluate to a String and not a Map.")
			ok = false
		case noValue:
			e.errorf(o.Value.Pos, "Template format error: the Value of output %s is AWS::NoValue; every Outputs member must have a value", name)
			ok = false
		default:
			ov.Value, _ = scalarText(v)
		}
		if o.ExportName != nil {
			switch v := e.eval(o.ExportName).(type) {
			case failed:
				ok = false
			default:
				s, isText := scalarText(v)
				if !isText || s == "" {
					e.errorf(o.ExportName.Pos, "Template error: the Export Name of output %s must evaluate to a non-empty string", name)
					ok = false
				}
				ov.ExportName = s
			}
		}
		if ok {
			out = append(out, ov)
		}
	}
	if err := e.errs.asError(); err != nil {
		return nil, err
	}
	return out, nil
}

func isFailed(v Value) bool {
	_, ok := v.(failed)
	return ok
}

// eval evaluates a node; errors are recorded and yield failed.
func (e *evaluator) eval(n *Node) Value {
	if n == nil {
		// Parse never leaves a hole in a template it returns; a node built
		// by hand may have one.
		return e.errorf(Pos{File: e.t.file}, "Template format error: a value is missing")
	}
	switch n.Kind {
	case Scalar:
		return n.Value
	case List:
		out := make([]any, 0, len(n.Items))
		bad := false
		for _, it := range n.Items {
			switch v := e.eval(it).(type) {
			case noValue:
			case failed:
				bad = true
			default:
				out = append(out, v)
			}
		}
		if bad {
			return failed{}
		}
		return out
	case Map:
		out := make(map[string]any, len(n.Fields))
		bad := false
		for _, f := range n.Fields {
			switch v := e.eval(f.Value).(type) {
			case noValue:
			case failed:
				bad = true
			default:
				out[f.Key] = v
			}
		}
		if bad {
			return failed{}
		}
		return out
	case Call:
		if n.Arg == nil {
			return e.errorf(n.Pos, "Template format error: %s has no argument", n.Fn)
		}
		return e.call(n)
	}
	return e.errorf(n.Pos, "Template format error: a value of unknown kind %d", n.Kind)
}

func (e *evaluator) call(n *Node) Value {
	a := n.Arg
	switch n.Fn {
	case fnRef:
		name, ok := a.Text()
		if !ok {
			return e.errorf(n.Pos, msgRef)
		}
		return e.ref(name, a.Pos)
	case fnGetAtt:
		return e.getAttCall(n)
	case fnSub:
		return e.sub(n)
	case fnJoin:
		return e.join(n)
	case fnSelect:
		return e.selectCall(n)
	case fnSplit:
		return e.split(n)
	case fnFindInMap:
		return e.findInMap(n)
	case fnGetAZs:
		v := e.eval(a)
		region, ok := scalarText(v)
		switch {
		case isStop(v):
			return v
		case !ok:
			return e.errorf(n.Pos, msgGetAZs)
		case region == "":
			region = e.ps.Region
		}
		return strings2any(e.ps.AZs(region))
	case fnImportValue:
		return e.importValue(n)
	case fnBase64:
		v := e.eval(a)
		s, ok := scalarText(v)
		switch {
		case isStop(v):
			return v
		case !ok:
			return e.errorf(n.Pos, msgBase64)
		}
		return base64.StdEncoding.EncodeToString([]byte(s))
	case fnCidr:
		return e.cidr(n)
	case fnIf:
		return e.ifCall(n)
	case fnEquals, fnAnd, fnOr, fnNot:
		return e.errorf(n.Pos, "Template error: %s cannot be partially collapsed; condition functions belong in the Conditions section, and Fn::If chooses a value by a condition's name", n.Fn)
	}
	return e.errorf(n.Pos, "Template format error: Encountered unsupported function: %s Supported functions are: [%s]", n.Fn, strings.Join(supported, ", "))
}

// isStop reports a value a function passes on unchanged: an earlier
// failure, or an Unknown.
func isStop(v Value) bool {
	switch v.(type) {
	case failed, Unknown:
		return true
	}
	return false
}

func strings2any(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// ref resolves a Ref (or a ${Name} of Fn::Sub).
func (e *evaluator) ref(name string, at Pos) Value {
	ps := e.ps
	switch name {
	case "AWS::NoValue":
		return noValue{}
	case "AWS::Region":
		return ps.Region
	case "AWS::AccountId":
		return ps.AccountID
	case "AWS::StackName":
		return ps.StackName
	case "AWS::StackId":
		return ps.StackID
	case "AWS::Partition":
		return ps.Partition
	case "AWS::URLSuffix":
		return ps.URLSuffix
	case "AWS::NotificationARNs":
		return strings2any(ps.NotificationARNs)
	}
	if _, ok := e.t.Parameters[name]; ok {
		v, ok := e.env.Params[name]
		if !ok {
			return e.errorf(at, "Parameters: [%s] must have values", name)
		}
		return copyValue(v)
	}
	if !e.t.active(name, e.conds) {
		return e.errorf(at, "Template format error: Unresolved resource dependencies [%s] in the Resources block of the template", name)
	}
	if e.env.Ref != nil {
		if id, ok := e.env.Ref(name); ok {
			return id
		}
	}
	return Unknown{Ref: name}
}

// copyValue copies lists and mappings, so that the caller can change what
// evaluation returns without changing the template or the parameters.
func copyValue(v Value) Value {
	switch v := v.(type) {
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = copyValue(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = copyValue(x)
		}
		return out
	}
	return v
}

func (e *evaluator) getAttCall(n *Node) Value {
	a := n.Arg
	var res, attr string
	switch {
	case a.Kind == Scalar:
		s, _ := a.Text()
		var ok bool
		if res, attr, ok = strings.Cut(s, "."); !ok || res == "" || attr == "" {
			return e.errorf(n.Pos, msgGetAtt)
		}
	case a.Kind == List && len(a.Items) == 2 && !hasNil(a.Items):
		res, _ = a.Items[0].Text()
		v := e.eval(a.Items[1])
		if isStop(v) {
			return v
		}
		attr, _ = scalarText(v)
	}
	if res == "" || attr == "" {
		return e.errorf(n.Pos, msgGetAtt)
	}
	return e.getAtt(res, attr, a.Pos)
}

// getAtt resolves a GetAtt (or a ${Res.Attr} of Fn::Sub).
func (e *evaluator) getAtt(res, attr string, at Pos) Value {
	if _, ok := e.t.Resources[res]; !ok {
		return e.errorf(at, "Template error: instance of Fn::GetAtt references undefined resource %s", res)
	}
	if !e.t.active(res, e.conds) {
		return e.errorf(at, "Template format error: Unresolved resource dependencies [%s] in the Resources block of the template", res)
	}
	if e.env.Attr != nil {
		if v, ok := e.env.Attr(res, attr); ok {
			return v
		}
	}
	return Unknown{Ref: res + "." + attr}
}

func (e *evaluator) sub(n *Node) Value {
	str, vars, ok := subArgs(n.Arg)
	if !ok {
		return e.errorf(n.Pos, msgSub)
	}
	s, _ := str.Text()
	parts, err := parseSub(s)
	if err != nil {
		return e.errorf(str.Pos, msgSubVar)
	}
	values := map[string]Value{}
	if vars != nil {
		bad := false
		for _, f := range vars.Fields {
			v := e.eval(f.Value)
			bad = bad || isFailed(v)
			values[f.Key] = v
		}
		if bad {
			return failed{}
		}
	}
	var b strings.Builder
	var unknown Value
	for _, part := range parts {
		if !part.isVar {
			b.WriteString(part.text)
			continue
		}
		v, ok := values[part.text]
		if !ok {
			if res, attr, dot := strings.Cut(part.text, "."); dot {
				v = e.getAtt(res, attr, str.Pos)
			} else {
				v = e.ref(part.text, str.Pos)
			}
		}
		switch v := v.(type) {
		case failed:
			return v
		case Unknown:
			if unknown == nil {
				unknown = v
			}
			continue
		}
		text, ok := scalarText(v)
		if !ok {
			return e.errorf(str.Pos, "Template error: variable %s in Fn::Sub expression does not resolve to a string", part.text)
		}
		b.WriteString(text)
	}
	if unknown != nil {
		return unknown
	}
	return b.String()
}

func (e *evaluator) join(n *Node) Value {
	a := n.Arg
	if a.Kind != List || len(a.Items) != 2 || hasNil(a.Items) {
		return e.errorf(n.Pos, msgJoin)
	}
	delim, ok := a.Items[0].Text()
	if !ok {
		return e.errorf(n.Pos, msgJoin)
	}
	v := e.eval(a.Items[1])
	if isStop(v) {
		return v
	}
	list, ok := v.([]any)
	if !ok {
		return e.errorf(n.Pos, msgJoin)
	}
	texts := make([]string, len(list))
	for i, it := range list {
		if u, ok := it.(Unknown); ok {
			return u
		}
		if texts[i], ok = scalarText(it); !ok {
			return e.errorf(n.Pos, msgJoin)
		}
	}
	return strings.Join(texts, delim)
}

func (e *evaluator) selectCall(n *Node) Value {
	a := n.Arg
	if a.Kind != List || len(a.Items) != 2 || hasNil(a.Items) {
		return e.errorf(n.Pos, msgSelectTwo)
	}
	iv := e.eval(a.Items[0])
	if isStop(iv) {
		return iv
	}
	text, _ := scalarText(iv)
	index, err := strconv.Atoi(text)
	if err != nil {
		return e.errorf(a.Items[0].Pos, msgSelectIdx)
	}
	v := e.eval(a.Items[1])
	if isStop(v) {
		return v
	}
	list, ok := v.([]any)
	if !ok {
		return e.errorf(n.Pos, msgSelectTwo)
	}
	if index < 0 || index >= len(list) {
		return e.errorf(n.Pos, "Template error: Fn::Select cannot select nonexistent value at index %d", index)
	}
	return list[index]
}

func (e *evaluator) split(n *Node) Value {
	a := n.Arg
	if a.Kind != List || len(a.Items) != 2 || hasNil(a.Items) {
		return e.errorf(n.Pos, msgSplit)
	}
	delim, ok := a.Items[0].Text()
	if !ok || delim == "" {
		return e.errorf(n.Pos, msgSplit)
	}
	v := e.eval(a.Items[1])
	if isStop(v) {
		return v
	}
	s, ok := scalarText(v)
	if !ok {
		return e.errorf(n.Pos, msgSplit)
	}
	return strings2any(strings.Split(s, delim))
}

func (e *evaluator) findInMap(n *Node) Value {
	a := n.Arg
	if a.Kind != List || len(a.Items) != 3 || hasNil(a.Items) {
		return e.errorf(n.Pos, msgFindInMap)
	}
	var keys [3]string
	for i, it := range a.Items {
		v := e.eval(it)
		if isStop(v) {
			return v
		}
		s, ok := scalarText(v)
		if !ok {
			return e.errorf(it.Pos, msgFindInMap)
		}
		keys[i] = s
	}
	m, ok := e.t.Mappings[keys[0]]
	if !ok {
		return e.errorf(a.Items[0].Pos, "Template error: Mapping named '%s' is not present in the 'Mappings' section of template", keys[0])
	}
	v, ok := m[keys[1]][keys[2]]
	if !ok {
		return e.errorf(n.Pos, "Template error: Unable to get mapping for %s::%s::%s", keys[0], keys[1], keys[2])
	}
	return copyValue(v)
}

func (e *evaluator) importValue(n *Node) Value {
	v := e.eval(n.Arg)
	if isStop(v) {
		return v
	}
	name, ok := scalarText(v)
	if !ok {
		return e.errorf(n.Pos, msgImport)
	}
	if e.env.Import == nil {
		return e.errorf(n.Pos, "No export named %s found", name)
	}
	value, err := e.env.Import(name)
	if err != nil {
		return e.errorf(n.Pos, "%s", err.Error())
	}
	return value
}

func (e *evaluator) ifCall(n *Node) Value {
	a := n.Arg
	if a.Kind != List || len(a.Items) < 1 || a.Items[0] == nil || a.Items[0].Kind != Scalar {
		return e.errorf(n.Pos, msgIfCond)
	}
	if len(a.Items) != 3 {
		return e.errorf(n.Pos, msgIfThree)
	}
	name, _ := a.Items[0].Text()
	v, ok := e.conds[name]
	if !ok {
		return e.errorf(a.Items[0].Pos, "Template error: unresolved condition dependency %s in Fn::If", name)
	}
	// Only the chosen branch is evaluated: the other may name resources
	// that do not exist under these conditions.
	if v {
		return e.eval(a.Items[1])
	}
	return e.eval(a.Items[2])
}

func (e *evaluator) cidr(n *Node) Value {
	a := n.Arg
	if a.Kind != List || len(a.Items) != 3 || hasNil(a.Items) {
		return e.errorf(n.Pos, msgCidr)
	}
	var args [3]string
	for i, it := range a.Items {
		v := e.eval(it)
		if isStop(v) {
			return v
		}
		s, ok := scalarText(v)
		if !ok {
			return e.errorf(it.Pos, msgCidr)
		}
		args[i] = s
	}
	count, err1 := strconv.Atoi(args[1])
	bits, err2 := strconv.Atoi(args[2])
	if err1 != nil || err2 != nil {
		return e.errorf(n.Pos, msgCidr)
	}
	out, msg := cidrs(args[0], count, bits)
	if msg != "" {
		return e.errorf(n.Pos, "Template error: %s", msg)
	}
	return out
}

// cidrs splits block into count consecutive CIDRs of bits host bits each
// (8 host bits make /24 blocks of an IPv4 address).
func cidrs(block string, count, bits int) ([]any, string) {
	prefix, err := netip.ParsePrefix(block)
	if err != nil {
		return nil, fmt.Sprintf("Fn::Cidr needs an IP block in CIDR notation such as 10.0.0.0/16, found %s", quoteText(block))
	}
	prefix = prefix.Masked()
	size := prefix.Addr().BitLen()
	if count < 1 || count > 256 {
		return nil, fmt.Sprintf("Fn::Cidr can make 1 to 256 CIDRs, not %d", count)
	}
	newLen := size - bits
	if bits < 1 || newLen < prefix.Bits() {
		return nil, fmt.Sprintf("Fn::Cidr cannot make CIDRs with %d host bits from %s", bits, prefix)
	}
	if free := newLen - prefix.Bits(); free < 9 && count > 1<<free {
		return nil, fmt.Sprintf("Fn::Cidr cannot make %d CIDRs with %d host bits from %s, only %d", count, bits, prefix, 1<<free)
	}
	base := new(big.Int).SetBytes(prefix.Addr().AsSlice())
	step := new(big.Int).Lsh(big.NewInt(1), uint(bits))
	out := make([]any, 0, count)
	buf := make([]byte, size/8)
	for i := range count {
		v := new(big.Int).Add(base, new(big.Int).Mul(step, big.NewInt(int64(i))))
		addr, _ := netip.AddrFromSlice(v.FillBytes(buf))
		out = append(out, netip.PrefixFrom(addr, newLen).String())
	}
	return out, ""
}
