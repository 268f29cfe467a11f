// Package catalog holds blueprints: what an application is made from when a
// team asks for one. A blueprint is a directory with a blueprint.yml, which
// gives its name, description and parameters and names its two parts: the
// pipeline template (a CloudFormation template that makes the repository,
// build project, deployment application and pipeline) and the starter
// content (the repository's first commit: the service, its buildspec.yml,
// appspec.yml, hook scripts and the infrastructure template of its
// environments).
//
// Slipway's own blueprints are embedded (Builtin); others are read from any
// fs.FS (Load). The package reads only the fs.FS it is given and runs
// nothing: deploying the pipeline template and pushing the content are the
// caller's.
package catalog

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/slipway/slipway/yamlpos"
)

// FileName is the file that makes a directory a blueprint.
const FileName = "blueprint.yml"

// NameParameter is the parameter every blueprint takes for the
// application's name: whoever makes an application from a blueprint gives
// its name as this parameter, and the pipeline template names what it
// makes after it.
const NameParameter = "ApplicationName"

// Blueprint is a blueprint read from its directory.
type Blueprint struct {
	// Name identifies the blueprint, such as go-service.
	Name string
	// Description says in a sentence or two what an application made from
	// it is.
	Description string
	// Parameters are what the pipeline template takes from the user, in
	// the order blueprint.yml lists them.
	Parameters []Parameter
	// Pipeline is the path of the pipeline template in the blueprint's
	// directory, such as app/cloudformation/pipeline.yml.
	Pipeline string
	// ContentDir is the directory of the starter content in the
	// blueprint's directory, such as app.
	ContentDir string

	// fsys is the blueprint's directory.
	fsys fs.FS
	// dir is the directory as given to Load; messages name files by it.
	dir string
}

// Parameter is one parameter of a blueprint, with CloudFormation's
// constraints: a value must be one of AllowedValues (when given) and match
// Pattern (when given), whole.
type Parameter struct {
	Name, Description string
	// Default is nil when the parameter must be given.
	Default       *string
	AllowedValues []string
	// Pattern is a regular expression (Go's syntax, RE2) the whole value
	// must match, as CloudFormation's AllowedPattern.
	Pattern string
	// ConstraintDescription, when given, is what a refused value is told
	// instead of the bare constraint.
	ConstraintDescription string

	re *regexp.Regexp
	at yamlpos.Pos
}

// check returns what is wrong with v for the parameter, or "".
func (p *Parameter) check(v string) string {
	var problem string
	switch {
	case p.AllowedValues != nil && !slices.Contains(p.AllowedValues, v):
		problem = fmt.Sprintf("%q is not one of the allowed values %s%s", v, strings.Join(p.AllowedValues, ", "), yamlpos.DidYouMean(v, p.AllowedValues))
	case p.re != nil && !p.re.MatchString(v):
		problem = fmt.Sprintf("%q does not match the pattern %s", v, p.Pattern)
	default:
		return ""
	}
	if p.ConstraintDescription != "" {
		// The description says it in the user's terms; the bare
		// constraint is for whoever wrote the blueprint.
		return fmt.Sprintf("%q is not allowed: %s", v, p.ConstraintDescription)
	}
	return problem
}

// builtin holds Slipway's own blueprints, one directory each. The
// directory starts with "_" so that the go tool leaves their Go sources
// alone (they are the starter content, not part of Slipway); "all:" keeps
// the content's dotfiles (.gitignore).
//
//go:embed all:_blueprints
var builtin embed.FS

// Builtin returns the blueprints that come with Slipway, sorted by name.
func Builtin() ([]*Blueprint, error) {
	root, err := fs.Sub(builtin, "_blueprints")
	if err != nil {
		return nil, err
	}
	fsys := unsuffixed{root}
	dirs, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var out []*Blueprint
	for _, d := range dirs {
		b, err := Load(fsys, d.Name())
		if err != nil {
			return nil, fmt.Errorf("built-in blueprint %s: %w", d.Name(), err)
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Load reads the blueprint in directory dir of fsys: its blueprint.yml,
// every problem of which is reported at once as dir/blueprint.yml:line:col
// (a yamlpos.Errors), and whether the files it names are there. What those
// files hold is Validate's to check.
func Load(fsys fs.FS, dir string) (*Blueprint, error) {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("blueprint %s: %w", dir, err)
	}
	file := path.Join(dir, FileName)
	data, err := fs.ReadFile(sub, FileName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is not a blueprint: it has no %s, which names the blueprint, its parameters, its pipeline template and its starter content", dir, FileName)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	b, err := parse(sub, file, data)
	if err != nil {
		return nil, err
	}
	b.fsys, b.dir = sub, dir
	return b, nil
}

// PipelineTemplate returns the text of the pipeline template.
func (b *Blueprint) PipelineTemplate() ([]byte, error) {
	data, err := fs.ReadFile(b.fsys, b.Pipeline)
	if err != nil {
		return nil, fmt.Errorf("blueprint %s: pipeline template: %w", b.Name, err)
	}
	return data, nil
}

// Content returns the starter content: the files of the application's
// first commit, at their paths in the repository.
func (b *Blueprint) Content() (fs.FS, error) {
	sub, err := fs.Sub(b.fsys, b.ContentDir)
	if err != nil {
		return nil, fmt.Errorf("blueprint %s: content: %w", b.Name, err)
	}
	return sub, nil
}

// Bind returns the value of every parameter, as the pipeline template's
// parameter overrides: the values given, and the defaults of the others.
// It refuses, all at once, a parameter the blueprint does not have, a
// missing value and a value its constraints refuse, each naming the
// parameter and what it allows.
func (b *Blueprint) Bind(params map[string]string) (map[string]string, error) {
	var errs []error
	names := make([]string, len(b.Parameters))
	for i, p := range b.Parameters {
		names[i] = p.Name
	}
	var unknown []string
	for k := range params {
		if !slices.Contains(names, k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		errs = append(errs, fmt.Errorf("blueprint %s has no parameter %q%s; its parameters are %s", b.Name, k, yamlpos.DidYouMean(k, names), strings.Join(names, ", ")))
	}
	out := make(map[string]string, len(b.Parameters))
	for i := range b.Parameters {
		p := &b.Parameters[i]
		v, given := params[p.Name]
		if !given {
			if p.Default == nil {
				errs = append(errs, fmt.Errorf("parameter %s needs a value: %s", p.Name, p.Description))
				continue
			}
			v = *p.Default
		}
		if problem := p.check(v); problem != "" {
			errs = append(errs, fmt.Errorf("parameter %s: %s", p.Name, problem))
			continue
		}
		out[p.Name] = v
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// parameter returns the parameter called name, or nil.
func (b *Blueprint) parameter(name string) *Parameter {
	for i := range b.Parameters {
		if b.Parameters[i].Name == name {
			return &b.Parameters[i]
		}
	}
	return nil
}
