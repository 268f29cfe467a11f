// Package nameserver is the authoritative DNS server for Slipway's hosted
// zones (Route 53's local meaning). It is an engine with no database: the
// dns service hands it the current zones with [Server.Set] and it answers
// queries for them over UDP and TCP until its context ends.
//
// Answers follow an authoritative-only server: AA for names inside a zone,
// NXDOMAIN or NODATA with the zone's SOA in the authority section, CNAME
// chains followed through every served zone, wildcards as RFC 4592 says,
// and REFUSED (without recursion) for names outside every zone. Names are
// matched case-insensitively. All DNS encoding is done by
// github.com/miekg/dns.
//
// Each zone gets a synthesized SOA and NS at its apex, since hosted zones
// here carry no NS or SOA record sets of their own:
//
//	zone.  5  IN SOA localhost. hostmaster.zone. 1 7200 900 1209600 5
//	zone.  60 IN NS  localhost.
//
// The name server is "localhost." because it needs no glue and resolves to
// the loopback address the server normally binds. The serial is always 1,
// as in Route 53, because there are no secondaries to notify. The SOA TTL
// and minimum are 5 seconds (Route 53 uses 900 and 86400) because negative
// answers are cached for the smaller of the two, and locally a record is
// often queried just before it is created.
package nameserver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// Zone is one hosted zone: its apex name and its record sets.
type Zone struct {
	// Name is the apex, e.g. "staging.example.internal." (the final dot
	// may be left out).
	Name    string
	Records []Record
}

// Record is one record set of a zone.
type Record struct {
	// Name is the fully qualified owner name, inside the zone; a leftmost
	// label "*" makes it a wildcard (RFC 4592).
	Name string
	// Type is "A", "AAAA", "CNAME", "TXT" or "ALIAS".
	Type string
	// TTL is in seconds. ALIAS records with TTL 0 are answered with a TTL
	// of 60 seconds, what Route 53 gives a load balancer alias, since a
	// Route 53 alias record has no TTL of its own.
	TTL uint32
	// Values are IP addresses for A and AAAA; exactly one target name for
	// CNAME and ALIAS; for TXT, one record each, in Route 53's format (a
	// quoted string such as `"v=spf1 -all"`, or several; an unquoted value
	// is split on spaces into strings, as a zone file would).
	Values []string
}

// Type names of Record.Type.
const (
	TypeA     = "A"
	TypeAAAA  = "AAAA"
	TypeCNAME = "CNAME"
	TypeTXT   = "TXT"
	TypeALIAS = "ALIAS"
)

// Values of the synthesized SOA and NS records; see the package comment.
const (
	nsHost       = "localhost."
	soaTTL       = 5
	soaRefresh   = 7200
	soaRetry     = 900
	soaExpire    = 1209600
	soaMinimum   = 5
	nsTTL        = 60
	aliasTTL     = 60
	maxTXTLength = 4000 // Route 53's limit for one TXT value
)

// zoneIndex is a zone compiled for lookups: every name that exists, with
// the records already built, keyed by its lower-case form.
type zoneIndex struct {
	apex  string // lower case
	soa   dns.RR
	ns    dns.RR
	nodes map[string]*node
}

// node is one owner name. A node with no records is an empty non-terminal:
// it exists (so NODATA, not NXDOMAIN, and it blocks wildcards below it).
type node struct {
	name  string // as written, fully qualified
	a     []dns.RR
	aaaa  []dns.RR
	txt   []dns.RR
	cname *dns.CNAME
	alias *alias
}

// alias is an ALIAS record set, resolved through Server.Alias per query.
type alias struct {
	target string
	ttl    uint32
}

// Validate reports whether z can be served, with the first problem found:
// bad names, unknown types, values that do not parse, record sets of one
// name and type given twice, and combinations DNS forbids (a CNAME beside
// other records or at the apex; an ALIAS beside A or AAAA records).
func (z Zone) Validate() error {
	_, err := compile(z)
	return err
}

// compile builds the lookup form of z, validating it on the way.
func compile(z Zone) (*zoneIndex, error) {
	apexName := dns.Fqdn(z.Name)
	if _, ok := dns.IsDomainName(apexName); !ok || apexName == "." {
		return nil, fmt.Errorf("zone %q: not a domain name below the root", z.Name)
	}
	zi := &zoneIndex{apex: strings.ToLower(apexName), nodes: map[string]*node{}}
	zi.soa = &dns.SOA{
		Hdr:     dns.RR_Header{Name: apexName, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: soaTTL},
		Ns:      nsHost,
		Mbox:    "hostmaster." + apexName,
		Serial:  1,
		Refresh: soaRefresh,
		Retry:   soaRetry,
		Expire:  soaExpire,
		Minttl:  soaMinimum,
	}
	zi.ns = &dns.NS{
		Hdr: dns.RR_Header{Name: apexName, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: nsTTL},
		Ns:  nsHost,
	}
	zi.nodes[zi.apex] = &node{name: apexName}
	for _, r := range z.Records {
		if err := zi.add(r); err != nil {
			return nil, fmt.Errorf("zone %s: record %s %s: %w", apexName, r.Name, r.Type, err)
		}
	}
	return zi, nil
}

