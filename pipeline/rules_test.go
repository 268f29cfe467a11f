package pipeline

import "testing"

func TestDocumentRules(t *testing.T) {
	runRules(t, []ruleCase{
		{name: "empty file", doc: "",
			want: []string{"1:1: the declaration is empty; declare the pipeline with Name:, RoleArn:, ArtifactStore: and Stages:"}},
		{name: "not a mapping", doc: "- a\n- b\n",
			want: []string{"1:1: a declaration must be a mapping of keys such as Name: and Stages:, found a list"}},
		{name: "syntax error", doc: "Name: p\nStages: [\n",
			want: []string{"3:1: invalid YAML: did not find expected node content"}},
		{name: "not UTF-8", doc: "Name: p\nStages: [\xff]\n",
			want: []string{"2:10: invalid YAML: invalid leading UTF-8 octet (value: 255)"}},
		{name: "tab indentation", doc: "Name: p\nStages:\n\t- Name: x\n",
			want: []string{"3:1: invalid YAML: found character that cannot start any token"}},
		{name: "second document", doc: valid + "---\nName: q\n",
			want: []string{"10:1: a second YAML document starts here; a declaration is one document, so remove this --- line or what follows it"}},
		{name: "CloudFormation function", doc: "Name: !Ref AppName\n" + valid[len("Name: p\n"):],
			want: []string{"1:7: !Ref is a CloudFormation function or an unknown YAML tag; a declaration file takes literal values (functions are evaluated when the pipeline is declared in a template deployed as a stack)"}},
		{name: "missing name", doc: valid[len("Name: p\n"):],
			want: []string{"1:1: missing Name; name the pipeline (letters, digits and . @ - _)"}},
		{name: "unknown key with a suggestion", doc: valid + "RestartExecutionOnUpdates: true\n",
			want: []string{"10:1: unknown key RestartExecutionOnUpdates in the pipeline; did you mean RestartExecutionOnUpdate?"}},
		{name: "unknown key without a suggestion", doc: valid + "Owner: me\n",
			want: []string{"10:1: unknown key Owner in the pipeline; the keys allowed there are Name, RoleArn, ArtifactStore, ArtifactStores, Stages, DisableInboundStageTransitions, PipelineType, ExecutionMode, Variables, Triggers, RestartExecutionOnUpdate, Tags, Version"}},
		{name: "a whole template resource", doc: "Type: AWS::CodePipeline::Pipeline\nProperties:\n  Name: p\n",
			want: []string{"1:1: this is a whole template resource (Type: and Properties:); a declaration is what its Properties hold, so keep only those"}},
		{name: "duplicate key", doc: valid + "Name: q\n",
			want: []string{"10:1: duplicate key Name in the pipeline (first written at line 1); keep only one"}},
		{name: "the same key in two spellings", doc: valid + "name: q\n",
			want: []string{"10:1: duplicate key name in the pipeline (first written at line 1); keep only one"}},
		{name: "stages as a mapping", doc: head + "  Source: {}\n",
			want: []string{"4:3: Stages of the pipeline must be a list (one item per line, starting with - ), found a mapping"}},
		{name: "a single value where a mapping goes", doc: "Name: p\nArtifactStore: bucket\nStages:\n" + srcStage + buildStage,
			want: []string{`2:16: ArtifactStore must be a mapping of keys (Type, Location, EncryptionKey), found "bucket"`}},
		{name: "a list where a single value goes", doc: "Name: [p]\nArtifactStore: {Type: S3, Location: bucket}\nStages:\n" + srcStage + buildStage,
			want: []string{"1:7: Name of the pipeline must be a single value, found a list"}},
		{name: "RestartExecutionOnUpdate not a boolean", doc: valid + "RestartExecutionOnUpdate: sometimes\n",
			want: []string{`10:27: RestartExecutionOnUpdate of the pipeline must be true or false, found "sometimes"`}},
		{name: "stage conditions", doc: valid + "    OnFailure: {Result: ROLLBACK}\n",
			want: []string{"10:5: OnFailure in stage Build: stage conditions (OnFailure, OnSuccess, BeforeEntry) are not supported; remove it"}},
		{name: "Compute action keys", doc: valid + deploy + "      - Name: Run\n        Commands: [make]\n        ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: 1}\n        Configuration: {ProjectName: app}\n        InputArtifacts: [{Name: Source}]\n",
			want: []string{"13:9: Commands in action Run of stage Deploy: it belongs to Compute actions, which are not supported; run commands in a CodeBuild action's buildspec"}},
		{name: "get-pipeline metadata", doc: `{"pipeline": {"name": "p", "artifactStore": {"type": "S3", "location": "bucket"}, "stages": []}, "metadata": {"pipelineArn": "arn"}}`,
			want: []string{
				"1:83: the pipeline has no stages; it needs at least two: a first stage of Source actions and a later stage that uses what they fetch",
				"1:98: metadata in the document: it is what get-pipeline prints, not part of a declaration; remove it (update-pipeline refuses it too)",
			}},
		{name: "configuration value that is a mapping", doc: valid + deploy + cfn + "        Configuration:\n          ActionMode: DELETE_ONLY\n          StackName: app\n          ParameterOverrides: {Env: staging}\n          RoleArn: arn:aws:iam::123456789012:role/cfn\n",
			want: []string{"18:31: the value of ParameterOverrides in Configuration of action Stack of stage Deploy must be text, found a mapping; write JSON as a string (for instance ParameterOverrides: |, then the JSON on the lines below)"}},
		{name: "artifact written as a plain name", doc: valid + deploy + "      - {Name: Go, ActionTypeId: {Category: Deploy, Owner: AWS, Provider: CodeDeploy, Version: 1}, Configuration: {ApplicationName: app, DeploymentGroupName: g}, InputArtifacts: [Built]}\n",
			want: []string{`12:180: each input artifact of action Go of stage Deploy is a mapping with a Name, found "Built"; write - Name: Built`}},
		{name: "RunOrder not a number", doc: valid + deploy + "      - {Name: Go, RunOrder: first, ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: 1}}\n",
			want: []string{`12:30: RunOrder of action Go of stage Deploy must be a whole number from 1 to 999, found "first"`}},
		{name: "RunOrder zero", doc: valid + deploy + "      - {Name: Go, RunOrder: 0, ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: 1}}\n",
			want: []string{`12:30: RunOrder of action Go of stage Deploy must be a whole number from 1 to 999, found "0"`}},
		{name: "RunOrder too large", doc: valid + deploy + "      - {Name: Go, RunOrder: 1000, ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: 1}}\n",
			want: []string{`12:30: RunOrder of action Go of stage Deploy must be a whole number from 1 to 999, found "1000"`}},
	})
}

