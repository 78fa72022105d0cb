package vault

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vaultd/vault/internal/metrics"
	"github.com/vaultd/vault/internal/statedir"
)

// The local socket's hot routes (secret create, update and inspect, the
// requests api.Client sends most) are read and answered by a small
// HTTP/1.1 loop of the connection's own, in front of net/http. Through
// net/http a secret write cost a request parse into header maps, a
// background read, the takeover that wipes net/http's buffers
// (wipeAfter), and a new net/http connection (goroutine, buffers, peer
// credentials) to hand the connection back: together about 6 % of a
// create's CPU on the managers (perf, docs/PERFORMANCE.md).
//
// The loop peeks at each request (MSG_PEEK), leaving it in the socket,
// and takes it only when it is one it serves exactly as net/http would:
// a complete head, HTTP/1.1, a plain path and a short list of headers, a
// Content-Length body within the limit. It then reads the request, up to
// its last byte and no further, into a buffer of the connection's own,
// which it wipes once the answer is written. Any other request (another
// route, curl's Expect, a chunked body, a head that arrived in pieces) is
// left unread in the socket, and the connection, the listener's own
// *net.UnixConn (exec needs it), is handed to net/http for the rest of its
// life (serveAgain). The handlers are the routes' own, behind the same
// phase gate and metrics; the answers' bytes are the ones net/http wrote:
// the writes' as wipeAfter's http.Response.Write, the inspect's as
// net/http's server. Two differences, both to the client's good: a
// request sent right behind a write (pipelined) is served on the same
// connection, where wipeAfter could only close it; and a request whose
// client hangs up is cancelled once it has run hotWatchAfter, where
// net/http watches every request from its start (watchClient).

// Patterns of the hot routes, as registered on the mux.
const (
	patternCreate  = "POST /v1/secrets"
	patternInspect = "GET /v1/secrets/{ref}"
	patternUpdate  = "POST /v1/secrets/{ref}/versions"
)

// hotRoutes are the handlers of the hot routes, as the mux has them
// inside wipeAfter.
type hotRoutes struct {
	create, update, inspect http.HandlerFunc
}

// hotPeekSize is how much of a request the loop looks at: a head longer
// than this goes to net/http.
const hotPeekSize = 4096

// hotKeepBuf bounds the read buffer a connection keeps between requests:
// one grown for a larger secret is dropped (wiped) after it.
const hotKeepBuf = 64 << 10

// hotListener is the listener net/http serves the local API on. Its
// Accept serves each connection with the hot loop and returns to net/http
// only what is not a *net.UnixConn.
type hotListener struct {
	g       *gate
	srv     *http.Server
	routes  hotRoutes
	serves  func() bool             // whether the node's phase lets the mux serve the hot routes
	metrics func() *metrics.Metrics // where requests are counted (nil: nowhere)

	closing atomic.Bool
	mu      sync.Mutex
	conns   map[*hotConn]struct{}
}

func newHotListener(srv *http.Server, g *gate, routes hotRoutes, serves func() bool, m func() *metrics.Metrics) *hotListener {
	l := &hotListener{g: g, srv: srv, routes: routes, serves: serves, metrics: m, conns: map[*hotConn]struct{}{}}
	g.hot = l
	return l
}

func (l *hotListener) Accept() (net.Conn, error) {
	for {
		c, err := l.g.Accept()
		if err != nil {
			return nil, err
		}
		uc, ok := c.(*net.UnixConn)
		if !ok {
			return c, nil
		}
		hc, err := l.newConn(uc)
		if err != nil {
			return c, nil
		}
		go hc.serve(localHeaderTimeout)
	}
}

// Close stops the accepts and ends the connections waiting for a request
// (net/http's Shutdown closes its idle ones; a request being served ends
// first, as on a connection wipeAfter took over).
func (l *hotListener) Close() error {
	l.closing.Store(true)
	err := l.g.Close()
	l.mu.Lock()
	for hc := range l.conns {
		if hc.idle.Load() {
			_ = hc.c.SetReadDeadline(past)
		}
	}
	l.mu.Unlock()
	return err
}

func (l *hotListener) Addr() net.Addr { return l.g.Addr() }

// countIn is where a request is counted, if anywhere.
func (l *hotListener) countIn() *metrics.Metrics {
	if l.metrics == nil {
		return nil
	}
	return l.metrics()
}

// past is a deadline that has passed, to end a blocked read.
var past = time.Unix(1, 0)

