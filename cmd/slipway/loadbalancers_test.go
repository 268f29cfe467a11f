package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// lbServer is a fake API answering the load balancer and DNS endpoints
// with canned bodies, recording the bodies of POSTs.
func lbServer(t *testing.T, posted *[]map[string]any) *httptest.Server {
	t.Helper()
	health := `[{"id": "i-1", "port": 8000, "state": "healthy"}, {"id": "i-2", "port": 8000, "state": "draining", "reason": "Target.DeregistrationInProgress"}]`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		const base = "/api/v1/projects/default"
		switch {
		case r.Method == "GET" && r.URL.Path == base+"/load-balancers":
			_, _ = w.Write([]byte(`[{"name": "web", "dns_name": "web.lb.localhost:8081", "listeners": [
				{"port": 80, "protocol": "HTTP", "local_address": "127.0.0.1:8081"},
				{"port": 9000, "protocol": "HTTP", "local_address": "127.0.0.1:9000"}]}]`))
		case r.Method == "GET" && r.URL.Path == base+"/load-balancers/web":
			_, _ = w.Write([]byte(`{"load_balancer": {"name": "web", "dns_name": "web.lb.localhost:8081", "arn": "arn:lb"},
				"listeners": [{"port": 80, "protocol": "HTTP", "local_address": "127.0.0.1:8081",
				  "default_actions": [{"type": "forward", "target_group_arn": "arn:aws:elasticloadbalancing:local:000000000000:targetgroup/web-tg/0123456789abcdef"}],
				  "rules": [{"priority": 1, "conditions": [{"field": "path-pattern", "values": ["/static/*"]}],
				    "actions": [{"type": "fixed-response", "fixed_response": {"status_code": 404, "message_body": "gone"}}]}]}],
				"target_groups": [{"name": "web-tg", "target_type": "instance", "port": 8000,
				  "health_check": {"path": "/", "port": "traffic-port", "interval_seconds": 30, "healthy_threshold": 5, "unhealthy_threshold": 2, "matcher": "200"},
				  "deregistration_delay_seconds": 300, "targets": ` + health + `}]}`))
		case r.URL.Path == base+"/target-groups/web-tg/targets" || r.URL.Path == base+"/target-groups/web-tg/targets/deregister":
			if r.Method == "POST" {
				var body map[string]any
				if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
					t.Error(err)
				}
				*posted = append(*posted, body)
			}
			_, _ = w.Write([]byte(health))
		case r.Method == "GET" && r.URL.Path == base+"/hosted-zones":
			_, _ = w.Write([]byte(`{"dns_address": "127.0.0.1:8053", "hosted_zones": [{"id": "ZABC", "name": "example.internal.", "record_set_count": 2}]}`))
		case r.Method == "GET" && r.URL.Path == base+"/hosted-zones/example.internal":
			_, _ = w.Write([]byte(`{"dns_address": "127.0.0.1:8053", "hosted_zone": {"id": "ZABC", "name": "example.internal."},
				"record_sets": [{"name": "app.example.internal.", "type": "A", "alias_target": {"dns_name": "web.lb.localhost"}},
				  {"name": "txt.example.internal.", "type": "TXT", "ttl": 60, "resource_records": ["\"hi\""]}]}`))
		default:
			t.Errorf("unexpected request %s %s", r.Method, r.URL)
			w.WriteHeader(500)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestLB_ListShowsWhereEachListenerPortIsServed(t *testing.T) {
	var posted []map[string]any
	srv := lbServer(t, &posted)
	out, err := run(t, "lb", "list", "--url", srv.URL, "--token", "t")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"web.lb.localhost:8081", "port 80 → 127.0.0.1:8081", "port 9000 on 127.0.0.1:9000"} {
		if !strings.Contains(out, want) {
			t.Errorf("lb list lacks %q:\n%s", want, out)
		}
	}
	out, err = run(t, "lb", "get", "web", "--url", srv.URL, "--token", "t")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"http://web.lb.localhost:8081", "path-pattern /static/*", `fixed response 404 "gone"`,
		"forward to web-tg", "web-tg (instance, port 8000", "i-2:8000", "draining"} {
		if !strings.Contains(out, want) {
			t.Errorf("lb get lacks %q:\n%s", want, out)
		}
	}
	out, err = run(t, "lb", "get", "web", "-o", "json", "--url", srv.URL, "--token", "t")
	var d struct {
		LoadBalancer struct{ Name string } `json:"load_balancer"`
	}
	if err != nil || json.Unmarshal([]byte(out), &d) != nil || d.LoadBalancer.Name != "web" {
		t.Errorf("lb get -o json: %v\n%s", err, out)
	}
}

