package raftsm

import (
	"github.com/cockroachdb/pebble"

	"github.com/vaultd/vault/crypto"
)

// ValueKeyVersions counts, for one shard's live state, the stored values
// (secret records and data, the cluster record) sealed under each DEK
// version (a data version under its own data key counts under none). It
// reads this node's store directly: key retirement checks it on every
// manager.
func (s *Store) ValueKeyVersions(shard uint64) (map[uint32]int, error) {
	out := map[uint32]int{}
	gen, err := s.Generation(shard)
	if err != nil || gen == 0 {
		return out, err
	}
	base := dataKey(shard, gen)
	dataEnd := prefixEnd(dataKey(shard, gen, subDataAt))
	err = s.with(func(db *pebble.DB) error {
		// The mark and the ranges are read from one view: the mark is
		// cleared in the same batch as a write of a data value under a DEK
		// (purge.go), so a view holding the mark holds no such value.
		snap := db.NewSnapshot()
		defer snap.Close()
		// A store marked as holding no data value under a DEK has nothing
		// to count in its data ranges, most of its bytes: they are skipped.
		clean, err := marked(snap)
		if err != nil {
			return err
		}
		it := snap.NewIter(&pebble.IterOptions{LowerBound: base, UpperBound: prefixEnd(base)})
		for valid := it.First(); valid; valid = it.Next() {
			sub := it.Key()[len(base):]
			if len(sub) == 0 {
				continue
			}
			if clean && (sub[0] == subData || sub[0] == subDataAt) {
				if valid = it.SeekGE(dataEnd); !valid {
					break
				}
				if sub = it.Key()[len(base):]; len(sub) == 0 {
					continue
				}
			}
			v := it.Value()
			switch sub[0] {
			case subObject, subCluster:
				if len(v) < 8 {
					continue
				}
				v = v[8:]
			case subData:
				if isPointer(v) {
					continue // its value is counted at its subDataAt key
				}
			case subDataAt:
			default:
				continue
			}
			if kv, err := crypto.EnvelopeKeyVersion(v); err == nil && kv != DataKeyVersion {
				out[kv]++
			}
		}
		return it.Close()
	})
	return out, err
}
