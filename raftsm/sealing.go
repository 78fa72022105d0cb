package raftsm

import (
	"encoding/json"
	"fmt"

	"github.com/vaultd/vault/crypto"
)

// Stored values (a secret's record, each data version of it, the cluster
// record) are sealed by the proposer, never by the state machine, which
// stores them as they come. This file is the one place that knows how each
// is bound (crypto.PurposeValue, the shard, and the object's identity) and
// encoded: a ciphertext moved to another shard, secret or version does not
// open. The plaintext encodings these functions make or open (a record's
// JSON holds the secret's name) are wiped before they return.

// RecordObject is the identity a secret's sealed record is bound to.
func RecordObject(id string) []byte { return []byte("secret/" + id) }

// DataObject is the identity a secret's sealed data version is bound to.
func DataObject(id string, version uint32) []byte {
	return []byte(fmt.Sprintf("secret/%s/v%d", id, version))
}

// ClusterObject is the identity the sealed cluster record is bound to.
var ClusterObject = []byte("cluster")

// ValueBinding is the associated data of a stored value in shard.
func ValueBinding(shard uint64, object []byte) crypto.Binding {
	return crypto.Binding{Purpose: crypto.PurposeValue, Shard: shard, Object: object}
}

// SealRecord seals a secret's record under k for shard.
func SealRecord(k *crypto.Key, shard uint64, rec *SecretRecord) ([]byte, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	defer clear(b) // it holds the secret's name
	return crypto.Seal(k, ValueBinding(shard, RecordObject(rec.ID)), b)
}

// OpenRecord opens the sealed record of secret id in shard.
func OpenRecord(ks crypto.KeySource, shard uint64, id string, sealed []byte) (*SecretRecord, error) {
	b, err := crypto.Open(ks, ValueBinding(shard, RecordObject(id)), sealed)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	var rec SecretRecord
	if err := DecodeRecord(b, &rec); err != nil {
		return nil, fmt.Errorf("raftsm: decode record of secret %s: %v: %w", id, err, crypto.ErrMalformed)
	}
	if rec.ID != id {
		return nil, fmt.Errorf("raftsm: record of secret %q is stored under id %q: %w", rec.ID, id, crypto.ErrMalformed)
	}
	return &rec, nil
}

// SealData seals version of secret id's data under k for shard: a DEK
// for a version without a data key, its data key otherwise.
func SealData(k *crypto.Key, shard uint64, id string, version uint32, data []byte) ([]byte, error) {
	return crypto.Seal(k, ValueBinding(shard, DataObject(id, version)), data)
}

// OpenData opens version v of secret id's data in shard, under v's data
// key or, for a version without one, under the DEK ring ks. The caller
// wipes the plaintext it returns.
func OpenData(ks crypto.KeySource, shard uint64, id string, v VersionInfo, sealed []byte) ([]byte, error) {
	k, wipe, err := dataKeySource(ks, v, sealed)
	if err != nil {
		return nil, err
	}
	defer wipe()
	return crypto.Open(k, ValueBinding(shard, DataObject(id, v.Version)), sealed)
}

// SealSecretWrite is the SecretWrite of a create or update: rec sealed,
// and data (when not nil) sealed as rec's latest version under a new data
// key, which it puts in rec's latest VersionInfo first. expectGen is the
// generation read (0 for a create).
func SealSecretWrite(k *crypto.Key, shard uint64, nameMAC []byte, rec *SecretRecord, expectGen uint64, data []byte) (*SecretWrite, error) {
	w := &SecretWrite{ID: rec.ID, NameMAC: nameMAC, ExpectGen: expectGen}
	var err error
	if data != nil && len(rec.Versions) > 0 {
		dk, raw, err := newDataKey()
		if err != nil {
			return nil, err
		}
		w.Version = rec.Latest().Version
		w.Data, err = SealData(dk, shard, rec.ID, w.Version, data)
		dk.Wipe()
		if err != nil {
			clear(raw)
			return nil, err
		}
		rec.Versions[len(rec.Versions)-1].Key = raw
	}
	if w.Record, err = SealRecord(k, shard, rec); err != nil {
		return nil, err
	}
	return w, nil
}

// SealCluster seals the cluster record under k (control shard).
func SealCluster(k *crypto.Key, rec *ClusterRecord) ([]byte, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	defer clear(b) // it holds the CA's key and the join tokens
	return crypto.Seal(k, ValueBinding(ControlShard, ClusterObject), b)
}

// OpenCluster opens the sealed cluster record.
func OpenCluster(ks crypto.KeySource, sealed []byte) (*ClusterRecord, error) {
	b, err := crypto.Open(ks, ValueBinding(ControlShard, ClusterObject), sealed)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	var rec ClusterRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("raftsm: decode cluster record: %v: %w", err, crypto.ErrMalformed)
	}
	return &rec, nil
}
