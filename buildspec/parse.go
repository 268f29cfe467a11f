package buildspec

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v4"

	"github.com/slipway/slipway/spell"
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
	p := &parser{file: file, data: data}
	root, ok := p.load()
	if !ok {
		return nil, p.errs.sorted()
	}
	spec := p.spec(root)
	if len(p.errs) > 0 {
		return nil, p.errs.sorted()
	}
	return spec, nil
}

// parser holds the state of one Parse call.
type parser struct {
	file string
	data []byte
	// version is "0.1" or "0.2" once read; "" while unknown or invalid, in
	// which case version-specific keys are all accepted, so that one wrong
	// version does not bury the file under follow-on errors.
	version string
	errs    Errors
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.errorAt(pos(n), format, args...)
}

func (p *parser) errorAt(at Pos, format string, args ...any) {
	// User text is quoted with %q where it appears; this is the safety net
	// that keeps every problem on one line whatever slipped through.
	msg := strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r':
			return ' '
		case unicode.IsControl(r) && r != '\t':
			return '?'
		}
		return r
	}, fmt.Sprintf(format, args...))
	p.errs = append(p.errs, &Error{File: p.file, Pos: at, Msg: msg})
}

// pos is where n was written; nodes without a position (an empty file)
// are placed at the document start.
func pos(n *yaml.Node) Pos {
	if n == nil || n.Line <= 0 {
		return Pos{Line: 1, Column: 1}
	}
	return Pos{Line: n.Line, Column: max(n.Column, 1)}
}

// load parses the YAML and returns the root node of the single document,
// nil when the file is empty. It uses yaml.Load with the v3 defaults, the
// very options yaml.Unmarshal uses, but asks for all documents: Unmarshal
// silently drops a second document, and a buildspec whose real content sits
// after a stray --- would then run as something else than written.
func (p *parser) load() (*yaml.Node, bool) {
	var docs []yaml.Node
	if err := yaml.Load(p.data, &docs, yaml.WithV3Defaults(), yaml.WithAllDocuments()); err != nil {
		p.yamlError(err)
		return nil, false
	}
	for i := 1; i < len(docs); i++ {
		if !emptyDocument(&docs[i]) {
			// The first document is still checked, so all its problems
			// come out together with this one.
			p.errorf(&docs[i], "a second YAML document starts here; a buildspec is one document, so remove this --- line or what follows it")
			break
		}
	}
	if len(docs) == 0 || emptyDocument(&docs[0]) {
		return nil, true
	}
	return docs[0].Content[0], true
}

// emptyDocument reports a document with no content, such as the one a
// trailing --- creates.
func emptyDocument(d *yaml.Node) bool {
	if len(d.Content) == 0 {
		return true
	}
	c := d.Content[0]
	return c.Kind == yaml.ScalarNode && isNull(c) && c.Value == "" && c.Anchor == ""
}

// yamlError turns a YAML syntax error into positioned problems.
func (p *parser) yamlError(err error) {
	var many *yaml.LoadErrors
	if errors.As(err, &many) && len(many.Errors) > 0 {
		for _, le := range many.Errors {
			p.loadError(le)
		}
		return
	}
	var one *yaml.LoadError
	if errors.As(err, &one) {
		p.loadError(one)
		return
	}
	p.errorAt(Pos{Line: 1, Column: 1}, "invalid YAML: %v", err)
}

func (p *parser) loadError(le *yaml.LoadError) {
	at := Pos{Line: le.Mark.Line, Column: max(le.Mark.Column, 1)}
	if at.Line <= 0 {
		// Encoding errors come from the reader, which knows only the
		// byte offset.
		at = p.offsetPos(le.Mark.Index)
	}
	msg := "invalid YAML: " + strings.TrimPrefix(le.Message, "yaml: ")
	if le.ContextMsg != "" && le.ContextMark.Line > 0 && le.ContextMark != le.Mark {
		msg += fmt.Sprintf(" (%s that starts at %d:%d)", le.ContextMsg, le.ContextMark.Line, max(le.ContextMark.Column, 1))
	}
	c := p.charAt(at)
	switch {
	case c == '\t' || strings.Contains(le.Message, "tab character"):
		msg += "; indent with spaces, YAML does not allow tabs"
	case strings.Contains(le.Message, "mapping values are not allowed"):
		msg += `; a value that contains ": " must be quoted, e.g. - 'echo a: b'`
	case strings.Contains(le.Message, "cannot start any token") && (c == '`' || c == '@'):
		msg += fmt.Sprintf("; a value that starts with %c must be quoted", c)
	case strings.Contains(le.Message, "UTF-8") || strings.Contains(le.Message, "UTF-16"):
		msg += "; save the file as UTF-8"
	}
	p.errorAt(at, "%s", msg)
}

