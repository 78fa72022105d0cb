package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	pb "github.com/lni/dragonboat/v4/raftpb"

	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/internal/logdb"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/keys"
	"github.com/vaultd/vault/raftsm"
)

// The views below are what the tool prints: as JSON with --format json,
// and through text.go otherwise. They hold opened (plaintext) records; the
// secret fields are dataView.Data and clusterView's CA key, join tokens and
// unlock key, which --redact leaves empty.

// entryView is one Raft log entry.
type entryView struct {
	Shard        uint64            `json:"shard"`
	Index        uint64            `json:"index"`
	Term         uint64            `json:"term"`
	Type         string            `json:"type"` // command, empty, config-change, metadata
	Uncommitted  bool              `json:"uncommitted,omitempty"`
	KeyVersion   uint32            `json:"key_version,omitempty"` // the DEK the command is sealed under
	Command      *commandView      `json:"command,omitempty"`
	ConfigChange *configChangeView `json:"config_change,omitempty"`
	Error        string            `json:"error,omitempty"`
}

type commandView struct {
	Op        string       `json:"op"`
	RequestID string       `json:"request_id"`
	Time      time.Time    `json:"time"`
	Keyring   *keyringView `json:"keyring,omitempty"`
	// keyring.set: the keyring's epoch, and the epoch it must replace
	// when ExpectEpoch is set (compare-and-swap).
	KeyringEpoch uint64           `json:"keyring_epoch,omitempty"`
	ExpectEpoch  *uint64          `json:"expect_epoch,omitempty"`
	Cluster      *clusterView     `json:"cluster,omitempty"`
	ClusterGen   uint64           `json:"cluster_gen,omitempty"`
	Secret       *secretWriteView `json:"secret,omitempty"`
	// secret.reseal-batch: its re-seals, in order.
	Secrets []*secretWriteView `json:"secrets,omitempty"`
	Error   string             `json:"error,omitempty"`
}

type secretWriteView struct {
	ID        string      `json:"id"`
	Name      string      `json:"name,omitempty"` // from the record, or learned from an earlier one
	NameMAC   string      `json:"name_mac"`
	ExpectGen uint64      `json:"expect_gen,omitempty"`
	Record    *secretView `json:"record,omitempty"`
	Data      *dataView   `json:"data,omitempty"`
	Resealed  []*dataView `json:"resealed,omitempty"` // secret.reseal: every version, under the active DEK
	Error     string      `json:"error,omitempty"`
}

type secretView struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Labels     map[string]string `json:"labels,omitempty"`
	Created    time.Time         `json:"created"`
	Updated    time.Time         `json:"updated"`
	Versions   []versionView     `json:"versions"`
	KeyVersion uint32            `json:"key_version"` // the DEK the record is sealed under
}

type versionView struct {
	Version uint32    `json:"version"`
	Size    int       `json:"size"`
	Created time.Time `json:"created"`
}

type dataView struct {
	Version    uint32 `json:"version"`
	Size       int    `json:"size"`
	KeyVersion uint32 `json:"key_version"` // 0 when DataKey
	// DataKey: sealed under the version's own data key, which its record
	// (under the record's DEK) holds.
	DataKey  bool   `json:"data_key,omitempty"`
	Data     []byte `json:"data,omitempty"`
	Redacted bool   `json:"redacted,omitempty"`
	Error    string `json:"error,omitempty"`
}

type keyringView struct {
	KEKVersion uint32    `json:"kek_version"`
	Active     uint32    `json:"active_dek"`
	DEKs       []dekView `json:"deks"`
	Error      string    `json:"error,omitempty"` // it does not decode, or does not open
	Note       string    `json:"note,omitempty"`
}

type dekView struct {
	Version uint32    `json:"version"`
	State   string    `json:"state"`
	Created time.Time `json:"created"`
	Seals   uint64    `json:"seals"`
}