func TestNameRules(t *testing.T) {
	long := "a123456789b123456789c123456789d123456789e123456789f123456789g123456789h123456789i123456789j123456789k"
	runRules(t, []ruleCase{
		{name: "pipeline name with a slash", doc: "Name: my/pipe\n" + valid[len("Name: p\n"):],
			want: []string{`1:7: the pipeline name "my/pipe" contains '/', which pipeline names cannot hold; use only letters, digits and . @ - _ (for instance my-pipe)`}},
		{name: "stage name with a space", doc: valid + "  - Name: Go Live\n    Actions:\n      - {Name: Approve, ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: 1}}\n",
			want: []string{`10:11: the name of stage "Go Live" contains a space, which stage names cannot hold; use only letters, digits and . @ - _ (for instance Go-Live)`}},
		{name: "action name with a space", doc: head + "  - Name: Source\n    Actions:\n      - Name: Git Pull\n        ActionTypeId: {Category: Source, Owner: AWS, Provider: CodeCommit, Version: 1}\n        Configuration: {RepositoryName: app, BranchName: main}\n        OutputArtifacts: [{Name: Source}]\n" + buildStage,
			want: []string{`6:15: the name of action "Git Pull" in stage Source contains a space, which action names cannot hold; use only letters, digits and . @ - _ (for instance Git-Pull)`}},
		{name: "action name too long", doc: valid + deploy + "      - {Name: " + long + ", ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: 1}}\n",
			want: []string{`12:16: the name of action "a123456789b123456789c123456789d123456789…" in stage Deploy is 101 characters long; action names are at most 100`}},
		{name: "action without a name", doc: valid + deploy + "      - {ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: 1}}\n",
			want: []string{"12:9: action 1 (unnamed) of stage Deploy has no Name; add Name: (letters, digits and . @ - _)"}},
		{name: "two stages of one name", doc: valid + "  - Name: Build\n    Actions:\n      - {Name: Approve, ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: 1}}\n",
			want: []string{"10:11: two stages are named Build (stages 2 and 3); stage names must be unique"}},
		{name: "two actions of one name", doc: valid + deploy + "      - {Name: Approve, ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: 1}}\n      - {Name: Approve, ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: 1}}\n",
			want: []string{"13:16: two actions of stage Deploy are named Approve (actions 1 and 2); action names must be unique in a stage"}},
	})
}

func TestStageRules(t *testing.T) {
	runRules(t, []ruleCase{
		{name: "one stage", doc: head + srcStage,
			want: []string{"3:1: the pipeline has only one stage; it needs at least two: a first stage of Source actions and a later stage that uses what they fetch"}},
		{name: "stage without actions", doc: valid + "  - Name: Empty\n",
			want: []string{"10:5: stage Empty has no actions; add Actions: with at least one action"}},
		{name: "build action in the first stage", doc: head + "  - Name: Source\n    Actions:\n" +
			"      - {Name: Src, ActionTypeId: {Category: Source, Owner: AWS, Provider: CodeCommit, Version: 1}, Configuration: {RepositoryName: app, BranchName: main}, OutputArtifacts: [{Name: Source}]}\n" +
			"      - {Name: Early, RunOrder: 2, ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: 1}, Configuration: {ProjectName: app}, InputArtifacts: [{Name: Source}]}\n" + buildStage,
			want: []string{"7:61: action Early of stage Source is a Build action, but the first stage holds only Source actions; move it to a later stage"}},
		{name: "source action in a later stage", doc: valid + deploy + "      - {Name: Again, ActionTypeId: {Category: Source, Owner: AWS, Provider: CodeCommit, Version: 1}, Configuration: {RepositoryName: app, BranchName: main}, OutputArtifacts: [{Name: Again}]}\n",
			want: []string{"12:48: action Again of stage Deploy is a Source action; Source actions belong in the first stage only"}},
		{name: "blocker of an unknown type", doc: valid + "    Blockers: [{Name: b, Type: Calendar}]\n",
			want: []string{`10:32: blocker 1 of stage Build has Type "Calendar"; the only type is Schedule`}},
	})
}

func TestActionTypeRules(t *testing.T) {
	approval := func(typ string) string {
		return valid + deploy + "      - {Name: Go, ActionTypeId: " + typ + "}\n"
	}
	runRules(t, []ruleCase{
		{name: "no ActionTypeId", doc: valid + deploy + "      - {Name: Go}\n",
			want: []string{"12:9: action Go of stage Deploy has no ActionTypeId; add ActionTypeId: with Category, Owner, Provider and Version"}},
		{name: "misspelt category", doc: approval("{Category: Aproval, Owner: AWS, Provider: Manual, Version: 1}"),
			want: []string{`12:45: unknown Category "Aproval" in action Go of stage Deploy; did you mean Approval?`}},
		{name: "unknown category", doc: approval("{Category: Compute, Owner: AWS, Provider: Manual, Version: 1}"),
			want: []string{`12:45: unknown Category "Compute" in action Go of stage Deploy; write one of Source, Build, Test, Deploy, Approval, Invoke`}},
		{name: "unknown owner", doc: approval("{Category: Approval, Owner: Amazon, Provider: Manual, Version: 1}"),
			want: []string{`12:62: unknown Owner "Amazon" in action Go of stage Deploy; write one of AWS, ThirdParty`}},
		{name: "custom owner", doc: approval("{Category: Approval, Owner: Custom, Provider: Manual, Version: 1}"),
			want: []string{"12:62: action Go of stage Deploy has Owner Custom, and custom action types are not supported; use an AWS action such as CodeBuild"}},
		{name: "misspelt provider", doc: approval("{Category: Approval, Owner: AWS, Provider: Manuel, Version: 1}"),
			want: []string{"12:77: ActionType (Category: 'Approval', Provider: 'Manuel', Owner: 'AWS', Version: '1') in action Go of stage Deploy is not available; did you mean Manual?"}},
		{name: "provider of another category", doc: approval("{Category: Approval, Owner: AWS, Provider: CodeDeploy, Version: 1}"),
			want: []string{"12:77: ActionType (Category: 'Approval', Provider: 'CodeDeploy', Owner: 'AWS', Version: '1') in action Go of stage Deploy is not available; CodeDeploy is a Deploy provider of owner AWS; write Category: Deploy, Owner: AWS, Provider: CodeDeploy"}},
		{name: "category without providers", doc: approval("{Category: Invoke, Owner: AWS, Provider: Lambda, Version: 1}"),
			want: []string{"12:75: ActionType (Category: 'Invoke', Provider: 'Lambda', Owner: 'AWS', Version: '1') in action Go of stage Deploy is not available; Slipway has no Invoke actions of owner AWS"}},
		{name: "missing provider and version", doc: approval("{Category: Approval, Owner: AWS}"),
			want: []string{
				"12:34: ActionTypeId of action Go of stage Deploy has no Provider; name one, such as CodeBuild",
				"12:34: ActionTypeId of action Go of stage Deploy has no Version; write Version: 1",
			}},
		{name: "unknown version", doc: approval("{Category: Approval, Owner: AWS, Provider: Manual, Version: 2}"),
			want: []string{`12:94: Manual has no version "2"; write Version: 1`}},
		{name: "malformed version", doc: approval("{Category: Approval, Owner: AWS, Provider: Manual, Version: '1.0'}"),
			want: []string{`12:94: Version "1.0" of action Go of stage Deploy is not a version (1 to 9 letters, digits, - and _); write Version: 1`}},
		{name: "typo in ActionTypeId's keys", doc: approval("{Category: Approval, Owner: AWS, Provder: Manual, Version: 1}"),
			want: []string{"12:67: unknown key Provder in ActionTypeId of action Go of stage Deploy; did you mean Provider?"}},
	})
}

