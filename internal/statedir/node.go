package statedir

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
)

// Node is node.json: who a node is. It holds no key material.
type Node struct {
	Format       int    `json:"format"`
	NodeID       string `json:"node_id"`
	ReplicaID    uint64 `json:"replica_id"`
	ClusterID    string `json:"cluster_id"`
	RaftAddr     string `json:"raft_addr"`
	APIAddr      string `json:"api_addr"`
	Hostname     string `json:"hostname"`
	Shards       int    `json:"shards"`
	DeploymentID uint64 `json:"deployment_id"`
	// RaftWorkers is how many step workers (and LogDB databases) Dragonboat
	// runs: fixed when the node is created, because Dragonboat places each
	// group's log by it and refuses to open a LogDB made with another value.
	// Zero: a node made before it was recorded, which used Dragonboat's 16.
	RaftWorkers uint64 `json:"raft_workers,omitempty"`
}

// LegacyRaftWorkers is Dragonboat's default, used by nodes created before
// the count was recorded in node.json.
const LegacyRaftWorkers = 16

// Workers is the node's Dragonboat step worker count (see RaftWorkers).
func (s *Node) Workers() uint64 {
	if s.RaftWorkers == 0 {
		return LegacyRaftWorkers
	}
	return s.RaftWorkers
}

// ReadNode reads dir's node.json. It returns nil and no error when there is
// none (an uninitialized node), and an *IntegrityError when it does not
// decode or is not a vault node file.
func ReadNode(dir string) (*Node, error) {
	b, err := os.ReadFile(filepath.Join(dir, NodeFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s Node
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, integrityError(filepath.Join(dir, NodeFile), "%v", err)
	}
	if s.Format != 1 || s.NodeID == "" || s.ClusterID == "" || s.Shards < 1 || s.ReplicaID == 0 {
		return nil, integrityError(filepath.Join(dir, NodeFile), "not a vault node file (format %d)", s.Format)
	}
	return &s, nil
}

// WriteNode writes dir's node.json.
func WriteNode(dir string, s *Node) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, NodeFile), append(b, '\n'), 0o600)
}

// DeploymentID keeps Raft traffic of different clusters apart: it derives
// from the cluster id.
func DeploymentID(clusterID string) uint64 {
	sum := sha256.Sum256([]byte("vault/deployment/" + clusterID))
	return binary.BigEndian.Uint64(sum[:8])&(1<<63-1) | 1
}
