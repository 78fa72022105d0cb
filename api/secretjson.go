package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vaultd/vault/internal/jsonfast"
)

// A list of secrets (GET /v1/secrets) is one JSON array written one
// element per line:
//
//	[
//	{"ID":...},
//	{"ID":...}
//	]
//
// so that a server can stream it as it reads its store and a client can
// decode it element by element, while it stays one JSON array for any other
// client. The order is the server's (by id within each secret group); a
// server that fails part way cuts the connection, so a list never ends with
// "]" unless it is complete.

// AppendSecret appends s as encoding/json encodes it.
func AppendSecret(b []byte, s *Secret) []byte {
	b = append(b, `{"ID":`...)
	b = jsonfast.AppendString(b, s.ID)
	b = append(b, `,"Name":`...)
	b = jsonfast.AppendString(b, s.Name)
	b = append(b, `,"Labels":`...)
	if s.Labels == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '{')
		keys := make([]string, 0, len(s.Labels))
		for k := range s.Labels {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonfast.AppendString(b, k)
			b = append(b, ':')
			b = jsonfast.AppendString(b, s.Labels[k])
		}
		b = append(b, '}')
	}
	b = append(b, `,"CreatedAt":`...)
	b = appendTime(b, s.CreatedAt)
	b = append(b, `,"UpdatedAt":`...)
	b = appendTime(b, s.UpdatedAt)
	b = append(b, `,"Version":`...)
	b = strconv.AppendUint(b, uint64(s.Version), 10)
	b = append(b, `,"Size":`...)
	b = strconv.AppendInt(b, int64(s.Size), 10)
	b = append(b, `,"Versions":`...)
	if s.Versions == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, v := range s.Versions {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"Version":`...)
			b = strconv.AppendUint(b, uint64(v.Version), 10)
			b = append(b, `,"Size":`...)
			b = strconv.AppendInt(b, int64(v.Size), 10)
			b = append(b, `,"CreatedAt":`...)
			b = appendTime(b, v.CreatedAt)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if s.MaxVersions != 0 {
		b = append(b, `,"MaxVersions":`...)
		b = strconv.AppendInt(b, int64(s.MaxVersions), 10)
	}
	return append(b, '}')
}

func appendTime(b []byte, t time.Time) []byte {
	if y := t.Year(); y < 0 || y > 9999 {
		q, _ := json.Marshal(t) // refused: encoding/json says why
		return append(b, q...)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// DecodeSecret decodes one secret object into s, which must be the zero
// value: json.Unmarshal, with a fast path for what AppendSecret writes.
func DecodeSecret(b []byte, s *Secret) error {
	var sc jsonfast.Scanner
	sc.Reset(b)
	var out Secret
	if decodeSecretFast(&sc, &out); sc.End() {
		*s = out
		return nil
	}
	return json.Unmarshal(b, s)
}

func decodeSecretFast(s *jsonfast.Scanner, out *Secret) {
	var seen jsonfast.Keys
	s.Object(func(k []byte) {
		switch string(k) {
		case "ID":
			if seen.Once(s, 0) {
				out.ID = s.String()
			}
		case "Name":
			if seen.Once(s, 1) {
				out.Name = s.String()
			}
		case "Labels":
			if seen.Once(s, 2) {
				out.Labels = map[string]string{}
				s.Object(func(k []byte) {
					if _, dup := out.Labels[string(k)]; dup {
						s.Fail()
						return
					}
					out.Labels[string(k)] = s.String()
				})
			}
		case "CreatedAt":
			if seen.Once(s, 3) {
				scanTime(s, &out.CreatedAt)
			}
		case "UpdatedAt":
			if seen.Once(s, 4) {
				scanTime(s, &out.UpdatedAt)
			}
		case "Version":
			if seen.Once(s, 5) {
				out.Version = uint32(s.Uint(32))
			}
		case "Size":
			if seen.Once(s, 6) {
				out.Size = int(s.Int(strconv.IntSize))
			}
		case "Versions":
			if seen.Once(s, 7) {
				out.Versions = []SecretVersion{}
				s.Array(func() {
					var v SecretVersion
					var vs jsonfast.Keys
					s.Object(func(k []byte) {
						switch string(k) {
						case "Version":
							if vs.Once(s, 0) {
								v.Version = uint32(s.Uint(32))
							}
						case "Size":
							if vs.Once(s, 1) {
								v.Size = int(s.Int(strconv.IntSize))
							}
						case "CreatedAt":
							if vs.Once(s, 2) {
								scanTime(s, &v.CreatedAt)
							}
						default:
							s.Fail()
						}
					})
					out.Versions = append(out.Versions, v)
				})
			}
		case "MaxVersions":
			if seen.Once(s, 8) {
				out.MaxVersions = int(s.Int(strconv.IntSize))
			}
		default:
			s.Fail()
		}
	})
}

func scanTime(s *jsonfast.Scanner, t *time.Time) {
	q := s.Quoted()
	if !s.OK() {
		return
	}
	if t.UnmarshalJSON(q) != nil {
		s.Fail()
	}
}

// readSecretList reads a list of secrets as written above, calling f for
// each; any other JSON array is decoded whole.
func readSecretList(r io.Reader, f func(*Secret) error) error {
	return readList(r, DecodeSecret, f)
}

// readList reads a list written one element per line, as above, decoding
// each line with decode (into a zero T) and calling f for each; any other
// JSON array is decoded whole by encoding/json.
func readList[T any](r io.Reader, decode func([]byte, *T) error, f func(*T) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	first, err := br.Peek(2)
	if err != nil || string(first) != "[\n" {
		var all []T
		if err := json.NewDecoder(br).Decode(&all); err != nil {
			return err
		}
		for i := range all {
			if err := f(&all[i]); err != nil {
				return err
			}
		}
		return nil
	}
	_, _ = br.Discard(2)
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A secret with many versions or labels: a longer line.
			long := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil {
			return fmt.Errorf("list of secrets cut short: %w", unexpectedEOF(err))
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		if string(line) == "]" {
			return nil
		}
		line = bytes.TrimSuffix(line, []byte(","))
		var v T
		if err := decode(line, &v); err != nil {
			return err
		}
		if err := f(&v); err != nil {
			return err
		}
	}
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// SecretListWriter writes a list of secrets, one per line, as it goes.
type SecretListWriter struct {
	w   io.Writer
	buf []byte
	n   int
}

// NewSecretListWriter starts a list on w.
func NewSecretListWriter(w io.Writer) *SecretListWriter {
	return &SecretListWriter{w: w, buf: append(make([]byte, 0, 64<<10), "[\n"...)}
}

// Add appends s, writing out what is buffered once it is large.
func (lw *SecretListWriter) Add(s *Secret) error {
	if lw.n > 0 {
		lw.buf = append(lw.buf, ",\n"...)
	}
	lw.n++
	lw.buf = AppendSecret(lw.buf, s)
	if len(lw.buf) >= 60<<10 {
		return lw.Flush()
	}
	return nil
}

// Flush writes out what is buffered.
func (lw *SecretListWriter) Flush() error {
	_, err := lw.w.Write(lw.buf)
	lw.buf = lw.buf[:0]
	return err
}

// Close ends the list and writes it out.
func (lw *SecretListWriter) Close() error {
	if lw.n > 0 {
		lw.buf = append(lw.buf, '\n')
	}
	lw.buf = append(lw.buf, "]\n"...)
	return lw.Flush()
}

// bodyReader, as the out argument of Client.do, reads a successful
// answer's body itself.
type bodyReader func(io.Reader) error

// EachSecret lists every secret, calling f for each as the answer streams
// in (in the server's order), so that memory does not grow with the list.
// An error from f stops the list and is returned.
func (c *Client) EachSecret(ctx context.Context, f func(*Secret) error) error {
	return c.do(ctx, http.MethodGet, "/v1/secrets"+c.readQuery(), nil, bodyReader(func(r io.Reader) error {
		return readSecretList(r, f)
	}))
}

// sortSecrets returns l sorted by name, then id.
func sortSecrets(l []Secret) []Secret {
	// Sorting an index and moving each secret once costs less than the
	// sort's swaps of whole Secret values (about 150 bytes each).
	idx := make([]int32, len(l))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int {
		return compareNameID(l[a].Name, l[a].ID, l[b].Name, l[b].ID)
	})
	sorted := make([]Secret, len(l))
	for i, j := range idx {
		sorted[i] = l[j]
	}
	return sorted
}

func compareNameID(aName, aID, bName, bID string) int {
	if c := strings.Compare(aName, bName); c != 0 {
		return c
	}
	return strings.Compare(aID, bID)
}
