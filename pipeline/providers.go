package pipeline

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// provider is an action type Slipway knows: what it takes and what its
// configuration holds. (CodePipeline's own figures: the artifact counts of
// its action type quotas and the configuration of its action reference.)
type provider struct {
	category Category
	owner    Owner
	name     string
	// inputs and outputs are the least and the most artifacts it takes.
	inputs, outputs [2]int
	required        []string
	optional        []string
	// variables are its output variables; nil when they depend on the run
	// (a buildspec's exported variables, a stack's outputs).
	variables []string
	// git is true for the sources a trigger's push filters apply to.
	git bool
	// check checks the values of its configuration.
	check func(*configCheck)
}

var categories = []string{string(Source), string(Build), string(Test), string(Deploy), string(Approval), string(Invoke)}

func isCategory(c Category) bool {
	return slices.Contains(categories, string(c))
}

// The variables of CodeCommit's source action.
var commitVariables = []string{"CommitId", "CommitMessage", "RepositoryName", "BranchName", "AuthorDate", "CommitterDate"}

// providers lists the action types a declaration may use; the doc of each
// provider's constant says which ones the engine does not run yet.
var providers = []*provider{
	{
		category: Source, owner: AWS, name: CodeCommit, inputs: [2]int{0, 0}, outputs: [2]int{1, 1},
		required:  []string{"RepositoryName", "BranchName"},
		optional:  []string{"PollForSourceChanges", "OutputArtifactFormat"},
		variables: commitVariables, git: true, check: checkCodeCommit,
	},
	// GitHub version 1 (an OAuth token) is what the public sample uses;
	// declared only (see the GitHub constant).
	{
		category: Source, owner: ThirdParty, name: GitHub, inputs: [2]int{0, 0}, outputs: [2]int{1, 1},
		required:  []string{"Owner", "Repo", "Branch", "OAuthToken"},
		optional:  []string{"PollForSourceChanges"},
		variables: append(slices.Clone(commitVariables), "CommitUrl"), git: true,
		check: func(c *configCheck) { c.boolean("PollForSourceChanges") },
	},
	{
		category: Source, owner: AWS, name: S3, inputs: [2]int{0, 0}, outputs: [2]int{1, 1},
		required:  []string{"S3Bucket", "S3ObjectKey"},
		optional:  []string{"PollForSourceChanges", "AllowOverrideForS3ObjectKey"},
		variables: []string{"ETag", "VersionId"}, check: checkS3,
	},
	codeBuild(Build),
	codeBuild(Test),
	{
		category: Deploy, owner: AWS, name: CloudFormation, inputs: [2]int{0, 10}, outputs: [2]int{0, 1},
		required: []string{"ActionMode", "StackName"},
		optional: []string{"TemplatePath", "TemplateConfiguration", "ParameterOverrides", "Capabilities", "RoleArn",
			"ChangeSetName", "OutputFileName"},
		check: checkCloudFormation,
	},
	{
		category: Deploy, owner: AWS, name: CodeDeploy, inputs: [2]int{1, 1}, outputs: [2]int{0, 0},
		required: []string{"ApplicationName", "DeploymentGroupName"},
	},
	{
		category: Approval, owner: AWS, name: Manual, inputs: [2]int{0, 0}, outputs: [2]int{0, 0},
		optional: []string{"NotificationArn", "ExternalEntityLink", "CustomData"},
		check:    checkManual,
	},
}

// codeBuild is the CodeBuild action, the same in the Build and Test
// categories.
func codeBuild(c Category) *provider {
	return &provider{
		category: c, owner: AWS, name: CodeBuild, inputs: [2]int{1, 5}, outputs: [2]int{0, 5},
		required: []string{"ProjectName"},
		optional: []string{"PrimarySource", "EnvironmentVariables", "BatchEnabled", "CombineArtifacts"},
		check:    checkCodeBuild,
	}
}

// findProvider returns the provider of an action type (whatever its
// version), or nil.
func findProvider(c Category, o Owner, name string) *provider {
	for _, p := range providers {
		if p.category == c && p.owner == o && p.name == name {
			return p
		}
	}
	return nil
}

