package appspec

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/slipway/slipway/spell"
	"github.com/slipway/slipway/yamlpos"
)

// The known keys of each block, in the order the CodeDeploy reference
// lists them; unknown keys are reported with the closest of these.
var (
	topKeys            = []string{"version", "os", "files", "file_exists_behavior", "permissions", "hooks"}
	fileKeys           = []string{"source", "destination"}
	hookKeys           = []string{"location", "timeout", "runas", "sudo"}
	fileExistsBehavior = []string{string(DisallowExisting), string(OverwriteExisting), string(RetainExisting)}
	oses               = []string{string(Linux), string(Windows)}
)

// Parse reads an appspec for an EC2/on-premises deployment. name is only
// used in messages. On any problem it returns a nil Spec and an Errors
// value listing every problem of the file, each as name:line:col: message.
//
// The rules are the agent's and the service's, plus checks for mistakes
// the agent lets through and then mishandles: unknown keys and lifecycle
// events are errors (the agent ignores them, so a misspelt AfterInstal
// never runs), an unquoted mode with a leading zero is refused (YAML reads
// 0644 as the octal number 420), and so are a relative destination on
// Linux, a source that leads out of the revision, a permission pattern
// with a / (it can never match) and an empty type list.
func Parse(name string, data []byte) (*Spec, error) {
	p := &parser{Doc: yamlpos.Doc{File: name, Data: data, Format: "an appspec", ColonExample: "runas: 'a: b'"}}
	return yamlpos.Read(&p.Doc, p.spec)
}

// spec reads the top-level mapping.
func (p *parser) spec(root *yaml.Node) *Spec {
	spec := &Spec{}
	if root == nil || yamlpos.IsNull(yamlpos.Resolve(root)) {
		// The agent's own words, so that a search for them finds help.
		p.ErrorAt(Pos{Line: 1, Column: 1}, "the application specification file was empty; make sure your AppSpec file defines at minimum the 'version' and 'os' properties, e.g. version: 0.0 and os: linux")
		return spec
	}
	top := yamlpos.Resolve(root)
	if top.Kind != yaml.MappingNode {
		p.Errorf(root, "the appspec must be a mapping of keys such as version: and os:, found %s", yamlpos.Describe(top))
		return spec
	}
	entries := p.Entries(top)

	// The os decides whether permissions are allowed and what a
	// destination looks like, so read it first.
	var haveVersion, haveOS bool
	for _, e := range entries {
		switch e.Name {
		case "version":
			haveVersion = true
			if p.version(e) {
				spec.Version = "0.0"
			}
		case "os":
			haveOS = true
			p.readOS(e)
			spec.OS = p.os
		}
	}
	for _, e := range entries {
		switch e.Name {
		case "version", "os":
		case "files":
			spec.Files = p.files(e)
		case "file_exists_behavior":
			s, ok := p.text(e, "file_exists_behavior")
			if !ok {
				continue
			}
			if !slices.Contains(fileExistsBehavior, s) {
				p.Errorf(e.Raw, "unknown file_exists_behavior %q%s; the values are DISALLOW, OVERWRITE and RETAIN", yamlpos.Short(s), yamlpos.DidYouMean(s, fileExistsBehavior))
				continue
			}
			spec.FileExistsBehavior = FileExistsBehavior(s)
		case "permissions":
			spec.Permissions = p.permissions(e)
		case "hooks":
			spec.Hooks = p.hooks(e)
		default:
			switch {
			case Event(e.Name).Known():
				p.Errorf(e.Key, "unknown key %q in the top level; lifecycle events go under hooks:, indented", e.Name)
			case e.Name == "Resources" || e.Name == "resources":
				p.Errorf(e.Key, "unknown key %q in the top level; Resources belongs to the AppSpec of Lambda and ECS deployments, and this one is for EC2/on-premises (files:, permissions:, hooks:)", e.Name)
			default:
				p.UnknownKey(e, "the top level", topKeys, "")
			}
		}
	}
	if !haveVersion {
		p.Errorf(top, "missing version; add version: 0.0 as the first line (a number, unquoted)")
	}
	if !haveOS {
		p.Errorf(top, "missing os; add os: linux (or os: windows)")
	}
	return spec
}

// version checks the version: the agent compares it with the float 0.0,
// which a YAML number equal to zero (0.0, 0, 0.00) matches and a string
// never does.
func (p *parser) version(e entry) bool {
	n := e.Val
	if n.Kind != yaml.ScalarNode || yamlpos.IsNull(n) {
		p.Errorf(e.Raw, "version must be the number 0.0, found %s", yamlpos.Describe(n))
		return false
	}
	zero := isZero(n.Value)
	switch tag := n.ShortTag(); {
	case (tag == "!!float" || tag == "!!int") && zero:
		return true
	case tag == "!!str" && zero:
		p.Errorf(e.Raw, "version %q is a string; the agent compares the version with the number 0.0, which a quoted value never equals, so write version: 0.0 without quotes", yamlpos.Short(n.Value))
	default:
		p.Errorf(e.Raw, "unsupported version %s; the only AppSpec version is 0.0, so write version: 0.0", yamlpos.Describe(n))
	}
	return false
}

