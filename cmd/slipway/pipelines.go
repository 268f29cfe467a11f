package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/client"
	"github.com/slipway/slipway/pipeline"
)

// The execution statuses and trigger types the CLI words differently, as
// the server (and CodePipeline) spells them.
const (
	executionInProgress = "InProgress"
	executionFailed     = "Failed"
	triggerPush         = "CloudWatchEvent"
	triggerManual       = "StartPipelineExecution"
	triggerCreate       = "CreatePipeline"
	triggerUpdate       = "UpdatePipeline"
)

// pipelineCommand is `slipway pipeline ...`.
func pipelineCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "pipeline", Short: "Pipelines: stages of source, build, approval and deploy actions run on every push"}
	cmd.AddCommand(pipelineCreateCommand(g), pipelineListCommand(g), pipelineGetCommand(g), pipelineDeleteCommand(g),
		pipelineStartCommand(g), pipelineExecutionsCommand(g), pipelineExecutionCommand(g),
		pipelineRetryCommand(g), pipelineStopCommand(g), transitionCommand(g, false), transitionCommand(g, true))
	return cmd
}

// slipwayVerb is how hints show verbs: with -p when the project is not the
// default one, so that a hint pasted as it is acts on the same project.
func slipwayVerb(g *globals) string {
	if g.proj() != "default" {
		return "slipway -p " + g.proj()
	}
	return "slipway"
}

// readDeclaration reads and checks a declaration file here, so that its
// problems show as file:line:col lines of the user's file, every one at
// once, before anything is sent.
func readDeclaration(file string) (*pipeline.Declaration, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read the declaration: %w", err)
	}
	d, err := pipeline.Parse(file, data)
	var errs pipeline.Errors
	if errors.As(err, &errs) {
		return nil, &exitError{code: 1, msg: errs.Error()}
	}
	return d, err
}

func pipelineCreateCommand(g *globals) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "create --file FILE",
		Short: "Create a pipeline from a declaration file (YAML or JSON, the properties of AWS::CodePipeline::Pipeline)",
		Long: "Create a pipeline from a declaration file: the Properties of an AWS::CodePipeline::Pipeline\n" +
			"resource (or the AWS CLI's create-pipeline input), YAML or JSON. The file is checked here first:\n" +
			"every problem is shown at once as file:line:col. A push to the branch a CodeCommit source\n" +
			"action watches starts an execution.",
		Example: "  slipway pipeline create --file pipeline.yml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return errors.New("--file FILE is required: the pipeline declaration")
			}
			d, err := readDeclaration(file)
			if err != nil {
				return err
			}
			body, err := json.Marshal(d)
			if err != nil {
				return err
			}
			pl, err := g.client().CreatePipeline(cmd.Context(), g.proj(), body)
			if err != nil {
				return serverProblems(err)
			}
			return g.print(cmd.OutOrStdout(), pl, func(tw *tabwriter.Writer) {
				stages := make([]string, len(d.Stages))
				for i, st := range d.Stages {
					stages[i] = st.Name
				}
				fmt.Fprintf(tw, "Created pipeline %s in project %s: %s\n", pl.Name, g.proj(), strings.Join(stages, " → "))
				for _, w := range watchedBranches(d) {
					fmt.Fprintf(tw, "A push to %s starts it.\n", w)
				}
				fmt.Fprintf(tw, "Start it by hand with: slipway pipeline start %s\n", pl.Name)
			})
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "the declaration file, YAML or JSON (required)")
	return cmd
}

// watchedBranches names the branches whose pushes start the pipeline: those
// of its CodeCommit source actions, as "main of REPO".
func watchedBranches(d *pipeline.Declaration) []string {
	var out []string
	if len(d.Stages) == 0 {
		return nil
	}
	for _, a := range d.Stages[0].Actions {
		if a.ActionTypeID.Provider == pipeline.CodeCommit {
			out = append(out, a.Configuration["BranchName"]+" of "+a.Configuration["RepositoryName"])
		}
	}
	return out
}

func pipelineListCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List pipelines", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pls, err := g.client().ListPipelines(cmd.Context(), g.proj())
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), pls, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tVERSION\tSTAGES\tUPDATED")
				for _, pl := range pls {
					stages := "-"
					if d, err := declarationOf(&pl); err == nil {
						names := make([]string, len(d.Stages))
						for i, st := range d.Stages {
							names[i] = st.Name
						}
						stages = strings.Join(names, " → ")
					}
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", pl.Name, pl.Version, stages, ago(pl.UpdatedAt))
				}
			})
		},
	}
}

// declarationOf decodes the declaration the server sends, which is in the
// declaration's own JSON form.
func declarationOf(pl *client.Pipeline) (*pipeline.Declaration, error) {
	var d pipeline.Declaration
	if err := json.Unmarshal(pl.Declaration, &d); err != nil {
		return nil, fmt.Errorf("pipeline %s: the server sent a declaration this slipway cannot read: %w", pl.Name, err)
	}
	return &d, nil
}

func pipelineGetCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "get NAME", Short: "Show a pipeline: its stages and actions", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pl, err := g.client().GetPipeline(cmd.Context(), g.proj(), args[0])
			if err != nil {
				return err
			}
			d, err := declarationOf(pl)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), pl, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "Name:\t%s\nVersion:\t%d\nCreated:\t%s\nUpdated:\t%s\n", pl.Name, pl.Version, ago(pl.CreatedAt), ago(pl.UpdatedAt))
				for _, st := range sortedKeys(pl.Disabled) {
					fmt.Fprintf(tw, "Disabled:\tthe transition into %s: %s (%s pipeline enable-transition %s %s)\n",
						st, first(pl.Disabled[st], "no reason given"), slipwayVerb(g), pl.Name, st)
				}
				fmt.Fprintln(tw)
				fmt.Fprintln(tw, "STAGE\tACTION\tPROVIDER\tRUN ORDER\tIN\tOUT\tCONFIGURATION")
				for _, st := range d.Stages {
					for _, a := range st.Actions {
						order := a.RunOrder
						if order == 0 {
							order = 1
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", st.Name, a.Name, a.ActionTypeID.Provider, order,
							artifactNames(a.InputArtifacts), artifactNames(a.OutputArtifacts), configurationText(a.Configuration))
					}
				}
			})
		},
	}
}

func artifactNames(as []pipeline.Artifact) string {
	names := make([]string, len(as))
	for i, a := range as {
		names[i] = a.Name
	}
	return first(strings.Join(names, ", "), "-")
}

// configurationText shows an action's configuration on one line, keys in
// order.
func configurationText(c map[string]string) string {
	var parts []string
	for _, k := range sortedKeys(c) {
		parts = append(parts, k+"="+oneLine(c[k]))
	}
	return first(strings.Join(parts, " "), "-")
}

// confirm asks on a terminal before something is destroyed; elsewhere it
// refuses, since nobody is there to answer.
func confirm(cmd *cobra.Command, what, question string) error {
	if !isTerminal(cmd.InOrStdin()) {
		return fmt.Errorf("refusing to delete %s without confirmation: standard input is not a terminal; add --yes", what)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "%s [y/N] ", question)
	line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
		return &exitError{code: 1, msg: "Not deleted."}
	}
	return nil
}

func pipelineDeleteCommand(g *globals) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use: "delete NAME", Short: "Delete a pipeline and its execution history", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if !yes {
				if err := confirm(cmd, "pipeline "+name, fmt.Sprintf("Delete pipeline %s (project %s) and its execution history?", name, g.proj())); err != nil {
					return err
				}
			}
			if err := g.client().DeletePipeline(cmd.Context(), g.proj(), name); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted pipeline %s\n", name)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "delete without asking")
	return cmd
}

func pipelineStartCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "start NAME", Short: "Start an execution of a pipeline and print its ID", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.client().StartPipeline(cmd.Context(), g.proj(), args[0])
			if err != nil {
				return err
			}
			if g.output == "json" {
				return g.print(cmd.OutOrStdout(), e, nil)
			}
			fmt.Fprintln(cmd.OutOrStdout(), e.ID)
			return nil
		},
	}
}

