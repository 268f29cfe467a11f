package pipeline

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"unicode/utf8"
)

// Validate checks every rule of a declaration that ties values together
// or bounds them: names and their uniqueness, the stage layout, RunOrder,
// action types, artifact counts and provider configurations, the order in
// which artifacts and variables are produced and used, transitions, the V2
// features and trigger filters. Parse and FromProperties run the same
// checks and place each problem in their input; call Validate after
// building or changing a declaration in Go. It returns nil or an Errors
// value with every problem, each naming its property path.
func (d *Declaration) Validate() error {
	if errs := d.validate(nil); len(errs) > 0 {
		return errs.sorted()
	}
	return nil
}

// validator collects the problems of one declaration.
type validator struct {
	d    *Declaration
	src  *source
	errs Errors
	// the actions in pipeline order, with what later checks need of them.
	actions []*actionInfo
	// outputs and namespaces map a name to the action declaring it; the
	// sorted names are for suggestions.
	outputs        map[string]*actionInfo
	namespaces     map[string]*actionInfo
	outputNames    []string
	namespaceNames []string
	// variableSet and regions are the pipeline variables and the regions
	// of ArtifactStores.
	variableSet map[string]bool
	regions     map[string]bool
	spell       *speller
}

// actionInfo is an action with its place in the pipeline.
type actionInfo struct {
	*Action
	stage int // index of its stage
	path  string
	where string // "action Build of stage Build"
	// provider is the known action type, nil when the type is unknown or
	// wrong (reported once, and no provider check follows).
	provider *provider
}

// before reports whether a runs before b: in an earlier stage, or in the
// same stage with a lower RunOrder.
func (a *actionInfo) before(b *actionInfo) bool {
	return a.stage < b.stage || a.stage == b.stage && a.order() < b.order()
}

// validate runs the checks; src, nil for a declaration built in Go, places
// the problems and holds what decoding already reported.
func (d *Declaration) validate(src *source) Errors {
	v := &validator{d: d, src: src, outputs: map[string]*actionInfo{}, namespaces: map[string]*actionInfo{},
		variableSet: map[string]bool{}, regions: map[string]bool{}, spell: newSpeller()}
	if src != nil {
		v.spell = src.spell
	}
	v.pipeline()
	v.stages()
	for _, a := range v.actions {
		v.action(a)
	}
	// Outputs and namespaces are all known now, whatever the order of
	// declaration, so inputs and references can say who produces what.
	v.outputNames = slices.Sorted(maps.Keys(v.outputs))
	v.namespaceNames = slices.Sorted(maps.Keys(v.namespaces))
	for _, a := range v.actions {
		v.inputs(a)
		if producer := v.outputs[a.Namespace]; producer != nil && v.namespaces[a.Namespace] == a {
			v.report(join(a.path, "Namespace"), false, "the Namespace %s of %s is also the name of an output artifact of %s; namespaces and artifact names must differ, so rename it (e.g. %sVariables)",
				a.Namespace, a.where, producer.where, a.Namespace)
		}
		v.configuration(a)
	}
	v.transitions()
	v.triggers()
	return v.errs
}

// report records a problem of path at its value (or at its key when atKey),
// unless decoding already reported something there.
func (v *validator) report(path string, atKey bool, format string, args ...any) {
	if v.src.isSettled(path) {
		return
	}
	file := ""
	if v.src != nil {
		file = v.src.file
	}
	v.errs = append(v.errs, &Error{File: file, Pos: v.src.place(path, atKey), Path: path, Msg: oneLine(fmt.Sprintf(format, args...))})
}

