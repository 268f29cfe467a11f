package nameserver

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const zoneName = "staging.example.internal."

// testZones is a zone with one of each kind of record, and a second zone
// that a CNAME chain crosses into.
func testZones() []Zone {
	return []Zone{
		{Name: zoneName, Records: []Record{
			{Name: "app." + zoneName, Type: "A", TTL: 30, Values: []string{"10.0.0.1", "10.0.0.2"}},
			{Name: "app." + zoneName, Type: "AAAA", TTL: 30, Values: []string{"fd00::1"}},
			{Name: "app." + zoneName, Type: "TXT", TTL: 30, Values: []string{`"hello world"`, "v=1"}},
			{Name: "www." + zoneName, Type: "CNAME", TTL: 30, Values: []string{"app." + zoneName}},
			{Name: "other." + zoneName, Type: "CNAME", TTL: 30, Values: []string{"db.prod.example.internal."}},
			{Name: "ext." + zoneName, Type: "CNAME", TTL: 30, Values: []string{"example.com."}},
			{Name: "dangling." + zoneName, Type: "CNAME", TTL: 30, Values: []string{"gone." + zoneName}},
			{Name: "loop1." + zoneName, Type: "CNAME", TTL: 30, Values: []string{"loop2." + zoneName}},
			{Name: "loop2." + zoneName, Type: "CNAME", TTL: 30, Values: []string{"loop1." + zoneName}},
			{Name: "web." + zoneName, Type: "ALIAS", Values: []string{"web.lb.localhost"}},
			{Name: zoneName, Type: "ALIAS", TTL: 20, Values: []string{"web.lb.localhost"}},
			{Name: "broken." + zoneName, Type: "ALIAS", Values: []string{"missing.lb.localhost"}},
			{Name: "*.apps." + zoneName, Type: "A", TTL: 30, Values: []string{"10.0.1.1"}},
			{Name: "fixed.apps." + zoneName, Type: "TXT", TTL: 30, Values: []string{"fixed"}},
			{Name: "deep.ent." + zoneName, Type: "A", TTL: 30, Values: []string{"10.0.2.1"}},
		}},
		{Name: "prod.example.internal", Records: []Record{
			{Name: "db.prod.example.internal", Type: "A", TTL: 30, Values: []string{"10.9.0.1"}},
		}},
	}
}

// startServer runs a server on a free port until the test ends.
func startServer(t testing.TB, zones []Zone) *Server {
	t.Helper()
	s := &Server{
		Addr: "127.0.0.1:0",
		Alias: func(target string) ([]netip.Addr, bool) {
			if target != "web.lb.localhost" {
				return nil, false
			}
			return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}, true
		},
	}
	if err := s.Set(zones); err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s
}

// query asks addr over net ("udp" or "tcp") with the library's client.
func query(t testing.TB, net, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Net: net, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", net, name, dns.TypeToString[qtype], err)
	}
	return r
}

// answers renders the answer section compactly, e.g. "app.x. A 10.0.0.1".
func answers(r *dns.Msg) []string {
	var out []string
	for _, rr := range r.Answer {
		f := strings.Fields(rr.String())
		out = append(out, f[0]+" "+f[3]+" "+strings.Join(f[4:], " "))
	}
	return out
}

