package statedir

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/vaultd/vault/crypto"
)

// nodeKeyBinding binds a sealed node key to its purpose.
const nodeKeyBinding = "node.key"

func nodeKeyBind() crypto.Binding {
	return crypto.Binding{Purpose: crypto.PurposeFile, Object: []byte(nodeKeyBinding)}
}

// SealNodeKey stores the node key sealed under kek as TLSDir/name.
func SealNodeKey(stateDir, name string, kek *crypto.Key, keyPEM []byte) error {
	sealed, err := crypto.Seal(kek, nodeKeyBind(), keyPEM)
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(stateDir, TLSDir, name), sealed, 0o600)
}

// OpenNodeKey opens the node key in tlsDir sealed under kek: the node key
// file, or during a KEK change the one sealed under the next KEK. A key
// sealed under another version only is an error wrapping
// crypto.ErrUnknownKeyVersion.
func OpenNodeKey(tlsDir string, kek *crypto.Key) ([]byte, error) {
	var firstErr error
	for _, name := range []string{NodeKeyFile, NodeKeyNextFile} {
		sealed, err := os.ReadFile(filepath.Join(tlsDir, name))
		if err != nil {
			if name == NodeKeyFile {
				firstErr = fmt.Errorf("TLS material: %w", err)
			}
			continue
		}
		if v, err := crypto.EnvelopeKeyVersion(sealed); err == nil && v != kek.Version() {
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", filepath.Join(tlsDir, name), crypto.ErrUnknownKeyVersion)
			}
			continue
		}
		keyPEM, err := crypto.Open(kek, nodeKeyBind(), sealed)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(tlsDir, name), err)
		}
		return keyPEM, nil
	}
	return nil, firstErr
}
