package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/vaultd/vault/crypto"
)

// Errors returned by OpenStateDir and StateDir.ReadKEK.
var (
	// ErrNotStateDir means a directory holds no node.json: it is not the
	// state dir of an initialized vault node.
	ErrNotStateDir = errors.New("vault: not a vault state dir")
	// ErrLocked means the state dir has no KEK file: the node is locked and
	// its keyring opens only with the unlock key.
	ErrLocked = errors.New("vault: this node is locked")
)

// StateDir is a node's state directory, opened for reading by offline tools
// such as vault-rafttool. It never writes to the directory and takes no
// lock: a running daemon may hold it.
type StateDir struct {
	Path string
	Node NodeIdentity
}

// NodeIdentity is what node.json says about a node. It holds no key material.
type NodeIdentity struct {
	NodeID       string `json:"node_id"`
	ReplicaID    uint64 `json:"replica_id"`
	ClusterID    string `json:"cluster_id"`
	RaftAddr     string `json:"raft_addr"`
	APIAddr      string `json:"api_addr,omitempty"`
	Hostname     string `json:"hostname"`
	Shards       int    `json:"shards"`
	DeploymentID uint64 `json:"deployment_id"`
}

// OpenStateDir reads the identity of the node whose state dir is path.
// Errors: one wrapping ErrNotStateDir when path is missing, is not a
// directory or has no node.json; a descriptive error for a node.json that
// does not decode.
func OpenStateDir(path string) (*StateDir, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w: %s does not exist", ErrNotStateDir, path)
	case err != nil:
		return nil, err
	case !fi.IsDir():
		return nil, fmt.Errorf("%w: %s is not a directory", ErrNotStateDir, path)
	}
	st, err := readNodeState(path)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, fmt.Errorf("%w: %s has no %s", ErrNotStateDir, path, nodeFile)
	}
	return &StateDir{Path: path, Node: NodeIdentity{
		NodeID:       st.NodeID,
		ReplicaID:    st.ReplicaID,
		ClusterID:    st.ClusterID,
		RaftAddr:     st.RaftAddr,
		APIAddr:      st.APIAddr,
		Hostname:     st.Hostname,
		Shards:       st.Shards,
		DeploymentID: st.DeploymentID,
	}}, nil
}

// NodeFile is the path of node.json.
func (d *StateDir) NodeFile() string { return filepath.Join(d.Path, nodeFile) }

// KEKFile is the path of the KEK file (present while autolock is off).
func (d *StateDir) KEKFile() string { return filepath.Join(d.Path, kekFile) }

// JoinKeyringFile is the path of the keyring a joining node was given,
// kept until its shards have caught up.
func (d *StateDir) JoinKeyringFile() string { return filepath.Join(d.Path, joinKeyringFile) }

// StorePath is the directory of the node's state database (raftsm.Store).
func (d *StateDir) StorePath() string { return filepath.Join(d.Path, storeDir) }

// RaftPath is Dragonboat's NodeHostDir.
func (d *StateDir) RaftPath() string { return filepath.Join(d.Path, raftDir) }

// LogDBPath is the directory that holds Dragonboat's LogDB (logdb-N
// databases) and received snapshots: RaftPath/<hostname>/<%020d deployment id>.
func (d *StateDir) LogDBPath() string {
	return filepath.Join(d.RaftPath(), d.Node.Hostname, fmt.Sprintf("%020d", d.Node.DeploymentID))
}

// Shards returns the control shard followed by the secret shards.
func (d *StateDir) Shards() []uint64 { return allShards(d.Node.Shards) }

// ReadKEK reads the KEK file. It returns an error wrapping ErrLocked when
// there is none.
func (d *StateDir) ReadKEK() (*crypto.Key, error) {
	k, err := readKEKFile(d.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s has no %s file", ErrLocked, d.Path, kekFile)
	}
	return k, err
}

// secureStateDir makes the state dir and every directory under it 0700,
// whatever made them: an operator's `mkdir` (0755 by default), a restore
// from a backup, an older version. Files inside are 0600 as written, but a
// readable directory still shows names, sizes and times, and a directory
// others can enter is one step from a file made readable by mistake.
// Symbolic links are not followed. Start runs it once the state dir passed
// its integrity check: a start refused for a damaged file changes nothing.
func secureStateDir(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode().Perm() != stateMode {
			if err := os.Chmod(p, stateMode); err != nil {
				return fmt.Errorf("state dir: %w", err)
			}
		}
		return nil
	})
}
