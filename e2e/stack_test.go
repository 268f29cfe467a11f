package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stackTemplate is a stack of real resources: a hosted repository and an
// artifact bucket, with an output read through GetAtt and an export.
const stackTemplate = `AWSTemplateFormatVersion: "2010-09-09"
Description: repository and bucket
Parameters:
  Desc: {Type: String, Default: first}
  RepoName: {Type: String, Default: shop-code}
  Extra: {Type: String, Default: "no"}
  Name: {Type: String, Default: ""}
Conditions:
  WithExtra: !Equals [!Ref Extra, "yes"]
  Named: !Not [!Equals [!Ref Name, ""]]
Resources:
  Code:
    Type: AWS::CodeCommit::Repository
    Properties:
      RepositoryName: !Ref RepoName
      RepositoryDescription: !Ref Desc
  Artifacts:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !If [Named, !Ref Name, !Ref "AWS::NoValue"]
  Clash:
    Type: AWS::CodeCommit::Repository
    Condition: WithExtra
    DependsOn: Artifacts
    Properties:
      RepositoryName: taken
Outputs:
  CloneUrl:
    Value: !GetAtt Code.CloneUrlHttp
  BucketArn:
    Value: !GetAtt Artifacts.Arn
    Export: {Name: !Sub "${AWS::StackName}-bucket"}
`

type stackView struct {
	Name         string `json:"name"`
	Status       string `json:"status"`
	StatusReason string `json:"status_reason"`
	Outputs      []struct {
		Key, Value string
	} `json:"outputs"`
}

type stackResource struct {
	Logical    string `json:"logical_id"`
	PhysicalID string `json:"physical_id"`
	Status     string `json:"status"`
}

func (s *server) stackResources(t *testing.T, name string) map[string]stackResource {
	t.Helper()
	var rs []stackResource
	s.mustCLI(s.token, &rs, "stack", "resources", name)
	out := map[string]stackResource{}
	for _, r := range rs {
		out[r.Logical] = r
	}
	return out
}

// deployStack runs `slipway stack deploy` and returns its output and exit code.
func (s *server) deployStack(t testing.TB, args ...string) (string, int) {
	t.Helper()
	out, errs, err := s.cli(s.token, append([]string{"stack", "deploy"}, args...)...)
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out + errs, code
}

