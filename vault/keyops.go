package vault

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/lni/dragonboat/v4"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/keys"
	"github.com/vaultd/vault/raftsm"
)

// Key operations change the keyring in the control group first, with a
// compare-and-swap on its epoch (so concurrent operations on different
// managers serialize), and then bring every secret group to the same ring.
// Groups keep the ring with the highest epoch, so a replayed or late
// distribution never rolls a group back; so does a node's one unwrapped
// ring, which every group's apply updates (keyringApplied, loadKeyring). An operation interrupted between
// the two steps is completed by the next one (syncKeyrings).

// controlKeyring reads the control group's keyring and epoch.
func (n *Node) controlKeyring(ctx context.Context) (*keys.WrappedKeyring, uint64, error) {
	r, err := n.running()
	if err != nil {
		return nil, 0, err
	}
	return r.controlKeyring(ctx)
}

func (r *replicas) controlKeyring(ctx context.Context) (*keys.WrappedKeyring, uint64, error) {
	sk, err := readAs[*raftsm.StoredKeyring](ctx, r, raftsm.ControlShard, raftsm.QueryKeyringEpoch{})
	if err != nil {
		return nil, 0, err
	}
	if sk == nil {
		return nil, 0, errors.New("the control group has no keyring")
	}
	w, err := keys.UnmarshalWrappedKeyring(sk.Ring)
	return w, sk.Epoch, err
}

// updateKeyring applies f to the control group's keyring and distributes
// the result to every group. It returns the new ring.
func (r *replicas) updateKeyring(ctx context.Context, f func(w *keys.WrappedKeyring) (*keys.WrappedKeyring, error)) (*keys.WrappedKeyring, error) {
	for range maxConflictRetries {
		w, epoch, err := r.controlKeyring(ctx)
		if err != nil {
			return nil, err
		}
		w2, err := f(w.Clone())
		if err != nil {
			return nil, err
		}
		ring := w2.Marshal()
		res, err := r.propose(ctx, raftsm.ControlShard, &raftsm.Command{
			Op: raftsm.OpKeyringSet, RequestID: newRequestID(), Time: time.Now().UnixNano(),
			Keyring: ring, KeyringEpoch: epoch + 1, KeyringCAS: true, ExpectEpoch: epoch,
		})
		if err != nil {
			return nil, err
		}
		if res.Value == raftsm.ResultConflict {
			continue // another key operation got there first: start from its ring
		}
		if res.Value != raftsm.ResultOK {
			return nil, fmt.Errorf("keyring: the control group answered %d", res.Value)
		}
		return w2, r.distributeKeyring(ctx, ring, epoch+1)
	}
	return nil, api.Errorf(api.CodeConflict, "the keyring keeps changing concurrently").WithHint("retry")
}

// distributeKeyring brings every secret group to a ring.
func (n *Node) distributeKeyring(ctx context.Context, ring []byte, epoch uint64) error {
	r, err := n.running()
	if err != nil {
		return err
	}
	return r.distributeKeyring(ctx, ring, epoch)
}

func (r *replicas) distributeKeyring(ctx context.Context, ring []byte, epoch uint64) error {
	for _, shard := range raftsm.SecretShards(r.st.Shards) {
		res, err := r.propose(ctx, shard, &raftsm.Command{
			Op: raftsm.OpKeyringSet, RequestID: newRequestID(), Time: time.Now().UnixNano(),
			Keyring: ring, KeyringEpoch: epoch,
		})
		if err != nil {
			return fmt.Errorf("keyring to group %d: %w", shard, err)
		}
		if res.Value == raftsm.ResultConflict {
			return fmt.Errorf("keyring to group %d: it holds another ring with the same epoch %d", shard, epoch)
		}
	}
	return nil
}