func TestArtifactRules(t *testing.T) {
	runRules(t, []ruleCase{
		{name: "input artifact nobody produces", doc: valid + deploy + "      - {Name: Go, ActionTypeId: {Category: Deploy, Owner: AWS, Provider: CodeDeploy, Version: 1}, Configuration: {ApplicationName: app, DeploymentGroupName: g}, InputArtifacts: [{Name: Bilt}]}\n",
			want: []string{"12:187: input artifact Bilt of action Go of stage Deploy is not the output of any action; did you mean Built?"}},
		{name: "input artifact produced at the same time", doc: valid + deploy +
			"      - {Name: Make, ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: 1}, Configuration: {ProjectName: app}, InputArtifacts: [{Name: Source}], OutputArtifacts: [{Name: Made}]}\n" +
			"      - {Name: Go, ActionTypeId: {Category: Deploy, Owner: AWS, Provider: CodeDeploy, Version: 1}, Configuration: {ApplicationName: app, DeploymentGroupName: g}, InputArtifacts: [{Name: Made}]}\n",
			want: []string{"13:187: input artifact Made of action Go of stage Deploy comes from action Make of stage Deploy, which does not run before it; move that action to an earlier stage or give it a lower RunOrder"}},
		{name: "input artifact produced by a later stage", doc: head + srcStage +
			"  - Name: Build\n    Actions:\n      - {Name: Go, ActionTypeId: {Category: Deploy, Owner: AWS, Provider: CodeDeploy, Version: 1}, Configuration: {ApplicationName: app, DeploymentGroupName: g}, InputArtifacts: [{Name: Built}]}\n" +
			"  - Name: Later\n    Actions:\n      - {Name: Build, ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: 1}, Configuration: {ProjectName: app}, InputArtifacts: [{Name: Source}], OutputArtifacts: [{Name: Built}]}\n",
			want: []string{"9:187: input artifact Built of action Go of stage Build comes from action Build of stage Later, which does not run before it; move that action to an earlier stage or give it a lower RunOrder"}},
		{name: "own output as input", doc: valid + deploy + "      - {Name: Make, ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: 1}, Configuration: {ProjectName: app}, InputArtifacts: [{Name: Made}], OutputArtifacts: [{Name: Made}]}\n",
			want: []string{"12:159: action Make of stage Deploy takes its own output artifact Made as input; an input must come from an earlier action"}},
		{name: "the same input twice", doc: valid + deploy + "      - {Name: Make, ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: 1}, Configuration: {ProjectName: app, PrimarySource: Source}, InputArtifacts: [{Name: Source}, {Name: Source}]}\n",
			want: []string{"12:198: action Make of stage Deploy lists input artifact Source twice; keep one"}},
		{name: "output artifact name taken", doc: valid + deploy + "      - {Name: Make, ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: 1}, Configuration: {ProjectName: app}, InputArtifacts: [{Name: Source}], OutputArtifacts: [{Name: Built}]}\n",
			want: []string{"12:194: output artifact Built of action Make of stage Deploy is also the output of action Build of stage Build; output artifact names must be unique in the pipeline"}},
		{name: "artifact name with a dot", doc: valid + deploy + "      - {Name: Make, ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: 1}, Configuration: {ProjectName: app}, InputArtifacts: [{Name: Source}], OutputArtifacts: [{Name: out.zip}]}\n",
			want: []string{"12:194: output artifact 1 of action Make of stage Deploy contains '.', which artifact names cannot hold; use only letters, digits, - and _ (for instance out-zip)"}},
		{name: "CodeDeploy without input", doc: valid + deploy + "      - {Name: Go, ActionTypeId: {Category: Deploy, Owner: AWS, Provider: CodeDeploy, Version: 1}, Configuration: {ApplicationName: app, DeploymentGroupName: g}}\n",
			want: []string{"12:9: action Go of stage Deploy (CodeDeploy) takes exactly 1 input artifact, found 0; add InputArtifacts: with - Name: <artifact>"}},
		{name: "CodeBuild without input", doc: valid + deploy + "      - {Name: Make, ActionTypeId: {Category: Test, Owner: AWS, Provider: CodeBuild, Version: 1}, Configuration: {ProjectName: app}}\n",
			want: []string{"12:9: action Make of stage Deploy (CodeBuild) takes at least 1 input artifact, found 0; add InputArtifacts: with - Name: <artifact>"}},
		{name: "Manual approval with an output", doc: valid + deploy + "      - {Name: Go, ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: 1}, OutputArtifacts: [{Name: Approved}]}\n",
			want: []string{"12:98: action Go of stage Deploy (Manual) takes no output artifacts, found 1; remove OutputArtifacts"}},
		{name: "CloudFormation with two outputs", doc: valid + deploy + cfn + "        OutputArtifacts: [{Name: A}, {Name: B}]\n        Configuration: {ActionMode: DELETE_ONLY, StackName: app, RoleArn: 'arn:aws:iam::123456789012:role/cfn'}\n",
			want: []string{"15:9: action Stack of stage Deploy (CloudFormation) takes at most 1 output artifact, found 2; remove the extra ones"}},
		{name: "source with two outputs", doc: head + "  - Name: Source\n    Actions:\n" +
			"      - {Name: Src, ActionTypeId: {Category: Source, Owner: AWS, Provider: CodeCommit, Version: 1}, Configuration: {RepositoryName: app, BranchName: main}, OutputArtifacts: [{Name: Source}, {Name: Extra}]}\n" + buildStage,
			want: []string{"6:157: action Src of stage Source (CodeCommit) takes exactly 1 output artifact, found 2; remove the extra ones"}},
	})
}

