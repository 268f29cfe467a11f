package artifact

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3 limits, from https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html.
const (
	s3MaxParts    = 10_000
	s3MinPartSize = 5 << 20
	s3MaxCopySize = 5 << 30 // largest CopyObject, and largest UploadPartCopy part
)

// Put uploads in parts of uploadPartSize once content reaches twice that
// (the transfer manager's defaults). The digest is unknown until the end,
// so the size is too, and the part size cannot grow to fit: maxS3PutSize
// follows from S3's 10,000 parts.
const uploadPartSize = 8 << 20

// maxS3PutSize is the largest artifact an S3 store accepts (about 78 GiB):
// 10,000 parts of 8 MiB. Put fails with a clear error beyond it.
const maxS3PutSize = s3MaxParts * uploadPartSize

// cleanupTimeout bounds the requests that tidy up after a failed or
// cancelled Put; they run on a fresh context because the caller's may be
// the reason the Put failed.
const cleanupTimeout = 30 * time.Second

// S3Config says where an S3 store keeps its objects and how it signs in.
// Its String form never shows the credentials.
type S3Config struct {
	// Endpoint is the base URL of an S3-compatible server, such as
	// "http://127.0.0.1:7070". Empty means AWS S3.
	Endpoint string
	// Region signs the requests. Empty means the SDK's default (AWS_REGION,
	// the shared config file), or "us-east-1" when Endpoint is set, which
	// S3-compatible servers accept.
	Region string
	// Bucket must exist; the store does not create it.
	Bucket string
	// Prefix, if set, is the "directory" the store's keys live under:
	// segments of letters, digits, '.', '_' and '-' separated by '/'.
	Prefix string
	// PathStyle puts the bucket in the URL path instead of the host name,
	// which most S3-compatible servers need (and any endpoint that is an IP
	// address).
	PathStyle bool
	// AccessKeyID and SecretAccessKey are static credentials. Leave both
	// empty to use the SDK's default chain: AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY, the shared credentials file, an IAM role.
	AccessKeyID     string
	SecretAccessKey string `json:"-"`
	// ChecksumWhenRequired sends and checks the SDK's CRC checksums only
	// where S3 requires them, for older S3-compatible servers that reject
	// the newer checksum headers. Content is still verified by its SHA-256.
	ChecksumWhenRequired bool
	// CopyPartSize is the largest object Put copies from its temporary key
	// with one CopyObject; larger ones are copied with UploadPartCopy in
	// parts of this size. Zero means 5 GiB, the most S3 copies in one
	// request. Between 5 MiB and 5 GiB.
	CopyPartSize int64
}

// String returns the configuration as the URL ParseS3URL accepts, without
// credentials, so that it can be logged.
func (c S3Config) String() string {
	q := url.Values{}
	if c.Endpoint != "" {
		// Userinfo in an endpoint is refused, but String may be called on
		// a configuration that has not been validated.
		if u, err := url.Parse(c.Endpoint); err == nil && u.User == nil {
			q.Set("endpoint", c.Endpoint)
		} else {
			q.Set("endpoint", "(invalid)")
		}
	}
	if c.Region != "" {
		q.Set("region", c.Region)
	}
	if c.PathStyle {
		q.Set("path-style", "true")
	}
	if c.ChecksumWhenRequired {
		q.Set("checksum", "when-required")
	}
	u := url.URL{Scheme: "s3", Host: c.Bucket, Path: "/" + c.Prefix, RawQuery: q.Encode()}
	return u.String()
}

