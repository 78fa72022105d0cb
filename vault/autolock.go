package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/keys"
	"github.com/vaultd/vault/raftsm"
)

func errLocked() *api.Error {
	return api.Errorf(api.CodeLocked, "this node is locked: run `vault unlock`").
		WithHint("it needs the cluster's unlock key (or enough of its shares) before it can read its own data")
}

// enterLocked puts the node in the locked state: identity known, no keys, no
// replicas; it serves status and unlock only.
func (n *Node) enterLocked(st *nodeState, store *raftsm.Store, reason string) {
	n.mu.Lock()
	n.st, n.locked, n.ready, n.lockedStore = st, true, false, store
	n.shares = nil
	n.mu.Unlock()
	n.startLockedPeer(st.NodeID)
	n.log.Info("node is locked: run `vault unlock`", "reason", reason, "node_id", st.NodeID, "cluster_id", st.ClusterID)
}

// newestKeyring returns the stored keyring wrapped under the highest KEK
// version (metadata only; nothing is unwrapped).
func newestKeyring(store *raftsm.Store, st *nodeState) *keys.WrappedKeyring {
	var best *keys.WrappedKeyring
	for _, w := range storedKeyrings(store, st) {
		if best == nil || w.KEKVersion > best.KEKVersion {
			best = w
		}
	}
	return best
}

func storedKeyrings(store *raftsm.Store, st *nodeState) []*keys.WrappedKeyring {
	if store == nil || st == nil {
		return nil
	}
	var out []*keys.WrappedKeyring
	for _, shard := range allShards(st.Shards) {
		if b, err := store.Keyring(shard); err == nil && b != nil {
			if w, err := keys.UnmarshalWrappedKeyring(b); err == nil {
				out = append(out, w)
			}
		}
	}
	return out
}

