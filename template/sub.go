package template

import (
	"errors"
	"regexp"
	"strings"
)

// subPart is a piece of an Fn::Sub string: literal text, or a variable.
type subPart struct {
	text  string
	isVar bool
}

// subVarName is what a ${...} may hold.
var subVarName = regexp.MustCompile(`^[A-Za-z0-9_.:]+$`)

var errSubVar = errors.New(msgSubVar)

// parseSub splits an Fn::Sub string as CloudFormation does: ${Name} is a
// variable, ${!Text} is the literal ${Text}, and a $ not followed by {, or
// a ${ without a closing }, is plain text (so "$!Sub x" stays as written).
func parseSub(s string) ([]subPart, error) {
	var parts []subPart
	var lit strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 || i+2 == len(s) {
			lit.WriteString(s)
			break
		}
		if s[i+2] == '!' {
			lit.WriteString(s[:i+2])
			s = s[i+3:]
			continue
		}
		j := strings.IndexByte(s[i+2:], '}')
		if j < 0 {
			lit.WriteString(s)
			break
		}
		name := s[i+2 : i+2+j]
		if !subVarName.MatchString(name) {
			return nil, errSubVar
		}
		lit.WriteString(s[:i])
		if lit.Len() > 0 {
			parts = append(parts, subPart{text: lit.String()})
			lit.Reset()
		}
		parts = append(parts, subPart{text: name, isVar: true})
		s = s[i+3+j:]
	}
	if lit.Len() > 0 {
		parts = append(parts, subPart{text: lit.String()})
	}
	return parts, nil
}
