package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v4"

	"github.com/slipway/slipway/client"
	"github.com/slipway/slipway/providers"
	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/template"
)

// maxTemplate is the largest template the server takes, as CloudFormation
// takes at most 1 MB from S3.
const maxTemplate = 1 << 20

// followEvery is how often a followed operation is polled.
const followEvery = 300 * time.Millisecond

// localTypes is the registry `stack validate` checks templates against
// with no server: the resource types a server has. Their schemas need none
// of the providers' services.
func localTypes() *stack.Registry {
	reg := stack.NewRegistry()
	providers.Register(reg, providers.Deps{})
	return reg
}

// spreadPairs rewrites "--flag A=1 B=2" as "--flag A=1 --flag B=2" for
// each flag in names, so that several KEY=VALUE words may follow one flag
// as in the AWS CLI. A word without '=' or starting with '-' ends the run;
// "--" ends the rewriting.
func spreadPairs(args, names []string) []string {
	out := make([]string, 0, len(args))
	run := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(out, args[i:]...)
		case strings.HasPrefix(a, "-"):
			run = ""
			out = append(out, a)
			name, _, inline := strings.Cut(strings.TrimPrefix(a, "--"), "=")
			if strings.HasPrefix(a, "--") && slices.Contains(names, name) {
				run = "--" + name
				if !inline && i+1 < len(args) {
					i++
					out = append(out, args[i])
				}
			}
		case run != "" && strings.Contains(a, "="):
			out = append(out, run, a)
		default:
			run = ""
			out = append(out, a)
		}
	}
	return out
}

// pairFlags lets each flag in names take several KEY=VALUE words (see
// spreadPairs). Cobra parses flags before any hook of ours runs, so its
// parsing is turned off for cmd and done here on the rewritten words.
func pairFlags(cmd *cobra.Command, names ...string) *cobra.Command {
	run, args := cmd.RunE, cmd.Args
	cmd.DisableFlagParsing = true
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(c *cobra.Command, raw []string) error {
		c.DisableFlagParsing = false
		err := c.ParseFlags(spreadPairs(raw, names))
		c.DisableFlagParsing = true
		if err != nil {
			return fmt.Errorf("%w\nSee '%s --help'", err, c.CommandPath())
		}
		if help, _ := c.Flags().GetBool("help"); help {
			return c.Help()
		}
		rest := c.Flags().Args()
		if err := args(c, rest); err != nil {
			return err
		}
		return run(c, rest)
	}
	return cmd
}

// parsePairs reads KEY=VALUE words; a later word wins over an earlier one.
func parsePairs(flag string, words []string) (map[string]string, error) {
	out := map[string]string{}
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--%s %q: write KEY=VALUE; several may follow one flag, as in --%s Env=prod Size=2", flag, w, flag)
		}
		out[k] = v
	}
	return out, nil
}

// oneArg checks for exactly one positional argument and explains the
// usual slip of a command with pair flags: a word without '=' among them.
func oneArg(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) == 0:
			return fmt.Errorf("give the %s: %s", what, cmd.UseLine())
		case len(args) > 1:
			return fmt.Errorf("unexpected argument %q: give the %s once; values are KEY=VALUE words after their flag", args[1], what)
		}
		return nil
	}
}

// readTemplate reads a template file, refusing one the server would.
func readTemplate(file string) ([]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read the template: %w", err)
	}
	if len(data) > maxTemplate {
		return nil, fmt.Errorf("%s is %d bytes; a template may be at most 1 MiB (CloudFormation's limit): split the stack into smaller ones that share values through exported outputs", file, len(data))
	}
	return data, nil
}

// templateErrors shows a template's problems as they are, one
// file:line:col line each, so editors link them, and exits 1.
func templateErrors(err error) error {
	var te template.Errors
	if errors.As(err, &te) {
		return &exitError{code: 1, msg: te.Error()}
	}
	return err
}

