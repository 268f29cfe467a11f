package pipeline

import (
	"fmt"
	"strings"
)

// source is what Parse and FromProperties learnt of where each value was
// written; validation reads it to place its problems.
type source struct {
	// file is the file name or the logical ID, for messages.
	file string
	// positions is false for properties, whose values have no place.
	positions bool
	// at maps a property path (Stages[0].Actions[1].Name) to where its key
	// and its value were written.
	at map[string]loc
	// settled holds the paths already reported while decoding, and the
	// keys a typo stood for, so that validation adds no follow-on problem
	// about them or anything under them.
	settled map[string]bool
	// errs are the problems of reading the document.
	errs Errors
	// spell suggests keys and names, for decoding and validation.
	spell *speller
}

// loc is where a key and its value were written; a list item's key is the
// item itself.
type loc struct {
	key, val Pos
}

func newSource(file string, positions bool) *source {
	return &source{file: file, positions: positions, at: map[string]loc{}, settled: map[string]bool{}, spell: newSpeller()}
}

// errAt records a problem of reading the document and settles its path.
func (s *source) errAt(at Pos, path, format string, args ...any) {
	s.errs = append(s.errs, &Error{File: s.file, Pos: at, Path: path, Msg: oneLine(fmt.Sprintf(format, args...))})
	if path != "" {
		s.settled[path] = true
	}
}

// place returns where to report a problem of path: its key or its value
// when path was written, else the value of the nearest ancestor that was
// (a missing key is reported at the mapping that lacks it).
func (s *source) place(path string, atKey bool) Pos {
	if s == nil || !s.positions {
		return Pos{}
	}
	if l, ok := s.at[path]; ok {
		if atKey {
			return l.key
		}
		return l.val
	}
	for path != "" {
		path = parent(path)
		if l, ok := s.at[path]; ok {
			return l.val
		}
	}
	return Pos{Line: 1, Column: 1}
}

// isSettled reports whether path or one of its ancestors was settled.
func (s *source) isSettled(path string) bool {
	if s == nil {
		return false
	}
	for {
		if s.settled[path] {
			return true
		}
		if path == "" {
			return false
		}
		path = parent(path)
	}
}

// parent strips the last step of a property path: Stages[0].Name gives
// Stages[0], Stages[0] gives Stages, Stages gives "".
func parent(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// join adds a key to a property path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// index adds a list index to a property path.
func index(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}
