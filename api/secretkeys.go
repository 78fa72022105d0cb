package api

import (
	"context"
	"io"
	"net/http"
	"slices"

	"github.com/vaultd/vault/internal/jsonfast"
)

// A keys-only list of secrets (GET /v1/secrets?keys=true) is a list as
// above whose elements hold only each secret's id and name:
//
//	[
//	{"ID":"...","Name":"..."},
//	{"ID":"...","Name":"..."}
//	]
//
// what `secret ls -q` and a client that only needs names use. The server
// still opens every record (the name is sealed with it) and authorizes and
// audits the list as it does a whole one.

// SecretKey is a secret's id and name, as a keys-only list gives it.
type SecretKey struct {
	ID   string `json:"ID"`
	Name string `json:"Name"`
}

// AppendSecretKey appends a keys-only element as encoding/json encodes a
// SecretKey.
func AppendSecretKey(b []byte, id, name string) []byte {
	b = append(b, `{"ID":`...)
	b = jsonfast.AppendString(b, id)
	b = append(b, `,"Name":`...)
	b = jsonfast.AppendString(b, name)
	return append(b, '}')
}

// AddKey appends a keys-only element, writing out what is buffered once
// it is large.
func (lw *SecretListWriter) AddKey(id, name string) error {
	if lw.n > 0 {
		lw.buf = append(lw.buf, ",\n"...)
	}
	lw.n++
	lw.buf = AppendSecretKey(lw.buf, id, name)
	if len(lw.buf) >= 60<<10 {
		return lw.Flush()
	}
	return nil
}

// AddEncoded appends n elements already encoded (by AppendSecret or
// AppendSecretKey) and separated by ",\n", and writes them out.
func (lw *SecretListWriter) AddEncoded(elems []byte, n int) error {
	if n == 0 {
		return nil
	}
	if lw.n > 0 {
		lw.buf = append(lw.buf, ",\n"...)
	}
	lw.n += n
	if err := lw.Flush(); err != nil {
		return err
	}
	_, err := lw.w.Write(elems)
	return err
}

// DecodeSecretKey decodes one element of a keys-only list into k, which
// must be the zero value. A server from before keys-only lists answers
// with whole secrets, so any secret object is taken too (its id and name).
func DecodeSecretKey(b []byte, k *SecretKey) error {
	var s jsonfast.Scanner
	s.Reset(b)
	var out SecretKey
	var seen jsonfast.Keys
	s.Object(func(key []byte) {
		switch string(key) {
		case "ID":
			if seen.Once(&s, 0) {
				out.ID = s.String()
			}
		case "Name":
			if seen.Once(&s, 1) {
				out.Name = s.String()
			}
		default:
			s.Fail()
		}
	})
	if s.End() {
		*k = out
		return nil
	}
	var whole Secret
	if err := DecodeSecret(b, &whole); err != nil {
		return err
	}
	*k = SecretKey{ID: whole.ID, Name: whole.Name}
	return nil
}

// EachSecretKey lists every secret's id and name, calling f for each as
// the answer streams in (in the server's order). An error from f stops the
// list and is returned.
func (c *Client) EachSecretKey(ctx context.Context, f func(*SecretKey) error) error {
	q := "?keys=true"
	if c.stale {
		q += "&stale=true"
	}
	return c.do(ctx, http.MethodGet, "/v1/secrets"+q, nil, bodyReader(func(r io.Reader) error {
		return readList(r, DecodeSecretKey, f)
	}))
}

// SecretKeys lists every secret's id and name, sorted by name (then id):
// what Secrets gives, without the rest of each secret.
func (c *Client) SecretKeys(ctx context.Context) ([]SecretKey, error) {
	r := []SecretKey{}
	err := c.EachSecretKey(ctx, func(k *SecretKey) error { r = append(r, *k); return nil })
	slices.SortFunc(r, func(a, b SecretKey) int { return compareNameID(a.Name, a.ID, b.Name, b.ID) })
	return r, err
}