func wantAnswers(t *testing.T, r *dns.Msg, want ...string) {
	t.Helper()
	got := answers(r)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("answers:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func wantRcode(t *testing.T, r *dns.Msg, rcode int, aa bool) {
	t.Helper()
	if r.Rcode != rcode || r.Authoritative != aa || r.RecursionAvailable {
		t.Errorf("rcode %s aa %v ra %v, want %s aa %v ra false",
			dns.RcodeToString[r.Rcode], r.Authoritative, r.RecursionAvailable, dns.RcodeToString[rcode], aa)
	}
}

// wantSOA checks that the authority section is just the SOA of apex.
func wantSOA(t *testing.T, r *dns.Msg, apex string) {
	t.Helper()
	if len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA || r.Ns[0].Header().Name != apex {
		t.Errorf("authority %v, want the SOA of %s", r.Ns, apex)
	}
}

func TestAnswers(t *testing.T) {
	s := startServer(t, testZones())
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			q := func(name string, qtype uint16) *dns.Msg { return query(t, network, s.BoundAddr(), name, qtype) }

			r := q("app."+zoneName, dns.TypeA)
			wantRcode(t, r, dns.RcodeSuccess, true)
			wantAnswers(t, r, "app.staging.example.internal. A 10.0.0.1", "app.staging.example.internal. A 10.0.0.2")

			wantAnswers(t, q("app."+zoneName, dns.TypeAAAA), "app.staging.example.internal. AAAA fd00::1")
			wantAnswers(t, q("app."+zoneName, dns.TypeTXT),
				`app.staging.example.internal. TXT "hello world"`, `app.staging.example.internal. TXT "v=1"`)

			// CNAME chase inside the zone, and into another served zone.
			wantAnswers(t, q("www."+zoneName, dns.TypeA),
				"www.staging.example.internal. CNAME app.staging.example.internal.",
				"app.staging.example.internal. A 10.0.0.1", "app.staging.example.internal. A 10.0.0.2")
			wantAnswers(t, q("other."+zoneName, dns.TypeA),
				"other.staging.example.internal. CNAME db.prod.example.internal.",
				"db.prod.example.internal. A 10.9.0.1")
			// A CNAME query gets the CNAME alone; a target outside is left to the resolver.
			wantAnswers(t, q("www."+zoneName, dns.TypeCNAME), "www.staging.example.internal. CNAME app.staging.example.internal.")
			r = q("ext."+zoneName, dns.TypeA)
			wantRcode(t, r, dns.RcodeSuccess, true)
			wantAnswers(t, r, "ext.staging.example.internal. CNAME example.com.")
			// A chain to a missing name is NXDOMAIN (RFC 6604), a loop stops.
			r = q("dangling."+zoneName, dns.TypeA)
			wantRcode(t, r, dns.RcodeNameError, true)
			wantAnswers(t, r, "dangling.staging.example.internal. CNAME gone.staging.example.internal.")
			wantAnswers(t, q("loop1."+zoneName, dns.TypeA),
				"loop1.staging.example.internal. CNAME loop2.staging.example.internal.",
				"loop2.staging.example.internal. CNAME loop1.staging.example.internal.")

			// ALIAS to a load balancer, also at the apex.
			wantAnswers(t, q("web."+zoneName, dns.TypeA), "web.staging.example.internal. A 127.0.0.1")
			wantAnswers(t, q("web."+zoneName, dns.TypeAAAA), "web.staging.example.internal. AAAA ::1")
			r = q(zoneName, dns.TypeA)
			wantAnswers(t, r, "staging.example.internal. A 127.0.0.1")
			if r.Answer[0].Header().Ttl != 20 {
				t.Errorf("alias TTL %d, want 20", r.Answer[0].Header().Ttl)
			}
			wantRcode(t, q("broken."+zoneName, dns.TypeA), dns.RcodeServerFailure, true)

			// NXDOMAIN and NODATA carry the SOA.
			r = q("nope."+zoneName, dns.TypeA)
			wantRcode(t, r, dns.RcodeNameError, true)
			wantAnswers(t, r)
			wantSOA(t, r, zoneName)
			r = q("app."+zoneName, dns.TypeMX)
			wantRcode(t, r, dns.RcodeSuccess, true)
			wantAnswers(t, r)
			wantSOA(t, r, zoneName)
			// An empty non-terminal exists: NODATA, not NXDOMAIN.
			r = q("ent."+zoneName, dns.TypeA)
			wantRcode(t, r, dns.RcodeSuccess, true)
			wantSOA(t, r, zoneName)

			// Synthesized SOA and NS at the apex.
			wantAnswers(t, q(zoneName, dns.TypeSOA),
				"staging.example.internal. SOA localhost. hostmaster.staging.example.internal. 1 7200 900 1209600 5")
			wantAnswers(t, q(zoneName, dns.TypeNS), "staging.example.internal. NS localhost.")

			// Outside every zone: REFUSED, not authoritative, no recursion.
			r = q("example.com.", dns.TypeA)
			wantRcode(t, r, dns.RcodeRefused, false)
			wantRcode(t, q("internal.", dns.TypeA), dns.RcodeRefused, false)

			// Names are case-insensitive.
			r = q("APP.Staging.EXAMPLE.internal.", dns.TypeA)
			wantRcode(t, r, dns.RcodeSuccess, true)
			if len(r.Answer) != 2 {
				t.Errorf("mixed-case query: %v", answers(r))
			}
		})
	}
}

