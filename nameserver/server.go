package nameserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Server answers DNS queries for the zones last given to Set, over UDP and
// TCP on one address. Set it up, call Set (before or while running) and
// Run; Listen first when the bound address is needed before Run, e.g. with
// port 0. A Server runs once.
type Server struct {
	// Addr is the host:port to listen on for both UDP and TCP, e.g.
	// "127.0.0.1:5353". With port 0 both use the same free port.
	Addr string
	// Alias resolves an ALIAS record's target (a load balancer's DNS name,
	// as written in the record) into addresses, at query time so that
	// answers follow the target. ok false means the target is unknown,
	// which is answered with SERVFAIL. Nil treats every target as unknown.
	// It is called on the server's goroutines and must be safe for that.
	Alias func(target string) (ips []netip.Addr, ok bool)
	// Log receives warnings (unknown alias targets, failed writes) and, at
	// debug level, one line per query. Nil discards them.
	Log *slog.Logger

	// zones is swapped whole by Set, so queries read it without locks and
	// see either the old or the new zones, never a mix.
	zones atomic.Pointer[zoneSet]

	mu  sync.Mutex // guards udp and tcp, which Listen sets and Run uses
	udp net.PacketConn
	tcp net.Listener
}

// zoneSet is the compiled form of the zones given to Set.
type zoneSet struct {
	byApex map[string]*zoneIndex // lower-case apex
}

// Set replaces the served zones; the next query sees them. If any zone is
// invalid (see Zone.Validate) or two zones have the same apex, Set returns
// the error and keeps serving the previous zones. Zones may nest (a zone
// for "example.internal." and one for "staging.example.internal."): the
// most specific zone answers for names under it.
func (s *Server) Set(zones []Zone) error {
	set := &zoneSet{byApex: make(map[string]*zoneIndex, len(zones))}
	for _, z := range zones {
		zi, err := compile(z)
		if err != nil {
			return err
		}
		if set.byApex[zi.apex] != nil {
			return fmt.Errorf("zone %s given twice", zi.apex)
		}
		set.byApex[zi.apex] = zi
	}
	s.zones.Store(set)
	return nil
}

// Listen binds the UDP and TCP sockets on Addr. Run calls it when it has
// not been called; calling it first makes BoundAddr usable before Run.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udp != nil {
		return nil
	}
	host, port, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return fmt.Errorf("nameserver: address %q: %w", s.Addr, err)
	}
	// With port 0 the kernel picks a UDP port that may be taken for TCP,
	// so try a few times to get one free for both.
	const attempts = 10
	for i := 0; ; i++ {
		udp, err := net.ListenPacket("udp", s.Addr)
		if err != nil {
			return fmt.Errorf("nameserver: listen udp: %w", err)
		}
		tcpAddr := s.Addr
		if port == "0" {
			tcpAddr = net.JoinHostPort(host, fmt.Sprint(udp.LocalAddr().(*net.UDPAddr).Port))
		}
		tcp, err := net.Listen("tcp", tcpAddr)
		if err == nil {
			s.udp, s.tcp = udp, tcp
			return nil
		}
		udp.Close()
		if port != "0" || i == attempts-1 {
			return fmt.Errorf("nameserver: listen tcp: %w", err)
		}
	}
}

// BoundAddr is the host:port the server listens on (the same for UDP and
// TCP), or "" before Listen or Run has bound it.
func (s *Server) BoundAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udp == nil {
		return ""
	}
	return s.udp.LocalAddr().String()
}

// Run serves UDP and TCP until ctx ends, then stops both, waits for the
// queries in progress and returns nil. It returns an error at once if the
// sockets cannot be bound, or if serving fails.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	udp, tcp := s.udp, s.tcp
	s.mu.Unlock()

	servers := []*dns.Server{
		// UDPSize is the read buffer for queries: room for large EDNS0
		// options, which the 512-byte default would cut off.
		{PacketConn: udp, Handler: s, UDPSize: dns.DefaultMsgSize},
		{Listener: tcp, Handler: s},
	}
	done := make(chan error, len(servers))
	for _, srv := range servers {
		go func() { done <- srv.ActivateAndServe() }()
	}

	var err error
	waiting := len(servers)
	select {
	case <-ctx.Done():
	case err = <-done: // one stopped by itself: stop the other too
		waiting--
	}
	// Closing the sockets stops even a server that has not marked itself
	// started yet, which Shutdown would refuse; Shutdown then unblocks the
	// reads of open TCP connections and waits for queries in progress.
	udp.Close()
	tcp.Close()
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		// It fails for a server stopped or not yet started: the closed
		// sockets stop those.
		_ = srv.ShutdownContext(stopCtx)
	}
	// Wait for every goroutine started above, so none outlives Run.
	for ; waiting > 0; waiting-- {
		if e := <-done; err == nil {
			err = e
		}
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("nameserver: %w", err)
	}
	return nil
}

// logger returns Log, or a logger that discards when Log is nil.
func (s *Server) logger() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}
