package build

import (
	"bytes"
	"io"
	"os"
	"sort"
	"sync"
)

// maskWriter replaces every secret value in what passes through it with
// "***". It holds back an incomplete line (up to a limit), so a secret
// written in two pieces is still caught.
type maskWriter struct {
	mu      sync.Mutex
	w       io.Writer
	secrets [][]byte // longest first, so a secret containing another is masked whole
	buf     []byte
}

const maskHoldLimit = 64 << 10

func newMaskWriter(w io.Writer, secrets []string) *maskWriter {
	m := &maskWriter{w: w}
	for _, s := range secrets {
		if s != "" {
			m.secrets = append(m.secrets, []byte(s))
		}
	}
	sort.Slice(m.secrets, func(i, j int) bool { return len(m.secrets[i]) > len(m.secrets[j]) })
	return m
}

func (m *maskWriter) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.secrets) == 0 {
		return m.w.Write(p)
	}
	m.buf = append(m.buf, p...)
	cut := bytes.LastIndexByte(m.buf, '\n') + 1
	if cut == 0 && len(m.buf) > maskHoldLimit {
		// A very long line: emit all but a tail that may hold the start of
		// a secret.
		cut = len(m.buf) - len(m.secrets[0]) + 1
	}
	if cut > 0 {
		if err := m.emit(m.buf[:cut]); err != nil {
			return 0, err
		}
		m.buf = append(m.buf[:0], m.buf[cut:]...)
	}
	return len(p), nil
}

// Flush writes out a held-back partial line.
func (m *maskWriter) Flush() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	err := m.emit(m.buf)
	m.buf = m.buf[:0]
	return err
}

func (m *maskWriter) emit(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	for _, s := range m.secrets {
		if bytes.Contains(b, s) {
			b = bytes.ReplaceAll(b, s, []byte("***"))
		}
	}
	_, err := m.w.Write(b)
	return err
}

// direct returns the file under the writer when nothing needs masking, so a
// command can write its output straight to it.
func (m *maskWriter) direct() (*os.File, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.w.(*os.File)
	return f, ok && len(m.secrets) == 0 && len(m.buf) == 0
}