type clusterView struct {
	ID            string            `json:"id"`
	Gen           uint64            `json:"gen,omitempty"`
	Created       time.Time         `json:"created"`
	Shards        int               `json:"shards"`
	Autolock      bool              `json:"autolock"`
	Members       []memberView      `json:"members"`
	NextReplicaID uint64            `json:"next_replica_id,omitempty"`
	CACert        string            `json:"ca_cert,omitempty"`
	CAKey         string            `json:"ca_key,omitempty"`
	Tokens        map[string]string `json:"tokens,omitempty"`     // role -> token secret (hex)
	UnlockKey     string            `json:"unlock_key,omitempty"` // kept while autolock is on and the key is whole
	KeyShares     int               `json:"key_shares,omitempty"`
	DEKMaxAge     time.Duration     `json:"dek_max_age,omitempty"`
	DEKMaxSeals   uint64            `json:"dek_max_seals,omitempty"`
	FullRotation  uint32            `json:"full_rotation,omitempty"` // the DEK a running full rotation re-seals under
	Redacted      bool              `json:"redacted,omitempty"`      // the CA key, join tokens and unlock key are left out
	KeyVersion    uint32            `json:"key_version"`
}

type memberView struct {
	NodeID    string    `json:"node_id"`
	ReplicaID uint64    `json:"replica_id"`
	Addr      string    `json:"addr"`
	APIAddr   string    `json:"api_addr,omitempty"`
	Role      string    `json:"role,omitempty"`
	Joined    time.Time `json:"joined,omitzero"`
}

type configChangeView struct {
	ID         uint64 `json:"id"`
	Type       string `json:"type"`
	ReplicaID  uint64 `json:"replica_id"`
	Address    string `json:"address,omitempty"`
	Initialize bool   `json:"initialize,omitempty"`
}

// viewer opens sealed records into views. It learns secret names as it
// goes, so a removal (which carries only the id) can be shown by name.
type viewer struct {
	keys   *keyset
	redact bool
	names  map[string]string // secret id -> name
	// versions holds, per secret id, the versions (and their data keys)
	// of the last record opened: a data version opens under its key.
	versions map[string][]raftsm.VersionInfo
	// learn, when set, is asked once per shard for the names of the
	// secrets in its state, when an id's name is not known yet.
	learn   func(v *viewer, shard uint64)
	learned map[uint64]bool
}

func newViewer(k *keyset, redact bool) *viewer {
	return &viewer{keys: k, redact: redact, names: map[string]string{}, versions: map[string][]raftsm.VersionInfo{}, learned: map[uint64]bool{}}
}