func TestWildcard(t *testing.T) {
	s := startServer(t, testZones())
	q := func(name string, qtype uint16) *dns.Msg { return query(t, "udp", s.BoundAddr(), name, qtype) }
	// Synthesized with the query name as owner.
	wantAnswers(t, q("anything.apps."+zoneName, dns.TypeA), "anything.apps.staging.example.internal. A 10.0.1.1")
	// Not below the closest encloser's "*": x.y.apps has closest encloser apps, so it matches too.
	wantAnswers(t, q("x.y.apps."+zoneName, dns.TypeA), "x.y.apps.staging.example.internal. A 10.0.1.1")
	// An existing name is not synthesized (NODATA for its missing type).
	r := q("fixed.apps."+zoneName, dns.TypeA)
	wantRcode(t, r, dns.RcodeSuccess, true)
	wantAnswers(t, r)
	// Below an existing name without its own "*": NXDOMAIN (RFC 4592 section 2.2.1).
	wantRcode(t, q("sub.fixed.apps."+zoneName, dns.TypeA), dns.RcodeNameError, true)
	// The apex has no "*", so other names are not covered.
	wantRcode(t, q("apps2."+zoneName, dns.TypeA), dns.RcodeNameError, true)
}

func TestZoneUpdateShowsOnNextQuery(t *testing.T) {
	s := startServer(t, testZones())
	r := query(t, "udp", s.BoundAddr(), "new."+zoneName, dns.TypeA)
	wantRcode(t, r, dns.RcodeNameError, true)

	zones := testZones()
	zones[0].Records = append(zones[0].Records, Record{Name: "new." + zoneName, Type: "A", TTL: 5, Values: []string{"10.0.0.9"}})
	if err := s.Set(zones); err != nil {
		t.Fatal(err)
	}
	wantAnswers(t, query(t, "udp", s.BoundAddr(), "new."+zoneName, dns.TypeA), "new.staging.example.internal. A 10.0.0.9")

	// An invalid set is refused and the previous zones stay.
	bad := append(testZones(), Zone{Name: "x.internal.", Records: []Record{{Name: "a.x.internal.", Type: "A", Values: []string{"nope"}}}})
	if err := s.Set(bad); err == nil {
		t.Fatal("Set accepted a bad A value")
	}
	wantAnswers(t, query(t, "tcp", s.BoundAddr(), "new."+zoneName, dns.TypeA), "new.staging.example.internal. A 10.0.0.9")

	if err := s.Set(nil); err != nil {
		t.Fatal(err)
	}
	wantRcode(t, query(t, "udp", s.BoundAddr(), "app."+zoneName, dns.TypeA), dns.RcodeRefused, false)
}

func TestTruncationAndEDNS(t *testing.T) {
	var values []string
	for i := range 100 {
		values = append(values, fmt.Sprintf("10.1.%d.%d", i/250, i%250+1))
	}
	s := startServer(t, []Zone{{Name: zoneName, Records: []Record{{Name: "big." + zoneName, Type: "A", TTL: 5, Values: values}}}})

	// Plain UDP: 512 bytes, so TC.
	r := query(t, "udp", s.BoundAddr(), "big."+zoneName, dns.TypeA)
	r.Compress = true // as sent, so Len measures the wire size
	if !r.Truncated || r.Len() > dns.MinMsgSize {
		t.Errorf("plain UDP: tc %v, %d bytes", r.Truncated, r.Len())
	}
	// EDNS0 with room for all: no TC, and the OPT echoed.
	m := new(dns.Msg)
	m.SetQuestion("big."+zoneName, dns.TypeA)
	m.SetEdns0(4096, false)
	c := &dns.Client{Net: "udp", UDPSize: 4096}
	r, _, err := c.Exchange(m, s.BoundAddr())
	if err != nil {
		t.Fatal(err)
	}
	if r.Truncated || len(r.Answer) != 100 || r.IsEdns0() == nil {
		t.Errorf("EDNS0 4096: tc %v, %d answers, opt %v", r.Truncated, len(r.Answer), r.IsEdns0())
	}
	// TCP: everything.
	r = query(t, "tcp", s.BoundAddr(), "big."+zoneName, dns.TypeA)
	if r.Truncated || len(r.Answer) != 100 {
		t.Errorf("TCP: tc %v, %d answers", r.Truncated, len(r.Answer))
	}
	// EDNS version 1 is BADVERS.
	m.IsEdns0().SetVersion(1)
	r, _, err = c.Exchange(m, s.BoundAddr())
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode != dns.RcodeBadVers {
		t.Errorf("EDNS1: rcode %s", dns.RcodeToString[r.Rcode])
	}
}