func (v *validator) pipeline() {
	d := v.d
	if d.Name != "" {
		if p := nameProblem(d.Name, nameRune, nameChars, "pipeline names", maxNameLen); p != "" {
			v.report("Name", false, "the pipeline name %s %s", quoteValue(d.Name), p)
		}
	}
	if d.RoleARN != "" && !roleARN.MatchString(d.RoleARN) {
		v.report("RoleArn", false, "RoleArn %s is not an IAM role ARN; write arn:aws:iam::<account>:role/<name>", quoteValue(d.RoleARN))
	}
	switch {
	case d.ArtifactStore != nil && len(d.ArtifactStores) > 0:
		v.report("ArtifactStores", true, "ArtifactStore and ArtifactStores cannot both be given; keep ArtifactStore, or ArtifactStores for cross-region actions")
	case d.ArtifactStore == nil && len(d.ArtifactStores) == 0:
		v.report("ArtifactStore", true, "missing ArtifactStore; add ArtifactStore: with Type: S3 and Location: <bucket>")
	case d.ArtifactStore != nil:
		v.artifactStore("ArtifactStore", "ArtifactStore", d.ArtifactStore)
	}
	for i, m := range d.ArtifactStores {
		p := index("ArtifactStores", i)
		switch {
		case m.Region == "":
			v.report(join(p, "Region"), false, "ArtifactStores item %d has no Region; add Region:", i+1)
		case v.regions[m.Region]:
			v.report(join(p, "Region"), false, "ArtifactStores has two stores for region %s; keep one", show(m.Region))
		}
		v.regions[m.Region] = true
		v.artifactStore(join(p, "ArtifactStore"), "the artifact store of region "+show(m.Region), &m.ArtifactStore)
	}

	switch d.PipelineType {
	case V1, V2, "":
	default:
		v.report("PipelineType", false, "unknown PipelineType %s; write V1 or V2", quoteValue(string(d.PipelineType)))
	}
	needV2 := func(path, what string) {
		if d.PipelineType == V1 || d.PipelineType == "" {
			v.report(path, true, "%s needs a V2 pipeline; add PipelineType: V2 to the pipeline", what)
		}
	}
	switch d.ExecutionMode {
	case Superseded, "":
	case Queued, Parallel:
		needV2("ExecutionMode", "ExecutionMode "+string(d.ExecutionMode))
	default:
		v.report("ExecutionMode", false, "unknown ExecutionMode %s; %s",
			quoteValue(string(d.ExecutionMode)), v.oneOf(string(d.ExecutionMode), []string{string(Superseded), string(Queued), string(Parallel)}))
	}
	if len(d.Variables) > 0 {
		needV2("Variables", "Variables")
	}
	if len(d.Triggers) > 0 {
		needV2("Triggers", "Triggers")
	}
	v.variables()
	v.tags()
}

func (v *validator) artifactStore(p, where string, s *ArtifactStore) {
	switch s.Type {
	case "S3":
	case "":
		v.report(join(p, "Type"), false, "%s has no Type; write Type: S3", where)
	default:
		v.report(join(p, "Type"), false, "%s has Type %s; the only type is S3", where, quoteValue(s.Type))
	}
	switch {
	case s.Location == "":
		v.report(join(p, "Location"), false, "%s has no Location; write Location: <bucket name>", where)
	case !bucketName.MatchString(s.Location):
		v.report(join(p, "Location"), false, "the Location of %s, %s, is not a bucket name (3 to 63 letters, digits, . and -)", where, quoteValue(s.Location))
	}
	if k := s.EncryptionKey; k != nil {
		if k.ID == "" {
			v.report(join(p, "EncryptionKey.Id"), false, "the EncryptionKey of %s has no Id; name the KMS key", where)
		}
		if k.Type != "KMS" {
			v.report(join(p, "EncryptionKey.Type"), false, "the EncryptionKey of %s must have Type: KMS, found %s", where, quoteValue(k.Type))
		}
	}
}

func (v *validator) variables() {
	if len(v.d.Variables) > maxVariables {
		v.report("Variables", true, "the pipeline declares %d variables; the limit is %d", len(v.d.Variables), maxVariables)
	}
	for i, x := range v.d.Variables {
		p := index("Variables", i)
		if msg := nameProblem(x.Name, namespaceRune, namespaceChars, "variable names", maxVariableName); msg != "" {
			v.report(join(p, "Name"), false, "the name of variable %d, %s, %s", i+1, quoteValue(x.Name), msg)
		} else if v.variableSet[x.Name] {
			v.report(join(p, "Name"), false, "variable %s is declared twice; keep one", x.Name)
		}
		v.variableSet[x.Name] = true
		if n := utf8.RuneCountInString(x.DefaultValue); n > maxVariableValue {
			v.report(join(p, "DefaultValue"), false, "the DefaultValue of variable %s is %d characters long; the limit is %d", show(x.Name), n, maxVariableValue)
		}
		if n := utf8.RuneCountInString(x.Description); n > maxVariableDesc {
			v.report(join(p, "Description"), false, "the Description of variable %s is %d characters long; the limit is %d", show(x.Name), n, maxVariableDesc)
		}
	}
}

