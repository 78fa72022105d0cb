package statedir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/raftsm"
)

// Errors returned by Open and Dir.ReadKEK. Their texts are the vault
// daemon's, as operators have always read them.
var (
	// ErrNotStateDir means a directory holds no node.json: it is not the
	// state dir of an initialized vault node.
	ErrNotStateDir = errors.New("vault: not a vault state dir")
	// ErrLocked means the state dir has no KEK file: the node is locked and
	// its keyring opens only with the unlock key.
	ErrLocked = errors.New("vault: this node is locked")
)

// Dir is a node's state directory, opened for reading by offline tools
// such as vault-rafttool. It never writes to the directory and takes no
// lock: a running daemon may hold it.
type Dir struct {
	Path string
	Node Node
}

// Open reads the identity of the node whose state dir is path.
// Errors: one wrapping ErrNotStateDir when path is missing, is not a
// directory or has no node.json; a descriptive error for a node.json that
// does not decode.
func Open(path string) (*Dir, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w: %s does not exist", ErrNotStateDir, path)
	case err != nil:
		return nil, err
	case !fi.IsDir():
		return nil, fmt.Errorf("%w: %s is not a directory", ErrNotStateDir, path)
	}
	st, err := ReadNode(path)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, fmt.Errorf("%w: %s has no %s", ErrNotStateDir, path, NodeFile)
	}
	return &Dir{Path: path, Node: *st}, nil
}

// NodeFile is the path of node.json.
func (d *Dir) NodeFile() string { return filepath.Join(d.Path, NodeFile) }

// KEKFile is the path of the KEK file (present while autolock is off).
func (d *Dir) KEKFile() string { return filepath.Join(d.Path, KEKFile) }

// JoinKeyringFile is the path of the keyring a joining node was given,
// kept until its shards have caught up.
func (d *Dir) JoinKeyringFile() string { return filepath.Join(d.Path, JoinKeyringFile) }

// StorePath is the directory of the node's state database (raftsm.Store).
func (d *Dir) StorePath() string { return filepath.Join(d.Path, StoreDir) }

// RaftPath is Dragonboat's NodeHostDir.
func (d *Dir) RaftPath() string { return filepath.Join(d.Path, RaftDir) }

// LogDBPath is the directory that holds Dragonboat's LogDB (logdb-N
// databases) and received snapshots: RaftPath/<hostname>/<%020d deployment id>.
func (d *Dir) LogDBPath() string { return logDBPath(d.Path, &d.Node) }

func logDBPath(dir string, st *Node) string {
	return filepath.Join(dir, RaftDir, st.Hostname, fmt.Sprintf("%020d", st.DeploymentID))
}

// Shards returns the control shard followed by the secret shards.
func (d *Dir) Shards() []uint64 { return AllShards(d.Node.Shards) }

// AllShards returns the control shard followed by secretShards secret shards.
func AllShards(secretShards int) []uint64 {
	return append([]uint64{raftsm.ControlShard}, raftsm.SecretShards(secretShards)...)
}

// ReadKEK reads the KEK file. It returns an error wrapping ErrLocked when
// there is none.
func (d *Dir) ReadKEK() (*crypto.Key, error) {
	k, err := ReadKEK(d.Path, KEKFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s has no %s file", ErrLocked, d.Path, KEKFile)
	}
	return k, err
}
