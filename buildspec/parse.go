package buildspec

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/slipway/slipway/spell"
	"github.com/slipway/slipway/yamlpos"
)

// The known keys of each block, in the order the CodeBuild reference lists
// them; unknown keys are reported with the closest of these.
var (
	topKeys      = []string{"version", "run-as", "env", "proxy", "batch", "phases", "reports", "artifacts", "cache"}
	topKeys01    = []string{"version", "run-as", "environment_variables", "proxy", "batch", "phases", "reports", "artifacts", "cache"}
	topKeysAny   = []string{"version", "run-as", "env", "environment_variables", "proxy", "batch", "phases", "reports", "artifacts", "cache"}
	envKeys      = []string{"shell", "variables", "parameter-store", "secrets-manager", "exported-variables", "git-credential-helper"}
	envKeys01    = []string{"plaintext"}
	proxyKeys    = []string{"upload-artifacts", "logs"}
	phaseNames   = []string{"install", "pre_build", "build", "post_build"}
	phaseKeys    = []string{"run-as", "on-failure", "runtime-versions", "commands", "finally"}
	artifactKeys = []string{"files", "name", "discard-paths", "base-directory", "exclude-paths", "enable-symlinks", "s3-prefix", "secondary-artifacts"}
	cacheKeys    = []string{"paths"}
	reportKeys   = []string{"files", "base-directory", "discard-paths", "file-format"}
	onFailures   = []string{string(OnFailureAbort), string(OnFailureContinue)}
	shells       = []string{"bash", "/bin/sh"}
	// reportFormats lists the test formats, then the coverage formats.
	reportFormats = []string{"CUCUMBERJSON", "JUNITXML", "NUNITXML", "NUNIT3XML", "TESTNGXML", "VISUALSTUDIOTRX",
		"CLOVERXML", "COBERTURAXML", "JACOCOXML", "SIMPLECOV"}
)

// DefaultReportFormat is the file-format of a report group that names none.
const DefaultReportFormat = "JUNITXML"

// Parse reads a buildspec (versions 0.1 and 0.2). file is only used in
// messages. On any problem it returns a nil Spec and an Errors value listing
// every problem of the file, each as file:line:col: message.
//
// Positions: a Phase, Var, Report, Cache or Artifacts (top-level or
// secondary) has the position of the key that introduces it; a Command has
// the position of its list item.
func Parse(file string, data []byte) (*Spec, error) {
	p := &parser{Doc: yamlpos.Doc{File: file, Data: data, Format: "a buildspec", ColonExample: "- 'echo a: b'"}}
	return yamlpos.Read(&p.Doc, p.spec)
}

// parser holds the state of one Parse call.
type parser struct {
	yamlpos.Doc
	// version is "0.1" or "0.2" once read; "" while unknown or invalid, in
	// which case version-specific keys are all accepted, so that one wrong
	// version does not bury the file under follow-on errors.
	version string
}

// entry is one key of a mapping.
type entry = yamlpos.Entry

