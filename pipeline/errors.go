package pipeline

import (
	"cmp"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Pos is a place in a declaration file; Line and Column start at 1. The
// zero Pos means the problem has no place in a file: the declaration came
// from a stack's evaluated properties or was built in Go.
type Pos struct {
	Line, Column int
}

// Error is one problem of a declaration: where it is and what to do about
// it.
type Error struct {
	// File is the file name given to Parse, or the logical ID given to
	// FromProperties; it is only printed.
	File string
	// Pos is where the problem was written; zero when not known.
	Pos Pos
	// Path names the offending value as CloudFormation property paths do,
	// e.g. Stages[0].Actions[1].ActionTypeId; "" for the whole declaration.
	Path string
	// Msg says in plain words what is wrong and how to fix it.
	Msg string
}

// Error prints the problem as file:line:col: message when its place is
// known, the form editors turn into a link, and as file: path: message
// otherwise.
func (e *Error) Error() string {
	if e.Pos.Line > 0 {
		if e.File == "" {
			return fmt.Sprintf("%d:%d: %s", e.Pos.Line, e.Pos.Column, e.Msg)
		}
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Pos.Line, e.Pos.Column, e.Msg)
	}
	var parts []string
	for _, s := range []string{e.File, e.Path, e.Msg} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ": ")
}

// Errors is every problem found in one declaration, in file order (in
// property-path order when there is no file). Parse, FromProperties and
// Validate return it (never empty) so that a user fixes the whole
// declaration in one go.
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

// sorted orders the problems by position, then by property path (so that
// problems without a position come in document order too), and drops exact
// repeats, which appear when an anchored node is reached through several
// aliases.
func (es Errors) sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Pos, es[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return comparePaths(es[i].Path, es[j].Path) < 0
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

// comparePaths orders property paths as the document does: list indexes
// by number, so Stages[2] comes before Stages[10].
func comparePaths(a, b string) int {
	for a != "" && b != "" {
		da, db := digits(a), digits(b)
		if da > 0 && db > 0 {
			na, _ := strconv.Atoi(a[:da])
			nb, _ := strconv.Atoi(b[:db])
			if na != nb {
				return cmp.Compare(na, nb)
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

// digits counts the decimal digits s starts with.
func digits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// oneLine keeps a message on one line whatever user text slipped into it,
// so that every problem stays one line of output.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r':
			return ' '
		case unicode.IsControl(r) && r != '\t':
			return '?'
		}
		return r
	}, s)
}

// show prints user text (a name, a key) in a message: as it is when it is
// short, quoted and cut when it is long or holds characters that would
// make the message ambiguous.
func show(s string) string {
	if r := []rune(s); len(r) > 60 {
		return fmt.Sprintf("%q", string(r[:60])+"…")
	}
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == '"' }) {
		return fmt.Sprintf("%q", s)
	}
	return s
}

// quoteValue prints a value in a "found ..." message, cut to a readable
// length.
func quoteValue(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + "…"
	}
	if r := []rune(s); len(r) > 40 {
		s = string(r[:40]) + "…"
	}
	return fmt.Sprintf("%q", s)
}