// ParseS3URL parses an artifact store URL of the form
//
//	s3://bucket/prefix?endpoint=http://127.0.0.1:7070&region=us-east-1&path-style=true
//
// Every query parameter is optional: endpoint and region are S3Config's
// Endpoint and Region, path-style takes a boolean, and checksum takes
// "when-required" or "when-supported" (the default). Credentials are not
// accepted in the URL, which ends up in process listings and logs: they come
// from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or the
// SDK's other sources. Errors never repeat the URL.
func ParseS3URL(raw string) (S3Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the URL, which might hold a secret.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return S3Config{}, fmt.Errorf("artifact store URL: %w", err)
	}
	switch {
	case u.Scheme != "s3":
		return S3Config{}, errors.New(`artifact store URL: want the form s3://bucket/prefix?endpoint=...`)
	case u.User != nil:
		return S3Config{}, errors.New("artifact store URL: credentials do not belong in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	case u.Opaque != "" || u.Host == "":
		return S3Config{}, errors.New("artifact store URL: no bucket: want s3://bucket/prefix")
	case u.Port() != "":
		return S3Config{}, errors.New("artifact store URL: the host part is the bucket name; give the server as ?endpoint=http://host:port")
	case u.Fragment != "":
		return S3Config{}, errors.New("artifact store URL: unexpected #fragment")
	}
	c := S3Config{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/")}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return S3Config{}, fmt.Errorf("artifact store URL: query: %w", err)
	}
	for name, vals := range q {
		if len(vals) != 1 {
			return S3Config{}, fmt.Errorf("artifact store URL: %s given %d times", name, len(vals))
		}
		v := vals[0]
		switch name {
		case "endpoint":
			c.Endpoint = v
		case "region":
			c.Region = v
		case "path-style":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return S3Config{}, fmt.Errorf("artifact store URL: path-style=%q: want true or false", v)
			}
			c.PathStyle = b
		case "checksum":
			switch v {
			case "when-required":
				c.ChecksumWhenRequired = true
			case "when-supported":
			default:
				return S3Config{}, fmt.Errorf("artifact store URL: checksum=%q: want when-required or when-supported", v)
			}
		default:
			return S3Config{}, fmt.Errorf("artifact store URL: unknown parameter %q (known: endpoint, region, path-style, checksum)", name)
		}
	}
	if err := c.validate(); err != nil {
		return S3Config{}, fmt.Errorf("artifact store URL: %w", err)
	}
	return c, nil
}

// validate checks what can be checked without asking S3. Its errors
// name the field at fault but never show a credential.
func (c S3Config) validate() error {
	if err := validateBucket(c.Bucket); err != nil {
		return err
	}
	if err := validatePrefix(c.Prefix); err != nil {
		return err
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || u.User != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.RawQuery != "" || u.Fragment != "" {
			// The endpoint is not shown: a malformed one may hold userinfo.
			return errors.New("S3 endpoint: want a URL like https://host:port, without credentials, query or fragment")
		}
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		return errors.New("S3 credentials: give both the access key ID and the secret access key, or neither (to use AWS_ACCESS_KEY_ID etc.)")
	}
	if c.CopyPartSize != 0 && (c.CopyPartSize < s3MinPartSize || c.CopyPartSize > s3MaxCopySize) {
		return fmt.Errorf("S3 copy part size %d: want between %d (5 MiB) and %d (5 GiB)", c.CopyPartSize, s3MinPartSize, s3MaxCopySize)
	}
	return nil
}

// validateBucket applies S3's naming rules for new buckets, so a typo
// fails here rather than as a signature or DNS error.
func validateBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("S3 bucket %q: want 3 to 63 characters", b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && c != '.' && c != '-' || !alnum && (i == 0 || i == len(b)-1) {
			return fmt.Errorf("S3 bucket %q: want lowercase letters, digits, '.' and '-', starting and ending with a letter or digit", b)
		}
	}
	return nil
}

// validatePrefix keeps keys to characters that need no escaping anywhere
// (the x-amz-copy-source header included), and refuses empty and dot
// segments, which S3 would keep literally but a reader of the bucket
// would not expect.
func validatePrefix(p string) error {
	if p == "" {
		return nil
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("S3 prefix %q: empty, '.' or '..' segment", p)
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '.' && c != '_' && c != '-' {
				return fmt.Errorf("S3 prefix %q: want letters, digits, '.', '_' and '-' between slashes", p)
			}
		}
	}
	return nil
}

