// Package vault is a vault node: it owns the node's state directory, its
// Dragonboat NodeHost and the replicas of every Raft group, the unwrapped
// keyring in memory, the secret service built on them, and the local API
// served on a Unix socket.
//
// # Phases
//
// A node is in one of three phases, and each phase is a type that holds
// what the phase may hold (phase.go). Node.ph, one field, holds the value
// of the phase the node is in: nil (uninitialized), *lockedPhase,
// *replicas (running), or between (initialized, neither locked nor
// running):
//
//   - uninitialized: not part of a cluster. The node holds its state dir's
//     lock and serves status, init, join and unlock (which says there is
//     nothing to unlock); every other route answers "not part of a cluster".
//   - locked (lockedPhase): the node's identity (node.json), its state
//     database opened for metadata (keyrings as stored: wrapped), the
//     Shamir shares given so far and a status server for the other
//     managers. No key of any kind: not the KEK, not a DEK, not the TLS
//     key. It serves status and unlock only; every other route, including
//     those that need no key (mount list, unmount), answers "locked".
//   - running (replicas): one value owns every key and handle: the KEK
//     (and the next KEK of a KEK change), the keyring, the TLS material,
//     the NodeHost with every replica, the store, the manager API and the
//     stop channel of the node's loops. newReplicas is its one
//     constructor; close stops it and wipes every key. Secrets, the
//     cluster record, key operations, KEK changes, members and rotation
//     are methods of replicas, as are proposals and reads (raft.go); the
//     Node's exported methods are entry points that get the running
//     phase once (Node.running) and call them, so code that needs a key
//     cannot run while the node is locked. A replicas value reaches its
//     Node (replicas.node) only for what outlives a phase: the log,
//     configuration, mount table and stopped groups.
//   - worker (workerPhase, worker.go): a node that joined with the worker
//     token. Its identity, its TLS material and the secrets granted to it,
//     in locked memory, delivered by a manager's stream; no replica and no
//     key of the cluster. Its state dir holds worker.json and tls/ only.
//     It serves status, mounts, exec and lock (servedOnWorker).
//
// Transitions: Init and Join go from uninitialized to running; Lock from
// running to locked (close, then enterLocked); Unlock from locked to
// running (leaveLocked hands the store to newReplicas, and a failed
// attempt goes back to locked); a removal stops the replicas and keeps the
// identity only. Node.mu guards Node.ph; between phases (a start, an
// unlock in progress, a removed node) ph is a between value, which holds
// the identity only, and every route that needs a phase says why.
//
// # Lock order
//
// A goroutine that holds more than one of the node's mutexes takes them in
// this order, and never the other way:
//
//	initMu        serializes phase changes asked for (Init, Join, Unlock, Lock, Leave)
//	keyMu         serializes key operations started on this node (KEK changes, DEK rotation, retirement)
//	localReseal.mu  a full rotation's walk over this manager's groups (one re-seal step at a time)
//	mountMu       the mount table (held for no Raft call and no I/O)
//	mu            the phase (ph) and the locked phase's shares
//	replicas.mu   the running phase's mutable handles: NodeHost, KEK, pending KEK
//
// liveMu, stoppedMu, the mount queue's and each mount's mutex, the
// peer admission state's and the audit keys' (auditState.mu, taken after
// mu is released) are leaves: nothing is taken while one is held.
// So are the applied grants' cache (grantsCache.mu), the worker phase's (workerPhase.mu) and the worker streams' hub
// (workerHub.mu), which the SecretsChanged hook takes to wake the streams;
// a mount's mutex is taken without either held.
// The worker streams' quorum check (workerQuorum.mu, one check at a time)
// is taken with none of the above held; it takes mu (briefly) and makes a
// linearizable read while held.
// Raft's apply path (the state machine's hooks) takes only replicas.mu
// (keyringApplied), replicas.ringMu (keyringApplied, after replicas.mu is
// released; it takes only the keyring's own lock) and leaves (stoppedMu,
// the mount queue's), and never
// waits on a request: a linearizable read waits for apply, so no read is
// made while replicas.mu is held.
//
// # State directory
//
// Its layout, lock, node.json and integrity check are package
// internal/statedir.
//
//	node.json   the node's identity (ids, Raft address, hostname); no keys
//	kek         the KEK while autolock is off (0600)
//	state/      one Pebble database holding every shard's state (sealed values, name MACs)
//	raft/       Dragonboat's Raft logs (sealed commands only)
//	tls/        CA and node certificates; the node key sealed under the KEK
//	removed     present once the node learned it was removed from the cluster
//	snapshot-tmp-*  working files of a snapshot save, restore or recovery
//	            (sealed streams only; removed when the operation ends)
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
//   - Start checks every file of the state dir it will read (statedir.Check)
//     before opening anything for writing: a damaged file stops the node
//     with an IntegrityError naming it, and the state dir stays unchanged.
//   - Only current members are peers: the manager API and the Raft
//     transport (internal/raftnet) refuse a removed manager's certificate,
//     checked against the applied cluster record (revoke.go).
//
// # KEK changes
//
// Rotating the unlock key, turning autolock on or off and re-splitting the
// key into Shamir shares all replace the KEK on every manager. The
// invariant: at every instant every manager can be unlocked (or starts on
// its own, autolock off) with a key an operator was shown. A change is a
// state machine recorded in the control group, in the sealed cluster
// record (raftsm.KEKChange: id, coordinator, old and new KEK version, the
// new KEK's key check, the autolock setting, and while it runs the new KEK
// and unlock key or shares):
//
//		none ──prepare──▶ prepared ──commit──▶ switching ──(all hold it)──▶ done (record cleared)
//		                     │ abort, or another request
//		                     ▼
//		                   none
//
//	  - prepared (prepareKEK): the new key is generated and committed; the
//	    API returns it and the CLI prints it before it commits. Nothing uses
//	    the new KEK: the old key opens everything. `--abort`, or a different
//	    request, removes the change.
//	  - switching (CommitKEKChange): the committing manager becomes the
//	    coordinator and pushes the KEK over mutual TLS to every member. A
//	    member takes it only if id, version and key check match the change
//	    it reads from the control group and the push comes from the
//	    coordinator's certificate; it never replaces a KEK it holds for a
//	    change. Taking it, it writes its TLS key sealed under the new KEK to
//	    tls/node.key.next.sealed (and the KEK to kek.next when autolock goes
//	    off). Then every group's keyring is wrapped under both KEKs
//	    (keys.WrappedKeyring.AddWrapping): either key opens everything.
//	  - done: once every member reports that it holds the new KEK and every
//	    group it stores is wrapped under it, the keyring is wrapped under the
//	    new KEK only (with, for rotation and autolock on, a new DEK wrapped
//	    under it alone, then activated), and the cluster record takes the new
//	    setting and key and drops the change. Each manager switches as it
//	    applies that keyring: its TLS key file is replaced by the next one,
//	    and its KEK file written (autolock off) or removed (on).
//
// A restarted manager tries every KEK version its stored keyrings are
// wrapped under; a KEK opens it only if it opens every group, or the group
// is wrapped under an older KEK only (its log brings it forward). So in
// switching it opens with the old or the new key, after done with the new
// one, and kek.next covers autolock off. A manager that missed the push
// (restarted during switching) takes the KEK from the committed record.
// Running the command again resumes a recorded change on any manager,
// showing the same key; a member that is down blocks completion (the
// command names it) but loses nothing. Data keys are not rotated while a
// change is recorded.
package vault
