package buildspec

import "github.com/slipway/slipway/yamlpos"

// Error is one problem of a buildspec: where it is and what to do about it. It
// prints as file:line:col: message.
type Error = yamlpos.Error

// Errors is every problem Parse found in one file, in file order. Parse
// returns it (never empty) so that a user fixes the whole file in one go.
type Errors = yamlpos.Errors

// Pos is a place in the buildspec file; Line and Column start at 1.
type Pos = yamlpos.Pos
