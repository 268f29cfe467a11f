package spell

import (
	"strings"
	"testing"
)

func TestOnlyAKeyCloseToAKnownOneGetsASuggestion(t *testing.T) {
	for _, tc := range []struct{ word, want string }{
		{"phase", "phases"},
		{"Phases", "phases"},
		{"biuld", "build"},
		{"pre-build", "pre_build"},
		{"prebuild", "pre_build"},
		{"post-build", "post_build"},
		{"cmds", ""},
		{"x", ""},
		{"testing", ""},
		{strings.Repeat("a", 100), ""},
	} {
		if got := Closest(tc.word, []string{"version", "phases", "install", "pre_build", "build", "post_build"}); got != tc.want {
			t.Errorf("Closest(%q) = %q, want %q", tc.word, got, tc.want)
		}
	}
}
