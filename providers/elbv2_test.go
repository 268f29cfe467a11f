package providers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/slipway/slipway/lbsvc"
	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

// fetch sends GET url with Host host and returns status and body.
func fetch(t *testing.T, url, host string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Host = host
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestELBv2_UpdateBehavioursFollowCloudFormation: what identifies a target
// group needs a new one; its health check changes in place.
func TestELBv2_UpdateBehavioursFollowCloudFormation(t *testing.T) {
	reg := schemaOnly()
	for typ, props := range map[string]map[string]stack.Update{
		targetGroupType: {"Name": stack.Replace, "Port": stack.Replace, "Protocol": stack.Replace, "VpcId": stack.Replace, "TargetType": stack.Replace,
			"HealthCheckPath": stack.InPlace, "HealthCheckIntervalSeconds": stack.InPlace, "Matcher": stack.InPlace, "Targets": stack.InPlace,
			"TargetGroupAttributes": stack.InPlace, "HealthyThresholdCount": stack.InPlace},
		loadBalancerType: {"Name": stack.Replace, "Scheme": stack.Replace, "Type": stack.Replace, "Subnets": stack.InPlace, "SecurityGroups": stack.InPlace},
		listenerType:     {"LoadBalancerArn": stack.Replace, "Port": stack.InPlace, "Protocol": stack.InPlace, "DefaultActions": stack.InPlace},
		listenerRuleType: {"ListenerArn": stack.Replace, "Priority": stack.InPlace, "Conditions": stack.InPlace, "Actions": stack.InPlace},
		hostedZoneType:   {"Name": stack.Replace, "HostedZoneConfig": stack.InPlace},
		recordSetType:    {"Name": stack.Replace, "HostedZoneId": stack.Replace, "HostedZoneName": stack.Replace, "Type": stack.InPlace, "TTL": stack.InPlace, "ResourceRecords": stack.InPlace, "AliasTarget": stack.InPlace},
	} {
		p, _ := reg.Provider(typ)
		for prop, want := range props {
			if got, ok := p.Schema().Properties[prop]; !ok || got.Update != want {
				t.Errorf("%s.%s: %+v (present %v), want update %v", typ, prop, got, ok, want)
			}
		}
	}
}

// TestELBv2_ATemplatesLoadBalancerServesItsTargets walks the sample's load
// balancer resources through create, update and delete against the real
// load balancer service, with real HTTP through it.
func TestELBv2_ATemplatesLoadBalancerServesItsTargets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "app %s", r.URL.Path)
		}))
		defer app.Close()
		appPort := json.Number(strconv.Itoa(app.Listener.Addr().(*net.TCPAddr).Port))
		tgp, lbp, lip, rp := f.provider(t, targetGroupType), f.provider(t, loadBalancerType), f.provider(t, listenerType), f.provider(t, listenerRuleType)

		tgProps := map[string]any{"Name": "app-staging", "VpcId": "vpc-1", "Port": appPort, "Protocol": "HTTP", "TargetType": "ip",
			"HealthCheckPath": "/", "Matcher": map[string]any{"HttpCode": "200-299"},
			"Targets":               []any{map[string]any{"Id": "127.0.0.1", "Port": appPort}},
			"TargetGroupAttributes": []any{map[string]any{"Key": "deregistration_delay.timeout_seconds", "Value": "0"}},
			"Tags":                  []any{map[string]any{"Key": "env", "Value": "staging"}}}
		tgOut, err := tgp.Create(ctx, f.request(targetGroupType, "TargetGroup", "tok-tg", tgProps))
		if err != nil {
			t.Fatal(err)
		}
		tgARN := tgOut.PhysicalID
		if tgOut.Attrs["TargetGroupArn"] != tgARN || tgOut.Attrs["TargetGroupName"] != "app-staging" ||
			!strings.HasPrefix(tgOut.Attrs["TargetGroupFullName"].(string), "targetgroup/app-staging/") ||
			!reflect.DeepEqual(tgOut.Attrs["LoadBalancerArns"], []any{}) {
			t.Errorf("target group attributes %v", tgOut.Attrs)
		}
		tg, err := f.lbs.TargetGroup(ctx, f.projectID, tgARN)
		if err != nil || tg.DeregistrationDelay != 0 || tg.HealthCheck.Matcher != "200-299" || tg.VpcID != "vpc-1" || tg.Settings["Tags"] == nil {
			t.Fatalf("target group %+v %v", tg, err)
		}

		lbProps := map[string]any{"Name": "app-staging", "Subnets": []any{"subnet-1", "subnet-2"}, "SecurityGroups": []any{"sg-1"}}
		lbOut, err := lbp.Create(ctx, f.request(loadBalancerType, "LoadBalancer", "tok-lb", lbProps))
		if err != nil {
			t.Fatal(err)
		}
		port := strings.TrimPrefix(f.lbs.ListenerAddress(80), "127.0.0.1:")
		want := map[string]any{
			"CanonicalHostedZoneID": lbsvc.CanonicalHostedZoneID,
			"DNSName":               "app-staging.lb.localhost:" + port,
			"LoadBalancerArn":       lbOut.PhysicalID,
			"LoadBalancerFullName":  strings.SplitN(lbOut.PhysicalID, ":loadbalancer/", 2)[1],
			"LoadBalancerName":      "app-staging",
			"SecurityGroups":        []any{"sg-1"},
		}
		if !reflect.DeepEqual(lbOut.Attrs, want) {
			t.Errorf("load balancer attributes %v, want %v", lbOut.Attrs, want)
		}
		if again, err := lbp.Create(ctx, f.request(loadBalancerType, "LoadBalancer", "tok-lb", lbProps)); err != nil || again.PhysicalID != lbOut.PhysicalID {
			t.Fatalf("resumed create: %+v %v", again, err)
		}
		if _, err := lbp.Create(ctx, f.request(loadBalancerType, "Other", "tok-other", lbProps)); err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Errorf("a second load balancer of the name: %v", err)
		}

		liProps := map[string]any{"LoadBalancerArn": lbOut.PhysicalID, "Port": "80", "Protocol": "HTTP",
			"DefaultActions": []any{map[string]any{"Type": "forward", "TargetGroupArn": tgARN}}}
		liOut, err := lip.Create(ctx, f.request(listenerType, "Listener", "tok-li", liProps))
		if err != nil {
			t.Fatal(err)
		}
		if liOut.Attrs["ListenerArn"] != liOut.PhysicalID || !strings.Contains(liOut.PhysicalID, ":listener/app/app-staging/") {
			t.Errorf("listener %+v", liOut)
		}
		ruleProps := map[string]any{"ListenerArn": liOut.PhysicalID, "Priority": json.Number("1"),
			"Conditions": []any{map[string]any{"Field": "path-pattern", "PathPatternConfig": map[string]any{"Values": []any{"/health"}}}},
			"Actions": []any{map[string]any{"Type": "fixed-response",
				"FixedResponseConfig": map[string]any{"StatusCode": "200", "ContentType": "text/plain", "MessageBody": "ok"}}}}
		ruleOut, err := rp.Create(ctx, f.request(listenerRuleType, "HealthRule", "tok-rule", ruleProps))
		if err != nil {
			t.Fatal(err)
		}
		if ruleOut.Attrs["RuleArn"] != ruleOut.PhysicalID || ruleOut.Attrs["IsDefault"] != false {
			t.Errorf("rule %+v", ruleOut)
		}
		legacy := map[string]any{"ListenerArn": liOut.PhysicalID, "Priority": "2",
			"Conditions": []any{map[string]any{"Field": "host-header", "Values": []any{"old.example.com"}}},
			"Actions": []any{map[string]any{"Type": "redirect", "RedirectConfig": map[string]any{
				"Host": "new.example.com", "Path": "/#{path}", "StatusCode": "HTTP_301"}}}}
		if _, err := rp.Create(ctx, f.request(listenerRuleType, "Redirect", "tok-redirect", legacy)); err != nil {
			t.Fatal(err)
		}

		url := "http://" + f.lbs.ListenerAddress(80)
		for _, tc := range []struct{ host, path, want string }{
			{"app-staging.lb.localhost", "/hello", "app /hello"},
			{"app-staging.lb.localhost:" + port, "/health", "ok"},
		} {
			if code, body := fetch(t, url+tc.path, tc.host); code != 200 || body != tc.want {
				t.Errorf("%s%s: %d %q, want %q", tc.host, tc.path, code, body, tc.want)
			}
		}
		res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(
			&http.Request{Method: "GET", URL: mustURL(t, url+"/a/b"), Host: "old.example.com", Header: http.Header{}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 301 || res.Header.Get("Location") != "http://new.example.com/a/b" {
			t.Errorf("redirect rule: %d %s", res.StatusCode, res.Header.Get("Location"))
		}

		// Health check fields and targets change in place.
		upd := f.request(targetGroupType, "TargetGroup", "tok-tg", map[string]any{"Name": "app-staging", "VpcId": "vpc-1", "Port": appPort,
			"Protocol": "HTTP", "TargetType": "ip", "HealthCheckPath": "/ready", "HealthCheckIntervalSeconds": "10",
			"Targets": []any{map[string]any{"Id": "127.0.0.2", "Port": appPort}}})
		upd.PhysicalID, upd.Previous = tgARN, tgProps
		// A target the fleet registered stays.
		if err := f.lbs.RegisterTargets(ctx, tgARN, lbsvc.Target{ID: "127.0.0.3"}); err != nil {
			t.Fatal(err)
		}
		updOut, err := tgp.Update(ctx, upd)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(updOut.Attrs["LoadBalancerArns"], []any{lbOut.PhysicalID}) {
			t.Errorf("LoadBalancerArns after update: %v", updOut.Attrs["LoadBalancerArns"])
		}
		tg, _ = f.lbs.TargetGroup(ctx, f.projectID, tgARN)
		if tg.HealthCheck.Path != "/ready" || tg.HealthCheck.IntervalSeconds != 10 || tg.DeregistrationDelay != lbsvc.DefaultDeregistrationDelay {
			t.Errorf("target group after update: %+v", tg)
		}
		th, err := f.lbs.TargetHealth(ctx, tgARN)
		var ids []string
		for _, h := range th {
			if h.State != lbsvc.StateDraining {
				ids = append(ids, h.ID)
			}
		}
		if err != nil || strings.Join(ids, ",") != "127.0.0.2,127.0.0.3" {
			t.Errorf("targets after update: %+v %v", th, err)
		}

		for _, tc := range []struct {
			p     stack.Provider
			typ   string
			props map[string]any
			want  string
		}{
			{lip, listenerType, map[string]any{"LoadBalancerArn": lbOut.PhysicalID, "Port": 8080, "Protocol": "HTTPS",
				"DefaultActions": liProps["DefaultActions"]}, "HTTPS is not supported"},
			{lip, listenerType, map[string]any{"LoadBalancerArn": lbOut.PhysicalID, "Port": "x",
				"DefaultActions": liProps["DefaultActions"]}, "#/Port: expected type: Integer"},
			{rp, listenerRuleType, map[string]any{"ListenerArn": liOut.PhysicalID, "Priority": 3,
				"Conditions": []any{map[string]any{"Field": "http-header", "HttpHeaderConfig": map[string]any{"HttpHeaderName": "X", "Values": []any{"y"}}}},
				"Actions":    liProps["DefaultActions"]}, "http-header is not supported"},
			{rp, listenerRuleType, map[string]any{"ListenerArn": liOut.PhysicalID, "Priority": 4,
				"Conditions": []any{map[string]any{"Field": "path-pattern", "Values": []any{"/x"}}},
				"Actions": []any{map[string]any{"Type": "forward", "ForwardConfig": map[string]any{"TargetGroups": []any{
					map[string]any{"TargetGroupArn": tgARN, "Weight": 1}, map[string]any{"TargetGroupArn": "arn:other", "Weight": 1}}}}}}, "weighted forwarding"},
			{lbp, loadBalancerType, map[string]any{"Name": "nlb", "Type": "network"}, "application"},
		} {
			if _, err := tc.p.Create(ctx, f.request(tc.typ, "Bad", "tok-bad", tc.props)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s %v: %v, want an error saying %q", tc.typ, tc.props, err, tc.want)
			}
		}
		// ForwardConfig with one weighted group is a forward to it.
		fwd := map[string]any{"ListenerArn": liOut.PhysicalID, "Priority": 5,
			"Conditions": []any{map[string]any{"Field": "path-pattern", "Values": []any{"/fwd"}}},
			"Actions": []any{map[string]any{"Type": "forward", "ForwardConfig": map[string]any{"TargetGroups": []any{
				map[string]any{"TargetGroupArn": tgARN, "Weight": 1}}}}}}
		fwdOut, err := rp.Create(ctx, f.request(listenerRuleType, "Fwd", "tok-fwd", fwd))
		if err != nil {
			t.Fatal(err)
		}
		if rule, _ := f.lbs.Rule(ctx, f.projectID, fwdOut.PhysicalID); rule == nil || rule.Actions[0].TargetGroupARN != tgARN {
			t.Errorf("ForwardConfig rule %+v", rule)
		}

		// Deleting in the stack's order; the group in use first is refused.
		del := func(p stack.Provider, typ, logical, token, id string) error {
			r := f.request(typ, logical, token, nil)
			r.PhysicalID = id
			return p.Delete(ctx, r)
		}
		if err := del(tgp, targetGroupType, "TargetGroup", "tok-tg", tgARN); err == nil || !strings.Contains(err.Error(), "ResourceInUse") {
			t.Errorf("delete of a target group in use: %v", err)
		}
		if err := del(rp, listenerRuleType, "HealthRule", "tok-rule", ruleOut.PhysicalID); err != nil {
			t.Fatal(err)
		}
		// A create cut short is deleted by its token.
		if err := del(lip, listenerType, "Listener", "tok-li", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := f.lbs.Listener(ctx, f.projectID, liOut.PhysicalID); err == nil {
			t.Error("listener left after its delete by token")
		}
		for range 2 {
			if err := del(lbp, loadBalancerType, "LoadBalancer", "tok-lb", lbOut.PhysicalID); err != nil {
				t.Fatal(err)
			}
			if err := del(tgp, targetGroupType, "TargetGroup", "tok-tg", tgARN); err != nil {
				t.Fatal(err)
			}
		}
		if code, _ := fetch(t, url+"/", "app-staging.lb.localhost"); code != 404 {
			t.Errorf("after the stack's resources went: %d", code)
		}
		if _, err := tgp.Update(ctx, upd); err == nil || !strings.Contains(err.Error(), "no longer exists") {
			t.Errorf("update of a deleted target group: %v", err)
		}
	})
}
