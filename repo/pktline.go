package repo

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Special pkt-line kinds passed to a pktSplitter's callback.
const (
	pktData  = iota
	pktFlush // 0000
	pktDelim // 0001 (protocol v2)
	pktEnd   // 0002 (protocol v2 response end)
)

const maxPktLen = 65520

// pktSplitter cuts a byte stream into pkt-lines as the stream goes by. It
// holds at most one packet, never the stream. It stops for good when fn
// returns false or the stream is not pkt-line framed.
type pktSplitter struct {
	fn func(kind int, payload []byte) bool

	hdr       [4]byte
	nhdr      int
	inPayload bool
	need      int
	buf       []byte
	stopped   bool
	err       error
}

func (p *pktSplitter) feed(b []byte) {
	for len(b) > 0 && !p.stopped {
		if !p.inPayload {
			n := copy(p.hdr[p.nhdr:], b)
			p.nhdr += n
			b = b[n:]
			if p.nhdr < 4 {
				return
			}
			p.nhdr = 0
			size, err := strconv.ParseUint(string(p.hdr[:]), 16, 32)
			switch {
			case err != nil:
				p.fail(fmt.Errorf("bad pkt-line length %q", p.hdr[:]))
			case size <= 2:
				p.emit(pktFlush+int(size), nil)
			case size == 3 || size > maxPktLen:
				p.fail(fmt.Errorf("bad pkt-line length %d", size))
			case size == 4:
				p.emit(pktData, nil)
			default:
				p.inPayload, p.need, p.buf = true, int(size)-4, p.buf[:0]
			}
			continue
		}
		n := min(p.need, len(b))
		p.buf = append(p.buf, b[:n]...)
		p.need -= n
		b = b[n:]
		if p.need == 0 {
			p.inPayload = false
			p.emit(pktData, p.buf)
		}
	}
}

func (p *pktSplitter) emit(kind int, payload []byte) {
	if !p.fn(kind, payload) {
		p.stopped = true
	}
}

func (p *pktSplitter) fail(err error) {
	p.err, p.stopped = err, true
}

// pktLine frames s as one pkt-line.
func pktLine(s string) string { return fmt.Sprintf("%04x%s", len(s)+4, s) }

// command is one ref update a client asked receive-pack for.
type command struct {
	Old, New, Ref string
}

func isZeroID(id string) bool { return strings.Trim(id, "0") == "" }

func isHexID(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// maxCommands bounds what one push may make us remember (git holds them all
// too); a push naming more refs is still served, but its events are not
// recorded and an error is logged.
const maxCommands = 100000

// pushWatch reads a receive-pack exchange as it streams through: the ref
// update commands at the head of the request (everything up to the first
// flush; the pack after it is passed on untouched) and, in the response,
// git's per-ref report ("ok REF" or "ng REF reason"), unwrapped from the
// side band when one was negotiated. The request and response are copied by
// different goroutines, hence the mutex.
type pushWatch struct {
	mu          sync.Mutex
	in          pktSplitter
	out         pktSplitter
	report      pktSplitter
	outStarted  bool
	sideBand    bool
	reportAsked bool

	cmds        []command
	commandsEnd bool   // the flush after the commands was seen
	unreadable  string // why the commands could not be read, if so
	status      map[string]bool
}

func newPushWatch() *pushWatch {
	w := &pushWatch{status: map[string]bool{}}
	w.in.fn = w.onCommand
	w.out.fn = w.onSideBand
	w.report.fn = w.onReport
	return w
}

// request wraps the request body so that the commands are read on the way
// to git's stdin.
func (w *pushWatch) request(r io.Reader) io.Reader { return &watchedReader{r: r, w: w} }

type watchedReader struct {
	r io.Reader
	w *pushWatch
}

func (r *watchedReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.w.mu.Lock()
		if !r.w.in.stopped {
			r.w.in.feed(p[:n])
			if r.w.in.err != nil && r.w.unreadable == "" {
				r.w.unreadable = r.w.in.err.Error()
			}
		}
		r.w.mu.Unlock()
	}
	return n, err
}

func (w *pushWatch) onCommand(kind int, payload []byte) bool {
	if kind == pktFlush {
		w.commandsEnd = true
		return false
	}
	if kind != pktData {
		w.unreadable = "unexpected special packet in the command list"
		return false
	}
	line := strings.TrimSuffix(string(payload), "\n")
	if i := strings.IndexByte(line, 0); i >= 0 {
		for c := range strings.FieldsSeq(line[i+1:]) {
			switch c {
			case "side-band", "side-band-64k":
				w.sideBand = true
			case "report-status", "report-status-v2":
				w.reportAsked = true
			}
		}
		line = line[:i]
	}
	if strings.HasPrefix(line, "shallow ") {
		return true
	}
	if strings.HasPrefix(line, "push-cert") {
		// Signed pushes are not advertised (no receive.certNonceSeed).
		w.unreadable = "signed push"
		return false
	}
	f := strings.SplitN(line, " ", 3)
	if len(f) != 3 || !isHexID(f[0]) || len(f[1]) != len(f[0]) || !isHexID(f[1]) || !strings.HasPrefix(f[2], "refs/") {
		w.unreadable = fmt.Sprintf("malformed command %.100q", line)
		return false
	}
	if len(w.cmds) >= maxCommands {
		w.unreadable = "too many commands"
		return false
	}
	w.cmds = append(w.cmds, command{Old: f[0], New: f[1], Ref: f[2]})
	return true
}

// response returns a writer to tee git's stdout into.
func (w *pushWatch) response() io.Writer { return watchedWriter{w} }

type watchedWriter struct{ w *pushWatch }

func (ww watchedWriter) Write(p []byte) (int, error) {
	w := ww.w
	w.mu.Lock()
	defer w.mu.Unlock()
	// receive-pack answers only after reading the whole request, so the
	// capabilities are known by the time its first byte arrives.
	w.outStarted = true
	if !w.reportAsked {
		return len(p), nil
	}
	if w.sideBand {
		w.out.feed(p)
	} else {
		w.report.feed(p)
	}
	return len(p), nil
}

func (w *pushWatch) onSideBand(kind int, payload []byte) bool {
	if kind == pktFlush {
		return false
	}
	if kind == pktData && len(payload) > 0 && payload[0] == 1 {
		w.report.feed(payload[1:])
	}
	return !w.report.stopped
}

func (w *pushWatch) onReport(kind int, payload []byte) bool {
	if kind != pktData {
		return false
	}
	line := strings.TrimSuffix(string(payload), "\n")
	verdict, rest, _ := strings.Cut(line, " ")
	ref, _, _ := strings.Cut(rest, " ")
	switch verdict {
	case "ok":
		w.status[ref] = true
	case "ng":
		w.status[ref] = false
	}
	return true
}

// result returns the commands and, for each ref git reported on, whether
// its update was applied; why says why the commands could not be read
// completely, if they could not.
func (w *pushWatch) result() (cmds []command, status map[string]bool, why string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	why = w.unreadable
	if why == "" && !w.commandsEnd {
		why = "request ended before the command list did"
	}
	return slices.Clone(w.cmds), maps.Clone(w.status), why
}
