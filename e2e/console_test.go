package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser starts a headless Chromium for the test and returns a tab's
// context. Each call is a browser of its own: its own cookies.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		needTools(t, "chromium")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(cancelTimeout)
	return ctx
}

// screenshot saves the page as NAME.png in $SLIPWAY_SCREENSHOTS, when set.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("SLIPWAY_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// withPassword runs a CLI verb that reads a password from its input.
func (s *server) withPassword(t *testing.T, password string, args ...string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(gitEnv(t), "SLIPWAY_URL="+s.url, "SLIPWAY_TOKEN="+s.token)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("slipway %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// signIn signs in through the form.
func signIn(t *testing.T, ctx context.Context, base, name, password string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("#signout")),
	)
	if err != nil {
		t.Fatalf("sign in as %s: %v", name, err)
	}
}

// The console in a real browser: the sample's first execution reaches its
// approval live on the application's page; a user who may not approve sees
// no approve button, and neither a same-site nor a cross-site forged
// approval gets through; an approver approves with a comment and sees
// production go green.
func TestConsole_TheApprovalInABrowser(t *testing.T) {
	needTools(t, "curl")
	s, _ := startUp(t)
	s.withPassword(t, "admin password", "user", "set-password", "admin")
	s.withPassword(t, "viewer password", "user", "create", "viewer", "--password-stdin")
	s.withPassword(t, "lead password", "user", "create", "lead", "--password-stdin")
	s.mustCLI(s.token, nil, "grant", "project", "viewer", "read")
	s.mustCLI(s.token, nil, "grant", "project", "lead", "read")

	// The admin watches the application from the start: the page follows
	// the execution to its approval without a reload.
	admin := browser(t)
	signIn(t, admin, s.url, "admin", "admin password")
	screenshot(t, admin, "applications")
	err := chromedp.Do(admin,
		chromedp.Navigate(s.url+"/apps/hello"),
		chromedp.WaitVisible(chromedp.CSS("#pipeline")),
	)
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(admin, chromedp.WaitVisible(chromedp.CSS(`[data-stage="Approvals"] [data-status="InProgress"]`)))
	if err != nil {
		t.Fatalf("the page did not show the execution at its approval: %v\n%s", err, s.stdout)
	}
	rev, err := chromedp.Run(admin, chromedp.AttributeValue(chromedp.CSS(`tr[data-env="staging"]`), "data-revision"))
	if err != nil || len(rev.Value) < 12 {
		t.Fatalf("staging's revision on the page: %+v %v", rev, err)
	}
	screenshot(t, admin, "application")
	waitLine(t, s.stdout, 30*time.Second, "the pipeline to wait for its approval", regexp.MustCompile(`Waiting for approval`), 0)
	s.mustCLI(s.token, nil, "grant", "pipeline/hello", "lead", "approve")

	// A reader sees the execution waiting, and no button.
	viewer := browser(t)
	signIn(t, viewer, s.url, "viewer", "viewer password")
	err = chromedp.Do(viewer, chromedp.Navigate(s.url+"/apps/hello"),
		chromedp.WaitVisible(chromedp.CSS(`[data-stage="Approvals"] [data-status="InProgress"]`)))
	if err != nil {
		t.Fatal(err)
	}
	forms, err := chromedp.Run(viewer, chromedp.Nodes(chromedp.CSS("#approval"), chromedp.AtLeast(0)))
	if err != nil || len(forms) != 0 {
		t.Errorf("a reader sees %d approval forms (%v)", len(forms), err)
	}
	// The same request the form would send, forged from the reader's page:
	// the console passes it to the API, which refuses it.
	var es []pipelineExecution
	s.mustCLI(s.token, &es, "pipeline", "executions", "hello")
	var waiting string
	for _, e := range es {
		if e.Status == "InProgress" {
			waiting = e.ID
		}
	}
	if waiting == "" {
		t.Fatalf("no execution in progress: %+v", es)
	}
	status, err := chromedp.Run(viewer, chromedp.Evaluate[int](fmt.Sprintf(`fetch("/apps/hello/approvals", {method: "POST",
		headers: {"Content-Type": "application/x-www-form-urlencoded"},
		body: "execution=%s&stage=Approvals&action=ProductionGate&decision=approve&comment=forged"}).then(r => r.status)`, waiting),
		chromedp.EvalAsValue, chromedp.EvalAwaitPromise))
	if err != nil || status < 400 {
		t.Errorf("a reader's approval through the console: status %d, %v", status, err)
	}
	// And from another site, with the reader's cookie: refused before the
	// API is asked.
	cookies, err := chromedp.Run(viewer, chromedp.Evaluate[string](`document.cookie`))
	if err != nil {
		t.Fatal(err)
	}
	if cookies != "" {
		t.Errorf("the session cookie is readable by scripts: %q", cookies)
	}
	form := url.Values{"execution": {waiting}, "stage": {"Approvals"}, "action": {"ProductionGate"}, "decision": {"approve"}}
	req, _ := http.NewRequest("POST", s.url+"/apps/hello/approvals", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-site approval: %d, want 403", resp.StatusCode)
	}
	var e pipelineExecution
	s.mustCLI(s.token, &e, "pipeline", "execution", waiting)
	if a := e.action("Approvals"); a == nil || a.Status != "InProgress" {
		t.Fatalf("after the forged approvals the gate is %+v", a)
	}

	// The approver approves with a comment; production goes green on the
	// page.
	lead := browser(t)
	signIn(t, lead, s.url, "lead", "lead password")
	err = chromedp.Do(lead,
		chromedp.Navigate(s.url+"/apps/hello"),
		chromedp.WaitVisible(chromedp.CSS("#approval")),
		chromedp.SendKeys(chromedp.CSS("#comment"), "ship it"),
		chromedp.Click(chromedp.CSS(`#approval button[value="approve"]`)),
		// Production runs the commit once its stage has passed: every
		// action green, the environment's revision set.
		chromedp.WaitVisible(chromedp.CSS(`tr[data-env="production"]:not([data-revision=""])`)),
	)
	if err != nil {
		t.Fatalf("approve in the browser: %v\n%s", err, s.log)
	}
	screenshot(t, lead, "approved")
	s.mustCLI(s.token, &e, "pipeline", "execution", waiting)
	a := e.action("Approvals")
	if e.Status != "Succeeded" || a == nil || a.Decision == nil || a.Decision.By != "lead" || a.Decision.Comment != "ship it" {
		t.Errorf("the execution after the approval: %s %+v", e.Status, a)
	}
	var app appView
	s.mustCLI(s.token, &app, "app", "get", "hello")
	prod, _ := app.environment("production")
	if got := answers(t, 4, prod+"/"); got["Hello from go-service 1.0.0"] != 4 {
		t.Errorf("production answers %v", got)
	}
	waitLine(t, s.stdout, 30*time.Second, "slipway up to say production is live", regexp.MustCompile(`production is live`), 0)
	states, err := chromedp.Run(lead, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('[data-stage="Production"] [data-action]')].map(a => a.dataset.status)`, chromedp.EvalAsValue))
	if err != nil || len(states) != 2 || states[0] != "Succeeded" || states[1] != "Succeeded" {
		t.Errorf("production's actions on the page: %v %v", states, err)
	}
}