func TestConfigurationRules(t *testing.T) {
	codebuild := func(cfg, inputs string) string {
		return valid + deploy + "      - Name: Make\n        ActionTypeId: {Category: Test, Owner: AWS, Provider: CodeBuild, Version: 1}\n        InputArtifacts: " + inputs + "\n        Configuration:\n" + cfg
	}
	runRules(t, []ruleCase{
		{name: "missing required key", doc: codebuild("          PrimarySource: Source\n", "[{Name: Source}]"),
			want: []string{"16:11: action Make of stage Deploy (CodeBuild) needs ProjectName in its Configuration; add it"}},
		{name: "misspelt key", doc: codebuild("          ProjectNam: app\n", "[{Name: Source}]"),
			want: []string{"16:11: unknown Configuration key ProjectNam in action Make of stage Deploy (CodeBuild); did you mean ProjectName?"}},
		{name: "key in the wrong case", doc: codebuild("          projectName: app\n", "[{Name: Source}]"),
			want: []string{"16:11: unknown Configuration key projectName in action Make of stage Deploy (CodeBuild); did you mean ProjectName?"}},
		{name: "unknown key", doc: codebuild("          ProjectName: app\n          Image: golang\n", "[{Name: Source}]"),
			want: []string{"17:11: unknown Configuration key Image in action Make of stage Deploy; the keys of CodeBuild are ProjectName, PrimarySource, EnvironmentVariables, BatchEnabled, CombineArtifacts"}},
		{name: "empty value", doc: codebuild("          ProjectName:\n", "[{Name: Source}]"),
			want: []string{"16:11: ProjectName in the Configuration of action Make of stage Deploy has no value; write one or remove the key"}},
		{name: "configuration on an approval", doc: valid + deploy + "      - {Name: Go, ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: 1}, Configuration: {Reviewers: ops}}\n",
			want: []string{"12:114: unknown Configuration key Reviewers in action Go of stage Deploy; the keys of Manual are NotificationArn, ExternalEntityLink, CustomData"}},
		{name: "boolean that is not", doc: head + "  - Name: Source\n    Actions:\n      - {Name: Src, ActionTypeId: {Category: Source, Owner: AWS, Provider: CodeCommit, Version: 1}, Configuration: {RepositoryName: app, BranchName: main, PollForSourceChanges: sometimes}, OutputArtifacts: [{Name: Source}]}\n" + buildStage,
			want: []string{`6:178: PollForSourceChanges of action Src of stage Source must be true or false, found "sometimes"`}},
		{name: "unknown output format", doc: head + "  - Name: Source\n    Actions:\n      - {Name: Src, ActionTypeId: {Category: Source, Owner: AWS, Provider: CodeCommit, Version: 1}, Configuration: {RepositoryName: app, BranchName: main, OutputArtifactFormat: CODE_ZIPP}, OutputArtifacts: [{Name: Source}]}\n" + buildStage,
			want: []string{`6:178: unknown OutputArtifactFormat "CODE_ZIPP" in action Src of stage Source; did you mean CODE_ZIP?`}},
		{name: "repository name with a space", doc: head + "  - Name: Source\n    Actions:\n      - {Name: Src, ActionTypeId: {Category: Source, Owner: AWS, Provider: CodeCommit, Version: 1}, Configuration: {RepositoryName: my app, BranchName: main}, OutputArtifacts: [{Name: Source}]}\n" + buildStage,
			want: []string{`6:133: RepositoryName "my app" of action Src of stage Source is not a repository name (up to 100 letters, digits, . _ and -)`}},
		{name: "value too long", doc: codebuild("          ProjectName: "+string(make([]byte, 0))+longText(1001)+"\n", "[{Name: Source}]"),
			want: []string{"16:24: the value of ProjectName in the Configuration of action Make of stage Deploy is 1001 characters long; the limit is 1000"}},
		{name: "two inputs without PrimarySource", doc: codebuild("          ProjectName: app\n", "[{Name: Source}, {Name: Built}]"),
			want: []string{"16:11: action Make of stage Deploy (CodeBuild) needs PrimarySource in its Configuration with 2 input artifacts (it names the one whose buildspec runs); add it"}},
		{name: "PrimarySource not an input", doc: codebuild("          ProjectName: app\n          PrimarySource: Built\n", "[{Name: Source}]"),
			want: []string{"17:26: PrimarySource Built of action Make of stage Deploy is not one of its input artifacts; its inputs are Source"}},
		{name: "CombineArtifacts without BatchEnabled", doc: codebuild("          ProjectName: app\n          CombineArtifacts: true\n", "[{Name: Source}]"),
			want: []string{"17:29: CombineArtifacts of action Make of stage Deploy needs BatchEnabled: true"}},
		{name: "EnvironmentVariables not JSON", doc: codebuild("          ProjectName: app\n          EnvironmentVariables: STAGE=prod\n", "[{Name: Source}]"),
			want: []string{`17:33: EnvironmentVariables of action Make of stage Deploy must be a JSON array such as [{"name":"STAGE","value":"prod","type":"PLAINTEXT"}]: invalid character 'S' looking for beginning of value`}},
		{name: "EnvironmentVariables entries", doc: codebuild("          ProjectName: app\n          EnvironmentVariables: '[{\"name\": \"A\", \"value\": \"1\", \"type\": \"SECRET\"}, {\"Name\": \"B\"}, {\"value\": 2, \"scope\": \"x\"}]'\n", "[{Name: Source}]"),
			want: []string{
				"17:33: variable 1 of EnvironmentVariables of action Make of stage Deploy has type SECRET; write PLAINTEXT, PARAMETER_STORE or SECRETS_MANAGER",
				`17:33: variable 2 of EnvironmentVariables of action Make of stage Deploy needs a "value" that is a JSON string`,
				`17:33: variable 3 of EnvironmentVariables of action Make of stage Deploy has unknown key "scope"; the keys are name, value and type`,
				`17:33: variable 3 of EnvironmentVariables of action Make of stage Deploy has no "name"`,
				`17:33: variable 3 of EnvironmentVariables of action Make of stage Deploy needs a "value" that is a JSON string`,
			}},
		{name: "EnvironmentVariables with a variable", doc: codebuild("          ProjectName: app\n          EnvironmentVariables: '[{\"name\": \"COMMIT\", \"value\": \"#{codepipeline.PipelineExecutionId}\"}]'\n", "[{Name: Source}]")},
		{name: "approval settings", doc: valid + deploy + "      - Name: Go\n        ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: 1}\n        Configuration:\n          NotificationArn: arn:aws:sqs:eu-west-1:123456789012:q\n          ExternalEntityLink: docs/release.md\n          CustomData: Check the staging site\n",
			want: []string{
				`15:28: NotificationArn "arn:aws:sqs:eu-west-1:123456789012:q" of action Go of stage Deploy is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)`,
				`16:31: ExternalEntityLink "docs/release.md" of action Go of stage Deploy is not an http or https URL`,
			}},
		{name: "approval timeout out of range", doc: valid + deploy + "      - {Name: Go, TimeoutInMinutes: 2, ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: 1}}\n",
			want: []string{`12:38: TimeoutInMinutes of action Go of stage Deploy must be a whole number from 5 to 86400, found "2"`}},
		{name: "timeout on a build", doc: valid + deploy + "      - {Name: Make, TimeoutInMinutes: 60, ActionTypeId: {Category: Test, Owner: AWS, Provider: CodeBuild, Version: 1}, Configuration: {ProjectName: app}, InputArtifacts: [{Name: Source}]}\n",
			want: []string{"12:22: TimeoutInMinutes is available only on Manual approval actions; remove it from action Make of stage Deploy"}},
	})
}

