package vault

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/raftsm"
)

// Secret limits, as Docker Swarm's.
const (
	MaxNameLen  = 64
	MaxDataSize = 500*1024 - 1
	maxLabels   = 64
	maxLabelLen = 1024
)

// ValidateName checks a secret name.
func ValidateName(name string) error {
	if len(name) > MaxNameLen || !validName(name) {
		return api.Errorf(api.CodeInvalid, "invalid secret name %q: use at most %d characters [a-zA-Z0-9-_.], starting and ending with a letter or digit", name, MaxNameLen)
	}
	return nil
}

// ValidateData checks a secret's data size.
func ValidateData(data []byte) error {
	if len(data) == 0 {
		return api.Errorf(api.CodeInvalid, "secret data is empty").WithHint("give the data in a file or on stdin")
	}
	if len(data) > MaxDataSize {
		return api.Errorf(api.CodeInvalid, "secret data is %d bytes; the limit is %d bytes (500 KiB - 1)", len(data), MaxDataSize)
	}
	return nil
}

func validateLabels(l map[string]string) error {
	if len(l) > maxLabels {
		return api.Errorf(api.CodeInvalid, "%d labels: at most %d are allowed", len(l), maxLabels)
	}
	for k, v := range l {
		if k == "" || len(k) > maxLabelLen || len(v) > maxLabelLen {
			return api.Errorf(api.CodeInvalid, "label %q: keys must be non-empty and keys and values at most %d bytes", k, maxLabelLen)
		}
	}
	return nil
}

// nameMAC is the name's index key and decides its shard.
func (r *replicas) nameMAC(name string) ([]byte, uint64, error) {
	ik, err := r.ring.IndexKey()
	if err != nil {
		return nil, 0, err
	}
	mac, err := crypto.MAC(ik, crypto.Binding{Purpose: crypto.PurposeName}, []byte(name))
	if err != nil {
		return nil, 0, err
	}
	shards := raftsm.SecretShards(r.st.Shards)
	return mac, shards[binary.BigEndian.Uint64(mac[:8])%uint64(len(shards))], nil
}

// secretEntry is a secret found in a shard, opened.
type secretEntry struct {
	shard uint64
	gen   uint64
	rec   raftsm.SecretRecord
}

func (r *replicas) openStored(shard uint64, s *raftsm.StoredSecret) (*secretEntry, error) {
	rec, err := raftsm.OpenRecord(r.ring, shard, s.ID, s.Sealed)
	if err != nil {
		return nil, fmt.Errorf("open record of secret %s in shard %d: %w", s.ID, shard, err)
	}
	return &secretEntry{shard: shard, gen: s.Gen, rec: *rec}, nil
}

// resolve finds a secret by name, or by id or unique id prefix.
func (n *Node) resolve(ctx context.Context, ref string) (*secretEntry, error) {
	if w := n.worker(); w != nil {
		return w.resolve(ctx, ref)
	}
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	return r.resolve(ctx, ref)
}

// resolve finds a secret by name, or by id or unique id prefix.
func (r *replicas) resolve(ctx context.Context, ref string) (*secretEntry, error) {
	if ValidateName(ref) == nil {
		mac, shard, err := r.nameMAC(ref)
		if err != nil {
			return nil, err
		}
		s, err := readAs[*raftsm.StoredSecret](ctx, r, shard, raftsm.QueryName{MAC: mac})
		if err != nil {
			return nil, err
		}
		if s != nil {
			return r.openStored(shard, s)
		}
	}
	if statedir.IsID(ref) {
		outs, err := readAllAs[[]raftsm.StoredSecret](ctx, r, raftsm.QueryIDPrefix{Prefix: ref})
		if err != nil {
			return nil, err
		}
		var found []*secretEntry
		shards := raftsm.SecretShards(r.st.Shards)
		for i, o := range outs {
			for _, s := range o {
				e, err := r.openStored(shards[i], &s)
				if err != nil {
					return nil, err
				}
				if e.rec.ID == ref {
					return e, nil
				}
				found = append(found, e)
			}
		}
		if len(found) == 1 {
			return found[0], nil
		}
		if len(found) > 1 {
			return nil, api.Errorf(api.CodeAmbiguous, "%q matches %d secret ids", ref, len(found)).WithHint("give more of the id, or the name")
		}
	}
	return nil, api.Errorf(api.CodeNotFound, "no such secret: %s", ref).WithHint("`vault secret ls` lists them")
}

// CreateSecret creates a secret with its first data version. It wipes
// req.Data before it returns: the caller hands the plaintext over.
func (n *Node) CreateSecret(ctx context.Context, req *api.CreateSecretRequest) (*api.SecretRef, error) {
	r, err := n.running()
	if err != nil {
		statedir.Wipe(req.Data)
		return nil, err
	}
	return r.createSecret(ctx, req)
}