// triggerText says what started an execution.
func triggerText(t client.PipelineTrigger) string {
	switch t.Type {
	case triggerPush:
		return fmt.Sprintf("push to %s of %s by %s (commit %s)", strings.TrimPrefix(t.Ref, "refs/heads/"), t.Repository, t.By, short(t.Commit))
	case triggerManual:
		return "started by " + t.By
	case triggerCreate:
		return "created by " + t.By
	case triggerUpdate:
		return "updated by " + t.By
	}
	return t.Type + " by " + t.By
}

// took is how long something took, or has taken so far.
func took(start, end time.Time) string {
	if start.IsZero() {
		return "-"
	}
	if end.IsZero() {
		end = time.Now()
	}
	d := end.Sub(start)
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// stageText is the stage an execution is in, or waits to enter.
func stageText(e *client.PipelineExecution) string {
	if e.Waiting {
		return e.Stage + " (waiting to enter)"
	}
	return first(e.Stage, "-")
}

func pipelineExecutionsCommand(g *globals) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use: "executions NAME", Short: "List a pipeline's executions, newest first", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			es, err := g.client().ListPipelineExecutions(cmd.Context(), g.proj(), args[0], limit)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), es, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "ID\tSTATUS\tSTAGE\tTRIGGER\tSTARTED\tTOOK")
				for i := range es {
					e := &es[i]
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Status, stageText(e), triggerText(e.Trigger), ago(e.StartedAt), took(e.StartedAt, e.EndedAt))
				}
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "at most this many executions")
	return cmd
}

// actionSummary is what an action did, or what it waits for and the verb
// that moves it on; a build action names the verb that shows its log.
// slipway is how verbs are shown (see slipwayVerb).
func actionSummary(slipway string, e *client.PipelineExecution, a *client.ActionExecution) string {
	if a.Status == executionInProgress && a.Provider == pipeline.Manual {
		return fmt.Sprintf("waiting for approval: %s approve %s %s %s --execution %s (or %s reject ...)",
			slipway, e.Pipeline, a.Stage, a.Action, e.ID, slipway)
	}
	text := a.Summary
	switch {
	case a.Decision != nil:
		// A rejection's error repeats the decision; the comment is news.
		if a.Decision.Comment != "" {
			text += fmt.Sprintf(": %q", a.Decision.Comment)
		}
	case a.Error != "":
		text = strings.TrimSpace(text + " " + oneLine(a.Error))
	}
	build := a.Provider == pipeline.CodeBuild && a.ExternalID != ""
	if text == "" && build {
		text = "build " + a.ExternalID
	}
	if build && !strings.Contains(text, "slipway logs") {
		follow := ""
		if a.Status == executionInProgress {
			follow = "-f "
		}
		text += " (" + slipway + " logs " + follow + a.ExternalID + ")"
	}
	return first(text, "-")
}

func pipelineExecutionCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "execution ID",
		Short: "Show an execution: per stage and action the status, timings and outcome; the artifacts and revisions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := g.client()
			e, err := c.GetPipelineExecution(cmd.Context(), g.proj(), args[0])
			if err != nil {
				return err
			}
			if g.output == "json" {
				return g.print(cmd.OutOrStdout(), e, nil)
			}
			// An execution waiting in front of a stage may wait for a
			// disabled transition: the pipeline says so, and why.
			disabled := ""
			if e.Waiting {
				if pl, err := c.GetPipeline(cmd.Context(), g.proj(), e.Pipeline); err == nil {
					if reason, ok := pl.Disabled[e.Stage]; ok {
						disabled = first(reason, "no reason given")
					}
				}
			}
			return g.print(cmd.OutOrStdout(), e, func(tw *tabwriter.Writer) {
				printExecution(tw, slipwayVerb(g), e, disabled)
			})
		},
	}
}

