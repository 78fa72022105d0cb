package vault

import (
	"context"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/keys"
	"github.com/vaultd/vault/raftsm"
)

// pendingKEK is the next KEK of a change in progress, pushed by the manager
// running it (or taken from the change record); this node switches when it
// applies a keyring wrapped under it alone.
type pendingKEK struct {
	kek      *crypto.Key
	autolock bool
	change   string
}

// peerKEK is POST /v1/peer/kek: the manager running a KEK change hands the
// new KEK to every manager over mutual TLS. A manager takes it only when it
// is the KEK of the change committed through Raft, from that change's
// coordinator (acceptPendingKEK).
type peerKEK struct {
	ChangeID string `json:"change_id"`
	Version  uint32 `json:"version"`
	Key      []byte `json:"key"`
	Autolock bool   `json:"autolock"`
}

// switchKEK is called when an applied keyring is wrapped under the pending
// KEK alone: the node makes it its KEK, then brings its files in line
// (finishKEKFiles).
func (n *Node) switchKEK(r *replicas, w *keys.WrappedKeyring) bool {
	r.mu.Lock()
	p := r.pendingKEK
	if p == nil || w.HasNext() || p.kek.Version() != w.KEKVersion || keys.VerifyKEK(p.kek, w.KEKCheck) != nil {
		r.mu.Unlock()
		return false
	}
	old := r.kek
	r.kek, r.pendingKEK = p.kek, nil
	old.Wipe()
	r.mu.Unlock()
	if err := n.finishKEKFiles(p.kek, p.autolock); err != nil {
		n.log.Error("switching the state dir to the new KEK", "err", err)
	}
	n.log.Info("switched to a new KEK", "kek_version", statedir.OperatorKEKVersion(w.KEKVersion), "autolock", p.autolock)
	return true
}

// SetAutolock turns autolock on (a new unlock key; the KEK derives from it
// and leaves every disk) or off (a random KEK stored on every manager). It
// prepares the change (see CommitKEKChange); with a change of the same kind
// recorded, it returns that one to be finished.
func (n *Node) SetAutolock(ctx context.Context, req *api.AutolockRequest) (*api.UnlockKeyResponse, error) {
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	return r.setAutolock(ctx, req)
}

func (r *replicas) setAutolock(ctx context.Context, req *api.AutolockRequest) (*api.UnlockKeyResponse, error) {
	rec, _, err := r.readCluster(ctx)
	if err != nil {
		return nil, err
	}
	if ch := rec.KEKChange; ch == nil || ch.Autolock != req.Enable {
		if rec.Autolock == req.Enable {
			return nil, api.Errorf(api.CodeInvalid, "autolock is already %s", onOff(req.Enable))
		}
	}
	var resp *api.UnlockKeyResponse
	if req.Enable {
		// A new DEK too: the old one was wrapped under a KEK that sat on
		// every manager's disk, so old disk images must not open new data.
		resp, err = r.prepareKEK(ctx, true, true, req.KeyShares, req.KeyThreshold)
	} else {
		resp, err = r.prepareKEK(ctx, false, false, 0, 0)
	}
	if err != nil || req.Prepare {
		return resp, err
	}
	return r.commitKEKChange(ctx, resp.ChangeID)
}

// RotateUnlockKey prepares a new unlock key; committed, the keyring is
// re-wrapped under its KEK and a new DEK wrapped only under it becomes
// active, so data sealed from then on cannot be read with the old key.
func (n *Node) RotateUnlockKey(ctx context.Context, req *api.UnlockKeyRequest) (*api.UnlockKeyResponse, error) {
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	return r.rotateUnlockKey(ctx, req)
}

func (r *replicas) rotateUnlockKey(ctx context.Context, req *api.UnlockKeyRequest) (*api.UnlockKeyResponse, error) {
	rec, _, err := r.readCluster(ctx)
	if err != nil {
		return nil, err
	}
	if !rec.Autolock && (rec.KEKChange == nil || !rec.KEKChange.Autolock) {
		return nil, api.Errorf(api.CodeInvalid, "autolock is off: there is no unlock key to rotate").
			WithHint("turn it on with `vault cluster update --autolock=true`")
	}
	resp, err := r.prepareKEK(ctx, true, true, req.KeyShares, req.KeyThreshold)
	if err != nil || req.Prepare {
		return resp, err
	}
	return r.commitKEKChange(ctx, resp.ChangeID)
}

// ShowUnlockKey returns the current unlock key, and the key of a change in
// progress (a manager restarted during it may need either).
func (n *Node) ShowUnlockKey(ctx context.Context) (*api.UnlockKeyResponse, error) {
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	return r.showUnlockKey(ctx)
}

func (r *replicas) showUnlockKey(ctx context.Context) (*api.UnlockKeyResponse, error) {
	n := r.node
	rec, _, err := r.readCluster(ctx)
	if err != nil {
		return nil, err
	}
	var pending *api.UnlockKeyResponse
	if ch := rec.KEKChange; ch != nil && ch.Autolock {
		pending = changeResponse(ch)
	}
	switch {
	case !rec.Autolock && pending == nil:
		return nil, api.Errorf(api.CodeInvalid, "autolock is off: there is no unlock key").
			WithHint("turn it on with `vault cluster update --autolock=true`")
	case rec.KeyShares > 0 && pending == nil:
		return nil, api.Errorf(api.CodeInvalid, "the unlock key is split into %d shares and is not kept anywhere", rec.KeyShares).
			WithHint("to replace lost shares, run `vault unlock-key --rotate --key-shares N --key-threshold T`")
	}
	return &api.UnlockKeyResponse{Key: rec.UnlockKey, Autolock: rec.Autolock, KEKVersion: n.Status().KEKVersion, Pending: pending}, nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// kekSwitchWait bounds how long a KEK change waits for every manager to
// switch to the new KEK.
const kekSwitchWait = 15 * time.Second

// waitKEK waits until every member's status shows KEK version v and
// returns the members that still did not when it gave up.
func (r *replicas) waitKEK(ctx context.Context, members []raftsm.Member, v uint32) []string {
	deadline := time.Now().Add(kekSwitchWait)
	for {
		live := r.ping(ctx, members)
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
