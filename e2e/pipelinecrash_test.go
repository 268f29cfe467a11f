package e2e

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashPipeline deploys a stack per execution, twice: every action is
// idempotent by design (the source's commit and the stack operations are
// recorded before they are relied on), so however often the server dies,
// every execution must end Succeeded.
const crashPipeline = `Name: crash
RoleArn: arn:aws:iam::000000000000:role/pipeline
ArtifactStore: {Type: S3, Location: crash-artifacts}
PipelineType: V2
ExecutionMode: PARALLEL
Stages:
  - Name: Source
    Actions:
      - Name: Source
        ActionTypeId: {Category: Source, Owner: AWS, Provider: CodeCommit, Version: "1"}
        Configuration: {RepositoryName: crash, BranchName: main}
        OutputArtifacts: [{Name: Source}]
  - Name: Deploy
    Actions:
      - Name: Network
        ActionTypeId: {Category: Deploy, Owner: AWS, Provider: CloudFormation, Version: "1"}
        Configuration:
          ActionMode: CREATE_UPDATE
          RoleArn: arn:aws:iam::000000000000:role/cfn
          StackName: "net-#{codepipeline.PipelineExecutionId}"
          TemplatePath: Source::stack.yml
        InputArtifacts: [{Name: Source}]
  - Name: Again
    Actions:
      - Name: Network
        ActionTypeId: {Category: Deploy, Owner: AWS, Provider: CloudFormation, Version: "1"}
        Configuration:
          ActionMode: CREATE_UPDATE
          RoleArn: arn:aws:iam::000000000000:role/cfn
          StackName: "net-#{codepipeline.PipelineExecutionId}"
          TemplatePath: Source::stack.yml
          ParameterOverrides: '{"Name": "again"}'
        InputArtifacts: [{Name: Source}]
  - Name: Hold
    Actions:
      - Name: Hold
        ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: "1"}
`

const crashStack = `Parameters:
  Name: {Type: String, Default: first}
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties: {CidrBlock: 10.0.0.0/16, Tags: [{Key: name, Value: !Ref Name}]}
  Subnet:
    Type: AWS::EC2::Subnet
    Properties: {VpcId: !Ref Vpc, CidrBlock: 10.0.1.0/24}
`

func TestPipelineCrash_EveryExecutionEndsRightThoughTheServerIsKilledAgainAndAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for job leases to lapse after each kill")
	}
	s := startServer(t)
	s.mustCLI(s.token, nil, "repo", "create", "crash")
	pushFiles(t, s, "crash", map[string]string{"stack.yml": crashStack})
	file := filepath.Join(t.TempDir(), "pipeline.yml")
	if err := os.WriteFile(file, []byte(crashPipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	s.mustCLI(s.token, nil, "pipeline", "create", "--file", file)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var ids []string
	// Executions caught by a kill before they reached the Hold stage. They
	// are counted after the restart: nothing leaves Hold before the approvals
	// below, so an execution seen in progress short of Hold was on its way
	// when the server died, however fast this machine is. The rounds go on
	// until some are.
	interrupted := map[string]bool{}
	for round := 0; round < 12 && (round < 4 || len(interrupted) == 0); round++ {
		for i := 0; i < 4; i++ {
			ids = append(ids, strings.TrimSpace(s.mustCLI(s.token, nil, "pipeline", "start", "crash")))
		}
		// Short pauses: on a fast machine an execution reaches Hold in tens
		// of milliseconds.
		time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		_ = s.cmd.Wait()
		s.start()
		var es []pipelineExecution
		s.mustCLI(s.token, &es, "pipeline", "executions", "crash")
		for _, e := range es {
			if e.Status == "InProgress" && e.Stage != "Hold" {
				interrupted[e.ID] = true
			}
		}
		t.Logf("round %d: %d executions caught short of Hold so far", round, len(interrupted))
	}
	if len(interrupted) == 0 {
		t.Fatal("no execution was on its way when the server was killed: the test tested nothing")
	}
	for _, id := range ids {
		e := waitExecution(t, s, id, "execution "+id+" to reach Hold", func(e *pipelineExecution) bool {
			a := e.action("Hold")
			return ended(e) || a != nil && a.Status == "InProgress"
		})
		// One that ended short of Hold is reported below, with its reason.
		if !ended(e) {
			s.mustCLI(s.token, nil, "approve", "crash", "Hold", "Hold", "--execution", id)
		}
	}
	for _, id := range ids {
		var e *pipelineExecution
		e = waitExecution(t, s, id, "execution "+id+" to end", ended)
		if e.Status != "Succeeded" {
			t.Errorf("execution %s: %s %s\n%+v", id, e.Status, e.Reason, e.Actions)
			continue
		}
		var st sampleStack
		s.mustCLI(s.token, &st, "stack", "describe", "net-"+id)
		if st.Status != "UPDATE_COMPLETE" {
			t.Errorf("stack of %s: %s", id, st.Status)
		}
		for _, p := range st.Parameters {
			if p.Key == "Name" && p.Value != "again" {
				t.Errorf("stack of %s has Name %s", id, p.Value)
			}
		}
	}
}
