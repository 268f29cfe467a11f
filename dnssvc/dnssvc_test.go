package dnssvc

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

func project(t *testing.T, db *store.DB, name string) string {
	t.Helper()
	id := store.NewID()
	if _, err := db.ExecContext(context.Background(),
		"INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)", id, name, store.Millis(time.Now())); err != nil {
		t.Fatal(err)
	}
	return id
}

// aliasLog records what the service tells the load balancer service.
type aliasLog struct {
	mu   sync.Mutex
	last map[string]string
}

func (a *aliasLog) set(m map[string]string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.last = m
}

func (a *aliasLog) get() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

// lbAddrs answers alias targets as the load balancer service would, for
// the one load balancer "web".
func lbAddrs(target string) ([]netip.Addr, bool) {
	if strings.TrimSuffix(strings.TrimPrefix(target, "dualstack."), ".") != "web.lb.localhost" {
		return nil, false
	}
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, true
}

// start runs a service over db until the test ends.
func start(t *testing.T, db *store.DB, listen string, aliases *aliasLog) *Service {
	t.Helper()
	s, err := New(db, Config{Listen: listen, AliasAddrs: lbAddrs, OnAliasesChanged: aliases.set,
		Log: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s
}

func TestZonesAndRecordSets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		aliases := &aliasLog{}
		s := start(t, db, "", aliases)
		pid, other := project(t, db, "acme"), project(t, db, "other")

		z, err := s.CreateZone(ctx, pid, "tok-zone", ZoneInput{Name: "Staging.Example.Internal", Comment: "staging"})
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^Z[A-Z0-9]{20}$`).MatchString(z.ID) || z.Name != "staging.example.internal." ||
			!reflect.DeepEqual(z.NameServers, []string{"localhost"}) || z.Comment != "staging" {
			t.Errorf("zone %+v", z)
		}
		if again, err := s.CreateZone(ctx, pid, "tok-zone", ZoneInput{Name: "staging.example.internal."}); err != nil || again.ID != z.ID {
			t.Errorf("resumed create: %+v %v", again, err)
		}
		for _, tc := range []struct{ project, token string }{{pid, "tok-2"}, {other, "tok-zone"}, {pid, ""}} {
			if _, err := s.CreateZone(ctx, tc.project, tc.token, ZoneInput{Name: "staging.example.internal"}); !errors.Is(err, store.ErrConflict) {
				t.Errorf("taken zone name %+v: %v", tc, err)
			}
		}
		if _, err := s.CreateZone(ctx, pid, "", ZoneInput{Name: "bad..name"}); err == nil {
			t.Error("an invalid zone name was accepted")
		}
		for _, ref := range []string{z.ID, "/hostedzone/" + z.ID, "staging.example.internal", "STAGING.example.internal."} {
			if got, err := s.Zone(ctx, pid, ref); err != nil || got.ID != z.ID {
				t.Errorf("Zone(%s) = %+v %v", ref, got, err)
			}
		}
		if _, err := s.Zone(ctx, other, z.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("another project sees the zone: %v", err)
		}

		a, err := s.CreateRecordSet(ctx, pid, "tok-a", RecordSetInput{ZoneID: z.ID, Name: "app", Type: "a", TTL: 60, Values: []string{"10.0.0.1"}})
		if err != nil {
			t.Fatal(err)
		}
		if a.Name != "app.staging.example.internal." || a.Type != "A" || a.ZoneID != z.ID {
			t.Errorf("record %+v", a)
		}
		if again, err := s.CreateRecordSet(ctx, pid, "tok-a", RecordSetInput{ZoneID: z.ID, Name: "app.staging.example.internal.", Type: "A", TTL: 60, Values: []string{"10.0.0.1"}}); err != nil || again.ID != a.ID {
			t.Errorf("resumed record create: %+v %v", again, err)
		}
		if _, err := s.CreateRecordSet(ctx, pid, "", RecordSetInput{ZoneName: "staging.example.internal.", Name: "APP.staging.example.internal", Type: "A", TTL: 60, Values: []string{"10.0.0.2"}}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("a second A record set of the name: %v", err)
		}
		for _, tc := range []struct {
			in   RecordSetInput
			want string
		}{
			{RecordSetInput{Name: "www.other.com", Type: "A", TTL: 1, Values: []string{"10.0.0.1"}}, "RRSet with DNS name www.other.com. is not permitted in zone staging.example.internal."},
			{RecordSetInput{Name: "mail", Type: "MX", TTL: 1, Values: []string{"10 mx"}}, "MX is not supported"},
			{RecordSetInput{Name: "app", Type: "CNAME", TTL: 1, Values: []string{"x.example.com"}}, "InvalidChangeBatch"},
			{RecordSetInput{Name: "bad", Type: "A", TTL: 1, Values: []string{"fd00::1"}}, "not an IPv4 address"},
			{RecordSetInput{Name: "both", Type: "A", TTL: 1, Values: []string{"10.0.0.1"}, Alias: &AliasTarget{DNSName: "web.lb.localhost"}}, "Expected exactly one of"},
			{RecordSetInput{Name: "lost", Type: "A", Alias: &AliasTarget{DNSName: "nosuch.lb.localhost"}}, "alias target name does not lie within the target zone"},
		} {
			tc.in.ZoneID = z.ID
			if _, err := s.CreateRecordSet(ctx, pid, "", tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%+v: %v, want an error saying %q", tc.in, err, tc.want)
			}
		}
		if rs, _ := s.RecordSets(ctx, pid, z.ID); len(rs) != 1 {
			t.Errorf("refused record sets were stored: %+v", rs)
		}

		web, err := s.CreateRecordSet(ctx, pid, "tok-web", RecordSetInput{ZoneID: z.ID, Name: "web.staging.example.internal", Type: "A",
			Alias: &AliasTarget{DNSName: "web.lb.localhost:8081", HostedZoneID: "ZSLIPWAYLB0LOCAL"}})
		if err != nil {
			t.Fatal(err)
		}
		if web.Alias == nil || web.Alias.DNSName != "web.lb.localhost" || web.TTL != 0 || len(web.Values) != 0 {
			t.Errorf("alias record %+v", web)
		}
		if _, err := s.CreateRecordSet(ctx, pid, "", RecordSetInput{ZoneID: z.ID, Name: "www", Type: "CNAME", TTL: 30, Values: []string{"web.lb.localhost:8081"}}); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"web.staging.example.internal": "web.lb.localhost", "www.staging.example.internal": "web.lb.localhost"}
		if got := aliases.get(); !reflect.DeepEqual(got, want) {
			t.Errorf("aliases told: %v, want %v", got, want)
		}

		upd, err := s.UpdateRecordSet(ctx, pid, a.ID, RecordSetInput{ZoneID: z.ID, Name: "app", Type: "TXT", TTL: 30, Values: []string{`"hello"`}})
		if err != nil || upd.Type != "TXT" || upd.Values[0] != `"hello"` {
			t.Fatalf("update record set: %+v %v", upd, err)
		}
		if _, err := s.UpdateRecordSet(ctx, pid, a.ID, RecordSetInput{ZoneID: z.ID, Name: "other", Type: "TXT", TTL: 30, Values: []string{"x"}}); err == nil {
			t.Error("a record set was renamed in place")
		}
		if got, err := s.RecordSetManaged(ctx, pid, "tok-web"); err != nil || got.ID != web.ID {
			t.Errorf("RecordSetManaged: %+v %v", got, err)
		}

		if err := s.DeleteZone(ctx, pid, z.ID); err == nil || !strings.Contains(err.Error(), "HostedZoneNotEmpty") {
			t.Errorf("delete of a zone with records: %v", err)
		}
		rs, err := s.RecordSets(ctx, pid, z.ID)
		if err != nil || len(rs) != 3 {
			t.Fatalf("record sets: %+v %v", rs, err)
		}
		for _, r := range rs {
			for range 2 {
				if err := s.DeleteRecordSet(ctx, pid, r.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		if got := aliases.get(); len(got) != 0 {
			t.Errorf("aliases after the records went: %v", got)
		}
		if upd, err := s.UpdateZone(ctx, pid, z.ID, ZoneInput{Name: z.Name, Comment: "new"}); err != nil || upd.Comment != "new" {
			t.Errorf("update zone: %+v %v", upd, err)
		}
		for range 2 {
			if err := s.DeleteZone(ctx, pid, z.ID); err != nil {
				t.Fatal(err)
			}
		}
		if zs, _ := s.Zones(ctx, pid); len(zs) != 0 {
			t.Errorf("zones left: %+v", zs)
		}
	})
}

// TestDNS_TheServerAnswersTheRecords queries the real DNS server with a
// DNS client for each kind of record.
func TestDNS_TheServerAnswersTheRecords(t *testing.T) {
	db := storetest.SQLite(t)
	ctx := context.Background()
	s := start(t, db, "127.0.0.1:0", &aliasLog{})
	addr := s.Addr()
	if addr == "" || strings.HasSuffix(addr, ":0") {
		t.Fatalf("Addr() = %q", addr)
	}
	pid := project(t, db, "acme")
	z, err := s.CreateZone(ctx, pid, "", ZoneInput{Name: "staging.example.internal"})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []RecordSetInput{
		{Name: "app", Type: "A", TTL: 30, Values: []string{"10.0.0.1", "10.0.0.2"}},
		{Name: "www", Type: "CNAME", TTL: 30, Values: []string{"app.staging.example.internal"}},
		{Name: "app", Type: "TXT", TTL: 30, Values: []string{`"v=1 hello"`}},
		{Name: "web", Type: "A", Alias: &AliasTarget{DNSName: "dualstack.web.lb.localhost:8081"}},
	} {
		in.ZoneID = z.ID
		if _, err := s.CreateRecordSet(ctx, pid, "", in); err != nil {
			t.Fatal(err)
		}
	}
	c := &dns.Client{Timeout: 5 * time.Second}
	query := func(name string, qtype uint16) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		r, _, err := c.Exchange(m, addr)
		if err != nil {
			t.Fatalf("query %s: %v", name, err)
		}
		return r
	}
	answers := func(r *dns.Msg) []string {
		var out []string
		for _, rr := range r.Answer {
			out = append(out, strings.ReplaceAll(rr.String(), "\t", " "))
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		qtype uint16
		want  []string
	}{
		{"app.staging.example.internal.", dns.TypeA, []string{
			"app.staging.example.internal. 30 IN A 10.0.0.1", "app.staging.example.internal. 30 IN A 10.0.0.2"}},
		{"www.staging.example.internal.", dns.TypeA, []string{
			"www.staging.example.internal. 30 IN CNAME app.staging.example.internal.",
			"app.staging.example.internal. 30 IN A 10.0.0.1", "app.staging.example.internal. 30 IN A 10.0.0.2"}},
		{"app.staging.example.internal.", dns.TypeTXT, []string{`app.staging.example.internal. 30 IN TXT "v=1 hello"`}},
		{"web.staging.example.internal.", dns.TypeA, []string{"web.staging.example.internal. 60 IN A 127.0.0.1"}},
	} {
		r := query(tc.name, tc.qtype)
		if r.Rcode != dns.RcodeSuccess || !r.Authoritative || !reflect.DeepEqual(answers(r), tc.want) {
			t.Errorf("%s %s: rcode %s aa %v answers %q, want %q", tc.name, dns.TypeToString[tc.qtype],
				dns.RcodeToString[r.Rcode], r.Authoritative, answers(r), tc.want)
		}
	}
	if r := query("nothing.staging.example.internal.", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("a missing name: %s", dns.RcodeToString[r.Rcode])
	}
	// A change shows on the next query.
	if _, err := s.CreateRecordSet(ctx, pid, "", RecordSetInput{ZoneID: z.ID, Name: "new", Type: "AAAA", TTL: 5, Values: []string{"fd00::1"}}); err != nil {
		t.Fatal(err)
	}
	if got := answers(query("new.staging.example.internal.", dns.TypeAAAA)); len(got) != 1 || !strings.HasSuffix(got[0], "AAAA fd00::1") {
		t.Errorf("new record: %q", got)
	}
}
