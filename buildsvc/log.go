package buildsvc

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/slipway/slipway/store"
)

// Log chunks are written when this much is buffered or after flushEvery.
const (
	chunkSize  = 64 << 10
	flushEvery = 200 * time.Millisecond
)

// logWriter stores a build's log in the database in chunks, so that every
// server process can serve it while the build runs and afterwards. Bytes
// that are not UTF-8 (and NUL) are replaced, as PostgreSQL's text requires;
// offsets count the stored bytes.
type logWriter struct {
	db  *store.DB
	id  string
	log *slog.Logger

	mu     sync.Mutex
	buf    []byte
	seq    int64
	offset int64
	closed bool
	stop   chan struct{}
	done   chan struct{}
}

func newLogWriter(db *store.DB, id string, log *slog.Logger) *logWriter {
	w := &logWriter{db: db, id: id, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	_ = store.Scan(db.QueryRowContext(context.Background(),
		`SELECT COALESCE(MAX(seq), 0), COALESCE(MAX(start + size), 0) FROM build_logs WHERE build_id = ?`, id), &w.seq, &w.offset)
	go w.loop()
	return w
}

func (w *logWriter) loop() {
	defer close(w.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.mu.Lock()
			w.flush(false)
			w.mu.Unlock()
		}
	}
}

// Write buffers p, flushing full chunks.
func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, fmt.Errorf("build %s log: closed", w.id)
	}
	w.buf = append(w.buf, p...)
	if len(w.buf) >= chunkSize {
		w.flush(false)
	}
	return len(p), nil
}

// flush stores what is buffered; unless final it keeps back an incomplete
// UTF-8 sequence at the end for the next chunk. Called with mu held.
func (w *logWriter) flush(final bool) {
	n := len(w.buf)
	if !final {
		// Keep back at most 3 bytes of a rune cut in the middle.
		for i := 1; i <= 3 && i <= n; i++ {
			if utf8.RuneStart(w.buf[n-i]) {
				if !utf8.FullRune(w.buf[n-i:]) {
					n -= i
				}
				break
			}
		}
	}
	if n == 0 {
		return
	}
	data := strings.ToValidUTF8(string(w.buf[:n]), "\uFFFD")
	data = strings.ReplaceAll(data, "\x00", "\uFFFD")
	w.seq++
	_, err := w.db.ExecContext(context.Background(),
		`INSERT INTO build_logs (build_id, seq, start, size, data) VALUES (?, ?, ?, ?, ?)`,
		w.id, w.seq, w.offset, len(data), data)
	if err != nil {
		w.log.Error("write build log", "build", w.id, "err", err)
		w.seq--
		if len(w.buf) < 16*chunkSize {
			return // try again with the next flush
		}
	} else {
		w.offset += int64(len(data))
	}
	w.buf = append(w.buf[:0], w.buf[n:]...)
}

// Close flushes everything and stops the timer; it is safe to call twice.
func (w *logWriter) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.flush(true)
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	return nil
}
