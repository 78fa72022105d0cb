package raftsm

import (
	"encoding/binary"

	"github.com/cockroachdb/pebble"
)

// QuerySecretPage returns up to Limit secrets in id order, starting after
// the id After ("" for the first page) (*SecretPage). A listing reads its
// pages one by one, so that no single read copies every record of a large
// group or holds the state machine's read lock for long.
type QuerySecretPage struct {
	After string
	Limit int
}

// SecretPage is a page of secrets. More reports whether secrets follow
// the last one.
type SecretPage struct {
	Secrets []StoredSecret
	More    bool
}

// pageBlock is the size of the blocks a page's sealed records are copied
// into.
const pageBlock = 64 << 10

// DefaultPageLimit bounds a page whose query asks for no limit.
const DefaultPageLimit = 4096

func (s *StateMachine) secretPage(base []byte, q QuerySecretPage) (*SecretPage, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultPageLimit
	}
	lower := base
	if q.After != "" {
		// The smallest key after base+After: base+After+0x00.
		lower = append(append(append([]byte(nil), base...), q.After...), 0)
	}
	page := &SecretPage{Secrets: make([]StoredSecret, 0, min(limit, 1024))}
	// The sealed records are copied into shared blocks rather than one
	// allocation each: a page of 8192 makes a few dozen allocations, not
	// 8192. Each Sealed is capped at its own length, so an append to one
	// cannot write over the next.
	var block []byte
	err := s.scanFrom(lower, prefixEnd(base), func(k, v []byte) bool {
		if len(v) < 8 {
			return true
		}
		if len(page.Secrets) == limit {
			page.More = true
			return false
		}
		sealed := v[8:]
		if len(sealed) > cap(block)-len(block) {
			block = make([]byte, 0, max(pageBlock, len(sealed)))
		}
		start := len(block)
		block = append(block, sealed...)
		page.Secrets = append(page.Secrets, StoredSecret{
			ID:     string(k[len(base):]),
			Gen:    binary.BigEndian.Uint64(v),
			Sealed: block[start:len(block):len(block)],
		})
		return true
	})
	return page, err
}

// scanFrom calls f for every key in [lower, upper) until f returns false
// (key and value valid during f only).
func (s *StateMachine) scanFrom(lower, upper []byte, f func(k, v []byte) bool) error {
	return s.store.with(func(db *pebble.DB) error {
		it := db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
		for it.First(); it.Valid() && f(it.Key(), it.Value()); it.Next() {
		}
		return it.Close()
	})
}
