package artifact_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/slipway/slipway/artifact"
)

// storeUnderTest is a fresh, empty Store with hooks that look behind its
// interface, so the conformance suite can check what is left in storage.
type storeUnderTest struct {
	artifact.Store
	// stored lists what holds content under a final name (files, keys).
	stored func(t *testing.T) []string
	// temps lists what Puts left behind: temporary files, temporary
	// objects, unfinished multipart uploads.
	temps func(t *testing.T) []string
	// location is the entry stored lists for the content with digest.
	location func(digest string) string
	// overwrite replaces the stored bytes of digest behind the store's back.
	overwrite func(t *testing.T, digest string, b []byte)
}

// testStore checks the behaviour every Store shares, on fresh stores that
// open returns (each test case opens its own).
func testStore(t *testing.T, open func(t *testing.T) storeUnderTest) {
	tests := []struct {
		name string
		f    func(t *testing.T, open func(t *testing.T) storeUnderTest)
	}{
		{"PutThenOpenGivesBackTheSameBytes", testPutThenOpenGivesBackTheSameBytes},
		{"PutOfKnownContentHasTheSHA256Digest", testPutOfKnownContentHasTheSHA256Digest},
		{"PutOfTheSameContentTwiceKeepsOneCopy", testPutOfTheSameContentTwiceKeepsOneCopy},
		{"OpenOfDamagedContentFailsAtEOFWithErrCorrupt", testOpenOfDamagedContentFailsAtEOFWithErrCorrupt},
		{"InvalidDigestsAreRefused", testInvalidDigestsAreRefused},
		{"AbsentContentIsNotFoundAndDeleteIsIdempotent", testAbsentContentIsNotFoundAndDeleteIsIdempotent},
		{"AFailedOrCancelledPutLeavesNothing", testAFailedOrCancelledPutLeavesNothing},
		{"ACancelledContextStopsEveryOperation", testACancelledContextStopsEveryOperation},
		{"ConcurrentPutsOfTheSameContentAllSucceed", testConcurrentPutsOfTheSameContentAllSucceed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, open) })
	}
}

// checkNoTemps fails the test if a Put left something behind.
func checkNoTemps(t *testing.T, s storeUnderTest) {
	t.Helper()
	if got := s.temps(t); len(got) != 0 {
		t.Fatalf("temporaries left: %v", got)
	}
}

func testPutThenOpenGivesBackTheSameBytes(t *testing.T, open func(t *testing.T) storeUnderTest) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		content []byte
	}{
		{"empty", nil},
		{"small", []byte("hello\n")},
		{"larger than the copy buffer", bytes.Repeat([]byte("0123456789abcdef"), 100_000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			info, err := s.Put(ctx, bytes.NewReader(tc.content))
			if err != nil {
				t.Fatal(err)
			}
			want := artifact.Info{Digest: digestOf(tc.content), Size: int64(len(tc.content))}
			if info != want {
				t.Fatalf("Put = %+v, want %+v", info, want)
			}
			if got, wantStored := s.stored(t), []string{s.location(want.Digest)}; fmt.Sprint(got) != fmt.Sprint(wantStored) {
				t.Fatalf("stored = %v, want %v", got, wantStored)
			}
			checkNoTemps(t, s)

			rc, oinfo, err := s.Open(ctx, info.Digest)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			if cerr := rc.Close(); cerr != nil {
				t.Fatal(cerr)
			}
			if err != nil {
				t.Fatalf("reading: %v", err)
			}
			if !bytes.Equal(got, tc.content) || oinfo != want {
				t.Fatalf("Open gave %d bytes, %+v; want %d bytes, %+v", len(got), oinfo, len(tc.content), want)
			}
			if sinfo, err := s.Stat(ctx, info.Digest); err != nil || sinfo != want {
				t.Fatalf("Stat = %+v, %v; want %+v", sinfo, err, want)
			}
		})
	}
}

func testPutOfKnownContentHasTheSHA256Digest(t *testing.T, open func(t *testing.T) storeUnderTest) {
	s := open(t)
	info, err := s.Put(context.Background(), strings.NewReader("abc"))
	if err != nil {
		t.Fatal(err)
	}
	const want = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if info.Digest != want || info.Size != 3 {
		t.Fatalf("Put = %+v, want %s size 3", info, want)
	}
}

func testPutOfTheSameContentTwiceKeepsOneCopy(t *testing.T, open func(t *testing.T) storeUnderTest) {
	s := open(t)
	ctx := context.Background()
	first, err := s.Put(ctx, strings.NewReader("same"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.Put(ctx, strings.NewReader("same"))
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Fatalf("second Put = %+v, first %+v", second, first)
	}
	if got, want := s.stored(t), []string{s.location(first.Digest)}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stored = %v, want %v", got, want)
	}
	checkNoTemps(t, s)
}

func testOpenOfDamagedContentFailsAtEOFWithErrCorrupt(t *testing.T, open func(t *testing.T) storeUnderTest) {
	ctx := context.Background()
	content := bytes.Repeat([]byte("artifact "), 10_000)
	for _, tc := range []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"one byte flipped", func(b []byte) []byte { b[len(b)/2] ^= 1; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }},
		{"emptied", func([]byte) []byte { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			info, err := s.Put(ctx, bytes.NewReader(content))
			if err != nil {
				t.Fatal(err)
			}
			s.overwrite(t, info.Digest, tc.damage(bytes.Clone(content)))
			rc, _, err := s.Open(ctx, info.Digest)
			if err != nil {
				t.Fatalf("Open: %v (the damage shows only when reading)", err)
			}
			defer rc.Close()
			_, err = io.ReadAll(rc)
			if !errors.Is(err, artifact.ErrCorrupt) {
				t.Fatalf("reading to the end: err = %v, want ErrCorrupt", err)
			}
			if _, err := rc.Read(make([]byte, 1)); !errors.Is(err, artifact.ErrCorrupt) {
				t.Fatalf("Read after the end: err = %v, want ErrCorrupt again", err)
			}

			// Putting the content again repairs a copy of the wrong size
			// (a same-size copy is left alone: Put does not reread it).
			if _, err := s.Put(ctx, bytes.NewReader(content)); err != nil {
				t.Fatal(err)
			}
			if tc.name != "one byte flipped" {
				if got, err := readAll(t, s, info.Digest); err != nil || !bytes.Equal(got, content) {
					t.Fatalf("after a second Put: %d bytes, %v", len(got), err)
				}
			}
		})
	}
}

