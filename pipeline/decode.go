package pipeline

import (
	"fmt"
	"strconv"
	"strings"
)

// keys are the keys of one kind of object, by their CloudFormation name;
// a key of the document matches one whatever its case, so the API's
// camelCase reads too.
type keys struct {
	names []string
	// unsupported names keys of AWS's model that Slipway does not run,
	// with what to do instead, so that the message does not call them
	// typos.
	unsupported map[string]string
}

const stageConditions = "stage conditions (OnFailure, OnSuccess, BeforeEntry) are not supported; remove it"

var (
	wrapperKeys = keys{names: []string{"Pipeline", "Tags"}, unsupported: map[string]string{
		"Metadata": "it is what get-pipeline prints, not part of a declaration; remove it (update-pipeline refuses it too)",
	}}
	// Version is what get-pipeline prints inside the pipeline; it is
	// accepted, as update-pipeline accepts it, and ignored: the server
	// numbers the versions.
	declarationKeys = keys{names: []string{"Name", "RoleArn", "ArtifactStore", "ArtifactStores", "Stages",
		"DisableInboundStageTransitions", "PipelineType", "ExecutionMode", "Variables", "Triggers",
		"RestartExecutionOnUpdate", "Tags", "Version"}}
	artifactStoreKeys    = keys{names: []string{"Type", "Location", "EncryptionKey"}}
	encryptionKeyKeys    = keys{names: []string{"Id", "Type"}}
	artifactStoreMapKeys = keys{names: []string{"Region", "ArtifactStore"}}
	stageKeys            = keys{names: []string{"Name", "Actions", "Blockers"}, unsupported: map[string]string{
		"OnFailure": stageConditions, "OnSuccess": stageConditions, "BeforeEntry": stageConditions,
	}}
	blockerKeys = keys{names: []string{"Name", "Type"}}
	actionKeys  = keys{names: []string{"Name", "ActionTypeId", "RunOrder", "Configuration", "InputArtifacts",
		"OutputArtifacts", "Namespace", "Region", "RoleArn", "TimeoutInMinutes"}, unsupported: map[string]string{
		"Commands":             "it belongs to Compute actions, which are not supported; run commands in a CodeBuild action's buildspec",
		"OutputVariables":      "it belongs to Compute actions, which are not supported; remove it",
		"EnvironmentVariables": "it is not an action key; for a CodeBuild action write it under Configuration, as a JSON string",
	}}
	actionTypeKeys = keys{names: []string{"Category", "Owner", "Provider", "Version"}}
	artifactKeys   = keys{names: []string{"Name"}}
	transitionKeys = keys{names: []string{"StageName", "Reason"}}
	variableKeys   = keys{names: []string{"Name", "DefaultValue", "Description"}}
	triggerKeys    = keys{names: []string{"ProviderType", "GitConfiguration"}}
	gitConfigKeys  = keys{names: []string{"SourceActionName", "Push"}, unsupported: map[string]string{
		"PullRequest": "pull-request triggers are not supported, as Slipway repositories have no pull requests; use Push",
	}}
	pushFilterKeys = keys{names: []string{"Branches", "FilePaths", "Tags"}}
	filterKeys     = keys{names: []string{"Includes", "Excludes"}}
	tagKeys        = keys{names: []string{"Key", "Value"}}
)

// decoder reads the node tree into a Declaration, reporting values of the
// wrong shape; rules between values are validate's.
type decoder struct {
	src *source
}

