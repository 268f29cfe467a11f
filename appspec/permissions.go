package appspec

import (
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/slipway/slipway/yamlpos"
)

var (
	permissionKeys = []string{"object", "pattern", "except", "owner", "group", "mode", "acls", "context", "type"}
	// contextKeys has "name" besides the documented "user": the agent reads
	// the SELinux user from name.
	contextKeys = []string{"user", "name", "type", "range"}
	objectTypes = []string{ObjectFile, ObjectDirectory}
)

// permissions reads the permissions list.
func (p *parser) permissions(e entry) []Permission {
	n := e.Val
	switch {
	case yamlpos.IsNull(n):
		return nil
	case n.Kind == yaml.MappingNode:
		p.Errorf(e.Raw, "permissions must be a list, found a mapping; start each entry with \"- \", e.g. - object: /opt/app")
		return nil
	case n.Kind != yaml.SequenceNode:
		p.Errorf(e.Raw, "permissions must be a list of entries with object:, found %s", yamlpos.Describe(n))
		return nil
	}
	if p.os == Windows && len(n.Content) > 0 {
		p.Errorf(e.Key, "permissions are supported only on Linux instances, and this appspec is for os: windows; remove permissions:")
		return nil
	}
	var out []Permission
	for _, raw := range n.Content {
		it := yamlpos.Resolve(raw)
		if it.Kind != yaml.MappingNode {
			p.Errorf(raw, "each entry of permissions must be a mapping with object: and the settings to apply, found %s", yamlpos.Describe(it))
			continue
		}
		out = append(out, p.permission(raw, it))
	}
	return out
}

func (p *parser) permission(raw, m *yaml.Node) Permission {
	const where = "a permissions entry"
	perm := Permission{Pattern: "**", Type: []string{ObjectFile, ObjectDirectory}, Pos: yamlpos.At(raw)}
	haveObject := false
	meant, _ := p.object(entry{Val: m, Raw: raw}, where, permissionKeys, func(f entry) {
		switch f.Name {
		case "object":
			haveObject = true
			perm.Object, _ = p.text(f, "object")
		case "pattern":
			s, ok := p.text(f, "pattern")
			if ok && p.simpleGlob(f.Raw, "pattern", s) {
				perm.Pattern = s
			}
		case "except":
			items, _ := p.list(f, "except", "pattern")
			for _, it := range items {
				if p.simpleGlob(it.Node, "except", it.Text) {
					perm.Except = append(perm.Except, it.Text)
				}
			}
		case "owner":
			perm.Owner, _ = p.text(f, "owner")
		case "group":
			perm.Group, _ = p.text(f, "group")
		case "mode":
			perm.Mode = p.mode(f)
		case "acls":
			items, _ := p.list(f, "acls", "ACL entry")
			for _, it := range items {
				if msg := aclProblem(it.Text); msg != "" {
					p.Errorf(it.Node, "ACL entry %q %s", yamlpos.Short(it.Text), msg)
					continue
				}
				perm.ACLs = append(perm.ACLs, it.Text)
			}
		case "context":
			perm.Context = p.context(f)
		case "type":
			perm.Type = p.objectTypes(f)
		}
	})
	if !haveObject && !slices.Contains(meant, "object") {
		p.Errorf(raw, "this permissions entry has no object; add object: with the installed file or directory it applies to")
	}
	return perm
}

// simpleGlob checks a pattern of the agent's kind: it is matched against
// a name directly inside the object, so a / can never match.
func (p *parser) simpleGlob(n *yaml.Node, what, s string) bool {
	if s != "**" && strings.Contains(s, "/") {
		p.Errorf(n, "%s %q contains a /, so it would never match: a pattern is matched against names directly inside object (write ** for everything beneath it)", what, yamlpos.Short(s))
		return false
	}
	return true
}

// mode reads a mode of one to four octal digits, as chmod takes them.
func (p *parser) mode(f entry) *fs.FileMode {
	n := f.Val
	if n.Kind != yaml.ScalarNode || yamlpos.IsNull(n) {
		p.Errorf(f.Raw, "mode must be octal digits such as 644 or \"0755\", found %s", yamlpos.Describe(n))
		return nil
	}
	s := strings.TrimSpace(n.Value)
	switch {
	case s == "" || strings.Trim(s, "01234567") != "":
		if s != "" && strings.Trim(s, "ugoarwxXst+-=,") == "" {
			p.Errorf(f.Raw, "mode %q is symbolic, which the agent does not support; write octal digits such as 755 instead", yamlpos.Short(s))
		} else {
			p.Errorf(f.Raw, "mode %q must be octal digits (0 to 7) such as 644 or \"0755\"", yamlpos.Short(s))
		}
		return nil
	case len(s) > 4:
		p.Errorf(f.Raw, "mode %q is too long; a mode is one to four octal digits such as 644 or \"4755\"", yamlpos.Short(s))
		return nil
	case len(s) > 1 && s[0] == '0' && !yamlpos.Quoted(n):
		// YAML reads an unquoted 0644 as the octal number 420, and the
		// agent would then set mode 420, not 644.
		p.Errorf(f.Raw, "mode %s has a leading zero, so YAML reads it as an octal number and the agent would set a different mode; quote it (\"%s\") or drop the zero (%s)", s, s, strings.TrimLeft(s, "0"))
		return nil
	}
	v, _ := strconv.ParseUint(s, 8, 16) // at most 4 octal digits: cannot fail
	m := fs.FileMode(v) & fs.ModePerm
	if v&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if v&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if v&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return &m
}

