// Package spell suggests what a misspelt name stands for, so that the
// parsers of files users write (buildspecs, templates, pipelines) can say
// "did you mean ...". Pure: it imports nothing of ours.
package spell

import "strings"

// Closest returns the candidate nearest to word when it is near enough to
// be a likely typo (pre-build, Propertes, ActionTypId), or "".
func Closest(word string, candidates []string) string {
	w := strings.ToLower(word)
	best, bestDist := "", -1
	for _, c := range candidates {
		d := distance(w, strings.ToLower(c))
		// Short names tolerate one slip; longer ones up to three.
		limit := min(3, max(1, len([]rune(c))/3))
		if d <= limit && (bestDist < 0 || d < bestDist) {
			best, bestDist = c, d
		}
	}
	return best
}

// distance is the edit distance between a and b in runes, counting a swap
// of two neighbours as one edit (optimal string alignment), since swapped
// letters are the commonest typo.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Names come from a file a user wrote; capping them keeps a
	// pathological one from making this quadratic loop expensive.
	const maxLen = 64
	if len(ra) > maxLen || len(rb) > maxLen {
		return maxLen
	}
	// Three rows suffice: a swap looks two rows back.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
