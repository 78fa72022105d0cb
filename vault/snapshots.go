package vault

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/internal/statedir"
)

// Dragonboat's snapshot file (format version 2): a 1024-byte header, then
// blocks whose payload starts with the client-session table (16 bytes when
// empty, as it always is for on-disk state machines), then what
// SaveSnapshot wrote: for vault, a sealed stream whose header names its key
// version. Snapshots an on-disk state machine takes locally, and received
// ones once recovered ("shrunk"), hold no payload.
const (
	snapHeaderSize  = 1024
	snapSessionSize = 16
	streamHeaderLen = 7 // magic (2), format (1), key version (4)
)

// snapshotKeyVersions counts the snapshot files under the state dir that
// still hold a sealed stream, by the key version of the stream.
func snapshotKeyVersions(stateDir string) (map[uint32]int, error) {
	out := map[uint32]int{}
	root := filepath.Join(stateDir, statedir.RaftDir)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".gbsnap") {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			if os.IsNotExist(err) {
				return nil // removed by Dragonboat while we walked
			}
			return err
		}
		defer f.Close()
		hdr := make([]byte, streamHeaderLen)
		if _, err := f.ReadAt(hdr, snapHeaderSize+snapSessionSize); err != nil {
			if err == io.EOF {
				return nil // no payload: a dummy or shrunk snapshot
			}
			return err
		}
		if v, ok := crypto.StreamKeyVersion(hdr); ok {
			out[v]++
		}
		return nil
	})
	return out, err
}