// S3 is a Store in an S3 bucket, on AWS or an S3-compatible server.
// Content lives at <prefix>/sha256/<hex>. Put streams to a temporary key
// <prefix>/tmp/<random> while hashing, copies it server-side to the final
// key and deletes it, so an object appears under its final key only whole
// and matching its digest, as a rename does for FS. A crash leaves only a
// temporary object or an unfinished multipart upload, which CleanTemp
// removes.
//
// Artifacts of 16 MiB and more go up as multipart uploads in 8 MiB parts, up
// to about 78 GiB (S3's 10,000 parts); such a Put holds about 64 MiB of
// buffers. The copy is one CopyObject up to 5 GiB (S3's limit) and
// UploadPartCopy in 5 GiB parts above that (see S3Config.CopyPartSize).
type S3 struct {
	client       *s3.Client
	uploader     *transfermanager.Client
	bucket       string
	prefix       string // "" or ending in "/"
	copyPartSize int64
}

var _ Store = (*S3)(nil)

// NewS3 returns a store in the bucket cfg names. It sends no request: a
// wrong bucket or credentials show in the first operation's error.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("artifact store: %w", err)
	}
	var opts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	} else if cfg.Endpoint != "" {
		opts = append(opts, config.WithDefaultRegion("us-east-1"))
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")))
	}
	if cfg.ChecksumWhenRequired {
		opts = append(opts,
			config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
			config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("artifact store: S3 configuration: %w", err)
	}
	if awsCfg.Region == "" {
		return nil, errors.New("artifact store: no S3 region: set region= in the store URL or AWS_REGION")
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		// Open verifies the SHA-256 of every read; without this the SDK
		// logs a warning for each object that has no stored CRC (all
		// multipart ones on some servers).
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	uploader := transfermanager.New(client, func(o *transfermanager.Options) {
		o.PartSizeBytes = uploadPartSize
		// Abort a failed multipart upload even when its context is what
		// failed (the default reuses it, so a cancelled Put would leave
		// its parts behind).
		o.FailTimeout = cleanupTimeout
		// The transfer manager overrides the client's setting with its
		// own default unless told; keep what was configured (including
		// AWS_REQUEST_CHECKSUM_CALCULATION).
		o.RequestChecksumCalculation = awsCfg.RequestChecksumCalculation
	})
	s := &S3{client: client, uploader: uploader, bucket: cfg.Bucket, copyPartSize: cfg.CopyPartSize}
	if s.copyPartSize == 0 {
		s.copyPartSize = s3MaxCopySize
	}
	if cfg.Prefix != "" {
		s.prefix = cfg.Prefix + "/"
	}
	return s, nil
}

func (s *S3) contentPrefix() string { return s.prefix + "sha256/" }
func (s *S3) tempPrefix() string    { return s.prefix + "tmp/" }

// key is only ever called with the hex part of a validated digest.
func (s *S3) key(hexDigest string) string { return s.contentPrefix() + hexDigest }

// copySource needs no escaping: bucket names and keys are limited to
// URL-safe characters (validateBucket, validatePrefix, rand.Text).
func (s *S3) copySource(key string) string { return s.bucket + "/" + key }

// Put implements Store. Content already stored under its digest with the
// same size costs the upload to the temporary key but no copy; an object of
// another size there is a damaged copy, and the copy replaces it.
//
// Cancelling ctx stops the upload and leaves no final object, unless the
// copy had already completed on the server, in which case the object there
// is whole and correct.
func (s *S3) Put(ctx context.Context, r io.Reader) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("artifact put: %w", err)
	}
	tmp := s.tempPrefix() + rand.Text()
	// Always delete the temporary key: a cancelled PutObject may have
	// completed on the server all the same. A failure to delete leaves a
	// temporary object for CleanTemp, not a wrong result, so it is not
	// reported.
	defer func() {
		ctx, cancel := cleanupContext(ctx)
		defer cancel()
		_, _ = s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &tmp})
	}()

	hr := &hashingReader{r: ctxReader{ctx, r}, h: sha256.New()}
	_, err := s.uploader.UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: &s.bucket, Key: &tmp, Body: hr})
	if err != nil {
		return Info{}, fmt.Errorf("artifact put: %w", s.explain(err))
	}
	hexDigest := hex.EncodeToString(hr.h.Sum(nil))
	info := Info{Digest: digestPrefix + hexDigest, Size: hr.n}
	final := s.key(hexDigest)

	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &final})
	switch {
	case err == nil && aws.ToInt64(head.ContentLength) == info.Size:
		return info, nil
	case err != nil && !isNotFound(err):
		return Info{}, fmt.Errorf("artifact put %s: %w", info.Digest, s.explain(err))
	}
	if info.Size <= s.copyPartSize {
		_, err = s.client.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket: &s.bucket, Key: &final, CopySource: aws.String(s.copySource(tmp)),
		})
	} else {
		err = s.copyInParts(ctx, tmp, final, info.Size)
	}
	if err != nil {
		return Info{}, fmt.Errorf("artifact put %s: copy to its final key: %w", info.Digest, s.explain(err))
	}
	return info, nil
}

