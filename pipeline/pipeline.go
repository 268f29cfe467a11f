// Package pipeline reads and validates pipeline declarations, the
// properties of AWS::CodePipeline::Pipeline, for the execution engine.
//
// A declaration comes from a file (Parse: YAML or JSON, CloudFormation's
// PascalCase keys or the CodePipeline API's camelCase ones) or from a
// stack's evaluated resource properties (FromProperties). Both report every
// problem at once, with its place, and hand back the same Declaration. The
// package does no I/O.
package pipeline

import (
	"cmp"
	"slices"
)

// PipelineType is V1 or V2; V2 adds triggers, pipeline-level variables and
// the QUEUED and PARALLEL execution modes.
type PipelineType string

// The pipeline types.
const (
	// V1 is the type of a declaration that names none.
	V1 PipelineType = "V1"
	V2 PipelineType = "V2"
)

// ExecutionMode says how executions share the stages.
type ExecutionMode string

// The execution modes.
const (
	// Superseded, the default, lets a newer execution waiting in front of
	// a stage replace an older one waiting there.
	Superseded ExecutionMode = "SUPERSEDED"
	// Queued runs executions one after the other, none superseded (V2).
	Queued ExecutionMode = "QUEUED"
	// Parallel runs executions independently, with no stage locking (V2).
	Parallel ExecutionMode = "PARALLEL"
)

// Category is the kind of work an action does.
type Category string

// The action categories.
const (
	Source   Category = "Source"
	Build    Category = "Build"
	Test     Category = "Test"
	Deploy   Category = "Deploy"
	Approval Category = "Approval"
	Invoke   Category = "Invoke"
)

// Owner says who provides an action type.
type Owner string

// The action type owners.
const (
	AWS        Owner = "AWS"
	ThirdParty Owner = "ThirdParty"
	Custom     Owner = "Custom"
)

// The providers a declaration may name in ActionTypeId.Provider, each with
// its category and owner. Every one is checked in full (artifact counts,
// configuration keys and values); some are declared ahead of the engine.
const (
	// CodeCommit (Source, AWS) snapshots a branch of a Slipway repository.
	CodeCommit = "CodeCommit"
	// GitHub (Source, ThirdParty, version 1) is declared so that the public
	// sample's pipeline validates unchanged, but it cannot run: Slipway
	// does not reach GitHub, so an execution reports the action as not
	// available. Point such a pipeline at a Slipway repository through
	// CodeCommit.
	GitHub = "GitHub"
	// S3 (Source, AWS) takes a zip from a bucket; declared, run later.
	S3 = "S3"
	// CodeBuild (Build or Test, AWS) runs a build project.
	CodeBuild = "CodeBuild"
	// CloudFormation (Deploy, AWS) creates, updates or deletes a stack.
	CloudFormation = "CloudFormation"
	// CodeDeploy (Deploy, AWS) deploys its input artifact to a deployment
	// group; declared, run later.
	CodeDeploy = "CodeDeploy"
	// Manual (Approval, AWS) waits for a person to approve or reject.
	Manual = "Manual"
)

// Declaration is a pipeline as declared. Field names and JSON keys are the
// CloudFormation property names, the canonical document form: marshalled
// to JSON it reads back with Parse.
type Declaration struct {
	// Name is required in a file; from a stack's properties it may be
	// empty, and the stack engine then names the pipeline as CloudFormation
	// does.
	Name    string `json:"Name,omitempty"`
	RoleARN string `json:"RoleArn,omitempty"`
	// ArtifactStore and ArtifactStores are exclusive; exactly one is set.
	ArtifactStore  *ArtifactStore     `json:"ArtifactStore,omitempty"`
	ArtifactStores []ArtifactStoreMap `json:"ArtifactStores,omitempty"`
	Stages         []*Stage           `json:"Stages"`
	// DisableInboundStageTransitions lists the stages whose inbound
	// transition starts disabled.
	DisableInboundStageTransitions []StageTransition `json:"DisableInboundStageTransitions,omitempty"`
	// PipelineType is V1 when not declared.
	PipelineType PipelineType `json:"PipelineType,omitempty"`
	// ExecutionMode is SUPERSEDED when not declared.
	ExecutionMode ExecutionMode `json:"ExecutionMode,omitempty"`
	Variables     []Variable    `json:"Variables,omitempty"`
	Triggers      []Trigger     `json:"Triggers,omitempty"`
	// RestartExecutionOnUpdate starts an execution after each update of
	// the declaration through its stack.
	RestartExecutionOnUpdate bool  `json:"RestartExecutionOnUpdate,omitempty"`
	Tags                     []Tag `json:"Tags,omitempty"`
}

// ArtifactStore is where a pipeline keeps its artifacts. Type is always
// S3; Location names a bucket.
type ArtifactStore struct {
	Type          string         `json:"Type"`
	Location      string         `json:"Location"`
	EncryptionKey *EncryptionKey `json:"EncryptionKey,omitempty"`
}