// Unlock takes an unlock key, or one Shamir share at a time, and brings a
// locked node up: it derives the KEK, checks it against the keyring, and
// starts the replicas, which catch up on what they missed.
func (n *Node) Unlock(ctx context.Context, text string) (*api.UnlockResponse, error) {
	n.initMu.Lock()
	defer n.initMu.Unlock()
	n.mu.Lock()
	if !n.locked {
		n.mu.Unlock()
		if n.shardCount() == 0 {
			return nil, api.Errorf(api.CodeNotInitialized, "this node is not part of a cluster: there is nothing to unlock")
		}
		return nil, api.Errorf(api.CodeInvalid, "this node is not locked")
	}
	st, store := n.st, n.lockedStore
	var key *keys.UnlockKey
	if strings.HasPrefix(strings.TrimSpace(text), "VLTSHR-") {
		if n.shares == nil {
			n.shares = &keys.ShareSet{}
		}
		have, need, err := n.shares.Add(text)
		if err != nil {
			n.mu.Unlock()
			return nil, operatorError(api.CodeInvalid, err)
		}
		if have < need {
			n.mu.Unlock()
			return &api.UnlockResponse{SharesGiven: have, SharesNeeded: need}, nil
		}
		key, err = n.shares.Key()
		n.shares.Wipe()
		n.shares = nil
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
	// Try the KEK versions the stored keyrings are wrapped under, newest first.
	var versions []uint32
	for _, w := range storedKeyrings(store, st) {
		versions = append(versions, w.KEKVersion)
	}
	if b, err := os.ReadFile(filepath.Join(n.cfg.StateDir, joinKeyringFile)); err == nil {
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
		n.mu.Lock()
		n.locked, n.lockedStore = false, nil
		n.mu.Unlock()
		n.stopLockedPeer() // the manager API takes the address
		err = n.startWithKEK(ctx, st, store, kek)
		if err == nil {
			n.log.Info("node unlocked", "kek_version", OperatorKEKVersion(v))
			n.unlockMounts(ctx)
			return &api.UnlockResponse{Unlocked: true}, nil
		}
		n.mu.Lock()
		n.st, n.locked, n.lockedStore = st, true, store
		n.mu.Unlock()
		n.startLockedPeer(st.NodeID)
		if !errors.Is(err, errKEKMismatch) && !errors.Is(err, keys.ErrWrongKey) {
			return nil, err
		}
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
	if _, _, err := n.running(); err != nil {
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
	n.mu.RLock()
	st := n.st
	n.mu.RUnlock()
	n.lockMounts()
	n.shutdownRaft()
	store, err := raftsm.OpenStore(filepath.Join(n.cfg.StateDir, storeDir), false)
	if err != nil {
		return err
	}
	n.enterLocked(st, store, "locked by `vault lock`")
	return nil
}

// pendingKEK is a KEK another manager pushed before re-wrapping the
// keyring under it; this node switches when it applies the new keyring.
type pendingKEK struct {
	kek      *crypto.Key
	autolock bool
}

// peerKEK is POST /v1/peer/kek: the manager changing the KEK hands the new
// one to every running, unlocked manager over mutual TLS. It never travels
// through the Raft log, so an old unlock key and a copy of the log do not
// reveal it.
type peerKEK struct {
	Version  uint32 `json:"version"`
	Key      []byte `json:"key"`
	Autolock bool   `json:"autolock"`
}

func (n *Node) acceptPendingKEK(p *peerKEK) error {
	if _, _, err := n.running(); err != nil {
		return err
	}
	k, err := crypto.NewKey(p.Version, p.Key)
	wipe(p.Key)
	if err != nil {
		return api.Errorf(api.CodeInvalid, "bad KEK: %v", err)
	}
	n.mu.Lock()
	if n.pendingKEK != nil {
		n.pendingKEK.kek.Wipe()
	}
	n.pendingKEK = &pendingKEK{kek: k, autolock: p.Autolock}
	n.mu.Unlock()
	return nil
}

// switchKEK is called when an applied keyring is wrapped under the pending
// KEK: the node re-seals its TLS key under it and then either deletes its
// KEK file (autolock) or replaces it.
func (n *Node) switchKEK(w *keys.WrappedKeyring) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.pendingKEK
	if p == nil || p.kek.Version() != w.KEKVersion || keys.VerifyKEK(p.kek, w.KEKCheck) != nil || n.tls == nil {
		return false
	}
	keyPEM, err := n.tls.keyPEM()
	if err == nil {
		err = writeTLS(n.cfg.StateDir, p.kek, n.tls.caPEM, n.tls.certPEM, keyPEM)
		wipe(keyPEM)
	}
	if err == nil {
		if p.autolock {
			err = os.Remove(filepath.Join(n.cfg.StateDir, kekFile))
			if errors.Is(err, os.ErrNotExist) {
				err = nil
			}
		} else {
			err = writeKEKFile(n.cfg.StateDir, p.kek)
		}
	}
	if err != nil {
		n.log.Error("switching to the new KEK", "err", err)
		return false
	}
	// The keyring a joining node kept is wrapped under the old KEK; the
	// groups now hold the current one.
	if err := os.Remove(filepath.Join(n.cfg.StateDir, joinKeyringFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		n.log.Warn("removing the join keyring", "err", err)
	}
	old := n.kek
	n.kek, n.pendingKEK = p.kek, nil
	old.Wipe()
	n.log.Info("switched to a new KEK", "kek_version", OperatorKEKVersion(w.KEKVersion), "autolock", p.autolock)
	return true
}

// SetAutolock turns autolock on (a new unlock key; the KEK derives from it
// and leaves every disk) or off (a random KEK stored on every manager).
func (n *Node) SetAutolock(ctx context.Context, req *api.AutolockRequest) (*api.UnlockKeyResponse, error) {
	rec, _, err := n.readCluster(ctx)
	if err != nil {
		return nil, err
	}
	if rec.Autolock == req.Enable {
		return nil, api.Errorf(api.CodeInvalid, "autolock is already %s", onOff(req.Enable))
	}
	if req.Enable {
		// A new DEK too: the old one was wrapped under a KEK that sat on
		// every manager's disk, so old disk images must not open new data.
		return n.changeKEK(ctx, true, true, req.KeyShares, req.KeyThreshold)
	}
	return n.changeKEK(ctx, false, false, 0, 0)
}

// RotateUnlockKey makes a new unlock key, re-wraps the keyring under its KEK,
// and activates a new DEK wrapped only under the new KEK, so data sealed from
// now on cannot be read with the old key.
func (n *Node) RotateUnlockKey(ctx context.Context, req *api.UnlockKeyRequest) (*api.UnlockKeyResponse, error) {
	rec, _, err := n.readCluster(ctx)
	if err != nil {
		return nil, err
	}
	if !rec.Autolock {
		return nil, api.Errorf(api.CodeInvalid, "autolock is off: there is no unlock key to rotate").
			WithHint("turn it on with `vault cluster update --autolock=true`")
	}
	return n.changeKEK(ctx, true, true, req.KeyShares, req.KeyThreshold)
}

// ShowUnlockKey returns the current unlock key.
func (n *Node) ShowUnlockKey(ctx context.Context) (*api.UnlockKeyResponse, error) {
	rec, _, err := n.readCluster(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case !rec.Autolock:
		return nil, api.Errorf(api.CodeInvalid, "autolock is off: there is no unlock key").
			WithHint("turn it on with `vault cluster update --autolock=true`")
	case rec.KeyShares > 0:
		return nil, api.Errorf(api.CodeInvalid, "the unlock key is split into %d shares and is not kept anywhere", rec.KeyShares).
			WithHint("to replace lost shares, run `vault unlock-key --rotate --key-shares N --key-threshold T`")
	}
	return &api.UnlockKeyResponse{Key: rec.UnlockKey, Autolock: true, KEKVersion: n.Status().KEKVersion}, nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// changeKEK replaces the cluster's KEK on every manager: it pushes the new
// KEK to every manager, re-wraps the keyring under it in every group (and,
// with newDEK, adds and then activates a DEK wrapped only under it), and
// records the autolock setting.
func (n *Node) changeKEK(ctx context.Context, autolock, newDEK bool, shares, threshold int) (*api.UnlockKeyResponse, error) {
	n.keyMu.Lock()
	defer n.keyMu.Unlock()
	if shares != 0 || threshold != 0 {
		if !autolock {
			return nil, api.Errorf(api.CodeInvalid, "--key-shares and --key-threshold need autolock")
		}
		if threshold < 2 || shares < threshold || shares > 255 {
			return nil, api.Errorf(api.CodeInvalid, "--key-shares %d --key-threshold %d: want 2 <= threshold <= shares <= 255", shares, threshold)
		}
	}
	rec, _, err := n.readCluster(ctx)
	if err != nil {
		return nil, err
	}
	live := n.ping(ctx, rec.Members)
	for _, m := range rec.Members {
		if ps, ok := live[m.NodeID]; !ok || ps.Locked {
			return nil, api.Errorf(api.CodeUnavailable, "manager %s (%s) is unreachable or locked: the KEK changes on every manager at once", m.NodeID, m.Addr).
				WithHint("unlock or bring it back, or remove it with `vault node rm %s`, then retry", m.NodeID)
		}
	}
	n.mu.RLock()
	oldKEK, st, tm := n.kek, n.st, n.tls
	n.mu.RUnlock()
	newVersion := oldKEK.Version() + 1

	resp := &api.UnlockKeyResponse{KEKVersion: newVersion - kekVersionBase, Autolock: autolock}
	var newKEK *crypto.Key
	var unlockText string
	if autolock {
		u, err := keys.GenerateUnlockKey(st.ClusterID)
		if err != nil {
			return nil, err
		}
		defer u.Wipe()
		if newKEK, err = u.KEK(st.ClusterID, newVersion); err != nil {
			return nil, err
		}
		if shares > 0 {
			if resp.Shares, err = u.SplitFor(shares, threshold, st.ClusterID, newVersion); err != nil {
				return nil, err
			}
			resp.Threshold = threshold
		} else {
			unlockText = u.Text()
			resp.Key = unlockText
		}
	} else if newKEK, err = keys.GenerateKEK(newVersion); err != nil {
		return nil, err
	}

	// Hand the new KEK to every manager, this one included.
	raw, err := crypto.ExportKey(newKEK)
	if err != nil {
		return nil, err
	}
	defer wipe(raw)
	for _, m := range rec.Members {
		p := &peerKEK{Version: newVersion, Key: append([]byte(nil), raw...), Autolock: autolock}
		if m.NodeID == st.NodeID {
			err = n.acceptPendingKEK(p)
		} else {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = n.peerCall(cctx, tm, m.APIAddr, "POST", "/v1/peer/kek", p, nil)
			cancel()
		}
		if err != nil {
			return nil, fmt.Errorf("hand the new KEK to manager %s: %w (nothing changed)", m.NodeID, err)
		}
	}

	// Re-wrap the ring under the new KEK in every group (each manager
	// switches to the pushed KEK as it applies it); with newDEK, in the same
	// step add a DEK wrapped only under the new KEK, and then activate it.
	if err := n.syncKeyrings(ctx); err != nil {
		return nil, err
	}
	rewrap := func(w *keys.WrappedKeyring) (*keys.WrappedKeyring, error) { return w.Rewrap(oldKEK, newKEK) }
	if newDEK {
		if resp.DEKVersion, err = n.addDEK(ctx, rewrap, func() *crypto.Key { return newKEK }); err != nil {
			return nil, err
		}
	} else if _, err := n.updateKeyring(ctx, rewrap); err != nil {
		return nil, err
	}
	_, err = n.updateCluster(ctx, func(rec *raftsm.ClusterRecord) error {
		rec.Autolock, rec.UnlockKey, rec.KeyShares = autolock, unlockText, shares
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Each manager switches to the new KEK as it applies the re-wrapped
	// keyring, which a follower may do a heartbeat after the quorum. One
	// restarted before that would need the old unlock key: wait for all.
	if behind := n.waitKEK(ctx, rec.Members, resp.KEKVersion); len(behind) > 0 {
		n.log.Warn("managers have not switched to the new KEK yet: restarted before they do, they need the previous unlock key",
			"managers", behind, "kek_version", OperatorKEKVersion(newVersion))
	}
	n.log.Info("KEK changed on every manager", "kek_version", OperatorKEKVersion(newVersion), "autolock", autolock, "new_dek", resp.DEKVersion)
	return resp, nil
}

// kekSwitchWait bounds how long a KEK change waits for every manager to
// switch to the new KEK.
const kekSwitchWait = 15 * time.Second

// waitKEK waits until every member's status shows KEK version v and
// returns the members that still did not when it gave up.
func (n *Node) waitKEK(ctx context.Context, members []raftsm.Member, v uint32) []string {
	deadline := time.Now().Add(kekSwitchWait)
	for {
		live := n.ping(ctx, members)
		var behind []string
		for _, m := range members {
			if ps := live[m.NodeID]; ps == nil || ps.KEKVersion != v {
				behind = append(behind, m.NodeID)
			}
		}
		if len(behind) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return behind
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}
