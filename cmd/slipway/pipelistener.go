package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// pipeListener is a listener in memory: only this process can dial it.
// The console calls the API through one, so the API can trust what the
// console says on it (the browser's address) and no one else can say it.
type pipeListener struct {
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept returns the server's end of the next dialled connection.
func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept and Dial.
func (l *pipeListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

// Addr names the listener.
func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// DialContext connects to the listener.
func (l *pipeListener) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, errors.New("the server is stopping")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Transport carries HTTP requests to the listener.
func (l *pipeListener) Transport() http.RoundTripper {
	return &http.Transport{DialContext: l.DialContext, MaxIdleConnsPerHost: 16, IdleConnTimeout: time.Minute}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "console" }
