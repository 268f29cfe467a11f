package catalog

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/slipway/slipway/appspec"
	"github.com/slipway/slipway/buildspec"
	"github.com/slipway/slipway/template"
	"github.com/slipway/slipway/yamlpos"
)

// pipelineType is the resource a pipeline template must make.
const pipelineType = "AWS::CodePipeline::Pipeline"

// Validate checks that the blueprint's files hold what they must and fit
// together, as when a blueprint is added:
//
//   - the pipeline template parses and makes a pipeline;
//   - the blueprint's parameters are parameters of the pipeline template,
//     NameParameter among them, and every template parameter without a
//     Default is one of them (else nothing could ever give it a value);
//   - the starter content has an appspec.yml and a buildspec.yml at its
//     root, and both parse;
//   - the templates and configuration files the pipeline's CloudFormation
//     actions name (TemplatePath, TemplateConfiguration), where the content
//     holds them at the same path, parse, and the configurations set only
//     parameters their template declares. (A file the content does not
//     hold is one the build makes, and is not checked.)
//
// Resource types and their properties are not checked here: that needs
// the server's resource schemas. Validate returns every problem at once
// (errors.Join), each naming its file and, where it has them, the line and
// column.
func (b *Blueprint) Validate() error {
	var errs []error
	if b.parameter(NameParameter) == nil {
		errs = append(errs, &yamlpos.Error{File: b.file(FileName), Pos: yamlpos.Pos{Line: 1, Column: 1},
			Msg: fmt.Sprintf("the blueprint has no parameter %s; every blueprint takes the application's name as %s, and its pipeline template names what it makes after it", NameParameter, NameParameter)})
	}
	tpl, err := b.pipelineTemplate()
	if err != nil {
		errs = append(errs, err)
	}
	if tpl != nil {
		errs = append(errs, b.checkParameters(tpl)...)
	}
	content, err := b.Content()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	errs = append(errs, b.checkSpecs(content)...)
	if tpl != nil {
		errs = append(errs, b.checkEnvironments(content, tpl)...)
	}
	return errors.Join(errs...)
}

// file names a file of the blueprint's directory in messages.
func (b *Blueprint) file(name string) string { return path.Join(b.dir, name) }

// pipelineTemplate parses the pipeline template and checks that it makes a
// pipeline.
func (b *Blueprint) pipelineTemplate() (*template.Template, error) {
	data, err := b.PipelineTemplate()
	if err != nil {
		return nil, err
	}
	name := b.file(b.Pipeline)
	t, err := template.Parse(name, data)
	if err != nil {
		return nil, err
	}
	for _, r := range t.ResourceOrder {
		if t.Resources[r].Type == pipelineType {
			return t, nil
		}
	}
	return t, &template.Error{Pos: template.Pos{File: name, Line: 1, Col: 1},
		Msg: fmt.Sprintf("the pipeline template makes no %s; a blueprint's pipeline template makes the application's pipeline (and its repository, build project and deployment application)", pipelineType)}
}

// checkParameters compares the blueprint's parameters with the pipeline
// template's.
func (b *Blueprint) checkParameters(t *template.Template) []error {
	var errs []error
	for _, p := range b.Parameters {
		if _, ok := t.Parameters[p.Name]; !ok {
			errs = append(errs, &yamlpos.Error{File: b.file(FileName), Pos: p.at,
				Msg: fmt.Sprintf("parameter %s is not a parameter of the pipeline template %s%s; declare it there or remove it here", p.Name, b.Pipeline, yamlpos.DidYouMean(p.Name, t.ParameterOrder))})
		}
	}
	for _, name := range t.ParameterOrder {
		tp := t.Parameters[name]
		if tp.Default == nil && b.parameter(name) == nil {
			errs = append(errs, &template.Error{Pos: tp.Pos,
				Msg: fmt.Sprintf("parameter %s has no Default and %s does not list it, so nothing could give it a value; give it a Default or add it to the blueprint's parameters", name, FileName)})
		}
	}
	return errs
}