// providerHint says what to write instead of an action type Slipway does
// not know.
func (v *validator) providerHint(t ActionTypeID) string {
	for _, p := range providers {
		if strings.EqualFold(p.name, t.Provider) && (p.category != t.Category || p.owner != t.Owner || p.name != t.Provider) {
			return fmt.Sprintf("%s is a %s provider of owner %s; write Category: %s, Owner: %s, Provider: %s", p.name, p.category, p.owner, p.category, p.owner, p.name)
		}
	}
	var names []string
	for _, p := range providers {
		if p.category == t.Category && p.owner == t.Owner {
			names = append(names, p.name)
		}
	}
	if len(names) == 0 {
		return fmt.Sprintf("Slipway has no %s actions of owner %s", t.Category, t.Owner)
	}
	if c := v.spell.closest(t.Provider, names); c != "" {
		return fmt.Sprintf("did you mean %s?", c)
	}
	return fmt.Sprintf("the %s providers of owner %s are %s", t.Category, t.Owner, joinNames(names))
}

// configuration checks an action's configuration: sizes and variable
// references of every value, then the keys and values its provider takes.
func (v *validator) configuration(a *actionInfo) {
	cp := join(a.path, "Configuration")
	keys := slices.Sorted(maps.Keys(a.Configuration))
	for _, k := range keys {
		val := a.Configuration[k]
		kp := join(cp, k)
		if n := utf8.RuneCountInString(k); n > maxConfigKeyLen {
			v.report(kp, true, "the Configuration key %s of %s is %d characters long; the limit is %d", show(k), a.where, n, maxConfigKeyLen)
		}
		switch n := utf8.RuneCountInString(val); {
		case n == 0:
			v.report(kp, true, "%s in the Configuration of %s has no value; write one or remove the key", show(k), a.where)
		case n > maxConfigValueLen:
			v.report(kp, false, "the value of %s in the Configuration of %s is %d characters long; the limit is %d", show(k), a.where, n, maxConfigValueLen)
		}
		v.references(a, kp, k, val)
	}
	p := a.provider
	if p == nil {
		return
	}
	known := slices.Concat(p.required, p.optional)
	typos := map[string]bool{}
	for _, k := range keys {
		if slices.Contains(known, k) {
			continue
		}
		if c := v.spell.closest(k, known); c != "" {
			v.report(join(cp, k), true, "unknown Configuration key %s in %s (%s); did you mean %s?", show(k), a.where, p.name, c)
			typos[c] = true
			continue
		}
		v.report(join(cp, k), true, "unknown Configuration key %s in %s; the keys of %s are %s", show(k), a.where, p.name, joinNames(known))
	}
	c := &configCheck{v: v, a: a, path: cp, typos: typos}
	for _, k := range p.required {
		c.require(k, "")
	}
	if p.check != nil {
		p.check(c)
	}
}

// references checks the #{Namespace.Variable} references of a
// configuration value: each must name a variable that exists when the
// action starts.
func (v *validator) references(a *actionInfo, kp, key, val string) {
	for _, r := range references(val) {
		where := fmt.Sprintf("%s in %s of %s", r.raw, key, a.where)
		if !r.valid {
			v.report(kp, false, "%s is not a variable reference; write #{Namespace.Variable}", where)
			continue
		}
		switch r.namespace {
		case "codepipeline":
			if r.name != "PipelineExecutionId" {
				v.report(kp, false, "%s: the codepipeline namespace has only PipelineExecutionId", where)
			}
			continue
		case "variables":
			if !v.variableSet[r.name] {
				v.report(kp, false, "%s names pipeline variable %s, which is not declared; %s", where, r.name,
					v.orElse(r.name, slices.Sorted(maps.Keys(v.variableSet)), "declare it under Variables"))
			}
			continue
		}
		prod := v.namespaces[r.namespace]
		switch {
		case prod == nil:
			v.report(kp, false, "%s names namespace %s, which no action declares; %s", where, r.namespace,
				v.orElse(r.namespace, v.namespaceNames, "set Namespace: on the action whose variables it needs"))
		case prod.Action == a.Action:
			v.report(kp, false, "%s names the action's own namespace; an action can use only the variables of actions that run before it", where)
		case !prod.before(a):
			v.report(kp, false, "%s names namespace %s of %s, which does not run before it; its variables exist only once it has run", where, r.namespace, prod.where)
		case prod.provider != nil && prod.provider.variables != nil && !slices.Contains(prod.provider.variables, r.name):
			v.report(kp, false, "%s: %s (%s) has no variable %s; %s", where, prod.where, prod.provider.name, r.name, v.oneOf(r.name, prod.provider.variables))
		}
	}
}

