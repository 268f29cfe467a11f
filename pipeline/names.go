package pipeline

import (
	"fmt"
	"regexp"
	"strings"
)

// The limits of CodePipeline's model (botocore's codepipeline service
// model, and the CodePipeline quotas).
const (
	maxNameLen        = 100 // pipeline, stage, action, artifact and namespace names
	minStages         = 2
	maxStages         = 50
	maxStageActions   = 50
	maxActions        = 500
	minRunOrder       = 1
	maxRunOrder       = 999
	minTimeout        = 5 // minutes, for a Manual approval
	maxTimeout        = 86400
	maxConfigKeyLen   = 50
	maxConfigValueLen = 1000
	maxVariables      = 50
	maxVariableName   = 128
	maxVariableValue  = 1000
	maxVariableDesc   = 200
	maxTriggers       = 50
	maxPushFilters    = 3
	maxPatterns       = 8
	maxTags           = 50
	maxReasonLen      = 300
)

// nameRune is a character of a pipeline, stage or action name:
// [A-Za-z0-9.@\-_].
func nameRune(r rune) bool {
	return strings.ContainsRune(".@-_", r) || isAlnum(r)
}

// artifactRune is a character of an artifact name: [a-zA-Z0-9_\-].
func artifactRune(r rune) bool {
	return r == '_' || r == '-' || isAlnum(r)
}

// namespaceRune is a character of a namespace or pipeline variable name:
// [A-Za-z0-9@\-_].
func namespaceRune(r rune) bool {
	return r == '@' || r == '_' || r == '-' || isAlnum(r)
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

const (
	nameChars      = "letters, digits and . @ - _"
	artifactChars  = "letters, digits, - and _"
	namespaceChars = "letters, digits and @ - _"
)

// nameProblem says what is wrong with a name, or "" when nothing is: the
// first character it may not hold, or its length. noun is "action names"
// and the like.
func nameProblem(s string, ok func(rune) bool, chars, noun string, maxLen int) string {
	if s == "" {
		return "is empty"
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return !ok(r) }); i >= 0 {
		msg := fmt.Sprintf("contains %s, which %s cannot hold; use only %s", describeRune([]rune(s[i:])[0]), noun, chars)
		if fixed := strings.Map(func(r rune) rune {
			if ok(r) {
				return r
			}
			return '-'
		}, s); strings.Trim(fixed, "-") != "" {
			msg += fmt.Sprintf(" (for instance %s)", fixed)
		}
		return msg
	}
	if n := len([]rune(s)); n > maxLen {
		return fmt.Sprintf("is %d characters long; %s are at most %d", n, noun, maxLen)
	}
	return ""
}

func describeRune(r rune) string {
	switch r {
	case ' ':
		return "a space"
	case '\t':
		return "a tab"
	}
	return fmt.Sprintf("%q", r)
}

// artifactNameProblem checks an artifact name.
func artifactNameProblem(s string) string {
	return nameProblem(s, artifactRune, artifactChars, "artifact names", maxNameLen)
}

func isNamespace(s string) bool {
	return nameProblem(s, namespaceRune, namespaceChars, "namespaces", maxNameLen) == ""
}

var (
	// roleARN is the pattern of a role ARN in CodePipeline's model.
	roleARN = regexp.MustCompile(`^arn:aws(-[\w]+)*:iam::[0-9]{12}:role/.+$`)
	// bucketName is the pattern of an artifact store's Location.
	bucketName = regexp.MustCompile(`^[a-zA-Z0-9.\-]{3,63}$`)
	// reason is the pattern of a disabled transition's reason.
	reason = regexp.MustCompile(`^[a-zA-Z0-9!@ ().*?\-]+$`)
	// version is the pattern of an action type's version.
	version = regexp.MustCompile(`^[0-9A-Za-z_-]{1,9}$`)
)
