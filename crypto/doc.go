// Package crypto seals everything vault stores or replicates: Raft log entries,
// snapshot streams, stored values, name indexes, wrapped keys and node-local
// files. It owns the envelope and stream formats, the associated-data
// encoding that binds a ciphertext to its place, and the [Key] type that holds
// key bytes in memory. Which key is current, and how keys are wrapped and
// rotated, belongs to package keys.
//
// # Envelope
//
// [Seal] returns a self-describing envelope:
//
//	"vl" || 0x01 || key version (uint32 BE) || nonce (24) || ciphertext || tag (16)
//
// The cipher is XChaCha20-Poly1305 with a fresh random 24-byte nonce per
// message, and the envelope is [Overhead] (47) bytes longer than the
// plaintext. The key version lets [Open] pick the key from a [KeySource], so
// data sealed under an old key still opens during and after a rotation.
// [EnvelopeKeyVersion] reads the version without opening, to find what is
// still sealed under an old key.
//
// Random nonces are safe here even though many nodes seal under one key at
// once with no coordination: with 192-bit nonces the chance that any two of
// 2^64 messages share a nonce is about 2^-64, so there are no counters to
// persist, no per-node nonce prefixes and no limit an operator could reach.
// AES-GCM's 96-bit nonces, by contrast, reach a 2^-32 collision risk after 2^32
// random-nonce messages under one key, which would force seal counting and
// early rotation across the whole cluster.
//
// # Binding
//
// Every ciphertext is bound to where it belongs by a [Binding]: a [Purpose]
// (entry, snapshot, value, ...), the Raft shard id and the identity of the
// stored object. The binding is authenticated as associated data, encoded as
//
//	"vault/" || purpose || 0x00 || shard (uint64 BE) || len(object) (uint32 BE) || object
//
// and, for envelopes, preceded by the 7 header bytes so the key version and
// format version cannot be altered either. A value copied to another object,
// a log entry replayed into another shard, or a wrapped key relabelled as a
// snapshot fails to open with [ErrIntegrity]. [MAC] uses the same encoding, so
// a name index in one shard is no use in another.
//
// # Stream
//
// Snapshots can be larger than memory, so [NewStreamWriter] and
// [NewStreamReader] seal and open them in constant memory, following age's
// STREAM construction. The header is
//
//	"vs" || 0x01 || key version (uint32 BE) || salt (32)
//
// followed by chunks of [ChunkSize] (64 KiB) plaintext, each sealed with
// ChaCha20-Poly1305 under the nonce chunk counter (11 bytes BE) || last flag
// (0x00, or 0x01 for the final chunk). The final chunk holds 0 to ChunkSize
// bytes and is empty only when the whole stream is.
//
// Counter nonces are only 96 bits and repeat from zero in every stream, so
// they must never be used twice under the same key. Each stream therefore
// uses its own key, derived with HKDF-SHA256 from the [Key], a random 32-byte
// salt, the header and the binding. Two streams share a key only if their
// salts collide (2^-128 after 2^64 streams), and within a stream the counter
// never repeats. The counter and the last flag make truncation at a chunk
// boundary, dropped, duplicated, reordered or spliced chunks and trailing
// bytes all fail authentication, and binding the header into the key makes
// any change to it, or another binding, fail at the first chunk.
// [StreamReader.Read] returns plaintext only from authenticated chunks and
// io.EOF only after the authenticated final chunk.
//
// # Errors
//
// Errors are sentinels prefixed "crypto: ", wrapped with context such as a
// chunk number or a key version, never with key bytes or plaintext.
// [ErrIntegrity] (test with [IsIntegrityError]) means the bytes were not
// produced by us under this key and binding: the wrong key, tampering,
// truncation or a ciphertext moved elsewhere. [ErrMalformed] means the input
// is not in one of our formats (bad magic, unknown format version, too
// short). [ErrUnknownKeyVersion] means the [KeySource] lacks the version named
// in a header. [ErrWiped] means a [Key] was used after [Key.Wipe].
//
// # Security
//
// Key bytes live in one array per [Key], two pointers away from it, so copying
// or reflecting over a Key never copies or prints them; a Key prints as
// "crypto.Key{v3 REDACTED}" with every fmt verb, and is compared in constant
// time by [Key.Equal]. [Key.Wipe] zeroes that array; later uses fail with
// [ErrWiped], and a Wipe waits for a Seal or Open already using the key.
//
// AEAD instances are created per call and dropped when it returns, so no
// long-lived copy of a key sits inside a cipher object. A stream is the
// exception: its cipher holds the derived per-stream key until the stream
// ends or fails, and then is dropped. Go itself may still leave transient
// copies (cipher state on the stack or heap awaiting collection, registers
// spilled during a call) that Wipe cannot reach; keeping key material out of
// swap and core dumps is the job of the process (mlock, PR_SET_DUMPABLE).
//
// MAC keys are derived from the [Key] with HKDF (info "vault/mac/v1"), so the
// same key never serves as both an AEAD key and an HMAC key.
package crypto