// printExecution shows an execution; slipway is how verbs are shown (see
// slipwayVerb). disabled, when not empty, is why the transition into the
// stage the execution waits for is disabled.
func printExecution(tw *tabwriter.Writer, slipway string, e *client.PipelineExecution, disabled string) {
	fmt.Fprintf(tw, "Execution:\t%s\nPipeline:\t%s (version %d)\nStatus:\t%s\n", e.ID, e.Pipeline, e.Version, e.Status)
	if e.EndedAt.IsZero() {
		fmt.Fprintf(tw, "Stage:\t%s\n", stageText(e))
	}
	if disabled != "" {
		fmt.Fprintf(tw, "Transition:\tdisabled: %s (%s pipeline enable-transition %s %s)\n", oneLine(disabled), slipway, e.Pipeline, e.Stage)
	}
	if e.Reason != "" {
		fmt.Fprintf(tw, "Reason:\t%s\n", oneLine(e.Reason))
	}
	if e.Status == executionFailed && e.Stage != "" {
		fmt.Fprintf(tw, "Retry:\t%s pipeline retry %s --stage %s\n", slipway, e.ID, e.Stage)
	}
	fmt.Fprintf(tw, "Trigger:\t%s\nStarted:\t%s\n", triggerText(e.Trigger), ago(e.StartedAt))
	if !e.EndedAt.IsZero() {
		fmt.Fprintf(tw, "Ended:\t%s (took %s)\n", ago(e.EndedAt), took(e.StartedAt, e.EndedAt))
	}
	for _, r := range e.Revisions {
		fmt.Fprintf(tw, "Revision:\tcommit %s on %s of %s (action %s)\n", r.Commit, r.Branch, r.Repository, r.Action)
	}
	names := make([]string, 0, len(e.Artifacts))
	for n := range e.Artifacts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		a := e.Artifacts[n]
		fmt.Fprintf(tw, "Artifact:\t%s\t%s\t%d bytes\n", n, a.Digest, a.Size)
	}
	fmt.Fprintln(tw)
	if len(e.Actions) == 0 {
		fmt.Fprintln(tw, "No action has started yet.")
		return
	}
	fmt.Fprintln(tw, "STAGE\tACTION\tSTATUS\tSTARTED\tTOOK\tSUMMARY")
	for i := range e.Actions {
		a := &e.Actions[i]
		name := a.Action
		if a.Attempt > 1 {
			name = fmt.Sprintf("%s (attempt %d)", a.Action, a.Attempt)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.Stage, name, a.Status, ago(a.StartedAt), took(a.StartedAt, a.EndedAt),
			actionSummary(slipway, e, a))
	}
}

func pipelineRetryCommand(g *globals) *cobra.Command {
	var stage string
	var all bool
	cmd := &cobra.Command{
		Use:   "retry EXECUTION-ID --stage STAGE [--all]",
		Short: "Run the failed stage of an execution again: its failed actions, or with --all all of them",
		Long: "Run the failed stage of an execution again, on the same execution with the same input\n" +
			"artifacts (RetryStageExecution): its failed actions, or with --all all of them. The execution\n" +
			"then goes on from that stage. An execution of a pipeline changed since it started cannot be\n" +
			"retried: start a new one.",
		Example: "  slipway pipeline retry 01J9Z8K3Q4 --stage Build",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if stage == "" {
				return errors.New("--stage STAGE is required: the stage the execution failed at")
			}
			mode, which := client.RetryFailedActions, "its failed actions run"
			if all {
				mode, which = client.RetryAllActions, "all its actions run"
			}
			e, err := g.client().RetryStage(cmd.Context(), g.proj(), args[0], stage, mode)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), e, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "Retrying stage %s of execution %s (pipeline %s): %s again.\n", stage, e.ID, e.Pipeline, which)
				fmt.Fprintf(tw, "Follow it with: %s pipeline execution %s\n", slipwayVerb(g), e.ID)
			})
		},
	}
	cmd.Flags().StringVar(&stage, "stage", "", "the stage the execution failed at (required)")
	cmd.Flags().BoolVar(&all, "all", false, "run all the stage's actions again, not only the failed ones")
	return cmd
}

func pipelineStopCommand(g *globals) *cobra.Command {
	var abandon bool
	var reason string
	cmd := &cobra.Command{
		Use:   "stop EXECUTION-ID [--abandon] [--reason R]",
		Short: "Stop an execution: its running actions finish (or with --abandon are abandoned) and nothing new starts",
		Long: "Stop an execution (StopPipelineExecution): its running actions finish and nothing new\n" +
			"starts; with --abandon they are abandoned at once. A manual approval it waits at is\n" +
			"abandoned either way. The execution ends Stopped, its reason naming who stopped it.",
		Example: "  slipway pipeline stop 01J9Z8K3Q4 --abandon --reason \"wrong commit\"",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.client().StopPipelineExecution(cmd.Context(), g.proj(), args[0], abandon, reason)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), e, func(tw *tabwriter.Writer) {
				what := "its running actions finish, nothing new starts"
				if abandon {
					what = "its running actions are abandoned"
				}
				fmt.Fprintf(tw, "Stopping execution %s (pipeline %s): %s; it then ends Stopped.\n", e.ID, e.Pipeline, what)
			})
		},
	}
	cmd.Flags().BoolVar(&abandon, "abandon", false, "abandon running actions rather than let them finish")
	cmd.Flags().StringVar(&reason, "reason", "", "why (at most 200 characters); kept with the execution")
	return cmd
}

