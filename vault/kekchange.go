package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/keys"
	"github.com/vaultd/vault/raftsm"
)

// A KEK change (unlock-key rotation, autolock on or off, a Shamir re-split)
// is a state machine recorded in the cluster record; the package doc, "KEK
// changes", describes it. This file holds the coordinator's side (prepare,
// commit, abort) and the member's side (taking the next KEK, switching).

// kekChangeWait bounds how long a commit waits for every manager to hold
// the next KEK in every group before it gives up (the change stays
// recorded; running the command again continues it).
const kekChangeWait = 30 * time.Second

func errKEKChangeBusy(ch *raftsm.KEKChange) error {
	return api.Errorf(api.CodeInvalid, "a KEK change (%s, KEK version %d) started %s is switching managers and cannot be undone",
		kekChangeWhat(ch), statedir.OperatorKEKVersion(ch.NewVersion), time.Unix(0, ch.Started).UTC().Format(time.RFC3339)).
		WithHint("finish it first: run `%s` again", kekChangeCommand(ch))
}

func kekChangeWhat(ch *raftsm.KEKChange) string {
	switch {
	case !ch.Autolock:
		return "autolock off"
	case ch.KeyShares > 0:
		return fmt.Sprintf("unlock key split into %d shares", ch.KeyShares)
	}
	return "new unlock key"
}

func kekChangeCommand(ch *raftsm.KEKChange) string {
	if !ch.Autolock {
		return "vault cluster update --autolock=false"
	}
	return "vault unlock-key --rotate"
}

// changeResponse is what the CLI shows of a recorded change.
func changeResponse(ch *raftsm.KEKChange) *api.UnlockKeyResponse {
	return &api.UnlockKeyResponse{
		Key: ch.UnlockKey, Shares: append([]string(nil), ch.Shares...), Threshold: ch.Threshold,
		KEKVersion: statedir.OperatorKEKVersion(ch.NewVersion), Autolock: ch.Autolock,
		ChangeID: ch.ID, Phase: ch.Phase, Started: ch.Started,
	}
}

// sameChange reports whether a request asks for the change recorded: the
// same autolock setting, and the same split (or none given).
func sameChange(ch *raftsm.KEKChange, autolock bool, shares, threshold int) bool {
	if ch.Autolock != autolock {
		return false
	}
	return shares == 0 && threshold == 0 || shares == ch.KeyShares && threshold == ch.Threshold
}

// prepareKEK is phase 1: it records a new KEK change (or finds the one
// recorded) and returns its key. Nothing uses the new KEK yet.
func (r *replicas) prepareKEK(ctx context.Context, autolock, newDEK bool, shares, threshold int) (*api.UnlockKeyResponse, error) {
	n := r.node
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
	rec, _, err := r.readCluster(ctx)
	if err != nil {
		return nil, err
	}
	var aborted string
	if ch := rec.KEKChange; ch != nil {
		if sameChange(ch, autolock, shares, threshold) {
			resp := changeResponse(ch)
			resp.Resumed = true
			return resp, nil
		}
		if ch.Phase != raftsm.KEKPrepared {
			return nil, errKEKChangeBusy(ch)
		}
		aborted = ch.ID // a different request replaces a change nobody depends on
	}
	if err := r.checkAllUp(ctx, rec.Members); err != nil {
		return nil, err
	}
	oldKEK, st := r.currentKEK(), r.st
	w, _, err := r.controlKeyring(ctx)
	if err != nil {
		return nil, err
	}
	newVersion := max(oldKEK.Version(), w.KEKVersion, w.NextKEKVersion) + 1
	ch := &raftsm.KEKChange{
		ID: statedir.NewID(), Phase: raftsm.KEKPrepared, Coordinator: st.NodeID, Started: time.Now().UnixNano(),
		OldVersion: w.KEKVersion, NewVersion: newVersion, Autolock: autolock, NewDEK: newDEK,
	}
	var newKEK *crypto.Key
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
			if ch.Shares, err = u.SplitFor(shares, threshold, st.ClusterID, newVersion); err != nil {
				return nil, err
			}
			ch.KeyShares, ch.Threshold = shares, threshold
		} else {
			ch.UnlockKey = u.Text()
		}
	} else if newKEK, err = keys.GenerateKEK(newVersion); err != nil {
		return nil, err
	}
	defer newKEK.Wipe()
	if ch.Check, err = keys.KeyCheck(newKEK); err != nil {
		return nil, err
	}
	if ch.KEK, err = crypto.ExportKey(newKEK); err != nil {
		return nil, err
	}
	_, err = r.updateCluster(ctx, func(rec *raftsm.ClusterRecord) error {
		if cur := rec.KEKChange; cur != nil && cur.ID != aborted {
			return api.Errorf(api.CodeConflict, "another KEK change was started meanwhile").WithHint("run the command again to see it")
		}
		rec.KEKChange = ch
		return nil
	})
	if err != nil {
		return nil, err
	}
	if aborted != "" {
		n.log.Info("replaced a prepared KEK change", "change", aborted)
	}
	n.log.Info("KEK change prepared", "change", ch.ID, "kek_version", statedir.OperatorKEKVersion(newVersion), "autolock", autolock)
	return changeResponse(ch), nil
}

