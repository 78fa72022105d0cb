package vault

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

func (n *Node) lockStateDir() error {
	f, err := os.OpenFile(filepath.Join(n.cfg.StateDir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("state dir %s is in use by another vault daemon", n.cfg.StateDir)
	}
	n.lock = f
	return nil
}

func (n *Node) unlockStateDir() {
	if n.lock != nil {
		n.lock.Close()
		n.lock = nil
	}
}

func (n *Node) removeClusterFiles() error {
	for _, p := range []string{raftDir, storeDir, kekFile, tlsDir, joinKeyringFile, removedFile} {
		if err := os.RemoveAll(filepath.Join(n.cfg.StateDir, p)); err != nil {
			return err
		}
	}
	return nil
}
