// Package keys owns vault's key hierarchy above the sealing primitives of
// package crypto: the operator's unlock key, the key-encryption key (KEK)
// derived from it or generated at random, the ring of data-encryption keys
// (DEKs) in its wrapped (replicated) and unwrapped (in-memory) forms, and
// Shamir shares of the unlock key.
//
//	unlock key  VLTKEY-1-...  held by the operator when autolock is on
//	   | HKDF-SHA256
//	KEK         32 bytes      or random (GenerateKEK) when autolock is off
//	   | crypto.WrapKey
//	DEK ring    v1..vn        wrapped copies replicated; one is active
//
// # Unlock key
//
// An [UnlockKey] is 32 random bytes written as "VLTKEY-1-" followed by 64
// base32 characters (RFC 4648 alphabet A-Z 2-7, no padding) encoding
//
//	cluster tag (4) || secret (32) || checksum (4)
//
// The cluster tag is the first 4 bytes of SHA-256("vault/cluster-tag/v1" ||
// cluster id), so a key presented to the wrong cluster is reported as such
// ([ErrOtherCluster]) without touching any data. The checksum is the first 4
// bytes of SHA-256("VLTKEY-1-" || tag || secret), so a mistyped key is
// reported as a typo ([ErrUnlockKeyChecksum]), never as a wrong key: every
// single-character substitution changes the 40-byte payload, and a random
// change passes the checksum with probability 2^-32. [ParseUnlockKey] is
// strict; the only tolerance is surrounding white space.
//
// # KEK and key check
//
// [UnlockKey.KEK] derives the KEK with HKDF-SHA256 (salt "vault/kek/v1/" ||
// cluster id, info "vault kek"). [KeyCheck] is a 16-byte MAC under the KEK,
// stored beside the wrapped ring, so that [VerifyKEK] tells a wrong key
// ([ErrWrongKey]) from corrupt data (an integrity error naming a DEK version)
// before anything is unwrapped.
//
// # Keyring
//
// A [WrappedKeyring] is part of the replicated state. Its methods that edit it
// ([WrappedKeyring.AddDEK], [WrappedKeyring.Activate], [WrappedKeyring.Retire],
// [WrappedKeyring.CountSeals]) use no KEK, clock or randomness, so every Raft
// replica applying the same operations reaches byte-identical
// [WrappedKeyring.Marshal] output. Everything random (a new DEK, its creation
// time, a re-wrap under a new KEK) is made by the proposer with [NewDEK] or
// [WrappedKeyring.Rewrap] and carried in the command.
//
// Invariants of a valid wrapped ring ([WrappedKeyring.Validate]): at least one
// DEK; versions nonzero and strictly ascending; exactly one active DEK; a
// retired DEK has no wrapped bytes and every other DEK has some. Each DEK is
// wrapped with binding {PurposeKeyring, shard 0, "dek/" || version (uint32
// BE)}, so a wrapped DEK cannot be relabelled as another version.
//
// The ring also carries the name-index key (WrappedKeyring.Index, binding
// {PurposeKeyring, 0, "index"}): the MAC key that turns secret names into
// lookup keys. It seals nothing, follows every re-wrap, and does not rotate
// with the DEKs, so names keep their index across DEK rotations.
//
// A [Keyring] holds the unwrapped DEKs of one node in memory and is the
// [crypto.KeySource] for everything sealed with them. [Keyring.Update] follows
// the wrapped ring: it unwraps versions it lacks, follows the active version
// and wipes DEKs that were retired.
//
// # Shares
//
// [UnlockKey.Split] splits the 40-byte unlock key payload with package shamir
// into shares written as "VLTSHR-1-" followed by 80 base32 characters encoding
//
//	split id (4) || threshold (1) || share number (1) || y (40) || checksum (4)
//
// with checksum = first 4 bytes of SHA-256("VLTSHR-1-" || the preceding 46
// bytes). The split id is random. [UnlockKey.SplitFor] writes "VLTSHR-2-"
// shares of the same layout (the checksum hashes "VLTSHR-2-") whose split id
// is the first 4 bytes of SHA-256("vault unlock key split id\x00" || the key
// check value of the KEK the key derives): every keyring wrapped under that
// KEK names the split that opens it in the clear. A [ShareSet] collects
// shares one at a time and names the share at fault for a typo, a duplicate,
// a share of another split, or (given the keyrings' check values with
// [ShareSet.ExpectSplits]) a share of a previous split. Because the
// combined payload carries the unlock key checksum, a share that is corrupt
// but has a valid checksum of its own cannot yield a wrong key silently; with
// more shares than the threshold, the corrupt one is named.
//
// # Errors
//
// Errors wrap the sentinels declared in this package (and crypto.ErrIntegrity,
// crypto.ErrUnknownKeyVersion and crypto.ErrWiped); test with errors.Is.
// Problems with one share are reported as a [*ShareError] naming the share's
// number.
//
// # Security
//
// Key types keep their bytes in unexported arrays, are not comparable with
// ==, compare in constant time and print redacted with every fmt verb. No
// error, panic or printed value contains key bytes, nor any part of an unlock
// key or share text. Wipe zeroes this package's copies; the text form
// returned by [UnlockKey.Text] and [UnlockKey.Split] is a Go string and cannot
// be wiped, so callers should keep it for as short a time as possible.
package keys