// offsetPos converts a byte offset into a line and a column in characters.
func (p *parser) offsetPos(off int) Pos {
	if off < 0 || off > len(p.data) {
		return Pos{Line: 1, Column: 1}
	}
	before := p.data[:off]
	line := 1 + strings.Count(string(before), "\n")
	lineStart := strings.LastIndexByte(string(before), '\n') + 1
	return Pos{Line: line, Column: 1 + len([]rune(string(before[lineStart:])))}
}

// charAt returns the character at a position (columns count characters,
// as the YAML scanner does), or 0.
func (p *parser) charAt(at Pos) rune {
	lines := strings.SplitN(string(p.data), "\n", at.Line+1)
	if at.Line < 1 || at.Line > len(lines) {
		return 0
	}
	r := []rune(lines[at.Line-1])
	if at.Column < 1 || at.Column > len(r) {
		return 0
	}
	return r[at.Column-1]
}

// spec reads the top-level mapping.
func (p *parser) spec(root *yaml.Node) *Spec {
	spec := &Spec{}
	var entries []entry
	top := root
	switch {
	case root == nil || isNull(resolve(root)):
		// An empty file: both required keys are missing, at 1:1.
		top = nil
	case resolve(root).Kind != yaml.MappingNode:
		p.errorf(root, "the buildspec must be a mapping of keys such as version: and phases:, found %s", describe(resolve(root)))
		return spec
	default:
		top = resolve(root)
		entries = p.entries(top)
	}

	// The version decides which env key is valid, so read it first.
	var haveVersion, havePhases bool
	for _, e := range entries {
		if e.name == "version" {
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
		switch e.name {
		case "version":
		case "run-as":
			spec.RunAs, _ = p.text(e, "run-as")
		case "env":
			if p.version == "0.1" {
				p.errorf(e.key, "env is the version 0.2 form; in version 0.1 write environment_variables: with plaintext: under it, or change the version to 0.2")
				continue
			}
			p.env(e, spec)
		case "environment_variables":
			if p.version == "0.2" {
				p.errorf(e.key, "environment_variables is the version 0.1 form; in version 0.2 write env: with variables: under it")
				continue
			}
			p.env01(e, spec)
		case "proxy":
			p.object(e, "proxy", proxyKeys, "", func(f entry) {
				p.boolean(f, f.name+" in proxy")
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
			if slices.Contains(phaseNames, e.name) {
				p.errorf(e.key, "unknown key %q in the top level; phases go under phases:, indented", e.name)
				continue
			}
			p.unknownKey(e, "the top level", known, "")
		}
	}
	if !haveVersion {
		p.errorf(top, "missing version; add version: 0.2 as the first line (the supported versions are 0.1 and 0.2)")
	}
	if !havePhases {
		p.errorf(top, "missing phases; add phases: with at least one of install, pre_build, build, post_build")
	}
	return spec
}

func (p *parser) readVersion(e entry, spec *Spec) {
	n := e.val
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.errorf(e.raw, "version must be 0.1 or 0.2, found %s", describe(n))
		return
	}
	switch n.Value {
	case "0.1", "0.2":
		p.version = n.Value
		spec.Version = n.Value
	default:
		p.errorf(e.raw, "unsupported version %q; the supported versions are 0.1 and 0.2", n.Value)
	}
}

// env reads the 0.2 env block.
func (p *parser) env(e entry, spec *Spec) {
	var exported []item
	p.object(e, "env", envKeys, "", func(f entry) {
		switch f.name {
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
				p.errorf(f.raw, "shell %q is not supported%s; use bash or /bin/sh", s, hint)
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
		case strings.HasPrefix(it.text, "AWS_"):
			p.errorf(it.node, "exported variable %q begins with AWS_, and such names cannot be exported; rename the variable", it.text)
		case secret[it.text] != "":
			p.errorf(it.node, "exported variable %q comes from %s, and exporting it would reveal a secret; export a plaintext variable instead", it.text, secret[it.text])
		case it.text == "" || strings.ContainsAny(it.text, "=\x00"):
			p.errorf(it.node, "exported variable %q is not a valid variable name", it.text)
		default:
			spec.Env.ExportedVariables = append(spec.Env.ExportedVariables, it.text)
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
				p.errorAt(v.Pos, "variable %q is defined twice, in %s (line %d) and in %s; keep one of them", v.Name, d.where, d.line, group.where)
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
	n := f.val
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(f.raw, "%s must be a mapping of NAME: value, found %s", where, describe(n))
		return nil
	}
	var out []Var
	for _, g := range p.entries(n) {
		name := g.name
		switch {
		case name == "":
			p.errorf(g.key, "empty variable name in %s", where)
			continue
		case strings.HasPrefix(name, "CODEBUILD_"):
			p.errorf(g.key, "variable %q begins with CODEBUILD_, which is reserved for CodeBuild's own variables; rename it", name)
			continue
		case strings.ContainsAny(name, "=\x00"):
			p.errorf(g.key, "variable name %q contains = or a NUL character, which an environment variable name cannot hold; rename it", name)
			continue
		}
		v := g.val
		var value string
		switch {
		case v.Kind == yaml.MappingNode || v.Kind == yaml.SequenceNode:
			p.errorf(g.raw, "the value of %q in %s must be a single value, found %s; quote it if it is meant as text", name, where, describe(v))
			continue
		case v.Kind != yaml.ScalarNode:
			p.errorf(g.raw, "the value of %q in %s must be a single value, found %s", name, where, describe(v))
			continue
		case isNull(v):
			if needValue {
				p.errorf(g.key, "%q in %s has no value; write what to fetch after the colon", name, where)
				continue
			}
		default:
			value = v.Value
		}
		if strings.ContainsRune(value, 0) {
			p.errorf(g.raw, "the value of %q contains a NUL character, which an environment variable cannot hold", name)
			continue
		}
		out = append(out, Var{Name: name, Value: value, Pos: pos(g.key)})
	}
	return out
}

func (p *parser) phases(e entry, spec *Spec) {
	n := e.val
	if n.Kind != yaml.MappingNode && !isNull(n) {
		p.errorf(e.raw, "phases must be a mapping of phase names (install, pre_build, build, post_build), found %s", describe(n))
		return
	}
	var entries []entry
	if !isNull(n) {
		entries = p.entries(n)
	}
	if len(entries) == 0 {
		p.errorf(e.key, "phases is empty; add at least one of install, pre_build, build, post_build")
		return
	}
	for _, f := range entries {
		switch f.name {
		case "install":
			spec.Install = p.phase(f)
		case "pre_build":
			spec.PreBuild = p.phase(f)
		case "build":
			spec.Build = p.phase(f)
		case "post_build":
			spec.PostBuild = p.phase(f)
		default:
			if s := spell.Closest(f.name, phaseNames); s != "" {
				p.errorf(f.key, "unknown phase %q (did you mean %q?)", f.name, s)
			} else {
				p.errorf(f.key, "unknown phase %q; the phases are install, pre_build, build and post_build", f.name)
			}
		}
	}
}

func (p *parser) phase(f entry) *Phase {
	ph := &Phase{Name: f.name, Pos: pos(f.key)}
	where := "phase " + f.name
	if f.val.Kind == yaml.SequenceNode {
		p.errorf(f.raw, "%s must be a mapping, found a list; put the list under commands:", where)
		return ph
	}
	hasCommands := false
	ok := p.object(f, where, phaseKeys, "", func(g entry) {
		switch g.name {
		case "run-as":
			ph.RunAs, _ = p.text(g, "run-as in "+where)
		case "on-failure":
			s, ok := p.text(g, "on-failure in "+where)
			if !ok {
				return
			}
			if !slices.Contains(onFailures, s) {
				p.errorf(g.raw, "on-failure must be ABORT or CONTINUE, found %q%s", s, didYouMean(s, onFailures))
				return
			}
			ph.OnFailure = OnFailure(s)
		case "runtime-versions":
			if f.name != "install" {
				p.errorf(g.key, "runtime-versions is only allowed in the install phase; move it there")
				return
			}
			ph.RuntimeVersions = p.runtimes(g)
		case "commands":
			ph.Commands, hasCommands = p.commands(g, where)
		case "finally":
			ph.Finally, _ = p.commands(g, where)
		}
	})
	if ok && !hasCommands && f.name != "install" {
		p.errorf(f.key, "%s has no commands; add commands: with at least one command (only install may leave it out)", where)
	}
	return ph
}

func (p *parser) runtimes(g entry) map[string]string {
	n := g.val
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(g.raw, "runtime-versions must be a mapping of runtime: version (e.g. golang: 1.x), found %s", describe(n))
		return nil
	}
	var out map[string]string
	for _, r := range p.entries(n) {
		if r.val.Kind != yaml.ScalarNode || isNull(r.val) {
			p.errorf(r.raw, "the version of runtime %q must be a single value such as 1.x or latest, found %s", r.name, describe(r.val))
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[r.name] = r.val.Value
	}
	return out
}

// commands reads a list of commands; present is false when there is none.
func (p *parser) commands(g entry, where string) (cmds []Command, present bool) {
	items, present := p.list(g, where, "command", false)
	for _, it := range items {
		cmds = append(cmds, Command{Text: it.text, Pos: pos(it.node)})
	}
	return cmds, present
}

func (p *parser) artifacts(e entry, where string, secondary bool) *Artifacts {
	a := &Artifacts{Pos: pos(e.key)}
	hasFiles := false
	ok := p.object(e, where, artifactKeys, "", func(g entry) {
		switch g.name {
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
				p.errorf(g.key, "a secondary artifact cannot have secondary-artifacts of its own; list every secondary artifact directly under the top-level secondary-artifacts")
				return
			}
			a.Secondary = p.secondary(g)
		}
	})
	if ok && !hasFiles {
		p.errorf(e.key, "%s has no files; add files: with at least one path (it is required even when only secondary artifacts are declared)", where)
	}
	return a
}

func (p *parser) secondary(g entry) map[string]*Artifacts {
	n := g.val
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(g.raw, "secondary-artifacts must be a mapping of artifact identifier to artifact, found %s", describe(n))
		return nil
	}
	var out map[string]*Artifacts
	for _, s := range p.entries(n) {
		if out == nil {
			out = map[string]*Artifacts{}
		}
		out[s.name] = p.artifacts(s, fmt.Sprintf("secondary artifact %q", s.name), true)
	}
	return out
}

func (p *parser) cache(e entry) *Cache {
	c := &Cache{Pos: pos(e.key)}
	hasPaths := false
	ok := p.object(e, "cache", cacheKeys, "", func(g entry) {
		c.Paths, hasPaths = p.paths(g, "cache")
	})
	if ok && !hasPaths {
		p.errorf(e.key, "cache has no paths; add paths: with at least one path, or remove cache:")
	}
	return c
}

func (p *parser) reports(e entry, spec *Spec) {
	n := e.val
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(e.raw, "reports must be a mapping of report group name to report, found %s", describe(n))
		return
	}
	for _, g := range p.entries(n) {
		where := fmt.Sprintf("report group %q", g.name)
		r := Report{FileFormat: DefaultReportFormat, Pos: pos(g.key)}
		hasFiles := false
		ok := p.object(g, where, reportKeys, "", func(h entry) {
			switch h.name {
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
					p.errorf(h.raw, "unknown file-format %q%s; the formats are %s", s, didYouMean(s, reportFormats), strings.Join(reportFormats, ", "))
					return
				}
				r.FileFormat = s
			}
		})
		if ok && !hasFiles {
			p.errorf(g.key, "%s has no files; add files: with at least one path", where)
		}
		if spec.Reports == nil {
			spec.Reports = map[string]Report{}
		}
		spec.Reports[g.name] = r
	}
}

