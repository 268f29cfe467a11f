package providers

import (
	"context"
	"errors"
	"strings"

	"github.com/slipway/slipway/dnssvc"
	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/store"
)

const (
	hostedZoneType = "AWS::Route53::HostedZone"
	recordSetType  = "AWS::Route53::RecordSet"
)

// hostedZoneSchema follows CloudFormation's AWS::Route53::HostedZone. Tags,
// VPCs (a private zone's) and query logging are recorded only: every zone
// is answered by the server's DNS server, to whoever asks it.
var hostedZoneSchema = stack.Schema{
	Properties: map[string]stack.Property{
		"Name":               requiredReplace,
		"HostedZoneConfig":   inPlace,
		"HostedZoneFeatures": inPlace,
		"HostedZoneTags":     inPlace,
		"QueryLoggingConfig": inPlace,
		"VPCs":               inPlace,
	},
	Attributes: []string{"Id", "NameServers"},
}

// hostedZone provides AWS::Route53::HostedZone: a zone of the DNS service.
// Its physical ID is the zone's ID ("Z..."), as Ref gives on AWS.
type hostedZone struct{ d *Deps }

func (p *hostedZone) Schema() stack.Schema { return hostedZoneSchema }

func (p *hostedZone) input(r *stack.Request) (dnssvc.ZoneInput, error) {
	in := readProps(r)
	out := dnssvc.ZoneInput{Name: in.str(r.Properties, "", "Name"), Settings: without(r.Properties, "Name", "HostedZoneConfig")}
	if c := in.object(r.Properties, "", "HostedZoneConfig"); c != nil {
		out.Comment = in.str(c, "HostedZoneConfig", "Comment")
	}
	return out, in.err
}

func zoneOutcome(z *dnssvc.HostedZone) *stack.Outcome {
	ns := []any{}
	for _, n := range z.NameServers {
		ns = append(ns, n)
	}
	return &stack.Outcome{PhysicalID: z.ID, Attrs: map[string]any{"Id": z.ID, "NameServers": ns}}
}

func (p *hostedZone) Create(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	in, err := p.input(r)
	if err != nil {
		return nil, err
	}
	z, err := p.d.DNS.CreateZone(ctx, r.ProjectID, r.Token, in)
	if err != nil {
		return nil, err
	}
	return zoneOutcome(z), nil
}

func (p *hostedZone) Update(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	in, err := p.input(r)
	if err != nil {
		return nil, err
	}
	z, err := p.d.DNS.UpdateZone(ctx, r.ProjectID, r.PhysicalID, in)
	if errors.Is(err, store.ErrNotFound) {
		return nil, gone("hosted zone", r.PhysicalID)
	}
	if err != nil {
		return nil, err
	}
	return zoneOutcome(z), nil
}

// Delete deletes the zone, which must have no record sets left, as on AWS.
func (p *hostedZone) Delete(ctx context.Context, r *stack.Request) error {
	id := r.PhysicalID
	if id == "" {
		z, err := p.d.DNS.ZoneManaged(ctx, r.ProjectID, r.Token)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		id = z.ID
	}
	return p.d.DNS.DeleteZone(ctx, r.ProjectID, id)
}

// recordSetSchema follows CloudFormation's AWS::Route53::RecordSet.
// Routing policies (weights, failover, geolocation, latency, health
// checks) are recorded only: a name and type has one record set here.
// CloudFormation gives a record set no attributes; Ref gives its name.
var recordSetSchema = stack.Schema{
	Properties: map[string]stack.Property{
		"Name":                 requiredReplace,
		"Type":                 requiredInPlace,
		"HostedZoneId":         replace,
		"HostedZoneName":       replace,
		"AliasTarget":          inPlace,
		"CidrRoutingConfig":    inPlace,
		"Comment":              inPlace,
		"Failover":             inPlace,
		"GeoLocation":          inPlace,
		"GeoProximityLocation": inPlace,
		"HealthCheckId":        inPlace,
		"MultiValueAnswer":     inPlace,
		"Region":               inPlace,
		"ResourceRecords":      inPlace,
		"SetIdentifier":        inPlace,
		"TTL":                  inPlace,
		"Weight":               inPlace,
	},
}

// recordSet provides AWS::Route53::RecordSet: a record set of a zone of
// the DNS service. Its physical ID is its fully qualified name in lower
// case without the final dot (so that "http://" + !Ref Record is a URL);
// a relative name ("www") is completed with the zone.
type recordSet struct{ d *Deps }

func (p *recordSet) Schema() stack.Schema { return recordSetSchema }

func (p *recordSet) input(r *stack.Request) (dnssvc.RecordSetInput, error) {
	in := readProps(r)
	pr := r.Properties
	out := dnssvc.RecordSetInput{
		ZoneID:   in.str(pr, "", "HostedZoneId"),
		ZoneName: in.str(pr, "", "HostedZoneName"),
		Name:     in.str(pr, "", "Name"),
		Type:     in.str(pr, "", "Type"),
		Values:   in.strings(pr, "", "ResourceRecords"),
		Settings: without(pr, "HostedZoneId", "HostedZoneName", "Name", "Type", "TTL", "ResourceRecords", "AliasTarget"),
	}
	ttl, hasTTL := in.integer(pr, "", "TTL")
	out.TTL = ttl
	if a := in.object(pr, "", "AliasTarget"); a != nil {
		out.Alias = &dnssvc.AliasTarget{
			DNSName:              in.str(a, "AliasTarget", "DNSName"),
			HostedZoneID:         in.str(a, "AliasTarget", "HostedZoneId"),
			EvaluateTargetHealth: in.boolean(a, "AliasTarget", "EvaluateTargetHealth"),
		}
	}
	if len(out.Values) > 0 && !hasTTL && in.err == nil {
		in.fail("TTL", "required with ResourceRecords (Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords]])")
	}
	return out, in.err
}

func recordOutcome(rs *dnssvc.RecordSet) *stack.Outcome {
	return &stack.Outcome{PhysicalID: strings.TrimSuffix(rs.Name, "."), Attrs: map[string]any{}}
}

func (p *recordSet) Create(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	in, err := p.input(r)
	if err != nil {
		return nil, err
	}
	rs, err := p.d.DNS.CreateRecordSet(ctx, r.ProjectID, r.Token, in)
	if err != nil {
		return nil, err
	}
	return recordOutcome(rs), nil
}

// Update finds the record set by the token it was made under: its name is
// the physical ID, but its type may have changed.
func (p *recordSet) Update(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	in, err := p.input(r)
	if err != nil {
		return nil, err
	}
	cur, err := p.d.DNS.RecordSetManaged(ctx, r.ProjectID, r.Token)
	if errors.Is(err, store.ErrNotFound) {
		return nil, gone("record set", r.PhysicalID)
	}
	if err != nil {
		return nil, err
	}
	rs, err := p.d.DNS.UpdateRecordSet(ctx, r.ProjectID, cur.ID, in)
	if err != nil {
		return nil, err
	}
	return recordOutcome(rs), nil
}

func (p *recordSet) Delete(ctx context.Context, r *stack.Request) error {
	cur, err := p.d.DNS.RecordSetManaged(ctx, r.ProjectID, r.Token)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return p.d.DNS.DeleteRecordSet(ctx, r.ProjectID, cur.ID)
}
