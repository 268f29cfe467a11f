// Package dnssvc is the DNS service: it owns the hosted zones and record
// sets of every project (AWS::Route53::HostedZone and RecordSet), answers
// for them with the nameserver data plane on a configurable address, and
// tells the load balancer service which host names alias which load
// balancer, so that requests for a record's name reach it.
package dnssvc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/slipway/slipway/events"
	"github.com/slipway/slipway/nameserver"
	"github.com/slipway/slipway/store"
)

// Config is the service's set-up.
type Config struct {
	// Listen is the UDP and TCP address the DNS server answers on, such as
	// "127.0.0.1:8053" (port 0: any free port); empty runs no DNS server
	// (zones still route load balancer requests by their aliases).
	Listen string
	// AliasAddrs resolves an alias record's target, a load balancer's DNS
	// name, into the addresses to answer with; ok false means there is no
	// such load balancer. The load balancer service provides it; nil
	// answers alias records with SERVFAIL.
	AliasAddrs func(dnsName string) (ips []netip.Addr, ok bool)
	// OnAliasesChanged receives, after every change, every host name that
	// an alias record (or a CNAME) of any zone points somewhere: host name
	// (lower case, no final dot; a wildcard too) -> target DNS name. The
	// load balancer service routes requests for those names by it.
	OnAliasesChanged func(aliases map[string]string)
	// Bus, when set, tells every server process of a change.
	Bus *events.Bus
	// Log receives operational logs.
	Log *slog.Logger
}

// Topic is the event published with every change to the zones.
const Topic = "dns.changed"

// NameServer is the name server of every zone, the NameServers of a hosted
// zone: what the DNS server answers for NS queries at a zone's apex. It
// resolves to the loopback address with no set-up (RFC 6761).
const NameServer = "localhost"

// Service manages hosted zones and answers for them. It is safe for
// concurrent use.
type Service struct {
	db  *store.DB
	cfg Config
	log *slog.Logger
	ns  *nameserver.Server
	// listening is whether ns has bound Config.Listen.
	listening bool

	mu      sync.Mutex // serialises changes of what ns serves
	aliases map[string]string
}

// New returns the service; its DNS server, when Config.Listen is set, is
// bound already (Addr tells where) and answers once Run runs.
func New(db *store.DB, cfg Config) (*Service, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Service{db: db, cfg: cfg, log: cfg.Log}
	s.ns = &nameserver.Server{Addr: cfg.Listen, Log: cfg.Log, Alias: func(target string) ([]netip.Addr, bool) {
		if cfg.AliasAddrs == nil {
			return nil, false
		}
		return cfg.AliasAddrs(target)
	}}
	if err := s.ns.Set(nil); err != nil {
		return nil, err
	}
	if cfg.Listen != "" {
		if err := s.ns.Listen(); err != nil {
			return nil, fmt.Errorf("DNS server: %w (choose another address with --dns-listen, or --dns-listen '' to run none)", err)
		}
		s.listening = true
	}
	return s, nil
}

// Addr is the address the DNS server answers on, "" when it runs none.
func (s *Service) Addr() string {
	if !s.listening {
		return ""
	}
	return s.ns.BoundAddr()
}

// Run loads the zones, answers for them until ctx ends (following changes
// made by other server processes when Config.Bus is set) and returns.
func (s *Service) Run(ctx context.Context) error {
	var changes <-chan events.Event
	if s.cfg.Bus != nil {
		ch, cancel := s.cfg.Bus.Subscribe(Topic)
		defer cancel()
		changes = ch
	}
	if err := s.reload(ctx); err != nil {
		s.log.Error("DNS: serve the stored zones", "err", err)
	}
	done := make(chan error, 1)
	if s.listening {
		go func() { done <- s.ns.Run(ctx) }()
	} else {
		go func() { <-ctx.Done(); done <- nil }()
	}
	for {
		select {
		case err := <-done:
			return err
		case _, ok := <-changes:
			if !ok {
				changes = nil
				continue
			}
			// One reload covers every change queued meanwhile.
			events.Drain(changes)
			if err := s.reload(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("DNS: apply a change", "err", err)
			}
		}
	}
}

// reload serves what the tables hold.
func (s *Service) reload(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	aliases, err := s.applyLocked(ctx, s.db)
	if err != nil {
		return err
	}
	s.tellAliasesLocked(aliases)
	return nil
}

// mutate runs fn in a transaction and, before committing, gives the
// nameserver the zones it leaves: a change that makes a zone invalid (a
// CNAME beside other records) is refused and not stored.
func (s *Service) mutate(ctx context.Context, fn func(tx *store.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	applied := false
	var aliases map[string]string
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if s.cfg.Bus != nil {
			if err := s.cfg.Bus.Publish(ctx, tx, Topic, nil); err != nil {
				return err
			}
		}
		var err error
		aliases, err = s.applyLocked(ctx, tx)
		applied = err == nil
		return err
	})
	if err != nil {
		if applied {
			if a, rerr := s.applyLocked(context.WithoutCancel(ctx), s.db); rerr != nil {
				s.log.Error("DNS: restore the stored zones", "err", rerr)
			} else {
				s.tellAliasesLocked(a)
			}
		}
		return err
	}
	s.tellAliasesLocked(aliases)
	return nil
}

