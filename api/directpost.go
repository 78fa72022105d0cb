package api

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// A secret write over the local socket (CreateSecret, UpdateSecret) goes
// through directPost instead of net/http's Transport. The Transport hands
// each request to a writer goroutine and each answer back from a reader
// goroutine, and keeps a background read pending between requests: three
// goroutine wake-ups per call on top of the socket's own, each of which can
// wait for a CPU on a busy machine. directPost writes the request and reads
// the answer on the caller's goroutine, over a kept connection of its own
// pool. It also sends the secret's data from the caller's slice (one
// writev with the header) instead of copying it into a buffer it would not
// wipe.
//
// A connection is reused only after a non-blocking peek says the daemon has
// not closed it (after its idle timeout, or a restart), so a write is never
// sent on a connection known to be dead. A write is never sent twice: if
// the daemon closes the connection under a request, the request fails as it
// would through net/http.

// maxIdleDirect bounds the idle connections a client keeps for writes.
const maxIdleDirect = 16

// directIdle is how long a write's connection stays open unused. Every
// connection takes one of the local API's connection slots (128), and a
// client that also reads holds a second, net/http's: a client whose writes
// stopped gives its write connection back soon.
var directIdle = 5 * time.Second

// directPool holds one client's idle connections for secret writes.
type directPool struct {
	socket string
	mu     sync.Mutex
	idle   []*directConn
	timer  *time.Timer // closes connections idle for directIdle
}

type directConn struct {
	c         net.Conn
	br        *bufio.Reader
	idleSince time.Time
}

func newDirectPool(socket string) *directPool {
	if socket == "" {
		return nil
	}
	return &directPool{socket: socket}
}

// get returns a live idle connection, or a new one; reused tells which.
func (p *directPool) get(ctx context.Context) (dc *directConn, reused bool, err error) {
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		dc = p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if alive(dc.c) {
			return dc, true, nil
		}
		dc.c.Close()
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", p.socket)
	if err != nil {
		return nil, false, err
	}
	return &directConn{c: c, br: bufio.NewReaderSize(c, 4096)}, false, nil
}

func (p *directPool) put(dc *directConn) {
	dc.idleSince = time.Now()
	p.mu.Lock()
	if len(p.idle) < maxIdleDirect {
		p.idle = append(p.idle, dc)
		dc = nil
		if p.timer == nil {
			p.timer = time.AfterFunc(directIdle, p.closeIdle)
		} else {
			p.timer.Reset(directIdle)
		}
	}
	p.mu.Unlock()
	if dc != nil {
		dc.c.Close()
	}
}

// closeIdle closes the connections idle for directIdle or more, and waits
// for the others to be.
func (p *directPool) closeIdle() {
	p.mu.Lock()
	var old []*directConn
	kept := p.idle[:0]
	var next time.Duration
	for _, dc := range p.idle {
		if left := directIdle - time.Since(dc.idleSince); left > 0 {
			kept = append(kept, dc)
			if next == 0 || left < next {
				next = left
			}
			continue
		}
		old = append(old, dc)
	}
	clear(p.idle[len(kept):])
	p.idle = kept
	if next > 0 {
		p.timer.Reset(next)
	}
	p.mu.Unlock()
	for _, dc := range old {
		dc.c.Close()
	}
}

// alive peeks at c without blocking: a connection the daemon closed reads
// EOF, and one that holds unread bytes is out of step; either is dropped.
func alive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ok = false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
		return true
	})
	return err == nil && ok
}

// errDirectUnavailable sends a write the way every other request goes.
var errDirectUnavailable = errors.New("direct write unavailable")

// past is a deadline that has passed, to interrupt a blocked read or write.
var past = time.Unix(1, 0)

// directPost sends one POST of data as ContentTypeData to path (with its
// query) and decodes the JSON answer into out. It returns
// errDirectUnavailable, having sent nothing, when no connection to the
// socket could be made: the caller then sends through net/http, which
// words the reasons.
func (c *Client) directPost(ctx context.Context, path string, data []byte, out any) error {
	p := c.direct
	if p == nil {
		return errDirectUnavailable
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !plainRequestURI(path) {
		return errDirectUnavailable
	}
	dc, reused, err := p.get(ctx)
	if err != nil {
		return errDirectUnavailable
	}
	stop := context.AfterFunc(ctx, func() { _ = dc.c.SetDeadline(past) })
	keep, err := c.directExchange(dc, path, data, out, reused)
	if !stop() {
		dc.c.Close()
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		return err
	}
	if keep {
		p.put(dc)
	} else {
		dc.c.Close()
	}
	return err
}

// directExchange writes the request and reads its answer. keep says the
// connection may carry another request.
func (c *Client) directExchange(dc *directConn, path string, data []byte, out any, reused bool) (keep bool, err error) {
	hdr := make([]byte, 0, 160+len(path))
	hdr = append(hdr, "POST "...)
	hdr = append(hdr, path...)
	hdr = append(hdr, " HTTP/1.1\r\nHost: vault\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: "...)
	hdr = strconv.AppendInt(hdr, int64(len(data)), 10)
	hdr = append(hdr, "\r\nContent-Type: "+ContentTypeData+"\r\n\r\n"...)
	bufs := net.Buffers{hdr, data}
	if _, err := bufs.WriteTo(dc.c); err != nil {
		return false, err
	}
	resp, err := http.ReadResponse(dc.br, nil)
	if err != nil {
		if reused && errors.Is(err, io.EOF) {
			return false, errors.New("the daemon closed the connection before answering")
		}
		return false, err
	}
	// The answer is decoded as every other request's is; closing the body
	// reads it to its end, so the connection can carry the next request.
	body := &closeResult{ReadCloser: resp.Body}
	resp.Body = body
	err = c.answer(resp, http.MethodPost, path, out)
	keep = !resp.Close && body.closed && body.err == nil && dc.br.Buffered() == 0
	return keep, err
}

// postData sends a secret write: directly over the socket when it can,
// else through net/http.
func (c *Client) postData(ctx context.Context, path string, data []byte, out any) error {
	if err := c.directPost(ctx, path, data, out); !errors.Is(err, errDirectUnavailable) {
		return err
	}
	return c.send(ctx, http.MethodPost, path, ContentTypeData, bytes.NewReader(data), out)
}
