package repo

import (
	"io"
	"strings"
	"testing"
)

// FuzzPushWatch feeds arbitrary bytes through the push watcher: it must pass
// the request through unchanged, never panic, and only report commands that
// are well formed.
func FuzzPushWatch(f *testing.F) {
	a := strings.Repeat("a", 40)
	f.Add([]byte(pktLine(zeros+" "+a+" refs/heads/main\x00report-status\n")+"0000PACK"), []byte(pktLine("\x01"+pktLine("unpack ok\n")+pktLine("ok refs/heads/main\n")+"0000")+"0000"))
	f.Add([]byte("0000"), []byte("0000"))
	f.Add([]byte("ffff"), []byte("0004"))
	f.Fuzz(func(t *testing.T, request, response []byte) {
		w := newPushWatch()
		got, err := io.ReadAll(w.request(strings.NewReader(string(request))))
		if err != nil || string(got) != string(request) {
			t.Fatalf("request changed in passing: %v", err)
		}
		if _, err := w.response().Write(response); err != nil {
			t.Fatalf("response writer failed: %v", err)
		}
		cmds, _, why := w.result()
		if why != "" {
			return
		}
		for _, c := range cmds {
			if !isHexID(c.Old) || !isHexID(c.New) || !strings.HasPrefix(c.Ref, "refs/") {
				t.Fatalf("malformed command reported: %+v", c)
			}
		}
	})
}