// decode reads the document: the pipeline's properties, or the CLI's
// {"pipeline": {...}, "tags": [...]}. needName is false for a stack's
// properties, where CloudFormation names an unnamed pipeline.
func decode(src *source, root *node, needName bool) *Declaration {
	dec := &decoder{src: src}
	d := &Declaration{PipelineType: V1, ExecutionMode: Superseded}
	switch {
	case root == nil || root.kind == nullNode:
		src.errAt(Pos{Line: 1, Column: 1}, "", "the declaration is empty; declare the pipeline with Name:, RoleArn:, ArtifactStore: and Stages:")
		src.settled[""] = true
		return d
	case root.kind != mapNode:
		src.errAt(root.pos, "", "a declaration must be a mapping of keys such as Name: and Stages:, found %s", root.describe())
		src.settled[""] = true
		return d
	}
	if hasKey(root, "Type") && hasKey(root, "Properties") {
		src.errAt(root.pos, "", "this is a whole template resource (Type: and Properties:); a declaration is what its Properties hold, so keep only those")
		src.settled[""] = true
		return d
	}
	props := root
	if hasKey(root, "Pipeline") && !hasKey(root, "Stages") {
		w := dec.object(root, "", "the document", wrapperKeys)
		props = w.node("Pipeline")
		if props.kind != mapNode {
			src.errAt(props.pos, "", "pipeline must be a mapping of the pipeline's keys such as name: and stages:, found %s", props.describe())
			src.settled[""] = true
			return d
		}
		d.Tags = dec.tags(w, "Tags")
	}
	src.at[""] = loc{key: props.pos, val: props.pos}
	o := dec.object(props, "", "the pipeline", declarationKeys)
	d.Name = o.text("Name")
	if needName && !o.has("Name") {
		src.errAt(props.pos, "Name", "missing Name; name the pipeline (letters, digits and . @ - _)")
	}
	d.RoleARN = o.text("RoleArn")
	if o.has("ArtifactStore") {
		d.ArtifactStore = dec.artifactStore(o.object("ArtifactStore", "ArtifactStore", artifactStoreKeys))
	}
	d.ArtifactStores = dec.artifactStores(o)
	for i, it := range o.list("Stages") {
		d.Stages = append(d.Stages, dec.stage(it, index("Stages", i), i))
	}
	for i, it := range o.list("DisableInboundStageTransitions") {
		t := dec.object(it, index("DisableInboundStageTransitions", i), fmt.Sprintf("DisableInboundStageTransitions item %d", i+1), transitionKeys)
		d.DisableInboundStageTransitions = append(d.DisableInboundStageTransitions, StageTransition{StageName: t.text("StageName"), Reason: t.text("Reason")})
	}
	if o.has("PipelineType") {
		d.PipelineType = PipelineType(o.text("PipelineType"))
	}
	if o.has("ExecutionMode") {
		d.ExecutionMode = ExecutionMode(o.text("ExecutionMode"))
	}
	for i, it := range o.list("Variables") {
		v := dec.object(it, index("Variables", i), fmt.Sprintf("variable %d", i+1), variableKeys)
		d.Variables = append(d.Variables, Variable{Name: v.text("Name"), DefaultValue: v.text("DefaultValue"), Description: v.text("Description")})
	}
	for i, it := range o.list("Triggers") {
		d.Triggers = append(d.Triggers, dec.trigger(it, index("Triggers", i), i))
	}
	d.RestartExecutionOnUpdate = o.boolean("RestartExecutionOnUpdate")
	if o.has("Tags") {
		if d.Tags != nil {
			src.errAt(o.got["Tags"].keyPos, "Tags", "tags are given twice, beside pipeline and inside it; keep one list")
		}
		d.Tags = dec.tags(o, "Tags")
	}
	return d
}

func (dec *decoder) artifactStore(o *obj) *ArtifactStore {
	s := &ArtifactStore{Type: o.text("Type"), Location: o.text("Location")}
	if o.has("EncryptionKey") {
		k := o.object("EncryptionKey", "EncryptionKey of "+o.where, encryptionKeyKeys)
		s.EncryptionKey = &EncryptionKey{ID: k.text("Id"), Type: k.text("Type")}
	}
	return s
}

