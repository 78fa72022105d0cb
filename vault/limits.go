package vault

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits on the two HTTP servers. Every connection costs a goroutine and
// buffers; without these a client that opens connections and then sends
// nothing, or sends a body one byte at a time, holds them for as long as it
// likes. The manager API's clients are other managers (requests finish in
// well under a second, except a join or a compaction, which wait for Raft
// up to handlerTimeout) and joining nodes; the local socket's are the CLI and
// exec's mount handshake.
const (
	// handlerTimeout is how long handle lets a request work.
	handlerTimeout = 30 * time.Second

	peerHeaderTimeout = 5 * time.Second // also bounds the TLS handshake
	peerReadTimeout   = 10 * time.Second
	peerWriteTimeout  = handlerTimeout + 15*time.Second
	peerIdleTimeout   = 30 * time.Second
	// maxUnverifiedPeerConns caps manager API connections that have not
	// presented a verified cluster certificate: handshakes in progress and
	// join requests. Once a certificate verifies, its connection no longer
	// counts.
	maxUnverifiedPeerConns = 64
	// maxUnverifiedPerHost caps them per remote address, so that one
	// stranger cannot take every slot from managers connecting from
	// elsewhere: a connection over it is closed at once.
	maxUnverifiedPerHost = 16

	localHeaderTimeout = 10 * time.Second
	localReadTimeout   = 30 * time.Second
	// localWriteTimeout leaves room for a 30-second CPU profile, pprof's
	// default, which net/http/pprof refuses when WriteTimeout is shorter.
	localWriteTimeout = 2 * time.Minute
	localIdleTimeout  = 2 * time.Minute
	maxLocalConns     = 128
)

// limitListener admits at most a fixed number of connections at a time,
// and at most perHost from one remote address: Accept waits while the total
// is reached, and closes at once a connection over its host's share. A
// connection gives its slots back when closed, or earlier through release.
type limitListener struct {
	*gate
	perHost int

	mu     sync.Mutex
	byHost map[string]int
}

func newLimitListener(ln net.Listener, n, perHost int) *limitListener {
	return &limitListener{gate: newGate(ln, n), perHost: perHost, byHost: map[string]int{}}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.gate.Accept()
		if err != nil {
			return nil, err
		}
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		l.mu.Lock()
		over := l.byHost[host] >= l.perHost
		if !over {
			l.byHost[host]++
		}
		l.mu.Unlock()
		if over {
			c.Close()
			l.release()
			continue
		}
		return &limitedConn{Conn: c, release: sync.OnceFunc(func() {
			l.mu.Lock()
			if l.byHost[host]--; l.byHost[host] <= 0 {
				delete(l.byHost, host)
			}
			l.mu.Unlock()
			l.release()
		})}, nil
	}
}

type limitedConn struct {
	net.Conn
	release func()
}

func (c *limitedConn) Close() error {
	c.release()
	return c.Conn.Close()
}

// releaseVerified gives a manager API connection's slot back once its
// client certificate verified: other managers are then limited only by the
// server's timeouts, never by strangers filling the unverified slots. It is
// the server's ConnState hook.
func releaseVerified(c net.Conn, s http.ConnState) {
	if s != http.StateActive {
		return
	}
	tc, ok := c.(*tls.Conn)
	if !ok || len(tc.ConnectionState().VerifiedChains) == 0 {
		return
	}
	if lc, ok := tc.NetConn().(*limitedConn); ok {
		lc.release()
	}
}

// limitPeerServer sets the manager API server's timeouts. The TLS handshake
// is bounded by the shortest of them (net/http applies it to the handshake).
func limitPeerServer(srv *http.Server) {
	srv.ReadHeaderTimeout = peerHeaderTimeout
	srv.ReadTimeout = peerReadTimeout
	srv.WriteTimeout = peerWriteTimeout
	srv.IdleTimeout = peerIdleTimeout
	srv.ConnState = releaseVerified
}

// limitLocalServer caps the local API's connections and sets its
// timeouts; it returns the listener to serve. Its connections stay the
// listener's own (*net.UnixConn): exec hijacks one to receive a file
// descriptor over it. A slot is given back when the server closes a
// connection or hands it to a handler.
func limitLocalServer(srv *http.Server, ln net.Listener) net.Listener {
	srv.ReadHeaderTimeout = localHeaderTimeout
	srv.ReadTimeout = localReadTimeout
	srv.WriteTimeout = localWriteTimeout
	srv.IdleTimeout = localIdleTimeout
	g := newGate(ln, maxLocalConns)
	srv.BaseContext = withGate(g) // wipeAfter hands connections back (keepconn.go)
	srv.ConnState = func(_ net.Conn, s http.ConnState) {
		// net/http reports every connection it accepted as closed or
		// hijacked exactly once.
		if s == http.StateClosed || s == http.StateHijacked {
			g.release()
		}
	}
	return g
}

// gate is a listener whose Accept waits for one of a fixed number of slots;
// the caller gives each back with release.
type gate struct {
	net.Listener
	sem       chan struct{}
	closed    chan struct{}
	closeOnce sync.Once

	// hot is the hot loop in front of the server this gate admits to (nil:
	// none), which a connection kept after a write goes back to
	// (keepServing).
	hot *hotListener
}

func newGate(ln net.Listener, n int) *gate {
	return &gate{Listener: ln, sem: make(chan struct{}, n), closed: make(chan struct{})}
}

func (g *gate) Accept() (net.Conn, error) {
	select {
	case g.sem <- struct{}{}:
	case <-g.closed:
		return nil, net.ErrClosed
	}
	c, err := g.Listener.Accept()
	if err != nil {
		g.release()
	}
	return c, err
}

func (g *gate) release() { <-g.sem }

func (g *gate) Close() error {
	g.closeOnce.Do(func() { close(g.closed) })
	return g.Listener.Close()
}
