package raftsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble"
)

// This file serves offline tools (vault-rafttool): it decodes the key layout
// of store.go and gives a read-only view of a shard's state. Nothing here
// commits to the database.

// ErrBadKey is returned for a state key that does not follow the layout in
// store.go.
var ErrBadKey = errors.New("raftsm: malformed state key")

// SubKind says what a key inside a shard's generation holds.
type SubKind uint8

// Kinds of sub-keys. The zero value is an unknown key.
const (
	SubApplied   SubKind = iota + 1 // applied index, uint64
	SubKeyring                      // keys.WrappedKeyring, marshalled
	SubSeals                        // entries sealed under Version, uint64
	SubCluster                      // gen(8) || sealed ClusterRecord
	SubName                         // name MAC -> secret id
	SubObject                       // secret ID: gen(8) || sealed SecretRecord
	SubData                         // secret ID, data Version: a pointer (DataPointer) or, written before, sealed data
	SubRequest                      // RequestID: time(8) || code(8) || result data
	SubPruneTime                    // when request ids were last pruned, uint64
	SubEpoch                        // the keyring's epoch, uint64
	SubDataAt                       // Index, secret ID: sealed data of a version written at that index
)

func (k SubKind) String() string {
	switch k {
	case SubApplied:
		return "applied"
	case SubKeyring:
		return "keyring"
	case SubSeals:
		return "seals"
	case SubCluster:
		return "cluster"
	case SubName:
		return "name"
	case SubObject:
		return "object"
	case SubData:
		return "data"
	case SubRequest:
		return "request"
	case SubPruneTime:
		return "prune-time"
	case SubEpoch:
		return "keyring-epoch"
	case SubDataAt:
		return "data-at"
	}
	return "unknown"
}

// SubKey is a decoded key inside a shard's generation (the bytes after
// 'D' shard gen). Which fields are set depends on Kind.
type SubKey struct {
	Kind      SubKind
	ID        string // SubObject, SubData, SubDataAt
	Version   uint32 // SubSeals (key version), SubData (data version)
	NameMAC   []byte // SubName
	RequestID []byte // SubRequest
	Time      int64  // SubRequest in the time-keyed layout: the proposer time
	Index     uint64 // SubDataAt: the index of the entry that wrote it
}

// nameMACSize is the length of a name MAC (Command.Validate checks it).
const nameMACSize = 32

// ParseSubKey decodes a key inside a shard's generation, as found in the
// store or in a snapshot stream. It never panics; input that does not follow
// the layout returns an error wrapping ErrBadKey. The result does not alias
// sub.
func ParseSubKey(sub []byte) (SubKey, error) {
	if len(sub) == 0 {
		return SubKey{}, fmt.Errorf("%w: empty", ErrBadKey)
	}
	rest := sub[1:]
	bad := func(what string) (SubKey, error) {
		return SubKey{}, fmt.Errorf("%w: %s key of %d bytes", ErrBadKey, what, len(sub))
	}
	switch sub[0] {
	case subApplied:
		if len(rest) != 0 {
			return bad("applied")
		}
		return SubKey{Kind: SubApplied}, nil
	case subKeyring:
		if len(rest) != 0 {
			return bad("keyring")
		}
		return SubKey{Kind: SubKeyring}, nil
	case subEpoch:
		if len(rest) != 0 {
			return bad("keyring epoch")
		}
		return SubKey{Kind: SubEpoch}, nil
	case subCluster:
		if len(rest) != 0 {
			return bad("cluster")
		}
		return SubKey{Kind: SubCluster}, nil
	case subSeals:
		if len(rest) != 4 {
			return bad("seal count")
		}
		return SubKey{Kind: SubSeals, Version: binary.BigEndian.Uint32(rest)}, nil
	case subName:
		if len(rest) != nameMACSize {
			return bad("name")
		}
		return SubKey{Kind: SubName, NameMAC: bytes.Clone(rest)}, nil
	case subObject:
		if !validID(rest) {
			return bad("object")
		}
		return SubKey{Kind: SubObject, ID: string(rest)}, nil
	case subData:
		// 'v' id 0x00 version(4)
		if len(rest) < 6 || rest[len(rest)-5] != 0 || !validID(rest[:len(rest)-5]) {
			return bad("data")
		}
		return SubKey{
			Kind:    SubData,
			ID:      string(rest[:len(rest)-5]),
			Version: binary.BigEndian.Uint32(rest[len(rest)-4:]),
		}, nil
	case subDataAt:
		// 'w' index(8) id
		if len(rest) < 9 || !validID(rest[8:]) {
			return bad("data-at")
		}
		return SubKey{Kind: SubDataAt, Index: binary.BigEndian.Uint64(rest), ID: string(rest[8:])}, nil
	case subRequests:
		if len(rest) == 0 {
			return SubKey{Kind: SubPruneTime}, nil
		}
		return SubKey{Kind: SubRequest, RequestID: bytes.Clone(rest)}, nil
	case subReqTime:
		t, id, ok := splitReqTimeKey(sub)
		if !ok {
			return bad("request")
		}
		return SubKey{Kind: SubRequest, RequestID: bytes.Clone(id), Time: t}, nil
	}
	return SubKey{}, fmt.Errorf("%w: unknown kind 0x%02x", ErrBadKey, sub[0])
}

func validID(id []byte) bool {
	return len(id) > 0 && len(id) <= MaxIDLen && bytes.IndexByte(id, 0) < 0
}

