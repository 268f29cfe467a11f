// Package archtest checks the import rules of ARCHITECTURE.md.
package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/slipway/slipway"

// allowed lists, for each package of ours, the packages of ours it may import.
var allowed = map[string][]string{
	"store":           {"store/storetest"}, // its tests only
	"store/storetest": {"store"},
	"jobs":            {"store", "store/storetest"},
	"events":          {"store", "store/storetest"},
	"auth":            {"store", "store/storetest"},
	"secret":          {"store", "store/storetest"},
	"repo":            {"store", "store/storetest", "events", "jobs"},
	"client":          {},
	"buildspec":       {"spell", "yamlpos"},
	"appspec":         {"spell", "yamlpos"},
	"agent":           {"appspec", "yamlpos", "spell", "unpack"},
	"yamlpos":         {"spell"},
	"spell":           {},
	"artifact":        {},
	"unpack":          {},
	"build":           {"buildspec", "artifact", "unpack"},
	"buildsvc":        {"store", "store/storetest", "jobs", "repo", "secret", "build", "buildspec", "artifact", "events", "unpack"},
	"template":        {"spell"},
	"pipeline":        {"spell"},
	"catalog":         {"template", "appspec", "buildspec", "yamlpos", "spell"},
	"stack":           {"template"},
	"bucket":          {"store", "store/storetest"},
	"providers":       {"deploy", "stack", "template", "repo", "bucket", "buildsvc", "pipeline", "pipelinesvc", "lbsvc", "dnssvc", "fleet", "store", "store/storetest", "events", "jobs", "secret", "artifact"},
	"stacksvc":        {"store", "store/storetest", "jobs", "stack", "template", "providers", "repo", "bucket", "buildsvc", "events", "secret", "artifact"},
	"pipelinesvc":     {"deploy", "store", "store/storetest", "jobs", "pipeline", "events", "repo", "artifact", "build", "buildspec", "buildsvc", "secret", "stack", "stacksvc", "template"},
	"appsvc":          {"store", "store/storetest", "jobs", "auth", "catalog", "artifact", "unpack", "repo", "stack", "stacksvc", "pipeline", "pipelinesvc", "providers", "template", "yamlpos", "spell", "appspec", "buildspec", "events", "deploy", "buildsvc", "bucket", "lbsvc", "dnssvc", "fleet", "secret", "build"},
	"api":             {"appsvc", "catalog", "deploy", "agent", "store", "store/storetest", "auth", "repo", "secret", "buildsvc", "build", "artifact", "events", "jobs", "client", "stacksvc", "stack", "template", "providers", "bucket", "pipeline", "pipelinesvc", "lbsvc", "dnssvc", "fleet"},
	"cmd/slipway":     {"*"},
	"e2e":             {"*"},
	"archtest":        {},
	"web":             {"client"},
	"nameserver":      {},
	"lb":              {},
	"lbsvc":           {"store", "store/storetest", "events", "lb"},
	"dnssvc":          {"store", "store/storetest", "events", "nameserver"},
	"fleet":           {"store", "store/storetest"},
	"deploy":          {"store", "store/storetest", "jobs", "events", "artifact", "fleet", "agent", "appspec", "unpack"},
}

func TestImportsRunDownwards(t *testing.T) {
	out, err := exec.Command("go", "list", "-test", "-f", `{{.ImportPath}}|{{join .Imports " "}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, imports, _ := strings.Cut(line, "|")
		// Test variants look like "pkg [pkg.test]"; external tests end in "_test".
		path = strings.Fields(path)[0]
		path = strings.TrimSuffix(path, "_test")
		if !strings.HasPrefix(path, module+"/") || strings.HasSuffix(path, ".test") {
			continue
		}
		pkg := strings.TrimPrefix(path, module+"/")
		rules, ok := allowed[pkg]
		if !ok {
			t.Errorf("package %s has no import rule: add it to archtest and ARCHITECTURE.md", pkg)
			continue
		}
		for _, imp := range strings.Fields(imports) {
			dep, ours := strings.CutPrefix(imp, module+"/")
			if !ours || dep == pkg {
				continue
			}
			if !permitted(rules, dep) {
				t.Errorf("%s imports %s, which ARCHITECTURE.md does not allow", pkg, dep)
			}
		}
	}
}

func permitted(rules []string, dep string) bool {
	for _, r := range rules {
		if r == "*" || r == dep {
			return true
		}
	}
	return false
}
