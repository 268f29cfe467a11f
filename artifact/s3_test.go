package artifact_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/slipway/slipway/artifact"
)

// versityGW is a versitygw S3 server that a test started on a free port,
// with a posix backend in a temp directory, and a plain S3 client to look
// behind the store with.
type versityGW struct {
	endpoint       string
	access, secret string
	client         *s3.Client
}

// versityGWPath finds the versitygw binary on PATH or where go install puts it.
func versityGWPath() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return ""
	}
	for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
		p := filepath.Join(dir, "bin", "versitygw")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// startVersityGW starts a server that the test's cleanup kills. It skips the
// test if versitygw is not installed, unless SLIPWAY_REQUIRE_S3 is set.
func startVersityGW(t testing.TB) *versityGW {
	t.Helper()
	bin := versityGWPath()
	if bin == "" {
		const install = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"
		if os.Getenv("SLIPWAY_REQUIRE_S3") != "" {
			t.Fatal("SLIPWAY_REQUIRE_S3 is set but versitygw is not on PATH or in $(go env GOPATH)/bin: " + install)
		}
		t.Skip("versitygw not found on PATH or in $(go env GOPATH)/bin; to run the S3 store tests: " + install)
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	gw := &versityGW{endpoint: "http://" + addr, access: "slipwaytest", secret: "test-secret-" + rand.Text()}
	logPath := filepath.Join(dir, "versitygw.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--port", addr, "--quiet", "posix", data)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+gw.access, "ROOT_SECRET_KEY="+gw.secret)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		logf.Close()
	})
	gw.client = s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(gw.endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(gw.access, gw.secret, ""),
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := gw.client.ListBuckets(ctx, &s3.ListBucketsInput{})
		cancel()
		if err == nil {
			return gw
		}
		select {
		case <-exited:
			out, _ := os.ReadFile(logPath)
			t.Fatalf("versitygw exited: %s", out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not answer within 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// newBucket creates an empty bucket with a fresh name.
func (gw *versityGW) newBucket(t testing.TB) string {
	t.Helper()
	name := "slipway-" + strings.ToLower(rand.Text())
	if _, err := gw.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return name
}

// config is the configuration of a store in bucket on this server.
func (gw *versityGW) config(bucket, prefix string) artifact.S3Config {
	return artifact.S3Config{
		Endpoint: gw.endpoint, Region: "us-east-1", Bucket: bucket, Prefix: prefix, PathStyle: true,
		AccessKeyID: gw.access, SecretAccessKey: gw.secret,
	}
}

func newS3(t testing.TB, cfg artifact.S3Config) *artifact.S3 {
	t.Helper()
	s, err := artifact.NewS3(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// keys lists the keys under prefix.
func (gw *versityGW) keys(t testing.TB, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(gw.client, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list objects: %v", err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// uploads lists the unfinished multipart uploads under prefix, by key.
func (gw *versityGW) uploads(t testing.TB, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListMultipartUploadsPaginator(gw.client, &s3.ListMultipartUploadsInput{Bucket: &bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list multipart uploads: %v", err)
		}
		for _, u := range page.Uploads {
			keys = append(keys, "upload of "+aws.ToString(u.Key))
		}
	}
	return keys
}

// s3UnderTest is a store, with a prefix, in a fresh bucket, for the
// conformance suite.
func (gw *versityGW) s3UnderTest(t *testing.T) storeUnderTest {
	const prefix = "ci/artifacts"
	bucket := gw.newBucket(t)
	location := func(digest string) string { return prefix + "/sha256/" + digest[7:] }
	return storeUnderTest{
		Store:  newS3(t, gw.config(bucket, prefix)),
		stored: func(t *testing.T) []string { return gw.keys(t, bucket, prefix+"/sha256/") },
		temps: func(t *testing.T) []string {
			return append(gw.keys(t, bucket, prefix+"/tmp/"), gw.uploads(t, bucket, prefix+"/")...)
		},
		location: location,
		overwrite: func(t *testing.T, digest string, b []byte) {
			t.Helper()
			_, err := gw.client.PutObject(context.Background(), &s3.PutObjectInput{
				Bucket: &bucket, Key: aws.String(location(digest)), Body: bytes.NewReader(b),
			})
			if err != nil {
				t.Fatal(err)
			}
		},
	}
}

// TestS3_Store runs the Store conformance suite on the S3 store. Its
// damaged-content case writes corrupt bytes straight to the final key, and
// its concurrency case Puts the same content 16 times at once.
func TestS3_Store(t *testing.T) {
	gw := startVersityGW(t)
	testStore(t, gw.s3UnderTest)
}

// recorder is a reverse proxy in front of the server that notes which S3
// operations pass through it, and can stop one before it reaches the server.
type recorder struct {
	endpoint string
	mu       sync.Mutex
	ops      []string
}

// record starts a recorder in front of gw. If intercept is not nil and
// returns true for a request, the request goes no further.
func (gw *versityGW) record(t testing.TB, intercept func(op string, w http.ResponseWriter, r *http.Request) bool) *recorder {
	t.Helper()
	target, err := url.Parse(gw.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	// The proxy keeps the Host header, which the requests are signed with.
	proxy := httputil.NewSingleHostReverseProxy(target)
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := s3Operation(r)
		rec.mu.Lock()
		rec.ops = append(rec.ops, op)
		rec.mu.Unlock()
		if intercept != nil && intercept(op, w, r) {
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rec.endpoint = srv.URL
	return rec
}

// s3Operation names the S3 operation of a path-style request.
func s3Operation(r *http.Request) string {
	q := r.URL.Query()
	copied := r.Header.Get("X-Amz-Copy-Source") != ""
	switch {
	case r.Method == http.MethodPost && q.Has("uploads"):
		return "CreateMultipartUpload"
	case r.Method == http.MethodPost && q.Has("uploadId"):
		return "CompleteMultipartUpload"
	case r.Method == http.MethodPut && q.Has("partNumber") && copied:
		return "UploadPartCopy"
	case r.Method == http.MethodPut && q.Has("partNumber"):
		return "UploadPart"
	case r.Method == http.MethodPut && copied:
		return "CopyObject"
	case r.Method == http.MethodPut:
		return "PutObject"
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		return "AbortMultipartUpload"
	case r.Method == http.MethodDelete:
		return "DeleteObject"
	case r.Method == http.MethodHead:
		return "HeadObject"
	case r.Method == http.MethodGet && q.Has("uploads"):
		return "ListMultipartUploads"
	case r.Method == http.MethodGet && q.Has("list-type"):
		return "ListObjectsV2"
	default:
		return r.Method + " " + r.URL.Path
	}
}

// take returns how many times each operation passed since the last take.
func (rec *recorder) take() map[string]int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	counts := map[string]int{}
	for _, op := range rec.ops {
		counts[op]++
	}
	rec.ops = nil
	return counts
}

// randomBytes returns n bytes that neither compress nor repeat.
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	_, _ = mathrand.NewChaCha8(s).Read(b)
	return b
}

func TestS3_LargeArtifactsGoThroughMultipartUploadAndCopy(t *testing.T) {
	ctx := context.Background()
	gw := startVersityGW(t)
	content := randomBytes(21<<20, 1)
	for _, tc := range []struct {
		name         string
		copyPartSize int64
		wantCopies   map[string]int
	}{
		{"copied whole", 0, map[string]int{"CopyObject": 1}},
		// 21 MiB in parts of 5 MiB.
		{"copied in parts", 5 << 20, map[string]int{"CreateMultipartUpload": 1, "UploadPartCopy": 5, "CompleteMultipartUpload": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bucket := gw.newBucket(t)
			rec := gw.record(t, nil)
			cfg := gw.config(bucket, "big")
			cfg.Endpoint = rec.endpoint
			cfg.CopyPartSize = tc.copyPartSize
			s := newS3(t, cfg)

			info, err := s.Put(ctx, bytes.NewReader(content))
			if err != nil {
				t.Fatal(err)
			}
			if want := (artifact.Info{Digest: digestOf(content), Size: int64(len(content))}); info != want {
				t.Fatalf("Put = %+v, want %+v", info, want)
			}
			ops := rec.take()
			// The upload: 21 MiB in parts of 8 MiB.
			if ops["CreateMultipartUpload"] != 1+tc.wantCopies["CreateMultipartUpload"] ||
				ops["UploadPart"] != 3 || ops["CompleteMultipartUpload"] != 1+tc.wantCopies["CompleteMultipartUpload"] ||
				ops["PutObject"] != 0 {
				t.Errorf("operations = %v, want a multipart upload of 3 parts", ops)
			}
			if ops["CopyObject"] != tc.wantCopies["CopyObject"] || ops["UploadPartCopy"] != tc.wantCopies["UploadPartCopy"] {
				t.Errorf("operations = %v, want the copy done with %v", ops, tc.wantCopies)
			}
			if got, want := gw.keys(t, bucket, ""), []string{"big/sha256/" + info.Digest[7:]}; !slices.Equal(got, want) {
				t.Errorf("keys = %v, want %v", got, want)
			}
			if got := gw.uploads(t, bucket, ""); len(got) != 0 {
				t.Errorf("unfinished uploads: %v", got)
			}
			if got, err := readAll(t, s, info.Digest); err != nil || !bytes.Equal(got, content) {
				t.Fatalf("reading back: %d bytes, %v", len(got), err)
			}
			if sinfo, err := s.Stat(ctx, info.Digest); err != nil || sinfo != info {
				t.Fatalf("Stat = %+v, %v; want %+v", sinfo, err, info)
			}

			// Stored content is uploaded again (its digest is unknown until
			// the end) but not copied again.
			rec.take()
			if _, err := s.Put(ctx, bytes.NewReader(content)); err != nil {
				t.Fatal(err)
			}
			if ops := rec.take(); ops["CopyObject"]+ops["UploadPartCopy"] != 0 {
				t.Errorf("second Put: operations = %v, want no copy", ops)
			}
		})
	}
}

// cancelWhen cancels its context at its first Read once wait is closed, and
// returns a byte so that the store's next Read sees the cancellation.
type cancelWhen struct {
	wait   <-chan struct{}
	cancel context.CancelFunc
}

func (c cancelWhen) Read(p []byte) (int, error) {
	<-c.wait
	c.cancel()
	return copy(p, "x"), nil
}

func TestS3_ACancelledPutLeavesNoObject(t *testing.T) {
	gw := startVersityGW(t)
	for _, tc := range []struct {
		name string
		size int
		// cancelAt is the operation at whose arrival at the server the Put
		// is cancelled; "" cancels it once its content is read.
		cancelAt string
	}{
		{"while reading a small artifact", 1 << 20, ""},
		{"during a multipart upload", 20 << 20, "UploadPart"},
		{"after the upload, before the copy", 1 << 20, "CopyObject"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bucket := gw.newBucket(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			arrived := make(chan struct{})
			var once sync.Once
			if tc.cancelAt == "" {
				close(arrived)
			}
			rec := gw.record(t, func(op string, w http.ResponseWriter, r *http.Request) bool {
				if op != tc.cancelAt {
					return false
				}
				once.Do(func() { close(arrived) })
				if op != "CopyObject" {
					return false
				}
				// Keep the copy from the server: cancel, and answer
				// nothing once the client has given up.
				cancel()
				<-r.Context().Done()
				return true
			})
			cfg := gw.config(bucket, "p")
			cfg.Endpoint = rec.endpoint
			s := newS3(t, cfg)
			var r io.Reader = bytes.NewReader(randomBytes(tc.size, 2))
			if tc.cancelAt != "CopyObject" {
				r = io.MultiReader(r, cancelWhen{arrived, cancel})
			}
			if _, err := s.Put(ctx, r); !errors.Is(err, context.Canceled) {
				t.Fatalf("Put: %v, want context.Canceled", err)
			}
			if tc.cancelAt != "" {
				if ops := rec.take(); ops[tc.cancelAt] == 0 {
					t.Fatalf("operations = %v, want the Put cancelled at %s", ops, tc.cancelAt)
				}
			}
			// The Put removed its temporary object or aborted its upload
			// even though its context was cancelled.
			if got := append(gw.keys(t, bucket, ""), gw.uploads(t, bucket, "")...); len(got) != 0 {
				t.Fatalf("left behind: %v", got)
			}
			if n, err := s.CleanTemp(context.Background(), 0); err != nil || n != 0 {
				t.Fatalf("CleanTemp = %d, %v; want nothing to clean", n, err)
			}
		})
	}
}

// TestS3_CrashHelper is the process the S3 crash test kills in the middle
// of a multipart upload.
func TestS3_CrashHelper(t *testing.T) {
	cfgJSON := os.Getenv("ARTIFACT_S3_CRASH_CONFIG")
	if cfgJSON == "" {
		t.Skip("helper process for TestS3_ACrashDuringPutLeavesNoArtifact")
	}
	var cfg artifact.S3Config
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		t.Fatal(err)
	}
	// The secret is kept out of the JSON form of a configuration.
	cfg.SecretAccessKey = os.Getenv("ARTIFACT_S3_CRASH_SECRET")
	s := newS3(t, cfg)
	// 20 MiB arrive (two 8 MiB parts go up), then the stream stalls until
	// the process is killed.
	r := io.MultiReader(bytes.NewReader(randomBytes(20<<20, 3)), blockingReader{})
	_, _ = s.Put(context.Background(), r)
	t.Fatal("Put returned; it should have been killed")
}

func TestS3_ACrashDuringPutLeavesNoArtifact(t *testing.T) {
	ctx := context.Background()
	gw := startVersityGW(t)
	bucket := gw.newBucket(t)
	cfg := gw.config(bucket, "p")
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestS3_CrashHelper$")
	cmd.Env = append(os.Environ(), "ARTIFACT_S3_CRASH_CONFIG="+string(cfgJSON), "ARTIFACT_S3_CRASH_SECRET="+gw.secret)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until both parts are up, then kill -9.
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := gw.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &bucket})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Uploads) == 1 {
			u := out.Uploads[0]
			parts, err := gw.client.ListParts(ctx, &s3.ListPartsInput{Bucket: &bucket, Key: u.Key, UploadId: u.UploadId})
			if err != nil {
				t.Fatal(err)
			}
			if len(parts.Parts) == 2 {
				break
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatal("the helper never uploaded its two parts")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	s := newS3(t, cfg)
	if _, err := s.Stat(ctx, digestOf(randomBytes(20<<20, 3))); !errors.Is(err, artifact.ErrNotFound) {
		t.Fatalf("the partial content is visible: Stat = %v", err)
	}
	if got := gw.keys(t, bucket, ""); len(got) != 0 {
		t.Fatalf("objects after the crash: %v", got)
	}
	if n, err := s.CleanTemp(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("CleanTemp(1h) = %d, %v; want 0 (the leftover is fresh)", n, err)
	}
	if n, err := s.CleanTemp(ctx, 0); err != nil || n != 1 {
		t.Fatalf("CleanTemp(0) = %d, %v; want 1 (the upload)", n, err)
	}
	if got := gw.uploads(t, bucket, ""); len(got) != 0 {
		t.Fatalf("unfinished uploads left: %v", got)
	}
}

func TestS3_CleanTempRemovesOnlyOldLeftovers(t *testing.T) {
	ctx := context.Background()
	gw := startVersityGW(t)
	bucket := gw.newBucket(t)
	s := newS3(t, gw.config(bucket, "p"))
	info, err := s.Put(ctx, strings.NewReader("kept"))
	if err != nil {
		t.Fatal(err)
	}
	// What a crash leaves: a temporary object (between upload and copy),
	// an upload of a temporary object, an upload of a copy in parts. And,
	// outside the store's prefix, the same that are someone else's.
	for _, key := range []string{"p/tmp/LEFTOVER", "other/tmp/x"} {
		if _, err := gw.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	for _, key := range []string{"p/tmp/UPLOAD", "p/sha256/" + digestOf([]byte("big"))[7:], "other/tmp/y"} {
		if _, err := gw.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.CleanTemp(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("CleanTemp(1h) = %d, %v; want 0", n, err)
	}
	if n, err := s.CleanTemp(ctx, 0); err != nil || n != 3 {
		t.Fatalf("CleanTemp(0) = %d, %v; want 3", n, err)
	}
	if got, want := gw.keys(t, bucket, ""), []string{"other/tmp/x", "p/sha256/" + info.Digest[7:]}; !slices.Equal(got, want) {
		t.Fatalf("keys = %v, want %v", got, want)
	}
	if got, want := gw.uploads(t, bucket, ""), []string{"upload of other/tmp/y"}; !slices.Equal(got, want) {
		t.Fatalf("uploads = %v, want %v", got, want)
	}
}

func TestS3_ChecksumWhenRequiredSendsNoChecksums(t *testing.T) {
	ctx := context.Background()
	gw := startVersityGW(t)
	var mu sync.Mutex
	var sent []string
	rec := gw.record(t, func(op string, w http.ResponseWriter, r *http.Request) bool {
		for name := range r.Header {
			if n := strings.ToLower(name); strings.HasPrefix(n, "x-amz-checksum-") || n == "x-amz-sdk-checksum-algorithm" || n == "x-amz-trailer" {
				mu.Lock()
				sent = append(sent, op+" "+name)
				mu.Unlock()
			}
		}
		return false
	})
	cfg := gw.config(gw.newBucket(t), "p")
	cfg.Endpoint = rec.endpoint
	cfg.ChecksumWhenRequired = true
	s := newS3(t, cfg)
	// Small enough for one PutObject, and large enough for a multipart upload.
	for _, content := range [][]byte{[]byte("small"), randomBytes(17<<20, 6)} {
		info, err := s.Put(ctx, bytes.NewReader(content))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := readAll(t, s, info.Digest); err != nil || !bytes.Equal(got, content) {
			t.Fatalf("reading back: %d bytes, %v", len(got), err)
		}
	}
	if ops := rec.take(); ops["PutObject"] != 1 || ops["UploadPart"] != 3 {
		t.Errorf("operations = %v, want one PutObject and a multipart upload of 3 parts", ops)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sent) != 0 {
		t.Errorf("checksum headers sent: %v", sent)
	}
}

func TestS3_KeysFollowThePrefix(t *testing.T) {
	ctx := context.Background()
	gw := startVersityGW(t)
	for _, prefix := range []string{"", "a", "ci/v1.2/art_ifacts-x"} {
		t.Run(prefix, func(t *testing.T) {
			bucket := gw.newBucket(t)
			s := newS3(t, gw.config(bucket, prefix))
			info, err := s.Put(ctx, strings.NewReader("x"))
			if err != nil {
				t.Fatal(err)
			}
			want := "sha256/" + info.Digest[7:]
			if prefix != "" {
				want = prefix + "/" + want
			}
			if got := gw.keys(t, bucket, ""); !slices.Equal(got, []string{want}) {
				t.Fatalf("keys = %v, want [%s]", got, want)
			}
		})
	}
}

func TestS3_WrongCredentialsOrBucketGiveAClearError(t *testing.T) {
	ctx := context.Background()
	gw := startVersityGW(t)
	bucket := gw.newBucket(t)
	wrongSecret := "wrong-secret-" + rand.Text()
	for _, tc := range []struct {
		name    string
		edit    func(*artifact.S3Config)
		want    string
		secrets []string
		// A HEAD answer has no body to say what is wrong, and versitygw
		// answers an unknown key or bucket with a bare 404, which reads as
		// a missing artifact: only a 403 lets Stat tell.
		statTells bool
	}{
		{"wrong secret", func(c *artifact.S3Config) { c.SecretAccessKey = wrongSecret }, "check the store's credentials", []string{wrongSecret, gw.secret}, true},
		{"unknown access key", func(c *artifact.S3Config) { c.AccessKeyID = "NOSUCHKEY" }, "check the store's credentials", []string{gw.secret}, false},
		{"missing bucket", func(c *artifact.S3Config) { c.Bucket = "no-such-bucket" }, `bucket "no-such-bucket" does not exist`, []string{gw.secret}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := gw.config(bucket, "p")
			tc.edit(&cfg)
			s := newS3(t, cfg)
			digest := digestOf([]byte("x"))
			_, putErr := s.Put(ctx, strings.NewReader("x"))
			_, _, openErr := s.Open(ctx, digest)
			_, cleanErr := s.CleanTemp(ctx, time.Hour)
			errs := map[string]error{"Put": putErr, "Open": openErr, "CleanTemp": cleanErr, "Delete": s.Delete(ctx, digest)}
			if tc.statTells {
				_, errs["Stat"] = s.Stat(ctx, digest)
			}
			for op, err := range errs {
				if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, artifact.ErrNotFound) {
					t.Errorf("%s: %v; want an error saying %q", op, err, tc.want)
					continue
				}
				for _, secret := range tc.secrets {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("%s: the error shows a secret: %v", op, err)
					}
				}
			}
			t.Logf("Put: %v", putErr)
		})
	}
}

func TestParseS3URL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want artifact.S3Config
	}{
		{"s3://bucket", artifact.S3Config{Bucket: "bucket"}},
		{"s3://my.bucket-1/", artifact.S3Config{Bucket: "my.bucket-1"}},
		{"s3://bucket/ci/artifacts/", artifact.S3Config{Bucket: "bucket", Prefix: "ci/artifacts"}},
		{
			"s3://bucket/prefix?endpoint=http://127.0.0.1:7070&region=us-east-1&path-style=true",
			artifact.S3Config{Bucket: "bucket", Prefix: "prefix", Endpoint: "http://127.0.0.1:7070", Region: "us-east-1", PathStyle: true},
		},
		{
			"s3://bucket?endpoint=https%3A%2F%2Fs3.example.com%2Fbase&path-style=0&checksum=when-required",
			artifact.S3Config{Bucket: "bucket", Endpoint: "https://s3.example.com/base", ChecksumWhenRequired: true},
		},
		{"s3://bucket?region=eu-west-1&checksum=when-supported", artifact.S3Config{Bucket: "bucket", Region: "eu-west-1"}},
	} {
		t.Run(tc.url, func(t *testing.T) {
			got, err := artifact.ParseS3URL(tc.url)
			if err != nil || got != tc.want {
				t.Fatalf("ParseS3URL = %+v, %v; want %+v", got, err, tc.want)
			}
			// String gives back an equivalent URL.
			again, err := artifact.ParseS3URL(got.String())
			if err != nil || again != got {
				t.Fatalf("ParseS3URL(%q) = %+v, %v; want %+v", got.String(), again, err, got)
			}
		})
	}

	const secret = "s3cr3tPASSWORD"
	for _, tc := range []struct {
		url, want string
	}{
		{"", "want the form s3://bucket/prefix"},
		{"bucket/prefix", "want the form s3://bucket/prefix"},
		{"https://bucket/prefix", "want the form s3://bucket/prefix"},
		{"s3:bucket", "no bucket"},
		{"s3:///prefix", "no bucket"},
		{"s3://AKIA:" + secret + "@bucket/p", "credentials do not belong in the URL"},
		{"s3://bucket:7070/p", "the host part is the bucket name"},
		{"s3://bucket/p#frag", "unexpected #fragment"},
		{"s3://Bucket/p", `S3 bucket "Bucket": want lowercase letters`},
		{"s3://b_/p", `S3 bucket "b_"`},
		{"s3://ab/p", `S3 bucket "ab": want 3 to 63 characters`},
		{"s3://-bucket/p", `S3 bucket "-bucket"`},
		{"s3://bucket/a//b", `S3 prefix "a//b": empty`},
		{"s3://bucket/a/../b", `S3 prefix "a/../b"`},
		{"s3://bucket/a%20b", `S3 prefix "a b": want letters`},
		{"s3://bucket?region=a&region=b", "region given 2 times"},
		{"s3://bucket?pathstyle=true", `unknown parameter "pathstyle"`},
		{"s3://bucket?path-style=yes", `path-style="yes": want true or false`},
		{"s3://bucket?checksum=never", `checksum="never"`},
		{"s3://bucket?endpoint=127.0.0.1:7070", "S3 endpoint: want a URL like https://host:port"},
		{"s3://bucket?endpoint=ftp://host", "S3 endpoint: want a URL"},
		{"s3://bucket?endpoint=" + url.QueryEscape("http://AKIA:"+secret+"@host"), "S3 endpoint: want a URL"},
		{"s3://bucket?endpoint=" + url.QueryEscape("http://AKIA:"+secret+"@ho st"), "S3 endpoint: want a URL"},
		{"s3://AKIA:" + secret + "@bu cket/", "artifact store URL: "},
		{"s3://bucket?a=%zz", "artifact store URL: query"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			got, err := artifact.ParseS3URL(tc.url)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseS3URL = %+v, %v; want an error saying %q", got, err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("the error shows the secret: %v", err)
			}
		})
	}
}

