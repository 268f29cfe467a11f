package web

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/client"
)

// stackFake is the stacks part of the fake API: one stack, "app", in any
// project.
type stackFake struct {
	mu        sync.Mutex
	stack     client.Stack
	gone      bool
	resources []client.StackResource
	events    []client.StackEvent
	sets      []client.ChangeSet
	// afters are the ?after= of the events requests.
	afters   []int64
	executed []string // PROJECT/STACK/CS
	deleted  []string
	// refuse answers the change set forms with this error.
	refuse *client.Error
}

const (
	lbARN = "arn:aws:elasticloadbalancing:local:000000000000:loadbalancer/app/front/0123456789abcdef"
	tgARN = "arn:aws:elasticloadbalancing:local:000000000000:targetgroup/web-tg/fedcba9876543210"
)

func newStackFake() *stackFake {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sf := &stackFake{
		stack: client.Stack{ID: "st1", Name: "app", Status: "UPDATE_COMPLETE", Description: "The shop's <production> stack",
			TemplateName: "infra.yml", CreatedAt: at, UpdatedAt: at.Add(time.Hour),
			Parameters: []client.StackParameter{{Key: "DbPassword", Value: "****"}, {Key: "Env", Value: "prod"}},
			Outputs:    []client.StackOutput{{Key: "URL", Value: "http://front.lb.localhost:8081", Description: "Where it answers", ExportName: "app-url"}},
			Tags:       map[string]string{"team": "web"}},
		resources: []client.StackResource{
			{Logical: "Group", Type: "AWS::AutoScaling::AutoScalingGroup", PhysicalID: "web-asg", Status: "CREATE_COMPLETE"},
			{Logical: "Front", Type: "AWS::ElasticLoadBalancingV2::LoadBalancer", PhysicalID: lbARN, Status: "CREATE_COMPLETE"},
			{Logical: "Targets", Type: "AWS::ElasticLoadBalancingV2::TargetGroup", PhysicalID: tgARN, Status: "UPDATE_FAILED", Reason: "bad <port>"},
			{Logical: "Pipe", Type: "AWS::CodePipeline::Pipeline", PhysicalID: "app-pipe", Status: "CREATE_COMPLETE"},
			{Logical: "Bucket", Type: "AWS::S3::Bucket", PhysicalID: "app-bucket-1", Status: "CREATE_COMPLETE"},
			{Logical: "Later", Type: "AWS::S3::Bucket", Status: "CREATE_IN_PROGRESS"},
		},
		sets: []client.ChangeSet{
			{ID: "c1", Name: "old", StackName: "app", Type: "UPDATE", Status: "FAILED", ExecutionStatus: "UNAVAILABLE",
				StatusReason: "The submitted information didn't contain changes.", CreatedAt: at},
			{ID: "c2", Name: "next", StackName: "app", Type: "UPDATE", Status: "CREATE_COMPLETE", ExecutionStatus: "AVAILABLE", CreatedAt: at.Add(time.Minute),
				Changes: []client.Change{
					{Action: "Add", Logical: "Cache", Type: "AWS::S3::Bucket"},
					{Action: "Modify", Logical: "Group", PhysicalID: "web-asg", Type: "AWS::AutoScaling::AutoScalingGroup", Replacement: "True",
						Scope: []string{"Properties"}, Details: []client.ChangeDetail{{Name: "LaunchConfigurationName", RequiresRecreation: "Always", Evaluation: "Static"}}},
					{Action: "Remove", Logical: "Old<One>", Type: "AWS::S3::Bucket", PhysicalID: "old-bucket"},
				}},
		},
	}
	for i := 1; i <= 3; i++ {
		sf.addEvent("Group", "CREATE_COMPLETE", "reason "+strconv.Itoa(i))
	}
	return sf
}

// addEvent appends an event; the caller holds mu or owns sf alone.
func (sf *stackFake) addEvent(logical, status, reason string) {
	seq := int64(len(sf.events) + 1)
	sf.events = append(sf.events, client.StackEvent{Seq: seq, Logical: logical, Type: "AWS::AutoScaling::AutoScalingGroup",
		Status: status, Reason: reason, At: time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC).Add(time.Duration(seq) * time.Second)})
}