// syncKeyrings completes an interrupted key operation: every group gets
// the control group's ring.
func (r *replicas) syncKeyrings(ctx context.Context) error {
	sk, err := readAs[*raftsm.StoredKeyring](ctx, r, raftsm.ControlShard, raftsm.QueryKeyringEpoch{})
	if err != nil {
		return err
	}
	if sk == nil {
		return errors.New("the control group has no keyring")
	}
	return r.distributeKeyring(ctx, sk.Ring, sk.Epoch)
}

// addDEK adds a new DEK (wrapped under kek) to every group, then makes it
// active in every group: no group sees an entry sealed under a key its own
// log has not introduced first.
func (r *replicas) addDEK(ctx context.Context, f func(w *keys.WrappedKeyring) (*keys.WrappedKeyring, error), kek func() *crypto.Key) (uint32, error) {
	var version uint32
	_, err := r.updateKeyring(ctx, func(w *keys.WrappedKeyring) (*keys.WrappedKeyring, error) {
		var err error
		if f != nil {
			if w, err = f(w); err != nil {
				return nil, err
			}
		}
		version = w.DEKs[len(w.DEKs)-1].Version + 1
		if k := kek(); w.HasNext() || k.Version() != w.KEKVersion {
			return nil, api.Errorf(api.CodeUnavailable, "the keyring is changing KEK: data keys rotate after the change").WithHint("retry")
		}
		d, dek, err := keys.NewDEK(kek(), version, time.Now())
		if err != nil {
			return nil, err
		}
		dek.Wipe() // every node unwraps it from the keyring it applies
		return w, w.AddDEK(d)
	})
	if err != nil {
		return 0, err
	}
	_, err = r.updateKeyring(ctx, func(w *keys.WrappedKeyring) (*keys.WrappedKeyring, error) {
		return w, w.Activate(version)
	})
	return version, err
}

// RotateDEK makes a new DEK the active one.
func (n *Node) RotateDEK(ctx context.Context, reason string) (uint32, error) {
	r, err := n.running()
	if err != nil {
		return 0, err
	}
	return r.rotateDEK(ctx, reason)
}

func (r *replicas) rotateDEK(ctx context.Context, reason string) (uint32, error) {
	n := r.node
	n.keyMu.Lock()
	defer n.keyMu.Unlock()
	// A KEK change wraps the ring under two KEKs and adds its own DEK.
	if rec, _, err := r.readCluster(ctx); err != nil {
		return 0, err
	} else if ch := rec.KEKChange; ch != nil {
		return 0, api.Errorf(api.CodeUnavailable, "a KEK change (KEK version %d) is in progress: data keys rotate after it", statedir.OperatorKEKVersion(ch.NewVersion)).
			WithHint("finish it with `%s`, then retry", kekChangeCommand(ch))
	}
	if err := r.syncKeyrings(ctx); err != nil {
		return 0, err
	}
	v, err := r.addDEK(ctx, nil, r.currentKEK)
	if err == nil {
		n.log.Info("rotated the data key", "dek_version", v, "reason", reason)
	}
	return v, err
}

// keyUsage is what one manager still holds under each DEK version.
type keyUsage struct {
	NodeID    string            `json:"node_id"`
	Values    map[uint32]int    `json:"values"`    // stored values
	Entries   map[uint32]int    `json:"entries"`   // Raft log entries not yet compacted away
	Snapshots map[uint32]int    `json:"snapshots"` // received snapshot files
	Seals     map[uint32]uint64 `json:"seals"`     // entries applied under each version
}

// localKeyUsage scans this manager's state, log and snapshot files.
func (n *Node) localKeyUsage() (*keyUsage, error) {
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	return r.localKeyUsage()
}

