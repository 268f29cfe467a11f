package nameserver

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"

	"github.com/miekg/dns"
)

const (
	// maxChase bounds a CNAME chain inside the served zones, which may
	// loop; resolvers give up on longer chains anyway.
	maxChase = 8
	// ednsSize is the UDP payload size this server advertises in its
	// OPT record: the DNS flag day 2020 value, which avoids fragmentation.
	ednsSize = 1232
)

// errUnknownAlias marks an ALIAS record whose target Server.Alias does not
// know, answered with SERVFAIL.
var errUnknownAlias = errors.New("unknown alias target")

// ServeDNS answers one query. The library calls it on its own goroutines,
// after rejecting malformed messages, other opcodes and messages without
// exactly one question.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := s.answer(req)
	_, udp := w.RemoteAddr().(*net.UDPAddr)
	size := dns.MaxMsgSize
	if udp {
		size = dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			// The client's size is what it can take; ednsSize only
			// says what this server takes, so it is no cap here.
			size = int(opt.UDPSize())
		}
	}
	// Truncate drops what does not fit and sets TC, so a UDP client
	// retries over TCP.
	m.Truncate(size)
	if err := w.WriteMsg(m); err != nil {
		s.logger().Warn("nameserver: write answer", "client", w.RemoteAddr().String(), "err", err)
	}
	if s.Log != nil && s.Log.Enabled(context.Background(), slog.LevelDebug) {
		q := req.Question[0]
		s.Log.Debug("nameserver: query", "name", q.Name, "type", dns.TypeToString[q.Qtype],
			"rcode", dns.RcodeToString[m.Rcode], "answers", len(m.Answer), "tc", m.Truncated)
	}
}

// answer builds the reply to req from the current zones.
func (s *Server) answer(req *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(ednsSize, false)
		if opt.Version() != 0 {
			m.Rcode = dns.RcodeBadVers
			return m
		}
	}
	q := req.Question[0]
	set := s.zones.Load()
	if set == nil || (q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY) {
		m.Rcode = dns.RcodeRefused
		return m
	}
	zone := set.zoneFor(strings.ToLower(q.Name))
	if zone == nil {
		// Not ours, and there is no recursion: RA stays unset.
		m.Rcode = dns.RcodeRefused
		return m
	}
	m.Authoritative = true

	owner := q.Name
	for hop := 0; ; hop++ {
		n, synthesized := zone.lookup(strings.ToLower(owner))
		if n == nil {
			m.Rcode = dns.RcodeNameError
			m.Ns = []dns.RR{zone.soa}
			return m
		}
		// ANY matches the CNAME itself, so only other types follow it.
		if n.cname != nil && q.Qtype != dns.TypeCNAME && q.Qtype != dns.TypeANY {
			m.Answer = append(m.Answer, withOwner(n.cname, owner, synthesized))
			target := n.cname.Target
			next := set.zoneFor(strings.ToLower(target))
			// A target outside the served zones is left to the
			// resolver, as is one that would loop or run too long.
			if next == nil || hop == maxChase || answered(m, target) {
				return m
			}
			zone, owner = next, target
			continue
		}
		rrs, err := s.records(zone, n, q.Qtype)
		if err != nil {
			s.logger().Warn("nameserver: alias", "name", owner, "target", n.alias.target, "err", err)
			m.Rcode = dns.RcodeServerFailure
			return m
		}
		if len(rrs) == 0 {
			m.Ns = []dns.RR{zone.soa} // NODATA
			return m
		}
		for _, rr := range rrs {
			m.Answer = append(m.Answer, withOwner(rr, owner, synthesized))
		}
		return m
	}
}

// zoneFor returns the most specific zone holding the lower-case name, or nil.
func (set *zoneSet) zoneFor(name string) *zoneIndex {
	for off, end := 0, false; !end; off, end = dns.NextLabel(name, off) {
		if z := set.byApex[name[off:]]; z != nil {
			return z
		}
	}
	return nil
}

// lookup finds the node for a lower-case name of the zone, or the wildcard
// node that synthesizes it (RFC 4592: "*" below the closest encloser, the
// longest existing ancestor); nil means the name does not exist.
func (zi *zoneIndex) lookup(name string) (n *node, synthesized bool) {
	if n := zi.nodes[name]; n != nil {
		return n, false
	}
	for encloser := parent(name); dns.IsSubDomain(zi.apex, encloser); encloser = parent(encloser) {
		if zi.nodes[encloser] != nil {
			return zi.nodes["*."+encloser], true
		}
	}
	return nil, false
}

// records returns the records of n that answer qtype; ALIAS records are
// resolved now, into A and AAAA records named as the alias.
func (s *Server) records(zone *zoneIndex, n *node, qtype uint16) ([]dns.RR, error) {
	apex := strings.EqualFold(n.name, zone.apex)
	var rrs []dns.RR
	if (qtype == dns.TypeSOA || qtype == dns.TypeANY) && apex {
		rrs = append(rrs, zone.soa)
	}
	if (qtype == dns.TypeNS || qtype == dns.TypeANY) && apex {
		rrs = append(rrs, zone.ns)
	}
	if qtype == dns.TypeA || qtype == dns.TypeANY {
		rrs = append(rrs, n.a...)
	}
	if qtype == dns.TypeAAAA || qtype == dns.TypeANY {
		rrs = append(rrs, n.aaaa...)
	}
	if qtype == dns.TypeTXT || qtype == dns.TypeANY {
		rrs = append(rrs, n.txt...)
	}
	if n.cname != nil && (qtype == dns.TypeCNAME || qtype == dns.TypeANY) {
		rrs = append(rrs, n.cname)
	}
	if n.alias != nil && (qtype == dns.TypeA || qtype == dns.TypeAAAA || qtype == dns.TypeANY) {
		if s.Alias == nil {
			return nil, errUnknownAlias
		}
		ips, ok := s.Alias(n.alias.target)
		if !ok {
			return nil, errUnknownAlias
		}
		for _, ip := range ips {
			ip = ip.Unmap()
			hdr := dns.RR_Header{Name: n.name, Class: dns.ClassINET, Ttl: n.alias.ttl}
			switch {
			case ip.Is4() && qtype != dns.TypeAAAA:
				hdr.Rrtype = dns.TypeA
				rrs = append(rrs, &dns.A{Hdr: hdr, A: net.IP(ip.AsSlice())})
			case ip.Is6() && qtype != dns.TypeA:
				hdr.Rrtype = dns.TypeAAAA
				rrs = append(rrs, &dns.AAAA{Hdr: hdr, AAAA: net.IP(ip.AsSlice())})
			}
		}
	}
	return rrs, nil
}

// withOwner returns rr as an answer for owner: rr itself (records are
// shared, and packing only reads them), or a copy renamed to the query
// name when a wildcard synthesized it.
func withOwner(rr dns.RR, owner string, synthesized bool) dns.RR {
	if !synthesized {
		return rr
	}
	c := dns.Copy(rr)
	c.Header().Name = owner
	return c
}

// answered reports whether m already has records owned by name, which
// means a CNAME chain has come back on itself.
func answered(m *dns.Msg, name string) bool {
	for _, rr := range m.Answer {
		if strings.EqualFold(rr.Header().Name, name) {
			return true
		}
	}
	return false
}
