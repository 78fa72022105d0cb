package vault

import (
	"context"
	"net"
	"net/http"
	"sync"
)

// A secret write's connection is taken over to wipe net/http's read
// buffer (wipeAfter). Closing it after every write made each write of a
// keep-alive client open a new connection: about 60-70 µs per write on
// this 2-CPU machine (BenchmarkSecretWriteHTTP, docs/PERFORMANCE.md). A
// connection of the local API is instead handed back to its server once
// the answer is written, as a new connection: net/http reads the next
// request into a new buffer, and the wiped one is dropped.

// gateKey marks the local API's contexts with its connection gate
// (limitLocalServer's BaseContext).
type gateKey struct{}

func withGate(g *gate) func(net.Listener) context.Context {
	return func(net.Listener) context.Context { return context.WithValue(context.Background(), gateKey{}, g) }
}

// keepSlot takes a connection slot of the local API for a connection
// wipeAfter took over from r and will hand back. It fails on any other
// server (the manager API: that connection is closed as before) and when
// every slot is taken.
func keepSlot(r *http.Request) (*gate, *http.Server, bool) {
	g, _ := r.Context().Value(gateKey{}).(*gate)
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if g == nil || srv == nil {
		return nil, nil, false
	}
	select {
	case g.sem <- struct{}{}:
		return g, srv, true
	default:
		return nil, nil, false
	}
}

// keepServing serves conn, whose slot keepSlot took, again after a write
// net/http answered: with the hot loop where one is in front of srv, so
// that a connection net/http took (its first request was not one of the
// hot routes: a status, a listing) comes back to the loop at its first
// write instead of costing every later write a takeover and a new
// net/http connection; otherwise by srv (serveAgain). It returns false,
// with the slot given back, when neither serves any more.
func keepServing(g *gate, srv *http.Server, conn net.Conn) bool {
	if l := g.hot; l != nil && l.srv == srv && !l.closing.Load() {
		if uc, ok := conn.(*net.UnixConn); ok {
			if hc, err := l.newConn(uc); err == nil {
				go hc.serve(localIdleTimeout)
				return true
			}
		}
	}
	return serveAgain(g, srv, conn)
}

// serveAgain hands conn, whose slot keepSlot took, back to srv. It
// returns false, with the slot given back, when srv no longer serves;
// the caller then closes conn.
func serveAgain(g *gate, srv *http.Server, conn net.Conn) bool {
	l := &oneConn{conn: conn}
	_ = srv.Serve(l) // returns once the connection is handed over, or at once when srv is shut down
	if !l.accepted() {
		g.release()
		return false
	}
	return true
}

// oneConn is a listener that accepts one connection, then reports itself
// closed (which ends the Serve call that took it, not the connection).
type oneConn struct {
	mu    sync.Mutex
	conn  net.Conn
	taken bool
}

func (l *oneConn) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.taken {
		return nil, net.ErrClosed
	}
	l.taken = true
	return l.conn, nil
}

func (l *oneConn) accepted() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.taken
}

func (l *oneConn) Close() error   { return nil }
func (l *oneConn) Addr() net.Addr { return l.conn.LocalAddr() }
