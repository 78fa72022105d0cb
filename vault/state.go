package vault

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/keys"
)

// State directory layout.
const (
	nodeFile = "node.json" // identity, written last by init
	kekFile  = "kek"       // the KEK while autolock is off
	storeDir = "state"     // the Pebble database of every shard
	raftDir  = "raft"      // Dragonboat's NodeHostDir (Raft logs)
	lockFile = "vault.lock"
	// joinKeyringFile is the wrapped keyring a joining node received (sealed
	// under the KEK), used until its shards have caught up.
	joinKeyringFile = "keyring.join"
	stateMode       = 0o700
)

// kekVersionBase sets KEK versions apart from DEK versions: both name the
// key in an envelope's header, and a KEK's versions count up from here, so
// a reader (an operator's tool, a scan for data under a retired DEK) never
// mistakes one for the other. Operators see KEK versions from 1.
const kekVersionBase = 1 << 31

// OperatorKEKVersion is a KEK version as operators see it everywhere (status,
// logs, the rafttool): counted from 1. Versions below kekVersionBase are not
// KEK versions and are returned unchanged.
func OperatorKEKVersion(v uint32) uint32 {
	if v < kekVersionBase {
		return v
	}
	return v - kekVersionBase
}

// nodeState is node.json: who this node is. It holds no key material.
type nodeState struct {
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

// raftWorkers is the node's Dragonboat step worker count (see RaftWorkers).
func (s *nodeState) raftWorkers() uint64 {
	if s.RaftWorkers == 0 {
		return legacyRaftWorkers
	}
	return s.RaftWorkers
}

func readNodeState(dir string) (*nodeState, error) {
	b, err := os.ReadFile(filepath.Join(dir, nodeFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s nodeState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, integrityError(filepath.Join(dir, nodeFile), "%v", err)
	}
	if s.Format != 1 || s.NodeID == "" || s.ClusterID == "" || s.Shards < 1 || s.ReplicaID == 0 {
		return nil, integrityError(filepath.Join(dir, nodeFile), "not a vault node file (format %d)", s.Format)
	}
	return &s, nil
}

func writeNodeState(dir string, s *nodeState) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, nodeFile), append(b, '\n'), 0o600)
}

// KEK file: magic, KEK version (uint32 BE), 32 key bytes, with mode 0600.
var kekMagic = []byte("vault-kek\x00\x01")

func writeKEKFile(dir string, kek *crypto.Key) error {
	return writeKEKFileAs(dir, kekFile, kek)
}

// writeKEKFileAs writes a KEK file under another name (kek.next).
func writeKEKFileAs(dir, name string, kek *crypto.Key) error {
	raw, err := crypto.ExportKey(kek)
	if err != nil {
		return err
	}
	defer wipe(raw)
	b := append(append([]byte(nil), kekMagic...), 0, 0, 0, 0)
	binary.BigEndian.PutUint32(b[len(kekMagic):], kek.Version())
	b = append(b, raw...)
	defer wipe(b)
	return writeFileAtomic(filepath.Join(dir, name), b, 0o600)
}

func readKEKFile(dir string) (*crypto.Key, error) {
	return readKEKFileAs(dir, kekFile)
}

func readKEKFileAs(dir, name string) (*crypto.Key, error) {
	p := filepath.Join(dir, name)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	defer wipe(b)
	if len(b) != len(kekMagic)+4+crypto.KeySize || string(b[:len(kekMagic)]) != string(kekMagic) {
		return nil, fmt.Errorf("%s: not a vault KEK file (corrupt?)", p)
	}
	v := binary.BigEndian.Uint32(b[len(kekMagic):])
	return crypto.NewKey(v, b[len(kekMagic)+4:])
}

// newKEK makes a random KEK and writes it to the state dir.
func newKEK(dir string, version uint32) (*crypto.Key, error) {
	kek, err := keys.GenerateKEK(version)
	if err != nil {
		return nil, err
	}
	if err := writeKEKFile(dir, kek); err != nil {
		kek.Wipe()
		return nil, fmt.Errorf("write KEK: %w", err)
	}
	return kek, nil
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

// writeFileAtomic writes through a temporary file, fsyncs, renames, and
// fsyncs the directory, so a crash leaves the old or the new file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