func (sf *stackFake) set(fn func(sf *stackFake)) {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	fn(sf)
}

func (sf *stackFake) routes(mux *http.ServeMux, _ *fakeAPI, authed func(http.HandlerFunc) http.HandlerFunc) {
	const base = "/api/v1/projects/{project}/stacks"
	// found answers whether the path names the stack, answering 404 if not.
	found := func(w http.ResponseWriter, r *http.Request) bool {
		if r.PathValue("name") != "app" || sf.gone {
			apiError(w, 404, "not_found", "Stack with id "+r.PathValue("name")+" does not exist")
			return false
		}
		return true
	}
	handle := func(pattern string, h func(w http.ResponseWriter, r *http.Request)) {
		mux.HandleFunc(pattern, authed(func(w http.ResponseWriter, r *http.Request) {
			sf.mu.Lock()
			defer sf.mu.Unlock()
			h(w, r)
		}))
	}
	handle("GET "+base, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, []client.Stack{sf.stack, {ID: "st2", Name: "db", Status: "ROLLBACK_COMPLETE", StatusReason: "The following resource(s) failed to create: [Db]."}})
	})
	handle("GET "+base+"/{name}", func(w http.ResponseWriter, r *http.Request) {
		if found(w, r) {
			writeJSON(w, 200, sf.stack)
		}
	})
	handle("GET "+base+"/{name}/resources", func(w http.ResponseWriter, r *http.Request) {
		if found(w, r) {
			writeJSON(w, 200, sf.resources)
		}
	})
	handle("GET "+base+"/{name}/events", func(w http.ResponseWriter, r *http.Request) {
		if !found(w, r) {
			return
		}
		after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit <= 0 || limit > 1000 {
			limit = 1000
		}
		sf.afters = append(sf.afters, after)
		out := []client.StackEvent{}
		for _, e := range sf.events {
			if e.Seq > after && len(out) < limit {
				out = append(out, e)
			}
		}
		writeJSON(w, 200, out)
	})
	handle("GET "+base+"/{name}/change-sets", func(w http.ResponseWriter, r *http.Request) {
		if found(w, r) {
			writeJSON(w, 200, sf.sets)
		}
	})
	changeSet := func(w http.ResponseWriter, r *http.Request) *client.ChangeSet {
		if !found(w, r) {
			return nil
		}
		for i := range sf.sets {
			if sf.sets[i].Name == r.PathValue("cs") {
				return &sf.sets[i]
			}
		}
		apiError(w, 404, "not_found", "ChangeSet ["+r.PathValue("cs")+"] does not exist")
		return nil
	}
	handle("GET "+base+"/{name}/change-sets/{cs}", func(w http.ResponseWriter, r *http.Request) {
		if cs := changeSet(w, r); cs != nil {
			writeJSON(w, 200, cs)
		}
	})
	handle("POST "+base+"/{name}/change-sets/{cs}/execute", func(w http.ResponseWriter, r *http.Request) {
		cs := changeSet(w, r)
		switch {
		case cs == nil:
		case sf.refuse != nil:
			apiError(w, sf.refuse.Status, sf.refuse.Code, sf.refuse.Message)
		default:
			sf.executed = append(sf.executed, r.PathValue("project")+"/"+r.PathValue("name")+"/"+cs.Name)
			writeJSON(w, 200, sf.stack)
		}
	})
	handle("DELETE "+base+"/{name}/change-sets/{cs}", func(w http.ResponseWriter, r *http.Request) {
		cs := changeSet(w, r)
		switch {
		case cs == nil:
		case sf.refuse != nil:
			apiError(w, sf.refuse.Status, sf.refuse.Code, sf.refuse.Message)
		default:
			sf.deleted = append(sf.deleted, r.PathValue("project")+"/"+r.PathValue("name")+"/"+cs.Name)
			w.WriteHeader(http.StatusNoContent)
		}
	})
}

var seqAttr = regexp.MustCompile(`<tr data-seq="(\d+)"`)

// eventSeqs are the seqs of the events table's rows, in page order.
func eventSeqs(body string) []int {
	var out []int
	for _, m := range seqAttr.FindAllStringSubmatch(body, -1) {
		n, _ := strconv.Atoi(m[1])
		out = append(out, n)
	}
	return out
}

