// Package buildspec reads buildspec.yml, the build instructions CodeBuild
// users know, versions 0.1 and 0.2, and reports every problem with its file,
// line and column before any command runs. It does no I/O of its own.
package buildspec

// Spec is a parsed buildspec.
type Spec struct {
	// Version is "0.1" or "0.2". In 0.1 every command runs in a fresh shell;
	// in 0.2 the working directory and exported variables carry over.
	Version string
	// RunAs is the user for every command (0.2, Linux); empty means the
	// build's own user.
	RunAs string
	Env   Env
	// Phases in their fixed order; a phase absent from the file is nil.
	Install, PreBuild, Build, PostBuild *Phase
	// Artifacts is nil when the buildspec declares none.
	Artifacts *Artifacts
	Cache     *Cache
	// Reports are parsed and validated but not yet acted on.
	Reports map[string]Report
}

// Env is the env block (0.2) or environment_variables (0.1).
type Env struct {
	// Shell is "" (sh), "bash" or "/bin/sh".
	Shell string
	// Variables are plaintext values, taken literally (no expansion).
	Variables []Var
	// ParameterStore maps a variable name to a parameter name.
	ParameterStore []Var
	// SecretsManager maps a variable name to "secret-id[:json-key[:version-stage[:version-id]]]".
	SecretsManager []Var
	// ExportedVariables are captured after post_build.
	ExportedVariables []string
	// GitCredentialHelper is accepted and has no effect locally.
	GitCredentialHelper bool
}

// Var is a name and a value, in file order.
type Var struct {
	Name, Value string
	Pos         Pos
}

// OnFailure says what happens after a phase fails.
type OnFailure string

// The on-failure values; "" means the default transition table.
const (
	OnFailureDefault  OnFailure = ""
	OnFailureAbort    OnFailure = "ABORT"
	OnFailureContinue OnFailure = "CONTINUE"
)

// Phase is one of install, pre_build, build, post_build.
type Phase struct {
	Name      string // "install", "pre_build", "build" or "post_build"
	RunAs     string
	OnFailure OnFailure
	// RuntimeVersions (install only) are accepted; locally they only warn.
	RuntimeVersions map[string]string
	Commands        []Command
	Finally         []Command
	Pos             Pos
}

// Command is one command line (or block) of a phase, with where it was written.
type Command struct {
	Text string
	Pos  Pos
}

// Artifacts is the artifacts block (and each secondary artifact).
type Artifacts struct {
	Files          []string
	Name           string
	DiscardPaths   bool
	BaseDirectory  string
	ExcludePaths   []string
	EnableSymlinks bool
	S3Prefix       string
	// Secondary maps an artifact identifier to its own block; secondary
	// blocks have no Secondary of their own.
	Secondary map[string]*Artifacts
	Pos       Pos
}

// Cache is the cache block.
type Cache struct {
	Paths []string
	Pos   Pos
}

// Report is one report group.
type Report struct {
	Files         []string
	BaseDirectory string
	DiscardPaths  bool
	FileFormat    string
	Pos           Pos
}