// spec reads the top-level mapping.
func (p *parser) spec(root *yaml.Node) *Spec {
	spec := &Spec{}
	var entries []entry
	top := root
	switch {
	case root == nil || yamlpos.IsNull(yamlpos.Resolve(root)):
		// An empty file: both required keys are missing, at 1:1.
		top = nil
	case yamlpos.Resolve(root).Kind != yaml.MappingNode:
		p.Errorf(root, "the buildspec must be a mapping of keys such as version: and phases:, found %s", yamlpos.Describe(yamlpos.Resolve(root)))
		return spec
	default:
		top = yamlpos.Resolve(root)
		entries = p.Entries(top)
	}

	// The version decides which env key is valid, so read it first.
	var haveVersion, havePhases bool
	for _, e := range entries {
		if e.Name == "version" {
			haveVersion = true
			p.readVersion(e, spec)
		}
	}
	known := topKeysAny
	switch p.version {
	case "0.1":
		known = topKeys01
	case "0.2":
		known = topKeys
	}
	for _, e := range entries {
		switch e.Name {
		case "version":
		case "run-as":
			spec.RunAs, _ = p.text(e, "run-as")
		case "env":
			if p.version == "0.1" {
				p.Errorf(e.Key, "env is the version 0.2 form; in version 0.1 write environment_variables: with plaintext: under it, or change the version to 0.2")
				continue
			}
			p.env(e, spec)
		case "environment_variables":
			if p.version == "0.2" {
				p.Errorf(e.Key, "environment_variables is the version 0.1 form; in version 0.2 write env: with variables: under it")
				continue
			}
			p.env01(e, spec)
		case "proxy":
			p.object(e, "proxy", proxyKeys, "", func(f entry) {
				p.boolean(f, f.Name+" in proxy")
			})
		case "batch":
			// Batch builds are a service feature; accepted and ignored.
		case "phases":
			havePhases = true
			p.phases(e, spec)
		case "reports":
			p.reports(e, spec)
		case "artifacts":
			spec.Artifacts = p.artifacts(e, "artifacts", false)
		case "cache":
			spec.Cache = p.cache(e)
		default:
			if slices.Contains(phaseNames, e.Name) {
				p.Errorf(e.Key, "unknown key %q in the top level; phases go under phases:, indented", e.Name)
				continue
			}
			p.UnknownKey(e, "the top level", known, "")
		}
	}
	if !haveVersion {
		p.Errorf(top, "missing version; add version: 0.2 as the first line (the supported versions are 0.1 and 0.2)")
	}
	if !havePhases {
		p.Errorf(top, "missing phases; add phases: with at least one of install, pre_build, build, post_build")
	}
	return spec
}

func (p *parser) readVersion(e entry, spec *Spec) {
	n := e.Val
	if n.Kind != yaml.ScalarNode || yamlpos.IsNull(n) {
		p.Errorf(e.Raw, "version must be 0.1 or 0.2, found %s", yamlpos.Describe(n))
		return
	}
	switch n.Value {
	case "0.1", "0.2":
		p.version = n.Value
		spec.Version = n.Value
	default:
		p.Errorf(e.Raw, "unsupported version %q; the supported versions are 0.1 and 0.2", n.Value)
	}
}

// env reads the 0.2 env block.
func (p *parser) env(e entry, spec *Spec) {
	var exported []item
	p.object(e, "env", envKeys, "", func(f entry) {
		switch f.Name {
		case "shell":
			s, ok := p.text(f, "shell in env")
			if !ok {
				return
			}
			if !slices.Contains(shells, s) {
				hint := ""
				if s == "powershell.exe" || s == "cmd.exe" {
					hint = " (Windows shells are not available)"
				}
				p.Errorf(f.Raw, "shell %q is not supported%s; use bash or /bin/sh", s, hint)
				return
			}
			spec.Env.Shell = s
		case "variables":
			spec.Env.Variables = p.vars(f, "env variables", false)
		case "parameter-store":
			spec.Env.ParameterStore = p.vars(f, "env parameter-store", true)
		case "secrets-manager":
			spec.Env.SecretsManager = p.vars(f, "env secrets-manager", true)
		case "exported-variables":
			exported, _ = p.list(f, "env", "variable name", false)
		case "git-credential-helper":
			spec.Env.GitCredentialHelper = p.boolean(f, "git-credential-helper in env")
		}
	})
	p.sameNames(spec.Env)

	secret := map[string]string{}
	for _, v := range spec.Env.ParameterStore {
		secret[v.Name] = "parameter-store"
	}
	for _, v := range spec.Env.SecretsManager {
		secret[v.Name] = "secrets-manager"
	}
	for _, it := range exported {
		switch {
		case strings.HasPrefix(it.Text, "AWS_"):
			p.Errorf(it.Node, "exported variable %q begins with AWS_, and such names cannot be exported; rename the variable", it.Text)
		case secret[it.Text] != "":
			p.Errorf(it.Node, "exported variable %q comes from %s, and exporting it would reveal a secret; export a plaintext variable instead", it.Text, secret[it.Text])
		case it.Text == "" || strings.ContainsAny(it.Text, "=\x00"):
			p.Errorf(it.Node, "exported variable %q is not a valid variable name", it.Text)
		default:
			spec.Env.ExportedVariables = append(spec.Env.ExportedVariables, it.Text)
		}
	}
}