// isZero reports a number equal to zero, as YAML writes numbers.
func isZero(s string) bool {
	s = strings.ReplaceAll(s, "_", "")
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f == 0
	}
	i, err := strconv.ParseInt(s, 0, 64)
	return err == nil && i == 0
}

func (p *parser) readOS(e entry) {
	n := e.Val
	if n.Kind != yaml.ScalarNode || yamlpos.IsNull(n) {
		p.Errorf(e.Raw, "os must be linux or windows, found %s", yamlpos.Describe(n))
		return
	}
	if !slices.Contains(oses, n.Value) {
		p.Errorf(e.Raw, "unsupported operating system %q%s; specify either linux or windows", yamlpos.Short(n.Value), yamlpos.DidYouMean(n.Value, oses))
		return
	}
	p.os = OS(n.Value)
}

// files reads the files list.
func (p *parser) files(e entry) []File {
	n := e.Val
	switch {
	case yamlpos.IsNull(n):
		return nil
	case n.Kind == yaml.MappingNode:
		p.Errorf(e.Raw, "files must be a list, found a mapping; start each entry with \"- \", e.g. - source: /app")
		return nil
	case n.Kind != yaml.SequenceNode:
		p.Errorf(e.Raw, "files must be a list of entries with source: and destination:, found %s", yamlpos.Describe(n))
		return nil
	}
	var out []File
	for _, raw := range n.Content {
		it := yamlpos.Resolve(raw)
		if it.Kind != yaml.MappingNode {
			p.Errorf(raw, "each entry of files must be a mapping with source: and destination:, found %s", yamlpos.Describe(it))
			continue
		}
		f := File{Pos: yamlpos.At(raw)}
		var haveSource, haveDest bool
		meant, _ := p.object(entry{Val: it, Raw: raw}, "a files entry", fileKeys, func(g entry) {
			switch g.Name {
			case "source":
				haveSource = true
				src, ok := p.text(g, "source")
				if !ok {
					return
				}
				if escapes(src) {
					p.Errorf(g.Raw, "source %q leads out of the revision; a source is a path inside the revision, relative to its root", yamlpos.Short(src))
					return
				}
				f.Source = src
			case "destination":
				haveDest = true
				dst, ok := p.text(g, "destination")
				if !ok {
					return
				}
				// The agent would resolve a relative destination against
				// its own working directory; nothing a user can rely on.
				if p.os == Linux && !strings.HasPrefix(dst, "/") {
					p.Errorf(g.Raw, "destination %q is not an absolute path; write the directory on the instance from the root, e.g. /opt/app", yamlpos.Short(dst))
					return
				}
				f.Destination = dst
			}
		})
		if !haveSource && !slices.Contains(meant, "source") {
			p.Errorf(raw, "this files entry has no source; add source: with a path in the revision (/ for all of it)")
		}
		if !haveDest && !slices.Contains(meant, "destination") {
			p.Errorf(raw, "this files entry has no destination; add destination: with the directory on the instance to copy the source into")
		}
		out = append(out, f)
	}
	return out
}

// escapes reports a path that climbs above the root it is joined to.
func escapes(path string) bool {
	depth := 0
	for _, part := range strings.FieldsFunc(path, func(r rune) bool { return r == '/' || r == '\\' }) {
		switch part {
		case ".":
		case "..":
			if depth == 0 {
				return true
			}
			depth--
		default:
			depth++
		}
	}
	return false
}

// hooks reads the hooks mapping.
func (p *parser) hooks(e entry) map[Event][]Hook {
	n := e.Val
	if yamlpos.IsNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.Errorf(e.Raw, "hooks must be a mapping of lifecycle event to scripts, such as BeforeInstall:, found %s", yamlpos.Describe(n))
		return nil
	}
	var out map[Event][]Hook
	for _, g := range p.Entries(n) {
		ev := Event(g.Name)
		switch {
		case ev.Reserved():
			p.Errorf(g.Key, "%s is a step of CodeDeploy itself and cannot run scripts; put them in %s", ev, reservedInstead(ev))
			continue
		case !ev.Known():
			if s := spell.Closest(g.Name, scriptableEvents()); s != "" {
				p.Errorf(g.Key, "unknown lifecycle event %q (did you mean %q?)", g.Name, s)
			} else {
				p.Errorf(g.Key, "unknown lifecycle event %q; the lifecycle events that run scripts are %s", g.Name, strings.Join(scriptableEvents(), ", "))
			}
			continue
		}
		hs := p.scripts(g, ev)
		if len(hs) > 0 {
			if out == nil {
				out = map[Event][]Hook{}
			}
			out[ev] = hs
		}
	}
	return out
}