// DecodeGenValue splits a stored object or cluster value into the generation
// (the index of the entry that last wrote it) and the sealed record.
func DecodeGenValue(v []byte) (gen uint64, sealed []byte, err error) {
	if len(v) < 8 {
		return 0, nil, fmt.Errorf("raftsm: stored record of %d bytes has no generation", len(v))
	}
	return binary.BigEndian.Uint64(v), v[8:], nil
}

// DecodeCount decodes an applied index, seal count or prune time.
func DecodeCount(v []byte) (uint64, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("raftsm: counter of %d bytes, want 8", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Shards returns the shards that have a live generation in the store,
// ascending.
func (s *Store) Shards() ([]uint64, error) {
	var out []uint64
	err := s.with(func(db *pebble.DB) error {
		it := db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixMeta}, UpperBound: []byte{prefixMeta + 1}})
		for it.First(); it.Valid(); it.Next() {
			if k := it.Key(); len(k) == 9 {
				out = append(out, binary.BigEndian.Uint64(k[1:]))
			}
		}
		return it.Close()
	})
	return out, err
}

// View is a read-only view of one shard's live generation. Log entries can
// be applied on top of it (Apply), in memory only: a View never commits, so
// the store is unchanged whatever is applied. Close it before closing the
// Store. A View is not safe for concurrent use.
type View struct {
	store   *Store
	b       *pebble.Batch
	shard   uint64
	gen     uint64
	applied uint64
	idx     *keyIndex // built by the first Apply
}

// NewView opens a view of shard's live generation. It returns an error if
// the shard has none.
func (s *Store) NewView(shard uint64) (*View, error) {
	gen, err := s.Generation(shard)
	if err != nil {
		return nil, err
	}
	if gen == 0 {
		return nil, fmt.Errorf("raftsm: shard %d has no state in this store", shard)
	}
	v := &View{store: s, shard: shard, gen: gen}
	err = s.with(func(db *pebble.DB) error {
		v.b = db.NewIndexedBatch()
		return nil
	})
	if err != nil {
		return nil, err
	}
	a, err := v.get(dataKey(shard, gen, subApplied))
	if err != nil {
		v.Close()
		return nil, err
	}
	v.applied = getU64(a)
	return v, nil
}

// Shard returns the view's shard.
func (v *View) Shard() uint64 { return v.shard }

// Generation returns the shard's live generation.
func (v *View) Generation() uint64 { return v.gen }

// Applied returns the index of the last entry applied (by the node, or by
// Apply).
func (v *View) Applied() uint64 { return v.applied }

func (v *View) get(key []byte) ([]byte, error) {
	var out []byte
	err := v.store.with(func(*pebble.DB) error {
		val, c, err := v.b.Get(key)
		if errors.Is(err, pebble.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		out = bytes.Clone(val)
		return c.Close()
	})
	return out, err
}

// Apply applies one opened command, as the state machine's Update does, to
// the view only. index must follow Applied. It returns the result code
// (ResultOK, ResultExists, ...).
func (v *View) Apply(c *Command, keyVersion uint32, index uint64) (uint64, error) {
	if index <= v.applied {
		return 0, fmt.Errorf("raftsm: shard %d: entry %d is already applied (applied index %d)", v.shard, index, v.applied)
	}
	if err := c.Validate(); err != nil {
		return 0, fmt.Errorf("raftsm: invalid command: %w", err)
	}
	var code uint64
	err := v.store.with(func(*pebble.DB) error {
		if v.idx == nil {
			// The first Apply: bring old-layout request records into the
			// view's layout (in the view only) and index it.
			if _, err := migrateRequestsTo(v.b, v.b, v.shard, v.gen); err != nil {
				return err
			}
			idx, err := loadIndex(v.b, v.shard, v.gen, true)
			if err != nil {
				return err
			}
			v.idx = idx
		}
		a := newApplier(v.b, v.shard, v.gen)
		a.idx = v.idx
		res, err := a.apply(c, keyVersion, index)
		if err != nil {
			return err
		}
		a.commitIndex()
		if err := a.flushSeals(); err != nil {
			return err
		}
		code = res.Value
		return v.b.Set(dataKey(v.shard, v.gen, subApplied), u64(index), nil)
	})
	if err != nil {
		return 0, fmt.Errorf("raftsm: shard %d entry %d: %w", v.shard, index, err)
	}
	v.applied = index
	return code, nil
}

// StateRecord is one key and value of a shard's state. Err is set (and Key
// is zero) for a key that does not follow the layout; Raw is the sub-key as
// stored.
type StateRecord struct {
	Key   SubKey
	Raw   []byte
	Value []byte
	Err   error
}

// Walk calls f for every key of the view in key order. Key and value bytes
// are copies. A key that does not decode is passed with Err set; an error
// from f or from reading the database stops the walk and is returned.
func (v *View) Walk(f func(StateRecord) error) error {
	base := dataKey(v.shard, v.gen)
	return v.store.with(func(*pebble.DB) error {
		it := v.b.NewIter(&pebble.IterOptions{LowerBound: base, UpperBound: prefixEnd(base)})
		for it.First(); it.Valid(); it.Next() {
			raw := bytes.Clone(it.Key()[len(base):])
			k, err := ParseSubKey(raw)
			if err := f(StateRecord{Key: k, Raw: raw, Value: bytes.Clone(it.Value()), Err: err}); err != nil {
				it.Close()
				return err
			}
		}
		return it.Close()
	})
}

// Close releases the view; everything applied to it is dropped.
func (v *View) Close() error {
	if v.b == nil {
		return nil
	}
	err := v.b.Close()
	v.b = nil
	return err
}
