package api

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"sync"
)

// maxSecretAnswer bounds the answer of one secret's inspect (metadata
// only: names, labels, versions, grants).
const maxSecretAnswer = 8 << 20

// secretAnswerBufs are the buffers inspect answers are read into before
// decoding; an answer holds metadata only, never data.
var secretAnswerBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// readSecretAnswer reads one secret's answer whole and decodes it with
// DecodeSecret (the fast path for what the server's AppendSecret writes,
// encoding/json for anything else), instead of a json.Decoder's
// reflection over the stream: on a read-heavy client this was about half
// of its own CPU per inspect.
func (c *Client) readSecretAnswer(out *Secret) bodyReader {
	return func(r io.Reader) error {
		bp := secretAnswerBufs.Get().(*[]byte)
		b, err := readAllInto((*bp)[:0], io.LimitReader(r, maxSecretAnswer+1))
		if err == nil && len(b) > maxSecretAnswer {
			err = errAnswerTooLarge
		}
		if err == nil {
			err = DecodeSecret(b, out)
			if err != nil && c.socket != "" {
				err = c.notVault("its answer is not vault's JSON: " + err.Error())
			}
		}
		if cap(b) <= 64<<10 {
			*bp = b[:0]
			secretAnswerBufs.Put(bp)
		}
		return err
	}
}

var errAnswerTooLarge = &Error{Code: CodeInternal, Message: "the daemon's answer to a secret inspect is over 8 MiB"}

// readAllInto is io.ReadAll appending to b.
func readAllInto(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// Secret inspects one secret by name, id or unique id prefix.
func (c *Client) Secret(ctx context.Context, ref string) (*Secret, error) {
	var r Secret
	return &r, c.do(ctx, http.MethodGet, "/v1/secrets/"+url.PathEscape(ref)+c.readQuery(), nil, c.readSecretAnswer(&r))
}