// add validates r and puts its records on their node, creating the node
// and the empty non-terminals between it and the apex.
func (zi *zoneIndex) add(r Record) error {
	name := dns.Fqdn(r.Name)
	if _, ok := dns.IsDomainName(name); !ok {
		return errors.New("not a domain name")
	}
	key := strings.ToLower(name)
	if !dns.IsSubDomain(zi.apex, key) {
		return errors.New("name is outside the zone")
	}
	if len(r.Values) == 0 {
		return errors.New("no values")
	}
	n := zi.nodes[key]
	if n == nil {
		n = &node{name: name}
		zi.nodes[key] = n
		// Ancestors up to the apex exist too (RFC 4592 section 2.2.2).
		for p := parent(key); p != zi.apex && dns.IsSubDomain(zi.apex, p); p = parent(p) {
			if zi.nodes[p] == nil {
				zi.nodes[p] = &node{name: p}
			}
		}
	}
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: r.TTL}
	}
	switch strings.ToUpper(r.Type) {
	case TypeA, TypeAAAA:
		v6 := strings.EqualFold(r.Type, TypeAAAA)
		if (!v6 && (n.a != nil || n.alias != nil)) || (v6 && (n.aaaa != nil || n.alias != nil)) {
			return errors.New("conflicts with another record set of this name")
		}
		family := "IPv4"
		if v6 {
			family = "IPv6"
		}
		var rrs []dns.RR
		for _, v := range r.Values {
			ip, err := netip.ParseAddr(v)
			if err != nil || ip.Zone() != "" || ip.Is4() == v6 {
				return fmt.Errorf("value %q is not an %s address", v, family)
			}
			if v6 {
				rrs = append(rrs, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: net.IP(ip.AsSlice())})
			} else {
				rrs = append(rrs, &dns.A{Hdr: hdr(dns.TypeA), A: net.IP(ip.AsSlice())})
			}
		}
		if v6 {
			n.aaaa = rrs
		} else {
			n.a = rrs
		}
	case TypeTXT:
		if n.txt != nil {
			return errors.New("duplicate record set")
		}
		for _, v := range r.Values {
			rr, err := parseTXT(v)
			if err != nil {
				return err
			}
			rr.Hdr = hdr(dns.TypeTXT)
			n.txt = append(n.txt, rr)
		}
	case TypeCNAME, TypeALIAS:
		if len(r.Values) != 1 {
			return errors.New("needs exactly one target")
		}
		target := dns.Fqdn(r.Values[0])
		if _, ok := dns.IsDomainName(target); !ok {
			return fmt.Errorf("target %q is not a domain name", r.Values[0])
		}
		if strings.EqualFold(r.Type, TypeALIAS) {
			if n.alias != nil || n.a != nil || n.aaaa != nil {
				return errors.New("conflicts with another record set of this name")
			}
			ttl := r.TTL
			if ttl == 0 {
				ttl = aliasTTL
			}
			n.alias = &alias{target: r.Values[0], ttl: ttl}
		} else {
			if key == zi.apex {
				return errors.New("a CNAME cannot be at the zone apex")
			}
			n.cname = &dns.CNAME{Hdr: hdr(dns.TypeCNAME), Target: target}
		}
	default:
		return errors.New("unsupported type (want A, AAAA, CNAME, TXT or ALIAS)")
	}
	if n.cname != nil && (n.a != nil || n.aaaa != nil || n.txt != nil || n.alias != nil) {
		return errors.New("a CNAME cannot share its name with other records")
	}
	return nil
}

// parseTXT reads one TXT value in zone-file form with the library's parser,
// so quoting and escapes mean what they mean in Route 53 and zone files.
func parseTXT(v string) (*dns.TXT, error) {
	if len(v) > maxTXTLength || strings.ContainsAny(v, "\r\n") {
		return nil, fmt.Errorf("TXT value %.40q: longer than %d bytes or has a line break", v, maxTXTLength)
	}
	if !strings.HasPrefix(v, `"`) && strings.Contains(v, ";") {
		// Unquoted, the parser would take the rest as a comment and drop it.
		return nil, fmt.Errorf("TXT value %q: quote a value that has ';'", v)
	}
	rr, err := dns.NewRR(". 0 IN TXT " + v)
	if err != nil {
		return nil, fmt.Errorf("TXT value %q: %w", v, err)
	}
	txt, ok := rr.(*dns.TXT)
	if !ok || len(txt.Txt) == 0 {
		return nil, fmt.Errorf("TXT value %q: not one TXT record", v)
	}
	return txt, nil
}

// parent returns the lower-case name one label up from a fully qualified
// name ("." for a top-level name).
func parent(name string) string {
	if off, end := dns.NextLabel(name, 0); !end {
		return name[off:]
	}
	return "."
}
