package logdb

import (
	"encoding/binary"
	"fmt"
)

// Kind says what a LogDB key holds.
type Kind uint8

// Key kinds, named by the two-byte header Dragonboat writes
// (internal/logdb/key.go).
const (
	KindEntry      Kind = 0x01 // a marshalled raftpb.Entry
	KindState      Kind = 0x02 // raftpb.State (term, vote, commit)
	KindMaxIndex   Kind = 0x03 // the last index saved, uint64 BE
	KindNodeInfo   Kind = 0x04 // unused by v4
	KindSnapshot   Kind = 0x05 // raftpb.Snapshot (metadata of the latest snapshot)
	KindBootstrap  Kind = 0x06 // raftpb.Bootstrap (initial members)
	KindEntryBatch Kind = 0x07 // raftpb.EntryBatch (batched LogDB only)
)

func (k Kind) String() string {
	switch k {
	case KindEntry:
		return "entry"
	case KindState:
		return "state"
	case KindMaxIndex:
		return "max-index"
	case KindNodeInfo:
		return "node-info"
	case KindSnapshot:
		return "snapshot"
	case KindBootstrap:
		return "bootstrap"
	case KindEntryBatch:
		return "entry-batch"
	}
	return fmt.Sprintf("kind-0x%02x", uint8(k))
}

// Key sizes: header (2) + zero (2) + shard (8) + replica (8) [+ index (8)].
const (
	shortKeySize = 20
	longKeySize  = 28
)

// Key is a decoded LogDB key. Index is the entry index (KindEntry), the
// batch id (KindEntryBatch) or the snapshot index (KindSnapshot).
type Key struct {
	Kind    Kind
	Shard   uint64
	Replica uint64
	Index   uint64
}

func (k Key) String() string {
	switch k.Kind {
	case KindEntry, KindEntryBatch, KindSnapshot:
		return fmt.Sprintf("%v shard %d replica %d index %d", k.Kind, k.Shard, k.Replica, k.Index)
	}
	return fmt.Sprintf("%v shard %d replica %d", k.Kind, k.Shard, k.Replica)
}

func (k Key) size() int {
	switch k.Kind {
	case KindEntry, KindEntryBatch, KindSnapshot:
		return longKeySize
	}
	return shortKeySize
}

// Encode returns the key's bytes.
func (k Key) Encode() []byte {
	b := make([]byte, k.size())
	b[0], b[1] = byte(k.Kind), byte(k.Kind)
	binary.BigEndian.PutUint64(b[4:], k.Shard)
	binary.BigEndian.PutUint64(b[12:], k.Replica)
	if len(b) == longKeySize {
		binary.BigEndian.PutUint64(b[20:], k.Index)
	}
	return b
}

// ParseKey decodes a LogDB key. It never panics; a key that does not follow
// the format returns an error wrapping ErrMalformed.
func ParseKey(b []byte) (Key, error) {
	if len(b) < 4 {
		return Key{}, fmt.Errorf("%w: key of %d bytes", ErrMalformed, len(b))
	}
	k := Key{Kind: Kind(b[0])}
	if b[0] != b[1] || b[2] != 0 || b[3] != 0 || k.Kind < KindEntry || k.Kind > KindEntryBatch {
		return Key{}, fmt.Errorf("%w: unknown key header % x", ErrMalformed, b[:4])
	}
	if len(b) != k.size() {
		return Key{}, fmt.Errorf("%w: %v key of %d bytes, want %d", ErrMalformed, k.Kind, len(b), k.size())
	}
	k.Shard = binary.BigEndian.Uint64(b[4:])
	k.Replica = binary.BigEndian.Uint64(b[12:])
	if len(b) == longKeySize {
		k.Index = binary.BigEndian.Uint64(b[20:])
	}
	return k, nil
}
