package vault

import (
	"fmt"

	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/keys"
)

// newKEK makes a random KEK and writes it to the state dir.
func newKEK(dir string, version uint32) (*crypto.Key, error) {
	kek, err := keys.GenerateKEK(version)
	if err != nil {
		return nil, err
	}
	if err := statedir.WriteKEK(dir, statedir.KEKFile, kek); err != nil {
		kek.Wipe()
		return nil, fmt.Errorf("write KEK: %w", err)
	}
	return kek, nil
}