func testInvalidDigestsAreRefused(t *testing.T, open func(t *testing.T) storeUnderTest) {
	s := open(t)
	ctx := context.Background()
	valid := digestOf([]byte("x"))
	for _, d := range []string{
		"",
		"sha256:",
		valid[7:],                              // no algorithm
		"sha512:" + valid[7:],                  // another algorithm
		"SHA256:" + valid[7:],                  // not canonical
		"sha256:" + strings.ToUpper(valid[7:]), // not canonical
		valid[:len(valid)-1],                   // too short
		valid + "0",                            // too long
		"sha256:../../../../../etc/passwd",
		"sha256:" + strings.Repeat("../", 21) + "a",
		"sha256:ab/" + valid[10:],
		"sha256:" + valid[7:70] + "\x00",
		"sha256:" + valid[7:70] + "g",
		" " + valid,
	} {
		t.Run(fmt.Sprintf("%q", d), func(t *testing.T) {
			if err := artifact.ValidateDigest(d); !errors.Is(err, artifact.ErrInvalidDigest) {
				t.Errorf("ValidateDigest: %v", err)
			}
			if _, _, err := s.Open(ctx, d); !errors.Is(err, artifact.ErrInvalidDigest) {
				t.Errorf("Open: %v", err)
			}
			if _, err := s.Stat(ctx, d); !errors.Is(err, artifact.ErrInvalidDigest) {
				t.Errorf("Stat: %v", err)
			}
			if err := s.Delete(ctx, d); !errors.Is(err, artifact.ErrInvalidDigest) {
				t.Errorf("Delete: %v", err)
			}
		})
	}
	if err := artifact.ValidateDigest(valid); err != nil {
		t.Errorf("ValidateDigest(%q) = %v, want nil", valid, err)
	}
}

func testAbsentContentIsNotFoundAndDeleteIsIdempotent(t *testing.T, open func(t *testing.T) storeUnderTest) {
	s := open(t)
	ctx := context.Background()
	info, err := s.Put(ctx, strings.NewReader("to delete"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := s.Delete(ctx, info.Digest); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if _, _, err := s.Open(ctx, info.Digest); !errors.Is(err, artifact.ErrNotFound) {
		t.Fatalf("Open after Delete: %v, want ErrNotFound", err)
	}
	if _, err := s.Stat(ctx, info.Digest); !errors.Is(err, artifact.ErrNotFound) {
		t.Fatalf("Stat after Delete: %v, want ErrNotFound", err)
	}
	if got := s.stored(t); len(got) != 0 {
		t.Fatalf("stored after Delete: %v", got)
	}
}

// failingReader returns some bytes and then an error, like a network
// stream cut in the middle.
type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("connection reset")
	}
	n := min(len(p), r.n)
	r.n -= n
	return n, nil
}

func testAFailedOrCancelledPutLeavesNothing(t *testing.T, open func(t *testing.T) storeUnderTest) {
	s := open(t)
	if _, err := s.Put(context.Background(), &failingReader{n: 1 << 20}); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("Put from a failing reader: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Put(ctx, strings.NewReader("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context: %v", err)
	}
	if got := s.stored(t); len(got) != 0 {
		t.Fatalf("stored: %v", got)
	}
	checkNoTemps(t, s)
}

func testACancelledContextStopsEveryOperation(t *testing.T, open func(t *testing.T) storeUnderTest) {
	s := open(t)
	info, err := s.Put(context.Background(), strings.NewReader("kept"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.Open(ctx, info.Digest); !errors.Is(err, context.Canceled) {
		t.Errorf("Open: %v, want context.Canceled", err)
	}
	if _, err := s.Stat(ctx, info.Digest); !errors.Is(err, context.Canceled) {
		t.Errorf("Stat: %v, want context.Canceled", err)
	}
	if err := s.Delete(ctx, info.Digest); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete: %v, want context.Canceled", err)
	}
	if got, err := readAll(t, s, info.Digest); err != nil || string(got) != "kept" {
		t.Errorf("after the cancelled calls: %q, %v", got, err)
	}
}

func testConcurrentPutsOfTheSameContentAllSucceed(t *testing.T, open func(t *testing.T) storeUnderTest) {
	s := open(t)
	ctx := context.Background()
	content := bytes.Repeat([]byte("concurrent "), 50_000)
	const n = 16
	var wg sync.WaitGroup
	infos := make([]artifact.Info, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			infos[i], errs[i] = s.Put(ctx, bytes.NewReader(content))
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || infos[i].Digest != digestOf(content) {
			t.Fatalf("Put #%d = %+v, %v", i, infos[i], errs[i])
		}
	}
	if got, want := s.stored(t), []string{s.location(digestOf(content))}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stored = %v, want %v", got, want)
	}
	checkNoTemps(t, s)
	if got, err := readAll(t, s, digestOf(content)); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("reading back: %d bytes, %v", len(got), err)
	}
}
