// Package appspec reads appspec.yml, the file that tells CodeDeploy's agent
// what to install on an EC2 or on-premises instance and which scripts to run
// at each lifecycle event, and reports every problem with its file, line and
// column before anything is deployed. It does no I/O of its own.
package appspec

import (
	"io/fs"
	"time"
)

// FileNames returns the names the agent looks for at the root of a
// revision, in the order it tries them.
func FileNames() []string {
	return []string{"appspec.yml", "appspec.yaml"}
}

// Spec is a parsed appspec for an EC2/on-premises deployment.
type Spec struct {
	// Version is always "0.0", the only AppSpec version.
	Version string
	// OS is the platform the revision is for.
	OS OS
	// Files are copied in the order written.
	Files []File
	// FileExistsBehavior is "" when the appspec does not say; use Or to
	// combine it with the deployment's own setting.
	FileExistsBehavior FileExistsBehavior
	// Permissions are only ever set for Linux.
	Permissions []Permission
	// Hooks lists the scripts of each lifecycle event in the order written;
	// an event without scripts is absent. Only events whose Scriptable is
	// true appear.
	Hooks map[Event][]Hook
}

// OS is the operating system an appspec is written for.
type OS string

// The operating systems the agent knows.
const (
	Linux   OS = "linux"
	Windows OS = "windows"
)

// File is one entry of files: what to copy from the revision and where to.
type File struct {
	// Source is a path inside the revision; "/" stands for all of it.
	Source string
	// Destination is the directory on the instance the source is copied into.
	Destination string
	// Pos is where the entry starts.
	Pos Pos
}

// FileExistsBehavior says what the install step does with a file that is
// already at a destination but was not installed by the last deployment.
type FileExistsBehavior string

// The file_exists_behavior values.
const (
	// DisallowExisting fails the deployment; it is the default.
	DisallowExisting FileExistsBehavior = "DISALLOW"
	// OverwriteExisting replaces the file with the revision's.
	OverwriteExisting FileExistsBehavior = "OVERWRITE"
	// RetainExisting keeps the file on the instance.
	RetainExisting FileExistsBehavior = "RETAIN"
)

// Or returns the behaviour that applies: b when the appspec sets one, since
// the appspec's setting overrides the deployment's, else the deployment's,
// else DisallowExisting.
func (b FileExistsBehavior) Or(deployment FileExistsBehavior) FileExistsBehavior {
	switch {
	case b != "":
		return b
	case deployment != "":
		return deployment
	}
	return DisallowExisting
}

// The object types a permission may apply to.
const (
	ObjectFile      = "file"
	ObjectDirectory = "directory"
)

// Permission is one entry of permissions (Linux only). It applies to what
// this deployment installed: to Object itself when it is a file, else to
// the files and directories installed beneath it that match Pattern and
// Type and none of Except.
type Permission struct {
	Object string
	// Pattern is "**" (everything beneath Object) when not written; any
	// other pattern matches names directly inside Object.
	Pattern string
	Except  []string
	// Owner and Group are "" to leave them as the copy made them.
	Owner, Group string
	// Mode is nil to leave the mode as copied. Setuid, setgid and sticky
	// are fs.ModeSetuid, fs.ModeSetgid and fs.ModeSticky, as os.Chmod
	// takes them.
	Mode *fs.FileMode
	// ACLs are setfacl entries such as "u:deploy:rwx" or "d:g:web:r-x".
	ACLs []string
	// Context is the SELinux context to set; nil for none.
	Context *Context
	// Type holds ObjectFile and/or ObjectDirectory; both when not written.
	Type []string
	// Pos is where the entry starts.
	Pos Pos
}

// Context is an SELinux context of a permission.
type Context struct {
	// User is the SELinux user, "" for none.
	User string
	// Type is the SELinux type, such as httpd_sys_content_t; required.
	Type string
	// Range is an MLS range such as s0-s1:c0.c255, "" for none.
	Range string
}

// DefaultTimeout is the timeout of a script that does not set one.
const DefaultTimeout = 3600 * time.Second

// MaxEventTimeout is the most the written timeouts of one lifecycle
// event's scripts may add up to: CodeDeploy stops an event after an hour.
const MaxEventTimeout = 3600 * time.Second

// Hook is one script of a lifecycle event.
type Hook struct {
	// Location is the script's path relative to the root of the revision,
	// even when written with a leading slash.
	Location string
	// Timeout is DefaultTimeout when not written.
	Timeout time.Duration
	// RunAs is the user the script runs as (through su); "" for the
	// agent's own user.
	RunAs string
	// Sudo runs su through sudo; it only matters with RunAs.
	Sudo bool
	// Pos is where the entry starts.
	Pos Pos
}