// applyLocked reads every zone through q and hands them to the
// nameserver; it returns the aliases they hold. The caller holds s.mu.
func (s *Service) applyLocked(ctx context.Context, q store.Querier) (map[string]string, error) {
	zones, err := queryZones(ctx, q, "")
	if err != nil {
		return nil, err
	}
	rss, err := queryRecordSets(ctx, q, "")
	if err != nil {
		return nil, err
	}
	byZone := map[string][]RecordSet{}
	for _, rs := range rss {
		byZone[rs.ZoneID] = append(byZone[rs.ZoneID], rs)
	}
	aliases := map[string]string{}
	var served []nameserver.Zone
	for _, z := range zones {
		nz := nameserver.Zone{Name: z.Name}
		aliased := map[string]bool{}
		for _, rs := range byZone[z.ID] {
			host := strings.TrimSuffix(rs.Name, ".")
			switch {
			case rs.Alias != nil:
				aliases[host] = rs.Alias.DNSName
				// One ALIAS record answers both A and AAAA queries.
				if aliased[rs.Name] {
					continue
				}
				aliased[rs.Name] = true
				nz.Records = append(nz.Records, nameserver.Record{Name: rs.Name, Type: nameserver.TypeALIAS, Values: []string{rs.Alias.DNSName}})
			default:
				if rs.Type == "CNAME" && len(rs.Values) == 1 {
					aliases[host] = rs.Values[0]
				}
				nz.Records = append(nz.Records, nameserver.Record{Name: rs.Name, Type: rs.Type, TTL: uint32(rs.TTL), Values: rs.Values})
			}
		}
		served = append(served, nz)
	}
	if err := s.ns.Set(served); err != nil {
		return nil, fmt.Errorf("InvalidChangeBatch: [%v]", err)
	}
	return aliases, nil
}

// tellAliasesLocked passes changed aliases on to Config.OnAliasesChanged.
func (s *Service) tellAliasesLocked(aliases map[string]string) {
	if aliases == nil || maps.Equal(aliases, s.aliases) {
		return
	}
	s.aliases = aliases
	if s.cfg.OnAliasesChanged != nil {
		s.cfg.OnAliasesChanged(maps.Clone(aliases))
	}
}

// HostedZone is a hosted zone.
type HostedZone struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id"`
	// Name is the zone's apex, fully qualified with its final dot.
	Name           string         `json:"name"`
	Comment        string         `json:"comment,omitempty"`
	NameServers    []string       `json:"name_servers"`
	RecordSetCount int            `json:"record_set_count"`
	Settings       map[string]any `json:"settings"`
	ManagedBy      string         `json:"managed_by,omitempty"`
	CreatedAt      time.Time      `json:"created_at"`
}

// ZoneInput is what a hosted zone is made of; Name cannot change.
type ZoneInput struct {
	Name    string
	Comment string
	// Settings are the properties that are only recorded (tags, VPCs,
	// query logging).
	Settings map[string]any
}

// RecordSet is a record set: one name and type of a zone.
type RecordSet struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id"`
	ZoneID    string `json:"hosted_zone_id"`
	// Name is fully qualified, in lower case, with its final dot, as
	// Route 53 lists record sets.
	Name string `json:"name"`
	Type string `json:"type"`
	TTL  int    `json:"ttl,omitempty"`
	// Values are the ResourceRecords; empty for an alias record.
	Values    []string       `json:"resource_records,omitempty"`
	Alias     *AliasTarget   `json:"alias_target,omitempty"`
	Settings  map[string]any `json:"settings"`
	ManagedBy string         `json:"managed_by,omitempty"`
	CreatedAt time.Time      `json:"created_at"`
}

// AliasTarget is an alias record's target: a load balancer's DNS name.
type AliasTarget struct {
	// DNSName is stored without the port a load balancer's DNSName carries.
	DNSName              string `json:"dns_name"`
	HostedZoneID         string `json:"hosted_zone_id,omitempty"`
	EvaluateTargetHealth bool   `json:"evaluate_target_health,omitempty"`
}

// RecordSetInput is what a record set is made of. The zone (by ID or by
// name) and Name cannot change once it exists.
type RecordSetInput struct {
	ZoneID, ZoneName string
	// Name is fully qualified (final dot optional), "@" for the apex, or
	// one label ("www"), which is completed with the zone.
	Name string
	// Type is A, AAAA, CNAME or TXT.
	Type string
	// TTL is required with Values, and ignored for alias records.
	TTL    int
	Values []string
	Alias  *AliasTarget
	// Settings are the properties that are only recorded (routing
	// policies' weights, health checks, comments).
	Settings map[string]any
}

// supportedTypes are the record types the DNS server answers.
var supportedTypes = []string{"A", "AAAA", "CNAME", "TXT"}