func TestS3Config_NeverShowsTheSecret(t *testing.T) {
	const secret = "s3cr3tPASSWORD"
	cfg := artifact.S3Config{Bucket: "bucket", Prefix: "p", AccessKeyID: "AKIA", SecretAccessKey: secret}
	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%s", &cfg), string(j)} {
		if strings.Contains(s, secret) {
			t.Errorf("shows the secret: %s", s)
		}
	}
	if got, want := cfg.String(), "s3://bucket/p"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestNewS3_RefusesABadConfiguration(t *testing.T) {
	const secret = "s3cr3tPASSWORD"
	ok := artifact.S3Config{Endpoint: "http://127.0.0.1:1", Bucket: "bucket", AccessKeyID: "AKIA", SecretAccessKey: secret}
	for _, tc := range []struct {
		name string
		edit func(*artifact.S3Config)
		want string
	}{
		{"no bucket", func(c *artifact.S3Config) { c.Bucket = "" }, "S3 bucket"},
		{"prefix with a leading slash", func(c *artifact.S3Config) { c.Prefix = "/p" }, "S3 prefix"},
		{"secret without key", func(c *artifact.S3Config) { c.AccessKeyID = "" }, "give both the access key ID and the secret"},
		{"key without secret", func(c *artifact.S3Config) { c.SecretAccessKey = "" }, "give both the access key ID and the secret"},
		{"endpoint with credentials", func(c *artifact.S3Config) { c.Endpoint = "http://AKIA:" + secret + "@host" }, "S3 endpoint"},
		{"copy part too small", func(c *artifact.S3Config) { c.CopyPartSize = 1 << 20 }, "S3 copy part size"},
		{"copy part too large", func(c *artifact.S3Config) { c.CopyPartSize = 6 << 30 }, "S3 copy part size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			_, err := artifact.NewS3(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewS3: %v; want an error saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("the error shows the secret: %v", err)
			}
		})
	}
	if _, err := artifact.NewS3(context.Background(), ok); err != nil {
		t.Fatalf("NewS3 of a good configuration: %v", err)
	}
}

func BenchmarkS3Put10MB(b *testing.B) {
	gw := startVersityGW(b)
	s := newS3(b, gw.config(gw.newBucket(b), "bench"))
	content := randomBytes(10<<20, 4)
	b.SetBytes(int64(len(content)))
	var i uint64
	for b.Loop() {
		// New content each time, so that every Put copies.
		i++
		binary.LittleEndian.PutUint64(content, i)
		if _, err := s.Put(context.Background(), bytes.NewReader(content)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkS3Open10MB(b *testing.B) {
	gw := startVersityGW(b)
	s := newS3(b, gw.config(gw.newBucket(b), "bench"))
	content := randomBytes(10<<20, 5)
	info, err := s.Put(context.Background(), bytes.NewReader(content))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(info.Size)
	for b.Loop() {
		rc, _, err := s.Open(context.Background(), info.Digest)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil || n != info.Size {
			b.Fatalf("read %d bytes, %v", n, err)
		}
	}
}