func longText(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'x'
	}
	return string(b)
}

func TestCloudFormationRules(t *testing.T) {
	stack := func(cfg string) string {
		return valid + deploy + cfn + "        Configuration:\n" + cfg
	}
	const role = "          RoleArn: arn:aws:iam::123456789012:role/cfn\n"
	runRules(t, []ruleCase{
		{name: "misspelt ActionMode", doc: stack("          ActionMode: CREATE_UPDTE\n          StackName: app\n" + role),
			want: []string{`16:23: unknown ActionMode "CREATE_UPDTE" in action Stack of stage Deploy; did you mean CREATE_UPDATE?`}},
		{name: "what CREATE_UPDATE needs", doc: stack("          ActionMode: CREATE_UPDATE\n          StackName: app\n"),
			want: []string{
				"16:11: action Stack of stage Deploy (CloudFormation) needs RoleArn in its Configuration with ActionMode CREATE_UPDATE (it is the role CloudFormation acts with); add it",
				"16:11: action Stack of stage Deploy (CloudFormation) needs TemplatePath in its Configuration with ActionMode CREATE_UPDATE; add it",
			}},
		{name: "what change sets need", doc: stack("          ActionMode: CHANGE_SET_EXECUTE\n          StackName: app\n"),
			want: []string{"16:11: action Stack of stage Deploy (CloudFormation) needs ChangeSetName in its Configuration with ActionMode CHANGE_SET_EXECUTE; add it"}},
		{name: "stack name with an underscore", doc: stack("          ActionMode: DELETE_ONLY\n          StackName: my_app\n" + role),
			want: []string{`17:22: StackName "my_app" of action Stack of stage Deploy must start with a letter and hold only letters, digits and -, up to 128 characters`}},
		{name: "template path without an artifact", doc: stack("          ActionMode: CREATE_UPDATE\n          StackName: app\n          TemplatePath: infrastructure.yml\n" + role),
			want: []string{`18:25: TemplatePath of action Stack of stage Deploy: "infrastructure.yml" is not an artifact path; write ArtifactName::path/in/artifact, e.g. Built::cloudformation/template.yml`}},
		{name: "template path from another artifact", doc: stack("          ActionMode: CREATE_UPDATE\n          StackName: app\n          TemplatePath: Source::infrastructure.yml\n          TemplateConfiguration: Built::../staging.conf\n" + role),
			want: []string{
				"18:25: TemplatePath of action Stack of stage Deploy reads artifact Source, which is not an input of the action; its inputs are Built",
				`19:34: TemplateConfiguration of action Stack of stage Deploy: the path in "Built::../staging.conf" leaves the artifact with ..; name a file inside it`,
			}},
		{name: "role that is not a role ARN", doc: stack("          ActionMode: DELETE_ONLY\n          StackName: app\n          RoleArn: cfn-role\n"),
			want: []string{`18:20: RoleArn "cfn-role" of action Stack of stage Deploy is not an IAM role ARN; write arn:aws:iam::<account>:role/<name>`}},
		{name: "capabilities with a space", doc: stack("          ActionMode: DELETE_ONLY\n          StackName: app\n          Capabilities: CAPABILITY_IAM, CAPABILITY_AUTO_EXPAND\n" + role),
			want: []string{"18:25: Capabilities of action Stack of stage Deploy must be separated by commas without spaces, e.g. CAPABILITY_IAM,CAPABILITY_AUTO_EXPAND"}},
		{name: "unknown capability", doc: stack("          ActionMode: DELETE_ONLY\n          StackName: app\n          Capabilities: CAPABILITY_IAM,CAPABILITY_NAMED_IAMS\n" + role),
			want: []string{`18:25: unknown capability "CAPABILITY_NAMED_IAMS" in action Stack of stage Deploy; did you mean CAPABILITY_NAMED_IAM?`}},
		{name: "OutputFileName without an output artifact", doc: stack("          ActionMode: DELETE_ONLY\n          StackName: app\n          OutputFileName: outputs.json\n" + role),
			want: []string{"18:27: OutputFileName of action Stack of stage Deploy names a file of its output artifact, and it has none; add OutputArtifacts: with - Name: <artifact>"}},
		{name: "ParameterOverrides not JSON", doc: stack("          ActionMode: DELETE_ONLY\n          StackName: app\n          ParameterOverrides: Env=staging\n" + role),
			want: []string{`18:31: ParameterOverrides of action Stack of stage Deploy must be a JSON object such as {"Name": "value"}: invalid character 'E' looking for beginning of value`}},
		{name: "ParameterOverrides values", doc: stack("          ActionMode: DELETE_ONLY\n          StackName: app\n" + role +
			"          ParameterOverrides: |\n            {\"Count\": 2, \"Bucket\": {\"Fn::GetArtifactAtt\": [\"Built\", \"Arn\"]}, \"Id\": {\"Fn::GetParam\": [\"Source\", \"ids.json\", \"id\"]},\n" +
			"             \"Short\": {\"Fn::GetParam\": [\"Built\", \"ids.json\"]}, \"Other\": {\"Fn::Sub\": \"x\"}, \"Fine\": {\"Fn::GetParam\": [\"Built\", \"ids.json\", \"id\"]}}\n"),
			want: []string{
				`19:31: parameter Bucket in ParameterOverrides of action Stack of stage Deploy: an artifact's attributes are BucketName, ObjectKey and URL, not "Arn"`,
				`19:31: parameter Count in ParameterOverrides of action Stack of stage Deploy must be a string (write "2", not 2) or a Fn::GetParam or Fn::GetArtifactAtt`,
				"19:31: parameter Id in ParameterOverrides of action Stack of stage Deploy reads artifact Source, which is not an input of the action; its inputs are Built",
				`19:31: parameter Other in ParameterOverrides of action Stack of stage Deploy uses "Fn::Sub", which ParameterOverrides does not have; write one of Fn::GetParam, Fn::GetArtifactAtt`,
				`19:31: parameter Short in ParameterOverrides of action Stack of stage Deploy: Fn::GetParam takes three strings, ["Artifact", "file.json", "key"]`,
			}},
		{name: "ParameterOverrides too large", doc: stack("          ActionMode: DELETE_ONLY\n          StackName: app\n" + role +
			"          ParameterOverrides: '{\"A\": \"" + longTextRunes(520) + "\"}'\n"),
			want: []string{"19:31: ParameterOverrides of action Stack of stage Deploy is 1049 bytes; the limit is 1024 (move values to a TemplateConfiguration file)"}},
		{name: "ParameterOverrides with a variable outside a string", doc: stack("          ActionMode: DELETE_ONLY\n          StackName: app\n" + role +
			"          ParameterOverrides: '{\"Count\": #{codepipeline.PipelineExecutionId}}'\n")},
	})
}

