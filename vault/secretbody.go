package vault

import (
	"bufio"
	"bytes"
	"cmp"
	"io"
	"net/http"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/internal/statedir"
)

// readSecretData reads the body of a secret write: the data as it is
// (api's "Secret data"), into one buffer the caller wipes once the data is
// sealed. A body over MaxDataSize is refused without keeping it.
func readSecretData(r *http.Request) ([]byte, error) {
	if err := api.CheckDataType(r.Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	if r.ContentLength > MaxDataSize {
		return nil, errDataTooLarge(r.ContentLength)
	}
	data, err := readBody(io.LimitReader(r.Body, MaxDataSize+1), r.ContentLength)
	if err != nil {
		return nil, api.Errorf(api.CodeInvalid, "bad request body: %s", operatorMessage(err.Error()))
	}
	if len(data) > MaxDataSize {
		statedir.Wipe(data)
		return nil, errDataTooLarge(-1)
	}
	return data, nil
}

func errDataTooLarge(size int64) error {
	if size < 0 {
		return api.Errorf(api.CodeInvalid, "secret data is over the limit of %d bytes (500 KiB - 1)", MaxDataSize)
	}
	return api.Errorf(api.CodeInvalid, "secret data is %d bytes; the limit is %d bytes (500 KiB - 1)", size, MaxDataSize)
}

// wipeAfter serves a secret write with h, then clears net/http's read
// buffer of the connection, which held the request: its query (the name)
// and, for data that fits, its body (the plaintext). net/http offers no
// way to clear that buffer but to take the connection over, so wipeAfter
// hijacks it, writes h's answer itself and closes it, or, on the local
// socket, hands it back to the server (keepconn.go).
func wipeAfter(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec := &recordedResponse{header: http.Header{}}
		h(rec, r)
		// A write refused before its body was read (a bad query) leaves
		// the body unread: read it, to wipe it too and so that closing
		// the connection does not reset it under the answer.
		drained, err := io.Copy(io.Discard, io.LimitReader(r.Body, MaxDataSize+1))
		bodyRead := err == nil && drained <= MaxDataSize
		hj, ok := w.(http.Hijacker)
		if !ok {
			rec.replay(w)
			return
		}
		conn, rw, err := hj.Hijack()
		if err != nil {
			rec.replay(w)
			return
		}
		if n, ok := w.(statusNoter); ok {
			n.noteStatus(cmp.Or(rec.status, http.StatusOK))
		}
		// Kept only when the request ended where net/http's buffer ends
		// (the whole body read, nothing of a next request buffered) and
		// a slot of the local API is free for it (keepconn.go).
		var g *gate
		var srv *http.Server
		keep := bodyRead && !r.Close && r.ProtoMajor == 1 && rw.Reader.Buffered() == 0
		if keep {
			g, srv, keep = keepSlot(r)
		}
		wipeBuffered(rw.Reader)
		_ = conn.SetWriteDeadline(time.Now().Add(localWriteTimeout))
		resp := &http.Response{
			StatusCode: cmp.Or(rec.status, http.StatusOK), ProtoMajor: 1, ProtoMinor: 1, Header: rec.header,
			ContentLength: int64(rec.body.Len()), Body: io.NopCloser(&rec.body), Close: !keep,
		}
		written := resp.Write(rw) == nil && rw.Flush() == nil
		if keep && written && conn.SetDeadline(time.Time{}) == nil {
			if keepServing(g, srv, conn) {
				return
			} // keepServing gave the slot back
		} else if keep {
			g.release()
		}
		conn.Close()
	}
}

// wipeBuffered overwrites the whole buffer of br with zeros: the bytes it
// buffered, read or not. br is left empty.
func wipeBuffered(br *bufio.Reader) {
	br.Reset(zeros{})
	_, _ = br.Peek(br.Size()) // fills every byte of the buffer from zeros
	br.Reset(zeros{})
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// recordedResponse is an answer kept to be written once the connection
// is taken over.
type recordedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *recordedResponse) Header() http.Header { return w.header }

func (w *recordedResponse) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *recordedResponse) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

// replay writes the answer on w.
func (w *recordedResponse) replay(to http.ResponseWriter) {
	for k, v := range w.header {
		to.Header()[k] = v
	}
	to.WriteHeader(cmp.Or(w.status, http.StatusOK))
	_, _ = to.Write(w.body.Bytes())
}