// reservedInstead names the events around a reserved one.
func reservedInstead(ev Event) string {
	switch ev {
	case DownloadBundle:
		return "ApplicationStop or BeforeInstall"
	case Install:
		return "BeforeInstall or AfterInstall"
	case BlockTraffic:
		return "BeforeBlockTraffic or AfterBlockTraffic"
	}
	return "BeforeAllowTraffic or AfterAllowTraffic"
}

// scripts reads the list of scripts of one lifecycle event.
func (p *parser) scripts(g entry, ev Event) []Hook {
	n := g.Val
	switch {
	case yamlpos.IsNull(n):
		// The agent fails on an event with nothing under it.
		p.Errorf(g.Key, "%s has no scripts; list them as - location: path/to/script, or remove %s:", ev, ev)
		return nil
	case n.Kind == yaml.MappingNode:
		p.Errorf(g.Raw, "the scripts of %s must be a list, found a mapping; start each script with \"- \", e.g. - location: scripts/start.sh", ev)
		return nil
	case n.Kind == yaml.ScalarNode:
		p.Errorf(g.Raw, "the scripts of %s must be a list of entries with location:, found a single value; write - location: %s", ev, yamlpos.Short(n.Value))
		return nil
	case n.Kind != yaml.SequenceNode:
		p.Errorf(g.Raw, "the scripts of %s must be a list of entries with location:, found %s", ev, yamlpos.Describe(n))
		return nil
	}
	where := "a script of " + string(ev)
	var out []Hook
	var total int64 // seconds of the timeouts written
	timed := 0      // scripts with a timeout
	for _, raw := range n.Content {
		it := yamlpos.Resolve(raw)
		if it.Kind != yaml.MappingNode {
			if it.Kind == yaml.ScalarNode && !yamlpos.IsNull(it) {
				p.Errorf(raw, "each script of %s must be a mapping with location:, found %s; write - location: %s", ev, yamlpos.Describe(it), yamlpos.Short(it.Value))
			} else {
				p.Errorf(raw, "each script of %s must be a mapping with location:, found %s", ev, yamlpos.Describe(it))
			}
			continue
		}
		h := Hook{Timeout: DefaultTimeout, Pos: yamlpos.At(raw)}
		haveLocation := false
		meant, _ := p.object(entry{Val: it, Raw: raw}, where, hookKeys, func(f entry) {
			switch f.Name {
			case "location":
				haveLocation = true
				h.Location, _ = p.text(f, "location in "+where)
			case "timeout":
				if secs, ok := p.timeout(f, where); ok {
					h.Timeout = time.Duration(secs) * time.Second
					total += secs
					timed++
				}
			case "runas":
				h.RunAs, _ = p.text(f, "runas in "+where)
			case "sudo":
				h.Sudo = p.boolean(f, "sudo in "+where)
			}
		})
		if !haveLocation && !slices.Contains(meant, "location") {
			p.Errorf(raw, "this script of %s has no location; add location: with the script's path in the revision", ev)
		}
		out = append(out, h)
	}
	// Scripts without a timeout do not count: the default is the
	// service's cap itself, which bounds them anyway.
	limit := int64(MaxEventTimeout / time.Second)
	switch {
	case total <= limit:
	case timed == 1:
		p.Errorf(g.Key, "a script of %s has a timeout of %d seconds, more than the %d seconds CodeDeploy allows for one lifecycle event; lower it", ev, total, limit)
	default:
		p.Errorf(g.Key, "the timeouts of the scripts of %s add up to %d seconds, more than the %d seconds CodeDeploy allows for one lifecycle event; lower them", ev, total, limit)
	}
	return out
}

// timeout reads a timeout in whole seconds, written as a number or as
// quoted digits (the agent converts either with to_i).
func (p *parser) timeout(f entry, where string) (int64, bool) {
	n := f.Val
	if n.Kind != yaml.ScalarNode || yamlpos.IsNull(n) {
		p.Errorf(f.Raw, "timeout in %s must be a whole number of seconds, such as 300, found %s", where, yamlpos.Describe(n))
		return 0, false
	}
	s := strings.TrimSpace(n.Value)
	digits := s != "" && strings.Trim(s, "0123456789") == ""
	if !digits {
		p.Errorf(f.Raw, "timeout in %s must be a positive whole number of seconds, such as 300, found %s", where, yamlpos.Describe(n))
		return 0, false
	}
	secs, err := strconv.ParseInt(s, 10, 64)
	if err != nil || secs > 1<<40 {
		p.Errorf(f.Raw, "timeout %s in %s is far more than the %d seconds a lifecycle event may take", yamlpos.Short(s), where, int64(MaxEventTimeout/time.Second))
		return 0, false
	}
	if secs == 0 {
		p.Errorf(f.Raw, "timeout in %s must be a positive whole number of seconds, such as 300, found 0", where)
		return 0, false
	}
	return secs, true
}
