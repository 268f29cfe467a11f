package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/slipway/slipway/fleet"
)

// fleetTemplate is the infrastructure of one environment, in the shape of
// the seed's: an Auto Scaling group of two instances whose user data
// starts a web server on the fixed port 8000 and signals the stack, behind
// a load balancer, with a record set naming it.
const fleetTemplate = `Parameters:
  Version: {Type: String, Default: v1}
Resources:
  LaunchConfig:
    Type: AWS::AutoScaling::LaunchConfiguration
    Properties:
      ImageId: ami-0123456789abcdef0
      InstanceType: t3.micro
      UserData:
        Fn::Base64: !Sub |
          #!/bin/sh
          mkdir -p /opt/www
          echo "instance $(hostname) ${Version}" > /opt/www/index.html
          busybox httpd -p 8000 -h /opt/www
          /opt/aws/bin/cfn-signal -e $? --stack ${AWS::StackName} --resource WebGroup --region ${AWS::Region}
  WebGroup:
    Type: AWS::AutoScaling::AutoScalingGroup
    CreationPolicy:
      ResourceSignal: {Count: 2, Timeout: PT2M}
    UpdatePolicy:
      AutoScalingRollingUpdate:
        MinInstancesInService: 1
        MaxBatchSize: 1
        PauseTime: PT2M
        WaitOnResourceSignals: true
    Properties:
      LaunchConfigurationName: !Ref LaunchConfig
      MinSize: "2"
      MaxSize: "4"
      DesiredCapacity: "2"
      HealthCheckType: ELB
      HealthCheckGracePeriod: 0
      TargetGroupARNs: [!Ref TargetGroup]
  TargetGroup:
    Type: AWS::ElasticLoadBalancingV2::TargetGroup
    Properties:
      Port: 8000
      Protocol: HTTP
      VpcId: vpc-local
      HealthCheckIntervalSeconds: 5
      HealthCheckTimeoutSeconds: 2
      HealthyThresholdCount: 2
      UnhealthyThresholdCount: 2
      TargetGroupAttributes:
        - {Key: deregistration_delay.timeout_seconds, Value: "1"}
  LoadBalancer:
    Type: AWS::ElasticLoadBalancingV2::LoadBalancer
    Properties:
      Name: fleet-web
      Subnets: [subnet-1, subnet-2]
  Listener:
    Type: AWS::ElasticLoadBalancingV2::Listener
    Properties:
      LoadBalancerArn: !Ref LoadBalancer
      Port: 80
      Protocol: HTTP
      DefaultActions:
        - {Type: forward, TargetGroupArn: !Ref TargetGroup}
  Zone:
    Type: AWS::Route53::HostedZone
    Properties: {Name: fleet.example.internal}
  Record:
    Type: AWS::Route53::RecordSet
    Properties:
      HostedZoneId: !Ref Zone
      Name: app.fleet.example.internal
      Type: A
      AliasTarget:
        DNSName: !GetAtt LoadBalancer.DNSName
        HostedZoneId: !GetAtt LoadBalancer.CanonicalHostedZoneID
Outputs:
  URL:
    Value: !Sub http://${LoadBalancer.DNSName}
`

// instanceProcs finds the init process of every local instance under the
// server's data directory, by instance ID.
func instanceProcs(t *testing.T, data string) map[string]int {
	t.Helper()
	out := map[string]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) == 3 && args[1] == "instance-init" && strings.HasPrefix(args[2], data) {
			out[filepath.Base(args[2])] = pid
		}
	}
	return out
}

// curlHosts sends n requests with the real curl and counts the instances
// that answered ("instance ID VERSION"); a failed request fails the test.
func curlHosts(t *testing.T, n int, args ...string) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for range n {
		out, err := curl(args...)
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		if f := strings.Fields(out); len(f) == 3 {
			seen[f[1]]++
		}
	}
	return seen
}

func curl(args ...string) (string, error) {
	out, err := exec.Command("curl", append([]string{"-sS", "--fail", "--max-time", "5"}, args...)...).CombinedOutput()
	return string(out), err
}

type groupView struct {
	Name      string `json:"name"`
	InService int    `json:"in_service"`
	Instances []struct {
		ID, State, Reason, Mode string
	} `json:"instances"`
}

