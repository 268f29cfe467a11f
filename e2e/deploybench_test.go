package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// sampleShapeTemplate is the public sample's environment as far as the
// deployment goes: an Auto Scaling group of two instances and a deployment
// group without LoadBalancerInfo, deployed one at a time.
const sampleShapeTemplate = `Resources:
  App:
    Type: AWS::CodeDeploy::Application
    Properties: {ApplicationName: sample}
  LaunchConfig:
    Type: AWS::AutoScaling::LaunchConfiguration
    Properties: {ImageId: ami-0123456789abcdef0, InstanceType: t3.micro}
  Group:
    Type: AWS::AutoScaling::AutoScalingGroup
    Properties: {LaunchConfigurationName: !Ref LaunchConfig, MinSize: "2", MaxSize: "2", DesiredCapacity: "2"}
  DeploymentGroup:
    Type: AWS::CodeDeploy::DeploymentGroup
    Properties:
      ApplicationName: !Ref App
      DeploymentGroupName: sample
      ServiceRoleArn: arn:aws:iam::000000000000:role/codedeploy
      DeploymentConfigName: CodeDeployDefault.OneAtATime
      AutoScalingGroups: [!Ref Group]
`

// api calls the server's API with the admin token.
func (s *server) api(t testing.TB, method, path string, in, out any) {
	t.Helper()
	var body bytes.Buffer
	if in != nil {
		_ = json.NewEncoder(&body).Encode(in)
	}
	req, err := http.NewRequest(method, s.url+path, &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e bytes.Buffer
		_, _ = e.ReadFrom(resp.Body)
		t.Fatalf("%s %s: %s %s", method, path, resp.Status, e.String())
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}

// timedDeployment creates a deployment of digest through the API and
// polls it closely until it ends: the time from create to the end, and
// the time the instances' hook scripts themselves took.
func timedDeployment(b *testing.B, s *server, app, group, digest string) (total, hooks time.Duration) {
	b.Helper()
	var d deploymentView
	start := time.Now()
	s.api(b, "POST", "/api/v1/projects/default/deployments", map[string]any{"application": app, "deployment_group": group, "revision": digest}, &d)
	for d.Status != "Succeeded" && d.Status != "Failed" && d.Status != "Stopped" {
		time.Sleep(5 * time.Millisecond)
		s.api(b, "GET", "/api/v1/projects/default/deployments/"+d.ID, nil, &d)
	}
	total = time.Since(start)
	if d.Status != "Succeeded" {
		b.Fatalf("deployment %+v", d)
	}
	for _, tg := range deployTargets(b, s, d.ID) {
		for _, e := range tg.Events {
			switch e.Name {
			case "DownloadBundle", "Install", "BlockTraffic", "AllowTraffic":
			default:
				if e.Status == "Succeeded" {
					hooks += e.EndedAt.Sub(e.StartedAt)
				}
			}
		}
	}
	return total, hooks
}

// BenchmarkDeploySampleShape measures a deployment of the sample's shape
// (two instances, one at a time, five hooks, a Go binary) from create to
// Succeeded, and how much of it the hook scripts took.
func BenchmarkDeploySampleShape(b *testing.B) {
	needTools(b, "busybox")
	s := startServer(b)
	tpl := filepath.Join(b.TempDir(), "sample.yml")
	if err := os.WriteFile(tpl, []byte(sampleShapeTemplate), 0o644); err != nil {
		b.Fatal(err)
	}
	if out, code := s.deployStack(b, "sample", "--template", tpl); code != 0 {
		b.Fatalf("stack: %s", out)
	}
	var digests []string
	for _, v := range []string{"1.0.0", "2.0.0"} {
		d := waitDeployment(b, s, createDeployment(b, s, "sample", "sample", revisionDir(b, v, "")))
		if d.Status != "Succeeded" {
			b.Fatalf("deployment %+v\n%s", d, s.log)
		}
		digests = append(digests, d.Revision.Digest)
	}
	var totals, overheads []time.Duration
	b.ResetTimer()
	for i := range b.N {
		total, hooks := timedDeployment(b, s, "sample", "sample", digests[i%2])
		totals, overheads = append(totals, total), append(overheads, total-hooks)
	}
	b.StopTimer()
	slices.Sort(totals)
	slices.Sort(overheads)
	b.ReportMetric(float64(totals[len(totals)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(overheads[len(overheads)/2].Milliseconds()), "p50-without-hooks-ms")
}

// BenchmarkZeroDowntimeDeploy sends requests through the load balancer
// with wrk while a new version is deployed (one at a time to two
// instances, then half at a time to four), and counts failed requests;
// afterwards every answer must come from the new version.
func BenchmarkZeroDowntimeDeploy(b *testing.B) {
	needTools(b, "busybox", "curl")
	if _, err := exec.LookPath("wrk"); err != nil {
		b.Skip("needs wrk (apt-get install wrk)")
	}
	s := startServer(b)
	for _, env := range []struct {
		name, strategy string
		count          int
	}{
		{"zd-one", "CodeDeployDefault.OneAtATime", 2},
		{"zd-half", "CodeDeployDefault.HalfAtATime", 4},
	} {
		url := deployEnvironment(b, s, env.name, fmt.Sprintf("Count=%d", env.count), "Strategy="+env.strategy)
		v1, v2 := revisionDir(b, "1.0.0", ""), revisionDir(b, "2.0.0", "")
		if d := waitDeployment(b, s, createDeployment(b, s, env.name, env.name, v1)); d.Status != "Succeeded" {
			b.Fatalf("%s: first deployment %+v", env.name, d)
		}
		waitFor(b, "every target healthy", func() bool { return healthyTargets(b, s, env.name) == env.count })
		host := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/")
		lbAddr := "http://127.0.0.1:" + host[strings.LastIndex(host, ":")+1:] + "/"
		for i := 0; i < b.N; i++ {
			done := make(chan wrkResult)
			go func() { done <- runWrk(b, 40*time.Second, lbAddr, "Host: "+host) }()
			time.Sleep(2 * time.Second)
			rev := v2
			if i%2 == 1 {
				rev = v1
			}
			start := time.Now()
			d := waitDeployment(b, s, createDeployment(b, s, env.name, env.name, rev))
			took := time.Since(start)
			r := <-done
			if d.Status != "Succeeded" {
				b.Fatalf("%s: deployment %+v", env.name, d)
			}
			if took > 35*time.Second {
				b.Errorf("%s: the deployment took %s, longer than wrk's window", env.name, took)
			}
			b.ReportMetric(r.rps, env.name+"-req/s")
			b.ReportMetric(float64(r.failed), env.name+"-failed")
			b.ReportMetric(took.Seconds(), env.name+"-deploy-s")
			if r.failed != 0 {
				b.Errorf("%s: %d requests failed during the deployment:\n%s", env.name, r.failed, r.raw)
			}
			want := "Hello from goservice 2.0.0"
			if rev == v1 {
				want = "Hello from goservice 1.0.0"
			}
			if got := answers(b, 20, url); got[want] != 20 {
				b.Errorf("%s: after the deployment: %v", env.name, got)
			}
		}
	}
}