// hotConn is one connection served by the hot loop.
type hotConn struct {
	l      *hotListener
	c      *net.UnixConn
	rc     syscall.RawConn
	ctx    context.Context // as net/http's: server, local address, gate, peer credentials
	remote string
	idle   atomic.Bool

	buf    []byte // the request read, wiped after each
	answer []byte // the handler's answer body, wiped after each
	out    []byte // the answer written, wiped after each
	body   bytes.Reader
	header http.Header // the answer's, cleared after each

	watch       *time.Timer // watchClient's
	watchDone   chan struct{}
	watchCancel atomic.Pointer[context.CancelFunc]
}

func (l *hotListener) newConn(c *net.UnixConn) (*hotConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	ctx := context.WithValue(context.Background(), http.ServerContextKey, l.srv)
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, c.LocalAddr())
	ctx = context.WithValue(ctx, gateKey{}, l.g)
	ctx = socketConnContext(ctx, c)
	hc := &hotConn{l: l, c: c, rc: rc, ctx: ctx, header: http.Header{}}
	if ra := c.RemoteAddr(); ra != nil {
		hc.remote = ra.String()
	}
	l.mu.Lock()
	l.conns[hc] = struct{}{}
	l.mu.Unlock()
	return hc, nil
}

func (hc *hotConn) untrack() {
	hc.l.mu.Lock()
	delete(hc.l.conns, hc)
	hc.l.mu.Unlock()
}

// close closes the connection and gives its slot back.
func (hc *hotConn) close() {
	hc.untrack()
	hc.c.Close()
	hc.l.g.release()
}

// handover gives the connection, and its slot, to net/http, with the
// request it did not take still unread in the socket.
func (hc *hotConn) handover() {
	hc.untrack()
	if !serveAgain(hc.l.g, hc.l.srv, hc.c) { // it gave the slot back
		hc.c.Close()
	}
}

// serve reads and answers the connection's requests until it closes or is
// handed over. first is how long its first request may take to arrive: as
// net/http, the header timeout on a new connection; the idle timeout on one
// that already served a request (keepServing), as between any two.
func (hc *hotConn) serve(first time.Duration) {
	hc.buf = make([]byte, hotPeekSize)
	for wait := first; ; wait = localIdleTimeout {
		hc.idle.Store(true)
		if hc.l.closing.Load() {
			hc.close()
			return
		}
		if hc.c.SetReadDeadline(time.Now().Add(wait)) != nil {
			hc.close()
			return
		}
		k, err := hc.peek(hc.buf[:hotPeekSize])
		hc.idle.Store(false)
		if err != nil || k == 0 { // closed by the client, idle too long, or shut down
			hc.close()
			return
		}
		req, ok := parseHotRequest(hc.buf[:k])
		if !ok || !hc.l.serves() {
			statedir.Wipe(hc.buf[:k])
			hc.handover()
			return
		}
		if !hc.serveOne(&req, k) {
			hc.close()
			return
		}
	}
}

// peek waits for bytes to read and copies what has arrived into b,
// leaving it in the socket; 0 bytes is the end of the stream.
func (hc *hotConn) peek(b []byte) (int, error) {
	var k int
	var errno syscall.Errno
	err := hc.rc.Read(func(fd uintptr) bool {
		r, _, e := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
		for e == unix.EINTR {
			r, _, e = unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
		}
		if e == unix.EAGAIN {
			return false
		}
		k, errno = int(r), e
		return true
	})
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, errno
	}
	return k, nil
}

// serveOne reads the request the head of which parseHotRequest took
// (peeked bytes in hc.buf), serves it and writes the answer; false: the
// connection is to be closed.
func (hc *hotConn) serveOne(req *hotRequest, peeked int) bool {
	total := req.headLen + int(req.contentLength)
	used := max(total, peeked)
	defer func() {
		statedir.Wipe(hc.buf[:used])
		if cap(hc.buf) > hotKeepBuf {
			hc.buf = make([]byte, hotPeekSize)
		}
	}()
	if total > len(hc.buf) {
		statedir.Wipe(hc.buf[:peeked])
		used = total
		hc.buf = make([]byte, total)
	}
	if total > peeked {
		// The rest of the body is still on its way: net/http's
		// ReadTimeout counts from the request's first byte.
		_ = hc.c.SetReadDeadline(time.Now().Add(localReadTimeout))
	}
	if _, err := io.ReadFull(hc.c, hc.buf[:total]); err != nil {
		return false
	}
	start := time.Now()
	r, cancel, err := hc.request(req, hc.buf[req.headLen:total])
	if err != nil {
		return false
	}
	w := &hotResponse{header: hc.header, body: hc.answer[:0]}
	hc.watchClient(cancel)
	switch req.pattern {
	case patternCreate:
		hc.l.routes.create(w, r)
	case patternUpdate:
		hc.l.routes.update(w, r)
	case patternInspect:
		hc.l.routes.inspect(w, r)
	}
	hc.stopWatch()
	cancel()
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	if req.method == http.MethodPost {
		hc.out = appendWriteAnswer(hc.out[:0], status, w)
	} else {
		hc.out = appendServerAnswer(hc.out[:0], status, w)
	}
	statedir.Wipe(w.body)
	if hc.answer = w.body; cap(hc.answer) > hotKeepBuf {
		hc.answer = nil
	}
	clear(hc.header)
	_ = hc.c.SetWriteDeadline(time.Now().Add(localWriteTimeout))
	_, err = hc.c.Write(hc.out)
	statedir.Wipe(hc.out)
	if cap(hc.out) > hotKeepBuf {
		hc.out = nil
	}
	if m := hc.l.countIn(); m != nil {
		m.RequestDone(req.pattern, status, time.Since(start))
	}
	return err == nil
}

