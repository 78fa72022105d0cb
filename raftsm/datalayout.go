package raftsm

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/cockroachdb/pebble"
)

// Where a data version is kept. Secret ids are random, so a data version
// kept under its id ('v' id 0 version) landed anywhere in the key space:
// every memtable flush overlapped every table of the level below, and
// Pebble rewrote the 1 KiB values of old secrets over and over as new ones
// arrived (100k creates into a group of 100k: 1,060 MiB compacted). Now the
// value is kept under the Raft index of the entry that wrote it:
//
//	'v' id 0x00 version(4)   index(8) || key version(4): where the version's
//	                         data is, and the key version its envelope names
//	'w' index(8) id          the sealed data
//
// Index order is write order, so new values sort after every table on
// disk and reach the bottom level without being rewritten; only the small
// pointers and records land at random (TestMeasureLayout, same creates:
// 388 MiB compacted, CPU 4.8 -> 3.2 s).
//
// The key version in the pointer lets a rotation's walk tell, from the
// pointers alone, which versions it must re-seal (only those under a DEK)
// without reading every value. A 'v' value of any other length is the
// sealed data itself (no envelope is that short): what versions written
// before this layout hold. Every reader follows a pointer and reads such a
// value as it is.

// dataPointerSize is the length of a 'v' value that points at a 'w' key.
const dataPointerSize = 12

// dataPointer is the 'v' value for data written at index: with the key
// version its envelope names (0 for one that is not an envelope, which a
// rotation reads and reports, as UnderDEK says).
func dataPointer(index uint64, sealed []byte) []byte {
	kv, _ := UnderDEK(sealed)
	return binary.BigEndian.AppendUint32(u64(index), kv)
}

// storedKeyVersion is the key version a 'v' value says its data is sealed
// under (UnderDEK's answer for the data), without reading a pointed value.
func storedKeyVersion(v []byte) (uint32, bool) {
	if !isPointer(v) {
		return UnderDEK(v)
	}
	kv := binary.BigEndian.Uint32(v[8:])
	return kv, kv != DataKeyVersion
}

// dataAtSub is the sub-key of the data written at index for secret id.
func dataAtSub(index uint64, id string) []byte {
	k := make([]byte, 1, 1+8+len(id))
	k[0] = subDataAt
	k = binary.BigEndian.AppendUint64(k, index)
	return append(k, id...)
}

// isPointer reports whether a 'v' value points at a 'w' key.
func isPointer(v []byte) bool { return len(v) == dataPointerSize }

// putData writes a new data version: its sealed data under the entry's
// index, and the pointer under its id and version.
func (a *applier) putData(id string, version uint32, index uint64, sealed []byte) error {
	if err := a.b.Set(a.key(dataAtSub(index, id)...), sealed, nil); err != nil {
		return err
	}
	a.noteData(sealed)
	return a.b.Set(a.key(append(dataPrefix(id), u32(version)...)...), dataPointer(index, sealed), nil)
}

// replaceData replaces an existing data version's sealed data (a re-seal)
// where it is kept; it reports false for a version that no longer exists.
func (a *applier) replaceData(id string, version uint32, sealed []byte) (bool, error) {
	dk := a.key(append(dataPrefix(id), u32(version)...)...)
	old, err := a.get(dk)
	if err != nil || old == nil {
		return false, err
	}
	if isPointer(old) {
		index := binary.BigEndian.Uint64(old)
		if err := a.b.Set(dk, dataPointer(index, sealed), nil); err != nil {
			return false, err
		}
		dk = a.key(dataAtSub(index, id)...)
	}
	if err := a.b.Set(dk, sealed, nil); err != nil {
		return false, err
	}
	a.noteData(sealed)
	return true, nil
}

// deleteData deletes secret id's data versions below below (all of them
// when below is 0): the values the pointers lead to, then the pointers.
func (a *applier) deleteData(id string, below uint32) error {
	lo := a.key(dataPrefix(id)...)
	hi := prefixEnd(lo)
	if below != 0 {
		hi = a.key(append(dataPrefix(id), u32(below)...)...)
	}
	it := a.b.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	var at [][]byte
	for it.First(); it.Valid(); it.Next() {
		if v := it.Value(); isPointer(v) {
			at = append(at, a.key(dataAtSub(binary.BigEndian.Uint64(v), id)...))
		}
	}
	if err := it.Close(); err != nil {
		return err
	}
	for _, k := range at {
		if err := a.b.Delete(k, nil); err != nil {
			return err
		}
	}
	return a.b.DeleteRange(lo, hi, nil)
}

// readData returns a copy of a data version's sealed data (nil if there is
// none), following its pointer.
func readData(db pebble.Reader, key func(sub ...byte) []byte, id string, version uint32) ([]byte, error) {
	v, err := getCopy(db, key(append(dataPrefix(id), u32(version)...)...))
	if err != nil || v == nil {
		return nil, err
	}
	return dataValue(db, key, id, v)
}

// dataValue returns a copy of the sealed data a 'v' value stands for: the
// value itself, or for a pointer the value it points at (nil if missing).
func dataValue(db pebble.Reader, key func(sub ...byte) []byte, id string, v []byte) ([]byte, error) {
	if !isPointer(v) {
		return bytes.Clone(v), nil
	}
	return getCopy(db, key(dataAtSub(binary.BigEndian.Uint64(v), id)...))
}

func getCopy(db pebble.Reader, k []byte) ([]byte, error) {
	v, c, err := db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := bytes.Clone(v)
	if out == nil {
		out = []byte{}
	}
	return out, c.Close()
}

// DataPointer decodes a SubData value: for a version kept at a SubDataAt
// key, the index of that key and the key version of its value (ok); for a
// version kept where it was written before this layout, ok is false and
// the value is the sealed data.
func DataPointer(v []byte) (index uint64, keyVersion uint32, ok bool) {
	if !isPointer(v) {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(v), binary.BigEndian.Uint32(v[8:]), true
}