// copyInParts copies an object too large for one CopyObject. The object
// appears at dst only when the upload completes; on failure the upload is
// aborted (CleanTemp aborts it if this process dies first).
func (s *S3) copyInParts(ctx context.Context, src, dst string, size int64) (err error) {
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &dst})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			ctx, cancel := cleanupContext(ctx)
			defer cancel()
			_, _ = s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: &s.bucket, Key: &dst, UploadId: up.UploadId,
			})
		}
	}()
	partSize := max(s.copyPartSize, (size+s3MaxParts-1)/s3MaxParts)
	var parts []types.CompletedPart
	for n, off := int32(1), int64(0); off < size; n, off = n+1, off+partSize {
		out, err := s.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
			Bucket: &s.bucket, Key: &dst, UploadId: up.UploadId, PartNumber: aws.Int32(n),
			CopySource:      aws.String(s.copySource(src)),
			CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", off, min(off+partSize, size)-1)),
		})
		if err != nil {
			return fmt.Errorf("part %d: %w", n, err)
		}
		if out.CopyPartResult == nil {
			return fmt.Errorf("part %d: no ETag in the UploadPartCopy response", n)
		}
		parts = append(parts, types.CompletedPart{ETag: out.CopyPartResult.ETag, PartNumber: aws.Int32(n)})
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &s.bucket, Key: &dst, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	return err
}

// Open implements Store. The object is read from S3 as the caller reads,
// so ctx must stay live until the reader is closed.
func (s *S3) Open(ctx context.Context, digest string) (io.ReadCloser, Info, error) {
	if err := ctx.Err(); err != nil {
		return nil, Info{}, fmt.Errorf("artifact open %s: %w", digest, err)
	}
	hexDigest, err := digestHex(digest)
	if err != nil {
		return nil, Info{}, fmt.Errorf("artifact open: %w", err)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.key(hexDigest))})
	if isNotFound(err) {
		return nil, Info{}, fmt.Errorf("artifact open %s: %w", digest, ErrNotFound)
	}
	if err != nil {
		return nil, Info{}, fmt.Errorf("artifact open %s: %w", digest, s.explain(err))
	}
	return NewVerifyingReader(out.Body, digest), Info{Digest: digest, Size: aws.ToInt64(out.ContentLength)}, nil
}

// Stat implements Store. It does not read the content, so it cannot tell
// whether the content is intact; Open does. S3 answers a HEAD request for a
// missing bucket as for a missing key (and versitygw for an unknown access
// key too), so such a mistake shows here as ErrNotFound; Open and Put name
// it.
func (s *S3) Stat(ctx context.Context, digest string) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("artifact stat %s: %w", digest, err)
	}
	hexDigest, err := digestHex(digest)
	if err != nil {
		return Info{}, fmt.Errorf("artifact stat: %w", err)
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(s.key(hexDigest))})
	if isNotFound(err) {
		return Info{}, fmt.Errorf("artifact stat %s: %w", digest, ErrNotFound)
	}
	if err != nil {
		return Info{}, fmt.Errorf("artifact stat %s: %w", digest, s.explain(err))
	}
	return Info{Digest: digest, Size: aws.ToInt64(out.ContentLength)}, nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, digest string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("artifact delete %s: %w", digest, err)
	}
	hexDigest, err := digestHex(digest)
	if err != nil {
		return fmt.Errorf("artifact delete: %w", err)
	}
	// S3 answers 204 for an absent key; some compatible servers say
	// NoSuchKey instead.
	_, err = s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: aws.String(s.key(hexDigest))})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("artifact delete %s: %w", digest, s.explain(err))
	}
	return nil
}

