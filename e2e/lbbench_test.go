package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// wrkResult is what wrk reports of one run.
type wrkResult struct {
	rps    float64
	p99    time.Duration
	failed int // non-2xx/3xx responses and socket errors
	raw    string
}

var (
	wrkRPS    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkP99    = regexp.MustCompile(`\s99%\s+([0-9.]+)(us|ms|s)`)
	wrkNon2xx = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	wrkSocket = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

func runWrk(b *testing.B, d time.Duration, url string, headers ...string) wrkResult {
	b.Helper()
	args := []string{"-t2", "-c32", "-d" + strconv.Itoa(int(d.Seconds())) + "s", "--latency"}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	out, err := exec.Command("wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, out)
	}
	r := wrkResult{raw: string(out)}
	if m := wrkRPS.FindStringSubmatch(r.raw); m != nil {
		r.rps, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := wrkP99.FindStringSubmatch(r.raw); m != nil {
		v, _ := strconv.ParseFloat(m[1], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[2]]
		r.p99 = time.Duration(v * float64(unit))
	}
	if m := wrkNon2xx.FindStringSubmatch(r.raw); m != nil {
		n, _ := strconv.Atoi(m[1])
		r.failed += n
	}
	if m := wrkSocket.FindStringSubmatch(r.raw); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.Atoi(s)
			r.failed += n
		}
	}
	if r.rps == 0 {
		b.Fatalf("wrk printed no rate:\n%s", out)
	}
	return r
}

// startNginx runs nginx with one worker (its best on two cores) proxying
// to backends with keep-alive upstream connections, and returns its
// address.
func startNginx(b *testing.B, backends []string) string {
	b.Helper()
	dir := b.TempDir()
	addr := freeAddr(b)
	var servers strings.Builder
	for _, be := range backends {
		fmt.Fprintf(&servers, "    server %s;\n", be)
	}
	conf := fmt.Sprintf(`worker_processes 1;
daemon off;
error_log %[1]s/error.log;
pid %[1]s/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  upstream app {
%[2]s    keepalive 256;
  }
  server {
    listen %[3]s;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`, dir, servers.String(), addr)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command("nginx", "-c", filepath.Join(dir, "nginx.conf"), "-p", dir)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	waitFor(b, "nginx to listen", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr
}

// lbBenchTemplate puts the two backends behind a load balancer as ip
// targets, as nginx has them.
const lbBenchTemplate = `Parameters:
  Port1: {Type: Number}
  Port2: {Type: Number}
Resources:
  Group:
    Type: AWS::ElasticLoadBalancingV2::TargetGroup
    Properties:
      Name: bench
      Port: 80
      Protocol: HTTP
      VpcId: vpc-local
      TargetType: ip
      HealthCheckIntervalSeconds: 5
      HealthCheckTimeoutSeconds: 2
      HealthyThresholdCount: 2
      Targets:
        - {Id: 127.0.0.1, Port: !Ref Port1}
      TargetGroupAttributes:
        - {Key: deregistration_delay.timeout_seconds, Value: "5"}
  LoadBalancer:
    Type: AWS::ElasticLoadBalancingV2::LoadBalancer
    Properties: {Name: bench}
  Listener:
    Type: AWS::ElasticLoadBalancingV2::Listener
    Properties:
      LoadBalancerArn: !Ref LoadBalancer
      Port: 80
      Protocol: HTTP
      DefaultActions: [{Type: forward, TargetGroupArn: !Ref Group}]
Outputs:
  URL: {Value: !Sub "http://${LoadBalancer.DNSName}"}
`

// BenchmarkLoadBalancerVsNginx measures requests per second and p99
// latency through the load balancer (the real binary) to two trivial Go
// HTTP servers, beside nginx proxying to the same two in the same run, with
// wrk -c32; then deregisters one target under load and counts failed
// requests.
func BenchmarkLoadBalancerVsNginx(b *testing.B) {
	for _, tool := range []string{"wrk", "nginx"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("needs %s (apt-get install wrk nginx-light)", tool)
		}
	}
	var backends []string
	for i := range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		body := []byte(fmt.Sprintf("hello from backend %d\n", i))
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write(body)
		})}
		go func() { _ = srv.Serve(ln) }()
		b.Cleanup(func() { srv.Close() })
		backends = append(backends, ln.Addr().String())
	}
	_, port1, _ := net.SplitHostPort(backends[0])
	_, port2, _ := net.SplitHostPort(backends[1])

	s := startServer(b)
	tpl := filepath.Join(b.TempDir(), "lb.yml")
	if err := os.WriteFile(tpl, []byte(lbBenchTemplate), 0o644); err != nil {
		b.Fatal(err)
	}
	if out, code := s.deployStack(b, "bench", "--template", tpl, "--parameter-overrides", "Port1="+port1, "Port2="+port2); code != 0 {
		b.Fatalf("deploy: %s", out)
	}
	s.mustCLI(s.token, nil, "lb", "register", "bench", "127.0.0.1:"+port2)
	waitFor(b, "both targets healthy", func() bool { return healthyTargets(b, s, "bench") == 2 })
	var st stackView
	s.mustCLI(s.token, &st, "stack", "describe", "bench")
	lbURL := ""
	for _, o := range st.Outputs {
		if o.Key == "URL" {
			lbURL = o.Value
		}
	}
	host := strings.TrimPrefix(lbURL, "http://")
	_, lbPort, _ := net.SplitHostPort(host)
	lbAddr := "http://127.0.0.1:" + lbPort + "/"
	nginxURL := "http://" + startNginx(b, backends) + "/"

	for i := 0; i < b.N; i++ {
		// Alternate and keep each one's best run: the machine is shared.
		var best [2]wrkResult
		for range 2 {
			for j, run := range []func() wrkResult{
				func() wrkResult { return runWrk(b, 5*time.Second, lbAddr, "Host: "+host) },
				func() wrkResult { return runWrk(b, 5*time.Second, nginxURL) },
			} {
				if r := run(); r.rps > best[j].rps {
					best[j] = r
				}
			}
		}
		lb, ng := best[0], best[1]
		b.ReportMetric(lb.rps, "lb-req/s")
		b.ReportMetric(ng.rps, "nginx-req/s")
		b.ReportMetric(lb.rps/ng.rps, "ratio")
		b.ReportMetric(float64(lb.p99.Microseconds())/1000, "lb-p99-ms")
		b.ReportMetric(float64(ng.p99.Microseconds())/1000, "nginx-p99-ms")
		if lb.failed+ng.failed > 0 {
			b.Errorf("failed requests: load balancer %d, nginx %d\n%s\n%s", lb.failed, ng.failed, lb.raw, ng.raw)
		}
	}

	// A target deregistered (and drained) while wrk runs: no request fails.
	done := make(chan wrkResult)
	go func() { done <- runWrk(b, 6*time.Second, lbAddr, "Host: "+host) }()
	time.Sleep(2 * time.Second)
	s.mustCLI(s.token, nil, "lb", "deregister", "bench", "127.0.0.1:"+port2, "--wait")
	r := <-done
	b.ReportMetric(float64(r.failed), "failed-on-deregister")
	if r.failed != 0 {
		b.Errorf("%d requests failed while a target was deregistered:\n%s", r.failed, r.raw)
	}
}