func TestFleetStack_TwoInstancesBehindALoadBalancerReplacedWhenTheyFailAndGoneWithTheStack(t *testing.T) {
	needTools(t, "curl", "busybox")
	s := startServer(t)
	tpl := filepath.Join(t.TempDir(), "infrastructure.yml")
	if err := os.WriteFile(tpl, []byte(fleetTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := s.deployStack(t, "web", "--template", tpl); code != 0 || !strings.Contains(out, "CREATE_COMPLETE") {
		t.Fatalf("create (exit %d):\n%s\n%s", code, out, s.log)
	}
	var st stackView
	s.mustCLI(s.token, &st, "stack", "describe", "web")
	url := ""
	for _, o := range st.Outputs {
		if o.Key == "URL" {
			url = o.Value
		}
	}
	var g groupView
	groupName := ""
	var groups []groupView
	s.mustCLI(s.token, &groups, "fleet", "list")
	if len(groups) != 1 || groups[0].InService != 2 {
		t.Fatalf("groups %+v", groups)
	}
	groupName = groups[0].Name
	s.mustCLI(s.token, &g, "fleet", "get", groupName)
	ids := map[string]bool{}
	for _, in := range g.Instances {
		ids[in.ID] = true
		if in.Mode != fleet.ModeNamespaced && in.Mode != fleet.ModeProcess {
			t.Errorf("instance %s mode %q", in.ID, in.Mode)
		}
	}
	console := s.mustCLI(s.token, nil, "fleet", "console", g.Instances[0].ID)
	if !strings.Contains(console, "cfn-signal: sent SUCCESS to WebGroup of stack web") {
		t.Errorf("console log of %s:\n%s", g.Instances[0].ID, console)
	}

	// Through the load balancer's DNS name (curl resolves *.localhost
	// itself), both instances answer, once their health checks pass.
	var seen map[string]int
	waitFor(t, "both instances to answer through the load balancer", func() bool {
		seen = curlHosts(t, 8, url+"/")
		return len(seen) == 2
	})
	for id := range seen {
		if !ids[id] {
			t.Errorf("answered by %q, not an instance of the group %v", id, ids)
		}
	}
	// Through the record's name, as the server's DNS answers it.
	var zones struct {
		DNSAddress string `json:"dns_address"`
	}
	s.mustCLI(s.token, &zones, "dns", "zones")
	m := new(dns.Msg)
	m.SetQuestion("app.fleet.example.internal.", dns.TypeA)
	r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, zones.DNSAddress)
	if err != nil || len(r.Answer) != 1 {
		t.Fatalf("DNS answer at %s: %v %v", zones.DNSAddress, r, err)
	}
	ip := r.Answer[0].(*dns.A).A.String()
	port := url[strings.LastIndex(url, ":")+1:]
	seen = curlHosts(t, 8, "--resolve", "app.fleet.example.internal:"+port+":"+ip, "http://app.fleet.example.internal:"+port+"/")
	if len(seen) != 2 {
		t.Errorf("through the record, answered by %v", seen)
	}

	// Kill one instance's web server: its target fails the health check,
	// the load balancer stops sending to it (no request fails meanwhile:
	// a refused connection is retried on the other), and the group, whose
	// health check type is ELB, replaces it.
	procs := instanceProcs(t, s.data)
	var victim string
	for id := range ids {
		victim = id
		break
	}
	init, ok := procs[victim]
	if !ok {
		t.Fatalf("no init process for %s among %v", victim, procs)
	}
	for _, pid := range fleet.Descendants(init) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	waitFor(t, "the group to replace "+victim, func() bool {
		var g groupView
		s.mustCLI(s.token, &g, "fleet", "get", groupName, "--all")
		replaced, live := false, 0
		for _, in := range g.Instances {
			if in.ID == victim && in.State == "Terminated" {
				replaced = true
			}
			if in.State == "InService" && in.ID != victim {
				live++
			}
		}
		return replaced && live == 2
	})
	waitFor(t, "two instances to answer again, none of them the dead one", func() bool {
		seen = curlHosts(t, 8, url+"/")
		return len(seen) == 2 && seen[victim] == 0
	})
	if _, ok := instanceProcs(t, s.data)[victim]; ok {
		t.Errorf("the replaced instance %s still runs", victim)
	}

	// A new version changes the user data, so the launch configuration is
	// replaced and the rolling update replaces the instances one at a
	// time, each signalling, with one always in service: no request fails.
	failures, served := 0, 0
	versions := map[string]int{}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			default:
			}
			out, err := curl(url + "/")
			if err != nil {
				failures++
				t.Logf("failed during the rolling update: %v %s", err, out)
				continue
			}
			served++
			if f := strings.Fields(out); len(f) == 3 {
				versions[f[2]]++
			}
		}
	}()
	out, code := s.deployStack(t, "web", "--template", tpl, "--parameter-overrides", "Version=v2")
	close(stop)
	<-stopped
	if code != 0 || !strings.Contains(out, "UPDATE_COMPLETE") {
		t.Fatalf("rolling update (exit %d):\n%s", code, out)
	}
	if failures != 0 || served == 0 {
		t.Errorf("%d requests failed and %d were served during the rolling update", failures, served)
	}
	for range 8 {
		out, err := curl(url + "/")
		if f := strings.Fields(out); err != nil || len(f) != 3 || f[2] != "v2" {
			t.Errorf("after the rolling update: %q %v", out, err)
		}
	}
	t.Logf("during the rolling update: %d requests served, versions %v", served, versions)

	if _, errs, err := s.cli(s.token, "stack", "delete", "web", "--yes"); err != nil {
		t.Fatalf("delete: %v\n%s", err, errs)
	}
	waitFor(t, "the stack to go", func() bool {
		_, _, err := s.cli(s.token, "stack", "describe", "web")
		return err != nil
	})
	if left := instanceProcs(t, s.data); len(left) != 0 {
		t.Errorf("processes left after the stack was deleted: %v", left)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url+"/").Output(); err == nil && string(out) == "200" {
		t.Errorf("the load balancer still answers 200 after the stack was deleted")
	}
}

// needTools skips a test whose tools are missing, or fails it where CI
// says they must be there (SLIPWAY_REQUIRE_TOOLS=1).
func needTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("SLIPWAY_REQUIRE_TOOLS") == "1" {
				t.Fatalf("needs %s (SLIPWAY_REQUIRE_TOOLS=1)", tool)
			}
			t.Skipf("needs %s", tool)
		}
	}
}
