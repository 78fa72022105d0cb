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
type QueryResealPage struct {
	Target uint32
	After  string
	Limit  int
	Count  bool
}

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
		scanned := 0
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
				if !stale {
					if kv, err := crypto.EnvelopeKeyVersion(dataIt.Value()); err != nil || kv != q.Target {
						stale = true
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
					p.Candidates = append(p.Candidates, ResealCandidate{ID: string(id), Gen: binary.BigEndian.Uint64(v)})
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
