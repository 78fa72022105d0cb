// Package raftsm is vault's Dragonboat state machine: one on-disk replica per
// Raft shard, all backed by the node's single Pebble database (Store), and the
// encoding of the commands they apply.
//
// # Invariants
//
//   - Only ciphertext reaches the log: every command is sealed by the proposer
//     (SealCommand, crypto.PurposeEntry bound to the shard) before it is
//     proposed, and every stored value (secret records and data, the cluster
//     record) is sealed by the proposer too (crypto.PurposeValue bound to the
//     shard and the object's identity). Names are stored only as MACs.
//   - Update is deterministic: it opens the entry, checks it, and writes one
//     Pebble batch holding the results and the applied index. Ids, times and
//     nonces come from the proposer. A request id makes a retried proposal
//     apply once.
//   - Each replica's in-memory index (keyIndex) only skips lookups that must
//     miss: it holds every name, object and request key of the live state
//     (and may hold more), so the database decides every answer.
//   - Update never needs the KEK: it stores the wrapped keyring as given and
//     tells the node (Hooks.KeyringApplied), which unwraps new DEK versions.
//   - A snapshot stream is sealed (crypto stream, PurposeSnapshot) and carries
//     the applied index and the wrapped keyring. Recovery writes into a new
//     generation of the shard's key range and switches to it in one batch
//     only after the whole stream authenticated.
//
// # Key layout
//
// See the constants in store.go: 'M'+shard holds the live generation,
// 'D'+shard+gen+sub holds the data. A shard's keys are independent of every
// other shard's, so removing or recovering one shard touches only its range.
package raftsm