func (v *validator) tags() {
	if len(v.d.Tags) > maxTags {
		v.report("Tags", true, "the pipeline has %d tags; the limit is %d", len(v.d.Tags), maxTags)
	}
	seen := map[string]bool{}
	for i, t := range v.d.Tags {
		p := index("Tags", i)
		switch n := utf8.RuneCountInString(t.Key); {
		case n == 0:
			v.report(join(p, "Key"), false, "tag %d has no Key", i+1)
		case n > 128:
			v.report(join(p, "Key"), false, "the Key of tag %d is %d characters long; the limit is 128", i+1, n)
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			v.report(join(p, "Key"), false, "tag key %s begins with aws:, which is reserved; rename it", quoteValue(t.Key))
		case seen[t.Key]:
			v.report(join(p, "Key"), false, "tag %s is given twice; keep one", quoteValue(t.Key))
		}
		seen[t.Key] = true
		if n := utf8.RuneCountInString(t.Value); n > 256 {
			v.report(join(p, "Value"), false, "the Value of tag %s is %d characters long; the limit is 256", quoteValue(t.Key), n)
		}
	}
}

// stages checks the layout and collects the actions in pipeline order.
func (v *validator) stages() {
	d := v.d
	switch n := len(d.Stages); {
	case n < minStages:
		v.report("Stages", true, "the pipeline has %s; it needs at least two: a first stage of Source actions and a later stage that uses what they fetch",
			map[int]string{0: "no stages", 1: "only one stage"}[n])
	case n > maxStages:
		v.report("Stages", true, "the pipeline has %d stages; the limit is %d", n, maxStages)
	}
	stageAt := map[string]int{}
	total := 0
	for si, s := range d.Stages {
		p := index("Stages", si)
		if s == nil {
			// Only a declaration built in Go can hold one.
			v.report(p, false, "stage %d is nil", si+1)
			continue
		}
		where := "stage " + show(s.Name)
		if s.Name == "" {
			where = fmt.Sprintf("stage %d (unnamed)", si+1)
			v.report(join(p, "Name"), false, "%s has no Name; add Name: (%s)", where, nameChars)
		} else if msg := nameProblem(s.Name, nameRune, nameChars, "stage names", maxNameLen); msg != "" {
			v.report(join(p, "Name"), false, "the name of stage %s %s", quoteValue(s.Name), msg)
		} else if first, dup := stageAt[s.Name]; dup {
			v.report(join(p, "Name"), false, "two stages are named %s (stages %d and %d); stage names must be unique", s.Name, first+1, si+1)
		} else {
			stageAt[s.Name] = si
		}
		switch n := len(s.Actions); {
		case n == 0:
			v.report(join(p, "Actions"), true, "%s has no actions; add Actions: with at least one action", where)
		case n > maxStageActions:
			v.report(join(p, "Actions"), true, "%s has %d actions; the limit is %d", where, n, maxStageActions)
		}
		total += len(s.Actions)
		for bi, b := range s.Blockers {
			bp := index(join(p, "Blockers"), bi)
			if msg := nameProblem(b.Name, nameRune, nameChars, "blocker names", maxNameLen); msg != "" {
				v.report(join(bp, "Name"), false, "the name of blocker %d of %s %s", bi+1, where, msg)
			}
			if b.Type != "Schedule" {
				v.report(join(bp, "Type"), false, "blocker %d of %s has Type %s; the only type is Schedule", bi+1, where, quoteValue(b.Type))
			}
		}
		v.stageActions(si, s, p, where)
	}
	if total > maxActions {
		v.report("Stages", true, "the pipeline has %d actions; the limit is %d", total, maxActions)
	}
}

