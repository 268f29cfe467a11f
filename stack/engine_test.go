package stack

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/template"
)

// thing is the test resource type: each resource is an entry in a map, so
// the tests see exactly what exists. Create is idempotent by token.
type thing struct {
	mu       sync.Mutex
	live     map[string]map[string]any // physical ID → properties
	byToken  map[string]string
	creates  int
	failOn   string // a Name property value whose create fails
	active   int
	maxAct   int
	order    []string // "create Name", "delete Name" as they happen
	slow     time.Duration
	onCreate func(name string) // called inside Create
}

func newThing() *thing {
	return &thing{live: map[string]map[string]any{}, byToken: map[string]string{}}
}

func (p *thing) Schema() Schema {
	return Schema{
		Properties: map[string]Property{
			"Name":   {Update: Replace},
			"Value":  {Update: InPlace},
			"Shape":  {Update: Replace},
			"Fixed":  {Update: Replace},
			"Needed": {Required: false},
		},
		Attributes:   []string{"Arn", "Value"},
		NameProperty: "Fixed",
	}
}

func (p *thing) enter() {
	p.mu.Lock()
	p.active++
	p.maxAct = max(p.maxAct, p.active)
	p.mu.Unlock()
	if p.slow > 0 {
		time.Sleep(p.slow)
	}
}

func (p *thing) leave() {
	p.mu.Lock()
	p.active--
	p.mu.Unlock()
}

func (p *thing) Create(ctx context.Context, r *Request) (*Outcome, error) {
	p.enter()
	defer p.leave()
	name := fmt.Sprint(r.Properties["Name"])
	if p.onCreate != nil {
		p.onCreate(name)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if id, ok := p.byToken[r.Token]; ok {
		return &Outcome{PhysicalID: id, Attrs: map[string]any{"Arn": "arn:" + id}}, nil
	}
	if name == p.failOn {
		return nil, errors.New("boom: " + name)
	}
	p.creates++
	id := fmt.Sprintf("%s-%d", name, p.creates)
	p.live[id] = r.Properties
	p.byToken[r.Token] = id
	p.order = append(p.order, "create "+name)
	return &Outcome{PhysicalID: id, Attrs: map[string]any{"Arn": "arn:" + id, "Value": r.Properties["Value"]}}, nil
}

func (p *thing) Update(ctx context.Context, r *Request) (*Outcome, error) {
	p.enter()
	defer p.leave()
	p.mu.Lock()
	defer p.mu.Unlock()
	if fmt.Sprint(r.Properties["Value"]) == "fail" {
		return nil, errors.New("cannot set Value to fail")
	}
	p.live[r.PhysicalID] = r.Properties
	p.order = append(p.order, "update "+fmt.Sprint(r.Properties["Name"]))
	return &Outcome{Attrs: map[string]any{"Arn": "arn:" + r.PhysicalID, "Value": r.Properties["Value"]}}, nil
}

func (p *thing) Delete(ctx context.Context, r *Request) error {
	p.enter()
	defer p.leave()
	p.mu.Lock()
	defer p.mu.Unlock()
	id := r.PhysicalID
	if id == "" {
		// A create that never returned: find what it made, if anything.
		if id = p.byToken[r.Token]; id == "" {
			return nil
		}
	}
	delete(p.live, id)
	p.order = append(p.order, "delete "+fmt.Sprint(r.Properties["Name"]))
	return nil
}

func (p *thing) names() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, props := range p.live {
		out = append(out, fmt.Sprint(props["Name"]))
	}
	slices.Sort(out)
	return out
}

// memState keeps an operation's records in memory, as a database would.
type memState struct {
	mu       sync.Mutex
	status   []string
	recs     map[string]*Resource
	events   []Event
	outputs  []template.OutputValue
	exports  map[string]string
	signals  func(logical string) error
	ids      int
	failSave string // make SaveResource fail for this logical ID (a crash)
}

func newState() *memState {
	return &memState{recs: map[string]*Resource{}, exports: map[string]string{}}
}

func (m *memState) SetStatus(_ context.Context, status, _ string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.status = append(m.status, status)
	return nil
}

func (m *memState) SaveResource(_ context.Context, r *Resource) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failSave != "" && r.Logical == m.failSave && r.Status == CreateComplete {
		return errors.New("the database went away")
	}
	cp := *r
	m.recs[r.ID] = &cp
	return nil
}

func (m *memState) DropResource(_ context.Context, r *Resource) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.recs, r.ID)
	return nil
}

func (m *memState) Event(_ context.Context, e *Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, *e)
	return nil
}