// CleanTemp deletes temporary objects, and aborts unfinished multipart
// uploads (of temporary objects, or of copies to final keys), that are
// older than olderThan, which a crash during Put leaves behind. It returns
// how many it removed. The age keeps it from removing the temporary object
// of a Put still running, in this process or another; ages are by the
// server's clock, so allow for skew. Run it from a periodic job. (A bucket
// lifecycle rule expiring <prefix>/tmp/ and aborting incomplete uploads
// does the same on AWS.)
func (s *S3) CleanTemp(ctx context.Context, olderThan time.Duration) (int, error) {
	cutoff := time.Now().Add(-olderThan)
	removed := 0
	objects := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: &s.bucket, Prefix: aws.String(s.tempPrefix()),
	})
	for objects.HasMorePages() {
		page, err := objects.NextPage(ctx)
		if err != nil {
			return removed, fmt.Errorf("artifact clean: %w", s.explain(err))
		}
		for _, o := range page.Contents {
			if o.LastModified == nil || !o.LastModified.Before(cutoff) {
				continue
			}
			_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: o.Key})
			if isNotFound(err) {
				continue // its Put finished meanwhile
			}
			if err != nil {
				return removed, fmt.Errorf("artifact clean: %w", s.explain(err))
			}
			removed++
		}
	}
	for _, prefix := range []string{s.tempPrefix(), s.contentPrefix()} {
		uploads := s3.NewListMultipartUploadsPaginator(s.client, &s3.ListMultipartUploadsInput{
			Bucket: &s.bucket, Prefix: aws.String(prefix),
		})
		for uploads.HasMorePages() {
			page, err := uploads.NextPage(ctx)
			if err != nil {
				return removed, fmt.Errorf("artifact clean: %w", s.explain(err))
			}
			for _, u := range page.Uploads {
				if u.Initiated == nil || !u.Initiated.Before(cutoff) {
					continue
				}
				_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
					Bucket: &s.bucket, Key: u.Key, UploadId: u.UploadId,
				})
				if isNoSuchUpload(err) {
					continue // completed or aborted meanwhile
				}
				if err != nil {
					return removed, fmt.Errorf("artifact clean: %w", s.explain(err))
				}
				removed++
			}
		}
	}
	return removed, nil
}

// explain adds what to check to errors caused by the configuration rather
// than by the artifact. The SDK's errors never contain the secret key.
func (s *S3) explain(err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.ErrorCode() {
	// XAdminUserNotFound is versitygw's answer to an unknown access key.
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "Forbidden",
		"ExpiredToken", "InvalidToken", "TokenRefreshRequired", "XAdminUserNotFound":
		return fmt.Errorf("S3 refused the request (%s): check the store's credentials (access key ID and secret) and their permissions on bucket %q: %w",
			ae.ErrorCode(), s.bucket, err)
	case "NoSuchBucket":
		return fmt.Errorf("S3 bucket %q does not exist (the store does not create it): %w", s.bucket, err)
	}
	return err
}

// isNotFound tells whether S3 said the key is absent: NoSuchKey from GET,
// NotFound (a bare 404) from HEAD.
func isNotFound(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound")
}

// isNoSuchUpload tells whether a multipart upload was already completed or
// aborted, by a concurrent CleanTemp or the Put it belongs to.
func isNoSuchUpload(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "NoSuchUpload"
}

func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

// hashingReader hashes and counts what Put uploads, and stops the upload
// past maxS3PutSize, where it would otherwise fail only after uploading
// 10,000 parts.
type hashingReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (hr *hashingReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	hr.h.Write(p[:n])
	hr.n += int64(n)
	if hr.n > maxS3PutSize {
		return n, fmt.Errorf("artifact larger than %d bytes, the most the S3 store takes", int64(maxS3PutSize))
	}
	return n, err
}