func (r *replicas) createSecret(ctx context.Context, req *api.CreateSecretRequest) (*api.SecretRef, error) {
	defer statedir.Wipe(req.Data)
	if err := ValidateName(req.Name); err != nil {
		return nil, err
	}
	if err := ValidateData(req.Data); err != nil {
		return nil, err
	}
	if err := validateLabels(req.Labels); err != nil {
		return nil, err
	}
	if err := validateMaxVersions("--max-versions", req.MaxVersions); err != nil {
		return nil, err
	}
	mac, shard, err := r.nameMAC(req.Name)
	if err != nil {
		return nil, err
	}
	now := time.Now().UnixNano()
	rec := raftsm.SecretRecord{
		ID: statedir.NewSecretID(time.Unix(0, now)), Name: req.Name, Labels: req.Labels, Created: now, Updated: now,
		Versions:    []raftsm.VersionInfo{{Version: 1, Size: len(req.Data), Created: now}},
		MaxVersions: req.MaxVersions,
	}
	w, err := r.secretWrite(shard, mac, &rec, 0, req.Data)
	if err != nil {
		return nil, err
	}
	res, err := r.propose(ctx, shard, &raftsm.Command{Op: raftsm.OpSecretCreate, RequestID: newRequestID(), Time: now, Secret: w})
	if err != nil {
		return nil, err
	}
	switch res.Value {
	case raftsm.ResultOK:
		return &api.SecretRef{ID: rec.ID, Name: rec.Name, Version: 1}, nil
	case raftsm.ResultExists:
		return nil, api.Errorf(api.CodeExists, "secret %s already exists", req.Name).
			WithHint("use `vault secret update %s FILE` to add a new version", req.Name)
	}
	return nil, resultError(res, req.Name)
}

// secretWrite seals a record under the active DEK, and data as its latest
// version when given (raftsm.SealSecretWrite wipes the record's JSON).
func (r *replicas) secretWrite(shard uint64, mac []byte, rec *raftsm.SecretRecord, expectGen uint64, data []byte) (*raftsm.SecretWrite, error) {
	k, err := r.ring.Active()
	if err != nil {
		return nil, err
	}
	return raftsm.SealSecretWrite(k, shard, mac, rec, expectGen, data)
}

func resultError(res sm.Result, ref string) error {
	switch res.Value {
	case raftsm.ResultNotFound:
		return api.Errorf(api.CodeNotFound, "no such secret: %s", ref)
	case raftsm.ResultConflict:
		return api.Errorf(api.CodeConflict, "secret %s changed concurrently", ref).WithHint("retry")
	}
	return api.Errorf(api.CodeInternal, "secret %s: the state machine rejected the change (result %d)", ref, res.Value)
}

// maxConflictRetries bounds read-modify-write retries under concurrent updates.
const maxConflictRetries = 20

// UpdateSecret adds a new data version. It wipes data before it returns:
// the caller hands the plaintext over.
func (n *Node) UpdateSecret(ctx context.Context, ref string, data []byte) (*api.SecretRef, error) {
	r, err := n.running()
	if err != nil {
		statedir.Wipe(data)
		return nil, err
	}
	return r.updateSecret(ctx, ref, data)
}

func (r *replicas) updateSecret(ctx context.Context, ref string, data []byte) (*api.SecretRef, error) {
	defer statedir.Wipe(data)
	if err := ValidateData(data); err != nil {
		return nil, err
	}
	for range maxConflictRetries {
		e, err := r.resolve(ctx, ref)
		if err != nil {
			return nil, err
		}
		mac, _, err := r.nameMAC(e.rec.Name)
		if err != nil {
			return nil, err
		}
		now := time.Now().UnixNano()
		rec := e.rec
		v := rec.Latest().Version + 1
		rec.Versions = append(append([]raftsm.VersionInfo(nil), rec.Versions...), raftsm.VersionInfo{Version: v, Size: len(data), Created: now})
		rec.Updated = now
		prune := r.limitVersions(ctx, &rec)
		w, err := r.secretWrite(e.shard, mac, &rec, e.gen, data)
		if err != nil {
			return nil, err
		}
		w.PruneBelow = prune
		res, err := r.propose(ctx, e.shard, &raftsm.Command{Op: raftsm.OpSecretUpdate, RequestID: newRequestID(), Time: now, Secret: w})
		if err != nil {
			return nil, err
		}
		switch res.Value {
		case raftsm.ResultOK:
			return &api.SecretRef{ID: rec.ID, Name: rec.Name, Version: v}, nil
		case raftsm.ResultConflict, raftsm.ResultNotFound:
			continue // changed or removed since we read it: look again
		}
		return nil, resultError(res, ref)
	}
	return nil, api.Errorf(api.CodeConflict, "secret %s keeps changing concurrently", ref).WithHint("retry")
}

