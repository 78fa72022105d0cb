package raftsm

import (
	"fmt"

	"github.com/vaultd/vault/crypto"
)

// Each data version a proposer writes is sealed under a key of its own
// (its data key: 32 random bytes, made for that version and never used for
// anything else), and the data key is kept in the version's VersionInfo,
// inside the secret's record, which is sealed under the DEK. So the DEK
// still protects every value (opening a version needs the record, and the
// record needs the DEK), while a full rotation re-seals only records: a
// data version is written once and never again, whatever the DEKs do.
//
// Nothing is weaker for it. Whoever holds an old DEK and a disk image from
// before the rotation could already open the versions in that image, which
// are the only ones whose data keys that DEK ever sealed; versions written
// later get new data keys, sealed only in records under later DEKs. Once a
// rotation's compaction has removed the old records from disk, an old DEK
// opens nothing on the managers (SECURITY.md, "An old unlock key").
//
// Versions written before data keys existed stay sealed under a DEK (their
// VersionInfo has no key) and are re-sealed under the active DEK by a full
// rotation, as before.

// DataKeyVersion is the key version in the envelope of a data version
// sealed under its own data key. DEK versions count up from 1 and never
// reach it.
const DataKeyVersion uint32 = 0xFFFFFFFF

// UnderDEK reports whether a stored value may be sealed under a DEK, and
// which: everything a DEK rotation must look at. A data version under its
// own data key is not (its key is in the record); a value whose envelope
// does not parse is (version 0), so that a rotation reaches it and says so.
func UnderDEK(sealed []byte) (uint32, bool) {
	v, err := crypto.EnvelopeKeyVersion(sealed)
	if err != nil {
		return 0, true
	}
	return v, v != DataKeyVersion
}

// newDataKey makes a data version's key.
func newDataKey() (*crypto.Key, []byte, error) {
	k, err := crypto.GenerateKey(DataKeyVersion)
	if err != nil {
		return nil, nil, err
	}
	raw, err := crypto.ExportKey(k)
	if err != nil {
		k.Wipe()
		return nil, nil, err
	}
	return k, raw, nil
}

// dataKeySource is the key that opens one data version: its own data key
// when the record holds one, and the DEK ring otherwise.
func dataKeySource(ks crypto.KeySource, v VersionInfo, sealed []byte) (crypto.KeySource, func(), error) {
	kv, err := crypto.EnvelopeKeyVersion(sealed)
	if err != nil {
		return nil, nil, err
	}
	if kv != DataKeyVersion {
		return ks, func() {}, nil
	}
	if len(v.Key) == 0 {
		return nil, nil, fmt.Errorf("raftsm: version %d is sealed under a data key its record does not hold: %w", v.Version, crypto.ErrMalformed)
	}
	k, err := crypto.NewKey(DataKeyVersion, v.Key)
	if err != nil {
		return nil, nil, err
	}
	return k, k.Wipe, nil
}

// Version returns the VersionInfo of version (only its number, when the
// record does not list it).
func (r *SecretRecord) Version(version uint32) VersionInfo {
	for _, v := range r.Versions {
		if v.Version == version {
			return v
		}
	}
	return VersionInfo{Version: version}
}

// WipeKeys clears the data keys r holds.
func (r *SecretRecord) WipeKeys() {
	for i := range r.Versions {
		clear(r.Versions[i].Key)
	}
}
