package raftsm

import (
	"errors"
	"fmt"

	pb "github.com/lni/dragonboat/v4/raftpb"

	"github.com/vaultd/vault/crypto"
)

// Op names a state machine operation.
type Op string

const (
	// OpKeyringSet replaces the shard's wrapped keyring with a newer one (by
	// KeyringEpoch). It introduces DEK versions into a shard's log before
	// any entry is sealed with them.
	OpKeyringSet Op = "keyring.set"
	// OpClusterSet replaces the sealed cluster record (control shard only)
	// if its generation is still ClusterGen.
	OpClusterSet Op = "cluster.set"
	// OpSecretCreate creates a secret; its name must not exist.
	OpSecretCreate Op = "secret.create"
	// OpSecretUpdate writes a new record (and optionally a new data version)
	// for an existing secret whose generation matches.
	OpSecretUpdate Op = "secret.update"
	// OpSecretRemove removes a secret, its name index and every data version.
	OpSecretRemove Op = "secret.rm"
	// OpSecretReseal replaces a secret's record and data versions with the
	// same contents sealed under the active DEK (full key rotation).
	OpSecretReseal Op = "secret.reseal"
	// OpSecretResealBatch carries many re-seals (Secrets), each applied
	// exactly as an OpSecretReseal would apply it. Result.Value is ResultOK
	// and Result.Data how many applied (8 bytes, big-endian); the others
	// were changed or removed since they were read. Full rotation proposes a page's re-seals in a few entries
	// instead of one entry each.
	OpSecretResealBatch Op = "secret.reseal-batch"
)

// Bounds of a secret.reseal-batch: it stays one modest Raft entry.
const (
	MaxResealBatch      = 1024
	MaxResealBatchBytes = 1 << 20
)

// Command is one Raft log entry before sealing. Everything random or
// time-dependent is chosen by the proposer, so Update is deterministic.
type Command struct {
	Op        Op     `json:"op"`
	RequestID []byte `json:"req"`  // 16 random bytes: a retried proposal applies once
	Time      int64  `json:"time"` // proposer's clock, unix nanoseconds

	Keyring []byte `json:"keyring,omitempty"` // keys.WrappedKeyring, marshalled
	// KeyringEpoch numbers keyring versions; a shard keeps the newest.
	KeyringEpoch uint64 `json:"keyring_epoch,omitempty"`
	// KeyringCAS makes keyring.set apply only if the shard's epoch is
	// ExpectEpoch (the control group serializes key operations this way).
	KeyringCAS  bool         `json:"keyring_cas,omitempty"`
	ExpectEpoch uint64       `json:"expect_epoch,omitempty"`
	Cluster     []byte       `json:"cluster,omitempty"`     // sealed ClusterRecord
	ClusterGen  uint64       `json:"cluster_gen,omitempty"` // cluster.set: the generation read (0: none yet)
	Secret      *SecretWrite `json:"secret,omitempty"`
	// Secrets carries the re-seals of a secret.reseal-batch.
	Secrets []*SecretWrite `json:"secrets,omitempty"`
}

// SecretWrite carries a secret mutation. Record and Data are sealed by the
// proposer (crypto.PurposeValue, bound to the shard and to RecordObject /
// DataObject), so the state machine stores them without opening them.
type SecretWrite struct {
	ID        string `json:"id"`
	NameMAC   []byte `json:"name_mac"`
	ExpectGen uint64 `json:"expect_gen,omitempty"` // update/rm: the generation read
	Record    []byte `json:"record,omitempty"`
	Version   uint32 `json:"version,omitempty"` // the data version Data holds
	Data      []byte `json:"data,omitempty"`
	// Resealed carries re-sealed data versions (secret.reseal).
	Resealed []DataVersion `json:"resealed,omitempty"`
	// PruneBelow (secret.update) removes every data version below it: the
	// secret keeps at most its version limit (vault's --max-versions). The
	// proposer drops them from the record it seals.
	PruneBelow uint32 `json:"prune_below,omitempty"`
}

// Size is about how many bytes w takes in an encoded command: what a
// secret.reseal-batch counts against MaxResealBatchBytes.
func (w *SecretWrite) Size() int { return secretSize(w) }

// DataVersion is one sealed data version of a secret.
type DataVersion struct {
	Version uint32 `json:"version"`
	Data    []byte `json:"data"`
}

// Result codes returned in statemachine.Result.Value.
const (
	ResultOK       uint64 = 1
	ResultExists   uint64 = 2 // create: the name is taken
	ResultNotFound uint64 = 3 // update/rm: no such secret
	ResultConflict uint64 = 4 // update/rm: generation moved on; read again and retry
	ResultInvalid  uint64 = 5 // malformed command
	ResultStale    uint64 = 6 // keyring.set: the shard already holds a newer keyring
	// ResultFailed: this replica stopped at an earlier entry it cannot open
	// and did not apply this one (the others may have); see ErrReplicaFailed.
	ResultFailed uint64 = 7
)

// MaxIDLen bounds secret ids inside keys.
const MaxIDLen = 64

