package statedir

// The state directory's layout, relative to its root.
const (
	NodeFile = "node.json" // identity (Node), written last by init
	KEKFile  = "kek"       // the KEK while autolock is off
	// NextKEKFile is the next KEK of a KEK change turning autolock off,
	// kept until every group is wrapped under it.
	NextKEKFile = "kek.next"
	StoreDir    = "state" // the Pebble database of every shard (raftsm.Store)
	RaftDir     = "raft"  // Dragonboat's NodeHostDir (Raft logs)
	LockFile    = "vault.lock"
	// JoinKeyringFile is the wrapped keyring a joining node received (sealed
	// under the KEK), used until its shards have caught up.
	JoinKeyringFile = "keyring.join"
	// RemovedFile marks a node removed from its cluster.
	RemovedFile = "removed"

	// TLSDir holds the TLS material: the CA and node certificates, and
	// the node's private key sealed under the KEK.
	TLSDir       = "tls"
	CACertFile   = "ca.crt"
	NodeCertFile = "node.crt"
	NodeKeyFile  = "node.key.sealed"
	// NodeKeyNextFile is the node key sealed under the next KEK of a KEK
	// change.
	NodeKeyNextFile = "node.key.next.sealed"

	// Mode is the mode of the state dir and every directory under it.
	Mode = 0o700
)

// ClusterFiles are the files and directories that make a node part of a
// cluster: removing them (with node.json absent) makes it uninitialized.
var ClusterFiles = []string{RaftDir, StoreDir, KEKFile, TLSDir, JoinKeyringFile, RemovedFile}
