// Package providers adapts Slipway's services to the stack engine: one
// stack.Provider per CloudFormation resource type, each a thin translation of
// a resource's properties into calls of a service's Go API.
package providers

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/slipway/slipway/bucket"
	"github.com/slipway/slipway/buildsvc"
	"github.com/slipway/slipway/deploy"
	"github.com/slipway/slipway/dnssvc"
	"github.com/slipway/slipway/fleet"
	"github.com/slipway/slipway/lbsvc"
	"github.com/slipway/slipway/pipelinesvc"
	"github.com/slipway/slipway/repo"
	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/template"
)

// Deps is what the providers need. Schemas need none of it, so a registry
// made with a zero Deps can check templates without a server; creating,
// updating and deleting need the services and BaseURL.
type Deps struct {
	Repos   *repo.Service
	Buckets *bucket.Service
	Builds  *buildsvc.Service
	// Pipelines makes AWS::CodePipeline::Pipeline resources.
	Pipelines *pipelinesvc.Service
	// LoadBalancers makes the AWS::ElasticLoadBalancingV2::* resources.
	LoadBalancers *lbsvc.Service
	// DNS makes AWS::Route53::HostedZone and RecordSet resources.
	DNS *dnssvc.Service
	// Fleet makes AWS::AutoScaling::AutoScalingGroup and
	// LaunchConfiguration resources.
	Fleet *fleet.Service
	// Deploys makes the AWS::CodeDeploy::* resources.
	Deploys *deploy.Service
	// BaseURL returns the server's external URL (scheme://host[:port], no
	// trailing slash), from which clone URLs are made.
	BaseURL func() string
	// AccountID, Region, Partition and URLSuffix are the local values of
	// the pseudo parameters of the same names, used in ARNs and domain
	// names. Empty ones take template.DefaultPseudo's, the values a
	// template's !Ref "AWS::AccountId" and the others give by default.
	AccountID, Region, Partition, URLSuffix string
}

// Register installs the provider of every supported resource type in reg.
func Register(reg *stack.Registry, d Deps) {
	def := template.DefaultPseudo("")
	d.AccountID = cmp.Or(d.AccountID, def.AccountID)
	d.Region = cmp.Or(d.Region, def.Region)
	d.Partition = cmp.Or(d.Partition, def.Partition)
	d.URLSuffix = cmp.Or(d.URLSuffix, def.URLSuffix)
	reg.Register(codeCommitType, &codeCommitRepository{d: &d})
	reg.Register(s3BucketType, &s3Bucket{d: &d})
	reg.Register(codeBuildType, &codeBuildProject{d: &d})
	reg.Register(codePipelineType, &codePipeline{d: &d})
	reg.Register(loadBalancerType, &loadBalancer{d: &d})
	reg.Register(listenerType, &listener{d: &d})
	reg.Register(listenerRuleType, &listenerRule{d: &d})
	reg.Register(targetGroupType, &targetGroup{d: &d})
	reg.Register(hostedZoneType, &hostedZone{d: &d})
	reg.Register(recordSetType, &recordSet{d: &d})
	reg.Register(autoScalingGroupType, &autoScalingGroup{d: &d})
	reg.Register(launchConfigurationType, &launchConfiguration{d: &d})
	reg.Register(codeDeployApplicationType, &codeDeployApplication{d: &d})
	reg.Register(deploymentConfigType, &deploymentConfig{d: &d})
	reg.Register(deploymentGroupType, &deploymentGroup{d: &d})
	for typ, t := range modelledTypes {
		reg.Register(typ, &modelled{d: &d, t: t})
	}
}

// Update behaviours and requiredness of the properties in the schemas.
var (
	inPlace         = stack.Property{Update: stack.InPlace}
	replace         = stack.Property{Update: stack.Replace}
	requiredInPlace = stack.Property{Required: true, Update: stack.InPlace}
	requiredReplace = stack.Property{Required: true, Update: stack.Replace}
)

// reader reads a request's scalar properties as strings, remembering the
// first that is a list or an object, so that a provider reads them all and
// checks once.
type reader struct {
	r   *stack.Request
	err error
}

func read(r *stack.Request) *reader { return &reader{r: r} }

// str returns the property key as a string, "" when it is absent. Numbers
// and booleans are taken in their JSON form, as CloudFormation takes a
// YAML 8080 for a String property.
func (p *reader) str(key string) string {
	switch v := p.r.Properties[key].(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return fmt.Sprint(v)
	default:
		found := "JSONObject"
		if _, ok := v.([]any); ok {
			found = "JSONArray"
		}
		if p.err == nil {
			p.err = fmt.Errorf("Properties validation failed for resource %s with message: #/%s: expected type: String, found: %s",
				p.r.Logical, key, found)
		}
		return ""
	}
}

// digest derives bytes from a resource's token and a purpose. Everything a
// provider makes up for a resource (IDs, names, addresses) comes from it,
// so a create resumed under the same token makes up the same values, and
// two resources (two tokens) get different ones. The engine's token is the
// resource record's ID, the same for its create and every later update.
func digest(token, purpose string) [sha256.Size]byte {
	return sha256.Sum256([]byte(purpose + "\x00" + token))
}

// awsID returns an EC2-style ID: prefix, '-', and 17 hex digits.
func awsID(prefix, token, purpose string) string {
	sum := digest(token, prefix+"/"+purpose)
	return prefix + "-" + hex.EncodeToString(sum[:])[:17]
}

// randomChars returns n lowercase letters and digits, derived from token.
func randomChars(token, purpose string, n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	sum := digest(token, purpose)
	out := make([]byte, n)
	for i := range out {
		out[i] = alphabet[int(sum[i%len(sum)])%len(alphabet)]
	}
	return string(out)
}

// generatedName is the name CloudFormation gives a resource whose template
// names none: "<stack>-<logical ID>-<12 random characters>", the stack name
// and logical ID cut short so the whole fits in max.
func generatedName(r *stack.Request, max int) string {
	suffix := "-" + strings.ToUpper(randomChars(r.Token, "name", 12))
	prefix := r.StackName + "-" + r.Logical
	if keep := max - len(suffix); len(prefix) > keep {
		prefix = prefix[:keep]
	}
	return strings.Trim(prefix, "-") + suffix
}