// Validate checks the shape of a command. It never looks at sealed contents.
func (c *Command) Validate() error {
	if len(c.RequestID) != 16 {
		return errors.New("request id must be 16 bytes")
	}
	switch c.Op {
	case OpKeyringSet:
		if len(c.Keyring) == 0 || c.KeyringEpoch == 0 {
			return errors.New("keyring.set without keyring or epoch")
		}
	case OpClusterSet:
		if len(c.Cluster) == 0 {
			return errors.New("cluster.set without cluster record")
		}
	case OpSecretCreate, OpSecretUpdate, OpSecretRemove, OpSecretReseal:
		if len(c.Secrets) != 0 {
			return fmt.Errorf("%s: a batch of secrets only goes with %s", c.Op, OpSecretResealBatch)
		}
		return validateSecret(c.Op, c.Secret)
	case OpSecretResealBatch:
		if c.Secret != nil {
			return fmt.Errorf("%s carries its secrets in the batch", c.Op)
		}
		if len(c.Secrets) == 0 || len(c.Secrets) > MaxResealBatch {
			return fmt.Errorf("%s: %d secrets (1 to %d)", c.Op, len(c.Secrets), MaxResealBatch)
		}
		size := 0
		for _, s := range c.Secrets {
			if err := validateSecret(OpSecretReseal, s); err != nil {
				return err
			}
			size += secretSize(s)
		}
		if size > MaxResealBatchBytes {
			return fmt.Errorf("%s: %d bytes (at most %d)", c.Op, size, MaxResealBatchBytes)
		}
	default:
		return fmt.Errorf("unknown op %q", c.Op)
	}
	return nil
}

// validateSecret checks the shape of one secret write of op.
func validateSecret(op Op, s *SecretWrite) error {
	if s == nil {
		return fmt.Errorf("%s without secret", op)
	}
	if s.ID == "" || len(s.ID) > MaxIDLen {
		return fmt.Errorf("%s: bad id length %d", op, len(s.ID))
	}
	if len(s.NameMAC) != 32 {
		return fmt.Errorf("%s: name MAC must be 32 bytes", op)
	}
	if op != OpSecretRemove && len(s.Record) == 0 {
		return fmt.Errorf("%s without record", op)
	}
	if op == OpSecretCreate && (s.Version != 1 || len(s.Data) == 0) {
		return errors.New("secret.create must carry data version 1")
	}
	if (len(s.Data) == 0) != (s.Version == 0) {
		return fmt.Errorf("%s: data and version go together", op)
	}
	if op == OpSecretReseal && (s.ExpectGen == 0 || s.Version != 0) {
		return errors.New("secret.reseal needs the generation read and no new version")
	}
	if op != OpSecretReseal && len(s.Resealed) != 0 {
		return fmt.Errorf("%s: resealed data only goes with secret.reseal", op)
	}
	if s.PruneBelow != 0 && (op != OpSecretUpdate || s.PruneBelow > s.Version) {
		return fmt.Errorf("%s: versions are pruned only by an update, and never its new version", op)
	}
	for _, d := range s.Resealed {
		if d.Version == 0 || len(d.Data) == 0 {
			return errors.New("secret.reseal: empty data version")
		}
	}
	return nil
}

// EntryBinding is the associated data of a log entry in shard.
func EntryBinding(shard uint64) crypto.Binding {
	return crypto.Binding{Purpose: crypto.PurposeEntry, Shard: shard}
}

// SealCommand encodes c and seals it under k for shard's log.
func SealCommand(k *crypto.Key, shard uint64, c *Command) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("raftsm: invalid command: %w", err)
	}
	return crypto.Seal(k, EntryBinding(shard), EncodeCommand(c))
}

// OpenCommand opens and decodes a sealed log entry of shard. It returns the
// key version the entry was sealed under. A decoding failure after a
// successful open is reported as malformed, never as an integrity failure.
func OpenCommand(ks crypto.KeySource, shard uint64, entry []byte) (*Command, uint32, error) {
	v, err := crypto.EnvelopeKeyVersion(entry)
	if err != nil {
		return nil, 0, err
	}
	b, err := crypto.Open(ks, EntryBinding(shard), entry)
	if err != nil {
		return nil, v, err
	}
	c, err := DecodeCommand(b)
	if err != nil {
		return nil, v, fmt.Errorf("raftsm: decode command: %v: %w", err, crypto.ErrMalformed)
	}
	if err := c.Validate(); err != nil {
		return c, v, fmt.Errorf("raftsm: invalid command: %v: %w", err, crypto.ErrMalformed)
	}
	return c, v, nil
}

// EntryPayload returns the command bytes of a Raft log entry as the state
// machine receives them. Dragonboat stores proposals as EncodedEntry: a
// one-byte header (format version, compression, session flag) before the
// command; vault proposes without compression or sessions, so that header
// is 0x00. ok is false for entries that carry no vault command (no-ops,
// configuration changes) or an encoding vault never writes.
func EntryPayload(e pb.Entry) (cmd []byte, ok bool) {
	switch e.Type {
	case pb.ApplicationEntry:
		return e.Cmd, len(e.Cmd) > 0
	case pb.EncodedEntry:
		if len(e.Cmd) > 1 && e.Cmd[0] == 0 {
			return e.Cmd[1:], true
		}
	}
	return nil, false
}