// transitionCommand is `slipway pipeline enable-transition` (enable) or
// `slipway pipeline disable-transition`.
func transitionCommand(g *globals, enable bool) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "enable-transition PIPELINE STAGE",
		Short: "Enable the transition into a stage: the execution waiting in front of it goes in",
		Args:  cobra.ExactArgs(2),
	}
	if !enable {
		cmd.Use = "disable-transition PIPELINE STAGE --reason R"
		cmd.Short = "Disable the transition into a stage: executions wait in front of it until it is enabled"
		cmd.Example = "  slipway pipeline disable-transition release Deploy --reason \"release freeze\""
		cmd.Flags().StringVar(&reason, "reason", "", "why (at most 300 characters; required); shown with the pipeline")
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		name, stage := args[0], args[1]
		c := g.client()
		var err error
		if enable {
			err = c.EnableStageTransition(cmd.Context(), g.proj(), name, stage)
		} else {
			if reason == "" {
				return errors.New("--reason R is required: say why the transition is disabled; it shows with the pipeline")
			}
			err = c.DisableStageTransition(cmd.Context(), g.proj(), name, stage, reason)
		}
		if err != nil {
			return err
		}
		// The server answers nothing; JSON output is the pipeline as the
		// change left it, its disabled_transitions included.
		if g.output == "json" {
			pl, err := c.GetPipeline(cmd.Context(), g.proj(), name)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), pl, nil)
		}
		if enable {
			fmt.Fprintf(cmd.OutOrStdout(), "Enabled the transition into %s of pipeline %s: executions go in.\n", stage, name)
			return nil
		}
		fmt.Fprintf(cmd.OutOrStdout(), "Disabled the transition into %s of pipeline %s: executions wait in front of it.\nEnable it with: %s pipeline enable-transition %s %s\n",
			stage, name, slipwayVerb(g), name, stage)
		return nil
	}
	return cmd
}

// decisionCommand is `slipway approve` (approve) or `slipway reject`.
func decisionCommand(g *globals, approve bool) *cobra.Command {
	verb, done, next := "approve", "Approved", "the execution goes on"
	if !approve {
		verb, done, next = "reject", "Rejected", "the execution ends Failed"
	}
	var comment, execID string
	cmd := &cobra.Command{
		Use:   verb + " PIPELINE STAGE ACTION [--comment C] [--execution ID]",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " the manual approval a pipeline execution waits at (needs the approve role)",
		Long: strings.ToUpper(verb[:1]) + verb[1:] + " the manual approval a pipeline execution waits at. It needs the approve\n" +
			"role on the pipeline or its project (admin includes it); write alone is not enough.",
		Example: fmt.Sprintf("  slipway %s release Approve Approve --comment \"checked on staging\"", verb),
		Args:    cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := g.client().DecideApproval(cmd.Context(), g.proj(), args[0], &client.ApprovalDecision{
				Stage: args[1], Action: args[2], ExecutionID: execID, Approved: approve, Comment: comment})
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), a, func(tw *tabwriter.Writer) {
				by := ""
				if a.Decision != nil {
					by = " as " + a.Decision.By
				}
				which := ""
				if execID != "" {
					which = " (execution " + execID + ")"
				}
				fmt.Fprintf(tw, "%s %s/%s of pipeline %s%s%s: %s\n", done, a.Stage, a.Action, args[0], which, by, next)
			})
		},
	}
	cmd.Flags().StringVar(&comment, "comment", "", "why (at most 512 characters); kept with the decision")
	cmd.Flags().StringVar(&execID, "execution", "", "the execution to decide, when several wait at the approval")
	return cmd
}
