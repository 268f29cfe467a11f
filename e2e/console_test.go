package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
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

// visit opens a console page and waits for what it must show, then saves
// its screenshot (when asked for).
func visit(t *testing.T, ctx context.Context, base, path, selector, shot string) {
	t.Helper()
	vctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(vctx, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS(selector))); err != nil {
		html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main") ? document.querySelector("main").outerHTML : ""`))
		t.Fatalf("%s does not show %s: %v\n%s", path, selector, err, html)
	}
	screenshot(t, ctx, shot)
}

// href is the link of the first element selector matches.
func href(t *testing.T, ctx context.Context, selector string) string {
	t.Helper()
	vctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(vctx, chromedp.WaitVisible(chromedp.CSS(selector))); err != nil {
		t.Fatalf("no link %s: %v", selector, err)
	}
	link, err := chromedp.Run(vctx, chromedp.AttributeValue(chromedp.CSS(selector), "href"))
	if err != nil || link.Value == "" {
		t.Fatalf("no link %s: %+v %v", selector, link, err)
	}
	return link.Value
}

// The console in a real browser: an admin creates an application from
// its blueprint in a form, and its page follows the first execution to
// the approval live; a user who may not approve sees no approve button,
// and neither a same-site nor a cross-site forged approval gets through;
// an approver approves with a comment and sees production go green; the
// build's log opens from the pipeline's picture; every other page shows
// what the application made.
func TestConsole_CreateWatchApproveOpenTheBuildLogAndEveryPage(t *testing.T) {
	needTools(t, "curl")
	s := startServer(t)
	s.withPassword(t, "admin password", "user", "set-password", "admin")
	s.withPassword(t, "viewer password", "user", "create", "viewer", "--password-stdin")
	s.withPassword(t, "lead password", "user", "create", "lead", "--password-stdin")
	s.mustCLI(s.token, nil, "grant", "project", "viewer", "read")
	s.mustCLI(s.token, nil, "grant", "project", "lead", "read")

	// The admin creates the application in the form, and its page
	// follows the first execution to its approval without a reload.
	admin := browser(t)
	signIn(t, admin, s.url, "admin", "admin password")
	visit(t, admin, s.url, "/apps", "#create-app", "applications-empty")
	err := chromedp.Do(admin,
		chromedp.Click(chromedp.CSS("#create-app")),
		chromedp.WaitVisible(chromedp.CSS("#blueprint-form")),
		// Choosing a blueprint loads the form again with its parameters
		// (the page's script submits the choice): the old page is marked,
		// so that what follows waits for the new one.
		chromedp.Evaluate[chromedp.Void](`document.body.dataset.old = "1";
			const choice = document.querySelector("#blueprint");
			choice.value = "go-service";
			choice.dispatchEvent(new Event("change"));`),
		chromedp.WaitVisible(chromedp.CSS(`body:not([data-old]) form#newapp[data-blueprint="go-service"] #param-GoCache`)),
		chromedp.SendKeys(chromedp.CSS("#app-name"), "shop"),
		chromedp.SetValue(chromedp.CSS("#param-GoCache"), goCache(t)),
	)
	if err != nil {
		t.Fatalf("the create-application form: %v", err)
	}
	screenshot(t, admin, "create-application")
	cctx, cancel := context.WithTimeout(admin, time.Minute)
	err = chromedp.Do(cctx,
		chromedp.Click(chromedp.CSS("#create")),
		chromedp.WaitVisible(chromedp.CSS("#pipeline")),
	)
	cancel()
	if err != nil {
		html, _ := chromedp.Run(admin, chromedp.Evaluate[string](`location.href + "\n" + document.body.outerHTML`))
		t.Fatalf("create the application: %v\n%s\n%s", err, html, s.log)
	}
	err = chromedp.Do(admin, chromedp.WaitVisible(chromedp.CSS(`[data-stage="Approvals"] [data-status="InProgress"]`)))
	if err != nil {
		t.Fatalf("the page did not show the execution at its approval: %v\n%s", err, s.log)
	}
	// The environments come from the application, the picture from its
	// execution: the page may show one a poll before the other.
	if err := chromedp.Do(admin, chromedp.WaitVisible(chromedp.CSS(`tr[data-env="staging"]:not([data-revision=""])`))); err != nil {
		t.Fatalf("staging's revision on the page: %v", err)
	}
	rev, err := chromedp.Run(admin, chromedp.AttributeValue(chromedp.CSS(`tr[data-env="staging"]`), "data-revision"))
	if err != nil || len(rev.Value) < 12 {
		t.Fatalf("staging's revision on the page: %+v %v", rev, err)
	}
	screenshot(t, admin, "application")
	s.mustCLI(s.token, nil, "grant", "pipeline/shop", "lead", "approve")

	// A reader sees the execution waiting, and no button.
	viewer := browser(t)
	signIn(t, viewer, s.url, "viewer", "viewer password")
	visit(t, viewer, s.url, "/apps/shop", `[data-stage="Approvals"] [data-status="InProgress"]`, "")
	forms, err := chromedp.Run(viewer, chromedp.Nodes(chromedp.CSS("#approval"), chromedp.AtLeast(0)))
	if err != nil || len(forms) != 0 {
		t.Errorf("a reader sees %d approval forms (%v)", len(forms), err)
	}
	// The same request the form would send, forged from the reader's page:
	// the console passes it to the API, which refuses it.
	var es []pipelineExecution
	s.mustCLI(s.token, &es, "pipeline", "executions", "shop")
	var waiting string
	for _, e := range es {
		if e.Status == "InProgress" {
			waiting = e.ID
		}
	}
	if waiting == "" {
		t.Fatalf("no execution in progress: %+v", es)
	}
	status, err := chromedp.Run(viewer, chromedp.Evaluate[int](fmt.Sprintf(`fetch("/apps/shop/approvals", {method: "POST",
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
	req, _ := http.NewRequest("POST", s.url+"/apps/shop/approvals", strings.NewReader(form.Encode()))
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
	// With the keyboard only: the comment, then Tab to Approve and Enter.
	err = chromedp.Do(lead,
		chromedp.Navigate(s.url+"/apps/shop"),
		chromedp.WaitVisible(chromedp.CSS("#approval")),
		chromedp.Focus(chromedp.CSS("#comment")),
		chromedp.KeyEvent("ship it"),
		chromedp.KeyEvent(kb.Tab),
	)
	if err != nil {
		t.Fatalf("type the approval's comment: %v", err)
	}
	if focused, err := chromedp.Run(lead, chromedp.Evaluate[string](`document.activeElement.id`)); err != nil || focused != "approve" {
		t.Fatalf("Tab after the comment focuses %q, not Approve (%v)", focused, err)
	}
	err = chromedp.Do(lead,
		chromedp.KeyEvent(kb.Enter),
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
	s.mustCLI(s.token, &app, "app", "get", "shop")
	prod, _ := app.environment("production")
	if got := answers(t, 4, prod+"/"); got["Hello from go-service 1.0.0"] != 4 {
		t.Errorf("production answers %v", got)
	}
	states, err := chromedp.Run(lead, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('[data-stage="Production"] [data-action]')].map(a => a.dataset.status)`, chromedp.EvalAsValue))
	if err != nil || len(states) != 2 || states[0] != "Succeeded" || states[1] != "Succeeded" {
		t.Errorf("production's actions on the page: %v %v", states, err)
	}

	// The build's log, from the Build action of the picture: its phases,
	// its commands' lines, and its artifact with the digest to download.
	build := href(t, admin, `[data-stage="Build"] a.action-link[data-link="build"]`)
	visit(t, admin, s.url, build, `#build-status[data-status="SUCCEEDED"]`, "build")
	log, err := chromedp.Run(admin, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('#log .log-line')].map(l => l.textContent)`, chromedp.EvalAsValue))
	if err != nil || !strings.Contains(strings.Join(log, "\n"), "go vet ./...") {
		t.Errorf("the build log (%d lines, %v) does not show go vet running:\n%s", len(log), err, strings.Join(log, "\n"))
	}
	phases, err := chromedp.Run(admin, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('#build-phases tr[data-phase]')].map(p => p.dataset.phase + ":" + p.dataset.status)`, chromedp.EvalAsValue))
	if err != nil || !slices.Contains(phases, "BUILD:SUCCEEDED") {
		t.Errorf("the build's phases: %v %v", phases, err)
	}
	download, err := chromedp.Run(admin, chromedp.Evaluate[string](`(async () => {
		const a = document.querySelector("#build-artifacts a.build-download");
		const r = await fetch(a.href);
		const b = await r.arrayBuffer();
		return r.status + " " + r.headers.get("X-Artifact-Digest") + " " + b.byteLength;
	})()`, chromedp.EvalAsValue, chromedp.EvalAwaitPromise))
	if f := strings.Fields(download); err != nil || len(f) != 3 || f[0] != "200" || !strings.HasPrefix(f[1], "sha256:") || f[2] == "0" {
		t.Errorf("the artifact's download: %q %v", download, err)
	}

	// Every other page, each with what the application made.
	visit(t, admin, s.url, "/apps", `tr [data-env="production"]`, "applications")
	visit(t, admin, s.url, "/pipelines/shop", `#history tr[data-execution="`+waiting+`"][data-status="Succeeded"]`, "pipeline")
	visit(t, admin, s.url, "/pipelines/shop/executions/"+waiting, `section.exec-stage[data-stage="Production"][data-status="Succeeded"]`, "execution")
	visit(t, admin, s.url, "/apps/shop", `tr[data-env="production"][data-instances="2"][data-healthy="2"]`, "")
	deployment := href(t, admin, `[data-stage="Production"] a.action-link[data-link="deployment"]`)
	visit(t, admin, s.url, deployment, `section.deploy-instance[data-status="Succeeded"] tr[data-event="ValidateService"][data-status="Succeeded"]`, "deployment")
	visit(t, admin, s.url, "/stacks", `tr[data-stack="shop-production"]`, "stacks")
	visit(t, admin, s.url, "/stacks/shop-production", `#resources tr[data-resource][data-physical-id]`, "stack")
	visit(t, admin, s.url, "/fleet", `tr[data-instance][data-state="InService"][data-health="Healthy"]`, "fleet")
	visit(t, admin, s.url, "/load-balancers", `tr[data-target][data-state="healthy"]`, "load-balancers")
	visit(t, admin, s.url, "/repos", `tr[data-repo="shop"]`, "repositories")
	visit(t, admin, s.url, "/repos/shop", `#tree tr[data-entry="buildspec.yml"]`, "repository")
	visit(t, admin, s.url, "/repos/shop/blob?path=buildspec.yml", `#blob a#L1`, "file")
	visit(t, admin, s.url, "/repos/shop/commits", `#commits tr[data-commit]`, "commits")
	visit(t, admin, s.url, "/admin", `table#users tr[data-user="lead"]`, "admin-users")
	visit(t, admin, s.url, "/admin/teams", `#main h1`, "admin-teams")
	visit(t, admin, s.url, "/admin/roles", `table#grants tr[data-subject="lead"][data-role="approve"]`, "admin-roles")
	// The lead's approval went through the console: the log names the
	// browser's address, not the console's.
	visit(t, admin, s.url, "/admin/audit?actor=lead&action=approvals", `table#audit tr[data-actor="lead"][data-from="127.0.0.1"]`, "admin-audit")
	visit(t, admin, s.url, "/tokens", `#main h1`, "tokens")

	// On a phone-width screen no page is wider than the screen: wide
	// tables and logs scroll inside themselves.
	const phoneWidth = 390
	if err := chromedp.Do(admin, chromedp.EmulateViewport(phoneWidth, 844, chromedp.EmulateMobile, chromedp.EmulatePortrait)); err != nil {
		t.Fatal(err)
	}
	for _, page := range []struct{ path, selector, shot string }{
		{"/apps", `tr[data-app="shop"]`, "phone-applications"},
		{"/apps/shop", `#pipeline`, "phone-application"},
		{"/pipelines/shop", `#history`, "phone-pipeline"},
		{build, `#log`, "phone-build"},
		{deployment, `section.deploy-instance`, "phone-deployment"},
		{"/stacks/shop-production", `#resources`, "phone-stack"},
		{"/fleet", `tr[data-instance]`, "phone-fleet"},
		{"/repos/shop/blob?path=main.go", `#blob a#L1`, "phone-file"},
		{"/admin/audit", `table#audit`, "phone-audit"},
	} {
		visit(t, admin, s.url, page.path, page.selector, page.shot)
		// A mobile browser widens its layout to fit a page wider than the
		// screen, so the page is measured against the screen itself.
		width, err := chromedp.Run(admin, chromedp.Evaluate[int](`document.documentElement.scrollWidth`, chromedp.EvalAsValue))
		if err != nil || width > phoneWidth {
			wide, _ := chromedp.Run(admin, chromedp.Evaluate[[]string](`[...document.querySelectorAll("body *")].
				filter(e => e.getBoundingClientRect().right > 390 && !(function scrolls(a) {
					return a && a !== document.body && (["auto", "scroll", "hidden"].includes(getComputedStyle(a).overflowX) || scrolls(a.parentElement));
				})(e.parentElement)).slice(0, 5).
				map(e => e.tagName + (e.id ? "#" + e.id : "") + "." + e.className + " " + Math.round(e.getBoundingClientRect().right))`, chromedp.EvalAsValue))
			t.Errorf("%s on a phone is %d pixels wide, for a screen of %d (%v); wide: %v", page.path, width, phoneWidth, err, wide)
		}
	}
}
