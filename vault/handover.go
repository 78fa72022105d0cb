package vault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/ca"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/raftsm"
)

// `vault node promote` and `vault node demote`: a node changes role by
// leaving its old role and joining again, through the normal join path,
// under a new node id. The command does every step for the operator:
//
//   - promote (a worker becomes a manager): a manager records a handover
//     (raftsm.Handover) with a one-time join secret; every manager's stream
//     to that worker carries the token; the worker ends its worker phase,
//     wipes what it holds and joins as a manager with the token (it gets a
//     manager certificate, the KEK and keyring, and a voting replica of
//     every group, as any joining manager).
//   - demote (a manager becomes a worker): after the quorum checks, a
//     handover is recorded and the manager is told (POST /v1/peer/demote,
//     or directly when it is this node); it leaves the cluster (`vault
//     cluster leave`: its replicas are removed and its cluster state wiped)
//     and joins again as a worker with the token.
//
// Taking the handover (in admit) moves the old id's labels and node grants
// to the new id in the same compare-and-set that admits the node, so what
// the node may receive follows it across the change.

// handoverWait bounds how long the command waits for the node to come back
// in its new role; handoverKeep how long a finished handover stays in the
// record (so that a manager that asked can read the new id).
// handoverValid bounds how long a recorded handover can be taken: one left
// behind by a manager that stopped while it waited is never taken later
// (generous, for the managers' clocks).
const (
	handoverWait  = 25 * time.Second
	handoverValid = 60 * time.Second
	handoverKeep  = 10 * time.Minute
)

// pendingHandover is the handover a token secret is for, if it can still
// be taken.
func pendingHandover(rec *raftsm.ClusterRecord, secret []byte) *raftsm.Handover {
	h := rec.HandoverBySecret(secret)
	if h == nil || time.Since(time.Unix(0, h.Created)) > handoverValid {
		return nil
	}
	return h
}

// handoverToken is the join token of a handover secret.
func handoverToken(rec *raftsm.ClusterRecord, secret []byte) (string, error) {
	root, err := ca.ParseCert(rec.CACert)
	if err != nil {
		return "", err
	}
	t := ca.Token{Digest: ca.Digest(root)}
	copy(t.Secret[:], secret)
	return t.String(), nil
}

// recordHandover records a handover of node id to role, with a new secret.
func (n *Node) recordHandover(ctx context.Context, id, role string, check func(rec *raftsm.ClusterRecord) error) (*raftsm.ClusterRecord, []byte, error) {
	sec, err := ca.NewTokenSecret()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now().UnixNano()
	rec, err := n.updateCluster(ctx, func(rec *raftsm.ClusterRecord) error {
		if err := check(rec); err != nil {
			return err
		}
		rec.SetHandover(raftsm.Handover{From: id, Role: role, Secret: sec[:], Created: now}, now-int64(handoverKeep))
		return nil
	})
	return rec, sec[:], err
}

