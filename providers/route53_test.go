package providers

import (
	"context"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/slipway/slipway/dnssvc"
	"github.com/slipway/slipway/lbsvc"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestRoute53_AZoneWithAnAliasRoutesItsNameToTheLoadBalancer: the
// template's zone and records reach the DNS service, and an alias record to
// a load balancer makes its name a Host that load balancer serves.
func TestRoute53_AZoneWithAnAliasRoutesItsNameToTheLoadBalancer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		zp, rp := f.provider(t, hostedZoneType), f.provider(t, recordSetType)

		zOut, err := zp.Create(ctx, f.request(hostedZoneType, "Zone", "tok-zone", map[string]any{
			"Name": "staging.example.internal", "HostedZoneConfig": map[string]any{"Comment": "staging"},
			"HostedZoneTags": []any{map[string]any{"Key": "env", "Value": "staging"}}}))
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^Z[A-Z0-9]{20}$`).MatchString(zOut.PhysicalID) || zOut.Attrs["Id"] != zOut.PhysicalID ||
			!reflect.DeepEqual(zOut.Attrs["NameServers"], []any{dnssvc.NameServer}) {
			t.Errorf("zone %+v", zOut)
		}
		if z, err := f.dns.Zone(ctx, f.projectID, zOut.PhysicalID); err != nil || z.Comment != "staging" || z.Settings["HostedZoneTags"] == nil {
			t.Errorf("stored zone %+v %v", z, err)
		}

		// A load balancer for the alias to name.
		lb, err := f.lbs.CreateLoadBalancer(ctx, f.projectID, "", lbsvc.LoadBalancerInput{Name: "web"})
		if err != nil {
			t.Fatal(err)
		}
		fixed := map[string]any{"LoadBalancerArn": lb.ARN, "Port": 80, "DefaultActions": []any{map[string]any{"Type": "fixed-response",
			"FixedResponseConfig": map[string]any{"StatusCode": "200", "MessageBody": "web"}}}}
		if _, err := f.provider(t, listenerType).Create(ctx, f.request(listenerType, "Listener", "tok-li", fixed)); err != nil {
			t.Fatal(err)
		}
		other, err := f.lbs.CreateLoadBalancer(ctx, f.projectID, "", lbsvc.LoadBalancerInput{Name: "other"})
		if err != nil {
			t.Fatal(err)
		}
		fixed["LoadBalancerArn"] = other.ARN
		fixed["DefaultActions"] = []any{map[string]any{"Type": "fixed-response", "FixedResponseConfig": map[string]any{"StatusCode": "200", "MessageBody": "other"}}}
		if _, err := f.provider(t, listenerType).Create(ctx, f.request(listenerType, "Listener2", "tok-li2", fixed)); err != nil {
			t.Fatal(err)
		}

		alias := map[string]any{"HostedZoneId": zOut.PhysicalID, "Name": "app.staging.example.internal.", "Type": "A",
			"AliasTarget": map[string]any{"DNSName": lb.DNSName, "HostedZoneId": "ZSLIPWAYLB0LOCAL", "EvaluateTargetHealth": "false"}}
		aOut, err := rp.Create(ctx, f.request(recordSetType, "Record", "tok-rec", alias))
		if err != nil {
			t.Fatal(err)
		}
		if aOut.PhysicalID != "app.staging.example.internal" {
			t.Errorf("record physical ID %q", aOut.PhysicalID)
		}
		if again, err := rp.Create(ctx, f.request(recordSetType, "Record", "tok-rec", alias)); err != nil || again.PhysicalID != aOut.PhysicalID {
			t.Errorf("resumed record create: %+v %v", again, err)
		}
		url := "http://" + f.lbs.ListenerAddress(80)
		if code, body := fetch(t, url+"/", "app.staging.example.internal"); code != 200 || body != "web" {
			t.Errorf("the alias's name through the load balancer: %d %q", code, body)
		}

		txt := map[string]any{"HostedZoneName": "staging.example.internal.", "Name": "info", "Type": "TXT", "TTL": "60",
			"ResourceRecords": []any{`"hello"`}, "Weight": 10, "SetIdentifier": "a"}
		tOut, err := rp.Create(ctx, f.request(recordSetType, "Info", "tok-txt", txt))
		if err != nil {
			t.Fatal(err)
		}
		if tOut.PhysicalID != "info.staging.example.internal" {
			t.Errorf("relative name's physical ID %q", tOut.PhysicalID)
		}
		upd := f.request(recordSetType, "Info", "tok-txt", map[string]any{"HostedZoneName": "staging.example.internal.", "Name": "info",
			"Type": "A", "TTL": 30, "ResourceRecords": []any{"10.0.0.9"}})
		upd.PhysicalID, upd.Previous = tOut.PhysicalID, txt
		if _, err := rp.Update(ctx, upd); err != nil {
			t.Fatal(err)
		}
		rss, _ := f.dns.RecordSets(ctx, f.projectID, zOut.PhysicalID)
		if len(rss) != 2 || rss[1].Type != "A" || rss[1].Values[0] != "10.0.0.9" || rss[1].Settings["Weight"] != nil {
			t.Errorf("records after the update: %+v", rss)
		}

		for _, tc := range []struct {
			props map[string]any
			want  string
		}{
			{map[string]any{"HostedZoneId": zOut.PhysicalID, "Name": "x", "Type": "A", "ResourceRecords": []any{"10.0.0.1"}}, "#/TTL"},
			{map[string]any{"HostedZoneId": zOut.PhysicalID, "Name": "www.example.org.", "Type": "A", "TTL": 1, "ResourceRecords": []any{"10.0.0.1"}}, "is not permitted in zone"},
			{map[string]any{"HostedZoneId": zOut.PhysicalID, "Name": "mx", "Type": "MX", "TTL": 1, "ResourceRecords": []any{"10 mail"}}, "MX is not supported"},
			{map[string]any{"HostedZoneId": "ZNOSUCHZONE", "Name": "x", "Type": "A", "TTL": 1, "ResourceRecords": []any{"10.0.0.1"}}, "NoSuchHostedZone"},
		} {
			if _, err := rp.Create(ctx, f.request(recordSetType, "Bad", "tok-bad", tc.props)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v: %v, want an error saying %q", tc.props, err, tc.want)
			}
		}

		delZone := f.request(hostedZoneType, "Zone", "tok-zone", nil)
		delZone.PhysicalID = zOut.PhysicalID
		if err := zp.Delete(ctx, delZone); err == nil || !strings.Contains(err.Error(), "HostedZoneNotEmpty") {
			t.Errorf("delete of a zone with records: %v", err)
		}
		for _, tok := range []string{"tok-rec", "tok-txt", "tok-rec"} {
			r := f.request(recordSetType, "Record", tok, nil)
			if err := rp.Delete(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if code, body := fetch(t, url+"/", "app.staging.example.internal"); code != 404 || !strings.Contains(body, "app.staging.example.internal") {
			t.Errorf("the alias's name after its record went: %d %q", code, body)
		}
		for range 2 {
			if err := zp.Delete(ctx, delZone); err != nil {
				t.Fatal(err)
			}
		}
	})
}