// stageActions checks what concerns an action within its stage: its name,
// RunOrder, type and place.
func (v *validator) stageActions(si int, s *Stage, p, where string) {
	names := map[string]int{}
	for ai, act := range s.Actions {
		a := &actionInfo{Action: act, stage: si, path: index(join(p, "Actions"), ai)}
		if act == nil {
			v.report(a.path, false, "action %d of %s is nil", ai+1, where)
			continue
		}
		a.where = "action " + show(act.Name) + " of " + where
		msg := nameProblem(act.Name, nameRune, nameChars, "action names", maxNameLen)
		first, dup := names[act.Name]
		switch {
		case act.Name == "":
			a.where = fmt.Sprintf("action %d (unnamed) of %s", ai+1, where)
			v.report(join(a.path, "Name"), false, "%s has no Name; add Name: (%s)", a.where, nameChars)
		case msg != "":
			v.report(join(a.path, "Name"), false, "the name of action %s in %s %s", quoteValue(act.Name), where, msg)
		case dup:
			v.report(join(a.path, "Name"), false, "two actions of %s are named %s (actions %d and %d); action names must be unique in a stage", where, act.Name, first+1, ai+1)
		default:
			names[act.Name] = ai
		}
		if act.RunOrder < 0 || act.RunOrder > maxRunOrder {
			v.report(join(a.path, "RunOrder"), false, "RunOrder of %s must be a whole number from %d to %d, found %d", a.where, minRunOrder, maxRunOrder, act.RunOrder)
		}
		a.provider = v.actionType(a)
		if c := act.ActionTypeID.Category; isCategory(c) {
			switch {
			case si == 0 && c != Source:
				v.report(join(a.path, "ActionTypeId.Category"), false, "%s is a %s action, but the first stage holds only Source actions; move it to a later stage", a.where, c)
			case si > 0 && c == Source:
				v.report(join(a.path, "ActionTypeId.Category"), false, "%s is a Source action; Source actions belong in the first stage only", a.where)
			}
		}
		v.actions = append(v.actions, a)
	}
}

// actionType checks an action's ActionTypeId and returns its provider,
// or nil when the type is not one Slipway knows.
func (v *validator) actionType(a *actionInfo) *provider {
	t := a.ActionTypeID
	p := join(a.path, "ActionTypeId")
	if t == (ActionTypeID{}) {
		v.report(p, true, "%s has no ActionTypeId; add ActionTypeId: with Category, Owner, Provider and Version", a.where)
		return nil
	}
	ok := true
	switch {
	case t.Category == "":
		v.report(join(p, "Category"), false, "ActionTypeId of %s has no Category; write one of %s", a.where, joinNames(categories))
		ok = false
	case !isCategory(t.Category):
		v.report(join(p, "Category"), false, "unknown Category %s in %s; %s",
			quoteValue(string(t.Category)), a.where, v.oneOf(string(t.Category), categories))
		ok = false
	}
	switch {
	case t.Owner == "":
		v.report(join(p, "Owner"), false, "ActionTypeId of %s has no Owner; write AWS (or ThirdParty for GitHub)", a.where)
		ok = false
	case t.Owner == Custom:
		v.report(join(p, "Owner"), false, "%s has Owner Custom, and custom action types are not supported; use an AWS action such as CodeBuild", a.where)
		ok = false
	case t.Owner != AWS && t.Owner != ThirdParty:
		v.report(join(p, "Owner"), false, "unknown Owner %s in %s; %s",
			quoteValue(string(t.Owner)), a.where, v.oneOf(string(t.Owner), []string{string(AWS), string(ThirdParty)}))
		ok = false
	}
	if t.Provider == "" {
		v.report(join(p, "Provider"), false, "ActionTypeId of %s has no Provider; name one, such as CodeBuild", a.where)
		ok = false
	}
	switch {
	case t.Version == "":
		v.report(join(p, "Version"), false, "ActionTypeId of %s has no Version; write Version: 1", a.where)
		ok = false
	case !version.MatchString(t.Version):
		v.report(join(p, "Version"), false, "Version %s of %s is not a version (1 to 9 letters, digits, - and _); write Version: 1", quoteValue(t.Version), a.where)
		ok = false
	}
	if !ok {
		return nil
	}
	prov := findProvider(t.Category, t.Owner, t.Provider)
	if prov == nil {
		v.report(join(p, "Provider"), false, "ActionType (Category: '%s', Provider: '%s', Owner: '%s', Version: '%s') in %s is not available; %s",
			t.Category, t.Provider, t.Owner, t.Version, a.where, v.providerHint(t))
		return nil
	}
	if t.Version != "1" {
		v.report(join(p, "Version"), false, "%s has no version %s; write Version: 1", prov.name, quoteValue(t.Version))
		return nil
	}
	return prov
}