// nameOf returns a secret's name, or "" when no record of it was seen.
func (v *viewer) nameOf(shard uint64, id string) string {
	if n, ok := v.names[id]; ok {
		return n
	}
	if v.learn != nil && !v.learned[shard] {
		v.learned[shard] = true
		v.learn(v, shard)
	}
	return v.names[id]
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// entry decodes one log entry of shard, opening its command.
func (v *viewer) entry(shard uint64, e pb.Entry, commit uint64) *entryView {
	ev := &entryView{Shard: shard, Index: e.Index, Term: e.Term, Uncommitted: e.Index > commit}
	switch e.Type {
	case pb.ConfigChangeEntry:
		ev.Type = "config-change"
		cc, err := logdb.DecodeConfigChange(e)
		if err != nil {
			ev.Error = err.Error()
			return ev
		}
		ev.ConfigChange = &configChangeView{ID: cc.ConfigChangeId, Type: cc.Type.String(), ReplicaID: cc.ReplicaID, Address: cc.Address, Initialize: cc.Initialize}
		return ev
	case pb.MetadataEntry:
		ev.Type = "metadata"
		return ev
	}
	cmd, err := logdb.Payload(e)
	if err != nil {
		ev.Type = "command"
		ev.Error = err.Error()
		return ev
	}
	if len(cmd) == 0 {
		ev.Type = "empty"
		return ev
	}
	ev.Type = "command"
	c, kv, err := raftsm.OpenCommand(v.keys, shard, cmd)
	ev.KeyVersion = kv
	if err != nil {
		ev.Error = openError(err)
		return ev
	}
	ev.Command = v.command(shard, c)
	return ev
}

// openError words a failure to open a sealed record for the operator.
func openError(err error) string {
	switch {
	case errors.Is(err, crypto.ErrUnknownKeyVersion):
		return "cannot open: " + err.Error()
	case crypto.IsIntegrityError(err):
		return "integrity check failed (damaged, or moved from elsewhere): " + err.Error()
	}
	return err.Error()
}

// command turns an opened command into its view, opening what it carries.
func (v *viewer) command(shard uint64, c *raftsm.Command) *commandView {
	cv := &commandView{Op: string(c.Op), RequestID: hex.EncodeToString(c.RequestID), Time: unixTime(c.Time), ClusterGen: c.ClusterGen}
	switch c.Op {
	case raftsm.OpKeyringSet:
		cv.Keyring = v.keyring(c.Keyring)
		cv.KeyringEpoch = c.KeyringEpoch
		if c.KeyringCAS {
			e := c.ExpectEpoch
			cv.ExpectEpoch = &e
		}
	case raftsm.OpClusterSet:
		cl, err := v.cluster(shard, c.Cluster)
		if err != nil {
			cv.Error = "cluster record: " + openError(err)
		}
		cv.Cluster = cl
	case raftsm.OpSecretCreate, raftsm.OpSecretUpdate, raftsm.OpSecretRemove, raftsm.OpSecretReseal:
		cv.Secret = v.secretWrite(shard, c.Secret)
	case raftsm.OpSecretResealBatch:
		for _, w := range c.Secrets {
			cv.Secrets = append(cv.Secrets, v.secretWrite(shard, w))
		}
	}
	return cv
}

// secretWrite turns a secret write into its view, opening what it carries.
func (v *viewer) secretWrite(shard uint64, w *raftsm.SecretWrite) *secretWriteView {
	sv := &secretWriteView{ID: w.ID, NameMAC: hex.EncodeToString(w.NameMAC), ExpectGen: w.ExpectGen}
	if len(w.Record) > 0 {
		rec, err := v.record(shard, w.ID, w.Record)
		if err != nil {
			sv.Error = "record: " + openError(err)
		} else {
			sv.Record = rec
			sv.Name = rec.Name
		}
	}
	if sv.Name == "" {
		sv.Name = v.nameOf(shard, w.ID)
	}
	if w.Version != 0 {
		sv.Data = v.data(shard, w.ID, w.Version, w.Data)
	}
	for _, d := range w.Resealed {
		sv.Resealed = append(sv.Resealed, v.data(shard, w.ID, d.Version, d.Data))
	}
	return sv
}

// keyring decodes a wrapped keyring and adds its DEKs to the key set. A
// keyring wrapped under a KEK that is no longer at hand (one from before a
// KEK change) is noted, not an error: its DEKs come from newer keyrings,
// and an entry that needs one it lacks says so itself.
func (v *viewer) keyring(b []byte) *keyringView {
	kv := keyringOf(b)
	if kv.Error != "" {
		return kv
	}
	switch err := v.keys.add(b); {
	case err == nil:
	case errors.Is(err, keys.ErrWrongKey), errors.Is(err, errKEKVersion):
		kv.Note = fmt.Sprintf("not opened: the KEK v%d it is wrapped under is not at hand (replaced since?)", kv.KEKVersion)
	default:
		kv.Error = "does not open: " + err.Error()
	}
	return kv
}

// keyringOf describes a wrapped keyring without opening it.
func keyringOf(b []byte) *keyringView {
	w, err := keys.UnmarshalWrappedKeyring(b)
	if err != nil {
		return &keyringView{Error: err.Error()}
	}
	kv := &keyringView{KEKVersion: statedir.OperatorKEKVersion(w.KEKVersion), Active: w.Active()}
	for _, d := range w.DEKs {
		kv.DEKs = append(kv.DEKs, dekView{Version: d.Version, State: d.State.String(), Created: unixTime(d.Created), Seals: d.Seals})
	}
	return kv
}

// record opens a sealed secret record.
func (v *viewer) record(shard uint64, id string, sealed []byte) (*secretView, error) {
	kv, _ := crypto.EnvelopeKeyVersion(sealed)
	r, err := raftsm.OpenRecord(v.keys, shard, id, sealed)
	if err != nil {
		return nil, err
	}
	v.names[id] = r.Name
	v.versions[id] = r.Versions
	sv := &secretView{ID: r.ID, Name: r.Name, Labels: r.Labels, Created: unixTime(r.Created), Updated: unixTime(r.Updated), KeyVersion: kv}
	for _, ver := range r.Versions {
		sv.Versions = append(sv.Versions, versionView{Version: ver.Version, Size: ver.Size, Created: unixTime(ver.Created)})
	}
	return sv, nil
}

// data opens one sealed data version; with redact only its size is kept.
func (v *viewer) data(shard uint64, id string, version uint32, sealed []byte) *dataView {
	dv := &dataView{Version: version, Size: max(len(sealed)-crypto.Overhead, 0)}
	dv.KeyVersion, _ = crypto.EnvelopeKeyVersion(sealed)
	if dv.KeyVersion == raftsm.DataKeyVersion {
		dv.KeyVersion, dv.DataKey = 0, true
	}
	rec := raftsm.SecretRecord{Versions: v.versions[id]}
	b, err := raftsm.OpenData(v.keys, shard, id, rec.Version(version), sealed)
	if err != nil {
		dv.Error = openError(err)
		return dv
	}
	dv.Size = len(b)
	if v.redact {
		clear(b)
		dv.Redacted = true
	} else {
		dv.Data = b
	}
	return dv
}

// cluster opens the sealed cluster record.
func (v *viewer) cluster(shard uint64, sealed []byte) (*clusterView, error) {
	kv, _ := crypto.EnvelopeKeyVersion(sealed)
	b, err := crypto.Open(v.keys, raftsm.ValueBinding(shard, raftsm.ClusterObject), sealed)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	var r raftsm.ClusterRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("cluster record does not decode: %w", err)
	}
	cv := &clusterView{
		ID: r.ID, Created: unixTime(r.Created), Shards: r.Shards, Autolock: r.Autolock,
		NextReplicaID: r.NextReplicaID, CACert: string(r.CACert), KeyVersion: kv,
		KeyShares: r.KeyShares, DEKMaxAge: time.Duration(r.DEKMaxAge), DEKMaxSeals: r.DEKMaxSeals, FullRotation: r.FullRotation,
	}
	for _, m := range r.Members {
		cv.Members = append(cv.Members, memberView{NodeID: m.NodeID, ReplicaID: m.ReplicaID, Addr: m.Addr, APIAddr: m.APIAddr, Role: m.Role, Joined: unixTime(m.Joined)})
	}
	if v.redact {
		cv.Redacted = len(r.CAKey) > 0 || len(r.Tokens) > 0 || r.UnlockKey != ""
	} else {
		cv.CAKey, cv.UnlockKey = string(r.CAKey), r.UnlockKey
		for role, t := range r.Tokens {
			if cv.Tokens == nil {
				cv.Tokens = map[string]string{}
			}
			cv.Tokens[role] = hex.EncodeToString(t)
		}
	}
	clear(r.CAKey)
	return cv, nil
}

// storedCluster opens a cluster value as stored: gen(8) || sealed record.
func (v *viewer) storedCluster(shard uint64, value []byte) (*clusterView, error) {
	gen, sealed, err := raftsm.DecodeGenValue(value)
	if err != nil {
		return nil, err
	}
	cv, err := v.cluster(shard, sealed)
	if err != nil {
		return nil, err
	}
	cv.Gen = gen
	return cv, nil
}