// configCheck is what a provider's check sees of one action.
type configCheck struct {
	v    *validator
	a    *actionInfo
	path string // the action's Configuration
	// typos are the keys an unknown key was taken for; their absence is
	// not reported again.
	typos map[string]bool
}

func (c *configCheck) report(key string, format string, args ...any) {
	c.v.report(join(c.path, key), false, format, args...)
}

// literal returns the value of key when it is set and holds no variable
// reference: only such a value can be checked before the action runs.
func (c *configCheck) literal(key string) (string, bool) {
	s := c.a.Configuration[key]
	if s == "" || strings.Contains(s, "#{") {
		return "", false
	}
	return s, true
}

// require reports key missing; why says what makes it required, when it is
// not always.
func (c *configCheck) require(key, why string) {
	if _, ok := c.a.Configuration[key]; ok || c.typos[key] {
		return
	}
	if why != "" {
		why = " with " + why
	}
	c.v.report(join(c.path, key), true, "%s (%s) needs %s in its Configuration%s; add it", c.a.where, c.a.provider.name, key, why)
}

func (c *configCheck) boolean(keys ...string) {
	for _, k := range keys {
		if s, ok := c.literal(k); ok && !strings.EqualFold(s, "true") && !strings.EqualFold(s, "false") {
			c.report(k, "%s of %s must be true or false, found %s", k, c.a.where, quoteValue(s))
		}
	}
}

// enum checks that key is one of values and returns it; "" when it is
// absent, wrong or not known before the run.
func (c *configCheck) enum(key string, values []string) string {
	s, ok := c.literal(key)
	if !ok {
		return ""
	}
	if !slices.Contains(values, s) {
		c.report(key, "unknown %s %s in %s; %s", key, quoteValue(s), c.a.where, c.v.oneOf(s, values))
		return ""
	}
	return s
}

func (c *configCheck) isInput(name string) bool {
	return slices.ContainsFunc(c.a.InputArtifacts, func(in Artifact) bool { return in.Name == name })
}

func (c *configCheck) inputNames() string {
	var names []string
	for _, in := range c.a.InputArtifacts {
		names = append(names, in.Name)
	}
	if len(names) == 0 {
		return "it has none; add InputArtifacts"
	}
	return "its inputs are " + joinNames(names)
}

// artifactPath checks an Artifact::path value.
func (c *configCheck) artifactPath(key string) {
	s, ok := c.literal(key)
	if !ok {
		return
	}
	artifact, _, err := ParseArtifactPath(s)
	switch {
	case err != nil:
		c.report(key, "%s of %s: %v", key, c.a.where, err)
	case !c.isInput(artifact):
		c.report(key, "%s of %s reads artifact %s, which is not an input of the action; %s", key, c.a.where, artifact, c.inputNames())
	}
}

func checkCodeCommit(c *configCheck) {
	c.boolean("PollForSourceChanges")
	c.enum("OutputArtifactFormat", []string{"CODE_ZIP", "CODEBUILD_CLONE_REF"})
	if s, ok := c.literal("RepositoryName"); ok && !repositoryName.MatchString(s) {
		c.report("RepositoryName", "RepositoryName %s of %s is not a repository name (up to 100 letters, digits, . _ and -)", quoteValue(s), c.a.where)
	}
}

var repositoryName = regexp.MustCompile(`^[\w.-]{1,100}$`)

func checkS3(c *configCheck) {
	c.boolean("PollForSourceChanges", "AllowOverrideForS3ObjectKey")
	if s, ok := c.literal("S3Bucket"); ok && !bucketName.MatchString(s) {
		c.report("S3Bucket", "S3Bucket %s of %s is not a bucket name (3 to 63 letters, digits, . and -)", quoteValue(s), c.a.where)
	}
}

func checkCodeBuild(c *configCheck) {
	c.boolean("BatchEnabled", "CombineArtifacts")
	if len(c.a.InputArtifacts) > 1 {
		c.require("PrimarySource", fmt.Sprintf("%d input artifacts (it names the one whose buildspec runs)", len(c.a.InputArtifacts)))
	}
	if s, ok := c.literal("PrimarySource"); ok && !c.isInput(s) {
		c.report("PrimarySource", "PrimarySource %s of %s is not one of its input artifacts; %s", s, c.a.where, c.inputNames())
	}
	if s, ok := c.literal("CombineArtifacts"); ok && strings.EqualFold(s, "true") {
		if b, _ := c.literal("BatchEnabled"); !strings.EqualFold(b, "true") {
			c.report("CombineArtifacts", "CombineArtifacts of %s needs BatchEnabled: true", c.a.where)
		}
	}
	c.environmentVariables()
}