// checkAllUp refuses unless every member is reachable and unlocked.
func (r *replicas) checkAllUp(ctx context.Context, members []raftsm.Member) error {
	live := r.ping(ctx, members)
	for _, m := range members {
		if ps, ok := live[m.NodeID]; !ok || ps.Locked {
			return api.Errorf(api.CodeUnavailable, "manager %s (%s) is unreachable or locked: the KEK changes on every manager at once", m.NodeID, m.Addr).
				WithHint("unlock or bring it back, or remove it with `vault node rm %s`, then retry", m.NodeID)
		}
	}
	return nil
}

// AbortKEKChange undoes a change that is still prepared.
func (n *Node) AbortKEKChange(ctx context.Context) (*api.UnlockKeyResponse, error) {
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	return r.abortKEKChange(ctx)
}

func (r *replicas) abortKEKChange(ctx context.Context) (*api.UnlockKeyResponse, error) {
	n := r.node
	n.keyMu.Lock()
	defer n.keyMu.Unlock()
	var was *raftsm.KEKChange
	_, err := r.updateCluster(ctx, func(rec *raftsm.ClusterRecord) error {
		ch := rec.KEKChange
		switch {
		case ch == nil:
			return api.Errorf(api.CodeInvalid, "no KEK change is in progress")
		case ch.Phase != raftsm.KEKPrepared:
			return errKEKChangeBusy(ch)
		}
		was, rec.KEKChange = ch, nil
		return nil
	})
	if err != nil {
		return nil, err
	}
	n.log.Info("KEK change aborted", "change", was.ID)
	return &api.UnlockKeyResponse{ChangeID: was.ID, KEKVersion: statedir.OperatorKEKVersion(was.NewVersion), Autolock: was.Autolock, Phase: "aborted"}, nil
}

// CommitKEKChange runs phases 2 and 3 of the change id: every manager takes
// the new KEK, the keyring is wrapped under both, then under the new one
// only. Interrupted anywhere, running it again (on any manager) continues.
func (n *Node) CommitKEKChange(ctx context.Context, id string) (*api.UnlockKeyResponse, error) {
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	return r.commitKEKChange(ctx, id)
}

func (r *replicas) commitKEKChange(ctx context.Context, id string) (*api.UnlockKeyResponse, error) {
	n := r.node
	n.keyMu.Lock()
	defer n.keyMu.Unlock()
	rec, ch, newKEK, err := r.recordedKEKChange(ctx, id)
	if err != nil {
		return nil, err
	}
	defer newKEK.Wipe()

	// Phase 2: this manager coordinates; every member takes the new KEK
	// and every group's keyring is wrapped under both KEKs.
	if rec, ch, err = r.coordinateKEKChange(ctx, rec, ch); err != nil {
		return nil, err
	}
	push, err := r.kekPusher(ctx, ch, newKEK)
	if err != nil {
		return nil, err
	}
	defer push.wipe()
	if err := r.pushKEKToAll(rec.Members, ch, push); err != nil {
		return nil, err
	}
	if err := r.wrapUnderBothKEKs(ctx, ch, newKEK); err != nil {
		return nil, err
	}

	// Phase 3 only once every member holds the new KEK (persisted) and
	// has every group's keyring wrapped under it.
	if err := r.waitNextKEK(ctx, ch, push.push); err != nil {
		return nil, err
	}
	resp := changeResponse(ch)
	w, err := r.wrapUnderNewKEKOnly(ctx, ch, newKEK)
	if err != nil {
		return nil, err
	}
	if ch.NewDEK {
		if resp.DEKVersion, err = r.activateSwitchDEK(ctx, w); err != nil {
			return nil, err
		}
	}
	if err := r.clearKEKChange(ctx, id, ch); err != nil {
		return nil, err
	}
	resp.Phase = "done"
	// Each manager switches as it applies the new keyring; one restarted
	// before that needs the new key (it was shown), or finds kek.next.
	if behind := r.waitKEK(ctx, rec.Members, resp.KEKVersion); len(behind) > 0 {
		n.log.Warn("managers have not applied the new keyring yet: restarted before they do, they need the new unlock key",
			"managers", behind, "kek_version", resp.KEKVersion)
	}
	n.log.Info("KEK changed on every manager", "change", id, "kek_version", resp.KEKVersion, "autolock", ch.Autolock, "new_dek", resp.DEKVersion)
	return resp, nil
}