// checkSpecs checks the content's appspec.yml and buildspec.yml.
func (b *Blueprint) checkSpecs(content fs.FS) []error {
	var errs []error
	var found bool
	for _, name := range appspec.FileNames() {
		data, err := fs.ReadFile(content, name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		found = true
		if err == nil {
			_, err = appspec.Parse(b.file(path.Join(b.ContentDir, name)), data)
		}
		if err != nil {
			errs = append(errs, err)
		}
		break
	}
	if !found {
		errs = append(errs, fmt.Errorf("%s: the starter content has no appspec.yml; the pipeline's deployments install the build with it", b.file(b.ContentDir)))
	}
	data, err := fs.ReadFile(content, "buildspec.yml")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		errs = append(errs, fmt.Errorf("%s: the starter content has no buildspec.yml; the pipeline's Build stage runs it", b.file(b.ContentDir)))
	case err != nil:
		errs = append(errs, err)
	default:
		if _, err := buildspec.Parse(b.file(path.Join(b.ContentDir, "buildspec.yml")), data); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// checkEnvironments parses the templates and configuration files that the
// pipeline's CloudFormation actions deploy, where the content holds them.
func (b *Blueprint) checkEnvironments(content fs.FS, pipelineTpl *template.Template) []error {
	var errs []error
	// parsed holds each template by its path once read: nil when the
	// content does not hold it or it does not parse.
	parsed := map[string]*template.Template{}
	parse := func(p string) *template.Template {
		if t, done := parsed[p]; done || p == "" {
			return t
		}
		parsed[p] = nil
		data, err := fs.ReadFile(content, p)
		if err != nil {
			return nil
		}
		t, err := template.Parse(b.file(path.Join(b.ContentDir, p)), data)
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		parsed[p] = t
		return t
	}
	checked := map[cfnAction]bool{}
	for _, a := range cloudFormationActions(pipelineTpl) {
		t := parse(a.template)
		if a.config == "" || checked[a] {
			continue
		}
		checked[a] = true
		data, err := fs.ReadFile(content, a.config)
		if err != nil {
			continue
		}
		name := b.file(path.Join(b.ContentDir, a.config))
		c, err := template.ParseConfig(name, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if t == nil {
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(c.Parameters)) {
			if _, ok := t.Parameters[k]; !ok {
				errs = append(errs, fmt.Errorf("%s: Parameters: %s is not a parameter of %s%s; the stack deploy would refuse it", name, k, a.template, yamlpos.DidYouMean(k, t.ParameterOrder)))
			}
		}
	}
	return errs
}

// cfnAction is what a CloudFormation action of the pipeline deploys: paths
// within its input artifact, "" when not written literally.
type cfnAction struct {
	template, config string
}

// cloudFormationActions lists the CloudFormation actions of the template's
// pipelines, in the order written.
func cloudFormationActions(t *template.Template) []cfnAction {
	var out []cfnAction
	for _, r := range t.ResourceOrder {
		res := t.Resources[r]
		if res.Type != pipelineType {
			continue
		}
		for _, stage := range items(res.Properties.Get("Stages")) {
			for _, a := range items(stage.Get("Actions")) {
				if provider, _ := a.Get("ActionTypeId").Get("Provider").Text(); provider != "CloudFormation" {
					continue
				}
				cfg := a.Get("Configuration")
				out = append(out, cfnAction{template: artifactPath(cfg.Get("TemplatePath")), config: artifactPath(cfg.Get("TemplateConfiguration"))})
			}
		}
	}
	return out
}

// items returns the elements of a list node, nil for anything else (an
// intrinsic function, say, whose value is known only when deployed).
func items(n *template.Node) []*template.Node {
	if n == nil || n.Kind != template.List {
		return nil
	}
	return n.Items
}

// artifactPath reads a literal "Artifact::path" and returns the path, or
// "" when n is not one.
func artifactPath(n *template.Node) string {
	s, ok := n.Text()
	if !ok {
		return ""
	}
	_, p, ok := strings.Cut(s, "::")
	if !ok || !fs.ValidPath(p) {
		return ""
	}
	return p
}
