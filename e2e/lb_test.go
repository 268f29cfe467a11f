package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// lbTemplate is a load balancer in front of one ip target, with a hosted
// zone whose alias record names the load balancer.
const lbTemplate = `Parameters:
  AppPort: {Type: Number}
Resources:
  TargetGroup:
    Type: AWS::ElasticLoadBalancingV2::TargetGroup
    Properties:
      Name: web-staging
      VpcId: vpc-0123
      Port: !Ref AppPort
      Protocol: HTTP
      TargetType: ip
      HealthCheckPath: /
      Matcher: {HttpCode: 200-299}
      Targets:
        - {Id: 127.0.0.1, Port: !Ref AppPort}
      TargetGroupAttributes:
        - {Key: deregistration_delay.timeout_seconds, Value: "0"}
  LoadBalancer:
    Type: AWS::ElasticLoadBalancingV2::LoadBalancer
    Properties:
      Name: web-staging
      Subnets: [subnet-1, subnet-2]
      SecurityGroups: [sg-1]
  Listener:
    Type: AWS::ElasticLoadBalancingV2::Listener
    Properties:
      LoadBalancerArn: !Ref LoadBalancer
      Port: 80
      Protocol: HTTP
      DefaultActions:
        - Type: forward
          TargetGroupArn: !Ref TargetGroup
  Health:
    Type: AWS::ElasticLoadBalancingV2::ListenerRule
    Properties:
      ListenerArn: !Ref Listener
      Priority: 1
      Conditions:
        - Field: path-pattern
          PathPatternConfig: {Values: [/lb-health]}
      Actions:
        - Type: fixed-response
          FixedResponseConfig: {StatusCode: "200", MessageBody: ok}
  Zone:
    Type: AWS::Route53::HostedZone
    Properties:
      Name: staging.example.internal
  Record:
    Type: AWS::Route53::RecordSet
    Properties:
      HostedZoneId: !Ref Zone
      Name: app.staging.example.internal
      Type: A
      AliasTarget:
        DNSName: !GetAtt LoadBalancer.DNSName
        HostedZoneId: !GetAtt LoadBalancer.CanonicalHostedZoneID
Outputs:
  URL:
    Value: !Sub http://${LoadBalancer.DNSName}
  Name:
    Value: !Ref Record
`

// TestLoadBalancerStack_ServesByItsDNSNameAndByTheRecordsName deploys a
// stack with a load balancer and a record set through the real binary and
// sends real HTTP and DNS queries to what it made.
func TestLoadBalancerStack_ServesByItsDNSNameAndByTheRecordsName(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "app %s", r.Host)
	}))
	defer app.Close()
	_, appPort, _ := net.SplitHostPort(app.Listener.Addr().String())

	s := startServer(t)
	dir := t.TempDir()
	tpl := filepath.Join(dir, "lb.yml")
	if err := os.WriteFile(tpl, []byte(lbTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := s.deployStack(t, "web", "--template", tpl, "--parameter-overrides", "AppPort="+appPort); code != 0 ||
		!strings.Contains(out, "CREATE_COMPLETE") {
		t.Fatalf("create (exit %d):\n%s", code, out)
	}
	var st stackView
	s.mustCLI(s.token, &st, "stack", "describe", "web")
	outputs := map[string]string{}
	for _, o := range st.Outputs {
		outputs[o.Key] = o.Value
	}
	url, name := outputs["URL"], outputs["Name"]
	host, port, err := net.SplitHostPort(strings.TrimPrefix(url, "http://"))
	if err != nil || host != "web-staging.lb.localhost" || name != "app.staging.example.internal" {
		t.Fatalf("outputs %v", outputs)
	}

	// *.localhost is 127.0.0.1, as browsers and curl resolve it.
	get := func(host, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+port+path, nil)
		req.Host = host
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for _, tc := range []struct{ host, path, want string }{
		{host + ":" + port, "/", "app " + host + ":" + port},
		{name, "/", "app " + name},
		{name, "/lb-health", "ok"},
	} {
		if code, body := get(tc.host, tc.path); code != 200 || body != tc.want {
			t.Errorf("Host %s %s: %d %q, want %q", tc.host, tc.path, code, body, tc.want)
		}
	}

	out := s.mustCLI(s.token, nil, "lb", "list")
	if !strings.Contains(out, "port 80 → 127.0.0.1:"+port) || !strings.Contains(out, url[len("http://"):]) {
		t.Errorf("lb list:\n%s", out)
	}
	var th []struct{ ID, State string }
	s.mustCLI(s.token, &th, "lb", "targets", "web-staging")
	if len(th) != 1 || th[0].ID != "127.0.0.1" || (th[0].State != "initial" && th[0].State != "healthy") {
		t.Errorf("targets %+v", th)
	}

	var zones struct {
		DNSAddress string `json:"dns_address"`
	}
	s.mustCLI(s.token, &zones, "dns", "zones")
	m := new(dns.Msg)
	m.SetQuestion(name+".", dns.TypeA)
	r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, zones.DNSAddress)
	if err != nil || len(r.Answer) != 1 || !strings.HasSuffix(r.Answer[0].String(), "A\t127.0.0.1") {
		t.Fatalf("DNS answer for %s at %s: %v %v", name, zones.DNSAddress, r, err)
	}

	if _, errs, err := s.cli(s.token, "stack", "delete", "web", "--yes"); err != nil {
		t.Fatalf("delete: %v\n%s", err, errs)
	}
	waitFor(t, "the stack to go", func() bool {
		_, _, err := s.cli(s.token, "stack", "describe", "web")
		return err != nil
	})
	if code, body := get(name, "/"); code != 404 || !strings.Contains(body, name) {
		t.Errorf("after the stack went: %d %q", code, body)
	}
}