// artifactStores reads CloudFormation's list of {Region, ArtifactStore}
// or the API's mapping of region to store.
func (dec *decoder) artifactStores(o *obj) []ArtifactStoreMap {
	n := o.node("ArtifactStores")
	var out []ArtifactStoreMap
	if n.kind == mapNode {
		for i, f := range n.fields {
			// Paths are those of the list form, so that validation names
			// both forms alike.
			path := index("ArtifactStores", i)
			dec.src.at[path] = loc{key: f.keyPos, val: f.val.pos}
			dec.src.at[join(path, "Region")] = loc{key: f.keyPos, val: f.keyPos}
			dec.src.at[join(path, "ArtifactStore")] = loc{key: f.keyPos, val: f.val.pos}
			s := dec.artifactStore(dec.object(f.val, join(path, "ArtifactStore"), "the artifact store of region "+show(f.key), artifactStoreKeys))
			out = append(out, ArtifactStoreMap{Region: f.key, ArtifactStore: *s})
		}
		return out
	}
	for i, it := range o.list("ArtifactStores") {
		path := index("ArtifactStores", i)
		m := dec.object(it, path, fmt.Sprintf("ArtifactStores item %d", i+1), artifactStoreMapKeys)
		store := ArtifactStoreMap{Region: m.text("Region")}
		if m.has("ArtifactStore") {
			store.ArtifactStore = *dec.artifactStore(m.object("ArtifactStore", "ArtifactStore of "+m.where, artifactStoreKeys))
		}
		out = append(out, store)
	}
	return out
}

func (dec *decoder) stage(n *node, path string, i int) *Stage {
	where := "stage " + show(peekName(n))
	if peekName(n) == "" {
		where = fmt.Sprintf("stage %d (unnamed)", i+1)
	}
	o := dec.object(n, path, where, stageKeys)
	s := &Stage{Name: o.text("Name")}
	for j, it := range o.list("Actions") {
		s.Actions = append(s.Actions, dec.action(it, index(join(path, "Actions"), j), j, where))
	}
	for j, it := range o.list("Blockers") {
		b := dec.object(it, index(join(path, "Blockers"), j), fmt.Sprintf("blocker %d of %s", j+1, where), blockerKeys)
		s.Blockers = append(s.Blockers, Blocker{Name: b.text("Name"), Type: b.text("Type")})
	}
	return s
}

func (dec *decoder) action(n *node, path string, i int, stage string) *Action {
	where := "action " + show(peekName(n)) + " of " + stage
	if peekName(n) == "" {
		where = fmt.Sprintf("action %d (unnamed) of %s", i+1, stage)
	}
	o := dec.object(n, path, where, actionKeys)
	a := &Action{
		Name:      o.text("Name"),
		RunOrder:  1,
		Namespace: o.text("Namespace"),
		Region:    o.text("Region"),
		RoleARN:   o.text("RoleArn"),
	}
	if o.has("ActionTypeId") {
		t := o.object("ActionTypeId", "ActionTypeId of "+where, actionTypeKeys)
		a.ActionTypeID = ActionTypeID{
			Category: Category(t.text("Category")),
			Owner:    Owner(t.text("Owner")),
			Provider: t.text("Provider"),
			Version:  t.text("Version"),
		}
	}
	if o.has("RunOrder") {
		a.RunOrder = o.integer("RunOrder", minRunOrder, maxRunOrder)
	}
	if o.has("TimeoutInMinutes") {
		a.TimeoutInMinutes = o.integer("TimeoutInMinutes", minTimeout, maxTimeout)
	}
	a.Configuration = dec.configuration(o)
	a.InputArtifacts = dec.artifacts(o, "InputArtifacts", "input artifact")
	a.OutputArtifacts = dec.artifacts(o, "OutputArtifacts", "output artifact")
	return a
}

// configuration reads an action's settings; every value is text.
func (dec *decoder) configuration(o *obj) map[string]string {
	n := o.node("Configuration")
	path := join(o.path, "Configuration")
	switch n.kind {
	case nullNode:
		return nil
	case mapNode:
	default:
		dec.src.errAt(n.pos, path, "Configuration of %s must be a mapping of setting names to values, found %s", o.where, n.describe())
		return nil
	}
	cfg := map[string]string{}
	for _, f := range n.fields {
		p := join(path, f.key)
		if _, dup := cfg[f.key]; dup {
			dec.src.errAt(f.keyPos, p, "duplicate key %s in Configuration of %s; keep only one", show(f.key), o.where)
			continue
		}
		dec.src.at[p] = loc{key: f.keyPos, val: f.val.pos}
		switch f.val.kind {
		case scalarNode:
			cfg[f.key] = f.val.text
		case nullNode:
			cfg[f.key] = ""
		default:
			dec.src.errAt(f.val.pos, p, "the value of %s in Configuration of %s must be text, found %s; write JSON as a string (for instance %s: |, then the JSON on the lines below)", show(f.key), o.where, f.val.describe(), f.key)
		}
	}
	return cfg
}

