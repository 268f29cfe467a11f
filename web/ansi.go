package web

import (
	"html/template"
	"strconv"
	"strings"
	"unicode/utf8"
)

// No well-kept ANSI-to-HTML library is reachable from the module proxy
// here, so this is a small SGR renderer: build logs need colours, bold,
// dim, italic and underline; every other escape sequence is dropped.

// ansiState is the SGR state of terminal output: what the text written
// next looks like.
type ansiState struct {
	// fg and bg are a colour of the 16-colour palette plus one; 0 is the
	// default colour.
	fg, bg                       int
	bold, dim, italic, underline bool
}

// classes are the CSS classes of text in this state (builds.css); the
// console's CSP forbids inline styles.
func (s ansiState) classes() string {
	var c []string
	if s.bold {
		c = append(c, "ansi-bold")
	}
	if s.dim {
		c = append(c, "ansi-dim")
	}
	if s.italic {
		c = append(c, "ansi-italic")
	}
	if s.underline {
		c = append(c, "ansi-underline")
	}
	if s.fg > 0 {
		c = append(c, "ansi-fg-"+strconv.Itoa(s.fg-1))
	}
	if s.bg > 0 {
		c = append(c, "ansi-bg-"+strconv.Itoa(s.bg-1))
	}
	return strings.Join(c, " ")
}

// params are the SGR parameters that make this state from the default
// one ("" for the default): a live log's stream carries them on to the
// lines that come next.
func (s ansiState) params() string {
	var p []string
	for _, on := range []struct {
		set  bool
		code string
	}{{s.bold, "1"}, {s.dim, "2"}, {s.italic, "3"}, {s.underline, "4"}} {
		if on.set {
			p = append(p, on.code)
		}
	}
	colour := func(c, base, bright int) {
		switch {
		case c == 0:
		case c <= 8:
			p = append(p, strconv.Itoa(base+c-1))
		default:
			p = append(p, strconv.Itoa(bright+c-9))
		}
	}
	colour(s.fg, 30, 90)
	colour(s.bg, 40, 100)
	return strings.Join(p, ";")
}

// parseAnsiState is the state that params made (what params returned);
// anything else yields whatever of it is SGR.
func parseAnsiState(params string) ansiState {
	var s ansiState
	if len(params) > 64 {
		return s
	}
	s.apply(params)
	return s
}

// apply applies the parameters of one SGR sequence (ESC [ params m).
func (s *ansiState) apply(params string) {
	ps := strings.FieldsFunc(params, func(r rune) bool { return r == ';' || r == ':' })
	if params == "" {
		ps = []string{"0"}
	}
	for i := 0; i < len(ps); i++ {
		n, err := strconv.Atoi(ps[i])
		if err != nil {
			continue
		}
		switch {
		case n == 0:
			*s = ansiState{}
		case n == 1:
			s.bold = true
		case n == 2:
			s.dim = true
		case n == 3:
			s.italic = true
		case n == 4:
			s.underline = true
		case n == 22:
			s.bold, s.dim = false, false
		case n == 23:
			s.italic = false
		case n == 24:
			s.underline = false
		case n >= 30 && n <= 37:
			s.fg = n - 30 + 1
		case n == 39:
			s.fg = 0
		case n >= 40 && n <= 47:
			s.bg = n - 40 + 1
		case n == 49:
			s.bg = 0
		case n >= 90 && n <= 97:
			s.fg = n - 90 + 9
		case n >= 100 && n <= 107:
			s.bg = n - 100 + 9
		case n == 38 || n == 48:
			// 38;5;N picks a palette colour (only the 16 the console has
			// classes for are kept); 38;2;R;G;B a true colour, dropped.
			if i+1 >= len(ps) {
				continue
			}
			switch ps[i+1] {
			case "5":
				if i+2 < len(ps) {
					if c, err := strconv.Atoi(ps[i+2]); err == nil && c >= 0 && c < 16 {
						if n == 38 {
							s.fg = c + 1
						} else {
							s.bg = c + 1
						}
					}
				}
				i += 2
			case "2":
				i += 4
			default:
				i++
			}
		}
	}
}

// ansiLine renders one line of terminal output (without its newline) as
// HTML, starting in state st: the text escaped, SGR colours as spans with
// classes, other escape sequences and control characters (but tabs)
// dropped, and a carriage return starting the line over, as a terminal
// shows a progress bar. It also returns the line's plain text and the
// state at its end.
func ansiLine(line string, st ansiState) (template.HTML, string, ansiState) {
	line = strings.ToValidUTF8(line, "\uFFFD")
	var out, plain strings.Builder
	var run strings.Builder
	runState := st
	flush := func() {
		if run.Len() == 0 {
			return
		}
		text := template.HTMLEscapeString(run.String())
		if cls := runState.classes(); cls != "" {
			out.WriteString(`<span class="` + cls + `">` + text + `</span>`)
		} else {
			out.WriteString(text)
		}
		plain.WriteString(run.String())
		run.Reset()
	}
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == 0x1b:
			i = skipEscape(line, i, &st)
			if st != runState {
				flush()
				runState = st
			}
			continue
		case c == '\r':
			flush()
			out.Reset()
			plain.Reset()
		case c == '\t':
			run.WriteByte(c)
		case c < 0x20 || c == 0x7f:
		default:
			r, size := utf8.DecodeRuneInString(line[i:])
			// C1 controls are as invisible as C0 ones.
			if r < 0x80 || r > 0x9f {
				run.WriteString(line[i : i+size])
			}
			i += size
			continue
		}
		i++
	}
	flush()
	return template.HTML(out.String()), plain.String(), st
}

// skipEscape reads the escape sequence at line[i] (an ESC), applies it to
// st when it is SGR, and returns where the text goes on.
func skipEscape(line string, i int, st *ansiState) int {
	i++
	if i >= len(line) {
		return i
	}
	switch line[i] {
	case '[': // CSI: parameters, intermediates, a final byte
		j := i + 1
		for j < len(line) && line[j] >= 0x30 && line[j] <= 0x3f {
			j++
		}
		params := line[i+1 : j]
		k := j
		for k < len(line) && line[k] >= 0x20 && line[k] <= 0x2f {
			k++
		}
		if k >= len(line) {
			return k
		}
		if line[k] == 'm' && k == j && strings.Trim(params, "0123456789;:") == "" {
			st.apply(params)
		}
		if line[k] >= 0x40 && line[k] <= 0x7e {
			return k + 1
		}
		return k
	case ']', 'P', '_', '^': // OSC, DCS, APC, PM: up to BEL or ESC \
		for j := i + 1; j < len(line); j++ {
			if line[j] == 0x07 {
				return j + 1
			}
			if line[j] == 0x1b && j+1 < len(line) && line[j+1] == '\\' {
				return j + 2
			}
		}
		return len(line)
	}
	// Other sequences: intermediates, then a final byte.
	for i < len(line) && line[i] >= 0x20 && line[i] <= 0x2f {
		i++
	}
	if i < len(line) {
		i++
	}
	return i
}
