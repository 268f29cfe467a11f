// Package auth holds who may do what: projects (the namespaces resources live
// in), users, teams, API tokens, role grants and the audit log.
package auth

import (
	"errors"
	"fmt"
)

// Errors callers branch on.
var (
	// ErrUnauthenticated means no valid credentials were presented.
	ErrUnauthenticated = errors.New("authentication required")
	// ErrForbidden means the principal may see the resource but not do this to it.
	ErrForbidden = errors.New("permission denied")
	// ErrHidden means the principal may not even know the resource exists;
	// callers answer as if it were missing.
	ErrHidden = errors.New("not found")
)

// Action is what a request wants to do to a resource.
type Action string

// The actions every resource kind understands.
const (
	Read    Action = "read"
	Write   Action = "write"
	Approve Action = "approve"
	Admin   Action = "admin"
)

// Role is a named set of actions granted on a project or on one resource.
type Role string

// The roles. Write includes read; approve includes read but not write, so an
// approver of a production gate need not be able to push; admin includes all.
const (
	RoleRead    Role = "read"
	RoleWrite   Role = "write"
	RoleApprove Role = "approve"
	RoleAdmin   Role = "admin"
)

var roleActions = map[Role][]Action{
	RoleRead:    {Read},
	RoleWrite:   {Read, Write},
	RoleApprove: {Read, Approve},
	RoleAdmin:   {Read, Write, Approve, Admin},
}

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if _, ok := roleActions[r]; !ok {
		return "", fmt.Errorf("unknown role %q: use read, write, approve or admin", s)
	}
	return r, nil
}

// Allows reports whether the role includes the action.
func (r Role) Allows(a Action) bool {
	for _, x := range roleActions[r] {
		if x == a {
			return true
		}
	}
	return false
}

// Resource names what a request touches. A project itself is Kind "project"
// with ID and ProjectID both the project's ID.
type Resource struct {
	Kind      string
	ID        string
	ProjectID string
}

// Principal is the authenticated caller.
type Principal struct {
	UserID    string
	Name      string
	SiteAdmin bool
	TokenID   string
	teamIDs   []string
}
