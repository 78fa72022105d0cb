package api

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"
)

// A GET over the local socket (the reads: secret inspect) is written and
// its answer read on the caller's goroutine, over a connection kept for
// the next one, instead of through net/http's Transport, which hands each
// request to a writer and a reader goroutine of its connection: three
// goroutines woken per read where one does, on a client that shares the
// daemon's cores. The request and answer are the same HTTP/1.1 bytes.

// getRequest is what ReadResponse is told the answer answers (a GET: a
// body follows unless the status says none).
var getRequest = &http.Request{Method: http.MethodGet}

// socketGet makes a GET of path (with no body) over the socket and decodes
// the answer as send does. A kept connection the daemon has closed since
// (its idle timeout, a restart) fails before any answer: the GET is then
// made once more on a new connection, as net/http's Transport does.
func (c *Client) socketGet(ctx context.Context, path string, out any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for {
		sc, reused, err := c.direct.get(ctx)
		if err != nil {
			return c.transportError(err)
		}
		retry, err := c.socketGetOn(ctx, sc, reused, path, out)
		if retry {
			continue
		}
		return err
	}
}

// socketGetOn makes the GET on sc, and keeps sc for the next one when the
// answer was read to its end. retry says the kept connection sc was found
// closed before any answer.
func (c *Client) socketGetOn(ctx context.Context, sc *directConn, reused bool, path string, out any) (retry bool, err error) {
	// The context's end breaks a write or read in progress by moving the
	// connection's deadline; the connection is not kept after that.
	stop := func() bool { return true }
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() { _ = sc.c.SetDeadline(time.Unix(1, 0)) })
	}
	resp, answered, err := sc.roundTrip(path)
	if err != nil {
		stopped := stop()
		sc.c.Close()
		if !stopped || ctx.Err() != nil {
			return false, ctx.Err()
		}
		if reused && !answered && retryOnNewConn(err) {
			return true, nil
		}
		return false, c.transportError(err)
	}
	body := &closeResult{ReadCloser: resp.Body}
	resp.Body = body
	err = c.answer(resp, http.MethodGet, path, out)
	stopped := stop()
	if !stopped || ctx.Err() != nil {
		sc.c.Close()
		if err != nil {
			return false, ctx.Err()
		}
		return false, nil
	}
	if resp.Close || !body.closed || body.err != nil {
		sc.c.Close()
	} else {
		c.direct.put(sc)
	}
	return false, err
}

// closeResult is an answer's body that remembers how its Close went
// (net/http reads a body to its end on Close).
type closeResult struct {
	io.ReadCloser
	closed bool
	err    error
}

func (b *closeResult) Close() error {
	b.err = b.ReadCloser.Close()
	b.closed = true
	return b.err
}

// roundTrip writes the request and reads the answer's head; answered
// says some of the answer arrived.
func (sc *directConn) roundTrip(path string) (resp *http.Response, answered bool, err error) {
	buf := make([]byte, 0, 64+len(path))
	buf = append(buf, "GET "...)
	buf = append(buf, path...)
	buf = append(buf, " HTTP/1.1\r\nHost: vault\r\nUser-Agent: Go-http-client/1.1\r\n\r\n"...)
	if _, werr := sc.c.Write(buf); werr != nil {
		// A peer may answer and close before it reads (not a vault
		// daemon): what it said decides.
		if _, err := sc.br.Peek(1); err != nil {
			return nil, false, werr
		}
	}
	if _, err := sc.br.Peek(1); err != nil {
		return nil, false, err
	}
	if resp := readFastHead(sc.br); resp != nil {
		return resp, true, nil
	}
	resp, err = http.ReadResponse(sc.br, getRequest)
	return resp, true, err
}

// retryOnNewConn reports whether err, on a kept connection before any
// answer, says the daemon closed it.
func retryOnNewConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		isConnReset(err)
}

func isConnReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// plainRequestURI reports whether path can be written into the request
// line as it is: an absolute path of printable ASCII without spaces (what
// the callers build with url.PathEscape and url.Values.Encode); anything
// else goes through net/http, which escapes it.
func plainRequestURI(path string) bool {
	if path == "" || path[0] != '/' {
		return false
	}
	for i := 0; i < len(path); i++ {
		if b := path[i]; b <= ' ' || b >= 0x7f || b == '#' {
			return false
		}
	}
	return true
}

// The answer head the daemon writes for a JSON answer of known length,
// read without net/http's general parser (which builds a header map per
// answer); any other head is left to http.ReadResponse.
var (
	fastStatus = []byte("HTTP/1.1 200 OK\r\n")
	fastCT     = []byte("Content-Type: application/json\r\n")
	fastCL     = []byte("Content-Length: ")
)

// readFastHead reads the head "HTTP/1.1 200 OK", "Content-Type:
// application/json", "Content-Length: N" (in either order) and nothing
// else, from br, and returns the answer with a body of N bytes; it reads
// nothing and returns nil for any other head, or one not yet buffered
// whole.
func readFastHead(br *bufio.Reader) *http.Response {
	// Only what is already buffered: a wait for more could outlast a
	// short answer.
	head, _ := br.Peek(min(br.Buffered(), 256))
	if len(head) < len(fastStatus) || string(head[:len(fastStatus)]) != string(fastStatus) {
		return nil
	}
	i := len(fastStatus)
	length, ct, cl := int64(-1), false, false
	for {
		rest := head[i:]
		switch {
		case len(rest) >= 2 && rest[0] == '\r' && rest[1] == '\n':
			if !ct || !cl {
				return nil
			}
			_, _ = br.Discard(i + 2)
			return &http.Response{
				Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header:        http.Header{"Content-Type": jsonContentType},
				ContentLength: length,
				Body:          &fixedBody{br: br, n: length},
			}
		case !ct && len(rest) >= len(fastCT) && string(rest[:len(fastCT)]) == string(fastCT):
			ct = true
			i += len(fastCT)
		case !cl && len(rest) >= len(fastCL) && string(rest[:len(fastCL)]) == string(fastCL):
			j := len(fastCL)
			var n int64
			for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' && j-len(fastCL) < 10 {
				n = n*10 + int64(rest[j]-'0')
				j++
			}
			if j == len(fastCL) || j+1 >= len(rest) || rest[j] != '\r' || rest[j+1] != '\n' {
				return nil
			}
			cl, length = true, n
			i += j + 2
		default:
			return nil // another header, or a head longer than maxHead
		}
	}
}

var jsonContentType = []string{"application/json"}

// fixedBody is an answer body of n bytes read from br; Close reads what
// is left of it, so that the connection can carry the next request.
type fixedBody struct {
	br     *bufio.Reader
	n      int64
	closed bool
}

func (b *fixedBody) Read(p []byte) (int, error) {
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	k, err := b.br.Read(p)
	b.n -= int64(k)
	if b.n == 0 {
		return k, io.EOF
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return k, err
}

func (b *fixedBody) Close() error {
	if b.closed {
		return nil
	}
	var err error
	if b.n > 0 {
		_, err = io.CopyN(io.Discard, b.br, b.n)
		b.n = 0
	}
	b.closed = true
	return err
}