func (r *replicas) localKeyUsage() (*keyUsage, error) {
	n := r.node
	nh := r.host()
	st, store := r.st, r.store
	u := &keyUsage{NodeID: st.NodeID, Values: map[uint32]int{}, Entries: map[uint32]int{}, Snapshots: map[uint32]int{}, Seals: map[uint32]uint64{}}
	for _, shard := range statedir.AllShards(st.Shards) {
		vals, err := store.ValueKeyVersions(shard)
		if err != nil {
			return nil, err
		}
		for v, c := range vals {
			u.Values[v] += c
		}
		if seals, err := staleReadAs[map[uint32]uint64](nh, shard, raftsm.QuerySeals{}); err == nil {
			for v, c := range seals {
				u.Seals[v] += c
			}
		}
		if err := countLogEntries(nh, shard, u.Entries); err != nil {
			return nil, fmt.Errorf("group %d log: %w", shard, err)
		}
	}
	counts, err := snapshotKeyVersions(n.cfg.StateDir)
	if err != nil {
		return nil, err
	}
	u.Snapshots = counts
	return u, nil
}

// countLogEntries counts the entries of a group's log by the key version
// they are sealed under.
func countLogEntries(nh *dragonboat.NodeHost, shard uint64, out map[uint32]int) error {
	lr, err := nh.GetLogReader(shard)
	if err != nil {
		return err
	}
	first, last := lr.GetRange()
	for low := first; low <= last && last > 0; {
		ents, err := lr.Entries(low, last+1, 4<<20)
		if err != nil {
			if strings.Contains(err.Error(), "compacted") {
				// Compacted under us: continue from the new first entry.
				nf, nl := lr.GetRange()
				low, last = max(low+1, nf), nl
				continue
			}
			return err
		}
		if len(ents) == 0 {
			break
		}
		for _, e := range ents {
			cmd, ok := raftsm.EntryPayload(e)
			if !ok {
				continue
			}
			if v, err := crypto.EnvelopeKeyVersion(cmd); err == nil {
				out[v]++
			}
		}
		low = ents[len(ents)-1].Index + 1
	}
	return nil
}

// KeyStatus gathers every DEK version's state and use on every manager.
func (n *Node) KeyStatus(ctx context.Context) (*api.KeyStatus, error) {
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	return r.keyStatus(ctx)
}

func (r *replicas) keyStatus(ctx context.Context) (*api.KeyStatus, error) {
	w, _, err := r.controlKeyring(ctx)
	if err != nil {
		return nil, err
	}
	usages, unreachable, err := r.allKeyUsage(ctx)
	if err != nil {
		return nil, err
	}
	rec, _, err := r.readCluster(ctx)
	if err != nil {
		return nil, err
	}
	ks := &api.KeyStatus{Unreachable: unreachable, MaxAge: time.Duration(rec.DEKMaxAge), MaxSeals: rec.DEKMaxSeals, Rotation: rec.FullRotation}
	for _, d := range w.DEKs {
		k := api.DEKStatus{Version: d.Version, State: d.State.String(), CreatedAt: time.Unix(0, d.Created).UTC()}
		for _, u := range usages {
			k.Seals = max(k.Seals, u.Seals[d.Version])
			k.Values = max(k.Values, u.Values[d.Version])
			k.LogEntries = max(k.LogEntries, u.Entries[d.Version])
			k.Snapshots = max(k.Snapshots, u.Snapshots[d.Version])
			if u.Values[d.Version]+u.Entries[d.Version]+u.Snapshots[d.Version] > 0 {
				k.InUseOn = append(k.InUseOn, api.KeyUse{NodeID: u.NodeID, Values: u.Values[d.Version], LogEntries: u.Entries[d.Version], Snapshots: u.Snapshots[d.Version]})
			}
		}
		ks.DEKs = append(ks.DEKs, k)
	}
	return ks, nil
}