// longTextRunes is n two-byte characters.
func longTextRunes(n int) string {
	b := make([]rune, n)
	for i := range b {
		b[i] = 'é'
	}
	return string(b)
}

func TestNamespaceAndVariableRules(t *testing.T) {
	src := func(ns string) string {
		return head + "  - Name: Source\n    Actions:\n      - {Name: Src, Namespace: " + ns + ", ActionTypeId: {Category: Source, Owner: AWS, Provider: CodeCommit, Version: 1}, Configuration: {RepositoryName: app, BranchName: main}, OutputArtifacts: [{Name: Source}]}\n"
	}
	use := func(value string) string {
		return "  - Name: Build\n    Actions:\n      - {Name: Build, ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: 1}, Configuration: {ProjectName: '" + value + "'}, InputArtifacts: [{Name: Source}]}\n"
	}
	runRules(t, []ruleCase{
		{name: "references that resolve", doc: src("SourceVariables") + use("app-#{SourceVariables.CommitId}-#{codepipeline.PipelineExecutionId}")},
		{name: "namespace nobody declares", doc: src("SourceVariables") + use("#{SourceVariable.CommitId}"),
			want: []string{"9:130: #{SourceVariable.CommitId} in ProjectName of action Build of stage Build names namespace SourceVariable, which no action declares; did you mean SourceVariables?"}},
		{name: "variable the source does not have", doc: src("SourceVariables") + use("#{SourceVariables.CommitID}"),
			want: []string{"9:130: #{SourceVariables.CommitID} in ProjectName of action Build of stage Build: action Src of stage Source (CodeCommit) has no variable CommitID; did you mean CommitId?"}},
		{name: "codepipeline variable that does not exist", doc: src("SourceVariables") + use("#{codepipeline.PipelineName}"),
			want: []string{"9:130: #{codepipeline.PipelineName} in ProjectName of action Build of stage Build: the codepipeline namespace has only PipelineExecutionId"}},
		{name: "pipeline variable not declared", doc: src("SourceVariables") + use("#{variables.branch}"),
			want: []string{"9:130: #{variables.branch} in ProjectName of action Build of stage Build names pipeline variable branch, which is not declared; declare it under Variables"}},
		{name: "not a reference", doc: src("SourceVariables") + use("#{CommitId}"),
			want: []string{"9:130: #{CommitId} in ProjectName of action Build of stage Build is not a variable reference; write #{Namespace.Variable}"}},
		{name: "namespace of a later action", doc: src("SourceVariables") + "  - Name: Build\n    Actions:\n" +
			"      - {Name: Build, ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: 1}, Configuration: {ProjectName: '#{BuildVariables.Tag}'}, InputArtifacts: [{Name: Source}]}\n" +
			"      - {Name: Tag, Namespace: BuildVariables, ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: 1}, Configuration: {ProjectName: tag}, InputArtifacts: [{Name: Source}]}\n",
			want: []string{"9:130: #{BuildVariables.Tag} in ProjectName of action Build of stage Build names namespace BuildVariables of action Tag of stage Build, which does not run before it; its variables exist only once it has run"}},
		{name: "own namespace", doc: src("SourceVariables") + "  - Name: Build\n    Actions:\n" +
			"      - {Name: Build, Namespace: B, ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: 1}, Configuration: {ProjectName: '#{B.Tag}'}, InputArtifacts: [{Name: Source}]}\n",
			want: []string{"9:144: #{B.Tag} in ProjectName of action Build of stage Build names the action's own namespace; an action can use only the variables of actions that run before it"}},
		{name: "namespace with a dot", doc: src("Source.Vars") + buildStage,
			want: []string{`6:32: the Namespace of action Src of stage Source, "Source.Vars", contains '.', which namespaces cannot hold; use only letters, digits and @ - _ (for instance Source-Vars)`}},
		{name: "reserved namespace", doc: src("codepipeline") + buildStage,
			want: []string{"6:32: the Namespace codepipeline of action Src of stage Source is reserved (#{codepipeline.…} and #{variables.…} are the pipeline's own); choose another"}},
		{name: "namespace named like an artifact", doc: src("Source") + buildStage,
			want: []string{"6:32: the Namespace Source of action Src of stage Source is also the name of an output artifact of action Src of stage Source; namespaces and artifact names must differ, so rename it (e.g. SourceVariables)"}},
		{name: "namespace declared twice", doc: src("Vars") + "  - Name: Build\n    Actions:\n" +
			"      - {Name: Build, Namespace: Vars, ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: 1}, Configuration: {ProjectName: app}, InputArtifacts: [{Name: Source}]}\n",
			want: []string{"9:34: the Namespace Vars of action Build of stage Build is also declared by action Src of stage Source; namespaces must be unique in the pipeline"}},
	})
}