// request builds the *http.Request net/http would have for req, with
// body as its body.
func (hc *hotConn) request(req *hotRequest, body []byte) (*http.Request, context.CancelFunc, error) {
	u, err := parseRequestURI(req.target)
	if err != nil {
		return nil, nil, err
	}
	h := make(http.Header, 4)
	if req.userAgent != "" {
		h["User-Agent"] = []string{req.userAgent}
	}
	if req.contentType != "" {
		h["Content-Type"] = []string{req.contentType}
	}
	if req.accept != "" {
		h["Accept"] = []string{req.accept}
	}
	if req.acceptEncoding != "" {
		h["Accept-Encoding"] = []string{req.acceptEncoding}
	}
	if req.hasLength {
		h["Content-Length"] = []string{strconv.FormatInt(req.contentLength, 10)}
	}
	ctx, cancel := context.WithCancel(hc.ctx)
	r := (&http.Request{
		Method: req.method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, ContentLength: req.contentLength, Host: req.host,
		RemoteAddr: hc.remote, RequestURI: req.target, Pattern: req.pattern,
	}).WithContext(ctx)
	if req.method == http.MethodPost && req.contentLength > 0 {
		hc.body.Reset(body)
		r.Body = io.NopCloser(&hc.body)
	} else {
		r.Body = http.NoBody
	}
	if req.ref != "" {
		r.SetPathValue("ref", req.ref)
	}
	return r, cancel, nil
}

// hotWatchAfter is how long a request runs before the hot loop watches
// its client for hanging up.
const hotWatchAfter = 50 * time.Millisecond

// watchClient cancels a request whose client closes the connection while
// it runs, as net/http does (its background read): a client that gave up
// leaves no work behind, such as a read retried until requestTimeout.
// Unlike net/http it watches only a request still running after
// hotWatchAfter, which nearly none is: the watch costs a goroutine and
// the wake-ups of a second reader. The caller runs stopWatch once the
// handler returned. One timer serves every request of the connection.
func (hc *hotConn) watchClient(cancel context.CancelFunc) {
	hc.watchCancel.Store(&cancel)
	if hc.watch == nil {
		hc.watchDone = make(chan struct{}, 1)
		hc.watch = time.AfterFunc(hotWatchAfter, hc.watchHangUp)
		return
	}
	hc.watch.Reset(hotWatchAfter)
}

// watchHangUp waits for the client to hang up, or send more, or for
// stopWatch to end the wait.
func (hc *hotConn) watchHangUp() {
	defer func() { hc.watchDone <- struct{}{} }()
	var b [1]byte
	// A next request (pipelined) is data, not a hang-up: it stays in the
	// socket, and the watch ends.
	if k, err := hc.peek(b[:]); err == nil && k == 0 || err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		(*hc.watchCancel.Load())()
	}
}

// stopWatch ends watchClient's watch of the request.
func (hc *hotConn) stopWatch() {
	if hc.watch.Stop() {
		return
	}
	_ = hc.c.SetReadDeadline(past) // ends the peek
	<-hc.watchDone
}

// hotPhase says whether the node serves the hot routes as a running
// manager does: refuseByPhase would pass them to the mux.
func (n *Node) hotPhase() bool {
	if n.worker() != nil {
		return false
	}
	p := n.phase()
	return p != phaseLocked && p != phaseUninitialized
}

// hotResponse records a hot route's answer.
type hotResponse struct {
	header http.Header
	status int
	body   []byte
}

func (w *hotResponse) Header() http.Header { return w.header }

func (w *hotResponse) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *hotResponse) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.body = append(w.body, b...)
	return len(b), nil
}
