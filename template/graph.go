package template

import (
	"fmt"
	"strings"
)

// Active reports, in file order, the resources whose Condition holds under
// conds (a resource without a Condition always exists; nil conds count every
// resource as active).
func (t *Template) Active(conds map[string]bool) []string {
	var out []string
	for _, name := range t.ResourceOrder {
		if t.active(name, conds) {
			out = append(out, name)
		}
	}
	return out
}

func (t *Template) active(name string, conds map[string]bool) bool {
	r, ok := t.Resources[name]
	if !ok {
		return false
	}
	return r.Condition == "" || conds == nil || conds[r.Condition]
}

// Dependencies returns, for each active resource, the active resources it
// depends on through Ref, Fn::GetAtt, Fn::Sub and DependsOn, in file order.
// With conds, only the taken branch of each Fn::If counts; with nil conds
// every branch does. A reference to an inactive resource is left out here
// and reported by Order.
func (t *Template) Dependencies(conds map[string]bool) map[string][]string {
	index := t.index()
	out := make(map[string][]string, len(t.ResourceOrder))
	for _, name := range t.ResourceOrder {
		if !t.active(name, conds) {
			continue
		}
		seen := map[string]bool{}
		deps := []string{}
		for _, r := range t.refs[name] {
			if seen[r.target] || !r.holds(conds) || !t.active(r.target, conds) {
				continue
			}
			seen[r.target] = true
			deps = append(deps, r.target)
		}
		sortByIndex(deps, index)
		out[name] = deps
	}
	return out
}

// Order returns the active resources in an order where each comes after
// everything it depends on (ties keep file order), for a caller that applies
// one resource at a time; a parallel apply uses Dependencies. It reports a
// cycle through the taken Fn::If branches ("Circular dependency between
// resources: [A, B]") and a reference from an active resource to one whose
// condition is false, as CloudFormation does when it creates the stack.
func (t *Template) Order(conds map[string]bool) ([]string, error) {
	var errs Errors
	for _, name := range t.ResourceOrder {
		if !t.active(name, conds) {
			continue
		}
		for _, r := range t.refs[name] {
			if r.holds(conds) && !t.active(r.target, conds) {
				errs = append(errs, &Error{Pos: r.pos, Msg: fmt.Sprintf("Template format error: Unresolved resource dependencies [%s] in the Resources block of the template", r.target)})
			}
		}
	}
	deps := t.Dependencies(conds)
	active := t.Active(conds)
	for _, cycle := range cycles(active, deps) {
		errs = append(errs, t.cycleError(cycle))
	}
	if len(errs) > 0 {
		return nil, errs.sorted()
	}
	// Kahn's algorithm, always taking the first ready resource in file
	// order, so that the order is deterministic.
	remaining := map[string]int{}
	users := map[string][]string{}
	for _, name := range active {
		remaining[name] = len(deps[name])
		for _, d := range deps[name] {
			users[d] = append(users[d], name)
		}
	}
	done := map[string]bool{}
	out := make([]string, 0, len(active))
	for len(out) < len(active) {
		for _, name := range active {
			if done[name] || remaining[name] > 0 {
				continue
			}
			done[name] = true
			out = append(out, name)
			for _, u := range users[name] {
				remaining[u]--
			}
			break
		}
	}
	return out, nil
}

func (t *Template) cycleError(cycle []string) *Error {
	return &Error{Pos: t.Resources[cycle[0]].Pos, Msg: "Circular dependency between resources: [" + strings.Join(cycle, ", ") + "]"}
}

// index maps each resource to its place in the file.
func (t *Template) index() map[string]int {
	index := make(map[string]int, len(t.ResourceOrder))
	for i, name := range t.ResourceOrder {
		index[name] = i
	}
	return index
}

// sortByIndex sorts names by their place (insertion sort: lists are short).
func sortByIndex(names []string, index map[string]int) {
	for i := 1; i < len(names); i++ {
		for j := i; j > 0 && index[names[j]] < index[names[j-1]]; j-- {
			names[j], names[j-1] = names[j-1], names[j]
		}
	}
}

// cycles returns the strongly connected components of the graph that are
// cycles (more than one node, or a node that depends on itself), each with
// its nodes in the order of nodes, the components ordered by their first
// node. It is Tarjan's algorithm.
func cycles(nodes []string, edges map[string][]string) [][]string {
	index := map[string]int{}
	for i, n := range nodes {
		index[n] = i
	}
	var (
		next    int
		num     = map[string]int{}
		low     = map[string]int{}
		onStack = map[string]bool{}
		stack   []string
		out     [][]string
	)
	var visit func(v string)
	visit = func(v string) {
		num[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range edges[v] {
			if _, known := index[w]; !known {
				continue
			}
			if _, seen := num[w]; !seen {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], num[w])
			}
		}
		if low[v] != num[v] {
			return
		}
		var comp []string
		for {
			w := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			onStack[w] = false
			comp = append(comp, w)
			if w == v {
				break
			}
		}
		if len(comp) > 1 || contains(edges[v], v) {
			sortByIndex(comp, index)
			out = append(out, comp)
		}
	}
	for _, n := range nodes {
		if _, seen := num[n]; !seen {
			visit(n)
		}
	}
	// Components come out in reverse topological order; report them in
	// file order instead.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && index[out[j][0]] < index[out[j-1][0]]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// resourceCycles reports the cycles every stack of this template would
// have: those made by DependsOn and by references outside any Fn::If. A
// cycle through Fn::If branches depends on the conditions and is reported
// by Order.
func (p *parser) resourceCycles() {
	t := p.t
	edges := map[string][]string{}
	for _, name := range t.ResourceOrder {
		for _, r := range t.refs[name] {
			if len(r.guards) == 0 {
				edges[name] = append(edges[name], r.target)
			}
		}
	}
	for _, cycle := range cycles(t.ResourceOrder, edges) {
		p.errs = append(p.errs, t.cycleError(cycle))
	}
}

// conditionCycles reports conditions that refer to each other in a circle.
func (p *parser) conditionCycles() {
	t := p.t
	for _, cycle := range cycles(t.ConditionOrder, p.condDeps) {
		p.errorf(t.Conditions[cycle[0]].Pos, "Template format error: Circular dependency between conditions: [%s]", strings.Join(cycle, ", "))
	}
}