// serverProblems shows a 400's message as it is: the server's template
// problems are file:line:col lines too.
func serverProblems(err error) error {
	var ce *client.Error
	if errors.As(err, &ce) && ce.Status == http.StatusBadRequest {
		return &exitError{code: 1, msg: ce.Message}
	}
	return err
}

// inputFlags are the flags that make a deploy's input from local files.
type inputFlags struct {
	template, config  string
	overrides, tagsKV []string
}

func (f *inputFlags) register(cmd *cobra.Command) *cobra.Command {
	cmd.Flags().StringVar(&f.template, "template", "", "the template file, YAML or JSON (required)")
	cmd.Flags().StringVar(&f.config, "config", "", `a template configuration file: {"Parameters": {...}, "Tags": {...}, "StackPolicy": {...}}`)
	cmd.Flags().StringArrayVar(&f.overrides, "parameter-overrides", nil, "parameter values KEY=VALUE, over the configuration file's; several may follow the flag")
	cmd.Flags().StringArrayVar(&f.tagsKV, "tags", nil, "stack tags KEY=VALUE, over the configuration file's; several may follow the flag")
	return pairFlags(cmd, "parameter-overrides", "tags")
}

// input reads the template and the configuration file and merges the
// values, overrides over the file's (as CodePipeline's CloudFormation
// action does). Names the template does not declare are refused here,
// each where it is written, rather than by the server at the template's
// first line.
func (f *inputFlags) input(stderr io.Writer) (*client.StackInput, error) {
	if f.template == "" {
		return nil, errors.New("--template FILE is required: the template to deploy")
	}
	overrides, err := parsePairs("parameter-overrides", f.overrides)
	if err != nil {
		return nil, err
	}
	tags, err := parsePairs("tags", f.tagsKV)
	if err != nil {
		return nil, err
	}
	data, err := readTemplate(f.template)
	if err != nil {
		return nil, err
	}
	t, err := template.Parse(f.template, data)
	if err != nil {
		return nil, templateErrors(err)
	}
	cfg := &template.Config{}
	if f.config != "" {
		raw, err := os.ReadFile(f.config)
		if err != nil {
			return nil, fmt.Errorf("read the configuration file: %w", err)
		}
		if cfg, err = template.ParseConfig(f.config, raw); err != nil {
			return nil, templateErrors(err)
		}
		var errs template.Errors
		for _, k := range sortedKeys(cfg.Parameters) {
			if _, ok := t.Parameters[k]; !ok {
				errs = append(errs, &template.Error{Pos: configParamPos(f.config, raw, k),
					Msg: fmt.Sprintf("Parameters: [%s] do not exist in the template %s; remove it here or declare it in the template%s", k, f.template, declared(t))})
			}
		}
		if len(errs) > 0 {
			return nil, templateErrors(errs)
		}
		if cfg.StackPolicy != nil {
			fmt.Fprintf(stderr, "warning: %s: StackPolicy is not enforced by Slipway; it is ignored\n", f.config)
		}
	}
	var unknown []string
	for _, k := range sortedKeys(overrides) {
		if _, ok := t.Parameters[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("--parameter-overrides: Parameters: [%s] do not exist in the template %s%s", strings.Join(unknown, ", "), f.template, declared(t))
	}
	allTags := map[string]string{}
	maps.Copy(allTags, cfg.Tags)
	maps.Copy(allTags, tags)
	return &client.StackInput{TemplateName: f.template, Template: string(data),
		Parameters: template.MergeParameters(cfg.Parameters, overrides), Tags: allTags}, nil
}

// declared lists a template's parameters for an error about a name it
// does not have.
func declared(t *template.Template) string {
	if len(t.ParameterOrder) == 0 {
		return " (it declares no parameters)"
	}
	return " (it declares " + strings.Join(t.ParameterOrder, ", ") + ")"
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// configParamPos finds where a configuration file names a parameter;
// ParseConfig has already found the file well formed.
func configParamPos(file string, data []byte, key string) template.Pos {
	var doc yaml.Node
	if err := yaml.Load(data, &doc); err != nil || len(doc.Content) == 0 {
		return template.Pos{File: file}
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "Parameters" {
			continue
		}
		params := root.Content[i+1]
		for j := 0; j+1 < len(params.Content); j += 2 {
			if k := params.Content[j]; k.Value == key {
				return template.Pos{File: file, Line: k.Line, Col: k.Column}
			}
		}
	}
	return template.Pos{File: file}
}

func isNotFound(err error) bool {
	var ce *client.Error
	return errors.As(err, &ce) && ce.Status == http.StatusNotFound
}

// operating reports whether a stack status is an operation under way; a
// REVIEW_IN_PROGRESS stack only waits for a change set.
func operating(status string) bool {
	return stack.InProgress(status) && status != stack.ReviewInProgress
}

// eventPrinter prints events as lines that read well as they come.
type eventPrinter struct {
	w      io.Writer
	header bool
}

func (p *eventPrinter) print(e client.StackEvent) {
	line := func(cols ...any) {
		fmt.Fprintln(p.w, strings.TrimRight(fmt.Sprintf("%-19s  %-24s  %-32s  %-44s  %s", cols...), " "))
	}
	if !p.header {
		line("TIME", "LOGICAL_ID", "TYPE", "STATUS", "REASON")
		p.header = true
	}
	line(ago(e.At), e.Logical, e.Type, e.Status, e.Reason)
}

// lastSeq is the seq of a stack's newest event (0 for a stack that does
// not exist), so that following an operation shows only its own events.
func lastSeq(ctx context.Context, c *client.Client, project, name string) (int64, error) {
	var after int64
	for {
		evs, err := c.StackEvents(ctx, project, name, after, 0)
		if isNotFound(err) {
			return after, nil
		}
		if err != nil {
			return 0, err
		}
		if len(evs) == 0 {
			return after, nil
		}
		after = evs[len(evs)-1].Seq
	}
}

// follow polls a stack's events after seq after, handing each to show,
// until its operation ends, and returns the stack then (nil once deleted).
// The status is recorded before the stack's event saying so, so the end
// is when that event has come too (or a few polls later).
func follow(ctx context.Context, c *client.Client, project, name string, after int64, show func(client.StackEvent)) (*client.Stack, error) {
	st, err := followUntilEnd(ctx, c, project, name, after, show)
	if err != nil && ctx.Err() != nil {
		// Interrupted (Ctrl-C): the operation is the server's, not ours.
		return nil, fmt.Errorf("stopped following stack %s; its operation goes on: follow it with 'slipway stack events -f %s'", name, name)
	}
	return st, err
}

func followUntilEnd(ctx context.Context, c *client.Client, project, name string, after int64, show func(client.StackEvent)) (*client.Stack, error) {
	lastStatus, settled := "", 0
	for {
		st, err := c.GetStack(ctx, project, name)
		if isNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		for {
			evs, err := c.StackEvents(ctx, project, name, after, 0)
			if isNotFound(err) {
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
			for _, e := range evs {
				show(e)
				after = e.Seq
				if e.Type == stack.StackType && e.Logical == name {
					lastStatus = e.Status
				}
			}
			if len(evs) == 0 {
				break
			}
		}
		if !operating(st.Status) {
			if lastStatus == st.Status || settled >= 5 {
				return st, nil
			}
			settled++
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(followEvery):
		}
	}
}

// followOperation follows a stack operation started after event seq,
// showing its events unless the output is JSON, and returns the stack at
// its end (DELETE_COMPLETE once it is gone).
func followOperation(cmd *cobra.Command, g *globals, name string, seq int64) (*client.Stack, error) {
	p := &eventPrinter{w: cmd.OutOrStdout()}
	show := p.print
	if g.output == "json" {
		show = func(client.StackEvent) {}
	}
	st, err := follow(cmd.Context(), g.client(), g.proj(), name, seq, show)
	if err != nil {
		return nil, err
	}
	if st == nil {
		st = &client.Stack{Name: name, Status: stack.DeleteComplete, StatusReason: "the stack is gone"}
	}
	return st, nil
}

// outcome ends a followed operation: exit status 0 only when the stack
// reached one of ok.
func outcome(st *client.Stack, ok ...string) error {
	if slices.Contains(ok, st.Status) {
		return nil
	}
	reason := first(st.StatusReason, "see 'slipway stack events "+st.Name+"'")
	return &exitError{code: 1, msg: fmt.Sprintf("stack %s ended %s: %s", st.Name, st.Status, reason)}
}

// printFollowed prints the stack an operation ended with, then its outcome.
func printFollowed(cmd *cobra.Command, g *globals, st *client.Stack, ok ...string) error {
	if err := g.print(cmd.OutOrStdout(), st, func(tw *tabwriter.Writer) {
		fmt.Fprintf(tw, "Stack %s: %s\n", st.Name, st.Status)
	}); err != nil {
		return err
	}
	return outcome(st, ok...)
}

// stackCommand is `slipway stack ...`.
func stackCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "stack", Short: "Stacks: resources made from CloudFormation templates"}
	cmd.AddCommand(stackValidateCommand(g), stackDeployCommand(g), stackPlanCommand(g), stackDescribeCommand(g),
		stackEventsCommand(g), stackOutputsCommand(g), stackResourcesCommand(g), stackListCommand(g),
		stackExportsCommand(g), stackDeleteCommand(g), changeSetCommand(g))
	return cmd
}

func stackValidateCommand(g *globals) *cobra.Command {
	var params []string
	cmd := &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a template here, with no server: every problem at once, as file:line:col",
		Long: "Check a template as the server would, against the resource types Slipway supports, with no\n" +
			"server. Types Slipway does not support are warnings. With --parameters, the values are bound\n" +
			"and checked too (missing ones included). The exit status is 1 when there is a problem.",
		Example: "  slipway stack validate infra.yml\n  slipway stack validate infra.yml --parameters Env=prod Size=2",
		Args:    oneArg("template FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			values, err := parsePairs("parameters", params)
			if err != nil {
				return err
			}
			file := args[0]
			data, err := readTemplate(file)
			if err != nil {
				return err
			}
			t, err := template.Parse(file, data)
			if err != nil {
				return templateErrors(err)
			}
			warnings, err := t.Check(localTypes())
			var errs template.Errors
			if err != nil && !errors.As(err, &errs) {
				return err
			}
			if params != nil {
				if _, err := t.Bind(values); err != nil {
					var bindErrs template.Errors
					if !errors.As(err, &bindErrs) {
						return err
					}
					errs = append(errs, bindErrs...)
				}
			}
			// One list in file order, as Parse gives its own.
			sort.SliceStable(errs, func(i, j int) bool {
				a, b := errs[i].Pos, errs[j].Pos
				return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
			})
			for _, typ := range warnings {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s: Slipway has no provider for resource type %s; a deploy refuses it\n", file, typ)
			}
			if len(errs) > 0 {
				return templateErrors(errs)
			}
			v := &client.Validation{Description: t.Description, Resources: t.ResourceOrder, Warnings: warnings, Parameters: []client.TemplateParameter{}}
			for _, n := range t.ParameterOrder {
				p := t.Parameters[n]
				tp := client.TemplateParameter{Name: n, Type: p.Type, Default: p.Default, NoEcho: p.NoEcho, Description: p.Description}
				if p.NoEcho && p.Default != nil {
					masked := "****"
					tp.Default = &masked
				}
				v.Parameters = append(v.Parameters, tp)
			}
			return g.print(cmd.OutOrStdout(), v, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "Template %s is valid.\n", file)
				if v.Description != "" {
					fmt.Fprintf(tw, "Description:\t%s\n", oneLine(v.Description))
				}
				fmt.Fprintf(tw, "Resources:\t%d (%s)\n", len(v.Resources), strings.Join(v.Resources, ", "))
				if len(v.Parameters) == 0 {
					return
				}
				fmt.Fprintln(tw, "\nPARAMETER\tTYPE\tDEFAULT\tNOECHO\tDESCRIPTION")
				for _, p := range v.Parameters {
					def := "-"
					if p.Default != nil {
						def = *p.Default
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.Type, def, yesNo(p.NoEcho), p.Description)
				}
			})
		},
	}
	cmd.Flags().StringArrayVar(&params, "parameters", nil, "also bind these values KEY=VALUE; several may follow the flag")
	return pairFlags(cmd, "parameters")
}