// action checks an action on its own: artifacts, namespace, region, role,
// timeout and the keys of its configuration.
func (v *validator) action(a *actionInfo) {
	seenIn := map[string]bool{}
	for i, in := range a.InputArtifacts {
		p := join(index(join(a.path, "InputArtifacts"), i), "Name")
		if msg := artifactNameProblem(in.Name); msg != "" {
			v.report(p, false, "input artifact %d of %s %s", i+1, a.where, msg)
		} else if seenIn[in.Name] {
			v.report(p, false, "%s lists input artifact %s twice; keep one", a.where, in.Name)
		}
		seenIn[in.Name] = true
	}
	for i, out := range a.OutputArtifacts {
		p := join(index(join(a.path, "OutputArtifacts"), i), "Name")
		if msg := artifactNameProblem(out.Name); msg != "" {
			v.report(p, false, "output artifact %d of %s %s", i+1, a.where, msg)
			continue
		}
		if first, dup := v.outputs[out.Name]; dup {
			v.report(p, false, "output artifact %s of %s is also the output of %s; output artifact names must be unique in the pipeline", out.Name, a.where, first.where)
			continue
		}
		v.outputs[out.Name] = a
	}
	if a.Namespace != "" {
		p := join(a.path, "Namespace")
		switch msg := nameProblem(a.Namespace, namespaceRune, namespaceChars, "namespaces", maxNameLen); {
		case msg != "":
			v.report(p, false, "the Namespace of %s, %s, %s", a.where, quoteValue(a.Namespace), msg)
		case a.Namespace == "codepipeline" || a.Namespace == "variables":
			v.report(p, false, "the Namespace %s of %s is reserved (#{codepipeline.…} and #{variables.…} are the pipeline's own); choose another", a.Namespace, a.where)
		case v.namespaces[a.Namespace] != nil:
			v.report(p, false, "the Namespace %s of %s is also declared by %s; namespaces must be unique in the pipeline", a.Namespace, a.where, v.namespaces[a.Namespace].where)
		default:
			v.namespaces[a.Namespace] = a
		}
	}
	if a.Region != "" {
		if n := len(a.Region); n < 4 || n > 30 {
			v.report(join(a.path, "Region"), false, "the Region of %s, %s, is not a region name", a.where, quoteValue(a.Region))
		} else if len(v.d.ArtifactStores) > 0 && !v.regions[a.Region] {
			v.report(join(a.path, "Region"), false, "%s runs in region %s, which has no artifact store; add one for it to ArtifactStores", a.where, a.Region)
		}
	}
	if a.RoleARN != "" && !roleARN.MatchString(a.RoleARN) {
		v.report(join(a.path, "RoleArn"), false, "the RoleArn of %s, %s, is not an IAM role ARN; write arn:aws:iam::<account>:role/<name>", a.where, quoteValue(a.RoleARN))
	}
	if a.TimeoutInMinutes != 0 {
		p := join(a.path, "TimeoutInMinutes")
		switch {
		case a.ActionTypeID.Category != Approval:
			v.report(p, true, "TimeoutInMinutes is available only on Manual approval actions; remove it from %s", a.where)
		case a.TimeoutInMinutes < minTimeout || a.TimeoutInMinutes > maxTimeout:
			v.report(p, false, "TimeoutInMinutes of %s must be a whole number from %d to %d, found %d", a.where, minTimeout, maxTimeout, a.TimeoutInMinutes)
		}
	}
	if a.provider != nil {
		v.counts(a, "InputArtifacts", "input", len(a.InputArtifacts), a.provider.inputs)
		v.counts(a, "OutputArtifacts", "output", len(a.OutputArtifacts), a.provider.outputs)
	}
}

