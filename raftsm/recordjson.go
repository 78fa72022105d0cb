package raftsm

import (
	"encoding/base64"
	"encoding/json"
	"strconv"

	"github.com/vaultd/vault/internal/jsonfast"
)

// DecodeRecord decodes an opened secret record into r, which must be the
// zero value. It is json.Unmarshal into r, with a fast path for the
// records the proposer writes (listing a million secrets opens a million
// records).
func DecodeRecord(b []byte, r *SecretRecord) error {
	var s jsonfast.Scanner
	s.Reset(b)
	var out SecretRecord
	if decodeRecordFast(&s, &out); s.End() {
		*r = out
		return nil
	}
	return json.Unmarshal(b, r)
}

func decodeRecordFast(s *jsonfast.Scanner, r *SecretRecord) {
	var seen jsonfast.Keys
	s.Object(func(k []byte) {
		switch string(k) {
		case "id":
			if seen.Once(s, 0) {
				r.ID = s.String()
			}
		case "name":
			if seen.Once(s, 1) {
				r.Name = s.String()
			}
		case "labels":
			if seen.Once(s, 2) {
				r.Labels = map[string]string{}
				s.Object(func(k []byte) {
					if _, dup := r.Labels[string(k)]; dup {
						s.Fail()
						return
					}
					r.Labels[string(k)] = s.String()
				})
			}
		case "created":
			if seen.Once(s, 3) {
				r.Created = s.Int(64)
			}
		case "updated":
			if seen.Once(s, 4) {
				r.Updated = s.Int(64)
			}
		case "max_versions":
			if seen.Once(s, 6) {
				r.MaxVersions = int(s.Int(strconv.IntSize))
			}
		case "versions":
			if seen.Once(s, 5) {
				r.Versions = []VersionInfo{}
				s.Array(func() {
					var v VersionInfo
					var vs jsonfast.Keys
					s.Object(func(k []byte) {
						switch string(k) {
						case "version":
							if vs.Once(s, 0) {
								v.Version = uint32(s.Uint(32))
							}
						case "size":
							if vs.Once(s, 1) {
								v.Size = int(s.Int(strconv.IntSize))
							}
						case "created":
							if vs.Once(s, 2) {
								v.Created = s.Int(64)
							}
						case "key":
							if vs.Once(s, 3) {
								v.Key = decodeKeyField(s)
							}
						default:
							s.Fail()
						}
					})
					r.Versions = append(r.Versions, v)
				})
			}
		default:
			s.Fail()
		}
	})
}

// decodeKeyField reads a data key (a base64 JSON string, as encoding/json
// writes a []byte) into a new slice.
func decodeKeyField(s *jsonfast.Scanner) []byte {
	raw := s.RawString()
	out := make([]byte, base64.StdEncoding.DecodedLen(len(raw)))
	n, err := base64.StdEncoding.Decode(out, raw)
	if err != nil {
		clear(out)
		s.Fail()
		return nil
	}
	return out[:n]
}

// checkKeyField reads a version's key field as decodeKeyField does, and
// fails where it fails, but keeps nothing: the key is decoded into a
// buffer on the stack (for a key of the usual size) and wiped.
func checkKeyField(s *jsonfast.Scanner) {
	raw := s.RawString()
	var buf [64]byte
	dst := buf[:]
	if n := base64.StdEncoding.DecodedLen(len(raw)); n > len(buf) {
		dst = make([]byte, n)
	}
	_, err := base64.StdEncoding.Decode(dst, raw)
	clear(dst)
	if err != nil {
		s.Fail()
	}
}