// oneLine folds a multi-line description (YAML's | and >) into a line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "-"
}

func stackDeployCommand(g *globals) *cobra.Command {
	var in inputFlags
	var noWait bool
	cmd := &cobra.Command{
		Use:   "deploy NAME --template FILE [--config FILE] [--parameter-overrides K=V ...] [--tags K=V ...]",
		Short: "Create or update a stack and follow it; exit status 0 only when it succeeds",
		Long: "Create the stack, or update it to the template. Parameter values come from --parameter-overrides,\n" +
			"then the --config file, then the template's Defaults. The stack's events are shown as they come\n" +
			"until the operation ends (unless --no-wait). The exit status is 0 on CREATE_COMPLETE,\n" +
			"UPDATE_COMPLETE, or when there is nothing to update; 1 otherwise.",
		Example: "  slipway stack deploy app --template infra.yml --parameter-overrides Env=prod Size=2\n" +
			"  slipway stack deploy app --template infra.yml --config prod.json --tags team=web",
		Args: oneArg("stack NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			input, err := in.input(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			c := g.client()
			seq, err := lastSeq(cmd.Context(), c, g.proj(), name)
			if err != nil {
				return err
			}
			st, noUpdates, err := c.DeployStack(cmd.Context(), g.proj(), name, input)
			if err != nil {
				return serverProblems(err)
			}
			if noUpdates || noWait {
				return g.print(cmd.OutOrStdout(), client.DeployResult{Stack: st, NoUpdates: noUpdates}, func(tw *tabwriter.Writer) {
					if noUpdates {
						fmt.Fprintf(tw, "No updates are to be performed. Stack %s is up to date (%s).\n", name, st.Status)
						return
					}
					fmt.Fprintf(tw, "Stack %s: %s\nFollow it with: slipway stack events -f %s\n", name, st.Status, name)
				})
			}
			if st, err = followOperation(cmd, g, name, seq); err != nil {
				return err
			}
			// The same JSON shape whether the deploy was followed or not.
			if err := g.print(cmd.OutOrStdout(), client.DeployResult{Stack: st}, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "Stack %s: %s\n", name, st.Status)
			}); err != nil {
				return err
			}
			return outcome(st, stack.CreateComplete, stack.UpdateComplete)
		},
	}
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "start the operation and return without following it")
	return in.register(cmd)
}

