// Package artifact keeps build artifacts and other blobs, content-addressed
// by SHA-256, behind a small Store interface (filesystem now, S3 later).
package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
)

// Store keeps build artifacts, content-addressed by SHA-256. Implementations
// are safe for concurrent use.
type Store interface {
	// Put streams r into the store and returns its digest and size. Putting
	// content that is already stored is not an error.
	Put(ctx context.Context, r io.Reader) (Info, error)
	// Open returns the content with the given digest. Reading it to EOF
	// verifies the digest: a mismatch surfaces as an error wrapping
	// ErrCorrupt from Read at EOF, never as silently wrong bytes.
	Open(ctx context.Context, digest string) (io.ReadCloser, Info, error)
	// Stat returns the size of the content with the given digest.
	Stat(ctx context.Context, digest string) (Info, error)
	// Delete removes the content with the given digest. Deleting absent
	// content is not an error, so a retried or concurrent delete (a garbage
	// collector's) needs no special case, as with S3's DeleteObject.
	Delete(ctx context.Context, digest string) error
}

// Info describes stored content.
type Info struct {
	// Digest is "sha256:" followed by 64 lowercase hex digits.
	Digest string
	Size   int64
}

// Errors callers branch on; returned errors wrap them with the digest.
var (
	// ErrNotFound says no content with the digest is stored.
	ErrNotFound = errors.New("artifact not found")
	// ErrCorrupt says stored content does not match its digest.
	ErrCorrupt = errors.New("artifact content does not match its digest")
	// ErrInvalidDigest says a digest is not "sha256:" and 64 lowercase hex digits.
	ErrInvalidDigest = errors.New("invalid artifact digest")
)

const digestPrefix = "sha256:"

// ValidateDigest reports, with an error wrapping ErrInvalidDigest, whether
// digest is not of the form "sha256:<64 lowercase hex digits>". Only the
// canonical form is accepted, so one content has exactly one name (and one
// path or key) and nothing else can be smuggled into a path.
func ValidateDigest(digest string) error {
	_, err := digestHex(digest)
	return err
}

// digestHex returns the hex part of a valid digest.
func digestHex(digest string) (string, error) {
	h, ok := strings.CutPrefix(digest, digestPrefix)
	if !ok || len(h) != sha256.Size*2 {
		return "", fmt.Errorf("%w: %q", ErrInvalidDigest, digest)
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", fmt.Errorf("%w: %q", ErrInvalidDigest, digest)
		}
	}
	return h, nil
}

func formatDigest(h hash.Hash) string {
	return digestPrefix + hex.EncodeToString(h.Sum(nil))
}

// NewVerifyingReader returns a reader of rc that hashes what passes through
// it and, at EOF, returns an error wrapping ErrCorrupt instead of io.EOF if
// the content does not match digest (which must be valid). Every Store
// implementation wraps what it opens with it.
func NewVerifyingReader(rc io.ReadCloser, digest string) io.ReadCloser {
	return &verifyingReader{rc: rc, h: sha256.New(), digest: digest}
}

type verifyingReader struct {
	rc     io.ReadCloser
	h      hash.Hash
	digest string
	err    error // sticky: io.EOF or the corruption error
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.rc.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF {
		if got := formatDigest(v.h); got != v.digest {
			err = fmt.Errorf("%w: %s reads as %s", ErrCorrupt, v.digest, got)
		}
		v.err = err
	}
	return n, err
}

func (v *verifyingReader) Close() error { return v.rc.Close() }

// ctxReader stops a long copy once its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
