// Package yamlpos holds YAML documents read with positions, and the
// positioned errors of the format parsers (buildspec, appspec): loading a
// single document, walking mappings (duplicate keys, merge keys, aliases)
// and reporting each problem as file:line:col: message. It does no I/O of
// its own.
package yamlpos

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a place in a file; Line and Column start at 1.
type Pos struct {
	Line, Column int
}

// Error is one problem of a file: where it is and what to do about it.
type Error struct {
	// File is the name the caller gave Parse; it is only printed.
	File string
	Pos  Pos
	// Msg says in plain words what is wrong and how to fix it.
	Msg string
}

// Error prints the problem as file:line:col: message, the form editors and
// terminals turn into a link.
func (e *Error) Error() string {
	if e.File == "" {
		return fmt.Sprintf("%d:%d: %s", e.Pos.Line, e.Pos.Column, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Pos.Line, e.Pos.Column, e.Msg)
}

// Errors is every problem Parse found in one file, in file order. Parse
// returns it (never empty) so that a user fixes the whole file in one go.
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

// Sorted orders the problems by position and drops exact repeats, which
// appear when an anchored node is reached through several aliases. It
// reorders es in place and returns it, shortened.
func (es Errors) Sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Pos, es[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
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
