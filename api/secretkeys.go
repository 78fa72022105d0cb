package api

import (
	"context"
	"io"
	"net/http"
	"slices"
	"sync"

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
//
// The keys are sorted while the list streams in: each run of keyRun keys,
// once full, is sorted on its own goroutine while the next one arrives,
// and the sorted runs are merged at the end. Sorting them all after the
// last byte was most of what the list took beyond the server's answer
// (24 of 158 ms for 85,000 keys).
func (c *Client) SecretKeys(ctx context.Context) ([]SecretKey, error) {
	var s sortedKeys
	err := c.EachSecretKey(ctx, func(k *SecretKey) error { s.add(*k); return nil })
	return s.sorted(), err
}

// sortedKeys collects keys in runs of keyRun, sorts each full run on its
// own goroutine while the next one fills, and merges the runs.
type sortedKeys struct {
	runs [][]SecretKey
	cur  []SecretKey
	wg   sync.WaitGroup
}

func (s *sortedKeys) add(k SecretKey) {
	if s.cur == nil {
		// The first run grows as keys come (a list may hold three); once
		// one has filled, the list is long and each run starts at its
		// full size.
		s.cur = make([]SecretKey, 0, min(keyRun, 64+len(s.runs)*keyRun))
	}
	if s.cur = append(s.cur, k); len(s.cur) == keyRun {
		s.full()
	}
}

func (s *sortedKeys) full() {
	run := s.cur
	s.runs, s.cur = append(s.runs, run), nil
	s.wg.Go(func() { slices.SortFunc(run, compareKeys) })
}

// sorted returns every key added, sorted (never nil).
func (s *sortedKeys) sorted() []SecretKey {
	if len(s.cur) > 0 {
		s.full()
	}
	s.wg.Wait()
	return mergeKeys(s.runs)
}

// keyRun is how many keys SecretKeys sorts at a time.
const keyRun = 8192

func compareKeys(a, b SecretKey) int { return compareNameID(a.Name, a.ID, b.Name, b.ID) }

// mergeKeys merges sorted runs into one sorted slice (never nil): each
// key is taken from the run whose next key is least, found with a binary
// heap of the runs by their next keys.
func mergeKeys(runs [][]SecretKey) []SecretKey {
	switch len(runs) {
	case 0:
		return []SecretKey{}
	case 1:
		return runs[0]
	}
	n := 0
	for _, r := range runs {
		n += len(r)
	}
	out := make([]SecretKey, 0, n)
	h := runs // a heap by each run's first key; runs are never empty
	less := func(i, j int) bool { return compareKeys(h[i][0], h[j][0]) < 0 }
	down := func(i int) {
		for {
			l := 2*i + 1
			if l >= len(h) {
				return
			}
			if r := l + 1; r < len(h) && less(r, l) {
				l = r
			}
			if !less(l, i) {
				return
			}
			h[i], h[l] = h[l], h[i]
			i = l
		}
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		down(i)
	}
	for len(h) > 0 {
		out = append(out, h[0][0])
		if h[0] = h[0][1:]; len(h[0]) == 0 {
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
		}
		down(0)
	}
	return out
}
