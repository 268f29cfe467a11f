package providers

import (
	"context"
	"errors"
	"fmt"

	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/store"
)

const codeCommitType = "AWS::CodeCommit::Repository"

// codeCommitSchema follows CloudFormation's AWS::CodeCommit::Repository:
// RepositoryName changes in place (AWS renames), but Slipway cannot rename
// a repository yet, so such an update fails, saying so, and rolls back;
// replacing it instead would lose the repository's history. Code, Triggers,
// Tags and KmsKeyId are accepted and kept only in the stack's record of the
// resource: the repository is not seeded from Code's S3 archive (AWS
// ignores Code after creation, so changing it is an update that does
// nothing, as there), triggers do not fire, and repositories are not
// encrypted with a key of their own.
var codeCommitSchema = stack.Schema{
	Properties: map[string]stack.Property{
		"RepositoryName":        requiredInPlace,
		"RepositoryDescription": inPlace,
		"Code":                  inPlace,
		"Triggers":              inPlace,
		"Tags":                  inPlace,
		"KmsKeyId":              inPlace,
	},
	Attributes:   []string{"Arn", "CloneUrlHttp", "CloneUrlSsh", "Name"},
	NameProperty: "RepositoryName",
}

// codeCommitRepository provides AWS::CodeCommit::Repository: a repository
// hosted by the repo service in the stack's project. Its physical ID (what
// Ref gives) is the repository's ID, as on AWS; GetAtt Name gives the name.
type codeCommitRepository struct {
	d *Deps
}

func (p *codeCommitRepository) Schema() stack.Schema { return codeCommitSchema }

func (p *codeCommitRepository) Create(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	in := read(r)
	name, description := in.str("RepositoryName"), in.str("RepositoryDescription")
	if in.err != nil {
		return nil, in.err
	}
	// The token marks the repository as this resource's, so a create
	// resumed after a crash gets it back instead of a conflict.
	rp, err := p.d.Repos.CreateManaged(ctx, r.ProjectID, r.ProjectName, name, description, r.Token)
	if errors.Is(err, store.ErrConflict) {
		return nil, fmt.Errorf("repository %s %w in project %s and was not made by this stack resource; choose another RepositoryName, or delete that repository",
			name, store.ErrConflict, r.ProjectName)
	}
	if err != nil {
		return nil, err
	}
	return &stack.Outcome{PhysicalID: rp.ID, Attrs: p.attrs(r, rp.Name)}, nil
}

func (p *codeCommitRepository) Update(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	in := read(r)
	name, description := in.str("RepositoryName"), in.str("RepositoryDescription")
	if in.err != nil {
		return nil, in.err
	}
	if old, _ := r.Previous["RepositoryName"].(string); old != "" && old != name {
		return nil, fmt.Errorf("renaming repository %s to %s is not supported yet: keep RepositoryName %s, or add a new repository resource and push the history to it", old, name, old)
	}
	rp, err := p.d.Repos.Get(ctx, r.ProjectID, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if err != nil || rp.ID != r.PhysicalID {
		return nil, fmt.Errorf("repository %s (ID %s) no longer exists: it was deleted outside the stack; delete the stack and create it again, or remove the resource from the template and add it back",
			name, r.PhysicalID)
	}
	if err := p.d.Repos.SetDescription(ctx, r.ProjectID, name, description); err != nil {
		return nil, err
	}
	return &stack.Outcome{PhysicalID: r.PhysicalID, Attrs: p.attrs(r, name)}, nil
}

// Delete deletes only the repository this resource made: the one with its
// physical ID, or, when its create never returned one, the one marked with
// its token. A repository of the same name made by hand (whose name made
// that create fail) is left alone.
func (p *codeCommitRepository) Delete(ctx context.Context, r *stack.Request) error {
	in := read(r)
	name := in.str("RepositoryName")
	if in.err != nil || name == "" {
		// The create was refused before any repository was made.
		return nil
	}
	rp, err := p.d.Repos.Get(ctx, r.ProjectID, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if (r.PhysicalID != "" && rp.ID != r.PhysicalID) || (r.PhysicalID == "" && rp.ManagedBy != r.Token) {
		return nil
	}
	if err := p.d.Repos.Delete(ctx, r.ProjectID, name); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// attrs are the GetAtt attributes of the repository called name. Slipway
// serves Git over HTTP only, so CloneUrlSsh is the HTTP URL too: a template
// that hands it to a git client still gives it a URL that works.
func (p *codeCommitRepository) attrs(r *stack.Request, name string) map[string]any {
	// The long form of the route in api/git.go, valid in every project.
	clone := p.d.BaseURL() + "/git/" + r.ProjectName + "/" + name + ".git"
	return map[string]any{
		"Arn":          fmt.Sprintf("arn:%s:codecommit:%s:%s:%s", p.d.Partition, p.d.Region, p.d.AccountID, name),
		"CloneUrlHttp": clone,
		"CloneUrlSsh":  clone,
		"Name":         name,
	}
}
