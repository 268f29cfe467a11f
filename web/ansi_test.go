package web

import "testing"

func TestAnsiLine(t *testing.T) {
	for _, tc := range []struct {
		name, in   string
		start      string // the SGR state the line starts in
		html, text string
		end        string
	}{
		{"plain", "hello world", "", "hello world", "hello world", ""},
		{"escaped", `<script>alert("x")</script> & co`, "", "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co", `<script>alert("x")</script> & co`, ""},
		{"colour and reset", "\x1b[31merror\x1b[0m: bad", "", `<span class="ansi-fg-1">error</span>: bad`, "error: bad", ""},
		{"bold bright", "\x1b[1;92mok\x1b[m done", "", `<span class="ansi-bold ansi-fg-10">ok</span> done`, "ok done", ""},
		{"background", "\x1b[30;47m x \x1b[49m y", "", `<span class="ansi-fg-0 ansi-bg-7"> x </span><span class="ansi-fg-0"> y</span>`, " x  y", "30"},
		{"bright background", "\x1b[104mz", "", `<span class="ansi-bg-12">z</span>`, "z", "104"},
		{"256 palette low", "\x1b[38;5;3mw", "", `<span class="ansi-fg-3">w</span>`, "w", "33"},
		{"256 palette high dropped", "\x1b[38;5;200mw\x1b[1mx", "", `w<span class="ansi-bold">x</span>`, "wx", "1"},
		{"true colour dropped", "\x1b[38;2;10;20;30;4mu", "", `<span class="ansi-underline">u</span>`, "u", "4"},
		{"attributes off", "\x1b[1;2;3;4ma\x1b[22;23mb\x1b[24mc", "", `<span class="ansi-bold ansi-dim ansi-italic ansi-underline">a</span><span class="ansi-underline">b</span>c`, "abc", ""},
		{"state carried in", "still red\x1b[39m.", "31", `<span class="ansi-fg-1">still red</span>.`, "still red.", ""},
		{"state carried out", "\x1b[33mopen", "", `<span class="ansi-fg-3">open</span>`, "open", "33"},
		{"cursor moves dropped", "a\x1b[2Kb\x1b[1Ac\x1b[?25ld", "", "abcd", "abcd", ""},
		{"osc title dropped", "\x1b]0;title\x07x\x1b]8;;http://e\x1b\\y", "", "xy", "xy", ""},
		{"charset dropped", "\x1b(Bq", "", "q", "q", ""},
		{"controls dropped, tab kept", "a\bb\x00c\td\x7f", "", "abc\td", "abc\td", ""},
		{"carriage return starts over", "10%\r50%\r100%", "", "100%", "100%", ""},
		{"colour survives carriage return", "\x1b[32m10%\r100%", "", `<span class="ansi-fg-2">100%</span>`, "100%", "32"},
		{"incomplete escape at end", "x\x1b[3", "", "x", "x", ""},
		{"invalid utf-8", "a\xffb", "", "a\uFFFDb", "a\uFFFDb", ""},
		{"c1 control dropped", "a\u009bb", "", "ab", "ab", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			html, text, end := ansiLine(tc.in, parseAnsiState(tc.start))
			if string(html) != tc.html || text != tc.text || end.params() != tc.end {
				t.Errorf("ansiLine(%q) = %q, %q, end %q; want %q, %q, end %q", tc.in, html, text, end.params(), tc.html, tc.text, tc.end)
			}
		})
	}
}

// params and parseAnsiState carry the state between a page and its live
// stream: they must round-trip.
func TestAnsiStateRoundTrip(t *testing.T) {
	for _, s := range []ansiState{{}, {fg: 1}, {fg: 16, bg: 9, bold: true}, {bg: 8, dim: true, italic: true, underline: true}} {
		if got := parseAnsiState(s.params()); got != s {
			t.Errorf("%+v: params %q parse back as %+v", s, s.params(), got)
		}
	}
}