// artifacts reads a list of {Name: ...}.
func (dec *decoder) artifacts(o *obj, key, noun string) []Artifact {
	var out []Artifact
	for i, it := range o.list(key) {
		path := index(join(o.path, key), i)
		if it.kind == scalarNode {
			dec.src.errAt(it.pos, path, "each %s of %s is a mapping with a Name, found %s; write - Name: %s", noun, o.where, it.describe(), it.text)
			// Kept, so that the action's artifact count is not reported too.
			out = append(out, Artifact{Name: it.text})
			continue
		}
		a := dec.object(it, path, fmt.Sprintf("%s %d of %s", noun, i+1, o.where), artifactKeys)
		out = append(out, Artifact{Name: a.text("Name")})
	}
	return out
}

func (dec *decoder) trigger(n *node, path string, i int) Trigger {
	where := fmt.Sprintf("trigger %d", i+1)
	o := dec.object(n, path, where, triggerKeys)
	t := Trigger{ProviderType: o.text("ProviderType")}
	if !o.has("GitConfiguration") {
		return t
	}
	g := o.object("GitConfiguration", "GitConfiguration of "+where, gitConfigKeys)
	t.GitConfiguration.SourceActionName = g.text("SourceActionName")
	for j, it := range g.list("Push") {
		fp := index(join(g.path, "Push"), j)
		f := dec.object(it, fp, fmt.Sprintf("push filter %d of %s", j+1, where), pushFilterKeys)
		var pf GitPushFilter
		for _, crit := range []struct {
			key string
			dst **GitFilter
		}{{"Branches", &pf.Branches}, {"FilePaths", &pf.FilePaths}, {"Tags", &pf.Tags}} {
			if !f.has(crit.key) {
				continue
			}
			c := f.object(crit.key, crit.key+" of "+f.where, filterKeys)
			*crit.dst = &GitFilter{Includes: c.strings("Includes"), Excludes: c.strings("Excludes")}
		}
		t.GitConfiguration.Push = append(t.GitConfiguration.Push, pf)
	}
	return t
}

func (dec *decoder) tags(o *obj, key string) []Tag {
	var out []Tag
	for i, it := range o.list(key) {
		t := dec.object(it, index("Tags", i), fmt.Sprintf("tag %d", i+1), tagKeys)
		out = append(out, Tag{Key: t.text("Key"), Value: t.text("Value")})
	}
	return out
}

// obj is a mapping being read: its keys by their canonical name.
type obj struct {
	dec   *decoder
	path  string
	where string
	pos   Pos
	got   map[string]field
}

// object reads n as a mapping with the known keys, reporting unknown and
// repeated keys; an empty value reads as an empty mapping, and a value of
// another kind is reported and reads as one too.
func (dec *decoder) object(n *node, path, where string, known keys) *obj {
	o := &obj{dec: dec, path: path, where: where, pos: n.pos, got: map[string]field{}}
	if n.kind != mapNode {
		if n.kind != nullNode {
			dec.src.errAt(n.pos, path, "%s must be a mapping of keys (%s), found %s", where, strings.Join(known.names, ", "), n.describe())
		}
		return o
	}
	for _, f := range n.fields {
		name := canonical(f.key, known.names)
		if name == "" {
			dec.unknownKey(f, path, where, known)
			continue
		}
		if first, dup := o.got[name]; dup {
			if first.keyPos.Line > 0 {
				dec.src.errAt(f.keyPos, join(path, name), "duplicate key %s in %s (first written at line %d); keep only one", show(f.key), where, first.keyPos.Line)
			} else {
				dec.src.errAt(f.keyPos, join(path, name), "%s is given twice in %s (as %s and %s); keep only one", name, where, show(first.key), show(f.key))
			}
			continue
		}
		o.got[name] = f
		dec.src.at[join(path, name)] = loc{key: f.keyPos, val: f.val.pos}
	}
	return o
}

