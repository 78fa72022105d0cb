// Package audit owns vault's audit log: an append-only file of JSON lines,
// one record per request, hash-chained and sealed so that an edited,
// removed or reordered record is found by [Verify].
//
// # Records and the chain
//
// Every line is one [Record] in canonical form (the writer's encoding of the
// struct; [ParseRecord] accepts nothing else). Record n carries "seq": n and
// "prev": hex SHA-256 of the exact bytes of line n-1 (without its newline);
// record 1 carries 64 zeros. The chain runs across rotated files: the first
// record of a new file (an "open" record) names the hash of the last record
// of the file before, which ends with a seal.
//
// A seal record is an Ed25519 signature, under the cluster's audit seal key,
// over "vault/audit/seal/v1\n" and the seal's own line with "sig" empty. That
// line holds "prev", so one seal covers every record before it. The log seals
// after [Config.SealEvery] records, [Config.SealInterval] after the first
// unsealed record, before a rotation or reopen, and at [Log.Close], and syncs
// the file at every seal.
//
// # Keys
//
// [DeriveKeys] derives everything from the cluster's name-index key (the MAC
// key of name lookups, keys.Keyring.IndexKey), which every manager holds
// while unlocked and which does not rotate with the data keys:
//
//	name key  = HKDF-SHA256(index key, salt none, info "vault/audit/v1/name")
//	seal seed = HKDF-SHA256(index key, salt none, info "vault/audit/v1/seal")
//	seal key  = Ed25519 key of seal seed; its public half is the VerifyKey
//
// A locked node has no index key, so a log may run without keys ([Open]
// with nil keys, [Log.SetKeys] at unlock and lock): its records are chained
// but not sealed, and the first seal after unlock covers them. A log closed
// while locked ends unsealed.
//
// Names appear only as "name_hmac": hex HMAC-SHA256(name key, name), the same
// in every log of a cluster, so one `vault audit hash NAME` finds a secret in
// all of them and nothing about the name shows without the key. The
// [VerifyKey] is public: it checks seals and cannot make them, so it can be
// handed to an auditor.
//
// # What the chain proves
//
// Without the seal key nobody can change, drop, insert or reorder a record
// that a seal covers without [Verify] naming the spot. It does not prove:
//
//   - anything about records after the last seal: the chain links them, but
//     dropping the last of them, or editing the last one, goes unnoticed.
//     [Result.Unsealed] counts them; the next seal comes within
//     SealInterval, and a log closed cleanly ends with a seal;
//   - that a file was not cut right after a seal, or removed whole: only a
//     later file (whose first record names the cut-off hash) or the
//     expectation of a seal at close shows that;
//   - anything against a holder of the seal key: every manager of the
//     cluster holds it, so a compromised manager can rewrite its own log.
//     Ship the log off the node (syslog, a collector) to guard against that.
//
// # Failure
//
// One goroutine owns the file; [Log.Write] hands it a record through a
// bounded queue. Under [FailClosed] Write waits at most
// [Config.WriteTimeout] and returns an error the caller must act on by
// refusing the request; a write already hanging longer than that makes later
// Writes fail at once, so a hung disk never holds requests. Under [FailOpen]
// Write never fails and never waits; records that cannot be written are
// counted and a "lost" record says how many once the file takes writes again.
// [Log.Healthy] and [Log.LastError] report the state for status and health.
package audit