// counts checks the number of input or output artifacts of an action
// against what its provider takes.
func (v *validator) counts(a *actionInfo, key, noun string, n int, want [2]int) {
	lo, hi := want[0], want[1]
	if n >= lo && n <= hi {
		return
	}
	var takes, fix string
	switch {
	case hi == 0:
		takes, fix = fmt.Sprintf("no %s artifacts", noun), "remove "+key
	case lo == hi:
		takes = fmt.Sprintf("exactly %d %s artifact%s", lo, noun, plural(lo))
	case n < lo:
		takes = fmt.Sprintf("at least %d %s artifact%s", lo, noun, plural(lo))
	default:
		takes = fmt.Sprintf("at most %d %s artifact%s", hi, noun, plural(hi))
	}
	if fix == "" && n < lo {
		fix = fmt.Sprintf("add %s: with - Name: <artifact>", key)
	} else if fix == "" {
		fix = "remove the extra ones"
	}
	v.report(join(a.path, key), true, "%s (%s) takes %s, found %d; %s", a.where, a.provider.name, takes, n, fix)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// inputs checks that every input artifact is the output of an action that
// runs earlier.
func (v *validator) inputs(a *actionInfo) {
	for i, in := range a.InputArtifacts {
		if artifactNameProblem(in.Name) != "" {
			continue
		}
		p := join(index(join(a.path, "InputArtifacts"), i), "Name")
		producer := v.outputs[in.Name]
		switch {
		case producer == nil:
			v.report(p, false, "input artifact %s of %s is not the output of any action; %s",
				in.Name, a.where, v.orElse(in.Name, v.outputNames, "name an output artifact of an earlier action"))
		case producer.Action == a.Action:
			v.report(p, false, "%s takes its own output artifact %s as input; an input must come from an earlier action", a.where, in.Name)
		case !producer.before(a):
			v.report(p, false, "input artifact %s of %s comes from %s, which does not run before it; move that action to an earlier stage or give it a lower RunOrder", in.Name, a.where, producer.where)
		}
	}
}

// transitions checks DisableInboundStageTransitions.
func (v *validator) transitions() {
	var names []string
	at := map[string]int{}
	for i, s := range v.d.Stages {
		if s == nil {
			continue
		}
		names = append(names, s.Name)
		if _, dup := at[s.Name]; !dup {
			at[s.Name] = i
		}
	}
	seen := map[string]bool{}
	for i, t := range v.d.DisableInboundStageTransitions {
		p := index("DisableInboundStageTransitions", i)
		stage, exists := at[t.StageName]
		switch {
		case t.StageName == "":
			v.report(join(p, "StageName"), false, "DisableInboundStageTransitions item %d has no StageName; name the stage whose inbound transition starts disabled", i+1)
		case !exists:
			v.report(join(p, "StageName"), false, "DisableInboundStageTransitions names stage %s, which the pipeline does not have; %s", show(t.StageName), v.orElse(t.StageName, names, "write one of "+joinNames(names)))
		case stage == 0:
			v.report(join(p, "StageName"), false, "the first stage, %s, has no inbound transition to disable; name a later stage", t.StageName)
		case seen[t.StageName]:
			v.report(join(p, "StageName"), false, "DisableInboundStageTransitions names stage %s twice; keep one", t.StageName)
		}
		seen[t.StageName] = true
		switch {
		case t.Reason == "":
			v.report(join(p, "Reason"), false, "the disabled transition into %s has no Reason; say why it is disabled", show(t.StageName))
		case len(t.Reason) > maxReasonLen:
			v.report(join(p, "Reason"), false, "the Reason of the disabled transition into %s is %d characters long; the limit is %d", show(t.StageName), len(t.Reason), maxReasonLen)
		case !reason.MatchString(t.Reason):
			v.report(join(p, "Reason"), false, "the Reason of the disabled transition into %s may hold only letters, digits, spaces and ! @ ( ) . * ? -", show(t.StageName))
		}
	}
}

// triggers checks the V2 triggers and their filters.
func (v *validator) triggers() {
	ts := v.d.Triggers
	if len(ts) > maxTriggers {
		v.report("Triggers", true, "the pipeline has %d triggers; the limit is %d", len(ts), maxTriggers)
	}
	var sources []string
	byName := map[string]*actionInfo{}
	for _, a := range v.actions {
		if a.stage == 0 && byName[a.Name] == nil {
			sources = append(sources, a.Name)
			byName[a.Name] = a
		}
	}
	used := map[string]bool{}
	for i, t := range ts {
		p := index("Triggers", i)
		where := fmt.Sprintf("trigger %d", i+1)
		switch t.ProviderType {
		case "CodeStarSourceConnection":
		case "":
			v.report(join(p, "ProviderType"), false, "%s has no ProviderType; write ProviderType: CodeStarSourceConnection", where)
		default:
			v.report(join(p, "ProviderType"), false, "%s has ProviderType %s; the only type is CodeStarSourceConnection", where, quoteValue(t.ProviderType))
		}
		g := t.GitConfiguration
		gp := join(p, "GitConfiguration")
		name := g.SourceActionName
		src := byName[name]
		switch {
		case name == "":
			v.report(join(gp, "SourceActionName"), false, "%s has no GitConfiguration with a SourceActionName; name the source action it starts the pipeline for", where)
		case src == nil:
			v.report(join(gp, "SourceActionName"), false, "%s names source action %s, which the first stage does not have; %s", where, show(name), v.orElse(name, sources, "write one of "+joinNames(sources)))
		case src.provider != nil && !src.provider.git:
			v.report(join(gp, "SourceActionName"), false, "%s names %s, whose provider %s is not a Git repository; triggers filter Git pushes (CodeCommit or GitHub)", where, src.where, src.provider.name)
		case used[name]:
			v.report(join(gp, "SourceActionName"), false, "two triggers name source action %s; a source action has at most one trigger, so merge their filters", name)
		}
		used[name] = true
		if len(g.Push) > maxPushFilters {
			v.report(join(gp, "Push"), true, "%s has %d push filters; the limit is %d", where, len(g.Push), maxPushFilters)
		}
		for j, f := range g.Push {
			v.pushFilter(index(join(gp, "Push"), j), fmt.Sprintf("push filter %d of %s", j+1, where), f)
		}
	}
}

func (v *validator) pushFilter(p, where string, f GitPushFilter) {
	switch {
	case f.Branches == nil && f.FilePaths == nil && f.Tags == nil:
		v.report(p, false, "%s filters nothing; give Branches (optionally with FilePaths) or Tags", where)
	case f.Tags != nil && (f.Branches != nil || f.FilePaths != nil):
		v.report(join(p, "Tags"), true, "%s combines Tags with Branches or FilePaths; the valid filters are Tags alone, Branches alone, or Branches with FilePaths", where)
	case f.FilePaths != nil && f.Branches == nil:
		v.report(join(p, "FilePaths"), true, "%s has FilePaths without Branches; add Branches (FilePaths narrow a branch filter)", where)
	}
	for _, c := range []struct {
		key string
		f   *GitFilter
	}{{"Branches", f.Branches}, {"FilePaths", f.FilePaths}, {"Tags", f.Tags}} {
		if c.f == nil {
			continue
		}
		cp := join(p, c.key)
		if len(c.f.Includes) == 0 && len(c.f.Excludes) == 0 {
			v.report(cp, true, "%s of %s has no patterns; give Includes or Excludes", c.key, where)
		}
		for _, l := range []struct {
			key      string
			patterns []string
		}{{"Includes", c.f.Includes}, {"Excludes", c.f.Excludes}} {
			lp := join(cp, l.key)
			if len(l.patterns) > maxPatterns {
				v.report(lp, true, "%s of %s in %s has %d patterns; the limit is %d", l.key, c.key, where, len(l.patterns), maxPatterns)
			}
			for k, pat := range l.patterns {
				if _, err := path.Match(pat, ""); pat == "" || err != nil {
					v.report(index(lp, k), false, "%s is not a valid glob pattern (%s of %s in %s); check its [ ] and \\", quoteValue(pat), l.key, c.key, where)
				}
			}
		}
	}
}

// joinNames lists names for a message, the first twenty of them.
func joinNames(names []string) string {
	const most = 20
	if len(names) > most {
		return fmt.Sprintf("%s and %d more", strings.Join(names[:most], ", "), len(names)-most)
	}
	return strings.Join(names, ", ")
}

// oneOf ends a message about an unknown value: the likely intended one,
// or the list to choose from.
func (v *validator) oneOf(s string, candidates []string) string {
	return v.orElse(s, candidates, "write one of "+joinNames(candidates))
}

// orElse is "did you mean X?" when s is a likely typo of a candidate, else
// otherwise.
func (v *validator) orElse(s string, candidates []string, otherwise string) string {
	if c := v.spell.closest(s, candidates); c != "" {
		return fmt.Sprintf("did you mean %s?", c)
	}
	return otherwise
}