func TestStacksList(t *testing.T) {
	sf := newStackFake()
	_, srv := setup(t, Config{}, sf.routes)
	resp, body := do(t, "GET", srv.URL+"/stacks?project=team", nil, nil, true)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d:\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{
		`<tr data-stack="app" data-status="UPDATE_COMPLETE">`,
		`<a href="/stacks/app?project=team">app</a>`,
		`The shop&#39;s &lt;production&gt; stack`,
		`<tr data-stack="db" data-status="ROLLBACK_COMPLETE">`,
		`The following resource(s) failed to create: [Db].`,
		`<a href="/stacks" aria-current="page">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the list lacks %q:\n%s", want, body)
		}
	}
	if resp, _ := do(t, "GET", srv.URL+"/stacks", nil, nil, false); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fstacks" {
		t.Errorf("signed out: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestStackPage(t *testing.T) {
	sf := newStackFake()
	_, srv := setup(t, Config{}, sf.routes)
	resp, body := do(t, "GET", srv.URL+"/stacks/app", nil, nil, true)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d:\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{
		// NoEcho: the API's mask, marked as such; other values as they are.
		`<tr data-parameter="DbPassword" data-masked="true">`,
		`<code>****</code> <span class="muted">hidden (NoEcho)</span>`,
		`<tr data-parameter="Env">` + "\n" + `<th scope="row">Env</th>` + "\n" + `<td class="infra-id"><code>prod</code></td>`,
		// Physical IDs link to the pages of what they name.
		`<a href="/fleet#group-web-asg"><code>web-asg</code></a>`,
		`<a href="/load-balancers#lb-front"><code>` + lbARN + `</code></a>`,
		`<a href="/load-balancers#tg-web-tg"><code>` + tgARN + `</code></a>`,
		`<a href="/pipelines/app-pipe"><code>app-pipe</code></a>`,
		`<td class="infra-id"><code>app-bucket-1</code></td>`,
		`<span class="muted">none yet</span>`,
		// A resource's status with its reason, escaped.
		`data-resource="Targets" data-status="UPDATE_FAILED"`,
		`bad &lt;port&gt;`,
		`<tr data-output="URL">`, `<code class="output-value">http://front.lb.localhost:8081</code>`, `<code>app-url</code>`,
		`<span class="badge">team=web</span>`,
		`id="stack-status" data-status="UPDATE_COMPLETE"`,
		// Change sets, newest first, with a word and a symbol.
		`<a href="/stacks/app/change-sets/next">next</a>`,
		`<span class="status status-bad"><span class="symbol" aria-hidden="true">✗</span> FAILED</span>`,
		`<span class="status status-ok"><span class="symbol" aria-hidden="true">✓</span> AVAILABLE</span>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(body, "<production>") || strings.Contains(body, "<port>") {
		t.Error("text from the API is not escaped")
	}
	if strings.Index(body, `data-change-set="next"`) > strings.Index(body, `data-change-set="old"`) {
		t.Error("the change sets are not newest first")
	}
	if got := eventSeqs(body); len(got) != 3 || got[0] != 3 || got[2] != 1 {
		t.Errorf("events in the order %v, want newest first [3 2 1]", got)
	}
	// A stack at rest is not followed live.
	if strings.Contains(body, `id="live"`) || strings.Contains(body, "live.js") {
		t.Error("a complete stack's page is live")
	}
	// The project goes into every link.
	_, body = do(t, "GET", srv.URL+"/stacks/app?project=team", nil, nil, true)
	if !strings.Contains(body, `<a href="/fleet?project=team#group-web-asg">`) || !strings.Contains(body, `<a href="/stacks/app/change-sets/next?project=team">`) {
		t.Errorf("the project is not kept in the links:\n%s", body)
	}
}

func TestStackEventsNewestOnly(t *testing.T) {
	sf := newStackFake()
	sf.events = nil
	for i := 0; i < 1205; i++ {
		sf.addEvent("Group", "UPDATE_IN_PROGRESS", "")
	}
	_, srv := setup(t, Config{}, sf.routes)
	_, body := do(t, "GET", srv.URL+"/stacks/app", nil, nil, true)
	got := eventSeqs(body)
	if len(got) != stackEventsShown || got[0] != 1205 || got[len(got)-1] != 1205-stackEventsShown+1 {
		t.Fatalf("%d events shown, from %v to %v", len(got), got[0], got[len(got)-1])
	}
	if !strings.Contains(body, "The newest 200 of 1205 events, newest first.") {
		t.Error("the page does not say it shows only the newest events")
	}
	sf.set(func(sf *stackFake) {
		if len(sf.afters) != 2 || sf.afters[0] != 0 || sf.afters[1] != 1000 {
			t.Errorf("events read with after=%v, want [0 1000]", sf.afters)
		}
	})
}

func TestStackNotFound(t *testing.T) {
	sf := newStackFake()
	_, srv := setup(t, Config{}, sf.routes)
	for path, msg := range map[string]string{
		"/stacks/nope":                  "Stack with id nope does not exist",
		"/stacks/app/change-sets/nope":  "ChangeSet [nope] does not exist",
		"/stacks/nope/change-sets/next": "Stack with id nope does not exist",
	} {
		resp, body := do(t, "GET", srv.URL+path, nil, nil, true)
		if resp.StatusCode != 404 || !strings.Contains(body, msg) {
			t.Errorf("%s: %d, want 404 saying %q:\n%s", path, resp.StatusCode, msg, body)
		}
	}
}

func TestChangeSetPage(t *testing.T) {
	sf := newStackFake()
	_, srv := setup(t, Config{}, sf.routes)
	resp, body := do(t, "GET", srv.URL+"/stacks/app/change-sets/next?project=team", nil, nil, true)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d:\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{
		`<tr data-change="Cache" data-action="Add" data-replacement="">`,
		`<tr data-change="Group" data-action="Modify" data-replacement="True">`,
		`<span class="replacement-True">True</span>`,
		`<span class="muted">Scope:</span> Properties`,
		`<li><code>LaunchConfigurationName</code>: recreation Always, Static</li>`,
		`<tr data-change="Old&lt;One&gt;" data-action="Remove"`,
		`<form method="post" action="/stacks/app/change-sets/next/execute" id="execute-change-set">`,
		`<form method="post" action="/stacks/app/change-sets/next/delete" id="delete-change-set">`,
		`<input type="hidden" name="project" value="team">`,
		`<a href="/stacks/app?project=team" id="stack-link">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// A change set that cannot execute offers no Execute.
	_, body = do(t, "GET", srv.URL+"/stacks/app/change-sets/old", nil, nil, true)
	if strings.Contains(body, "execute-change-set") || !strings.Contains(body, "delete-change-set") ||
		!strings.Contains(body, `id="change-set-reason">The submitted information didn&#39;t contain changes.`) {
		t.Errorf("the unavailable change set's page:\n%s", body)
	}
}

func TestChangeSetExecuteAndDelete(t *testing.T) {
	sf := newStackFake()
	_, srv := setup(t, Config{}, sf.routes)
	resp, _ := do(t, "POST", srv.URL+"/stacks/app/change-sets/next/execute", url.Values{"project": {"team"}}, nil, true)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/stacks/app?project=team" {
		t.Errorf("execute: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = do(t, "POST", srv.URL+"/stacks/app/change-sets/old/delete", url.Values{}, nil, true)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/stacks/app#change-sets" {
		t.Errorf("delete: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	sf.set(func(sf *stackFake) {
		if strings.Join(sf.executed, ",") != "team/app/next" || strings.Join(sf.deleted, ",") != "default/app/old" {
			t.Errorf("the API executed %v and deleted %v", sf.executed, sf.deleted)
		}
		sf.refuse = &client.Error{Status: 403, Code: "forbidden", Message: "alice may not write to the project default"}
	})

	// The API's refusal shows on the change set's page, with its status.
	for _, action := range []string{"execute", "delete"} {
		resp, body := do(t, "POST", srv.URL+"/stacks/app/change-sets/next/"+action, url.Values{}, nil, true)
		if resp.StatusCode != 403 || !strings.Contains(body, `<p class="alert" role="alert" id="error">alice may not write to the project default</p>`) ||
			!strings.Contains(body, `id="change-set-name">next</span>`) {
			t.Errorf("%s refused: %d:\n%s", action, resp.StatusCode, body)
		}
	}
	// A form from another site is refused before the API hears of it.
	resp, _ = do(t, "POST", srv.URL+"/stacks/app/change-sets/next/execute", url.Values{}, http.Header{"Sec-Fetch-Site": {"cross-site"}}, true)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site execute: %d", resp.StatusCode)
	}
	sf.set(func(sf *stackFake) {
		if len(sf.executed) != 1 || len(sf.deleted) != 1 {
			t.Errorf("refused forms reached the API: %v %v", sf.executed, sf.deleted)
		}
	})
}

func TestStackLive(t *testing.T) {
	sf := newStackFake()
	sf.stack.Status = "UPDATE_IN_PROGRESS"
	_, srv := setup(t, Config{Poll: 10 * time.Millisecond}, sf.routes)
	_, body := do(t, "GET", srv.URL+"/stacks/app", nil, nil, true)
	if !strings.Contains(body, `<div id="live" aria-live="polite"`) || !strings.Contains(body, "live.js") {
		t.Fatalf("a stack being updated is not live:\n%s", body)
	}

	resp, r := openStreamResp(t, srv.URL+"/stacks/app/live")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	event, data := sseEvent(t, r)
	if event != "update" || !strings.Contains(data, `id="stack-status" data-status="UPDATE_IN_PROGRESS"`) || !strings.Contains(data, `<table id="resources"`) ||
		len(eventSeqs(data)) != 3 || strings.Contains(data, "<html") {
		t.Fatalf("first event %q:\n%s", event, data)
	}

	sf.set(func(sf *stackFake) {
		sf.addEvent("Group", "UPDATE_COMPLETE", "")
		sf.stack.Status = "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"
	})
	event, data = sseEvent(t, r)
	if got := eventSeqs(data); event != "update" || len(got) != 4 || got[0] != 4 || !strings.Contains(data, `data-status="UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"`) {
		t.Fatalf("second event %q (events %v):\n%s", event, got, data)
	}
	sf.set(func(sf *stackFake) {
		// The page and the stream's first rendering read every event; the
		// stream's refreshes only those after the ones it has.
		if len(sf.afters) < 3 || sf.afters[0] != 0 || sf.afters[1] != 0 {
			t.Errorf("events read with after=%v", sf.afters)
		}
		for _, a := range sf.afters[2:] {
			if a < 3 {
				t.Errorf("a refresh read the events after %d, though it had up to 3 (all: %v)", a, sf.afters)
			}
		}
		sf.gone = true
	})
	event, data = sseEvent(t, r)
	if event != "update" || !strings.Contains(data, `id="gone"`) || !strings.Contains(data, `<a href="/stacks">Back to the stacks</a>`) || strings.Contains(data, "<table") {
		t.Fatalf("after the stack went, event %q:\n%s", event, data)
	}
}

// A stack that settles ends its page's stream: the last update, then
// "end", then nothing (the browser closes it rather than reconnecting).
func TestStackLiveEndsWhenTheStackSettles(t *testing.T) {
	sf := newStackFake()
	sf.stack.Status = "UPDATE_IN_PROGRESS"
	_, srv := setup(t, Config{Poll: 10 * time.Millisecond}, sf.routes)
	r := openStream(t, srv.URL+"/stacks/app/live")
	if event, _ := sseEvent(t, r); event != "update" {
		t.Fatalf("first event %q", event)
	}
	sf.set(func(sf *stackFake) { sf.stack.Status = "UPDATE_COMPLETE" })
	if event, data := sseEvent(t, r); event != "update" || !strings.Contains(data, `data-status="UPDATE_COMPLETE"`) {
		t.Fatalf("the settled stack's update %q:\n%s", event, data)
	}
	if event, _ := sseEvent(t, r); event != "end" {
		t.Fatalf("after the stack settled, event %q, want end", event)
	}
	if line, err := r.ReadString('\n'); err == nil {
		t.Errorf("the stream goes on after end: %q", line)
	}
}