func printChanges(tw *tabwriter.Writer, changes []client.Change) {
	if len(changes) == 0 {
		fmt.Fprintln(tw, "No changes")
		return
	}
	fmt.Fprintln(tw, "ACTION\tLOGICAL_ID\tTYPE\tREPLACEMENT\tDETAILS")
	for _, ch := range changes {
		var details []string
		for _, d := range ch.Details {
			details = append(details, fmt.Sprintf("%s (recreation %s, %s)", d.Name, d.RequiresRecreation, d.Evaluation))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ch.Action, ch.Logical, ch.Type, first(ch.Replacement, "-"), first(strings.Join(details, ", "), "-"))
	}
}

func stackPlanCommand(g *globals) *cobra.Command {
	var in inputFlags
	cmd := &cobra.Command{
		Use:   "plan NAME --template FILE [--config FILE] [--parameter-overrides K=V ...]",
		Short: "Show what deploying the template would change, changing nothing",
		Args:  oneArg("stack NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			input, err := in.input(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			changes, err := g.client().PlanStack(cmd.Context(), g.proj(), args[0], input)
			if err != nil {
				return serverProblems(err)
			}
			return g.print(cmd.OutOrStdout(), changes, func(tw *tabwriter.Writer) { printChanges(tw, changes) })
		},
	}
	return in.register(cmd)
}

func stackDescribeCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "describe NAME", Short: "Show a stack: status, parameters (NoEcho ones masked), outputs, tags", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.client().GetStack(cmd.Context(), g.proj(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), st, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "Name:\t%s\nStatus:\t%s\n", st.Name, st.Status)
				if st.StatusReason != "" {
					fmt.Fprintf(tw, "Reason:\t%s\n", st.StatusReason)
				}
				if st.Description != "" {
					fmt.Fprintf(tw, "Description:\t%s\n", oneLine(st.Description))
				}
				fmt.Fprintf(tw, "Template:\t%s\nCreated:\t%s\nUpdated:\t%s\n", first(st.TemplateName, "-"), ago(st.CreatedAt), ago(st.UpdatedAt))
				for _, p := range st.Parameters {
					fmt.Fprintf(tw, "Parameter:\t%s = %s\n", p.Key, p.Value)
				}
				for _, o := range st.Outputs {
					export := ""
					if o.ExportName != "" {
						export = " (exported as " + o.ExportName + ")"
					}
					fmt.Fprintf(tw, "Output:\t%s = %s%s\n", o.Key, o.Value, export)
				}
				for _, k := range sortedKeys(st.Tags) {
					fmt.Fprintf(tw, "Tag:\t%s = %s\n", k, st.Tags[k])
				}
			})
		},
	}
}