func TestStack_DeployUpdateReplaceRollBackAndDeleteRealResources(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	tpl := filepath.Join(dir, "stack.yml")
	if err := os.WriteFile(tpl, []byte(stackTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "staging.conf")
	if err := os.WriteFile(conf, []byte(`{"Parameters": {"Desc": "from config"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := s.deployStack(t, "shop", "--template", tpl, "--config", conf); code != 0 ||
		!strings.Contains(out, "CREATE_COMPLETE") {
		t.Fatalf("create (exit %d):\n%s", code, out)
	}
	var st stackView
	s.mustCLI(s.token, &st, "stack", "describe", "shop")
	clone := ""
	for _, o := range st.Outputs {
		if o.Key == "CloneUrl" {
			clone = o.Value
		}
	}
	if clone != s.url+"/git/default/shop-code.git" {
		t.Fatalf("outputs %+v", st.Outputs)
	}
	// The repository is real: git clones it from the output's URL.
	mustGit(t, dir, "clone", "-q", strings.Replace(clone, "http://", "http://anyone:"+s.token+"@", 1), "clone")
	var repo struct{ Description string }
	s.mustCLI(s.token, &repo, "repo", "get", "shop-code")
	if repo.Description != "from config" {
		t.Fatalf("description %q", repo.Description)
	}
	before := s.stackResources(t, "shop")

	// In place: the description changes, the repository stays. Overrides
	// beat the configuration file.
	if out, code := s.deployStack(t, "shop", "--template", tpl, "--config", conf, "--parameter-overrides", "Desc=second"); code != 0 ||
		!strings.Contains(out, "UPDATE_COMPLETE") {
		t.Fatalf("update in place (exit %d):\n%s", code, out)
	}
	s.mustCLI(s.token, &repo, "repo", "get", "shop-code")
	after := s.stackResources(t, "shop")
	if repo.Description != "second" || after["Code"].PhysicalID != before["Code"].PhysicalID {
		t.Fatalf("in place: %q %+v", repo.Description, after)
	}
	// Unchanged input: no updates, and that is a success.
	if out, code := s.deployStack(t, "shop", "--template", tpl, "--config", conf, "--parameter-overrides", "Desc=second"); code != 0 ||
		!strings.Contains(out, "No updates are to be performed.") {
		t.Fatalf("no updates (exit %d):\n%s", code, out)
	}

	// Replacement: naming the bucket makes a new one; the old one goes.
	if out, code := s.deployStack(t, "shop", "--template", tpl, "--parameter-overrides", "Desc=second", "Name=shop-artifacts-2"); code != 0 {
		t.Fatalf("replacement (exit %d):\n%s", code, out)
	}
	replaced := s.stackResources(t, "shop")
	if replaced["Artifacts"].PhysicalID != "shop-artifacts-2" || replaced["Artifacts"].PhysicalID == before["Artifacts"].PhysicalID {
		t.Fatalf("replacement: %+v was %+v", replaced["Artifacts"], before["Artifacts"])
	}

	// A failure rolls back: a repository named like one that exists
	// outside the stack cannot be created.
	s.mustCLI(s.token, nil, "repo", "create", "taken")
	out, code := s.deployStack(t, "shop", "--template", tpl, "--parameter-overrides", "Desc=third", "Name=shop-artifacts-2", "Extra=yes")
	if code == 0 || !strings.Contains(out, "UPDATE_ROLLBACK_COMPLETE") {
		t.Fatalf("failing update (exit %d):\n%s", code, out)
	}
	s.mustCLI(s.token, &repo, "repo", "get", "shop-code")
	if repo.Description != "second" {
		t.Fatalf("the rollback did not restore the description: %q", repo.Description)
	}
	if rs := s.stackResources(t, "shop"); len(rs) != 2 || rs["Code"].PhysicalID != before["Code"].PhysicalID {
		t.Fatalf("resources after rollback: %+v", rs)
	}

	// Renaming the repository would be an in-place rename on AWS; it is
	// refused, saying so, rather than replacing the repository and its history.
	out, code = s.deployStack(t, "shop", "--template", tpl, "--parameter-overrides", "Desc=second", "Name=shop-artifacts-2", "RepoName=other")
	if code == 0 || !strings.Contains(out, "renaming repository shop-code to other is not supported yet") ||
		!strings.Contains(out, "UPDATE_ROLLBACK_COMPLETE") {
		t.Fatalf("renaming (exit %d):\n%s", code, out)
	}
	// Replacing a custom-named resource under the same name is refused
	// with CloudFormation's message: ObjectLockEnabled forces a new bucket.
	locked := strings.Replace(stackTemplate, "BucketName: !If [Named, !Ref Name, !Ref \"AWS::NoValue\"]",
		"BucketName: !If [Named, !Ref Name, !Ref \"AWS::NoValue\"]\n      ObjectLockEnabled: true", 1)
	lockedFile := filepath.Join(dir, "locked.yml")
	if err := os.WriteFile(lockedFile, []byte(locked), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code = s.deployStack(t, "shop", "--template", lockedFile, "--parameter-overrides", "Desc=second", "Name=shop-artifacts-2")
	if code == 0 || !strings.Contains(out, "CloudFormation cannot update a stack when a custom-named resource requires replacing. Rename Artifacts and update the stack again.") {
		t.Fatalf("replacing a named bucket (exit %d):\n%s", code, out)
	}

	// Delete removes every resource.
	if out, errs, err := s.cli(s.token, "stack", "delete", "shop", "--yes"); err != nil {
		t.Fatalf("delete: %v\n%s%s", err, out, errs)
	}
	if _, _, err := s.cli(s.token, "repo", "get", "shop-code"); err == nil {
		t.Fatal("the repository outlived its stack")
	}
	if _, errs, err := s.cli(s.token, "stack", "describe", "shop"); err == nil || !strings.Contains(errs, "does not exist") {
		t.Fatalf("describe after delete: %v %s", err, errs)
	}
}

func TestStack_AServerKilledMidUpdateResumesAfterRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a job lease to lapse")
	}
	s := startServer(t)
	dir := t.TempDir()
	tpl := filepath.Join(dir, "stack.yml")
	if err := os.WriteFile(tpl, []byte(stackTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := s.deployStack(t, "svc", "--template", tpl, "--parameter-overrides", "RepoName=svc-code"); code != 0 {
		t.Fatalf("create (exit %d):\n%s", code, out)
	}
	// The update adds a bucket that waits for a signal: the server dies
	// while it waits.
	waiting := strings.Replace(stackTemplate, "Outputs:", `  Gate:
    Type: AWS::S3::Bucket
    CreationPolicy:
      ResourceSignal: {Count: 1, Timeout: PT5M}
    Properties: {}
Outputs:`, 1)
	waiting = strings.Replace(waiting, "RepositoryDescription: !Ref Desc", "RepositoryDescription: !Sub \"${Desc} and gated\"", 1)
	if err := os.WriteFile(tpl, []byte(waiting), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := s.deployStack(t, "svc", "--template", tpl, "--parameter-overrides", "RepoName=svc-code", "--no-wait"); code != 0 {
		t.Fatalf("update (exit %d):\n%s", code, out)
	}
	waitFor(t, "the gate to wait for its signal", func() bool {
		out, _, _ := s.cli(s.token, "stack", "events", "svc")
		return strings.Contains(out, "Waiting for 1 success signal(s)")
	})
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	_ = s.cmd.Wait()
	s.start()
	var st stackView
	s.mustCLI(s.token, &st, "stack", "describe", "svc")
	if st.Status != "UPDATE_IN_PROGRESS" {
		t.Fatalf("after the restart: %s", st.Status)
	}
	// The restarted server takes the operation up again (once the dead
	// server's lease lapses) and the gate still waits for its signal.
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, errs, err := s.cli(s.token, "signal", "--stack", "svc", "--resource", "Gate", "--status", "SUCCESS", "--unique-id", "i-1")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("signal: %v %s", err, errs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitFor(t, "the update to finish", func() bool {
		s.mustCLI(s.token, &st, "stack", "describe", "svc")
		return !strings.HasSuffix(st.Status, "_IN_PROGRESS")
	})
	if st.Status != "UPDATE_COMPLETE" {
		t.Fatalf("status %s %s", st.Status, st.StatusReason)
	}
	var repo struct{ Description string }
	s.mustCLI(s.token, &repo, "repo", "get", "svc-code")
	rs := s.stackResources(t, "svc")
	if repo.Description != "first and gated" || len(rs) != 3 || rs["Gate"].Status != "CREATE_COMPLETE" {
		t.Fatalf("after resume: %q %+v", repo.Description, rs)
	}
}