func (dec *decoder) unknownKey(f field, path, where string, known keys) {
	for k, why := range known.unsupported {
		if strings.EqualFold(f.key, k) {
			dec.src.errAt(f.keyPos, join(path, f.key), "%s in %s: %s", show(f.key), where, why)
			return
		}
	}
	if s := dec.src.spell.closest(f.key, known.names); s != "" {
		dec.src.errAt(f.keyPos, join(path, f.key), "unknown key %s in %s; did you mean %s?", show(f.key), where, s)
		// The typo stands for s: a "missing s" would only repeat it.
		dec.src.settled[join(path, s)] = true
		return
	}
	dec.src.errAt(f.keyPos, join(path, f.key), "unknown key %s in %s; the keys allowed there are %s", show(f.key), where, strings.Join(known.names, ", "))
}

// canonical returns the known key that key spells, whatever its case.
func canonical(key string, known []string) string {
	for _, k := range known {
		if strings.EqualFold(key, k) {
			return k
		}
	}
	return ""
}

// hasKey reports whether mapping n has key, whatever its case.
func hasKey(n *node, key string) bool {
	for _, f := range n.fields {
		if strings.EqualFold(f.key, key) {
			return true
		}
	}
	return false
}

// peekName returns the text of a mapping's Name key, to name the object in
// messages about its other keys.
func peekName(n *node) string {
	if n.kind != mapNode {
		return ""
	}
	for _, f := range n.fields {
		if strings.EqualFold(f.key, "Name") && f.val.kind == scalarNode {
			return f.val.text
		}
	}
	return ""
}

func (o *obj) has(name string) bool {
	_, ok := o.got[name]
	return ok
}

// node returns the value of name; an absent key reads as an empty value.
func (o *obj) node(name string) *node {
	if f, ok := o.got[name]; ok {
		return f.val
	}
	return &node{kind: nullNode, pos: o.pos}
}

// object reads the value of name as a mapping.
func (o *obj) object(name, where string, known keys) *obj {
	return o.dec.object(o.node(name), join(o.path, name), where, known)
}

// text reads the value of name as text; an empty value is "", which
// validation reports where a value is required.
func (o *obj) text(name string) string {
	n := o.node(name)
	switch n.kind {
	case scalarNode:
		return n.text
	case nullNode:
		return ""
	}
	o.dec.src.errAt(n.pos, join(o.path, name), "%s of %s must be a single value, found %s", name, o.where, n.describe())
	return ""
}

// integer reads the value of name as a whole number from lo to hi.
func (o *obj) integer(name string, lo, hi int) int {
	n := o.node(name)
	v, err := strconv.Atoi(strings.TrimSpace(n.text))
	if n.kind != scalarNode || err != nil || v < lo || v > hi {
		o.dec.src.errAt(n.pos, join(o.path, name), "%s of %s must be a whole number from %d to %d, found %s", name, o.where, lo, hi, n.describe())
		return 0
	}
	return v
}

// boolean reads the value of name as true or false.
func (o *obj) boolean(name string) bool {
	n := o.node(name)
	switch {
	case n.kind == nullNode:
		return false
	case n.kind == scalarNode && strings.EqualFold(n.text, "true"):
		return true
	case n.kind == scalarNode && strings.EqualFold(n.text, "false"):
		return false
	}
	o.dec.src.errAt(n.pos, join(o.path, name), "%s of %s must be true or false, found %s", name, o.where, n.describe())
	return false
}

// list returns the items of the list name; an empty value is no items.
func (o *obj) list(name string) []*node {
	n := o.node(name)
	switch n.kind {
	case listNode:
		for i, it := range n.items {
			o.dec.src.at[index(join(o.path, name), i)] = loc{key: it.pos, val: it.pos}
		}
		return n.items
	case nullNode:
		return nil
	}
	o.dec.src.errAt(n.pos, join(o.path, name), "%s of %s must be a list (one item per line, starting with - ), found %s", name, o.where, n.describe())
	return nil
}

// strings reads the list name as a list of texts.
func (o *obj) strings(name string) []string {
	var out []string
	for i, it := range o.list(name) {
		if it.kind != scalarNode {
			o.dec.src.errAt(it.pos, index(join(o.path, name), i), "each item of %s in %s must be a single value, found %s", name, o.where, it.describe())
			continue
		}
		out = append(out, it.text)
	}
	return out
}