func TestTransitionRules(t *testing.T) {
	runRules(t, []ruleCase{
		{name: "valid", doc: valid + "DisableInboundStageTransitions: [{StageName: Build, Reason: Waiting for the audit (Q3)}]\n"},
		{name: "unknown stage", doc: valid + "DisableInboundStageTransitions: [{StageName: Biuld, Reason: audit}]\n",
			want: []string{"10:46: DisableInboundStageTransitions names stage Biuld, which the pipeline does not have; did you mean Build?"}},
		{name: "first stage", doc: valid + "DisableInboundStageTransitions: [{StageName: Source, Reason: audit}]\n",
			want: []string{"10:46: the first stage, Source, has no inbound transition to disable; name a later stage"}},
		{name: "no reason", doc: valid + "DisableInboundStageTransitions: [{StageName: Build}]\n",
			want: []string{"10:34: the disabled transition into Build has no Reason; say why it is disabled"}},
		{name: "reason with a comma", doc: valid + "DisableInboundStageTransitions: [{StageName: Build, Reason: 'audit, then go'}]\n",
			want: []string{"10:61: the Reason of the disabled transition into Build may hold only letters, digits, spaces and ! @ ( ) . * ? -"}},
		{name: "the same stage twice", doc: valid + "DisableInboundStageTransitions: [{StageName: Build, Reason: a}, {StageName: Build, Reason: b}]\n",
			want: []string{"10:77: DisableInboundStageTransitions names stage Build twice; keep one"}},
	})
}

func TestV2Rules(t *testing.T) {
	runRules(t, []ruleCase{
		{name: "triggers on V1", doc: valid + "Triggers: [{ProviderType: CodeStarSourceConnection, GitConfiguration: {SourceActionName: Src}}]\n",
			want: []string{"10:1: Triggers needs a V2 pipeline; add PipelineType: V2 to the pipeline"}},
		{name: "variables on V1", doc: valid + "Variables: [{Name: branch, DefaultValue: main}]\n",
			want: []string{"10:1: Variables needs a V2 pipeline; add PipelineType: V2 to the pipeline"}},
		{name: "queued on V1", doc: valid + "ExecutionMode: QUEUED\n",
			want: []string{"10:1: ExecutionMode QUEUED needs a V2 pipeline; add PipelineType: V2 to the pipeline"}},
		{name: "queued on V2", doc: valid + "PipelineType: V2\nExecutionMode: QUEUED\n"},
		{name: "unknown type", doc: valid + "PipelineType: V3\n",
			want: []string{`10:15: unknown PipelineType "V3"; write V1 or V2`}},
		{name: "misspelt mode", doc: valid + "PipelineType: V2\nExecutionMode: PARALEL\n",
			want: []string{`11:16: unknown ExecutionMode "PARALEL"; did you mean PARALLEL?`}},
		{name: "variables", doc: v2 + srcStage + buildStage + "Variables: [{Name: branch, DefaultValue: main}, {Name: branch}, {Name: 'my var'}]\n",
			want: []string{
				"11:56: variable branch is declared twice; keep one",
				`11:72: the name of variable 3, "my var", contains a space, which variable names cannot hold; use only letters, digits and @ - _ (for instance my-var)`,
			}},
		{name: "variable texts too long", doc: v2 + srcStage + buildStage + "Variables: [{Name: v, DefaultValue: " + longText(1001) + ", Description: " + longText(201) + "}]\n",
			want: []string{
				"11:37: the DefaultValue of variable v is 1001 characters long; the limit is 1000",
				"11:1053: the Description of variable v is 201 characters long; the limit is 200",
			}},
		{name: "variable used", doc: v2 + srcStage + "  - Name: Build\n    Actions:\n      - {Name: Build, ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: 1}, Configuration: {ProjectName: '#{variables.project}'}, InputArtifacts: [{Name: Source}]}\n" +
			"Variables: [{Name: projct}]\n",
			want: []string{"10:130: #{variables.project} in ProjectName of action Build of stage Build names pipeline variable project, which is not declared; did you mean projct?"}},
	})
}