// sameNames reports a name defined in two of variables, parameter-store and
// secrets-manager: which one would win is undocumented, so say so now.
func (p *parser) sameNames(env Env) {
	type def struct {
		where string
		line  int
	}
	first := map[string]def{}
	for _, group := range []struct {
		where string
		vars  []Var
	}{{"variables", env.Variables}, {"parameter-store", env.ParameterStore}, {"secrets-manager", env.SecretsManager}} {
		for _, v := range group.vars {
			if d, ok := first[v.Name]; ok && d.where != group.where {
				p.ErrorAt(v.Pos, "variable %q is defined twice, in %s (line %d) and in %s; keep one of them", v.Name, d.where, d.line, group.where)
				continue
			}
			first[v.Name] = def{group.where, v.Pos.Line}
		}
	}
}

// env01 reads the 0.1 environment_variables block.
func (p *parser) env01(e entry, spec *Spec) {
	p.object(e, "environment_variables", envKeys01,
		"version 0.1 supports only plaintext:; parameter-store and the other env keys need version 0.2 and env:",
		func(f entry) {
			spec.Env.Variables = p.vars(f, "environment_variables plaintext", false)
		})
}

// vars reads a mapping of variable names to values. Values YAML reads as
// numbers or booleans keep their source text (PORT: 8000 is "8000", DEBUG:
// yes is "yes"); an empty value is "" unless needValue, as a parameter or
// secret must name something.
func (p *parser) vars(f entry, where string, needValue bool) []Var {
	n := f.Val
	if yamlpos.IsNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.Errorf(f.Raw, "%s must be a mapping of NAME: value, found %s", where, yamlpos.Describe(n))
		return nil
	}
	var out []Var
	for _, g := range p.Entries(n) {
		name := g.Name
		switch {
		case name == "":
			p.Errorf(g.Key, "empty variable name in %s", where)
			continue
		case strings.HasPrefix(name, "CODEBUILD_"):
			p.Errorf(g.Key, "variable %q begins with CODEBUILD_, which is reserved for CodeBuild's own variables; rename it", name)
			continue
		case strings.ContainsAny(name, "=\x00"):
			p.Errorf(g.Key, "variable name %q contains = or a NUL character, which an environment variable name cannot hold; rename it", name)
			continue
		}
		v := g.Val
		var value string
		switch {
		case v.Kind == yaml.MappingNode || v.Kind == yaml.SequenceNode:
			p.Errorf(g.Raw, "the value of %q in %s must be a single value, found %s; quote it if it is meant as text", name, where, yamlpos.Describe(v))
			continue
		case v.Kind != yaml.ScalarNode:
			p.Errorf(g.Raw, "the value of %q in %s must be a single value, found %s", name, where, yamlpos.Describe(v))
			continue
		case yamlpos.IsNull(v):
			if needValue {
				p.Errorf(g.Key, "%q in %s has no value; write what to fetch after the colon", name, where)
				continue
			}
		default:
			value = v.Value
		}
		if strings.ContainsRune(value, 0) {
			p.Errorf(g.Raw, "the value of %q contains a NUL character, which an environment variable cannot hold", name)
			continue
		}
		out = append(out, Var{Name: name, Value: value, Pos: yamlpos.At(g.Key)})
	}
	return out
}

