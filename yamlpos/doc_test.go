package yamlpos

import (
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
)

func newDoc(data string) *Doc {
	return &Doc{File: "f.yml", Data: []byte(data), Format: "a thing", ColonExample: "key: 'a: b'"}
}

func TestErrorsPrintAsFileLineColumn(t *testing.T) {
	es := Errors{{File: "f.yml", Pos: Pos{Line: 2, Column: 3}, Msg: "bad"}, {Pos: Pos{Line: 1, Column: 1}, Msg: "worse"}}
	if got, want := es.Error(), "f.yml:2:3: bad\n1:1: worse"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var one *Error
	if !errors.As(error(es), &one) || one.Msg != "bad" {
		t.Errorf("errors.As did not find the first problem: %v", one)
	}
}

func TestSortedOrdersByPositionAndDropsRepeats(t *testing.T) {
	es := Errors{
		{Pos: Pos{Line: 3, Column: 1}, Msg: "c"},
		{Pos: Pos{Line: 1, Column: 5}, Msg: "b"},
		{Pos: Pos{Line: 1, Column: 2}, Msg: "a"},
		{Pos: Pos{Line: 3, Column: 1}, Msg: "c"},
	}
	var got []string
	for _, e := range es.Sorted() {
		got = append(got, e.Msg)
	}
	if strings.Join(got, "") != "abc" {
		t.Errorf("Sorted gave %v, want [a b c]", got)
	}
}

func TestReadRefusesASecondDocumentNamingTheFormat(t *testing.T) {
	d := newDoc("a: 1\n---\nb: 2\n")
	_, err := Read(d, func(root *yaml.Node) *yaml.Node { return root })
	want := "f.yml:2:1: a second YAML document starts here; a thing is one document, so remove this --- line or what follows it"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestReadOfAnEmptyFileGivesANilRoot(t *testing.T) {
	for _, data := range []string{"", "---\n", "# nothing\n---\n"} {
		called := false
		_, err := Read(newDoc(data), func(root *yaml.Node) bool {
			called = true
			if root != nil {
				t.Errorf("%q: root = %v, want nil", data, root)
			}
			return true
		})
		if err != nil || !called {
			t.Errorf("%q: err = %v, called = %v", data, err, called)
		}
	}
}

func TestInvalidYAMLIsPositionedWithAHint(t *testing.T) {
	for data, want := range map[string]string{
		"a: b: c\n":           "f.yml:1:5: invalid YAML: mapping values are not allowed in this context; a value that contains \": \" must be quoted, e.g. key: 'a: b'",
		"a:\n\tb: 1\n":        "; indent with spaces, YAML does not allow tabs",
		"a: `b`\n":            "; a value that starts with ` must be quoted",
		"a: 1\nb: \xff\xfe\n": "f.yml:2:4: invalid YAML: ",
	} {
		d := newDoc(data)
		_, ok := d.Load()
		if ok || len(d.Errs) == 0 || !strings.Contains(d.Errs.Error(), want) {
			t.Errorf("%q: ok = %v, got %v, want it to contain %q", data, ok, d.Errs, want)
		}
	}
}

func TestEntriesReportDuplicatesAndExpandMergeKeys(t *testing.T) {
	d := newDoc("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n  z: 4\n  z: 5\n  [k]: 6\n")
	root, ok := d.Load()
	if !ok {
		t.Fatal(d.Errs)
	}
	var m *yaml.Node
	for _, e := range d.Entries(root) {
		if e.Name == "m" {
			m = e.Val
		}
	}
	var got []string
	for _, e := range d.Entries(m) {
		got = append(got, e.Name+"="+e.Val.Value)
	}
	if strings.Join(got, " ") != "y=3 z=4 x=1" {
		t.Errorf("entries %v, want [y=3 z=4 x=1]", got)
	}
	want := "f.yml:6:3: duplicate key \"z\" (first written at line 5); keep only one\n" +
		"f.yml:7:3: a key must be a plain name, found a list"
	if got := d.Errs.Sorted().Error(); got != want {
		t.Errorf("problems:\n%s\nwant:\n%s", got, want)
	}
}

func TestAMergeKeyNeedsMappings(t *testing.T) {
	d := newDoc("a:\n  <<: 1\nb:\n  <<: [1]\n")
	root, _ := d.Load()
	for _, e := range d.Entries(root) {
		d.Entries(e.Val)
	}
	want := "f.yml:2:7: a merge key (<<) needs a mapping or a list of mappings, such as *defaults, found \"1\"\n" +
		"f.yml:4:8: a merge key (<<) list may hold only mappings, found \"1\""
	if got := d.Errs.Error(); got != want {
		t.Errorf("problems:\n%s\nwant:\n%s", got, want)
	}
}

func TestItemsKeepSourceTextAndReportTheRest(t *testing.T) {
	d := newDoc("l: [1, yes, ~, {a: b}, [c]]\n")
	root, _ := d.Load()
	var mappings int
	items := d.Items(d.Entries(root)[0].Val, "l", "path", func(raw, m *yaml.Node) { mappings++ })
	if len(items) != 2 || items[0].Text != "1" || items[1].Text != "yes" || mappings != 1 {
		t.Errorf("items %+v, mappings %d", items, mappings)
	}
	want := "f.yml:1:13: empty path in l; remove the lone \"-\" or write a path after it\n" +
		"f.yml:1:24: each path in l must be a single value, found a list"
	if got := d.Errs.Error(); got != want {
		t.Errorf("problems:\n%s\nwant:\n%s", got, want)
	}
}

func TestAMessageStaysOnOneLine(t *testing.T) {
	d := newDoc("")
	d.ErrorAt(Pos{Line: 1, Column: 1}, "a %s b", "x\ny\rz\x01")
	if got := d.Errs[0].Msg; got != "a x y z? b" {
		t.Errorf("Msg = %q", got)
	}
}

func TestDescribeAndShort(t *testing.T) {
	long := strings.Repeat("é", 50)
	for _, c := range []struct{ got, want string }{
		{Short("a\nb"), "a…"},
		{Short(long), strings.Repeat("é", 40) + "…"},
		{Quote("a: b"), "'a: b'"},
		{Quote("it's"), `"it's"`},
		{DidYouMean("biuld", []string{"build", "install"}), ` (did you mean "build"?)`},
		{DidYouMean("zzzz", []string{"build"}), ""},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
