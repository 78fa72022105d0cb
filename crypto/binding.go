package crypto

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// Purpose says what a ciphertext is for. It is part of every [Binding].
type Purpose string

// Purposes used by vault. Other non-empty purposes without a NUL byte are
// accepted; these are the ones the rest of the repository uses.
const (
	PurposeEntry    Purpose = "entry"     // a Raft log entry's command
	PurposeSnapshot Purpose = "snapshot"  // a snapshot stream
	PurposeValue    Purpose = "value"     // a stored value (secret data, object record)
	PurposeName     Purpose = "name"      // a name index (MAC) or sealed name
	PurposeKeyring  Purpose = "keyring"   // a DEK wrapped under the KEK
	PurposeKeyCheck Purpose = "key-check" // the KEK check value
	PurposeFile     Purpose = "file"      // a node-local file (node key, CA key, ...)
	PurposeTransfer Purpose = "transfer"  // key material sent to a joining node
)

// Binding is the associated data: where a ciphertext belongs. Opening with any
// other Purpose, Shard or Object fails with an integrity error. A nil and an
// empty Object encode the same.
type Binding struct {
	Purpose Purpose
	Shard   uint64 // Raft shard id; 0 where none applies
	Object  []byte // identity of a stored object (id, id+version, ...); may be nil
}

// bindingPrefix starts every binding encoding, so our associated data and MAC
// inputs can never be mistaken for another protocol's.
const bindingPrefix = "vault/"

func (b Binding) validate() error {
	switch {
	case b.Purpose == "":
		return fmt.Errorf("%w: empty purpose", ErrInvalidBinding)
	case strings.IndexByte(string(b.Purpose), 0) >= 0:
		return fmt.Errorf("%w: purpose contains a NUL byte", ErrInvalidBinding)
	case uint64(len(b.Object)) > math.MaxUint32:
		return fmt.Errorf("%w: object identity too long", ErrInvalidBinding)
	}
	return nil
}

// appendBinding appends the binding encoding
//
//	"vault/" || purpose || 0x00 || shard (uint64 BE) || len(object) (uint32 BE) || object
//
// The purpose is NUL-terminated (it cannot contain NUL) and the object is
// length-prefixed, so the encoding is injective and anything appended after it
// (a MAC message) cannot shift bytes between fields.
func appendBinding(dst []byte, b Binding) []byte {
	dst = append(dst, bindingPrefix...)
	dst = append(dst, b.Purpose...)
	dst = append(dst, 0)
	dst = binary.BigEndian.AppendUint64(dst, b.Shard)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b.Object)))
	return append(dst, b.Object...)
}

func bindingLen(b Binding) int {
	return len(bindingPrefix) + len(b.Purpose) + 1 + 8 + 4 + len(b.Object)
}