// paths reads a list of paths. A single path written without a list is
// accepted, as CodeBuild does (its own ECS tutorial writes
// "files: imagedefinitions.json").
func (p *parser) paths(g entry, where string) ([]string, bool) {
	items, present := p.list(g, where, "path", true)
	var out []string
	for _, it := range items {
		out = append(out, it.text)
	}
	return out, present
}

// item is one entry of a list of strings.
type item struct {
	text string
	node *yaml.Node // as written, for its position
}

// list reads a list of strings; items YAML reads as numbers or booleans keep
// their source text. present is false when the list is absent or empty, so
// that callers can report a required list as missing.
func (p *parser) list(g entry, where, noun string, allowSingle bool) (items []item, present bool) {
	what := g.name + " in " + where
	n := g.val
	switch {
	case isNull(n):
		return nil, false
	case n.Kind == yaml.ScalarNode && allowSingle:
		return []item{{text: n.Value, node: g.raw}}, true
	case n.Kind == yaml.ScalarNode:
		p.errorf(g.raw, "%s must be a list with one %s per item, found a single value; write it as \"- %s\" on its own line below %s:", what, noun, short(n.Value), g.name)
		return nil, true
	case n.Kind == yaml.MappingNode:
		p.errorf(g.raw, "%s must be a list with one %s per item, found a mapping; start each %s with \"- \" and quote any that contains \": \"", what, noun, noun)
		return nil, true
	case n.Kind != yaml.SequenceNode:
		p.errorf(g.raw, "%s must be a list with one %s per item, found %s", what, noun, describe(n))
		return nil, true
	}
	for _, raw := range n.Content {
		it := resolve(raw)
		switch {
		case it.Kind == yaml.ScalarNode && isNull(it):
			p.errorf(raw, "empty %s in %s; remove the lone \"-\" or write a %s after it", noun, where, noun)
		case it.Kind == yaml.ScalarNode:
			if strings.ContainsRune(it.Value, 0) {
				p.errorf(raw, "this %s contains a NUL character; remove it", noun)
				continue
			}
			items = append(items, item{text: it.Value, node: raw})
		case it.Kind == yaml.MappingNode:
			p.mappingItem(raw, it, noun)
		default:
			p.errorf(raw, "each %s in %s must be a single value, found %s", noun, where, describe(it))
		}
	}
	return items, len(n.Content) > 0
}

