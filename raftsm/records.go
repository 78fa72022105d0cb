package raftsm

// SecretRecord is a secret's metadata. It is stored sealed (crypto.PurposeValue,
// bound to RecordObject(ID)); the data of each version is sealed separately, so
// listing and inspecting never open secret data.
type SecretRecord struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Labels   map[string]string `json:"labels,omitempty"`
	Created  int64             `json:"created"` // unix nanoseconds
	Updated  int64             `json:"updated"`
	Versions []VersionInfo     `json:"versions"`
	// MaxVersions is how many data versions the secret keeps (0: the
	// cluster's default, ClusterRecord.MaxVersions; 0 there: all).
	MaxVersions int `json:"max_versions,omitempty"`
}

// VersionInfo describes one data version of a secret.
type VersionInfo struct {
	Version uint32 `json:"version"`
	Size    int    `json:"size"`
	Created int64  `json:"created"`
	// Key is the version's data key (see DataKeyVersion); empty for a
	// version sealed under a DEK, written before data keys existed.
	Key []byte `json:"key,omitempty"`
}

// Latest returns the newest version.
func (r *SecretRecord) Latest() VersionInfo {
	if len(r.Versions) == 0 {
		return VersionInfo{}
	}
	return r.Versions[len(r.Versions)-1]
}

// ClusterRecord is the cluster object held by the control shard. It is
// stored sealed; it holds the root CA's private key and the join tokens.
type ClusterRecord struct {
	ID            string            `json:"id"`
	Created       int64             `json:"created"`
	Shards        int               `json:"shards"` // secret shards; their ids are 2..Shards+1
	Autolock      bool              `json:"autolock"`
	Members       []Member          `json:"members"`
	NextReplicaID uint64            `json:"next_replica_id"` // replica ids are never reused
	CACert        []byte            `json:"ca_cert"`         // PEM
	CAKey         []byte            `json:"ca_key"`          // PEM; secret
	Tokens        map[string][]byte `json:"tokens"`          // role -> join token secret
	// UnlockKey is the current unlock key's text while autolock is on and
	// the key is not split into shares (so `vault unlock-key` can show it).
	UnlockKey string `json:"unlock_key,omitempty"`
	KeyShares int    `json:"key_shares,omitempty"` // shares the key was split into (0: not split)

	// Automatic DEK rotation: the control group's leader rotates when the
	// active DEK is older than DEKMaxAge (nanoseconds) or has sealed
	// DEKMaxSeals entries (0: the defaults).
	DEKMaxAge   int64  `json:"dek_max_age,omitempty"`
	DEKMaxSeals uint64 `json:"dek_max_seals,omitempty"`
	// FullRotation is the DEK version a running `vault key rotate --full`
	// re-seals everything under (0: none running). It makes the command
	// resumable: run again, it continues with the same key.
	FullRotation uint32 `json:"full_rotation,omitempty"`
	// MaxVersions is how many data versions a secret keeps unless it has
	// its own limit (0: all).
	MaxVersions int `json:"max_versions,omitempty"`
	// Removed lists the managers taken out of the cluster, for good: their
	// certificates are refused on the manager API and the Raft port, and a
	// removed node that asks learns it was removed. Node ids are never
	// reused.
	Removed []RemovedMember `json:"removed,omitempty"`
	// Clients are the remote operators' certificates (clients.go);
	// RemovedClients those revoked.
	Clients        []Client        `json:"clients,omitempty"`
	RemovedClients []RemovedClient `json:"removed_clients,omitempty"`

	// KEKChange is the KEK change in progress (unlock-key rotation,
	// autolock on or off), nil when none is. See package vault, "KEK
	// changes".
	KEKChange *KEKChange `json:"kek_change,omitempty"`

	Fleet // workers, node labels and grants (grants.go)
}

// KEK change phases. A change that is done is no longer recorded.
const (
	KEKPrepared  = "prepared"  // the new key is recorded and shown; nothing uses it yet
	KEKSwitching = "switching" // managers are taking the new KEK; the keyring is wrapped under both
)

// KEKChange records a KEK change until it is done, so that any manager can
// show its key again and finish it. It holds the new key: it lives only in
// the sealed cluster record and is removed when the change completes.
type KEKChange struct {
	ID          string `json:"id"`
	Phase       string `json:"phase"`
	Coordinator string `json:"coordinator"` // node id of the manager running it (pushes come from it)
	Started     int64  `json:"started"`     // unix nanoseconds
	OldVersion  uint32 `json:"old_version"` // KEK versions (internal numbering)
	NewVersion  uint32 `json:"new_version"`
	Check       []byte `json:"check"` // key check value of the new KEK
	Autolock    bool   `json:"autolock"`
	NewDEK      bool   `json:"new_dek"` // activate a DEK wrapped only under the new KEK at the end
	// The new unlock key's text, or its shares, for autolock; the new KEK
	// itself in every case.
	UnlockKey string   `json:"unlock_key,omitempty"`
	KeyShares int      `json:"key_shares,omitempty"`
	Threshold int      `json:"threshold,omitempty"`
	Shares    []string `json:"shares,omitempty"`
	KEK       []byte   `json:"kek"`
}

// RemovedMember is a manager that was removed from the cluster.
type RemovedMember struct {
	NodeID     string `json:"node_id"`
	CertSerial string `json:"cert_serial,omitempty"` // hex; empty if never recorded
	Removed    int64  `json:"removed"`               // unix nanoseconds
}

// Member is a manager of the cluster.
type Member struct {
	NodeID    string `json:"node_id"`
	ReplicaID uint64 `json:"replica_id"`
	Addr      string `json:"addr"`     // Raft address
	APIAddr   string `json:"api_addr"` // manager API address (mutual TLS)
	Role      string `json:"role"`
	Joined    int64  `json:"joined"`
	// CertSerial is the serial number (hex) of the certificate the node
	// was issued; only that certificate is its identity. Empty for members
	// admitted before it was recorded.
	CertSerial string `json:"cert_serial,omitempty"`
}

// Member returns the member with a node id, or nil.
func (r *ClusterRecord) Member(nodeID string) *Member {
	for i := range r.Members {
		if r.Members[i].NodeID == nodeID {
			return &r.Members[i]
		}
	}
	return nil
}

// ControlShard is the Raft shard id of the control group.
const ControlShard uint64 = 1

// SecretShards returns the shard ids of n secret groups.
func SecretShards(n int) []uint64 {
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = ControlShard + 1 + uint64(i)
	}
	return ids
}