func stackEventsCommand(g *globals) *cobra.Command {
	var followFlag bool
	cmd := &cobra.Command{
		Use: "events NAME", Short: "Show a stack's events, oldest first; with -f follow the operation under way", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			c := g.client()
			var all []client.StackEvent
			p := &eventPrinter{w: cmd.OutOrStdout()}
			show := func(e client.StackEvent) {
				all = append(all, e)
				if g.output != "json" {
					p.print(e)
				}
			}
			var after int64
			for {
				evs, err := c.StackEvents(cmd.Context(), g.proj(), name, after, 0)
				if err != nil {
					return err
				}
				if len(evs) == 0 {
					break
				}
				for _, e := range evs {
					show(e)
				}
				after = evs[len(evs)-1].Seq
			}
			if followFlag {
				// A stack at rest has nothing to follow (its last event is shown).
				st, err := c.GetStack(cmd.Context(), g.proj(), name)
				if err != nil {
					return err
				}
				if !operating(st.Status) {
					followFlag = false
				}
			}
			if followFlag {
				if _, err := follow(cmd.Context(), c, g.proj(), name, after, show); err != nil {
					return err
				}
			}
			if g.output == "json" {
				return g.print(cmd.OutOrStdout(), nonNilEvents(all), nil)
			}
			if len(all) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "No events for stack %s\n", name)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&followFlag, "follow", "f", false, "follow until the operation under way ends")
	return cmd
}

func nonNilEvents(evs []client.StackEvent) []client.StackEvent {
	if evs == nil {
		return []client.StackEvent{}
	}
	return evs
}

func stackOutputsCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "outputs NAME", Short: "Show a stack's outputs", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.client().GetStack(cmd.Context(), g.proj(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), st.Outputs, func(tw *tabwriter.Writer) {
				if len(st.Outputs) == 0 {
					fmt.Fprintf(tw, "Stack %s has no outputs (%s)\n", st.Name, st.Status)
					return
				}
				fmt.Fprintln(tw, "KEY\tVALUE\tEXPORT\tDESCRIPTION")
				for _, o := range st.Outputs {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", o.Key, o.Value, first(o.ExportName, "-"), o.Description)
				}
			})
		},
	}
}

func stackResourcesCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "resources NAME", Short: "Show a stack's resources", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rs, err := g.client().StackResources(cmd.Context(), g.proj(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), rs, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "LOGICAL_ID\tTYPE\tPHYSICAL_ID\tSTATUS\tREASON")
				for _, r := range rs {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Logical, r.Type, first(r.PhysicalID, "-"), r.Status, r.Reason)
				}
			})
		},
	}
}

func stackListCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List stacks", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sts, err := g.client().ListStacks(cmd.Context(), g.proj())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), sts, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tSTATUS\tUPDATED\tDESCRIPTION")
				for _, st := range sts {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", st.Name, st.Status, ago(st.UpdatedAt), oneLine(st.Description))
				}
			})
		},
	}
}

func stackExportsCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "exports", Short: "List exported outputs and the stacks importing them", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			es, err := g.client().ListExports(cmd.Context(), g.proj())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), es, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tVALUE\tSTACK\tIMPORTED BY")
				for _, e := range es {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Name, e.Value, e.StackName, first(strings.Join(e.Importers, ", "), "-"))
				}
			})
		},
	}
}

// isTerminal reports whether f, a reader or a writer, is an interactive
// terminal.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	fi, err := file.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func stackDeleteCommand(g *globals) *cobra.Command {
	var yes, noWait bool
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a stack and the resources it made; exit status 0 only when it is gone",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if !yes {
				if !isTerminal(cmd.InOrStdin()) {
					return fmt.Errorf("refusing to delete stack %s without confirmation: standard input is not a terminal; add --yes", name)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "Delete stack %s (project %s) and every resource it made? [y/N] ", name, g.proj())
				line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if err != nil && !errors.Is(err, io.EOF) {
					return err
				}
				if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
					return &exitError{code: 1, msg: "Not deleted."}
				}
			}
			c := g.client()
			seq, err := lastSeq(cmd.Context(), c, g.proj(), name)
			if err != nil {
				return err
			}
			st, err := c.DeleteStack(cmd.Context(), g.proj(), name)
			if err != nil {
				return err
			}
			if noWait {
				return g.print(cmd.OutOrStdout(), st, func(tw *tabwriter.Writer) {
					fmt.Fprintf(tw, "Stack %s: %s\nFollow it with: slipway stack events -f %s\n", name, st.Status, name)
				})
			}
			if st, err = followOperation(cmd, g, name, seq); err != nil {
				return err
			}
			return printFollowed(cmd, g, st, stack.DeleteComplete)
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "delete without asking")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "start the deletion and return without following it")
	return cmd
}

func printChangeSet(g *globals, cmd *cobra.Command, cs *client.ChangeSet) error {
	return g.print(cmd.OutOrStdout(), cs, func(tw *tabwriter.Writer) {
		fmt.Fprintf(tw, "Change set:\t%s (stack %s, %s)\nStatus:\t%s\nExecution:\t%s\n", cs.Name, cs.StackName, cs.Type, cs.Status, cs.ExecutionStatus)
		if cs.StatusReason != "" {
			fmt.Fprintf(tw, "Reason:\t%s\n", cs.StatusReason)
		}
		fmt.Fprintf(tw, "Created:\t%s\n\n", ago(cs.CreatedAt))
		printChanges(tw, cs.Changes)
	})
}

