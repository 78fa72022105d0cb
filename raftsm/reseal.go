package raftsm

import (
	"bytes"
	"encoding/binary"

	"github.com/cockroachdb/pebble"

	"github.com/vaultd/vault/crypto"
)

// QueryResealPage walks the group's secrets in id order after the id After
// and returns up to Limit secrets with a record or data version not sealed
// under Target (*ResealPage). With Count, it counts them instead. One query
// looks at no more than MaxResealScan secrets, so that a walk of a large
// group is many short reads: a full rotation walks each group once per
// pass, linear in secrets, where listing every candidate on every step
// was quadratic.
//
// With Full, each candidate also carries what re-sealing it needs: its
// sealed record and the sealed data versions not under Target, so a walk
// reads each page once instead of reading every secret again. A full page
// stops adding candidates past MaxResealPageBytes.
type QueryResealPage struct {
	Target uint32
	After  string
	Limit  int
	Count  bool
	Full   bool
}

// MaxResealPageBytes bounds the sealed bytes a Full page carries (it always
// carries at least one candidate).
const MaxResealPageBytes = 4 << 20

// ResealPage is one stretch of a walk for re-sealing. Next is the id to
// resume after; More reports whether the walk has secrets left after it.
type ResealPage struct {
	Candidates []ResealCandidate
	Count      int
	Next       string
	More       bool
}

// MaxResealScan bounds the secrets one QueryResealPage looks at.
const MaxResealScan = 16384

func (s *StateMachine) resealPage(key func(sub ...byte) []byte, q QueryResealPage) (*ResealPage, error) {
	objBase, dataBase := key(subObject), key(subData)
	lower, dataLower := objBase, dataBase
	if q.After != "" {
		lower = append(append(append([]byte(nil), objBase...), q.After...), 0)
		dataLower = append(append(append([]byte(nil), dataBase...), q.After...), 1) // after After's versions
	}
	p := &ResealPage{Next: q.After}
	err := s.store.with(func(db *pebble.DB) error {
		objIt := db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(objBase)})
		defer objIt.Close()
		dataIt := db.NewIter(&pebble.IterOptions{LowerBound: dataLower, UpperBound: prefixEnd(dataBase)})
		defer dataIt.Close()
		dataIt.First()
		scanned, size := 0, 0
		var prefix []byte
		for objIt.First(); objIt.Valid(); objIt.Next() {
			if scanned == MaxResealScan {
				p.More = true
				break
			}
			k, v := objIt.Key(), objIt.Value()
			id := k[len(objBase):]
			if len(v) < 8 {
				continue
			}
			scanned++
			stale := false
			if kv, err := crypto.EnvelopeKeyVersion(v[8:]); err != nil || kv != q.Target {
				stale = true
			}
			var c ResealCandidate
			if q.Full {
				if q.Limit > 0 && len(p.Candidates) == q.Limit || len(p.Candidates) > 0 && size >= MaxResealPageBytes {
					// Whether id is a candidate is left to the next page.
					p.More = true
					break
				}
			}
			// The data versions of id: dataBase + id + 0 + version. Both
			// walks go in id order, so the data walk only moves forward.
			prefix = append(append(append(prefix[:0], dataBase...), id...), 0)
			for dataIt.Valid() && bytes.Compare(dataIt.Key(), prefix) < 0 {
				dataIt.Next()
			}
			for ; dataIt.Valid() && bytes.HasPrefix(dataIt.Key(), prefix); dataIt.Next() {
				if len(dataIt.Key()) != len(prefix)+4 {
					continue
				}
				if !stale || q.Full {
					if kv, dek := storedKeyVersion(dataIt.Value()); dek && kv != q.Target {
						stale = true
						if q.Full {
							version := binary.BigEndian.Uint32(dataIt.Key()[len(prefix):])
							d, err := dataValue(db, key, string(id), dataIt.Value())
							if err != nil {
								return err
							}
							c.Data = append(c.Data, DataVersion{Version: version, Data: d})
						}
					}
				}
			}
			if stale {
				if q.Count {
					p.Count++
				} else {
					if q.Limit > 0 && len(p.Candidates) == q.Limit {
						p.More = true
						break
					}
					c.ID, c.Gen = string(id), binary.BigEndian.Uint64(v)
					if q.Full {
						c.Sealed = append([]byte(nil), v[8:]...)
					}
					p.Candidates = append(p.Candidates, c)
					size += len(c.Sealed)
					for _, d := range c.Data {
						size += len(d.Data)
					}
				}
			}
			p.Next = string(id)
		}
		if err := objIt.Error(); err != nil {
			return err
		}
		return dataIt.Error()
	})
	return p, err
}
