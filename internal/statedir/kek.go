package statedir

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vaultd/vault/crypto"
)

// KEKVersionBase sets KEK versions apart from DEK versions: both name the
// key in an envelope's header, and a KEK's versions count up from here, so
// a reader (an operator's tool, a scan for data under a retired DEK) never
// mistakes one for the other. Operators see KEK versions from 1.
const KEKVersionBase = 1 << 31

// OperatorKEKVersion is a KEK version as operators see it everywhere (status,
// logs, the rafttool): counted from 1. Versions below KEKVersionBase are not
// KEK versions and are returned unchanged.
func OperatorKEKVersion(v uint32) uint32 {
	if v < KEKVersionBase {
		return v
	}
	return v - KEKVersionBase
}

// KEK file: magic, KEK version (uint32 BE), 32 key bytes, with mode 0600.
var kekMagic = []byte("vault-kek\x00\x01")

// WriteKEK writes a KEK file named name (KEKFile, NextKEKFile) in dir.
func WriteKEK(dir, name string, kek *crypto.Key) error {
	raw, err := crypto.ExportKey(kek)
	if err != nil {
		return err
	}
	defer Wipe(raw)
	b := append(append([]byte(nil), kekMagic...), 0, 0, 0, 0)
	binary.BigEndian.PutUint32(b[len(kekMagic):], kek.Version())
	b = append(b, raw...)
	defer Wipe(b)
	return WriteFileAtomic(filepath.Join(dir, name), b, 0o600)
}

// ReadKEK reads the KEK file named name in dir. A missing file is an error
// wrapping fs.ErrNotExist.
func ReadKEK(dir, name string) (*crypto.Key, error) {
	p := filepath.Join(dir, name)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	defer Wipe(b)
	if len(b) != len(kekMagic)+4+crypto.KeySize || string(b[:len(kekMagic)]) != string(kekMagic) {
		return nil, fmt.Errorf("%s: not a vault KEK file (corrupt?)", p)
	}
	v := binary.BigEndian.Uint32(b[len(kekMagic):])
	return crypto.NewKey(v, b[len(kekMagic)+4:])
}
