package raftsm

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	"github.com/cockroachdb/pebble"

	"github.com/vaultd/vault/crypto"
)

// Queries accepted by Lookup. Results are copies of stored (sealed) bytes; the
// caller opens them.
type (
	// QueryKeyring returns the shard's wrapped keyring ([]byte, nil if none).
	QueryKeyring struct{}
	// QueryKeyringEpoch returns the shard's keyring and its epoch
	// (*StoredKeyring, nil if none).
	QueryKeyringEpoch struct{}
	// QueryCluster returns the cluster record (*StoredCluster, nil if none).
	// The answer is shared between reads: callers must not modify it.
	QueryCluster struct{}
	// QueryName returns the secret indexed under a name MAC (*StoredSecret or nil).
	QueryName struct{ MAC []byte }
	// QueryIDPrefix returns the secrets whose id starts with Prefix ([]StoredSecret).
	QueryIDPrefix struct{ Prefix string }
	// QueryData returns one sealed data version ([]byte, nil if none).
	QueryData struct {
		ID      string
		Version uint32
	}
	// QuerySeals returns entries sealed per key version (map[uint32]uint64).
	QuerySeals struct{}
	// QueryReseal lists up to Limit secrets with a record or data version
	// not sealed under Target ([]ResealCandidate).
	QueryReseal struct {
		Target uint32
		Limit  int
	}
)

// StoredKeyring is a shard's wrapped keyring and its epoch.
type StoredKeyring struct {
	Ring  []byte
	Epoch uint64
}

// StoredCluster is the cluster record as stored: its generation and the
// sealed ClusterRecord.
type StoredCluster struct {
	Gen    uint64
	Sealed []byte
}

// StoredSecret is a secret record as stored: its generation (the index of the
// entry that last wrote it) and the sealed record.
type StoredSecret struct {
	ID     string
	Gen    uint64
	Sealed []byte
}

// Lookup answers a query from the shard's applied state.
func (s *StateMachine) Lookup(q interface{}) (interface{}, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	if f := s.failed.Load(); f != nil {
		return nil, f
	}
	key := func(sub ...byte) []byte { return dataKey(s.shard, s.gen, sub...) }
	switch q := q.(type) {
	case QueryKeyring:
		return s.store.get(key(subKeyring))
	case QueryKeyringEpoch:
		ring, err := s.store.get(key(subKeyring))
		if err != nil || ring == nil {
			return (*StoredKeyring)(nil), err
		}
		e, err := s.store.get(key(subEpoch))
		return &StoredKeyring{Ring: ring, Epoch: getU64(e)}, err
	case QueryCluster:
		return s.readCluster(key(subCluster))
	case QueryName:
		id, err := s.store.get(key(append([]byte{subName}, q.MAC...)...))
		if err != nil || id == nil {
			return (*StoredSecret)(nil), err
		}
		obj, err := s.store.get(key(append([]byte{subObject}, id...)...))
		if err != nil || len(obj) < 8 {
			return (*StoredSecret)(nil), err
		}
		return &StoredSecret{ID: string(id), Gen: binary.BigEndian.Uint64(obj), Sealed: obj[8:]}, nil
	case QueryIDPrefix:
		var out []StoredSecret
		p := key(append([]byte{subObject}, q.Prefix...)...)
		err := s.scan(p, func(k, v []byte) {
			if len(v) < 8 {
				return
			}
			id := string(k[len(key(subObject)):])
			if strings.HasPrefix(id, q.Prefix) {
				out = append(out, StoredSecret{ID: id, Gen: binary.BigEndian.Uint64(v), Sealed: append([]byte(nil), v[8:]...)})
			}
		})
		return out, err
	case QuerySecretPage:
		return s.secretPage(key(subObject), q)
	case QueryData:
		var out []byte
		err := s.store.with(func(db *pebble.DB) error {
			var err error
			out, err = readData(db, key, q.ID, q.Version)
			return err
		})
		return out, err
	case QueryReseal:
		return s.resealCandidates(key, q)
	case QueryResealPage:
		return s.resealPage(key, q)
	case QuerySeals:
		out := map[uint32]uint64{}
		base := key(subSeals)
		err := s.scan(base, func(k, v []byte) {
			if len(k) == len(base)+4 {
				out[binary.BigEndian.Uint32(k[len(base):])] = getU64(v)
			}
		})
		return out, err
	}
	return nil, fmt.Errorf("raftsm: unknown query %T", q)
}

// ResealCandidate is a secret that full rotation must re-seal. Sealed and
// Data are set by a Full QueryResealPage: the sealed record at Gen and the
// sealed data versions not under the target key.
type ResealCandidate struct {
	ID     string
	Gen    uint64
	Sealed []byte
	Data   []DataVersion
}

func (s *StateMachine) resealCandidates(key func(sub ...byte) []byte, q QueryReseal) ([]ResealCandidate, error) {
	var out []ResealCandidate
	stale := map[string]bool{}
	objBase, dataBase := key(subObject), key(subData)
	gens := map[string]uint64{}
	err := s.scan(objBase, func(k, v []byte) {
		if len(v) < 8 {
			return
		}
		id := string(k[len(objBase):])
		gens[id] = binary.BigEndian.Uint64(v)
		if kv, err := crypto.EnvelopeKeyVersion(v[8:]); err != nil || kv != q.Target {
			stale[id] = true
		}
	})
	if err != nil {
		return nil, err
	}
	err = s.scan(dataBase, func(k, v []byte) {
		rest := k[len(dataBase):]
		if len(rest) < 5 {
			return
		}
		id := string(rest[:len(rest)-5])
		if kv, dek := storedKeyVersion(v); dek && kv != q.Target {
			stale[id] = true
		}
	})
	if err != nil {
		return nil, err
	}
	for id := range stale {
		if gen, ok := gens[id]; ok {
			out = append(out, ResealCandidate{ID: id, Gen: gen})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// scan calls f for every key with prefix p (key and value valid during f only).
func (s *StateMachine) scan(p []byte, f func(k, v []byte)) error {
	return s.store.with(func(db *pebble.DB) error {
		it := db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
		for it.First(); it.Valid(); it.Next() {
			f(it.Key(), it.Value())
		}
		return it.Close()
	})
}