// allKeyUsage collects every manager's key usage, asking them all at once
// (each scans its own state); unreachable managers are listed, not
// guessed.
func (r *replicas) allKeyUsage(ctx context.Context) ([]*keyUsage, []string, error) {
	n := r.node
	rec, _, err := r.readCluster(ctx)
	if err != nil {
		return nil, nil, err
	}
	tm, self := r.tls, r.st.NodeID
	usages := make([]*keyUsage, len(rec.Members))
	errs := make([]error, len(rec.Members))
	onEveryManager(rec.Members, func(i int, m raftsm.Member) {
		if m.NodeID == self {
			usages[i], errs[i] = r.localKeyUsage()
			return
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var u keyUsage
		if err := n.peerCall(cctx, tm, m.APIAddr, "GET", "/v1/peer/keyusage", nil, &u); err == nil {
			usages[i] = &u
		}
	})
	var out []*keyUsage
	var unreachable []string
	for i, m := range rec.Members {
		switch {
		case errs[i] != nil:
			return nil, nil, errs[i]
		case usages[i] == nil:
			unreachable = append(unreachable, m.NodeID)
		default:
			out = append(out, usages[i])
		}
	}
	return out, unreachable, nil
}

// RetireDEK removes an old DEK from the keyring, only when no manager holds
// anything sealed under it, then compacts every manager so that no file
// keeps a wrapped copy of it (compactRetired). Retiring a retired DEK runs
// that compaction again: it finishes a retirement that was interrupted.
func (n *Node) RetireDEK(ctx context.Context, version uint32) error {
	r, err := n.running()
	if err != nil {
		return err
	}
	return r.retireDEK(ctx, version)
}

func (r *replicas) retireDEK(ctx context.Context, version uint32) error {
	n := r.node
	n.keyMu.Lock()
	defer n.keyMu.Unlock()
	w, _, err := r.controlKeyring(ctx)
	if err != nil {
		return err
	}
	d, ok := w.Lookup(version)
	switch {
	case !ok:
		return api.Errorf(api.CodeNotFound, "no data key version %d", version).WithHint("`vault key status` lists them")
	case d.State == keys.DEKRetired:
		if err := r.compactRetired(ctx, version); err != nil {
			return err
		}
		n.log.Info("data key already retired; compacted again", "dek_version", version)
		return nil
	case d.State == keys.DEKActive:
		return api.Errorf(api.CodeInvalid, "data key v%d is the active key", version).
			WithHint("rotate first: `vault key rotate --full` makes a new key, re-seals everything under it and compacts")
	}
	usages, unreachable, err := r.allKeyUsage(ctx)
	if err != nil {
		return err
	}
	if len(unreachable) > 0 {
		return api.Errorf(api.CodeUnavailable, "cannot check managers %s: retiring needs every manager's word that nothing is sealed under v%d", strings.Join(unreachable, ", "), version).
			WithHint("bring them back, or remove dead ones with `vault node rm`")
	}
	var uses []string
	for _, u := range usages {
		var parts []string
		if c := u.Values[version]; c > 0 {
			parts = append(parts, fmt.Sprintf("%d stored values", c))
		}
		if c := u.Entries[version]; c > 0 {
			parts = append(parts, fmt.Sprintf("%d log entries", c))
		}
		if c := u.Snapshots[version]; c > 0 {
			parts = append(parts, fmt.Sprintf("%d snapshots", c))
		}
		if len(parts) > 0 {
			uses = append(uses, fmt.Sprintf("%s on manager %s", strings.Join(parts, ", "), u.NodeID))
		}
	}
	if len(uses) > 0 {
		sort.Strings(uses)
		return api.Errorf(api.CodeInvalid, "data key v%d is still in use: %s", version, strings.Join(uses, "; ")).
			WithHint("run `vault key rotate --full` to re-seal everything under the active key and compact the logs, then retire")
	}
	if _, err := r.updateKeyring(ctx, func(w *keys.WrappedKeyring) (*keys.WrappedKeyring, error) {
		return w, w.Retire(version)
	}); err != nil {
		return err
	}
	n.log.Info("retired a data key", "dek_version", version)
	return r.compactRetired(ctx, version)
}