func (m *memState) Outputs(_ context.Context, outs []template.OutputValue) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.outputs = outs
	return nil
}

func (m *memState) Import(_ context.Context, name string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.exports[name]; ok {
		return v, nil
	}
	return "", fmt.Errorf("No export named %s found", name)
}

func (m *memState) WaitSignals(_ context.Context, logical string, _ int, _ time.Duration, _ ...string) error {
	if m.signals != nil {
		return m.signals(logical)
	}
	return nil
}

func (m *memState) NewID() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ids++
	return fmt.Sprintf("rec%d", m.ids)
}

// records are the saved records, as a resumed operation would load them.
func (m *memState) records() []*Resource {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Resource
	for _, r := range m.recs {
		cp := *r
		out = append(out, &cp)
	}
	slices.SortFunc(out, func(a, b *Resource) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (m *memState) last() string { return m.status[len(m.status)-1] }

func (m *memState) eventsOf(logical string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, e := range m.events {
		if e.Logical == logical {
			out = append(out, e.Status)
		}
	}
	return out
}

func target(t testing.TB, body string, values map[string]string) *Target {
	t.Helper()
	tp, err := template.Parse("test.yml", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	p, err := tp.Bind(values)
	if err != nil {
		t.Fatal(err)
	}
	return &Target{Template: tp, Params: p, Pseudo: template.DefaultPseudo("test")}
}

func engine(p Provider) *Engine {
	reg := NewRegistry()
	reg.Register("Custom::Thing", p)
	return &Engine{Registry: reg}
}

const chain = `
Parameters:
  V: {Type: String, Default: one}
  Shape: {Type: String, Default: round}
Resources:
  A:
    Type: Custom::Thing
    Properties: {Name: a, Value: !Ref V, Shape: !Ref Shape}
  B:
    Type: Custom::Thing
    Properties: {Name: b, Value: !GetAtt A.Arn}
  C:
    Type: Custom::Thing
    DependsOn: B
    Properties: {Name: c, Value: !Sub "${A}-${B}"}
Outputs:
  Out:
    Value: !GetAtt C.Arn
    Export: {Name: !Sub "${AWS::StackName}-c"}
`

func create(t *testing.T, e *Engine, st *memState, tg *Target) string {
	t.Helper()
	final, err := e.Run(context.Background(), &Operation{StackID: "s1", StackName: "test", Status: CreateInProgress, New: tg}, st)
	if err != nil {
		t.Fatal(err)
	}
	return final
}

func TestRun_CreateRunsInDependencyOrderAndRecordsOutputs(t *testing.T) {
	p := newThing()
	st := newState()
	if final := create(t, engine(p), st, target(t, chain, nil)); final != CreateComplete {
		t.Fatalf("final %s: %v", final, st.events)
	}
	if want := []string{"create a", "create b", "create c"}; !slices.Equal(p.order, want) {
		t.Fatalf("order %v, want %v", p.order, want)
	}
	if got := st.eventsOf("A"); !slices.Equal(got, []string{CreateInProgress, CreateComplete}) {
		t.Errorf("events of A: %v", got)
	}
	if len(st.outputs) != 1 || st.outputs[0].Value != "arn:c-3" || st.outputs[0].ExportName != "test-c" {
		t.Errorf("outputs %+v", st.outputs)
	}
	if got := st.eventsOf("test"); !slices.Equal(got, []string{CreateComplete}) {
		t.Errorf("stack events %v", got)
	}
}

func TestRun_IndependentResourcesAreCreatedInParallel(t *testing.T) {
	var b strings.Builder
	b.WriteString("Resources:\n")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&b, "  R%d:\n    Type: Custom::Thing\n    Properties: {Name: r%d}\n", i, i)
	}
	p := newThing()
	p.slow = 20 * time.Millisecond
	st := newState()
	if final := create(t, engine(p), st, target(t, b.String(), nil)); final != CreateComplete {
		t.Fatal(final)
	}
	if p.maxAct < 2 {
		t.Fatalf("at most %d create ran at once", p.maxAct)
	}
	if len(p.names()) != 40 {
		t.Fatalf("%d resources", len(p.names()))
	}
}

func TestRun_AFailedCreateRollsBackToRollbackComplete(t *testing.T) {
	p := newThing()
	p.failOn = "c"
	st := newState()
	final := create(t, engine(p), st, target(t, chain, nil))
	if final != RollbackComplete {
		t.Fatalf("final %s", final)
	}
	if len(p.names()) != 0 {
		t.Fatalf("left behind: %v", p.names())
	}
	if got := st.eventsOf("C"); !slices.Equal(got, []string{CreateInProgress, CreateFailed, DeleteInProgress, DeleteComplete}) {
		t.Errorf("events of C: %v", got)
	}
	if !slices.Equal(st.status, []string{RollbackInProgress, RollbackComplete}) {
		t.Errorf("statuses %v", st.status)
	}
	// Deletion runs in reverse dependency order.
	if want := []string{"create a", "create b", "delete b", "delete a"}; !slices.Equal(p.order, want) {
		t.Errorf("order %v, want %v", p.order, want)
	}
	var reason string
	for _, ev := range st.events {
		if ev.Logical == "test" && ev.Status == RollbackInProgress {
			reason = ev.Reason
		}
	}
	if !strings.Contains(reason, "The following resource(s) failed to create: [C]") {
		t.Errorf("rollback reason %q", reason)
	}
}

func update(t *testing.T, e *Engine, st *memState, old, new *Target) string {
	t.Helper()
	final, err := e.Run(context.Background(), &Operation{StackID: "s1", StackName: "test", Status: UpdateInProgress, New: new, Old: old, Resources: st.records()}, st)
	if err != nil {
		t.Fatal(err)
	}
	return final
}

func TestRun_UpdateInPlaceAndWithReplacement(t *testing.T) {
	p := newThing()
	st := newState()
	e := engine(p)
	v1 := target(t, chain, nil)
	create(t, e, st, v1)
	// In place: A's Value changes; nothing depends on Value's physical ID.
	v2 := target(t, chain, map[string]string{"V": "two"})
	if final := update(t, e, st, v1, v2); final != UpdateComplete {
		t.Fatalf("final %s", final)
	}
	if !slices.Contains(p.order, "update a") || p.creates != 3 {
		t.Fatalf("in-place update: %v", p.order)
	}
	// Replacement: A's Shape changes; A gets a new physical ID, so B and
	// C (which refer to it) are updated, and the old A goes at cleanup.
	p.order = nil
	v3 := target(t, chain, map[string]string{"V": "two", "Shape": "square"})
	if final := update(t, e, st, v2, v3); final != UpdateComplete {
		t.Fatalf("final %s", final)
	}
	want := []string{"create a", "update b", "update c", "delete a"}
	if !slices.Equal(p.order, want) {
		t.Fatalf("order %v, want %v", p.order, want)
	}
	if got := p.names(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("live %v", got)
	}
	if !slices.Contains(st.status, UpdateCompleteCleanupInProgress) {
		t.Errorf("statuses %v", st.status)
	}
}

func TestRun_AFailedUpdateRollsBackWithTheOldResourcesInPlace(t *testing.T) {
	p := newThing()
	st := newState()
	e := engine(p)
	v1 := target(t, chain, nil)
	create(t, e, st, v1)
	before := fmt.Sprint(p.live)
	// A is replaced (new Shape), then B's update fails.
	v2 := target(t, strings.Replace(chain, "Value: !GetAtt A.Arn", "Value: fail", 1), map[string]string{"Shape": "square"})
	if final := update(t, e, st, v1, v2); final != UpdateRollbackComplete {
		t.Fatalf("final %s %v", final, st.status)
	}
	if after := fmt.Sprint(p.live); after != before {
		t.Fatalf("resources after rollback\n%s\nwant\n%s", after, before)
	}
	for _, r := range st.records() {
		if r.Replaced {
			t.Errorf("a replaced record survived: %+v", r)
		}
	}
}

func TestRun_ReplacingACustomNamedResourceFailsWithCloudFormationsMessage(t *testing.T) {
	p := newThing()
	st := newState()
	e := engine(p)
	body := "Parameters:\n  F: {Type: String}\n  S: {Type: String}\nResources:\n  N:\n    Type: Custom::Thing\n    Properties: {Name: n, Fixed: !Ref F, Shape: !Ref S}\n"
	v1 := target(t, body, map[string]string{"F": "one", "S": "round"})
	create(t, e, st, v1)
	// Shape forces a replacement while the name stays: the new resource
	// could not take the name the old one still holds.
	v2 := target(t, body, map[string]string{"F": "one", "S": "square"})
	if final := update(t, e, st, v1, v2); final != UpdateRollbackComplete {
		t.Fatalf("final %s", final)
	}
	var reason string
	for _, ev := range st.events {
		if ev.Logical == "N" && ev.Status == UpdateFailed {
			reason = ev.Reason
		}
	}
	if reason != "CloudFormation cannot update a stack when a custom-named resource requires replacing. Rename N and update the stack again." {
		t.Fatalf("reason %q", reason)
	}
	if p.creates != 1 {
		t.Fatalf("%d creates", p.creates)
	}
	// A new name is no obstacle: the replacement goes ahead.
	v3 := target(t, body, map[string]string{"F": "two", "S": "square"})
	if final := update(t, e, st, v1, v3); final != UpdateComplete {
		t.Fatalf("final %s", final)
	}
	if p.creates != 2 || len(p.names()) != 1 {
		t.Fatalf("%d creates, live %v", p.creates, p.names())
	}
}

func TestRun_DeleteHonoursRetainAndRunsInReverseOrder(t *testing.T) {
	p := newThing()
	st := newState()
	e := engine(p)
	body := strings.Replace(chain, "  B:\n    Type: Custom::Thing\n", "  B:\n    Type: Custom::Thing\n    DeletionPolicy: Retain\n", 1)
	create(t, e, st, target(t, body, nil))
	p.order = nil
	final, err := e.Run(context.Background(), &Operation{StackID: "s1", StackName: "test", Status: DeleteInProgress, Resources: st.records()}, st)
	if err != nil || final != DeleteComplete {
		t.Fatalf("%s %v", final, err)
	}
	if want := []string{"delete c", "delete a"}; !slices.Equal(p.order, want) {
		t.Fatalf("order %v, want %v", p.order, want)
	}
	if got := st.eventsOf("B"); got[len(got)-1] != DeleteSkipped {
		t.Errorf("events of B %v", got)
	}
	if len(st.records()) != 0 {
		t.Errorf("records left: %v", st.records())
	}
}

func TestRun_AnInterruptedCreateResumesWithoutCreatingTwice(t *testing.T) {
	p := newThing()
	st := newState()
	e := engine(p)
	tg := target(t, chain, nil)
	// The "server" dies after B's provider call, before B's success is
	// recorded: B exists but its record says CREATE_IN_PROGRESS.
	st.failSave = "B"
	final, err := e.Run(context.Background(), &Operation{StackID: "s1", StackName: "test", Status: CreateInProgress, New: tg}, st)
	if err == nil && final == CreateComplete {
		t.Fatal("the operation finished despite the failed save")
	}
	st.failSave = ""
	st.status = []string{CreateInProgress}
	final, err = e.Run(context.Background(), &Operation{StackID: "s1", StackName: "test", Status: CreateInProgress, New: tg, Resources: st.records()}, st)
	if err != nil || final != CreateComplete {
		t.Fatalf("resume: %s %v %v", final, err, st.events)
	}
	if p.creates != 3 || !slices.Equal(p.names(), []string{"a", "b", "c"}) {
		t.Fatalf("creates %d, live %v", p.creates, p.names())
	}
}

func TestRun_ACreationPolicyWaitsForSignalsAndAFailureSignalFailsTheResource(t *testing.T) {
	body := `
Resources:
  Group:
    Type: Custom::Thing
    CreationPolicy:
      ResourceSignal: {Count: 2, Timeout: PT15M}
    Properties: {Name: g}
`
	for _, c := range []struct {
		signal error
		final  string
	}{{nil, CreateComplete}, {errors.New("Received FAILURE signal with UniqueId i-1"), RollbackComplete}} {
		p := newThing()
		st := newState()
		var asked string
		st.signals = func(l string) error { asked = l; return c.signal }
		if final := create(t, engine(p), st, target(t, body, nil)); final != c.final {
			t.Fatalf("final %s, want %s", final, c.final)
		}
		if asked != "Group" {
			t.Fatalf("signals were not awaited")
		}
		waiting := false
		for _, ev := range st.events {
			waiting = waiting || strings.Contains(ev.Reason, "Waiting for 2 success signal(s) within 15m0s")
		}
		if !waiting {
			t.Errorf("no event says the resource waits for signals: %v", st.events)
		}
	}
}

func TestPlan_ShowsAddModifyRemoveAndReplacement(t *testing.T) {
	p := newThing()
	st := newState()
	e := engine(p)
	create(t, e, st, target(t, chain, nil))
	body := strings.Replace(chain, "  C:\n    Type: Custom::Thing\n    DependsOn: B\n    Properties: {Name: c, Value: !Sub \"${A}-${B}\"}\n",
		"  D:\n    Type: Custom::Thing\n    Properties: {Name: d}\n", 1)
	body = strings.Replace(body, "Value: !GetAtt C.Arn", "Value: !GetAtt D.Arn", 1)
	changes, err := e.Plan(context.Background(), target(t, body, map[string]string{"Shape": "square"}), st.records(), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range changes {
		got[c.Logical] = c.Action + "/" + c.Replacement
	}
	want := map[string]string{"A": "Modify/True", "B": "Modify/False", "D": "Add/", "C": "Remove/"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
	for _, c := range changes {
		if c.Logical == "B" && (len(c.Details) != 1 || c.Details[0].Evaluation != "Dynamic") {
			t.Errorf("B's Value depends on the replaced A: %+v", c.Details)
		}
	}
	if len(p.order) != 3 {
		t.Fatalf("plan changed something: %v", p.order)
	}
	none, err := e.Plan(context.Background(), target(t, chain, nil), st.records(), nil)
	if err != nil || len(none) != 0 {
		t.Fatalf("no change planned as %v %v", none, err)
	}
}

// BenchmarkApply100IndependentResources creates a stack of 100 resources
// with nothing between them, each create taking 5 ms as a cheap local
// resource might: parallelism is what keeps the total well under a second.
func BenchmarkApply100IndependentResources(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("Resources:\n")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&sb, "  R%d:\n    Type: Custom::Thing\n    Properties: {Name: r%d}\n", i, i)
	}
	tg := target(b, sb.String(), nil)
	for i := 0; i < b.N; i++ {
		p := newThing()
		p.slow = 5 * time.Millisecond
		final, err := engine(p).Run(context.Background(), &Operation{StackID: "s", StackName: "bench", Status: CreateInProgress, New: tg}, newState())
		if err != nil || final != CreateComplete {
			b.Fatal(final, err)
		}
	}
}

// BenchmarkValidateAndPlan100Resources parses, checks, binds and plans a
// 100-resource template whose resources refer to each other, against a
// stack that has every resource with other values: what `stack plan`
// costs the server.
func BenchmarkValidateAndPlan100Resources(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("Parameters:\n  V: {Type: String, Default: x}\nResources:\n")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&sb, "  R%d:\n    Type: Custom::Thing\n    Properties:\n      Name: r%d\n", i, i)
		if i > 0 {
			fmt.Fprintf(&sb, "      Value: !Sub \"${V}-${R%d}-${R%d.Arn}\"\n", i-1, i/2)
		}
	}
	body := []byte(sb.String())
	e := engine(newThing())
	var recs []*Resource
	for i := 0; i < 100; i++ {
		recs = append(recs, &Resource{ID: fmt.Sprint(i), Logical: fmt.Sprintf("R%d", i), Type: "Custom::Thing",
			PhysicalID: fmt.Sprintf("r%d-1", i), Status: CreateComplete, Properties: map[string]any{"Name": fmt.Sprintf("r%d", i), "Value": "old"},
			Attrs: map[string]any{"Arn": fmt.Sprintf("arn:r%d", i)}})
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tp, err := template.Parse("bench.yml", body)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tp.Check(e.Registry); err != nil {
			b.Fatal(err)
		}
		p, err := tp.Bind(map[string]string{"V": "y"})
		if err != nil {
			b.Fatal(err)
		}
		changes, err := e.Plan(ctx, &Target{Template: tp, Params: p, Pseudo: template.DefaultPseudo("bench")}, recs, nil)
		if err != nil || len(changes) != 100 {
			b.Fatal(len(changes), err)
		}
	}
}

// modelledThing is a thing whose type has no local effect.
type modelledThing struct{ *thing }

func (m modelledThing) Schema() Schema {
	s := m.thing.Schema()
	s.Modelled = true
	return s
}

func TestRun_EveryEventOfAModelledResourceSaysSo(t *testing.T) {
	reg := NewRegistry()
	reg.Register("Custom::Thing", modelledThing{newThing()})
	st := newState()
	tg := target(t, "Resources:\n  M:\n    Type: Custom::Thing\n    Properties: {Name: m}\n", nil)
	e := &Engine{Registry: reg}
	if final := create(t, e, st, tg); final != CreateComplete {
		t.Fatal(final)
	}
	if _, err := e.Run(context.Background(), &Operation{StackID: "s1", StackName: "test", Status: DeleteInProgress, Resources: st.records()}, st); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range st.events {
		if ev.Logical != "M" {
			continue
		}
		n++
		if !strings.Contains(ev.Reason, "Modelled resource") || !strings.Contains(ev.Reason, "no local effect") {
			t.Errorf("%s event does not say the resource is modelled: %q", ev.Status, ev.Reason)
		}
	}
	if n != 4 {
		t.Fatalf("%d events of M", n)
	}
}