// environmentVariables checks CodeBuild's EnvironmentVariables: a JSON
// array of {"name", "value", "type"}.
func (c *configCheck) environmentVariables() {
	const key = "EnvironmentVariables"
	s := c.a.Configuration[key]
	if s == "" {
		return
	}
	var vars []map[string]any
	if err := json.Unmarshal([]byte(s), &vars); err != nil {
		if !strings.Contains(s, "#{") {
			c.report(key, `EnvironmentVariables of %s must be a JSON array such as [{"name":"STAGE","value":"prod","type":"PLAINTEXT"}]: %v`, c.a.where, err)
		}
		return
	}
	for i, ev := range vars {
		what := fmt.Sprintf("variable %d of EnvironmentVariables of %s", i+1, c.a.where)
		got := map[string]any{}
		for k, x := range ev {
			name := canonical(k, []string{"name", "value", "type"})
			if name == "" {
				c.report(key, "%s has unknown key %s; the keys are name, value and type", what, quoteValue(k))
				continue
			}
			got[name] = x
		}
		name, _ := got["name"].(string)
		if name == "" {
			c.report(key, `%s has no "name"`, what)
		}
		if _, ok := got["value"].(string); !ok {
			c.report(key, `%s needs a "value" that is a JSON string`, what)
		}
		if t, ok := got["type"]; ok {
			if ts, _ := t.(string); !slices.Contains([]string{"PLAINTEXT", "PARAMETER_STORE", "SECRETS_MANAGER"}, ts) {
				c.report(key, `%s has type %v; write PLAINTEXT, PARAMETER_STORE or SECRETS_MANAGER`, what, t)
			}
		}
	}
}

// The CloudFormation action's modes and what each needs.
var (
	actionModes  = []string{"CREATE_UPDATE", "DELETE_ONLY", "REPLACE_ON_FAILURE", "CHANGE_SET_REPLACE", "CHANGE_SET_EXECUTE"}
	capabilities = []string{"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"}
	// stackName is also the pattern of a change set name.
	stackName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)
)

func checkCloudFormation(c *configCheck) {
	mode := c.enum("ActionMode", actionModes)
	switch mode {
	case "CREATE_UPDATE", "REPLACE_ON_FAILURE", "CHANGE_SET_REPLACE":
		c.require("TemplatePath", "ActionMode "+mode)
	}
	switch mode {
	case "CREATE_UPDATE", "REPLACE_ON_FAILURE", "DELETE_ONLY", "CHANGE_SET_REPLACE":
		c.require("RoleArn", "ActionMode "+mode+" (it is the role CloudFormation acts with)")
	}
	if strings.HasPrefix(mode, "CHANGE_SET_") {
		c.require("ChangeSetName", "ActionMode "+mode)
	}
	for _, key := range []string{"StackName", "ChangeSetName"} {
		if s, ok := c.literal(key); ok && !stackName.MatchString(s) {
			c.report(key, "%s %s of %s must start with a letter and hold only letters, digits and -, up to 128 characters", key, quoteValue(s), c.a.where)
		}
	}
	c.artifactPath("TemplatePath")
	c.artifactPath("TemplateConfiguration")
	if s, ok := c.literal("RoleArn"); ok && !roleARN.MatchString(s) {
		c.report("RoleArn", "RoleArn %s of %s is not an IAM role ARN; write arn:aws:iam::<account>:role/<name>", quoteValue(s), c.a.where)
	}
	if s, ok := c.literal("Capabilities"); ok {
		if strings.ContainsAny(s, " \t") {
			c.report("Capabilities", "Capabilities of %s must be separated by commas without spaces, e.g. CAPABILITY_IAM,CAPABILITY_AUTO_EXPAND", c.a.where)
		} else {
			for _, capability := range strings.Split(s, ",") {
				if !slices.Contains(capabilities, capability) {
					c.report("Capabilities", "unknown capability %s in %s; %s", quoteValue(capability), c.a.where, c.v.oneOf(capability, capabilities))
				}
			}
		}
	}
	if _, ok := c.a.Configuration["OutputFileName"]; ok && len(c.a.OutputArtifacts) == 0 {
		c.report("OutputFileName", "OutputFileName of %s names a file of its output artifact, and it has none; add OutputArtifacts: with - Name: <artifact>", c.a.where)
	}
	c.parameterOverrides()
}