// zoneID makes a hosted zone ID, Route 53's shape: "Z" and 20 capitals
// and digits, derived from managedBy when set (so a resumed create makes
// the same one), random otherwise.
func zoneID(managedBy string) string {
	var b []byte
	if managedBy != "" {
		sum := sha256.Sum256([]byte("dnssvc\x00zone\x00" + managedBy))
		b = sum[:]
	} else {
		b = make([]byte, 16)
		_, _ = rand.Read(b)
	}
	return "Z" + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)[:20]
}

// recordID makes a record set's row ID.
func recordID(managedBy string) string {
	if managedBy == "" {
		return store.NewID()
	}
	sum := sha256.Sum256([]byte("dnssvc\x00record\x00" + managedBy))
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:16]))
}

// normalizeZoneName checks a zone name and returns it fully qualified, in
// lower case.
func normalizeZoneName(name string) (string, error) {
	n := dns.Fqdn(strings.ToLower(strings.TrimSpace(name)))
	if _, ok := dns.IsDomainName(n); !ok || n == "." || strings.Contains(n, "*") {
		return "", fmt.Errorf("InvalidDomainName: %q is not a valid domain name for a hosted zone", name)
	}
	return n, nil
}

// qualify returns a record name of zone (fully qualified, lower case)
// fully qualified in lower case: names ending with the zone's stay, "@"
// or "" is the apex, one label is completed with the zone; anything else
// is outside the zone and refused with Route 53's words.
func qualify(name, zone string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.ReplaceAll(n, `\052`, "*") // Route 53's escape of "*"
	if n == "" || n == "@" {
		return zone, nil
	}
	bare, apex := strings.TrimSuffix(n, "."), strings.TrimSuffix(zone, ".")
	var fq string
	switch {
	case bare == apex || strings.HasSuffix(bare, "."+apex):
		fq = bare + "."
	case !strings.HasSuffix(n, ".") && !strings.Contains(bare, "."):
		fq = bare + "." + zone
	default:
		return "", fmt.Errorf("InvalidChangeBatch: [RRSet with DNS name %s. is not permitted in zone %s] (write a name that ends with %s, or a single label such as \"www\", which is completed with the zone)",
			bare, zone, apex)
	}
	if _, ok := dns.IsDomainName(fq); !ok {
		return "", fmt.Errorf("InvalidChangeBatch: [%s is not a valid DNS name]", name)
	}
	return fq, nil
}

// stripPort removes a ":PORT" suffix (a load balancer's DNSName carries
// one when port 80 maps to another local port) and a final dot's absence
// is kept as written.
func stripPort(name string) string {
	if host, port, err := net.SplitHostPort(name); err == nil && port != "" {
		return host
	}
	return name
}

// normalize checks a record set input on its own and fills its name in.
func (in *RecordSetInput) normalize(zoneName string) (string, error) {
	in.Type = strings.ToUpper(strings.TrimSpace(in.Type))
	if !slices.Contains(supportedTypes, in.Type) {
		return "", fmt.Errorf("record type %s is not supported by Slipway's DNS server: use %s, or an alias record (AliasTarget) to a load balancer",
			in.Type, strings.Join(supportedTypes, ", "))
	}
	name, err := qualify(in.Name, zoneName)
	if err != nil {
		return "", err
	}
	switch {
	case in.Alias != nil && len(in.Values) > 0:
		return "", errors.New("InvalidInput: Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords]], but found more than one")
	case in.Alias == nil && len(in.Values) == 0:
		return "", errors.New("InvalidInput: Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords]], but found none")
	case in.Alias != nil:
		if in.Type != "A" && in.Type != "AAAA" {
			return "", fmt.Errorf("an alias record of type %s is not supported: alias records here are of type A or AAAA and point at a load balancer", in.Type)
		}
		alias := *in.Alias
		alias.DNSName = strings.ToLower(stripPort(strings.TrimSpace(alias.DNSName)))
		in.Alias = &alias
		if alias.DNSName == "" {
			return "", errors.New("InvalidInput: AliasTarget.DNSName is required")
		}
		in.TTL = 0
	default:
		if in.TTL < 0 || in.TTL > 2147483647 {
			return "", fmt.Errorf("InvalidInput: TTL %d: want 0 to 2147483647", in.TTL)
		}
		if in.Type == "CNAME" {
			if len(in.Values) != 1 {
				return "", fmt.Errorf("InvalidChangeBatch: [RRSet of type CNAME with DNS name %s must have exactly one value]", name)
			}
			in.Values = []string{stripPort(strings.TrimSpace(in.Values[0]))}
		}
	}
	return name, nil
}

// encode writes JSON for a column; a nil map becomes {}.
func encode(v any) (string, error) {
	if m, ok := v.(map[string]any); ok && m == nil {
		return "{}", nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("not JSON: %w", err)
	}
	return string(b), nil
}

// decode reads stored JSON, numbers as json.Number.
func decode(raw string, v any) error {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(v)
}