// EncryptionKey names the KMS key of an artifact store.
type EncryptionKey struct {
	ID   string `json:"Id"`
	Type string `json:"Type"`
}

// ArtifactStoreMap is the artifact store of one region, for pipelines with
// cross-region actions.
type ArtifactStoreMap struct {
	Region        string        `json:"Region"`
	ArtifactStore ArtifactStore `json:"ArtifactStore"`
}

// Stage is a stage of the pipeline.
type Stage struct {
	Name    string    `json:"Name"`
	Actions []*Action `json:"Actions"`
	// Blockers are reserved by CodePipeline; they are kept, with no effect.
	Blockers []Blocker `json:"Blockers,omitempty"`
}

// Blocker is a reserved stage blocker (Type Schedule).
type Blocker struct {
	Name string `json:"Name"`
	Type string `json:"Type"`
}

// Action is an action of a stage.
type Action struct {
	Name         string       `json:"Name"`
	ActionTypeID ActionTypeID `json:"ActionTypeId"`
	// RunOrder orders the actions of a stage: equal values run in
	// parallel, lower values first. Parse and FromProperties set 1 when it
	// is not declared; zero is read as 1.
	RunOrder int `json:"RunOrder,omitempty"`
	// Configuration holds the provider's settings. Values are text:
	// numbers and booleans written in YAML keep their source text.
	Configuration   map[string]string `json:"Configuration,omitempty"`
	InputArtifacts  []Artifact        `json:"InputArtifacts,omitempty"`
	OutputArtifacts []Artifact        `json:"OutputArtifacts,omitempty"`
	// Namespace makes the action's output variables referencable as
	// #{Namespace.Name} by actions that run later.
	Namespace string `json:"Namespace,omitempty"`
	Region    string `json:"Region,omitempty"`
	RoleARN   string `json:"RoleArn,omitempty"`
	// TimeoutInMinutes overrides the timeout of a Manual approval; zero
	// keeps the default of 7 days.
	TimeoutInMinutes int `json:"TimeoutInMinutes,omitempty"`
}

// ActionTypeID names the type of an action.
type ActionTypeID struct {
	Category Category `json:"Category"`
	Owner    Owner    `json:"Owner"`
	Provider string   `json:"Provider"`
	Version  string   `json:"Version"`
}

// Artifact names an input or output artifact of an action.
type Artifact struct {
	Name string `json:"Name"`
}

// StageTransition disables the inbound transition of a stage.
type StageTransition struct {
	StageName string `json:"StageName"`
	Reason    string `json:"Reason"`
}

// Variable is a pipeline-level variable (V2), referenced as
// #{variables.Name}.
type Variable struct {
	Name         string `json:"Name"`
	DefaultValue string `json:"DefaultValue,omitempty"`
	Description  string `json:"Description,omitempty"`
}

// Trigger starts the pipeline on Git pushes that match its filters (V2).
type Trigger struct {
	// ProviderType is CodeStarSourceConnection, the only type AWS has.
	ProviderType     string           `json:"ProviderType"`
	GitConfiguration GitConfiguration `json:"GitConfiguration"`
}

// GitConfiguration ties a trigger to a source action.
type GitConfiguration struct {
	SourceActionName string `json:"SourceActionName"`
	// Push lists the filters, any of which starts the pipeline; none
	// means any push to the action's branch.
	Push []GitPushFilter `json:"Push,omitempty"`
}

// GitPushFilter matches pushes; the valid combinations are Tags alone,
// Branches alone, or Branches with FilePaths.
type GitPushFilter struct {
	Branches  *GitFilter `json:"Branches,omitempty"`
	FilePaths *GitFilter `json:"FilePaths,omitempty"`
	Tags      *GitFilter `json:"Tags,omitempty"`
}

// GitFilter holds glob patterns; Excludes wins over Includes.
type GitFilter struct {
	Includes []string `json:"Includes,omitempty"`
	Excludes []string `json:"Excludes,omitempty"`
}

// Tag is a tag of the pipeline.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// Stage returns the stage called name, or nil.
func (d *Declaration) Stage(name string) *Stage {
	for _, s := range d.Stages {
		if s != nil && s.Name == name {
			return s
		}
	}
	return nil
}

// Groups returns the actions of the stage by RunOrder, lowest first: the
// actions of a group run in parallel, and a group starts only after every
// action of the previous one succeeded. Actions keep their declared order
// within a group. A nil stage has no groups.
func (s *Stage) Groups() [][]*Action {
	if s == nil {
		return nil
	}
	sorted := slices.Clone(s.Actions)
	slices.SortStableFunc(sorted, func(a, b *Action) int { return cmp.Compare(a.order(), b.order()) })
	var groups [][]*Action
	for i, a := range sorted {
		if i == 0 || a.order() != sorted[i-1].order() {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], a)
	}
	return groups
}

// order is the action's RunOrder, with zero read as the default 1.
func (a *Action) order() int {
	if a.RunOrder == 0 {
		return 1
	}
	return a.RunOrder
}