func (p *parser) phases(e entry, spec *Spec) {
	n := e.Val
	if n.Kind != yaml.MappingNode && !yamlpos.IsNull(n) {
		p.Errorf(e.Raw, "phases must be a mapping of phase names (install, pre_build, build, post_build), found %s", yamlpos.Describe(n))
		return
	}
	var entries []entry
	if !yamlpos.IsNull(n) {
		entries = p.Entries(n)
	}
	if len(entries) == 0 {
		p.Errorf(e.Key, "phases is empty; add at least one of install, pre_build, build, post_build")
		return
	}
	for _, f := range entries {
		switch f.Name {
		case "install":
			spec.Install = p.phase(f)
		case "pre_build":
			spec.PreBuild = p.phase(f)
		case "build":
			spec.Build = p.phase(f)
		case "post_build":
			spec.PostBuild = p.phase(f)
		default:
			if s := spell.Closest(f.Name, phaseNames); s != "" {
				p.Errorf(f.Key, "unknown phase %q (did you mean %q?)", f.Name, s)
			} else {
				p.Errorf(f.Key, "unknown phase %q; the phases are install, pre_build, build and post_build", f.Name)
			}
		}
	}
}

func (p *parser) phase(f entry) *Phase {
	ph := &Phase{Name: f.Name, Pos: yamlpos.At(f.Key)}
	where := "phase " + f.Name
	if f.Val.Kind == yaml.SequenceNode {
		p.Errorf(f.Raw, "%s must be a mapping, found a list; put the list under commands:", where)
		return ph
	}
	hasCommands := false
	ok := p.object(f, where, phaseKeys, "", func(g entry) {
		switch g.Name {
		case "run-as":
			ph.RunAs, _ = p.text(g, "run-as in "+where)
		case "on-failure":
			s, ok := p.text(g, "on-failure in "+where)
			if !ok {
				return
			}
			if !slices.Contains(onFailures, s) {
				p.Errorf(g.Raw, "on-failure must be ABORT or CONTINUE, found %q%s", s, yamlpos.DidYouMean(s, onFailures))
				return
			}
			ph.OnFailure = OnFailure(s)
		case "runtime-versions":
			if f.Name != "install" {
				p.Errorf(g.Key, "runtime-versions is only allowed in the install phase; move it there")
				return
			}
			ph.RuntimeVersions = p.runtimes(g)
		case "commands":
			ph.Commands, hasCommands = p.commands(g, where)
		case "finally":
			ph.Finally, _ = p.commands(g, where)
		}
	})
	if ok && !hasCommands && f.Name != "install" {
		p.Errorf(f.Key, "%s has no commands; add commands: with at least one command (only install may leave it out)", where)
	}
	return ph
}

func (p *parser) runtimes(g entry) map[string]string {
	n := g.Val
	if yamlpos.IsNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.Errorf(g.Raw, "runtime-versions must be a mapping of runtime: version (e.g. golang: 1.x), found %s", yamlpos.Describe(n))
		return nil
	}
	var out map[string]string
	for _, r := range p.Entries(n) {
		if r.Val.Kind != yaml.ScalarNode || yamlpos.IsNull(r.Val) {
			p.Errorf(r.Raw, "the version of runtime %q must be a single value such as 1.x or latest, found %s", r.Name, yamlpos.Describe(r.Val))
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[r.Name] = r.Val.Value
	}
	return out
}

// commands reads a list of commands; present is false when there is none.
func (p *parser) commands(g entry, where string) (cmds []Command, present bool) {
	items, present := p.list(g, where, "command", false)
	for _, it := range items {
		cmds = append(cmds, Command{Text: it.Text, Pos: yamlpos.At(it.Node)})
	}
	return cmds, present
}