// maxOverrides is the size limit of ParameterOverrides, in bytes.
const maxOverrides = 1024

// parameterOverrides checks the JSON object of parameter values: each a
// string or a Fn::GetParam / Fn::GetArtifactAtt of an input artifact.
func (c *configCheck) parameterOverrides() {
	const key = "ParameterOverrides"
	s := c.a.Configuration[key]
	if s == "" {
		return
	}
	if len(s) > maxOverrides && utf8.RuneCountInString(s) <= maxConfigValueLen {
		c.report(key, "ParameterOverrides of %s is %d bytes; the limit is %d (move values to a TemplateConfiguration file)", c.a.where, len(s), maxOverrides)
	}
	var params map[string]any
	if err := json.Unmarshal([]byte(s), &params); err != nil || params == nil {
		// A variable written outside a JSON string makes the text JSON
		// only once it is substituted, at run time.
		if !strings.Contains(s, "#{") {
			c.report(key, `ParameterOverrides of %s must be a JSON object such as {"Name": "value"}: %v`, c.a.where, jsonProblem(err))
		}
		return
	}
	for _, name := range slices.Sorted(maps.Keys(params)) {
		what := fmt.Sprintf("parameter %s in ParameterOverrides of %s", name, c.a.where)
		switch x := params[name].(type) {
		case string:
		case map[string]any:
			c.parameterFunction(what, x)
		default:
			c.report(key, `%s must be a string (write "2", not 2) or a Fn::GetParam or Fn::GetArtifactAtt`, what)
		}
	}
}

func jsonProblem(err error) string {
	if err == nil {
		return "found null"
	}
	return err.Error()
}

// parameterFunction checks {"Fn::GetParam": [artifact, file, key]} and
// {"Fn::GetArtifactAtt": [artifact, attribute]}.
func (c *configCheck) parameterFunction(what string, fn map[string]any) {
	const key = "ParameterOverrides"
	if len(fn) != 1 {
		c.report(key, "%s must be a string or a mapping of one function, Fn::GetParam or Fn::GetArtifactAtt", what)
		return
	}
	for name, arg := range fn {
		args, _ := arg.([]any)
		var texts []string
		for _, a := range args {
			if s, ok := a.(string); ok {
				texts = append(texts, s)
			}
		}
		switch name {
		case "Fn::GetParam":
			if len(args) != 3 || len(texts) != 3 {
				c.report(key, `%s: Fn::GetParam takes three strings, ["Artifact", "file.json", "key"]`, what)
				return
			}
		case "Fn::GetArtifactAtt":
			if len(args) != 2 || len(texts) != 2 {
				c.report(key, `%s: Fn::GetArtifactAtt takes two strings, ["Artifact", "ObjectKey"]`, what)
				return
			}
			if !slices.Contains([]string{"BucketName", "ObjectKey", "URL"}, texts[1]) {
				c.report(key, "%s: an artifact's attributes are BucketName, ObjectKey and URL, not %s", what, quoteValue(texts[1]))
			}
		default:
			c.report(key, "%s uses %s, which ParameterOverrides does not have; %s", what, quoteValue(name), c.v.oneOf(name, []string{"Fn::GetParam", "Fn::GetArtifactAtt"}))
			return
		}
		if !c.isInput(texts[0]) {
			c.report(key, "%s reads artifact %s, which is not an input of the action; %s", what, texts[0], c.inputNames())
		}
	}
}

func checkManual(c *configCheck) {
	if s, ok := c.literal("NotificationArn"); ok && !snsARN.MatchString(s) {
		c.report("NotificationArn", "NotificationArn %s of %s is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)", quoteValue(s), c.a.where)
	}
	if s, ok := c.literal("ExternalEntityLink"); ok {
		if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.report("ExternalEntityLink", "ExternalEntityLink %s of %s is not an http or https URL", quoteValue(s), c.a.where)
		}
	}
}

var snsARN = regexp.MustCompile(`^arn:aws(-[\w]+)*:sns:[^:]*:[0-9]*:.+$`)