func TestRunStopsWhenContextEnds(t *testing.T) {
	s := &Server{Addr: "127.0.0.1:0"}
	if err := s.Set(testZones()); err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	addr := s.BoundAddr()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	query(t, "udp", addr, "app."+zoneName, dns.TypeA)
	// An idle TCP connection must not hold Run open.
	conn, err := dns.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	c := &dns.Client{Net: "tcp", Timeout: 500 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion("app."+zoneName, dns.TypeA)
	if _, _, err := c.Exchange(m, addr); err == nil {
		t.Error("TCP still answers after Run returned")
	}
}

func TestRunStopsBeforeServing(t *testing.T) {
	// Cancelled before the library servers have started: Run must not hang.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := &Server{Addr: "127.0.0.1:0"}
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestListenErrors(t *testing.T) {
	busy := startServer(t, nil)
	for _, addr := range []string{"no-port", busy.BoundAddr()} {
		if err := (&Server{Addr: addr}).Run(context.Background()); err == nil {
			t.Errorf("Run on %q: no error", addr)
		}
	}
}

func TestValidate(t *testing.T) {
	bad := []Zone{
		{Name: "."},
		{Name: "z.", Records: []Record{{Name: "a.other.", Type: "A", Values: []string{"10.0.0.1"}}}},
		{Name: "z.", Records: []Record{{Name: "a.z.", Type: "A", Values: []string{"fd00::1"}}}},
		{Name: "z.", Records: []Record{{Name: "a.z.", Type: "AAAA", Values: []string{"10.0.0.1"}}}},
		{Name: "z.", Records: []Record{{Name: "a.z.", Type: "MX", Values: []string{"10 mx.z."}}}},
		{Name: "z.", Records: []Record{{Name: "a.z.", Type: "A"}}},
		{Name: "z.", Records: []Record{{Name: "z.", Type: "CNAME", Values: []string{"a.z."}}}},
		{Name: "z.", Records: []Record{{Name: "a.z.", Type: "CNAME", Values: []string{"b.z.", "c.z."}}}},
		{Name: "z.", Records: []Record{
			{Name: "a.z.", Type: "CNAME", Values: []string{"b.z."}},
			{Name: "a.z.", Type: "TXT", Values: []string{"x"}}}},
		{Name: "z.", Records: []Record{
			{Name: "a.z.", Type: "ALIAS", Values: []string{"lb"}},
			{Name: "a.z.", Type: "A", Values: []string{"10.0.0.1"}}}},
		{Name: "z.", Records: []Record{
			{Name: "a.z.", Type: "A", Values: []string{"10.0.0.1"}},
			{Name: "A.z.", Type: "A", Values: []string{"10.0.0.2"}}}},
		{Name: "z.", Records: []Record{{Name: "a.z.", Type: "TXT", Values: []string{"a;b"}}}},
		{Name: "z.", Records: []Record{{Name: "a.z.", Type: "TXT", Values: []string{"line\nbreak"}}}},
	}
	for _, z := range bad {
		if err := z.Validate(); err == nil {
			t.Errorf("Validate accepted %+v", z)
		}
	}
	for _, z := range testZones() {
		if err := z.Validate(); err != nil {
			t.Error(err)
		}
	}
	s := &Server{}
	if err := s.Set([]Zone{{Name: "z."}, {Name: "Z"}}); err == nil {
		t.Error("Set accepted the same zone twice")
	}
}

func BenchmarkQueryUDP(b *testing.B) {
	s := startServer(b, testZones())
	addr := s.BoundAddr()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := dns.Dial("udp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		m := new(dns.Msg)
		m.SetQuestion("app."+zoneName, dns.TypeA)
		for pb.Next() {
			if err := conn.WriteMsg(m); err != nil {
				b.Error(err)
				return
			}
			r, err := conn.ReadMsg()
			if err != nil || len(r.Answer) != 2 {
				b.Errorf("answer %v, err %v", r, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
}