func TestTriggerRules(t *testing.T) {
	trigger := func(git string) string {
		return v2 + srcStage + buildStage + "Triggers:\n  - ProviderType: CodeStarSourceConnection\n    GitConfiguration: " + git + "\n"
	}
	runRules(t, []ruleCase{
		{name: "valid", doc: trigger("{SourceActionName: Src, Push: [{Branches: {Includes: [main, 'release/*'], Excludes: ['release/old*']}, FilePaths: {Includes: ['src/**']}}, {Tags: {Includes: ['v*']}}]}")},
		{name: "unknown provider type", doc: v2 + srcStage + buildStage + "Triggers: [{ProviderType: CodeCommit, GitConfiguration: {SourceActionName: Src}}]\n",
			want: []string{`11:27: trigger 1 has ProviderType "CodeCommit"; the only type is CodeStarSourceConnection`}},
		{name: "unknown source action", doc: trigger("{SourceActionName: Source}"),
			want: []string{"13:42: trigger 1 names source action Source, which the first stage does not have; write one of Src"}},
		{name: "a source that is not Git", doc: v2 + "  - Name: Source\n    Actions:\n      - {Name: Zip, ActionTypeId: {Category: Source, Owner: AWS, Provider: S3, Version: 1}, Configuration: {S3Bucket: bucket, S3ObjectKey: app.zip}, OutputArtifacts: [{Name: Source}]}\n" + buildStage +
			"Triggers: [{ProviderType: CodeStarSourceConnection, GitConfiguration: {SourceActionName: Zip}}]\n",
			want: []string{"11:90: trigger 1 names action Zip of stage Source, whose provider S3 is not a Git repository; triggers filter Git pushes (CodeCommit or GitHub)"}},
		{name: "two triggers for one action", doc: v2 + srcStage + buildStage + "Triggers:\n  - {ProviderType: CodeStarSourceConnection, GitConfiguration: {SourceActionName: Src}}\n  - {ProviderType: CodeStarSourceConnection, GitConfiguration: {SourceActionName: Src}}\n",
			want: []string{"13:83: two triggers name source action Src; a source action has at most one trigger, so merge their filters"}},
		{name: "too many push filters", doc: trigger("{SourceActionName: Src, Push: [{Tags: {Includes: [a]}}, {Tags: {Includes: [b]}}, {Tags: {Includes: [c]}}, {Tags: {Includes: [d]}}]}"),
			want: []string{"13:47: trigger 1 has 4 push filters; the limit is 3"}},
		{name: "tags with branches", doc: trigger("{SourceActionName: Src, Push: [{Branches: {Includes: [main]}, Tags: {Includes: ['v*']}}]}"),
			want: []string{"13:85: push filter 1 of trigger 1 combines Tags with Branches or FilePaths; the valid filters are Tags alone, Branches alone, or Branches with FilePaths"}},
		{name: "file paths alone", doc: trigger("{SourceActionName: Src, Push: [{FilePaths: {Includes: ['src/**']}}]}"),
			want: []string{"13:55: push filter 1 of trigger 1 has FilePaths without Branches; add Branches (FilePaths narrow a branch filter)"}},
		{name: "empty filter", doc: trigger("{SourceActionName: Src, Push: [{}]}"),
			want: []string{"13:54: push filter 1 of trigger 1 filters nothing; give Branches (optionally with FilePaths) or Tags"}},
		{name: "criteria without patterns", doc: trigger("{SourceActionName: Src, Push: [{Branches: {}}]}"),
			want: []string{"13:55: Branches of push filter 1 of trigger 1 has no patterns; give Includes or Excludes"}},
		{name: "too many patterns", doc: trigger("{SourceActionName: Src, Push: [{Branches: {Includes: [a, b, c, d, e, f, g, h, i]}}]}"),
			want: []string{"13:66: Includes of Branches in push filter 1 of trigger 1 has 9 patterns; the limit is 8"}},
		{name: "malformed glob", doc: trigger("{SourceActionName: Src, Push: [{Branches: {Includes: ['release/[0-9']}}]}"),
			want: []string{`13:77: "release/[0-9" is not a valid glob pattern (Includes of Branches in push filter 1 of trigger 1); check its [ ] and \`}},
		{name: "pull requests", doc: trigger("{SourceActionName: Src, PullRequest: [{Events: [OPEN]}]}"),
			want: []string{"13:47: PullRequest in GitConfiguration of trigger 1: pull-request triggers are not supported, as Slipway repositories have no pull requests; use Push"}},
	})
}

func TestStoreRoleAndTagRules(t *testing.T) {
	runRules(t, []ruleCase{
		{name: "no artifact store", doc: "Name: p\nStages:\n" + srcStage + buildStage,
			want: []string{"1:1: missing ArtifactStore; add ArtifactStore: with Type: S3 and Location: <bucket>"}},
		{name: "both stores", doc: valid + "ArtifactStores: [{Region: local, ArtifactStore: {Type: S3, Location: bucket}}]\n",
			want: []string{"10:1: ArtifactStore and ArtifactStores cannot both be given; keep ArtifactStore, or ArtifactStores for cross-region actions"}},
		{name: "store of another type", doc: "Name: p\nArtifactStore: {Type: GCS, Location: 'my bucket'}\nStages:\n" + srcStage + buildStage,
			want: []string{
				`2:23: ArtifactStore has Type "GCS"; the only type is S3`,
				`2:38: the Location of ArtifactStore, "my bucket", is not a bucket name (3 to 63 letters, digits, . and -)`,
			}},
		{name: "encryption key", doc: "Name: p\nArtifactStore: {Type: S3, Location: bucket, EncryptionKey: {Id: key, Type: AES}}\nStages:\n" + srcStage + buildStage,
			want: []string{`2:76: the EncryptionKey of ArtifactStore must have Type: KMS, found "AES"`}},
		{name: "regional stores", doc: "Name: p\nArtifactStores: [{Region: local, ArtifactStore: {Type: S3, Location: bucket}}, {Region: local, ArtifactStore: {Type: S3, Location: other}}]\nStages:\n" + srcStage + buildStage +
			deploy + "      - {Name: Go, Region: eu-west-1, ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: 1}}\n",
			want: []string{
				"2:89: ArtifactStores has two stores for region local; keep one",
				"12:28: action Go of stage Deploy runs in region eu-west-1, which has no artifact store; add one for it to ArtifactStores",
			}},
		{name: "regional stores in the API's form", doc: `{"pipeline": {"name": "p", "artifactStores": {"local": {"type": "S3", "location": "bucket"}, "eu-west-1": {"type": "S3"}},
  "stages": [{"name": "Source", "actions": [{"name": "Src", "region": "eu-west-1", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                                             "configuration": {"S3Bucket": "my_bucket", "S3ObjectKey": "app.zip", "PollForSourceChanges": "no"}, "outputArtifacts": [{"name": "Source"}]}]},
             {"name": "Build", "actions": [{"name": "Build", "region": "us-east-1", "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
                                            "configuration": {"ProjectName": "app"}, "inputArtifacts": [{"name": "Source"}]}]}]}}`,
			want: []string{
				"1:107: the artifact store of region eu-west-1 has no Location; write Location: <bucket name>",
				`3:76: S3Bucket "my_bucket" of action Src of stage Source is not a bucket name (3 to 63 letters, digits, . and -)`,
				`3:139: PollForSourceChanges of action Src of stage Source must be true or false, found "no"`,
				"4:72: action Build of stage Build runs in region us-east-1, which has no artifact store; add one for it to ArtifactStores",
			}},
		{name: "role that is not a role ARN", doc: valid + "RoleArn: arn:aws:iam::123456789012:user/me\n",
			want: []string{`10:10: RoleArn "arn:aws:iam::123456789012:user/me" is not an IAM role ARN; write arn:aws:iam::<account>:role/<name>`}},
		{name: "tag without a key", doc: valid + "Tags: [{Value: " + longText(257) + "}]\n",
			want: []string{
				"10:8: tag 1 has no Key",
				`10:16: the Value of tag "" is 257 characters long; the limit is 256`,
			}},
		{name: "tags", doc: valid + "Tags: [{Key: team, Value: a}, {Key: team, Value: b}, {Key: 'aws:owner', Value: c}]\n",
			want: []string{
				`10:37: tag "team" is given twice; keep one`,
				`10:60: tag key "aws:owner" begins with aws:, which is reserved; rename it`,
			}},
	})
}
