package pipeline

import "github.com/slipway/slipway/spell"

// spellBudget is how many candidate names one document may compare typos
// with: plenty for any real document, and a bound on what a hostile one,
// with thousands of wrong names, costs.
const spellBudget = 20_000

// speller suggests what a typo stands for, within its budget; once spent,
// problems come without suggestions.
type speller struct {
	budget int
}

func newSpeller() *speller {
	return &speller{budget: spellBudget}
}

func (sp *speller) closest(word string, candidates []string) string {
	if len(candidates) > sp.budget {
		return ""
	}
	sp.budget -= len(candidates)
	return spell.Closest(word, candidates)
}
