package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// deployTemplate is one environment for deployments: an Auto Scaling
// group whose instances start empty (the deployments put the service on
// them), behind a load balancer, with the application and its deployment
// group taking instances out of the target group while they change.
const deployTemplate = `Parameters:
  Name: {Type: String}
  Count: {Type: Number, Default: 2}
  Strategy: {Type: String, Default: CodeDeployDefault.OneAtATime}
Resources:
  App:
    Type: AWS::CodeDeploy::Application
    Properties: {ApplicationName: !Ref Name}
  LaunchConfig:
    Type: AWS::AutoScaling::LaunchConfiguration
    Properties:
      ImageId: ami-0123456789abcdef0
      InstanceType: t3.micro
      UserData: {"Fn::Base64": "#!/bin/sh\necho instance up\n"}
  Group:
    Type: AWS::AutoScaling::AutoScalingGroup
    Properties:
      LaunchConfigurationName: !Ref LaunchConfig
      MinSize: !Ref Count
      MaxSize: !Ref Count
      DesiredCapacity: !Ref Count
      TargetGroupARNs: [!Ref TargetGroup]
  TargetGroup:
    Type: AWS::ElasticLoadBalancingV2::TargetGroup
    Properties:
      Name: !Ref Name
      Port: 8000
      Protocol: HTTP
      VpcId: vpc-local
      HealthCheckPath: /
      HealthCheckIntervalSeconds: 5
      HealthCheckTimeoutSeconds: 2
      HealthyThresholdCount: 2
      UnhealthyThresholdCount: 2
      TargetGroupAttributes:
        - {Key: deregistration_delay.timeout_seconds, Value: "1"}
  LoadBalancer:
    Type: AWS::ElasticLoadBalancingV2::LoadBalancer
    Properties:
      Name: !Ref Name
      Subnets: [subnet-1, subnet-2]
  Listener:
    Type: AWS::ElasticLoadBalancingV2::Listener
    Properties:
      LoadBalancerArn: !Ref LoadBalancer
      Port: 80
      Protocol: HTTP
      DefaultActions:
        - {Type: forward, TargetGroupArn: !Ref TargetGroup}
  DeploymentGroup:
    Type: AWS::CodeDeploy::DeploymentGroup
    Properties:
      ApplicationName: !Ref App
      DeploymentGroupName: !Ref Name
      ServiceRoleArn: arn:aws:iam::000000000000:role/codedeploy
      DeploymentConfigName: !Ref Strategy
      AutoScalingGroups: [!Ref Group]
      DeploymentStyle: {DeploymentType: IN_PLACE, DeploymentOption: WITH_TRAFFIC_CONTROL}
      LoadBalancerInfo:
        TargetGroupInfoList:
          - Name: !GetAtt TargetGroup.TargetGroupName
      AutoRollbackConfiguration:
        Enabled: true
        Events: [DEPLOYMENT_FAILURE]
Outputs:
  URL:
    Value: !Sub http://${LoadBalancer.DNSName}
`

// The revision's appspec and hook scripts, in the public sample's shape:
// a Go binary and five hooks. The scripts work in both instance modes
// ($INSTANCE_ROOT is empty where the instance has its own mount namespace).
const deployAppspec = `version: 0.0
os: linux
files:
  - source: /app
    destination: /opt/goservice
hooks:
  ApplicationStop:
    - {location: codedeploy/stop.sh, timeout: 30}
  BeforeInstall:
    - {location: codedeploy/before-install.sh, timeout: 30}
  AfterInstall:
    - {location: codedeploy/after-install.sh, timeout: 30}
  ApplicationStart:
    - {location: codedeploy/start.sh, timeout: 30}
  ValidateService:
    - {location: codedeploy/validate.sh, timeout: 30}
`

