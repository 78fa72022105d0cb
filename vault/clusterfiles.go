package vault

import (
	"os"
	"path/filepath"

	"github.com/vaultd/vault/internal/statedir"
)

// removeClusterFiles makes the state dir an uninitialized node's again.
func (n *Node) removeClusterFiles() error {
	for _, p := range statedir.ClusterFiles {
		if err := os.RemoveAll(filepath.Join(n.cfg.StateDir, p)); err != nil {
			return err
		}
	}
	return nil
}