func (p *parser) artifacts(e entry, where string, secondary bool) *Artifacts {
	a := &Artifacts{Pos: yamlpos.At(e.Key)}
	hasFiles := false
	ok := p.object(e, where, artifactKeys, "", func(g entry) {
		switch g.Name {
		case "files":
			a.Files, hasFiles = p.paths(g, where)
		case "name":
			a.Name, _ = p.text(g, "name in "+where)
		case "discard-paths":
			a.DiscardPaths = p.boolean(g, "discard-paths in "+where)
		case "base-directory":
			a.BaseDirectory, _ = p.text(g, "base-directory in "+where)
		case "exclude-paths":
			a.ExcludePaths, _ = p.paths(g, where)
		case "enable-symlinks":
			a.EnableSymlinks = p.boolean(g, "enable-symlinks in "+where)
		case "s3-prefix":
			a.S3Prefix, _ = p.text(g, "s3-prefix in "+where)
		case "secondary-artifacts":
			if secondary {
				p.Errorf(g.Key, "a secondary artifact cannot have secondary-artifacts of its own; list every secondary artifact directly under the top-level secondary-artifacts")
				return
			}
			a.Secondary = p.secondary(g)
		}
	})
	if ok && !hasFiles {
		p.Errorf(e.Key, "%s has no files; add files: with at least one path (it is required even when only secondary artifacts are declared)", where)
	}
	return a
}

func (p *parser) secondary(g entry) map[string]*Artifacts {
	n := g.Val
	if yamlpos.IsNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.Errorf(g.Raw, "secondary-artifacts must be a mapping of artifact identifier to artifact, found %s", yamlpos.Describe(n))
		return nil
	}
	var out map[string]*Artifacts
	for _, s := range p.Entries(n) {
		if out == nil {
			out = map[string]*Artifacts{}
		}
		out[s.Name] = p.artifacts(s, fmt.Sprintf("secondary artifact %q", s.Name), true)
	}
	return out
}

func (p *parser) cache(e entry) *Cache {
	c := &Cache{Pos: yamlpos.At(e.Key)}
	hasPaths := false
	ok := p.object(e, "cache", cacheKeys, "", func(g entry) {
		c.Paths, hasPaths = p.paths(g, "cache")
	})
	if ok && !hasPaths {
		p.Errorf(e.Key, "cache has no paths; add paths: with at least one path, or remove cache:")
	}
	return c
}

func (p *parser) reports(e entry, spec *Spec) {
	n := e.Val
	if yamlpos.IsNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		p.Errorf(e.Raw, "reports must be a mapping of report group name to report, found %s", yamlpos.Describe(n))
		return
	}
	for _, g := range p.Entries(n) {
		where := fmt.Sprintf("report group %q", g.Name)
		r := Report{FileFormat: DefaultReportFormat, Pos: yamlpos.At(g.Key)}
		hasFiles := false
		ok := p.object(g, where, reportKeys, "", func(h entry) {
			switch h.Name {
			case "files":
				r.Files, hasFiles = p.paths(h, where)
			case "base-directory":
				r.BaseDirectory, _ = p.text(h, "base-directory in "+where)
			case "discard-paths":
				r.DiscardPaths = p.boolean(h, "discard-paths in "+where)
			case "file-format":
				s, ok := p.text(h, "file-format in "+where)
				if !ok {
					return
				}
				if !slices.Contains(reportFormats, s) {
					p.Errorf(h.Raw, "unknown file-format %q%s; the formats are %s", s, yamlpos.DidYouMean(s, reportFormats), strings.Join(reportFormats, ", "))
					return
				}
				r.FileFormat = s
			}
		})
		if ok && !hasFiles {
			p.Errorf(g.Key, "%s has no files; add files: with at least one path", where)
		}
		if spec.Reports == nil {
			spec.Reports = map[string]Report{}
		}
		spec.Reports[g.Name] = r
	}
}

// paths reads a list of paths. A single path written without a list is
// accepted, as CodeBuild does (its own ECS tutorial writes
// "files: imagedefinitions.json").
func (p *parser) paths(g entry, where string) ([]string, bool) {
	items, present := p.list(g, where, "path", true)
	var out []string
	for _, it := range items {
		out = append(out, it.Text)
	}
	return out, present
}