// aclProblem checks a setfacl entry the way the agent does,
// [d[efault]:][u[ser]:|g[roup]:|m[ask]:|o[ther]:]name:perms, and says what
// is wrong, or "" when nothing is.
func aclProblem(ace string) string {
	const form = "is not an ACL entry such as u:deploy:rwx or d:g:web:r-x"
	parts := strings.Split(ace, ":")
	if len(parts) < 2 || len(parts) > 4 {
		return form
	}
	isDefault := func(s string) bool { return s == "d" || s == "default" }
	def, kind := false, ""
	rest := parts
	if len(rest) == 4 {
		if !isDefault(rest[0]) {
			return form
		}
		def, rest = true, rest[1:]
	}
	if len(rest) == 3 {
		switch rest[0] {
		case "d", "default":
			if def {
				return form
			}
			def = true
		case "u", "user":
			kind = "user"
		case "g", "group":
			kind = "group"
		case "m", "mask":
			kind = "mask"
		case "o", "other":
			kind = "other"
		default:
			return form
		}
		rest = rest[1:]
	}
	name, perms := rest[0], rest[1]
	switch {
	case kind == "" && (name == "m" || name == "mask"):
		kind, name = "mask", ""
	case kind == "" && (name == "o" || name == "other"):
		kind, name = "other", ""
	case kind == "":
		kind = "user"
	}
	if (kind == "mask" || kind == "other") && name != "" {
		return form
	}
	if !def && kind != "mask" && name == "" {
		return "sets a base entry, which is the mode's job; set it with mode: instead"
	}
	if len(perms) == 1 && perms[0] >= '0' && perms[0] <= '7' {
		return ""
	}
	if strings.Trim(perms, "rwx-") != "" {
		return fmt.Sprintf("has permissions %q; write them as r, w, x and - (such as r-x) or as one octal digit", perms)
	}
	return ""
}

// context reads the SELinux context of a permission.
func (p *parser) context(f entry) *Context {
	n := f.Val
	if yamlpos.IsNull(n) {
		return nil
	}
	c := &Context{}
	var userKey *yaml.Node
	haveType := false
	meant, ok := p.object(f, "context", contextKeys, func(g entry) {
		switch g.Name {
		case "user", "name":
			if userKey != nil {
				p.Errorf(g.Key, "context has both user: and name:, which mean the same SELinux user; keep one")
				return
			}
			userKey = g.Key
			c.User, _ = p.text(g, g.Name+" in context")
		case "type":
			haveType = true
			c.Type, _ = p.text(g, "type in context")
		case "range":
			s, ok := p.text(g, "range in context")
			if !ok {
				return
			}
			if msg := rangeProblem(s); msg != "" {
				p.Errorf(g.Raw, "range %q in context %s", yamlpos.Short(s), msg)
				return
			}
			c.Range = s
		}
	})
	if ok && !haveType && !slices.Contains(meant, "type") {
		p.Errorf(f.Key, "context has no type; add type: with the SELinux type, such as httpd_sys_content_t")
	}
	return c
}

// rangeProblem checks an MLS range, s#[-s#][:c#[.c#](,c#[.c#])*], as the
// agent does, and says what is wrong, or "" when nothing is.
func rangeProblem(r string) string {
	const form = "is not an SELinux range such as s0, s0-s1 or s0:c0.c255"
	levels, cats, hasCats := strings.Cut(r, ":")
	low, high, hasHigh := strings.Cut(levels, "-")
	lo, ok := number(low, 's')
	if !ok {
		return form
	}
	if hasHigh {
		hi, ok := number(high, 's')
		if !ok {
			return form
		}
		if hi < lo {
			return "has its high sensitivity below its low one"
		}
	}
	if !hasCats {
		return ""
	}
	var seen [1024]bool
	for _, part := range strings.Split(cats, ",") {
		from, to, isRange := strings.Cut(part, ".")
		a, okA := number(from, 'c')
		b, okB := a, okA
		if isRange {
			b, okB = number(to, 'c')
		}
		if !okA || !okB || a > 1023 || b > 1023 {
			return form + " (categories run from c0 to c1023)"
		}
		if b < a {
			return fmt.Sprintf("has the category range c%d.c%d, which runs backwards", a, b)
		}
		for c := a; c <= b; c++ {
			if seen[c] {
				return fmt.Sprintf("names category c%d more than once", c)
			}
			seen[c] = true
		}
	}
	return ""
}

// number reads a prefix letter followed by decimal digits (s0, c1023).
func number(s string, prefix byte) (int, bool) {
	if len(s) < 2 || s[0] != prefix || len(s) > 6 || strings.Trim(s[1:], "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s[1:])
	return n, err == nil
}

// objectTypes reads the type list of a permission; it is not written when
// empty, which means both.
func (p *parser) objectTypes(f entry) []string {
	both := []string{ObjectFile, ObjectDirectory}
	items, present := p.list(f, "type", "object type")
	if !present {
		return both
	}
	if len(items) == 0 {
		if f.Val.Kind == yaml.SequenceNode && len(f.Val.Content) == 0 {
			p.Errorf(f.Raw, "type lists no object type, so the permission would apply to nothing; list file, directory or both, or remove type: to mean both")
		}
		return both
	}
	var out []string
	for _, it := range items {
		if it.Text != ObjectFile && it.Text != ObjectDirectory {
			p.Errorf(it.Node, "unknown object type %q%s; the types are file and directory", yamlpos.Short(it.Text), yamlpos.DidYouMean(it.Text, objectTypes))
			continue
		}
		out = append(out, it.Text)
	}
	return out
}
