// Package vault is a vault node: it owns the node's state directory, its
// Dragonboat NodeHost and the replicas of every Raft group, the unwrapped
// keyring in memory, the secret service built on them, and the local API
// served on a Unix socket.
//
// # State directory
//
//	node.json   the node's identity (ids, Raft address, hostname); no keys
//	kek         the KEK while autolock is off (0600)
//	state/      one Pebble database holding every shard's state (sealed values, name MACs)
//	raft/       Dragonboat's Raft logs (sealed commands only)
//	tls/        CA and node certificates; the node key sealed under the KEK
//	removed     present once the node learned it was removed from the cluster
//
// The state dir and its directories are made 0700 at every start.
//
// # Invariants
//
//   - Plaintext secret data and names exist only in memory: the proposer
//     seals records and data (crypto.PurposeValue bound to shard and
//     identity) and the whole command (crypto.PurposeEntry) before proposing.
//   - A node that cannot open its keyring does not start its replicas.
//   - node.json is written last by init: a state dir without it holds
//     nothing acknowledged and is cleaned up at the next start.
//   - Start checks every file of the state dir it will read (integrity.go)
//     before opening anything for writing: a damaged file stops the node
//     with an IntegrityError naming it, and the state dir stays unchanged.
//   - Only current members are peers: the manager API and the Raft
//     transport (internal/raftnet) refuse a removed manager's certificate,
//     checked against the applied cluster record (revoke.go).
package vault
