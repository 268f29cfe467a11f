package appspec

import (
	"errors"
	"fmt"
	goparser "go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sample has the shape of the public Go sample's appspec; the positions in
// the test below refer to it.
const sample = `version: 0.0
os: linux
files:
  - source: /app
    destination: /opt/app
hooks:
  ApplicationStop:
    - location: scripts/stop.sh
      timeout: 60
  BeforeInstall:
    - location: scripts/before-install.sh
  AfterInstall:
    - location: scripts/after-install.sh
      runas: root
  ApplicationStart:
    - location: scripts/start.sh
      timeout: 60
  ValidateService:
    - location: scripts/validate.sh
      timeout: 60
`

func TestThePublicSampleShapedAppspecParses(t *testing.T) {
	spec, err := Parse("appspec.yml", []byte(sample))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checkPos := func(what string, got Pos, line, col int) {
		t.Helper()
		if got != (Pos{Line: line, Column: col}) {
			t.Errorf("%s at %d:%d, want %d:%d", what, got.Line, got.Column, line, col)
		}
	}
	checkPos("files entry", spec.Files[0].Pos, 4, 5)
	checkPos("ApplicationStop script", spec.Hooks[ApplicationStop][0].Pos, 8, 7)
	checkPos("ValidateService script", spec.Hooks[ValidateService][0].Pos, 19, 7)

	stripPos(spec)
	want := &Spec{
		Version: "0.0",
		OS:      Linux,
		Files:   []File{{Source: "/app", Destination: "/opt/app"}},
		Hooks: map[Event][]Hook{
			ApplicationStop:  {{Location: "scripts/stop.sh", Timeout: 60 * time.Second}},
			BeforeInstall:    {{Location: "scripts/before-install.sh", Timeout: DefaultTimeout}},
			AfterInstall:     {{Location: "scripts/after-install.sh", Timeout: DefaultTimeout, RunAs: "root"}},
			ApplicationStart: {{Location: "scripts/start.sh", Timeout: 60 * time.Second}},
			ValidateService:  {{Location: "scripts/validate.sh", Timeout: 60 * time.Second}},
		},
	}
	if !reflect.DeepEqual(spec, want) {
		t.Errorf("Parse:\n got %#v\nwant %#v", spec, want)
	}
	if got := spec.FileExistsBehavior.Or(""); got != DisallowExisting {
		t.Errorf("file_exists_behavior defaults to %q, want DISALLOW", got)
	}
}

func TestEveryPermissionFieldIsRead(t *testing.T) {
	spec, err := Parse("appspec.yml", []byte(`version: 0.0
os: linux
files:
  - source: /
    destination: /var/www
file_exists_behavior: RETAIN
permissions:
  - object: /var/www
    pattern: "*.html"
    except: [index.html, "tmp*"]
    owner: www-data
    group: web
    mode: "0644"
    acls:
      - u:deploy:rwx
      - d:g:web:r-x
      - m::rx
      - default:other::5
    context:
      user: system_u
      type: httpd_sys_content_t
      range: s0-s1:c0.c255,c300
    type:
      - file
  - object: /var/www/cgi-bin
    mode: 4755
    context:
      name: unconfined_u
      type: httpd_sys_script_exec_t
    type: [directory]
  - object: /var/www/logs
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	for i, at := range []Pos{{Line: 8, Column: 5}, {Line: 25, Column: 5}, {Line: 31, Column: 5}} {
		if spec.Permissions[i].Pos != at {
			t.Errorf("permission %d at %v, want %v", i, spec.Permissions[i].Pos, at)
		}
	}
	stripPos(spec)
	mode := func(m fs.FileMode) *fs.FileMode { return &m }
	want := []Permission{
		{
			Object:  "/var/www",
			Pattern: "*.html",
			Except:  []string{"index.html", "tmp*"},
			Owner:   "www-data",
			Group:   "web",
			Mode:    mode(0o644),
			ACLs:    []string{"u:deploy:rwx", "d:g:web:r-x", "m::rx", "default:other::5"},
			Context: &Context{User: "system_u", Type: "httpd_sys_content_t", Range: "s0-s1:c0.c255,c300"},
			Type:    []string{ObjectFile},
		},
		{
			Object:  "/var/www/cgi-bin",
			Pattern: "**",
			Mode:    mode(fs.ModeSetuid | 0o755),
			Context: &Context{User: "unconfined_u", Type: "httpd_sys_script_exec_t"},
			Type:    []string{ObjectDirectory},
		},
		{Object: "/var/www/logs", Pattern: "**", Type: []string{ObjectFile, ObjectDirectory}},
	}
	if !reflect.DeepEqual(spec.Permissions, want) {
		t.Errorf("permissions:\n got %s\nwant %s", dump(spec.Permissions), dump(want))
	}
	if spec.FileExistsBehavior != RetainExisting || spec.FileExistsBehavior.Or(OverwriteExisting) != RetainExisting {
		t.Errorf("file_exists_behavior = %q; the appspec's setting must win over the deployment's", spec.FileExistsBehavior)
	}
}

func TestAModeIsReadAsOctalDigitsWhetherANumberOrQuoted(t *testing.T) {
	for text, want := range map[string]fs.FileMode{
		`644`:    0o644,
		`"0644"`: 0o644,
		`'0644'`: 0o644,
		`"644"`:  0o644,
		`755`:    0o755,
		`0`:      0,
		`7`:      0o007,
		`"0000"`: 0,
		`4755`:   fs.ModeSetuid | 0o755,
		`"2775"`: fs.ModeSetgid | 0o775,
		`1777`:   fs.ModeSticky | 0o777,
		`"7777"`: fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky | 0o777,
	} {
		spec, err := Parse("appspec.yml", []byte("version: 0.0\nos: linux\npermissions:\n  - object: /opt\n    mode: "+text+"\n"))
		if err != nil {
			t.Errorf("mode: %s: %v", text, err)
			continue
		}
		if got := spec.Permissions[0].Mode; got == nil || *got != want {
			t.Errorf("mode: %s gave %v, want %v", text, got, want)
		}
	}
}

func TestTheVersionIsAnyYAMLNumberEqualToZero(t *testing.T) {
	// The agent compares with the float 0.0, which 0 and 0.00 equal too.
	for _, v := range []string{"0.0", "0", "0.00", "!!float '0.0'"} {
		spec, err := Parse("appspec.yml", []byte("version: "+v+"\nos: linux\n"))
		if err != nil {
			t.Errorf("version: %s: %v", v, err)
			continue
		}
		if spec.Version != "0.0" {
			t.Errorf("version: %s gave Version %q", v, spec.Version)
		}
	}
}

func TestHooksKeepTheirOrderAndEveryField(t *testing.T) {
	spec, err := Parse("appspec.yml", []byte(`version: 0.0
os: linux
hooks:
  BeforeBlockTraffic:
    - location: lb/drain.sh
  AfterInstall:
    - location: b.sh
      timeout: "120"
    - location: a.sh
      timeout: 180
      runas: deploy
      sudo: true
    - location: /c.sh
      sudo: no
  AfterAllowTraffic: []
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	stripPos(spec)
	want := map[Event][]Hook{
		BeforeBlockTraffic: {{Location: "lb/drain.sh", Timeout: DefaultTimeout}},
		AfterInstall: {
			{Location: "b.sh", Timeout: 120 * time.Second},
			{Location: "a.sh", Timeout: 180 * time.Second, RunAs: "deploy", Sudo: true},
			{Location: "/c.sh", Timeout: DefaultTimeout},
		},
	}
	if !reflect.DeepEqual(spec.Hooks, want) {
		t.Errorf("hooks:\n got %#v\nwant %#v", spec.Hooks, want)
	}
}

func TestScriptsWithoutATimeoutDoNotCountTowardsTheEventsCap(t *testing.T) {
	// Two scripts at the default 3600 s are common and run on AWS: the
	// service stops the event after an hour whatever the scripts say.
	_, err := Parse("appspec.yml", []byte("version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n"+
		"    - location: a.sh\n    - location: b.sh\n    - location: c.sh\n      timeout: 3600\n"))
	if err != nil {
		t.Errorf("Parse: %v", err)
	}
}

func TestAnchorsAliasesAndMergeKeysWork(t *testing.T) {
	spec, err := Parse("appspec.yml", []byte(`version: 0.0
os: linux
hooks:
  BeforeInstall:
    - &common
      location: scripts/common.sh
      timeout: 30
  AfterInstall:
    - <<: *common
      runas: root
    - *common
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	got := spec.Hooks[AfterInstall]
	if len(got) != 2 || got[0].Location != "scripts/common.sh" || got[0].Timeout != 30*time.Second || got[0].RunAs != "root" ||
		got[1].Location != "scripts/common.sh" || got[1].Pos != (Pos{Line: 11, Column: 7}) {
		t.Errorf("AfterInstall = %#v", got)
	}
}

func TestAnAppspecWrittenAsJSONParses(t *testing.T) {
	spec, err := Parse("appspec.yml", []byte(`{"version": 0.0, "os": "linux",
 "files": [{"source": "/", "destination": "/srv"}],
 "hooks": {"ApplicationStart": [{"location": "start.sh", "timeout": 30}]}}`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if spec.Files[0].Destination != "/srv" || spec.Hooks[ApplicationStart][0].Timeout != 30*time.Second {
		t.Errorf("spec = %#v", spec)
	}
}

func TestWindowsAppspecsMayUseWindowsDestinations(t *testing.T) {
	spec, err := Parse("appspec.yml", []byte("version: 0.0\nos: windows\nfiles:\n  - source: \\\n    destination: C:\\inetpub\\wwwroot\npermissions: []\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if spec.OS != Windows || spec.Files[0].Destination != `C:\inetpub\wwwroot` {
		t.Errorf("spec = %#v", spec)
	}
}

func TestValidACLEntriesAndRangesAreAccepted(t *testing.T) {
	for _, acl := range []string{"u:bob:rwx", "user:bob:r--", "bob:rw", "g:web:5", "group:web:", "m::r-x", "mask::7",
		"d:u::rwx", "default:user:bob:rwx", "d:bob:r", "d:o::r", "d:m::rw", "u:bob:-w-"} {
		if msg := aclProblem(acl); msg != "" {
			t.Errorf("ACL entry %q: %s", acl, msg)
		}
	}
	for _, acl := range []string{"rwx", "u::rwx", "o::r", "g::r", "u:bob:rwz", "x:bob:rwx", "d:d:bob:r", "m:bob:r", "a:b:c:d:e", "u:bob:rwx:x"} {
		if aclProblem(acl) == "" {
			t.Errorf("ACL entry %q was accepted", acl)
		}
	}
	for _, r := range []string{"s0", "s0-s15", "s0:c0", "s0:c0.c1023", "s1-s2:c0,c3.c5,c9", "s0-s0:c1"} {
		if msg := rangeProblem(r); msg != "" {
			t.Errorf("range %q: %s", r, msg)
		}
	}
	for _, r := range []string{"", "0", "s", "sx", "s1-s0", "s0:", "s0:c1024", "s0:c5.c1", "s0:c1,c1", "s0:c0.c3,c2", "s0-", "-s0", "s0:d1", "s0:c1.", "s0:c1.c2.c3", "s0::c1"} {
		if rangeProblem(r) == "" {
			t.Errorf("range %q was accepted", r)
		}
	}
}

func TestEveryProblemOfTheFileIsReportedAtOnceInFileOrder(t *testing.T) {
	_, err := Parse("deploy/appspec.yml", []byte(`version: "0.0"
os: linux
files:
  - source: /app
    destination: opt/app
  - destination: /etc/app
file_exists_behavior: overwrite
permissions:
  - object: /opt/app
    mode: u+x
hooks:
  AfterInstal:
    - location: scripts/after-install.sh
  ApplicationStart:
    - location: scripts/start.sh
      timeout: 3000
    - location: scripts/warm.sh
      timeout: 900
  ValidateService:
    - timeout: 60
      runAs: root
`))
	want := `deploy/appspec.yml:1:10: version "0.0" is a string; the agent compares the version with the number 0.0, which a quoted value never equals, so write version: 0.0 without quotes
deploy/appspec.yml:5:18: destination "opt/app" is not an absolute path; write the directory on the instance from the root, e.g. /opt/app
deploy/appspec.yml:6:5: this files entry has no source; add source: with a path in the revision (/ for all of it)
deploy/appspec.yml:7:23: unknown file_exists_behavior "overwrite" (did you mean "OVERWRITE"?); the values are DISALLOW, OVERWRITE and RETAIN
deploy/appspec.yml:10:11: mode "u+x" is symbolic, which the agent does not support; write octal digits such as 755 instead
deploy/appspec.yml:12:3: unknown lifecycle event "AfterInstal" (did you mean "AfterInstall"?)
deploy/appspec.yml:14:3: the timeouts of the scripts of ApplicationStart add up to 3900 seconds, more than the 3600 seconds CodeDeploy allows for one lifecycle event; lower them
deploy/appspec.yml:20:7: this script of ValidateService has no location; add location: with the script's path in the revision
deploy/appspec.yml:21:7: unknown key "runAs" in a script of ValidateService (did you mean "runas"?)`
	if err == nil || err.Error() != want {
		t.Errorf("Parse error:\n%v\nwant:\n%s", err, want)
	}
}

// base is a valid appspec that the cases below extend or break.
const base = "version: 0.0\nos: linux\n"

// empty is the agent's message for an empty file.
const empty = "1:1: the application specification file was empty; make sure your AppSpec file defines at minimum the 'version' and 'os' properties, e.g. version: 0.0 and os: linux"

func TestEachRuleReportsItsProblemAtItsPosition(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want string // the whole error text after the first "appspec.yml:"
	}{
		// The file as a whole.
		{"an empty file is the agent's empty-file error", "", empty},
		{"a file of comments only is empty", "# nothing yet\n", empty},
		{"a lone document marker is empty", "---\n", empty},
		{"a null document is empty", "~\n", empty},
		{"the appspec must be a mapping", "- version: 0.0\n",
			`1:1: the appspec must be a mapping of keys such as version: and os:, found a list`},
		{"a second YAML document is refused", base + "---\nos: windows\n",
			`3:1: a second YAML document starts here; an appspec is one document, so remove this --- line or what follows it`},
		{"a YAML syntax error is positioned", base + "files: [{source: /a, destination: /b}\n",
			`4:1: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence that starts at 3:8)`},
		{"a tab in the indentation says to use spaces", base + "hooks:\n\tAfterInstall: []\n",
			`4:1: invalid YAML: found character that cannot start any token; indent with spaces, YAML does not allow tabs`},
		{"duplicate keys are refused", base + "os: linux\n",
			`3:1: duplicate key "os" (first written at line 2); keep only one`},
		{"a merge key needs a mapping", base + "hooks:\n  <<: x\n",
			`4:7: a merge key (<<) needs a mapping or a list of mappings, such as *defaults, found "x"`},
		{"a key must be a plain name", base + "? [a, b]\n: c\n",
			`3:3: a key must be a plain name, found a list`},

		// Top level.
		{"a missing version is reported at the top mapping", "# c\nos: linux\n",
			`2:1: missing version; add version: 0.0 as the first line (a number, unquoted)`},
		{"a missing os is reported at the top mapping", "version: 0.0\n",
			`1:1: missing os; add os: linux (or os: windows)`},
		{"a quoted version is refused because the agent compares a number", "version: '0.0'\nos: linux\n",
			`1:10: version "0.0" is a string; the agent compares the version with the number 0.0, which a quoted value never equals, so write version: 0.0 without quotes`},
		{"another version is refused", "version: 0.1\nos: linux\n",
			`1:10: unsupported version "0.1"; the only AppSpec version is 0.0, so write version: 0.0`},
		{"a version that is not a single value is refused", "version: [0.0]\nos: linux\n",
			`1:10: version must be the number 0.0, found a list`},
		{"an os in the wrong case suggests the right one", "version: 0.0\nos: Linux\n",
			`2:5: unsupported operating system "Linux" (did you mean "linux"?); specify either linux or windows`},
		{"an unknown os lists the known ones", "version: 0.0\nos: macos\n",
			`2:5: unsupported operating system "macos"; specify either linux or windows`},
		{"an empty os is refused", "version: 0.0\nos:\nfiles: []\n",
			`2:4: os must be linux or windows, found an empty value`},
		{"an unknown top-level key suggests the closest", base + "hook:\n  AfterInstall: []\n",
			`3:1: unknown key "hook" in the top level (did you mean "hooks"?)`},
		{"an unknown top-level key far from any lists the keys", base + "colour: blue\n",
			`3:1: unknown key "colour" in the top level; the keys allowed there are version, os, files, file_exists_behavior, permissions, hooks`},
		{"a lifecycle event at the top level says to move it under hooks", base + "AfterInstall:\n  - location: a.sh\n",
			`3:1: unknown key "AfterInstall" in the top level; lifecycle events go under hooks:, indented`},
		{"a Lambda or ECS appspec is told apart", base + "Resources: []\n",
			`3:1: unknown key "Resources" in the top level; Resources belongs to the AppSpec of Lambda and ECS deployments, and this one is for EC2/on-premises (files:, permissions:, hooks:)`},
		{"file_exists_behavior is one of three values", base + "file_exists_behavior: KEEP\n",
			`3:23: unknown file_exists_behavior "KEEP"; the values are DISALLOW, OVERWRITE and RETAIN`},
		{"file_exists_behavior must not be empty", base + "file_exists_behavior:\n",
			`3:22: file_exists_behavior is empty; write a value after file_exists_behavior:`},

		// files.
		{"files written as a mapping says to start entries with a dash", base + "files:\n  source: /a\n  destination: /b\n",
			`4:3: files must be a list, found a mapping; start each entry with "- ", e.g. - source: /app`},
		{"files as a single value is refused", base + "files: /app\n",
			`3:8: files must be a list of entries with source: and destination:, found "/app"`},
		{"a files entry must be a mapping", base + "files:\n  - /app\n",
			`4:5: each entry of files must be a mapping with source: and destination:, found "/app"`},
		{"a files entry needs a source", base + "files:\n  - destination: /opt\n",
			`4:5: this files entry has no source; add source: with a path in the revision (/ for all of it)`},
		{"an empty files entry needs both", base + "files:\n  - {}\n",
			"4:5: this files entry has no source; add source: with a path in the revision (/ for all of it)\n" +
				"appspec.yml:4:5: this files entry has no destination; add destination: with the directory on the instance to copy the source into"},
		{"a files entry needs a destination", base + "files:\n  - source: /app\n",
			`4:5: this files entry has no destination; add destination: with the directory on the instance to copy the source into`},
		{"an empty source is refused", base + "files:\n  - source:\n    destination: /opt\n",
			`4:12: source is empty; write a value after source:`},
		{"an unknown files key suggests the closest", base + "files:\n  - source: /app\n    destinaton: /opt\n",
			`5:5: unknown key "destinaton" in a files entry (did you mean "destination"?)`},
		{"a files key far from any lists the keys", base + "files:\n  - source: /app\n    destination: /opt\n    overwrite: true\n",
			`6:5: unknown key "overwrite" in a files entry; the keys allowed there are source, destination`},
		{"a destination on Linux must be absolute", base + "files:\n  - source: /app\n    destination: opt/app\n",
			`5:18: destination "opt/app" is not an absolute path; write the directory on the instance from the root, e.g. /opt/app`},
		{"a source may not lead out of the revision", base + "files:\n  - source: app/../../etc\n    destination: /etc\n",
			`4:13: source "app/../../etc" leads out of the revision; a source is a path inside the revision, relative to its root`},
		{"a source that is a list is refused", base + "files:\n  - source: [a, b]\n    destination: /etc\n",
			`4:13: source must be a single value, found a list`},

		// permissions.
		{"permissions are Linux only", "version: 0.0\nos: windows\npermissions:\n  - object: C:\\app\n",
			`3:1: permissions are supported only on Linux instances, and this appspec is for os: windows; remove permissions:`},
		{"permissions written as a mapping says to start entries with a dash", base + "permissions:\n  object: /opt\n",
			`4:3: permissions must be a list, found a mapping; start each entry with "- ", e.g. - object: /opt/app`},
		{"a permissions entry must be a mapping", base + "permissions:\n  - /opt\n",
			`4:5: each entry of permissions must be a mapping with object: and the settings to apply, found "/opt"`},
		{"a permissions entry needs an object", base + "permissions:\n  - owner: root\n",
			`4:5: this permissions entry has no object; add object: with the installed file or directory it applies to`},
		{"an unknown permissions key suggests the closest", base + "permissions:\n  - object: /opt\n    owners: root\n",
			`5:5: unknown key "owners" in a permissions entry (did you mean "owner"?)`},
		{"an unquoted mode with a leading zero is refused", base + "permissions:\n  - object: /opt\n    mode: 0644\n",
			`5:11: mode 0644 has a leading zero, so YAML reads it as an octal number and the agent would set a different mode; quote it ("0644") or drop the zero (644)`},
		{"a symbolic mode is refused", base + "permissions:\n  - object: /opt\n    mode: u+x\n",
			`5:11: mode "u+x" is symbolic, which the agent does not support; write octal digits such as 755 instead`},
		{"a symbolic mode in ls form is refused", base + "permissions:\n  - object: /opt\n    mode: rwxr-xr-x\n",
			`5:11: mode "rwxr-xr-x" is symbolic, which the agent does not support; write octal digits such as 755 instead`},
		{"a mode with a digit over 7 is refused", base + "permissions:\n  - object: /opt\n    mode: 648\n",
			`5:11: mode "648" must be octal digits (0 to 7) such as 644 or "0755"`},
		{"a mode of more than four digits is refused", base + "permissions:\n  - object: /opt\n    mode: \"00644\"\n",
			`5:11: mode "00644" is too long; a mode is one to four octal digits such as 644 or "4755"`},
		{"a mode that is a list is refused", base + "permissions:\n  - object: /opt\n    mode: [644]\n",
			`5:11: mode must be octal digits such as 644 or "0755", found a list`},
		{"a pattern with a slash would never match", base + "permissions:\n  - object: /opt\n    pattern: \"bin/*\"\n",
			`5:14: pattern "bin/*" contains a /, so it would never match: a pattern is matched against names directly inside object (write ** for everything beneath it)`},
		{"except must be a list", base + "permissions:\n  - object: /opt\n    except: a.txt\n",
			`5:13: except must be a list with one pattern per item, found a single value; write it as [a.txt]`},
		{"an except pattern with a slash would never match", base + "permissions:\n  - object: /opt\n    except: [a/b]\n",
			`5:14: except "a/b" contains a /, so it would never match: a pattern is matched against names directly inside object (write ** for everything beneath it)`},
		{"an empty owner is refused", base + "permissions:\n  - object: /opt\n    owner: \"\"\n",
			`5:12: owner is empty; write a value after owner:`},
		{"acls must be a list", base + "permissions:\n  - object: /opt\n    acls: u:bob:rwx\n",
			`5:11: acls must be a list with one ACL entry per item, found a single value; write it as [u:bob:rwx]`},
		{"an ACL base entry is the mode's job", base + "permissions:\n  - object: /opt\n    acls: [\"u::rwx\"]\n",
			`5:12: ACL entry "u::rwx" sets a base entry, which is the mode's job; set it with mode: instead`},
		{"an ACL entry with a wrong permission letter is refused", base + "permissions:\n  - object: /opt\n    acls:\n      - u:bob:rwz\n",
			`6:9: ACL entry "u:bob:rwz" has permissions "rwz"; write them as r, w, x and - (such as r-x) or as one octal digit`},
		{"an ACL entry of the wrong shape is refused", base + "permissions:\n  - object: /opt\n    acls:\n      - x:bob:rwx\n",
			`6:9: ACL entry "x:bob:rwx" is not an ACL entry such as u:deploy:rwx or d:g:web:r-x`},
		{"context must be a mapping", base + "permissions:\n  - object: /opt\n    context: httpd_sys_content_t\n",
			`5:14: context must be a mapping of keys (user, name, type, range), found "httpd_sys_content_t"`},
		{"context needs a type", base + "permissions:\n  - object: /opt\n    context:\n      user: system_u\n",
			`5:5: context has no type; add type: with the SELinux type, such as httpd_sys_content_t`},
		{"context takes user or name, not both", base + "permissions:\n  - object: /opt\n    context:\n      user: a\n      name: b\n      type: t\n",
			`7:7: context has both user: and name:, which mean the same SELinux user; keep one`},
		{"an unknown context key suggests the closest", base + "permissions:\n  - object: /opt\n    context:\n      typ: t\n",
			`6:7: unknown key "typ" in context (did you mean "type"?)`},
		{"a malformed range is refused", base + "permissions:\n  - object: /opt\n    context:\n      type: t\n      range: s0:c1024\n",
			`7:14: range "s0:c1024" in context is not an SELinux range such as s0, s0-s1 or s0:c0.c255 (categories run from c0 to c1023)`},
		{"a backwards sensitivity range is refused", base + "permissions:\n  - object: /opt\n    context:\n      type: t\n      range: s2-s1\n",
			`7:14: range "s2-s1" in context has its high sensitivity below its low one`},
		{"a backwards category range is refused", base + "permissions:\n  - object: /opt\n    context:\n      type: t\n      range: s0:c9.c2\n",
			`7:14: range "s0:c9.c2" in context has the category range c9.c2, which runs backwards`},
		{"a category named twice is refused", base + "permissions:\n  - object: /opt\n    context:\n      type: t\n      range: s0:c0.c5,c3\n",
			`7:14: range "s0:c0.c5,c3" in context names category c3 more than once`},
		{"type must be a list", base + "permissions:\n  - object: /opt\n    type: file\n",
			`5:11: type must be a list with one object type per item, found a single value; write it as [file]`},
		{"an unknown object type suggests the closest", base + "permissions:\n  - object: /opt\n    type: [files]\n",
			`5:12: unknown object type "files" (did you mean "file"?); the types are file and directory`},
		{"an empty type list would apply to nothing", base + "permissions:\n  - object: /opt\n    type: []\n",
			`5:11: type lists no object type, so the permission would apply to nothing; list file, directory or both, or remove type: to mean both`},

		// hooks.
		{"hooks must be a mapping", base + "hooks:\n  - AfterInstall\n",
			`4:3: hooks must be a mapping of lifecycle event to scripts, such as BeforeInstall:, found a list`},
		{"Install cannot have scripts", base + "hooks:\n  Install:\n    - location: a.sh\n",
			`4:3: Install is a step of CodeDeploy itself and cannot run scripts; put them in BeforeInstall or AfterInstall`},
		{"DownloadBundle cannot have scripts", base + "hooks:\n  DownloadBundle: []\n",
			`4:3: DownloadBundle is a step of CodeDeploy itself and cannot run scripts; put them in ApplicationStop or BeforeInstall`},
		{"BlockTraffic cannot have scripts", base + "hooks:\n  BlockTraffic: []\n",
			`4:3: BlockTraffic is a step of CodeDeploy itself and cannot run scripts; put them in BeforeBlockTraffic or AfterBlockTraffic`},
		{"AllowTraffic cannot have scripts", base + "hooks:\n  AllowTraffic: []\n",
			`4:3: AllowTraffic is a step of CodeDeploy itself and cannot run scripts; put them in BeforeAllowTraffic or AfterAllowTraffic`},
		{"a misspelt event suggests the closest", base + "hooks:\n  AfterInstal:\n    - location: a.sh\n",
			`4:3: unknown lifecycle event "AfterInstal" (did you mean "AfterInstall"?)`},
		{"a plural event suggests the singular", base + "hooks:\n  ValidateServices:\n    - location: a.sh\n",
			`4:3: unknown lifecycle event "ValidateServices" (did you mean "ValidateService"?)`},
		{"events are case-sensitive", base + "hooks:\n  afterinstall:\n    - location: a.sh\n",
			`4:3: unknown lifecycle event "afterinstall" (did you mean "AfterInstall"?)`},
		{"an event far from any lists the scriptable ones", base + "hooks:\n  Deploy:\n    - location: a.sh\n",
			`4:3: unknown lifecycle event "Deploy"; the lifecycle events that run scripts are BeforeBlockTraffic, AfterBlockTraffic, ApplicationStop, BeforeInstall, AfterInstall, ApplicationStart, ValidateService, BeforeAllowTraffic, AfterAllowTraffic`},
		{"an event with nothing under it is refused", base + "hooks:\n  AfterInstall:\n",
			`4:3: AfterInstall has no scripts; list them as - location: path/to/script, or remove AfterInstall:`},
		{"an event's scripts written as a mapping says to start with a dash", base + "hooks:\n  AfterInstall:\n    location: a.sh\n",
			`5:5: the scripts of AfterInstall must be a list, found a mapping; start each script with "- ", e.g. - location: scripts/start.sh`},
		{"an event's scripts written as one path shows the entry to write", base + "hooks:\n  AfterInstall: a.sh\n",
			`4:17: the scripts of AfterInstall must be a list of entries with location:, found a single value; write - location: a.sh`},
		{"a script written as a path shows the entry to write", base + "hooks:\n  AfterInstall:\n    - a.sh\n",
			`5:7: each script of AfterInstall must be a mapping with location:, found "a.sh"; write - location: a.sh`},
		{"a script that is a list is refused", base + "hooks:\n  AfterInstall:\n    - [a.sh]\n",
			`5:7: each script of AfterInstall must be a mapping with location:, found a list`},
		{"a script needs a location", base + "hooks:\n  AfterInstall:\n    - timeout: 60\n",
			`5:7: this script of AfterInstall has no location; add location: with the script's path in the revision`},
		{"an empty location is refused", base + "hooks:\n  AfterInstall:\n    - location: \" \"\n",
			`5:17: location in a script of AfterInstall is empty; write a value after location:`},
		{"an unknown script key suggests the closest", base + "hooks:\n  AfterInstall:\n    - location: a.sh\n      run-as: root\n",
			`6:7: unknown key "run-as" in a script of AfterInstall (did you mean "runas"?)`},
		{"a script key far from any lists the keys", base + "hooks:\n  AfterInstall:\n    - location: a.sh\n      env: {A: b}\n",
			`6:7: unknown key "env" in a script of AfterInstall; the keys allowed there are location, timeout, runas, sudo`},
		{"a zero timeout is refused", base + "hooks:\n  AfterInstall:\n    - location: a.sh\n      timeout: 0\n",
			`6:16: timeout in a script of AfterInstall must be a positive whole number of seconds, such as 300, found 0`},
		{"a negative timeout is refused", base + "hooks:\n  AfterInstall:\n    - location: a.sh\n      timeout: -5\n",
			`6:16: timeout in a script of AfterInstall must be a positive whole number of seconds, such as 300, found "-5"`},
		{"a fractional timeout is refused", base + "hooks:\n  AfterInstall:\n    - location: a.sh\n      timeout: 1.5\n",
			`6:16: timeout in a script of AfterInstall must be a positive whole number of seconds, such as 300, found "1.5"`},
		{"a timeout with a unit is refused", base + "hooks:\n  AfterInstall:\n    - location: a.sh\n      timeout: 5m\n",
			`6:16: timeout in a script of AfterInstall must be a positive whole number of seconds, such as 300, found "5m"`},
		{"an empty timeout is refused", base + "hooks:\n  AfterInstall:\n    - location: a.sh\n      timeout:\n",
			`6:15: timeout in a script of AfterInstall must be a whole number of seconds, such as 300, found an empty value`},
		{"an absurd timeout is refused", base + "hooks:\n  AfterInstall:\n    - location: a.sh\n      timeout: 99999999999999999999\n",
			`6:16: timeout 99999999999999999999 in a script of AfterInstall is far more than the 3600 seconds a lifecycle event may take`},
		{"one timeout over the cap names the event", base + "hooks:\n  AfterInstall:\n    - location: a.sh\n      timeout: 7200\n",
			`4:3: a script of AfterInstall has a timeout of 7200 seconds, more than the 3600 seconds CodeDeploy allows for one lifecycle event; lower it`},
		{"timeouts adding up over the cap name the event and the sum", base + "hooks:\n  BeforeInstall:\n    - location: a.sh\n      timeout: 1800\n    - location: b.sh\n      timeout: 1801\n",
			`4:3: the timeouts of the scripts of BeforeInstall add up to 3601 seconds, more than the 3600 seconds CodeDeploy allows for one lifecycle event; lower them`},
		{"sudo must be a boolean", base + "hooks:\n  AfterInstall:\n    - location: a.sh\n      sudo: \"true\"\n",
			`6:13: sudo in a script of AfterInstall must be true or false, found "true"`},
		{"runas must be a single value", base + "hooks:\n  AfterInstall:\n    - location: a.sh\n      runas: [root]\n",
			`6:14: runas in a script of AfterInstall must be a single value, found a list`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := Parse("appspec.yml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded with %#v, want %s", spec, tc.want)
			}
			if spec != nil {
				t.Errorf("Parse returned a Spec together with an error")
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T is not Errors: %v", err, err)
			}
			if got, want := err.Error(), "appspec.yml:"+tc.want; got != want {
				t.Errorf("\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestTheLifecycleEventsComeInTheAgentsOrder(t *testing.T) {
	want := []Event{"BeforeBlockTraffic", "BlockTraffic", "AfterBlockTraffic", "ApplicationStop", "DownloadBundle",
		"BeforeInstall", "Install", "AfterInstall", "ApplicationStart", "ValidateService",
		"BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic"}
	got := Events()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Events() = %q\nwant %q", got, want)
	}
	got[0] = "changed"
	if Events()[0] != BeforeBlockTraffic {
		t.Error("Events returns a shared slice")
	}
	var reserved, lb, scriptable []Event
	for _, e := range want {
		if !e.Known() {
			t.Errorf("%s is not Known", e)
		}
		if e.Reserved() {
			reserved = append(reserved, e)
		}
		if e.LoadBalancerOnly() {
			lb = append(lb, e)
		}
		if e.Scriptable() {
			scriptable = append(scriptable, e)
		}
	}
	if w := []Event{BlockTraffic, DownloadBundle, Install, AllowTraffic}; !reflect.DeepEqual(reserved, w) {
		t.Errorf("reserved = %q, want %q", reserved, w)
	}
	if w := []Event{BeforeBlockTraffic, BlockTraffic, AfterBlockTraffic, BeforeAllowTraffic, AllowTraffic, AfterAllowTraffic}; !reflect.DeepEqual(lb, w) {
		t.Errorf("load balancer only = %q, want %q", lb, w)
	}
	if len(scriptable) != 9 {
		t.Errorf("scriptable = %q, want 9 events", scriptable)
	}
	if Event("AfterInstal").Known() || Event("AfterInstal").Scriptable() {
		t.Error("an unknown event is Known")
	}
}

func TestTheAgentLooksForAppspecYmlThenYaml(t *testing.T) {
	if got := FileNames(); !reflect.DeepEqual(got, []string{"appspec.yml", "appspec.yaml"}) {
		t.Errorf("FileNames() = %q", got)
	}
}

func TestTheFileExistsBehaviorOfTheAppspecOverridesTheDeployments(t *testing.T) {
	for _, tc := range []struct{ appspec, deployment, want FileExistsBehavior }{
		{"", "", DisallowExisting},
		{"", OverwriteExisting, OverwriteExisting},
		{RetainExisting, OverwriteExisting, RetainExisting},
		{OverwriteExisting, "", OverwriteExisting},
	} {
		if got := tc.appspec.Or(tc.deployment); got != tc.want {
			t.Errorf("%q.Or(%q) = %q, want %q", tc.appspec, tc.deployment, got, tc.want)
		}
	}
}

func TestEachProblemIsAnErrorValueWithFileAndPosition(t *testing.T) {
	_, err := Parse("a.yml", []byte("version: 9\nos: linux\n"))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("errors.As(%v, *Error) failed", err)
	}
	if e.File != "a.yml" || e.Pos != (Pos{Line: 1, Column: 10}) || !strings.Contains(e.Msg, `unsupported version "9"`) {
		t.Errorf("Error = %+v", e)
	}
	if got := (&Error{Pos: Pos{Line: 2, Column: 3}, Msg: "m"}).Error(); got != "2:3: m" {
		t.Errorf("Error without a file prints %q", got)
	}
}

func TestTheProblemsOfAnAliasedNodeAreReportedOnce(t *testing.T) {
	_, err := Parse("a.yml", []byte(base+"permissions:\n  - &p\n    object: /opt\n    mode: u+x\n  - *p\n"))
	if err == nil || strings.Count(err.Error(), "\n") != 0 {
		t.Errorf("want exactly one problem, got:\n%v", err)
	}
}

func TestAMessageStaysOnOneLineWhateverTheInput(t *testing.T) {
	_, err := Parse("a.yml", []byte(base+"os: \"a\\nb\"\n\"x\\ny\\rz\": 1\n"))
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	if n := strings.Count(err.Error(), "\n"); n != 1 {
		t.Errorf("want 2 lines, got:\n%v", err)
	}
}

func TestThePackageDoesNoIO(t *testing.T) {
	forbidden := []string{"os", "os/exec", "net", "net/http", "io/ioutil", "syscall", "unsafe"}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := goparser.ParseFile(fset, name, nil, goparser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				if path == bad || strings.HasPrefix(path, bad+"/") {
					t.Errorf("%s imports %s; appspec is a pure format package", name, path)
				}
			}
		}
	}
}

// stripPos zeroes every position, so that a whole Spec can be compared.
func stripPos(s *Spec) {
	for i := range s.Files {
		s.Files[i].Pos = Pos{}
	}
	for i := range s.Permissions {
		s.Permissions[i].Pos = Pos{}
	}
	for _, hs := range s.Hooks {
		for i := range hs {
			hs[i].Pos = Pos{}
		}
	}
}

// dump prints permissions with their pointers followed.
func dump(ps []Permission) string {
	var b strings.Builder
	for _, p := range ps {
		mode, ctx := any(nil), any(nil)
		if p.Mode != nil {
			mode = *p.Mode
		}
		if p.Context != nil {
			ctx = *p.Context
		}
		p.Mode, p.Context = nil, nil
		fmt.Fprintf(&b, "\n%+v mode=%v context=%+v", p, mode, ctx)
	}
	return b.String()
}