// item is one entry of a list of strings.
type item = yamlpos.Item

// list reads a list of strings; items YAML reads as numbers or booleans keep
// their source text. present is false when the list is absent or empty, so
// that callers can report a required list as missing.
func (p *parser) list(g entry, where, noun string, allowSingle bool) (items []item, present bool) {
	what := g.Name + " in " + where
	n := g.Val
	switch {
	case yamlpos.IsNull(n):
		return nil, false
	case n.Kind == yaml.ScalarNode && allowSingle:
		return []item{{Text: n.Value, Node: g.Raw}}, true
	case n.Kind == yaml.ScalarNode:
		p.Errorf(g.Raw, "%s must be a list with one %s per item, found a single value; write it as \"- %s\" on its own line below %s:", what, noun, yamlpos.Short(n.Value), g.Name)
		return nil, true
	case n.Kind == yaml.MappingNode:
		p.Errorf(g.Raw, "%s must be a list with one %s per item, found a mapping; start each %s with \"- \" and quote any that contains \": \"", what, noun, noun)
		return nil, true
	case n.Kind != yaml.SequenceNode:
		p.Errorf(g.Raw, "%s must be a list with one %s per item, found %s", what, noun, yamlpos.Describe(n))
		return nil, true
	}
	items = p.Items(n, where, noun, func(raw, m *yaml.Node) { p.mappingItem(raw, m, noun) })
	return items, len(n.Content) > 0
}

// mappingItem reports the classic mistake of an unquoted "- echo a: b",
// which YAML reads as a mapping, and shows the quoted form to write.
func (p *parser) mappingItem(raw, m *yaml.Node, noun string) {
	if len(m.Content) == 2 {
		k, v := yamlpos.Resolve(m.Content[0]), yamlpos.Resolve(m.Content[1])
		if k.Kind == yaml.ScalarNode && v.Kind == yaml.ScalarNode {
			guess := k.Value + ":"
			if !yamlpos.IsNull(v) {
				guess += " " + v.Value
			}
			p.Errorf(raw, "this %s was read as a mapping because it contains \": \"; quote the whole %s: - %s", noun, noun, yamlpos.Quote(guess))
			return
		}
	}
	p.Errorf(raw, "this %s was read as a mapping (it contains \": \" or starts with {); quote the whole %s", noun, noun)
}

// text returns the source text of a single value and reports anything else.
func (p *parser) text(e entry, what string) (string, bool) {
	n := e.Val
	switch {
	case n.Kind != yaml.ScalarNode:
		p.Errorf(e.Raw, "%s must be a single value, found %s", what, yamlpos.Describe(n))
		return "", false
	case yamlpos.IsNull(n):
		p.Errorf(e.Raw, "%s is empty; write a value after %s:", what, e.Name)
		return "", false
	}
	return n.Value, true
}

// boolean reads yes/no/true/false in any case, as CodeBuild users write them.
func (p *parser) boolean(e entry, what string) bool {
	n := e.Val
	if v, ok := yamlpos.Boolean(n); ok {
		return v
	}
	p.Errorf(e.Raw, "%s must be yes or no, found %s", what, yamlpos.Describe(n))
	return false
}

// object checks that e's value is a mapping (an empty value counts as an
// empty mapping) and hands each known key to fn; ok is false when the value
// was of another kind. hint is added to unknown-key messages.
func (p *parser) object(e entry, where string, known []string, hint string, fn func(entry)) (ok bool) {
	n := e.Val
	if yamlpos.IsNull(n) {
		return true
	}
	if n.Kind != yaml.MappingNode {
		p.Errorf(e.Raw, "%s must be a mapping of keys (%s), found %s", where, strings.Join(known, ", "), yamlpos.Describe(n))
		return false
	}
	for _, f := range p.Entries(n) {
		if !slices.Contains(known, f.Name) {
			p.UnknownKey(f, where, known, hint)
			continue
		}
		fn(f)
	}
	return true
}
