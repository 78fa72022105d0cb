package raftsm

import (
	"fmt"
	"strconv"

	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/internal/jsonfast"
)

// OpenRecordName opens secret id's sealed record as OpenRecord does (the
// same key, binding and integrity check, and the same check that the record
// is stored under its own id) and returns only its name: what a keys-only
// listing shows. It reads every field of the record as DecodeRecord does,
// and fails where DecodeRecord fails, but builds no labels' map and no
// versions' slice.
func OpenRecordName(ks crypto.KeySource, shard uint64, id string, sealed []byte) (string, error) {
	b, err := crypto.Open(ks, ValueBinding(shard, RecordObject(id)), sealed)
	if err != nil {
		return "", err
	}
	defer clear(b)
	gotID, name, err := decodeRecordKey(b)
	if err != nil {
		return "", fmt.Errorf("raftsm: decode record of secret %s: %v: %w", id, err, crypto.ErrMalformed)
	}
	if gotID != id {
		return "", fmt.Errorf("raftsm: record of secret %q is stored under id %q: %w", gotID, id, crypto.ErrMalformed)
	}
	return name, nil
}

// decodeRecordKey returns a record's id and name: a scan that checks the
// other fields as decodeRecordFast does without keeping them, or, for what
// that scan does not handle, DecodeRecord.
func decodeRecordKey(b []byte) (id, name string, err error) {
	var s jsonfast.Scanner
	s.Reset(b)
	var rawID []byte
	var seen jsonfast.Keys
	s.Object(func(k []byte) {
		switch string(k) {
		case "id":
			if seen.Once(&s, 0) {
				rawID = s.RawString()
			}
		case "name":
			if seen.Once(&s, 1) {
				name = s.String()
			}
		case "labels":
			if seen.Once(&s, 2) {
				// encoding/json keeps the last of repeated label keys and
				// refuses nothing more than this scan does.
				s.Object(func([]byte) { s.RawString() })
			}
		case "created":
			if seen.Once(&s, 3) {
				s.Int(64)
			}
		case "updated":
			if seen.Once(&s, 4) {
				s.Int(64)
			}
		case "max_versions":
			if seen.Once(&s, 6) {
				s.Int(strconv.IntSize)
			}
		case "versions":
			if seen.Once(&s, 5) {
				s.Array(func() {
					var vs jsonfast.Keys
					s.Object(func(k []byte) {
						switch string(k) {
						case "version":
							if vs.Once(&s, 0) {
								s.Uint(32)
							}
						case "size":
							if vs.Once(&s, 1) {
								s.Int(strconv.IntSize)
							}
						case "created":
							if vs.Once(&s, 2) {
								s.Int(64)
							}
						case "key":
							if vs.Once(&s, 3) {
								checkKeyField(&s)
							}
						default:
							s.Fail()
						}
					})
				})
			}
		default:
			s.Fail()
		}
	})
	if s.End() {
		return string(rawID), name, nil
	}
	var rec SecretRecord
	if err := DecodeRecord(b, &rec); err != nil {
		return "", "", err
	}
	return rec.ID, rec.Name, nil
}