func TestLB_RegisterAndDeregisterSendTheTargets(t *testing.T) {
	var posted []map[string]any
	srv := lbServer(t, &posted)
	out, err := run(t, "lb", "register", "web-tg", "i-1", "i-2:8080", "[fd00::1]:9000", "10.0.0.1:80", "--url", srv.URL, "--token", "t")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "Target.DeregistrationInProgress") {
		t.Errorf("register output:\n%s", out)
	}
	out, err = run(t, "lb", "deregister", "web-tg", "i-2:8080", "--wait", "--url", srv.URL, "--token", "t")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := []map[string]any{
		{"targets": []any{map[string]any{"id": "i-1"}, map[string]any{"id": "i-2", "port": 8080.0},
			map[string]any{"id": "fd00::1", "port": 9000.0}, map[string]any{"id": "10.0.0.1", "port": 80.0}}},
		// The port given is the target's: only that registration goes.
		{"targets": []any{map[string]any{"id": "i-2", "port": 8080.0}}, "wait": true},
	}
	if !reflect.DeepEqual(posted, want) {
		t.Errorf("sent %v\nwant %v", posted, want)
	}
	if _, err := run(t, "lb", "register", "web-tg", "i-1:http", "--url", srv.URL, "--token", "t"); err == nil || !strings.Contains(err.Error(), "port") {
		t.Errorf("a bad port: %v", err)
	}
}

func TestDNS_SaysWhereTheDNSServerAnswers(t *testing.T) {
	var posted []map[string]any
	srv := lbServer(t, &posted)
	for _, args := range [][]string{{"dns"}, {"dns", "zones"}} {
		out, err := run(t, append(args, "--url", srv.URL, "--token", "t")...)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		for _, want := range []string{"DNS server: 127.0.0.1:8053", "dig @127.0.0.1 -p 8053 NAME", "ZABC", "example.internal."} {
			if !strings.Contains(out, want) {
				t.Errorf("%v lacks %q:\n%s", args, want, out)
			}
		}
	}
	out, err := run(t, "dns", "records", "example.internal", "--url", srv.URL, "--token", "t")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"DNS server: 127.0.0.1:8053", "ALIAS web.lb.localhost", `"hi"`} {
		if !strings.Contains(out, want) {
			t.Errorf("dns records lacks %q:\n%s", want, out)
		}
	}
}

func TestParsePortMap(t *testing.T) {
	got, err := parsePortMap("80=8081, 443=127.0.0.1:8444,")
	if err != nil || !reflect.DeepEqual(got, map[int]string{80: "8081", 443: "127.0.0.1:8444"}) {
		t.Errorf("parsePortMap = %v %v", got, err)
	}
	if got, err := parsePortMap(""); err != nil || len(got) != 0 {
		t.Errorf("empty: %v %v", got, err)
	}
	for _, bad := range []string{"80", "x=1", "80=", "0=1"} {
		if _, err := parsePortMap(bad); err == nil || !strings.Contains(err.Error(), "LISTENER-PORT=LOCAL-PORT") {
			t.Errorf("parsePortMap(%q) = %v", bad, err)
		}
	}
}