// waitHandover waits for the node to join again; on a timeout it withdraws
// the handover (if not taken meanwhile) and says why.
func (n *Node) waitHandover(ctx context.Context, id, what string) (string, error) {
	deadline := time.Now().Add(handoverWait)
	for {
		rec, _, err := n.readCluster(ctx)
		if err == nil {
			h := rec.Handover(id)
			if h == nil {
				return "", api.Errorf(api.CodeConflict, "the %s of node %s was withdrawn meanwhile", what, id)
			}
			if h.To != "" {
				return h.To, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if taken := n.withdrawHandover(id); taken != "" {
		return taken, nil
	}
	return "", api.Errorf(api.CodeUnavailable, "node %s did not complete its %s within %s; it was withdrawn", id, what, handoverWait).
		WithHint("check the node's daemon log (it must reach a manager, and have --advertise-addr set to become a manager), then run the command again")
}

// withdrawHandover drops a node's handover unless it was taken meanwhile
// (then it returns the new id).
func (n *Node) withdrawHandover(id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var taken string
	_, err := n.updateCluster(ctx, func(rec *raftsm.ClusterRecord) error {
		if h := rec.Handover(id); h != nil && h.To != "" {
			taken = h.To
			return nil
		}
		rec.DropHandover(id)
		return nil
	})
	if err != nil {
		n.log.Warn("withdrawing a role change", "node_id", id, "err", err)
	}
	return taken
}

// PromoteNode makes a worker a manager (see above).
func (n *Node) PromoteNode(ctx context.Context, ref string) (*api.RoleChange, error) {
	rec, _, err := n.readCluster(ctx)
	if err != nil {
		return nil, err
	}
	id, role, err := findNode(rec, ref)
	if err != nil {
		return nil, err
	}
	if role != ca.RoleWorker {
		return nil, api.Errorf(api.CodeInvalid, "node %s is already a manager", id)
	}
	ready := false
	for _, w := range n.workerNodes(ctx, rec) {
		ready = ready || (w.ID == id && w.Status == "ready")
	}
	if !ready {
		return nil, api.Errorf(api.CodeUnavailable, "worker %s is down: it takes its promotion from its stream to a manager", id).
			WithHint("start its daemon and check that it reaches a manager (`vault status` on it), then run the command again")
	}
	_, _, err = n.recordHandover(ctx, id, ca.RoleManager, func(rec *raftsm.ClusterRecord) error {
		if rec.Worker(id) == nil {
			return api.Errorf(api.CodeNotFound, "no such worker: %s", id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	n.log.Info("promoting a worker: it joins again as a manager", "node_id", id)
	to, err := n.waitHandover(ctx, id, "promotion")
	if err != nil {
		return nil, err
	}
	n.log.Info("worker promoted", "node_id", id, "new_node_id", to)
	return &api.RoleChange{ID: id, NewID: to, Role: ca.RoleManager}, nil
}

// Errors of demotion.
var (
	errDemoteLast   = errors.New("this is the last manager: a cluster needs at least one")
	errDemoteQuorum = errors.New("demoting it would leave the managers without a quorum")
)

// demoteQuorum refuses a demotion that would leave no manager, or fewer
// reachable managers than a quorum of those that remain.
func demoteQuorum(members []raftsm.Member, live map[string]*peerStatus, leaving string) error {
	remain, up := 0, 0
	for _, m := range members {
		if m.NodeID == leaving {
			continue
		}
		remain++
		if ps, ok := live[m.NodeID]; ok && !ps.Locked {
			up++
		}
	}
	if remain == 0 {
		return api.Errorf(api.CodeInvalid, "cannot demote node %s: %v", leaving, errDemoteLast).
			WithHint("promote a worker first (`vault node promote ID`), then demote this one")
	}
	if need := remain/2 + 1; up < need {
		return api.Errorf(api.CodeInvalid, "cannot demote node %s: %v: %d of the %d remaining managers are reachable and unlocked, %d needed", leaving, errDemoteQuorum, up, remain, need).
			WithHint("bring the other managers back (or `vault unlock` them) first, or promote a worker first")
	}
	return nil
}

// demoteRequest is POST /v1/peer/demote: the manager asked becomes a worker
// with Token, through one of Via (other managers' API addresses).
type demoteRequest struct {
	Token string   `json:"token"`
	Via   []string `json:"via"`
}

// DemoteNode makes a manager a worker (see above).
func (n *Node) DemoteNode(ctx context.Context, ref string) (*api.RoleChange, error) {
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	rec, _, err := r.readCluster(ctx)
	if err != nil {
		return nil, err
	}
	if id, role, err := findNode(rec, ref); err == nil && role == ca.RoleWorker {
		return nil, api.Errorf(api.CodeInvalid, "node %s is already a worker", id)
	}
	m, err := findMember(rec, ref)
	if err != nil {
		return nil, err
	}
	id, self := m.NodeID, r.st.NodeID
	live := r.ping(ctx, rec.Members)
	if err := demoteQuorum(rec.Members, live, id); err != nil {
		return nil, err
	}
	if ps, ok := live[id]; !ok || ps.Locked {
		return nil, api.Errorf(api.CodeUnavailable, "node %s is not reachable and unlocked: it must be up to become a worker", id).
			WithHint("start (or `vault unlock`) it and run the command again; to drop a manager that is gone, use `vault node rm %s`", id)
	}
	var via []string
	for _, o := range rec.Members {
		if _, ok := live[o.NodeID]; ok && o.NodeID != id {
			via = append(via, o.APIAddr)
		}
	}
	rec, sec, err := n.recordHandover(ctx, id, ca.RoleWorker, func(rec *raftsm.ClusterRecord) error {
		if rec.Member(id) == nil {
			return api.Errorf(api.CodeNotFound, "no such node: %s", id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	tok, err := handoverToken(rec, sec)
	if err != nil {
		return nil, err
	}
	req := &demoteRequest{Token: tok, Via: via}
	n.log.Info("demoting a manager: it leaves and joins again as a worker", "node_id", id)
	if id == self {
		to, err := n.demoteSelf(ctx, req)
		if err != nil {
			n.withdrawHandover(id) // fails, logged, once this node has left
			return nil, err
		}
		return &api.RoleChange{ID: id, NewID: to, Role: ca.RoleWorker}, nil
	}
	if err := n.peerCall(ctx, r.tls, m.APIAddr, http.MethodPost, "/v1/peer/demote", req, nil); err != nil {
		n.withdrawHandover(id)
		return nil, fmt.Errorf("asking node %s to become a worker: %w", id, err)
	}
	to, err := n.waitHandover(ctx, id, "demotion")
	if err != nil {
		return nil, err
	}
	n.log.Info("manager demoted", "node_id", id, "new_node_id", to)
	return &api.RoleChange{ID: id, NewID: to, Role: ca.RoleWorker}, nil
}

// serveDemote is POST /v1/peer/demote: this manager was asked to become a
// worker. It checks that the applied record has its handover, answers, and
// makes the change in the background (the asking manager watches the
// record for it).
func (n *Node) serveDemote(r *http.Request) (any, error) {
	var req demoteRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	tok, err := ca.ParseToken(req.Token)
	if err != nil {
		return nil, operatorError(api.CodeInvalid, err)
	}
	// The asking manager committed the handover before asking; this
	// manager may not have applied it yet: give it a moment.
	self := n.Status().NodeID
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		rec, err := n.staleCluster()
		if err != nil {
			return nil, operatorError(api.CodeUnavailable, err)
		}
		if h := pendingHandover(rec, tok.Secret[:]); h != nil && h.From == self && h.Role == ca.RoleWorker {
			break
		}
		if time.Now().After(deadline) {
			return nil, api.Errorf(api.CodeInvalid, "no demotion of this node is recorded")
		}
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), handoverWait)
		defer cancel()
		if _, err := n.demoteSelf(ctx, &req); err != nil {
			n.log.Error("demotion to worker failed", "err", err)
		}
	}()
	return struct{}{}, nil
}

// demoteSelf makes this manager a worker: it leaves the cluster, then joins
// again with the handover token through another manager.
func (n *Node) demoteSelf(ctx context.Context, req *demoteRequest) (string, error) {
	if len(req.Via) == 0 {
		return "", api.Errorf(api.CodeUnavailable, "no other manager to join through")
	}
	if err := n.Leave(ctx, false); err != nil {
		return "", fmt.Errorf("leaving as a manager: %w", err)
	}
	// A worker's state dir holds worker.json, not a manager's node.json.
	if err := os.Remove(filepath.Join(n.cfg.StateDir, statedir.NodeFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		n.log.Warn("demotion: removing node.json", "err", err)
	}
	var err error
	for _, addr := range req.Via {
		var resp *api.InitResponse
		if resp, err = n.Join(ctx, req.Token, addr); err == nil {
			n.log.Info("demoted: this node is a worker now", "node_id", resp.NodeID)
			return resp.NodeID, nil
		}
	}
	return "", fmt.Errorf("left as a manager but could not join again as a worker (join it with `vault cluster join-token worker` and `vault cluster join`): %w", err)
}

// errWorkerPromoted ends a worker's stream when its promotion arrives.
type errWorkerPromoted struct{ token, via string }

func (e *errWorkerPromoted) Error() string { return "this worker is being promoted to manager" }

// promoteRefused says whether a promotion token already failed here.
func (n *Node) promoteRefused(token string) bool {
	p := n.wk.refusedPromote.Load()
	return p != nil && *p == token
}

// promoteWorker ends the worker phase and joins as a manager with the
// token. If the join is refused before the node was admitted, it goes back
// to being the worker it was.
func (n *Node) promoteWorker(w *workerPhase, p *errWorkerPromoted) {
	dir := n.cfg.StateDir
	files := map[string][]byte{}
	for _, name := range []string{workerFile, filepath.Join(statedir.TLSDir, statedir.CACertFile), filepath.Join(statedir.TLSDir, statedir.NodeCertFile), filepath.Join(statedir.TLSDir, workerKeyFile)} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			n.log.Error("promotion: reading the worker's identity", "err", err)
			return
		}
		files[name] = b
	}
	defer func() {
		for _, b := range files {
			statedir.Wipe(b)
		}
	}()
	w.halt()
	n.revokeFromMounts(w.wipeAll())
	w.tm.close()
	n.wk.phase.Store(nil)
	n.log.Info("promotion: this worker joins again as a manager", "via", p.via)
	if err := os.Remove(filepath.Join(dir, workerFile)); err != nil {
		n.log.Warn("promotion: removing worker.json", "err", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), handoverWait)
	defer cancel()
	resp, err := n.Join(ctx, p.token, p.via)
	if err == nil {
		n.log.Info("promoted: this node is a manager now", "node_id", resp.NodeID)
		return
	}
	n.log.Error("promotion failed; starting again as the worker it was (it does not retry this promotion: run `vault node promote` again)", "err", err)
	n.wk.refusedPromote.Store(&p.token)
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), statedir.Mode); err == nil {
			err = statedir.WriteFileAtomic(p, b, 0o600)
		}
		if err != nil {
			n.log.Error("promotion failed and the worker's identity could not be restored: join this host again", "err", err)
			return
		}
	}
	if err := n.startWorker(); err != nil {
		n.log.Error("promotion failed and the worker could not start again: restart the daemon", "err", err)
	}
}