var deployScripts = map[string]string{
	"codedeploy/stop.sh": `#!/bin/sh
pidfile="$INSTANCE_ROOT/var/lib/goservice/pid"
[ -f "$pidfile" ] || exit 0
pid=$(cat "$pidfile")
kill "$pid" 2>/dev/null
while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
rm -f "$pidfile"
`,
	"codedeploy/before-install.sh": "echo before install\n",
	"codedeploy/after-install.sh":  "chmod 755 \"$INSTANCE_ROOT/opt/goservice/app\"\n",
	"codedeploy/start.sh": `#!/bin/sh
mkdir -p "$INSTANCE_ROOT/var/lib/goservice"
"$INSTANCE_ROOT/opt/goservice/app" > "$INSTANCE_ROOT/var/lib/goservice/log" 2>&1 &
echo $! > "$INSTANCE_ROOT/var/lib/goservice/pid"
`,
	"codedeploy/validate.sh": `#!/bin/sh
for i in $(seq 1 100); do
  busybox wget -q -O- "http://127.0.0.1:${PORT:-8000}/" && exit 0
  sleep 0.05
done
echo "the service does not answer on port ${PORT:-8000}" >&2
exit 1
`,
}

// goservice builds the test service answering "Hello from goservice V".
func goservice(t testing.TB, version string) string {
	t.Helper()
	src := t.TempDir()
	for name, body := range goserviceFiles(t, map[string]string{}, "go.mod", "main.go") {
		body = strings.Replace(body, `const version = "1.0.0"`, `const version = "`+version+`"`, 1)
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(t.TempDir(), "app")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the service: %v\n%s", err, out)
	}
	return bin
}

