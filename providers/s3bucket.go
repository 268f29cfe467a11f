package providers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/slipway/slipway/bucket"
	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/store"
)

const s3BucketType = "AWS::S3::Bucket"

// s3BucketSchema follows CloudFormation's AWS::S3::Bucket. Every property
// but BucketName is kept as the bucket's settings and has no effect yet.
var s3BucketSchema = stack.Schema{
	Properties: map[string]stack.Property{
		"BucketName":                       replace,
		"ObjectLockEnabled":                replace,
		"AccelerateConfiguration":          inPlace,
		"AccessControl":                    inPlace,
		"AnalyticsConfigurations":          inPlace,
		"BucketEncryption":                 inPlace,
		"CorsConfiguration":                inPlace,
		"IntelligentTieringConfigurations": inPlace,
		"InventoryConfigurations":          inPlace,
		"LifecycleConfiguration":           inPlace,
		"LoggingConfiguration":             inPlace,
		"MetricsConfigurations":            inPlace,
		"NotificationConfiguration":        inPlace,
		"ObjectLockConfiguration":          inPlace,
		"OwnershipControls":                inPlace,
		"PublicAccessBlockConfiguration":   inPlace,
		"ReplicationConfiguration":         inPlace,
		"Tags":                             inPlace,
		"VersioningConfiguration":          inPlace,
		"WebsiteConfiguration":             inPlace,
	},
	Attributes:   []string{"Arn", "DomainName", "DualStackDomainName", "RegionalDomainName", "WebsiteURL"},
	NameProperty: "BucketName",
}

// s3Bucket provides AWS::S3::Bucket: a named artifact bucket of the bucket
// service. Its physical ID is the bucket's name, as on AWS.
type s3Bucket struct {
	d *Deps
}

func (p *s3Bucket) Schema() stack.Schema { return s3BucketSchema }

// name is the bucket's name: BucketName, or the one CloudFormation would
// generate, in lowercase as bucket names must be. The generated one comes
// from the token, so a resumed create asks for the same bucket again.
func (p *s3Bucket) name(r *stack.Request) (string, error) {
	in := read(r)
	name := in.str("BucketName")
	if name == "" {
		name = strings.ToLower(generatedName(r, bucket.MaxNameLen))
	}
	return name, in.err
}

// settings are the bucket's properties but its name.
func settings(r *stack.Request) map[string]any {
	out := maps.Clone(r.Properties)
	delete(out, "BucketName")
	return out
}

func (p *s3Bucket) Create(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	name, err := p.name(r)
	if err != nil {
		return nil, err
	}
	// A conflict's error already says "NAME already exists", as AWS's does.
	b, err := p.d.Buckets.Create(ctx, r.ProjectID, name, r.Token, settings(r))
	if err != nil {
		return nil, err
	}
	return &stack.Outcome{PhysicalID: b.Name, Attrs: p.attrs(b.Name)}, nil
}

func (p *s3Bucket) Update(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	err := p.d.Buckets.UpdateSettings(ctx, r.ProjectID, r.PhysicalID, settings(r))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("bucket %s no longer exists: it was deleted outside the stack; delete the stack and create it again, or remove the resource from the template and add it back",
			r.PhysicalID)
	}
	if err != nil {
		return nil, err
	}
	return &stack.Outcome{PhysicalID: r.PhysicalID, Attrs: p.attrs(r.PhysicalID)}, nil
}

// Delete deletes the bucket named by the physical ID or, when the create
// never returned one, the bucket it would have made if that is marked with
// the token: a bucket of that name that is not this resource's (whose name
// made the create fail) is left alone. The artifacts stay, as the artifact
// store is content-addressed and shared (see bucket.Service.Delete).
func (p *s3Bucket) Delete(ctx context.Context, r *stack.Request) error {
	name := r.PhysicalID
	if name == "" {
		n, err := p.name(r)
		if err != nil {
			// The create was refused before any bucket was made.
			return nil
		}
		b, err := p.d.Buckets.Get(ctx, r.ProjectID, n)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if b.ManagedBy != r.Token {
			return nil
		}
		name = n
	}
	return p.d.Buckets.Delete(ctx, r.ProjectID, name)
}

// attrs are the GetAtt attributes of the bucket called name, in S3's shapes
// with the local region and URL suffix. Nothing answers at these names yet.
func (p *s3Bucket) attrs(name string) map[string]any {
	d := p.d
	return map[string]any{
		"Arn":                 fmt.Sprintf("arn:%s:s3:::%s", d.Partition, name),
		"DomainName":          fmt.Sprintf("%s.s3.%s", name, d.URLSuffix),
		"RegionalDomainName":  fmt.Sprintf("%s.s3.%s.%s", name, d.Region, d.URLSuffix),
		"DualStackDomainName": fmt.Sprintf("%s.s3.dualstack.%s.%s", name, d.Region, d.URLSuffix),
		"WebsiteURL":          fmt.Sprintf("http://%s.s3-website-%s.%s", name, d.Region, d.URLSuffix),
	}
}