// mappingItem reports the classic mistake of an unquoted "- echo a: b",
// which YAML reads as a mapping, and shows the quoted form to write.
func (p *parser) mappingItem(raw, m *yaml.Node, noun string) {
	if len(m.Content) == 2 {
		k, v := resolve(m.Content[0]), resolve(m.Content[1])
		if k.Kind == yaml.ScalarNode && v.Kind == yaml.ScalarNode {
			guess := k.Value + ":"
			if !isNull(v) {
				guess += " " + v.Value
			}
			p.errorf(raw, "this %s was read as a mapping because it contains \": \"; quote the whole %s: - %s", noun, noun, quote(guess))
			return
		}
	}
	p.errorf(raw, "this %s was read as a mapping (it contains \": \" or starts with {); quote the whole %s", noun, noun)
}

// text returns the source text of a single value and reports anything else.
func (p *parser) text(e entry, what string) (string, bool) {
	n := e.val
	switch {
	case n.Kind != yaml.ScalarNode:
		p.errorf(e.raw, "%s must be a single value, found %s", what, describe(n))
		return "", false
	case isNull(n):
		p.errorf(e.raw, "%s is empty; write a value after %s:", what, e.name)
		return "", false
	}
	return n.Value, true
}

// boolean reads yes/no/true/false in any case, as CodeBuild users write them.
func (p *parser) boolean(e entry, what string) bool {
	n := e.val
	if n.Kind == yaml.ScalarNode {
		switch strings.ToLower(n.Value) {
		case "yes", "true":
			return true
		case "no", "false":
			return false
		}
	}
	p.errorf(e.raw, "%s must be yes or no, found %s", what, describe(n))
	return false
}

