package vault

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/keys"
	"github.com/vaultd/vault/raftsm"
)

func errLocked() *api.Error {
	return api.Errorf(api.CodeLocked, "this node is locked: run `vault unlock`").
		WithHint("it needs the cluster's unlock key (or enough of its shares) before it can read its own data")
}

// newestKeyring returns the stored keyring wrapped under the highest KEK
// version (metadata only; nothing is unwrapped).
func newestKeyring(store *raftsm.Store, st *statedir.Node) *keys.WrappedKeyring {
	var best *keys.WrappedKeyring
	for _, w := range storedKeyrings(store, st) {
		if best == nil || w.KEKVersion > best.KEKVersion {
			best = w
		}
	}
	return best
}

func storedKeyrings(store *raftsm.Store, st *statedir.Node) []*keys.WrappedKeyring {
	if store == nil || st == nil {
		return nil
	}
	var out []*keys.WrappedKeyring
	for _, shard := range statedir.AllShards(st.Shards) {
		if b, err := store.Keyring(shard); err == nil && b != nil {
			if w, err := keys.UnmarshalWrappedKeyring(b); err == nil {
				out = append(out, w)
			}
		}
	}
	return out
}

// keyChecks returns the key check values of the KEKs the keyrings are
// wrapped under (both during a KEK change).
func keyChecks(rings []*keys.WrappedKeyring) [][]byte {
	var out [][]byte
	for _, w := range rings {
		out = append(out, w.KEKCheck)
		if w.HasNext() {
			out = append(out, w.NextKEKCheck)
		}
	}
	return out
}

// Unlock takes an unlock key, or one Shamir share at a time, and brings a
// locked node up: it derives the KEK, checks it against the keyring, and
// starts the replicas, which catch up on what they missed.
func (n *Node) Unlock(ctx context.Context, text string) (_ *api.UnlockResponse, err error) {
	n.initMu.Lock()
	defer n.initMu.Unlock()
	n.mu.Lock()
	lk := n.locked()
	if lk == nil {
		n.mu.Unlock()
		if n.shardCount() == 0 {
			return nil, api.Errorf(api.CodeNotInitialized, "this node is not part of a cluster: there is nothing to unlock")
		}
		return nil, api.Errorf(api.CodeInvalid, "this node is not locked")
	}
	st, store := lk.st, lk.store
	defer n.countUnlock(&err)
	var key *keys.UnlockKey
	if strings.HasPrefix(strings.TrimSpace(text), "VLTSHR-") {
		if lk.shares == nil {
			lk.shares = &keys.ShareSet{}
			// A share of a previous split is refused at once, not after
			// the threshold is reached with a key that opens nothing.
			lk.shares.ExpectSplits(keyChecks(storedKeyrings(store, st))...)
		}
		have, need, err := lk.shares.Add(text)
		if err != nil {
			n.mu.Unlock()
			return nil, operatorError(api.CodeInvalid, err)
		}
		if have < need {
			n.mu.Unlock()
			return &api.UnlockResponse{SharesGiven: have, SharesNeeded: need}, nil
		}
		key, err = lk.shares.Key()
		lk.shares.Wipe()
		lk.shares = nil
		if err != nil {
			n.mu.Unlock()
			return nil, operatorError(api.CodeInvalid, err).WithHint("start again with the shares you trust")
		}
	} else {
		var err error
		if key, err = keys.ParseUnlockKey(text); err != nil {
			n.mu.Unlock()
			return nil, operatorError(api.CodeInvalid, err)
		}
	}
	n.mu.Unlock()
	defer key.Wipe()
	if err := key.CheckCluster(st.ClusterID); err != nil {
		return nil, operatorError(api.CodeInvalid, err)
	}
	// Try the KEK versions the stored keyrings are wrapped under (both
	// wrappings during a KEK change), newest first.
	var versions []uint32
	rings := storedKeyrings(store, st)
	for _, w := range rings {
		versions = append(versions, w.KEKVersions()...)
	}
	if b, err := os.ReadFile(filepath.Join(n.cfg.StateDir, statedir.JoinKeyringFile)); err == nil {
		if w, err := keys.UnmarshalWrappedKeyring(b); err == nil {
			versions = append(versions, w.KEKVersion)
		}
	}
	tried := map[uint32]bool{}
	for len(versions) > 0 {
		v := versions[0]
		for _, x := range versions {
			v = max(v, x)
		}
		versions = deleteAll(versions, v)
		if tried[v] {
			continue
		}
		tried[v] = true
		kek, err := key.KEK(st.ClusterID, v)
		if err != nil {
			return nil, err
		}
		n.leaveLocked() // the manager API takes the address
		err = n.startWithKEK(ctx, st, store, kek)
		if err == nil {
			n.log.Info("node unlocked", "kek_version", statedir.OperatorKEKVersion(v))
			n.unlockMounts(ctx)
			return &api.UnlockResponse{Unlocked: true}, nil
		}
		n.enterLocked(st, store, "")
		if !errors.Is(err, errKEKMismatch) && !errors.Is(err, keys.ErrWrongKey) {
			return nil, err
		}
	}
	if hint := wrongKeyHint(n.cfg.StateDir, rings); hint != "" {
		return nil, api.Errorf(api.CodeInvalid, "wrong unlock key: it does not open this node's keyring").WithHint("%s", hint)
	}
	return nil, api.Errorf(api.CodeInvalid, "wrong unlock key: it does not open this node's keyring").
		WithHint("give the cluster's current unlock key; if the key was rotated while this node was down, give the key from before the rotation")
}

func deleteAll(vs []uint32, v uint32) []uint32 {
	out := vs[:0]
	for _, x := range vs {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

// Lock locks this running node now: it stops its replicas and wipes its keys
// from memory. It refuses (without force) when the others would lose quorum.
func (n *Node) Lock(ctx context.Context, force bool) error {
	n.initMu.Lock()
	defer n.initMu.Unlock()
	if w := n.worker(); w != nil {
		return n.lockWorker(w)
	}
	r, err := n.running()
	if err != nil {
		return err
	}
	rec, err := n.staleCluster()
	if err != nil {
		return err
	}
	if !rec.Autolock {
		return api.Errorf(api.CodeInvalid, "autolock is off: this node's KEK is on its disk, so locking it protects nothing").
			WithHint("turn autolock on first: `vault cluster update --autolock=true`")
	}
	if !force {
		live := n.ping(ctx, rec.Members)
		self := n.Status().NodeID
		up := 0
		for id := range live {
			if id != self {
				up++
			}
		}
		if need := len(rec.Members)/2 + 1; up < need {
			return api.Errorf(api.CodeInvalid, "locking this node leaves %d of %d managers serving; %d are needed for a quorum", up, len(rec.Members), need).
				WithHint("use --force to lock it anyway: the cluster stops serving until managers are unlocked")
		}
	}
	st := r.st
	n.lockMounts()
	n.leaveRunning(true)
	store, err := raftsm.OpenStore(filepath.Join(n.cfg.StateDir, statedir.StoreDir), false)
	if err != nil {
		return err
	}
	n.enterLocked(st, store, "locked by `vault lock`")
	return nil
}