// changeSetCommand is `slipway stack change-set ...`.
func changeSetCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "change-set", Short: "Change sets: plans kept for review, then executed or deleted"}
	var in inputFlags
	var csName string
	create := &cobra.Command{
		Use:   "create NAME --change-set-name CS --template FILE [--config FILE] [--parameter-overrides K=V ...]",
		Short: "Plan a template against a stack and keep the plan; a new stack waits in REVIEW_IN_PROGRESS",
		Args:  oneArg("stack NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if csName == "" {
				return errors.New("--change-set-name CS is required: the name to keep the plan under")
			}
			input, err := in.input(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			cs, err := g.client().CreateChangeSet(cmd.Context(), g.proj(), args[0], csName, input)
			if err != nil {
				return serverProblems(err)
			}
			return printChangeSet(g, cmd, cs)
		},
	}
	create.Flags().StringVar(&csName, "change-set-name", "", "the change set's name (required)")
	in.register(create)
	describe := &cobra.Command{
		Use: "describe NAME CS", Short: "Show a change set and its changes", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, err := g.client().GetChangeSet(cmd.Context(), g.proj(), args[0], args[1])
			if err != nil {
				return err
			}
			return printChangeSet(g, cmd, cs)
		},
	}
	list := &cobra.Command{
		Use: "list NAME", Short: "List a stack's change sets", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sets, err := g.client().ListChangeSets(cmd.Context(), g.proj(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), sets, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tTYPE\tSTATUS\tEXECUTION\tCHANGES\tCREATED\tREASON")
				for _, cs := range sets {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", cs.Name, cs.Type, cs.Status, cs.ExecutionStatus, len(cs.Changes), ago(cs.CreatedAt), cs.StatusReason)
				}
			})
		},
	}
	var noWait bool
	execute := &cobra.Command{
		Use: "execute NAME CS", Short: "Apply a change set and follow the stack; exit status 0 only when it succeeds", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			c := g.client()
			seq, err := lastSeq(cmd.Context(), c, g.proj(), name)
			if err != nil {
				return err
			}
			st, err := c.ExecuteChangeSet(cmd.Context(), g.proj(), name, args[1])
			if err != nil {
				return err
			}
			if noWait {
				return g.print(cmd.OutOrStdout(), st, func(tw *tabwriter.Writer) {
					fmt.Fprintf(tw, "Stack %s: %s\nFollow it with: slipway stack events -f %s\n", name, st.Status, name)
				})
			}
			if st, err = followOperation(cmd, g, name, seq); err != nil {
				return err
			}
			return printFollowed(cmd, g, st, stack.CreateComplete, stack.UpdateComplete)
		},
	}
	execute.Flags().BoolVar(&noWait, "no-wait", false, "start the operation and return without following it")
	del := &cobra.Command{
		Use: "delete NAME CS", Short: "Delete a change set", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.client().DeleteChangeSet(cmd.Context(), g.proj(), args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted change set %s of stack %s\n", args[1], args[0])
			return nil
		},
	}
	cmd.AddCommand(create, describe, list, execute, del)
	return cmd
}

// signalCommand is `slipway signal`, Slipway's cfn-signal.
func signalCommand(g *globals) *cobra.Command {
	var stackFlag, resource, status, uniqueID string
	cmd := &cobra.Command{
		Use:     "signal --stack S --resource R --status SUCCESS|FAILURE [--unique-id ID]",
		Short:   "Signal a stack resource waiting on its CreationPolicy (Slipway's cfn-signal)",
		Example: "  slipway signal --stack app --resource Fleet --status SUCCESS --unique-id host-1",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if stackFlag == "" || resource == "" || status == "" {
				return errors.New("--stack, --resource and --status are required: the stack, the logical ID of the resource waiting for the signal, and SUCCESS or FAILURE")
			}
			status = strings.ToUpper(status)
			if status != "SUCCESS" && status != "FAILURE" {
				return fmt.Errorf("--status %q: use SUCCESS or FAILURE", status)
			}
			// Inside a local instance, with no token of a user, the
			// instance's own credential signals.
			if ic, _, ok, err := instanceClient(); err != nil {
				return err
			} else if ok && first(g.token, os.Getenv("SLIPWAY_TOKEN")) == "" {
				if err := ic.InstanceSignal(cmd.Context(), stackFlag, resource, status, uniqueID); err != nil {
					return err
				}
			} else if err := g.client().SignalResource(cmd.Context(), g.proj(), stackFlag, resource, status, uniqueID); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Sent %s to %s of stack %s\n", status, resource, stackFlag)
			return nil
		},
	}
	cmd.Flags().StringVar(&stackFlag, "stack", "", "the stack (required)")
	cmd.Flags().StringVar(&resource, "resource", "", "the logical ID of the waiting resource (required)")
	cmd.Flags().StringVar(&status, "status", "", "SUCCESS or FAILURE (required)")
	cmd.Flags().StringVar(&uniqueID, "unique-id", "", "who signals (an instance or host name); a FAILURE names it")
	return cmd
}