// object checks that e's value is a mapping (an empty value counts as an
// empty mapping) and hands each known key to fn; ok is false when the value
// was of another kind. hint is added to unknown-key messages.
func (p *parser) object(e entry, where string, known []string, hint string, fn func(entry)) (ok bool) {
	n := e.val
	if isNull(n) {
		return true
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(e.raw, "%s must be a mapping of keys (%s), found %s", where, strings.Join(known, ", "), describe(n))
		return false
	}
	for _, f := range p.entries(n) {
		if !slices.Contains(known, f.name) {
			p.unknownKey(f, where, known, hint)
			continue
		}
		fn(f)
	}
	return true
}

func (p *parser) unknownKey(e entry, where string, known []string, hint string) {
	msg := fmt.Sprintf("unknown key %q in %s", e.name, where)
	if s := spell.Closest(e.name, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else {
		msg += "; the keys allowed there are " + strings.Join(known, ", ")
	}
	if hint != "" {
		msg += "; " + hint
	}
	p.errorf(e.key, "%s", msg)
}

// entry is one key of a mapping.
type entry struct {
	name string
	key  *yaml.Node // the key as written
	val  *yaml.Node // the value, aliases followed
	raw  *yaml.Node // the value as written, for positions
}

// entries lists the keys of mapping m in file order, reporting duplicates
// and keys that are not plain names. Merge keys (<<: *defaults) are
// expanded after the explicit keys, which override them, as YAML defines.
func (p *parser) entries(m *yaml.Node) []entry {
	var out []entry
	seen := map[string]*yaml.Node{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if isMergeKey(k) {
			merges = append(merges, v)
			continue
		}
		name, ok := p.keyName(k)
		if !ok {
			continue
		}
		if first, dup := seen[name]; dup {
			p.errorf(k, "duplicate key %q (first written at line %d); keep only one", name, first.Line)
			continue
		}
		seen[name] = k
		out = append(out, entry{name: name, key: k, val: resolve(v), raw: v})
	}
	// visited stops a mapping that merges itself, and bounds the work of
	// aliases that merge the same mapping many times.
	visited := map[*yaml.Node]bool{m: true}
	for _, v := range merges {
		out = p.merge(out, seen, visited, v)
	}
	return out
}

// merge appends the keys of a merge value not already present.
func (p *parser) merge(out []entry, seen map[string]*yaml.Node, visited map[*yaml.Node]bool, raw *yaml.Node) []entry {
	v := resolve(raw)
	switch v.Kind {
	case yaml.MappingNode:
		return p.mergeMapping(out, seen, visited, v)
	case yaml.SequenceNode:
		for _, it := range v.Content {
			m := resolve(it)
			if m.Kind != yaml.MappingNode {
				p.errorf(it, "a merge key (<<) list may hold only mappings, found %s", describe(m))
				continue
			}
			out = p.mergeMapping(out, seen, visited, m)
		}
		return out
	}
	p.errorf(raw, "a merge key (<<) needs a mapping or a list of mappings, such as *defaults, found %s", describe(v))
	return out
}

func (p *parser) mergeMapping(out []entry, seen map[string]*yaml.Node, visited map[*yaml.Node]bool, m *yaml.Node) []entry {
	if visited[m] {
		return out
	}
	visited[m] = true
	var inner []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if isMergeKey(k) {
			inner = append(inner, v)
			continue
		}
		name, ok := p.keyName(k)
		if !ok || seen[name] != nil {
			continue
		}
		seen[name] = k
		out = append(out, entry{name: name, key: k, val: resolve(v), raw: v})
	}
	for _, v := range inner {
		out = p.merge(out, seen, visited, v)
	}
	return out
}

func (p *parser) keyName(k *yaml.Node) (string, bool) {
	r := resolve(k)
	if r.Kind != yaml.ScalarNode {
		p.errorf(k, "a key must be a plain name, found %s", describe(r))
		return "", false
	}
	return r.Value, true
}

func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Tag == "!!merge"
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	// Anchors always name a real node; the bound only guards against a
	// malformed tree.
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// isNull reports an empty value (nothing, ~ or null, unquoted).
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names the kind of a node for "found ..." messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "an empty value"
		}
		return fmt.Sprintf("%q", short(n.Value))
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

// short cuts a value to its first line and a readable length.
func short(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + "…"
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) && r != '\t' {
			return '?'
		}
		return r
	}, s)
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}

// quote writes s as a YAML quoted string, single-quoted when it can be.
func quote(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r == '\'' || unicode.IsControl(r) }) {
		return "'" + s + "'"
	}
	return strconv.Quote(s)
}

func didYouMean(s string, candidates []string) string {
	if c := spell.Closest(s, candidates); c != "" {
		return fmt.Sprintf(" (did you mean %q?)", c)
	}
	return ""
}