// RemoveSecret removes a secret and every version of its data. A secret
// mounted on this node is kept unless force.
func (n *Node) RemoveSecret(ctx context.Context, ref string, force bool) (*api.RemoveResponse, error) {
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	return r.removeSecret(ctx, ref, force)
}

func (r *replicas) removeSecret(ctx context.Context, ref string, force bool) (*api.RemoveResponse, error) {
	for range maxConflictRetries {
		e, err := r.resolve(ctx, ref)
		if err != nil {
			return nil, err
		}
		if mp := r.node.mountedSecret(e.rec.ID); mp != "" && !force {
			return nil, api.Errorf(api.CodeInvalid, "secret %s is mounted at %s", e.rec.Name, mp).
				WithHint("unmount it first, or remove it anyway with `vault secret rm --force %s` (the mount keeps its last content)", e.rec.Name)
		}
		mac, _, err := r.nameMAC(e.rec.Name)
		if err != nil {
			return nil, err
		}
		w := &raftsm.SecretWrite{ID: e.rec.ID, NameMAC: mac, ExpectGen: e.gen}
		res, err := r.propose(ctx, e.shard, &raftsm.Command{Op: raftsm.OpSecretRemove, RequestID: newRequestID(), Time: time.Now().UnixNano(), Secret: w})
		if err != nil {
			return nil, err
		}
		switch res.Value {
		case raftsm.ResultOK:
			r.node.forgetGrants(ctx, e.rec.ID)
			return &api.RemoveResponse{ID: e.rec.ID, Name: e.rec.Name}, nil
		case raftsm.ResultConflict, raftsm.ResultNotFound:
			continue
		}
		return nil, resultError(res, ref)
	}
	return nil, api.Errorf(api.CodeConflict, "secret %s keeps changing concurrently", ref).WithHint("retry")
}

// InspectSecret returns a secret's metadata (never its data).
func (n *Node) InspectSecret(ctx context.Context, ref string) (*api.Secret, error) {
	e, err := n.resolve(ctx, ref) // through the running phase
	if err != nil {
		return nil, err
	}
	return n.withGrants(ctx, toAPISecret(&e.rec))
}

// SecretData returns one version of a secret's data (0: the latest).
func (n *Node) SecretData(ctx context.Context, ref string, version uint32) ([]byte, uint32, error) {
	r, err := n.running()
	if err != nil {
		return nil, 0, err
	}
	e, err := r.resolve(ctx, ref)
	if err != nil {
		return nil, 0, err
	}
	return r.secretData(ctx, e, version)
}

// secretData is replicas.secretData on the running phase.
func (n *Node) secretData(ctx context.Context, e *secretEntry, version uint32) ([]byte, uint32, error) {
	if w := n.worker(); w != nil {
		return w.data(e, version)
	}
	r, err := n.running()
	if err != nil {
		return nil, 0, err
	}
	return r.secretData(ctx, e, version)
}

// secretData reads and opens one version of e's data (0: the latest).
func (r *replicas) secretData(ctx context.Context, e *secretEntry, version uint32) ([]byte, uint32, error) {
	if version == 0 {
		version = e.rec.Latest().Version
	}
	sealed, err := readAs[[]byte](ctx, r, e.shard, raftsm.QueryData{ID: e.rec.ID, Version: version})
	if err != nil {
		return nil, 0, err
	}
	if sealed == nil {
		return nil, 0, api.Errorf(api.CodeNotFound, "secret %s has no version %d", e.rec.Name, version).
			WithHint("`vault secret inspect %s` lists its versions", e.rec.Name)
	}
	data, err := raftsm.OpenData(r.ring, e.shard, e.rec.ID, e.rec.Version(version), sealed)
	return data, version, err
}

func toAPISecret(r *raftsm.SecretRecord) *api.Secret {
	s := &api.Secret{
		ID: r.ID, Name: r.Name, Labels: r.Labels,
		CreatedAt: time.Unix(0, r.Created).UTC(), UpdatedAt: time.Unix(0, r.Updated).UTC(),
		Version: r.Latest().Version, Size: r.Latest().Size, MaxVersions: r.MaxVersions,
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	for _, v := range r.Versions {
		s.Versions = append(s.Versions, api.SecretVersion{Version: v.Version, Size: v.Size, CreatedAt: time.Unix(0, v.Created).UTC()})
	}
	return s
}