// revisionDir lays out a revision of the service at version; validate, when
// not empty, replaces the ValidateService script.
func revisionDir(t testing.TB, version, validate string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"appspec.yml": deployAppspec}
	for k, v := range deployScripts {
		files[k] = v
	}
	if validate != "" {
		files["codedeploy/validate.sh"] = validate
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(goservice(t, version))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

type deploymentView struct {
	ID           string `json:"id"`
	Status       string `json:"status"`
	Creator      string `json:"creator"`
	ErrorCode    string `json:"error_code"`
	ErrorMessage string `json:"error_message"`
	Revision     struct {
		Digest string `json:"digest"`
	} `json:"revision"`
	Rollback struct {
		RollbackDeploymentID           string `json:"rollback_deployment_id"`
		RollbackTriggeringDeploymentID string `json:"rollback_triggering_deployment_id"`
	} `json:"rollback_info"`
	Overview map[string]int `json:"overview"`
}

type deployTarget struct {
	InstanceID string `json:"instance_id"`
	Status     string `json:"status"`
	Events     []struct {
		Name        string    `json:"name"`
		Status      string    `json:"status"`
		StartedAt   time.Time `json:"started_at"`
		EndedAt     time.Time `json:"ended_at"`
		Diagnostics *struct {
			ErrorCode string `json:"error_code"`
			Message   string `json:"message"`
			Log       string `json:"log"`
		} `json:"diagnostics"`
	} `json:"lifecycle_events"`
}

// createDeployment starts a deployment with the CLI and returns its ID.
func createDeployment(t testing.TB, s *server, app, group, revision string) string {
	t.Helper()
	var d deploymentView
	s.mustCLI(s.token, &d, "deploy", "create", app, group, "--revision", revision)
	if d.ID == "" {
		t.Fatalf("deploy create gave no ID")
	}
	return d.ID
}

func waitDeployment(t testing.TB, s *server, id string) deploymentView {
	t.Helper()
	var d deploymentView
	deadline := time.Now().Add(3 * time.Minute)
	for {
		s.mustCLI(s.token, &d, "deploy", "get", id)
		if d.Status == "Succeeded" || d.Status == "Failed" || d.Status == "Stopped" {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment %s still %s\n%s", id, d.Status, s.log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func deployTargets(t testing.TB, s *server, id string) []deployTarget {
	t.Helper()
	var ts []deployTarget
	s.mustCLI(s.token, &ts, "deploy", "instances", id)
	return ts
}

// answers sends n requests through url and counts the bodies.
func answers(t testing.TB, n int, url string) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for range n {
		out, err := curl(url)
		if err != nil {
			seen["error: "+err.Error()]++
			continue
		}
		seen[strings.TrimSpace(out)]++
	}
	return seen
}

func stackURL(t testing.TB, s *server, name string) string {
	t.Helper()
	var st stackView
	s.mustCLI(s.token, &st, "stack", "describe", name)
	for _, o := range st.Outputs {
		if o.Key == "URL" {
			return o.Value + "/"
		}
	}
	t.Fatalf("stack %s has no URL output", name)
	return ""
}

func healthyTargets(t testing.TB, s *server, tg string) int {
	t.Helper()
	var th []struct {
		State string `json:"state"`
	}
	s.mustCLI(s.token, &th, "lb", "targets", tg)
	n := 0
	for _, x := range th {
		if x.State == "healthy" {
			n++
		}
	}
	return n
}

func deployEnvironment(t testing.TB, s *server, name string, params ...string) string {
	t.Helper()
	tpl := filepath.Join(t.TempDir(), "env.yml")
	if err := os.WriteFile(tpl, []byte(deployTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{name, "--template", tpl, "--parameter-overrides", "Name=" + name}
	for _, p := range params {
		args = append(args, "--parameter-overrides", p)
	}
	if out, code := s.deployStack(t, args...); code != 0 || !strings.Contains(out, "CREATE_COMPLETE") {
		t.Fatalf("create stack %s (exit %d):\n%s\n%s", name, code, out, s.log)
	}
	return stackURL(t, s, name)
}

func TestDeploy_RollingDeploymentsBehindTheLoadBalancerRollBackByThemselves(t *testing.T) {
	needTools(t, "curl", "busybox")
	s := startServer(t)
	url := deployEnvironment(t, s, "web")

	// The first deployment: every lifecycle event, in CodeDeploy's order,
	// the traffic events included; ApplicationStop skipped (nothing to stop).
	d1 := waitDeployment(t, s, createDeployment(t, s, "web", "web", revisionDir(t, "1.0.0", "")))
	if d1.Status != "Succeeded" || d1.Overview["Succeeded"] != 2 {
		t.Fatalf("first deployment %+v\n%s", d1, s.log)
	}
	want := "BeforeBlockTraffic BlockTraffic AfterBlockTraffic ApplicationStop DownloadBundle BeforeInstall Install AfterInstall ApplicationStart ValidateService BeforeAllowTraffic AllowTraffic AfterAllowTraffic"
	for _, tg := range deployTargets(t, s, d1.ID) {
		var names []string
		for _, e := range tg.Events {
			names = append(names, e.Name)
			wantStatus := "Succeeded"
			switch e.Name {
			case "ApplicationStop", "BeforeBlockTraffic", "AfterBlockTraffic":
				wantStatus = "Skipped" // the host's first deployment
			}
			if e.Status != wantStatus {
				t.Errorf("%s %s: %s, want %s", tg.InstanceID, e.Name, e.Status, wantStatus)
			}
		}
		if got := strings.Join(names, " "); got != want {
			t.Errorf("%s events:\n got %s\nwant %s", tg.InstanceID, got, want)
		}
	}
	if got := answers(t, 10, url); got["Hello from goservice 1.0.0"] != 10 {
		t.Fatalf("through the load balancer: %v", got)
	}

	// A new version: ApplicationStop (1.0.0's script) stops the old one.
	d2 := waitDeployment(t, s, createDeployment(t, s, "web", "web", revisionDir(t, "1.1.0", "")))
	if d2.Status != "Succeeded" {
		t.Fatalf("second deployment %+v", d2)
	}
	if got := answers(t, 10, url); got["Hello from goservice 1.1.0"] != 10 {
		ts := deployTargets(t, s, d2.ID)
		t.Fatalf("after the second deployment: %v\n%s", got, s.mustCLI(s.token, nil, "logs", d2.ID, "--instance", ts[0].InstanceID))
	}

	// A revision whose ValidateService fails: the first instance fails, the
	// deployment fails, and a rollback to 1.1.0 follows by itself.
	bad := revisionDir(t, "2.0.0", "echo \"the service does not answer\" >&2\nexit 1\n")
	_, errs, err := s.cli(s.token, "deploy", "create", "web", "web", "--revision", bad, "--wait")
	if err == nil {
		t.Fatalf("deploy create --wait of a failing revision exited 0:\n%s", errs)
	}
	var list []deploymentView
	s.mustCLI(s.token, &list, "deploy", "list", "--app", "web")
	if len(list) != 4 {
		t.Fatalf("deployments listed: %+v", list)
	}
	failed := list[1]
	rollback := waitDeployment(t, s, list[0].ID)
	if failed.Status != "Failed" || failed.ErrorCode != "HEALTH_CONSTRAINTS" || failed.Rollback.RollbackDeploymentID != rollback.ID {
		t.Errorf("failed deployment %+v", failed)
	}
	if rollback.Status != "Succeeded" || rollback.Creator != "codeDeployRollback" || rollback.Rollback.RollbackTriggeringDeploymentID != failed.ID ||
		rollback.Revision.Digest != d2.Revision.Digest {
		t.Errorf("rollback %+v", rollback)
	}
	ts := deployTargets(t, s, failed.ID)
	if len(ts) != 2 || ts[0].Status != "Failed" || ts[1].Status != "Skipped" {
		t.Fatalf("failed deployment's instances: %+v", ts)
	}
	logs := s.mustCLI(s.token, nil, "logs", failed.ID, "--instance", ts[0].InstanceID)
	if !strings.Contains(logs, "the service does not answer") {
		t.Errorf("logs of %s on %s:\n%s", failed.ID, ts[0].InstanceID, logs)
	}
	// Every instance serves the previous version, and the load balancer
	// routes to all of them again.
	waitFor(t, "both targets healthy after the rollback", func() bool { return healthyTargets(t, s, "web") == 2 })
	if got := answers(t, 10, url); got["Hello from goservice 1.1.0"] != 10 {
		t.Errorf("after the rollback: %v", got)
	}

	// An instance that goes is replaced by one that receives the group's
	// last successful revision before it takes traffic.
	gone := ts[0].InstanceID
	s.mustCLI(s.token, nil, "fleet", "terminate", gone)
	var list2 []deploymentView
	waitFor(t, "the replacement's deployment", func() bool {
		s.mustCLI(s.token, &list2, "deploy", "list", "--app", "web")
		return len(list2) == 5 && list2[0].Status == "Succeeded"
	})
	if list2[0].Creator != "autoscaling" || list2[0].Revision.Digest != d2.Revision.Digest || list2[0].Overview["Succeeded"] != 1 {
		t.Errorf("the replacement's deployment %+v", list2[0])
	}
	waitFor(t, "both targets healthy with the replacement", func() bool { return healthyTargets(t, s, "web") == 2 })
	if got := answers(t, 10, url); got["Hello from goservice 1.1.0"] != 10 {
		t.Errorf("with the replacement: %v", got)
	}
}

func TestDeploy_HalfAtATimeFailingOnTwoOfFourInstancesRollsBack(t *testing.T) {
	needTools(t, "curl", "busybox")
	s := startServer(t)
	url := deployEnvironment(t, s, "half", "Count=4", "Strategy=CodeDeployDefault.HalfAtATime")
	d1 := waitDeployment(t, s, createDeployment(t, s, "half", "half", revisionDir(t, "1.0.0", "")))
	if d1.Status != "Succeeded" || d1.Overview["Succeeded"] != 4 {
		t.Fatalf("first deployment %+v\n%s", d1, s.log)
	}
	bad := waitDeployment(t, s, createDeployment(t, s, "half", "half", revisionDir(t, "2.0.0", "exit 1\n")))
	if bad.Status != "Failed" || bad.ErrorCode != "HEALTH_CONSTRAINTS" || bad.Rollback.RollbackDeploymentID == "" {
		t.Fatalf("failing deployment %+v", bad)
	}
	var statuses []string
	for _, tg := range deployTargets(t, s, bad.ID) {
		statuses = append(statuses, tg.Status)
	}
	if got := strings.Join(statuses, " "); got != "Failed Failed Skipped Skipped" {
		t.Errorf("instances of the failed deployment: %s (half at a time: a batch of two fails, the rest is untouched)", got)
	}
	if r := waitDeployment(t, s, bad.Rollback.RollbackDeploymentID); r.Status != "Succeeded" || r.Overview["Succeeded"] != 4 {
		t.Fatalf("rollback %+v", r)
	}
	waitFor(t, "all four targets healthy after the rollback", func() bool { return healthyTargets(t, s, "half") == 4 })
	if got := answers(t, 12, url); got["Hello from goservice 1.0.0"] != 12 {
		t.Errorf("after the rollback: %v", got)
	}
}

// onpremTemplate is a deployment group of on-premises hosts chosen by tag.
const onpremTemplate = `Resources:
  App:
    Type: AWS::CodeDeploy::Application
    Properties: {ApplicationName: lab}
  Hosts:
    Type: AWS::CodeDeploy::DeploymentGroup
    Properties:
      ApplicationName: !Ref App
      DeploymentGroupName: lab
      ServiceRoleArn: arn:aws:iam::000000000000:role/codedeploy
      DeploymentConfigName: CodeDeployDefault.AllAtOnce
      OnPremisesInstanceTagFilters:
        - {Key: env, Value: lab, Type: KEY_AND_VALUE}
`

// onpremAppspec installs a file and records each hook in $TRACE; on the
// host whose agent has SLOW set, ApplicationStart takes long.
const onpremAppspec = `version: 0.0
os: linux
files:
  - source: /site
    destination: /srv/site
hooks:
  BeforeInstall:
    - location: hook.sh
  ApplicationStart:
    - location: hook.sh
  ValidateService:
    - location: hook.sh
`

func TestDeploy_StandaloneAgentsJoinByTagsAndALostOneFailsOnlyItsHost(t *testing.T) {
	s := startServer(t, "--agent-timeout", "3s")
	tpl := filepath.Join(t.TempDir(), "lab.yml")
	if err := os.WriteFile(tpl, []byte(onpremTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := s.deployStack(t, "lab", "--template", tpl); code != 0 {
		t.Fatalf("stack (exit %d):\n%s", code, out)
	}
	// host0 gets its credential from `onprem register`; the others register
	// themselves with a user's token.
	var reg struct {
		Token string `json:"token"`
	}
	s.mustCLI(s.token, &reg, "onprem", "register", "host0", "--tags", "env=lab")
	type host struct {
		name, dir, root, trace string
		cmd                    *exec.Cmd
		log                    *syncBuffer
	}
	var hosts []*host
	for i := range 3 {
		h := &host{name: fmt.Sprintf("host%d", i), dir: t.TempDir(), log: &syncBuffer{}}
		h.root, h.trace = filepath.Join(h.dir, "fs"), filepath.Join(h.dir, "trace")
		token := s.token
		if i == 0 {
			token = reg.Token
		}
		h.cmd = exec.Command(binary, "agent", "--server", s.url, "--token", token, "--name", h.name, "--tags", "env=lab",
			"--data-dir", filepath.Join(h.dir, "agent"), "--install-root", h.root)
		h.cmd.Env = append(os.Environ(), "TRACE="+h.trace)
		if i == 0 {
			h.cmd.Env = append(h.cmd.Env, "SLOW=1")
		}
		h.cmd.Stdout, h.cmd.Stderr = h.log, h.log
		if err := h.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = h.cmd.Process.Kill()
			_ = h.cmd.Wait()
		})
		hosts = append(hosts, h)
	}
	var listed []struct {
		Name string            `json:"name"`
		Tags map[string]string `json:"tags"`
	}
	waitFor(t, "three hosts registered", func() bool {
		s.mustCLI(s.token, &listed, "onprem", "list")
		return len(listed) == 3
	})
	if b, err := os.ReadFile(filepath.Join(hosts[1].dir, "agent", "agent.json")); err != nil || strings.Contains(string(b), s.token) {
		t.Errorf("host1's saved credential: %v (it must be its own, never the user's token)", err)
	}

	rev := t.TempDir()
	for name, body := range map[string]string{
		"appspec.yml":    onpremAppspec,
		"site/index.txt": "lab v1\n",
		"hook.sh": "#!/bin/sh\necho \"$LIFECYCLE_EVENT\" >> \"$TRACE\"\n" +
			"if [ \"$LIFECYCLE_EVENT\" = ApplicationStart ] && [ -n \"$SLOW\" ]; then sleep 20; fi\n",
	} {
		p := filepath.Join(rev, name)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	id := createDeployment(t, s, "lab", "lab", rev)
	// Kill host0's agent in the middle of its slow ApplicationStart.
	waitFor(t, "host0 to start ApplicationStart", func() bool {
		b, _ := os.ReadFile(hosts[0].trace)
		return strings.Contains(string(b), "ApplicationStart")
	})
	_ = hosts[0].cmd.Process.Signal(syscall.SIGKILL)
	start := time.Now()
	d := waitDeployment(t, s, id)
	if d.Status != "Succeeded" || d.Overview["Succeeded"] != 2 || d.Overview["Failed"] != 1 {
		t.Fatalf("deployment %+v (all at once: the two live hosts decide)\n%s", d, s.log)
	}
	if took := time.Since(start); took > time.Minute {
		t.Errorf("the lost agent held the deployment for %s", took)
	}
	for _, tg := range deployTargets(t, s, id) {
		if tg.Status != "Failed" {
			continue
		}
		last := tg.Events[len(tg.Events)-1]
		for _, e := range tg.Events {
			if e.Status == "Failed" {
				last = e
			}
		}
		if last.Name != "ApplicationStart" || last.Diagnostics == nil || !strings.Contains(last.Diagnostics.Message, "agent") {
			t.Errorf("the lost host's failure: %+v %+v", last, last.Diagnostics)
		}
	}
	for _, h := range hosts[1:] {
		b, err := os.ReadFile(filepath.Join(h.root, "srv/site/index.txt"))
		if err != nil || string(b) != "lab v1\n" {
			t.Errorf("%s installed %q, %v", h.name, b, err)
		}
		if tr, _ := os.ReadFile(h.trace); string(tr) != "BeforeInstall\nApplicationStart\nValidateService\n" {
			t.Errorf("%s hooks:\n%s", h.name, tr)
		}
	}
}

func TestDeploy_AServerKilledMidDeploymentResumesIt(t *testing.T) {
	s := startServer(t)
	tpl := filepath.Join(t.TempDir(), "lab.yml")
	if err := os.WriteFile(tpl, []byte(strings.Replace(onpremTemplate, "CodeDeployDefault.AllAtOnce", "CodeDeployDefault.OneAtATime", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := s.deployStack(t, "lab", "--template", tpl); code != 0 {
		t.Fatalf("stack (exit %d):\n%s", code, out)
	}
	var traces []string
	for i := range 2 {
		dir := t.TempDir()
		traces = append(traces, filepath.Join(dir, "trace"))
		cmd := exec.Command(binary, "agent", "--server", s.url, "--token", s.token, "--name", fmt.Sprintf("host%d", i), "--tags", "env=lab",
			"--data-dir", filepath.Join(dir, "agent"), "--install-root", filepath.Join(dir, "fs"))
		cmd.Env = append(os.Environ(), "TRACE="+traces[i], "SLOW=1")
		log := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	rev := t.TempDir()
	for name, body := range map[string]string{
		"appspec.yml":    onpremAppspec,
		"site/index.txt": "lab v1\n",
		"hook.sh": "#!/bin/sh\necho \"$LIFECYCLE_EVENT\" >> \"$TRACE\"\n" +
			"if [ \"$LIFECYCLE_EVENT\" = ApplicationStart ]; then sleep 2; fi\n",
	} {
		p := filepath.Join(rev, name)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var listed []struct{ Name string }
	waitFor(t, "two hosts registered", func() bool {
		s.mustCLI(s.token, &listed, "onprem", "list")
		return len(listed) == 2
	})
	id := createDeployment(t, s, "lab", "lab", rev)
	waitFor(t, "the first host to start ApplicationStart", func() bool {
		b0, _ := os.ReadFile(traces[0])
		b1, _ := os.ReadFile(traces[1])
		return strings.Contains(string(b0)+string(b1), "ApplicationStart")
	})
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	_ = s.cmd.Wait()
	s.start()
	d := waitDeployment(t, s, id)
	if d.Status != "Succeeded" || d.Overview["Succeeded"] != 2 {
		t.Fatalf("deployment after the server's crash %+v\n%s", d, s.log)
	}
	// Every hook ran once on each host: the resumed deployment took up the
	// commands under way rather than sending them again.
	for i, tr := range traces {
		if b, _ := os.ReadFile(tr); string(b) != "BeforeInstall\nApplicationStart\nValidateService\n" {
			t.Errorf("host%d ran:\n%s", i, b)
		}
	}
}