// recordedKEKChange reads the change id from the cluster record and its
// new KEK, checked against the recorded key check. The caller wipes the
// KEK.
func (r *replicas) recordedKEKChange(ctx context.Context, id string) (*raftsm.ClusterRecord, *raftsm.KEKChange, *crypto.Key, error) {
	rec, _, err := r.readCluster(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	ch := rec.KEKChange
	if ch == nil || ch.ID != id {
		return nil, nil, nil, api.Errorf(api.CodeInvalid, "KEK change %s is not in progress (it was finished or replaced)", id).
			WithHint("`vault unlock-key` shows the current key")
	}
	newKEK, err := crypto.NewKey(ch.NewVersion, append([]byte(nil), ch.KEK...))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("the recorded KEK change: %w", err)
	}
	if err := keys.VerifyKEK(newKEK, ch.Check); err != nil {
		newKEK.Wipe()
		return nil, nil, nil, fmt.Errorf("the recorded KEK change: %w", err)
	}
	return rec, ch, newKEK, nil
}

// coordinateKEKChange records this manager as the coordinator of a
// switching change (pushes come from it), unless it is already.
func (r *replicas) coordinateKEKChange(ctx context.Context, rec *raftsm.ClusterRecord, ch *raftsm.KEKChange) (*raftsm.ClusterRecord, *raftsm.KEKChange, error) {
	self := r.st.NodeID
	if ch.Phase == raftsm.KEKSwitching && ch.Coordinator == self {
		return rec, ch, nil
	}
	id := ch.ID
	rec, err := r.updateCluster(ctx, func(rec *raftsm.ClusterRecord) error {
		if rec.KEKChange == nil || rec.KEKChange.ID != id {
			return api.Errorf(api.CodeConflict, "the KEK change was finished or replaced meanwhile")
		}
		rec.KEKChange.Phase, rec.KEKChange.Coordinator = raftsm.KEKSwitching, self
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	ch = rec.KEKChange
	r.node.log.Info("KEK change switching", "change", id, "kek_version", statedir.OperatorKEKVersion(ch.NewVersion))
	return rec, ch, nil
}

// kekPush gives a change's new KEK to one member: this manager holds it,
// another gets it over mutual TLS. wipe clears the exported key it keeps.
type kekPush struct {
	push func(raftsm.Member) error
	raw  []byte
}

func (p *kekPush) wipe() { statedir.Wipe(p.raw) }

// kekPusher returns the push of ch's new KEK to members.
func (r *replicas) kekPusher(ctx context.Context, ch *raftsm.KEKChange, newKEK *crypto.Key) (*kekPush, error) {
	raw, err := crypto.ExportKey(newKEK)
	if err != nil {
		return nil, err
	}
	self, tm := r.st.NodeID, r.tls
	return &kekPush{raw: raw, push: func(m raftsm.Member) error {
		if m.NodeID == self {
			k, err := crypto.NewKey(ch.NewVersion, append([]byte(nil), raw...))
			if err != nil {
				return err
			}
			return r.holdNextKEK(ch, k)
		}
		p := &peerKEK{ChangeID: ch.ID, Version: ch.NewVersion, Key: append([]byte(nil), raw...), Autolock: ch.Autolock}
		// The member reads the change linearizably first: one that just
		// restarted may still be catching up.
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		return r.node.peerCall(cctx, tm, m.APIAddr, "POST", "/v1/peer/kek", p, nil)
	}}, nil
}

// pushKEKToAll gives the new KEK to every member, in turn.
func (r *replicas) pushKEKToAll(members []raftsm.Member, ch *raftsm.KEKChange, push *kekPush) error {
	for _, m := range members {
		if err := push.push(m); err != nil {
			return api.Errorf(api.CodeUnavailable, "manager %s (%s) did not take the new KEK: %v", m.NodeID, m.Addr, err).
				WithHint("the change is recorded and the key shown stays valid: bring the manager back (unlock it with the old or the new key), then run `%s` again; or remove it with `vault node rm %s`", kekChangeCommand(ch), m.NodeID)
		}
	}
	return nil
}

// wrapUnderBothKEKs wraps every group's keyring under the old and the new
// KEK: either key opens everything.
func (r *replicas) wrapUnderBothKEKs(ctx context.Context, ch *raftsm.KEKChange, newKEK *crypto.Key) error {
	if err := r.syncKeyrings(ctx); err != nil {
		return err
	}
	w, _, err := r.controlKeyring(ctx)
	if err != nil {
		return err
	}
	if w.WrappedUnder(ch.NewVersion) {
		return nil
	}
	oldKEK := r.currentKEK()
	_, err = r.updateKeyring(ctx, func(w *keys.WrappedKeyring) (*keys.WrappedKeyring, error) {
		if w.WrappedUnder(ch.NewVersion) {
			return w, nil
		}
		return w.AddWrapping(oldKEK, newKEK)
	})
	return err
}

// wrapUnderNewKEKOnly drops the old KEK's wrapping of every group's
// keyring, adding (for a change with NewDEK) a DEK wrapped under the new
// KEK alone in the same step. It returns the control group's keyring.
func (r *replicas) wrapUnderNewKEKOnly(ctx context.Context, ch *raftsm.KEKChange, newKEK *crypto.Key) (*keys.WrappedKeyring, error) {
	w, _, err := r.controlKeyring(ctx)
	if err != nil {
		return nil, err
	}
	if !w.HasNext() {
		return w, r.syncKeyrings(ctx)
	}
	return r.updateKeyring(ctx, func(w *keys.WrappedKeyring) (*keys.WrappedKeyring, error) {
		if !w.HasNext() {
			return w, nil
		}
		w, err := w.DropWrapping(newKEK)
		if err != nil || !ch.NewDEK {
			return w, err
		}
		version := w.DEKs[len(w.DEKs)-1].Version + 1
		d, dek, err := keys.NewDEK(newKEK, version, time.Now())
		if err != nil {
			return nil, err
		}
		dek.Wipe()
		return w, w.AddDEK(d)
	})
}

// activateSwitchDEK activates the DEK a change added with the switch: the
// newest in w (DEKs are not rotated while a KEK change is recorded).
func (r *replicas) activateSwitchDEK(ctx context.Context, w *keys.WrappedKeyring) (uint32, error) {
	version := w.DEKs[len(w.DEKs)-1].Version
	_, err := r.updateKeyring(ctx, func(w *keys.WrappedKeyring) (*keys.WrappedKeyring, error) {
		return w, w.Activate(version)
	})
	return version, err
}

// clearKEKChange ends change id in the cluster record: the record takes
// the new setting and key, and drops the change.
func (r *replicas) clearKEKChange(ctx context.Context, id string, ch *raftsm.KEKChange) error {
	_, err := r.updateCluster(ctx, func(rec *raftsm.ClusterRecord) error {
		if rec.KEKChange == nil || rec.KEKChange.ID != id {
			return nil // finished by another run meanwhile
		}
		rec.Autolock, rec.UnlockKey, rec.KeyShares = ch.Autolock, ch.UnlockKey, ch.KeyShares
		rec.KEKChange = nil
		return nil
	})
	return err
}

// waitNextKEK waits until every member reports that it holds the change's
// KEK and that every group's keyring it stores is wrapped under it,
// pushing the KEK again to a member that lost it (a restart).
func (r *replicas) waitNextKEK(ctx context.Context, ch *raftsm.KEKChange, push func(raftsm.Member) error) error {
	n := r.node
	want := statedir.OperatorKEKVersion(ch.NewVersion)
	deadline := time.Now().Add(kekChangeWait)
	for {
		rec, err := r.staleCluster()
		if err != nil {
			return err
		}
		live := r.ping(ctx, rec.Members)
		var behind []raftsm.Member
		for _, m := range rec.Members {
			ps := live[m.NodeID]
			if ps == nil || ps.Locked || ps.NextKEKVersion != want {
				behind = append(behind, m)
				if ps != nil && !ps.Locked && ps.HeldKEKVersion != want {
					if err := push(m); err != nil {
						n.log.Warn("pushing the new KEK again", "manager", m.NodeID, "err", err)
					}
				}
			}
		}
		if len(behind) == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			m := behind[0]
			return api.Errorf(api.CodeUnavailable, "manager %s (%s) does not hold the new KEK in every group yet: the change waits for every manager", m.NodeID, m.Addr).
				WithHint("the change is recorded and the key shown stays valid: bring the manager back (unlock it with the old or the new key), then run `%s` again; or remove it with `vault node rm %s`", kekChangeCommand(ch), m.NodeID)
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// errKEKPush means a pushed KEK is not the committed change's.
var errKEKPush = errors.New("refused a pushed KEK")

// acceptPendingKEK takes a KEK pushed by another manager. It is accepted
// only when it is the KEK of the change committed through Raft (id,
// version and key check), pushed by that change's coordinator; a KEK held
// for a change is never replaced.
func (n *Node) acceptPendingKEK(ctx context.Context, p *peerKEK, from string) error {
	r, err := n.running()
	if err != nil {
		statedir.Wipe(p.Key)
		return err
	}
	return r.acceptPendingKEK(ctx, p, from)
}

func (r *replicas) acceptPendingKEK(ctx context.Context, p *peerKEK, from string) error {
	n := r.node
	defer statedir.Wipe(p.Key)
	refuse := func(why string) error {
		n.log.Warn("refused a pushed KEK", "from", from, "change", p.ChangeID, "kek_version", statedir.OperatorKEKVersion(p.Version), "reason", why)
		return api.Errorf(api.CodeInvalid, "%v: %s", errKEKPush, why)
	}
	k, err := crypto.NewKey(p.Version, append([]byte(nil), p.Key...))
	if err != nil {
		return refuse(fmt.Sprintf("bad KEK: %v", err))
	}
	rec, _, err := r.readCluster(ctx)
	if err != nil {
		k.Wipe()
		return err
	}
	ch := rec.KEKChange
	var why string
	switch {
	case ch == nil:
		why = "no KEK change is in progress"
	case ch.ID != p.ChangeID:
		why = "it is not for the KEK change in progress"
	case ch.Phase != raftsm.KEKSwitching:
		why = "the KEK change in progress is not switching managers"
	case ch.Coordinator != from:
		why = "it does not come from the manager running the KEK change"
	case ch.NewVersion != p.Version || keys.VerifyKEK(k, ch.Check) != nil:
		why = "it is not the KEK of the change in progress"
	}
	if why != "" {
		k.Wipe()
		return refuse(why)
	}
	if err := r.holdNextKEK(ch, k); err != nil {
		if errors.Is(err, errKEKPush) {
			return refuse(err.Error())
		}
		return err
	}
	return nil
}

// holdNextKEK keeps k, the next KEK of change ch, and persists what a
// restart needs to follow the change: the TLS key sealed under it and,
// for autolock off, the KEK itself (kek.next). It takes k. Holding the
// same KEK again does nothing; another one is refused.
func (r *replicas) holdNextKEK(ch *raftsm.KEKChange, k *crypto.Key) error {
	n := r.node
	if err := r.live(); err != nil {
		k.Wipe()
		return errLocked()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	same := func(h *crypto.Key) bool {
		return h != nil && h.Version() == k.Version() && keys.VerifyKEK(h, ch.Check) == nil
	}
	if same(r.kek) {
		k.Wipe()
		return nil // switched already
	}
	if p := r.pendingKEK; p != nil {
		if same(p.kek) {
			k.Wipe()
			return nil
		}
		k.Wipe()
		return fmt.Errorf("%w: this manager holds another KEK (version %d) for a change", errKEKPush, statedir.OperatorKEKVersion(p.kek.Version()))
	}
	if r.kek.Version() >= k.Version() {
		k.Wipe()
		return fmt.Errorf("%w: this manager's KEK (version %d) is not older than it", errKEKPush, statedir.OperatorKEKVersion(r.kek.Version()))
	}
	keyPEM, err := r.tls.keyPEM()
	if err == nil {
		err = statedir.SealNodeKey(n.cfg.StateDir, statedir.NodeKeyNextFile, k, keyPEM)
		statedir.Wipe(keyPEM)
	}
	if err == nil && !ch.Autolock {
		err = statedir.WriteKEK(n.cfg.StateDir, statedir.NextKEKFile, k)
	}
	if err != nil {
		k.Wipe()
		n.log.Error("persisting the next KEK", "err", err)
		return err
	}
	r.pendingKEK = &pendingKEK{kek: k, autolock: ch.Autolock, change: ch.ID}
	n.log.Info("holding the next KEK", "change", ch.ID, "kek_version", statedir.OperatorKEKVersion(k.Version()))
	return nil
}

// adoptKEKChange takes the next KEK from the committed change record when
// this manager missed its push (it restarted during the change). The
// record is replicated state, the same thing a push is checked against.
func (n *Node) adoptKEKChange() {
	if r := n.current(); r != nil {
		r.adoptKEKChange()
	}
}

func (r *replicas) adoptKEKChange() {
	n := r.node
	rec, err := r.staleCluster()
	if err != nil || rec.KEKChange == nil || rec.KEKChange.Phase != raftsm.KEKSwitching {
		return
	}
	ch := rec.KEKChange
	r.mu.RLock()
	have := r.pendingKEK != nil || r.kek.Version() >= ch.NewVersion
	r.mu.RUnlock()
	if have {
		return
	}
	k, err := crypto.NewKey(ch.NewVersion, append([]byte(nil), ch.KEK...))
	if err != nil || keys.VerifyKEK(k, ch.Check) != nil {
		n.log.Error("the recorded KEK change does not hold a valid KEK", "change", ch.ID)
		return
	}
	if err := r.holdNextKEK(ch, k); err != nil {
		n.log.Warn("taking the next KEK from the change record", "err", err)
	}
}

// kekChangeStatus is what this manager reports to a coordinator: the KEK
// it holds for a change (pending, or switched to), and that KEK again if
// every group's keyring it stores is wrapped under it.
func (n *Node) kekChangeStatus() (held, ready uint32) {
	r := n.current()
	if r == nil {
		return 0, 0
	}
	return r.kekChangeStatus()
}

func (r *replicas) kekChangeStatus() (held, ready uint32) {
	r.mu.RLock()
	k := r.kek
	if r.pendingKEK != nil {
		k = r.pendingKEK.kek
	}
	r.mu.RUnlock()
	st, store := r.st, r.store
	v := k.Version()
	rings := storedKeyrings(store, st)
	if len(rings) == 0 {
		return statedir.OperatorKEKVersion(v), 0
	}
	for _, w := range rings {
		if !w.WrappedUnder(v) {
			return statedir.OperatorKEKVersion(v), 0
		}
	}
	return statedir.OperatorKEKVersion(v), statedir.OperatorKEKVersion(v)
}

// finishKEKFiles brings the state dir in line with this manager's KEK once
// its keyring is wrapped under that KEK alone: the TLS key sealed under the
// next KEK becomes the node key, and the KEK file is written from kek.next
// (autolock off) or removed (autolock on). Every step leaves files a
// restart can use.
func (n *Node) finishKEKFiles(kek *crypto.Key, autolock bool) error {
	dir := n.cfg.StateDir
	next := filepath.Join(dir, statedir.TLSDir, statedir.NodeKeyNextFile)
	if b, err := os.ReadFile(next); err == nil {
		v, err := crypto.EnvelopeKeyVersion(b)
		if err == nil && v == kek.Version() {
			if err := statedir.WriteFileAtomic(filepath.Join(dir, statedir.TLSDir, statedir.NodeKeyFile), b, 0o600); err != nil {
				return err
			}
		}
		if err != nil || v <= kek.Version() { // a newer one is for a change still to come
			if err := os.Remove(next); err != nil {
				return err
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if autolock {
		for _, f := range []string{statedir.KEKFile, statedir.NextKEKFile} {
			if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	} else {
		if err := statedir.WriteKEK(dir, statedir.KEKFile, kek); err != nil {
			return err
		}
		if err := os.Remove(filepath.Join(dir, statedir.NextKEKFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	// The keyring a joining node kept is wrapped under the old KEK.
	if err := os.Remove(filepath.Join(dir, statedir.JoinKeyringFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		n.log.Warn("removing the join keyring", "err", err)
	}
	return nil
}

// staleKEKFiles reports whether the state dir still holds files of a KEK
// change this node has completed without a push (it was unlocked with, or
// started from, the new KEK): a kek.next or next-KEK TLS key not newer than
// kek, or a KEK file older than kek. autolock is the setting the change
// went to: kek.next is only written when turning autolock off.
func (n *Node) staleKEKFiles(r *replicas, kek *crypto.Key) (stale, autolock bool) {
	pending := false
	if r != nil {
		r.mu.RLock()
		pending = r.pendingKEK != nil
		r.mu.RUnlock()
	}
	if pending {
		return false, false
	}
	dir := n.cfg.StateDir
	if next, err := statedir.ReadKEK(dir, statedir.NextKEKFile); err == nil {
		v := next.Version()
		next.Wipe()
		return v <= kek.Version(), false
	}
	if b, err := os.ReadFile(filepath.Join(dir, statedir.TLSDir, statedir.NodeKeyNextFile)); err == nil {
		v, err := crypto.EnvelopeKeyVersion(b)
		return err == nil && v <= kek.Version(), true
	}
	if file, err := statedir.ReadKEK(dir, statedir.KEKFile); err == nil {
		v := file.Version()
		file.Wipe()
		return v < kek.Version(), true
	}
	return false, false
}

// tidyKEKFiles finishes, at start, the files of a KEK change this node
// completed before it stopped (or completes by being unlocked with the new
// key): once no group is wrapped under two KEKs, the old key can no longer
// open this node, so its old files go.
func (n *Node) tidyKEKFiles(store *raftsm.Store, st *statedir.Node, kek *crypto.Key) {
	for _, w := range storedKeyrings(store, st) {
		if w.HasNext() {
			return // still switching: the old key must keep working
		}
	}
	if stale, autolock := n.staleKEKFiles(n.current(), kek); stale {
		if err := n.finishKEKFiles(kek, autolock); err != nil {
			n.log.Error("switching the state dir to the new KEK", "err", err)
		}
	}
}

// wrongKeyHint says which key a node whose keyrings moved through a KEK
// change needs, from what it stores (no key is needed to see it).
func wrongKeyHint(stateDir string, rings []*keys.WrappedKeyring) string {
	var lo, hi uint32
	dual := false
	for _, w := range rings {
		if lo == 0 || w.KEKVersion < lo {
			lo = w.KEKVersion
		}
		hi = max(hi, w.KEKVersion, w.NextKEKVersion)
		dual = dual || w.HasNext()
	}
	when := ""
	if fi, err := os.Stat(filepath.Join(stateDir, statedir.TLSDir, statedir.NodeKeyNextFile)); err == nil {
		when = " on " + fi.ModTime().UTC().Format(time.RFC3339)
	} else if fi, err := os.Stat(filepath.Join(stateDir, statedir.TLSDir, statedir.NodeKeyFile)); err == nil {
		when = " on " + fi.ModTime().UTC().Format(time.RFC3339)
	}
	switch {
	case hi == 0:
		return ""
	case dual && lo < hi:
		return fmt.Sprintf("this manager was stopped during an unlock-key change (KEK version %d to %d)%s: give the key from before the change or the new key",
			statedir.OperatorKEKVersion(lo), statedir.OperatorKEKVersion(hi), when)
	case lo < hi:
		return fmt.Sprintf("this manager switched to KEK version %d during an unlock-key change%s: give the new key", statedir.OperatorKEKVersion(hi), when)
	}
	return ""
}

// adoptKEKChangeLater runs adoptKEKChange once the control group serves
// this node's reads (a restarted node catches up first).
func (n *Node) adoptKEKChangeLater(stop <-chan struct{}) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _, err := n.readCluster(ctx)
		cancel()
		if err == nil {
			n.adoptKEKChange()
			return
		}
		t := time.NewTimer(time.Second)
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}
