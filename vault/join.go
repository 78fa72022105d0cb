package vault

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"time"

	"github.com/lni/dragonboat/v4"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/ca"
	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/keys"
	"github.com/vaultd/vault/raftsm"
)

// joinRequest is what a joining node sends (POST /v1/peer/join), over TLS
// whose server it verified against the token's CA digest.
type joinRequest struct {
	Token       string `json:"token"`
	CSR         []byte `json:"csr"`
	RaftAddr    string `json:"raft_addr"`
	APIAddr     string `json:"api_addr"`
	TransferKey []byte `json:"transfer_key"` // 32 random bytes; the KEK comes back wrapped under it
}

// joinResponse admits a node: its identity and certificate, the cluster's
// membership, and what it needs to open the keyring.
type joinResponse struct {
	ClusterID  string          `json:"cluster_id"`
	NodeID     string          `json:"node_id"`
	ReplicaID  uint64          `json:"replica_id"`
	Shards     int             `json:"shards"`
	CACert     []byte          `json:"ca_cert"`
	Cert       []byte          `json:"cert"`
	KEKVersion uint32          `json:"kek_version"`
	KEK        []byte          `json:"kek"`     // wrapped under the transfer key
	Keyring    []byte          `json:"keyring"` // keys.WrappedKeyring (under the KEK)
	Members    []raftsm.Member `json:"members"`
	Autolock   bool            `json:"autolock"` // keep the KEK in memory only
	// Role "worker": no replica, no KEK, no keyring (worker.go).
	Role string `json:"role,omitempty"`
}

var transferBinding = crypto.Binding{Purpose: crypto.PurposeTransfer, Object: []byte("kek")}

// admit runs on a manager: it checks a join request, gives the new node an
// identity and a certificate, and adds it to every Raft group. On any
// failure nothing of the new member is left behind.
func (n *Node) admit(ctx context.Context, req *joinRequest, remote string) (*joinResponse, error) {
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	return r.admit(ctx, req, remote)
}

func (r *replicas) admit(ctx context.Context, req *joinRequest, remote string) (*joinResponse, error) {
	n := r.node
	nh := r.host()
	tok, err := ca.ParseToken(req.Token)
	if err != nil {
		return nil, operatorError(api.CodeInvalid, err)
	}
	tm, kek, st := r.tls, r.currentKEK(), r.st
	if ca.Digest(tm.root) != tok.Digest {
		return nil, api.Errorf(api.CodeInvalid, "the join token is for another cluster")
	}
	if len(req.TransferKey) != crypto.KeySize {
		return nil, api.Errorf(api.CodeInvalid, "join request without a transfer key")
	}
	for _, a := range []string{req.RaftAddr, req.APIAddr} {
		if h, _, err := net.SplitHostPort(a); err != nil || h == "" {
			return nil, api.Errorf(api.CodeInvalid, "join request: bad address %q", a)
		}
	}
	rec, _, err := r.readCluster(ctx)
	if err != nil {
		return nil, err
	}
	var sec [20]byte
	copy(sec[:], rec.Tokens[ca.RoleManager])
	// A role change (handover.go) joins with its one-time token.
	ho := pendingHandover(rec, tok.Secret[:])
	if ho != nil && ho.Role == ca.RoleWorker {
		return n.admitWorker(ctx, req, remote, ho.From)
	}
	if ho == nil && !ca.SecretEqual(tok.Secret, sec) {
		copy(sec[:], rec.Tokens[ca.RoleWorker])
		if ca.SecretEqual(tok.Secret, sec) {
			return n.admitWorker(ctx, req, remote, "")
		}
		n.log.Warn("join refused: invalid token", "from", remote)
		return nil, api.Errorf(api.CodeInvalid, "the join token is not valid: it was rotated, or mistyped").
			WithHint("print the current one on a manager with `vault cluster join-token manager`")
	}
	for _, m := range rec.Members {
		if m.Addr == req.RaftAddr || m.APIAddr == req.APIAddr {
			return nil, api.Errorf(api.CodeExists, "node %s already uses address %s", m.NodeID, req.RaftAddr).
				WithHint("if that node is gone, remove it first with `vault node rm %s`", m.NodeID)
		}
	}

	now := time.Now()
	nodeID := statedir.NewID()
	// The certificate is issued before the node is a member, so that the
	// record names the one certificate that is its identity.
	root, err := ca.ParseRoot(rec.CACert, rec.CAKey)
	if err != nil {
		return nil, err
	}
	cert, err := root.Sign(req.CSR, nodeID, ca.RoleManager, certHosts(req.RaftAddr, req.APIAddr), now)
	if err != nil {
		return nil, operatorError(api.CodeInvalid, err)
	}
	var member raftsm.Member
	rec, err = r.updateCluster(ctx, func(rec *raftsm.ClusterRecord) error {
		// A joiner gets the keyring and KEK of this moment: not while the
		// managers switch KEK under it.
		if ch := rec.KEKChange; ch != nil && ch.Phase == raftsm.KEKSwitching {
			return api.Errorf(api.CodeUnavailable, "a KEK change (KEK version %d) is switching the managers: join after it", statedir.OperatorKEKVersion(ch.NewVersion)).
				WithHint("finish it with `%s` on a manager, then join again", kekChangeCommand(ch))
		}
		if ho != nil && !rec.TakeHandover(ho.From, nodeID) {
			return api.Errorf(api.CodeConflict, "the promotion of node %s was withdrawn or already done", ho.From)
		}
		member = raftsm.Member{NodeID: nodeID, ReplicaID: rec.NextReplicaID, Addr: req.RaftAddr, APIAddr: req.APIAddr, Role: ca.RoleManager, Joined: now.UnixNano(), CertSerial: pemSerial(cert)}
		rec.NextReplicaID++
		rec.Members = append(rec.Members, member)
		return nil
	})
	if err != nil {
		return nil, err
	}
	resp, err := n.admitMember(ctx, nh, rec, &member, cert, req, kek, st)
	if err != nil {
		n.log.Warn("join failed; rolling back", "node_id", nodeID, "err", err)
		n.dropMember(context.Background(), nh, &member)
		return nil, err
	}
	n.log.Info("manager joined", "node_id", nodeID, "replica_id", member.ReplicaID, "raft_addr", req.RaftAddr)
	return resp, nil
}

func (n *Node) admitMember(ctx context.Context, nh *dragonboat.NodeHost, rec *raftsm.ClusterRecord, m *raftsm.Member, cert []byte, req *joinRequest, kek *crypto.Key, st *statedir.Node) (*joinResponse, error) {
	tk, err := crypto.NewKey(1, req.TransferKey)
	if err != nil {
		return nil, err
	}
	defer tk.Wipe()
	wrappedKEK, err := crypto.WrapKey(tk, transferBinding, kek)
	if err != nil {
		return nil, err
	}
	ring, err := readAs[[]byte](ctx, n, raftsm.ControlShard, raftsm.QueryKeyring{})
	if err != nil {
		return nil, err
	}
	for _, shard := range statedir.AllShards(st.Shards) {
		if err := n.addReplica(ctx, nh, shard, m.ReplicaID, m.Addr); err != nil {
			return nil, fmt.Errorf("add the new node to group %d: %w", shard, err)
		}
	}
	return &joinResponse{
		ClusterID: rec.ID, NodeID: m.NodeID, ReplicaID: m.ReplicaID, Shards: rec.Shards,
		CACert: rec.CACert, Cert: cert, KEKVersion: kek.Version(), KEK: wrappedKEK,
		Keyring: ring, Members: rec.Members, Autolock: rec.Autolock,
	}, nil
}

// addReplica adds a voting replica to a shard (idempotent).
func (n *Node) addReplica(ctx context.Context, nh *dragonboat.NodeHost, shard, replica uint64, addr string) error {
	return withRetry(ctx, "add replica", func(ctx context.Context) error {
		m, err := nh.SyncGetShardMembership(ctx, shard)
		if err != nil {
			return err
		}
		if a, ok := m.Nodes[replica]; ok && a == addr {
			return nil
		}
		err = nh.SyncRequestAddReplica(ctx, shard, replica, addr, m.ConfigChangeID)
		if errors.Is(err, dragonboat.ErrRejected) {
			return dragonboat.ErrShardNotReady // config change id moved on: retry
		}
		return err
	})
}

// deleteReplica removes a replica from a shard (idempotent).
func (n *Node) deleteReplica(ctx context.Context, nh *dragonboat.NodeHost, shard, replica uint64) error {
	self := n.replicaID()
	return withRetry(ctx, "delete replica", func(ctx context.Context) error {
		m, err := nh.SyncGetShardMembership(ctx, shard)
		if replica == self && errors.Is(err, dragonboat.ErrShardClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, ok := m.Nodes[replica]; !ok {
			return nil
		}
		err = nh.SyncRequestDeleteReplica(ctx, shard, replica, m.ConfigChangeID)
		if errors.Is(err, dragonboat.ErrRejected) {
			return dragonboat.ErrShardNotReady
		}
		if replica == self && errors.Is(err, dragonboat.ErrShardClosed) {
			return nil // this node's own replica went away as the removal applied
		}
		return err
	})
}

func (n *Node) replicaID() uint64 {
	if st := n.identity(); st != nil {
		return st.ReplicaID
	}
	return 0
}

// dropMember removes a member from every group and from the cluster record.
func (n *Node) dropMember(ctx context.Context, nh *dragonboat.NodeHost, m *raftsm.Member) error {
	record := func() error {
		_, err := n.updateCluster(ctx, func(rec *raftsm.ClusterRecord) error {
			serial := m.CertSerial
			if cur := rec.Member(m.NodeID); cur != nil && cur.CertSerial != "" {
				serial = cur.CertSerial
			}
			rec.Members = slices.DeleteFunc(rec.Members, func(x raftsm.Member) bool { return x.NodeID == m.NodeID })
			if !slices.ContainsFunc(rec.Removed, func(r raftsm.RemovedMember) bool { return r.NodeID == m.NodeID }) {
				rec.Removed = append(rec.Removed, raftsm.RemovedMember{NodeID: m.NodeID, CertSerial: serial, Removed: time.Now().UnixNano()})
			}
			return nil
		})
		return err
	}
	// Secret groups first, the control group last.
	shards := statedir.AllShards(n.shardCount())
	deleteReplicas := func() error {
		var errs []error
		for _, shard := range append(shards[1:], shards[0]) {
			errs = append(errs, n.deleteReplica(ctx, nh, shard, m.ReplicaID))
		}
		return errors.Join(errs...)
	}
	if m.ReplicaID == n.replicaID() {
		// This node is the one leaving and proposes through the control
		// group until the end: record the removal while it still can.
		return errors.Join(record(), deleteReplicas())
	}
	// Another node: take its replicas out before recording it as removed.
	// Once it is recorded, its Raft connections are refused, and removing it
	// from a group of two needs its own acknowledgement. deleteReplica is
	// idempotent, so a removal cut short here is finished by running it again.
	if err := deleteReplicas(); err != nil {
		return err
	}
	return record()
}

// Join makes this fresh node a manager of the cluster a token is for.
func (n *Node) Join(ctx context.Context, token, managerAddr string) (*api.InitResponse, error) {
	n.initMu.Lock()
	defer n.initMu.Unlock()
	if err := n.checkUninitialized(); err != nil {
		return nil, err
	}
	tok, err := ca.ParseToken(token)
	if err != nil {
		return nil, operatorError(api.CodeInvalid, err)
	}
	if _, _, err := net.SplitHostPort(managerAddr); err != nil {
		return nil, api.Errorf(api.CodeInvalid, "manager address %q: want HOST:PORT (the manager's API address)", managerAddr)
	}
	keyPEM, csr, err := ca.NewNodeKey("joining")
	if err != nil {
		return nil, err
	}
	defer statedir.Wipe(keyPEM)
	transfer := make([]byte, crypto.KeySize)
	if _, err := rand.Read(transfer); err != nil {
		return nil, err
	}
	tk, err := crypto.NewKey(1, transfer)
	if err != nil {
		return nil, err
	}
	defer tk.Wipe()
	req := &joinRequest{Token: tok.String(), CSR: csr, RaftAddr: n.cfg.AdvertiseAddr, APIAddr: n.advertisedAPIAddr(), TransferKey: transfer}
	var resp joinResponse
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = httpsCall(cctx, tokenTLSConfig(managerAddr, tok.Digest), managerAddr, "POST", "/v1/peer/join", req, &resp)
	cancel()
	statedir.Wipe(transfer)
	if err != nil {
		var ae *api.Error
		switch {
		case errors.Is(err, errCADigest) && probeLocked(ctx, managerAddr) != "":
			return nil, api.Errorf(api.CodeUnavailable, "the manager at %s is locked: it cannot admit a node; nothing was sent", managerAddr).
				WithHint("`vault unlock` it, or join through another manager")
		case errors.Is(err, errCADigest):
			return nil, api.Errorf(api.CodeInvalid, "the manager at %s does not belong to the cluster this token is for: its CA does not match the token; nothing was sent", managerAddr).
				WithHint("check the token and the address")
		case errors.As(err, &ae):
			return nil, ae
		}
		return nil, api.Errorf(api.CodeUnavailable, "cannot reach a manager at %s: %s", managerAddr, operatorMessage(err.Error())).
			WithHint("give a manager's API address (by default its Raft port + 1) and check that it is up and reachable")
	}
	if resp.Role == ca.RoleWorker {
		return n.startWorkerJoined(&resp, keyPEM)
	}
	st, err := n.newNodeState(resp.ClusterID, resp.NodeID, resp.ReplicaID, resp.Shards)
	if err != nil {
		return nil, err
	}
	if err := n.startJoined(ctx, st, &resp, tk, keyPEM); err != nil {
		n.shutdownRaft()
		if rerr := n.removeClusterFiles(); rerr != nil {
			n.log.Error("cleaning up after a failed join", "err", rerr)
		}
		return nil, fmt.Errorf("joined the cluster as node %s but could not start (remove it with `vault node rm %s` on a manager): %w", resp.NodeID, resp.NodeID, err)
	}
	n.log.Info("joined the cluster", "cluster_id", st.ClusterID, "node_id", st.NodeID, "replica_id", st.ReplicaID)
	return &api.InitResponse{ClusterID: st.ClusterID, NodeID: st.NodeID, Shards: st.Shards}, nil
}

func (n *Node) startJoined(ctx context.Context, st *statedir.Node, resp *joinResponse, tk *crypto.Key, keyPEM []byte) error {
	if err := n.removeClusterFiles(); err != nil {
		return err
	}
	b := &boot{st: st, join: true}
	n.rv.joinMembers.Store(&resp.Members)
	err := func() error {
		var err error
		if b.kek, err = crypto.UnwrapKey(tk, transferBinding, resp.KEKVersion, resp.KEK); err != nil {
			return fmt.Errorf("open the KEK sent by the manager: %w", err)
		}
		w, err := keys.UnmarshalWrappedKeyring(resp.Keyring)
		if err != nil {
			return err
		}
		if b.ring, err = w.Unwrap(b.kek); err != nil {
			return err
		}
		if !resp.Autolock {
			if err := statedir.WriteKEK(n.cfg.StateDir, statedir.KEKFile, b.kek); err != nil {
				return err
			}
		}
		if err := statedir.WriteFileAtomic(filepath.Join(n.cfg.StateDir, statedir.JoinKeyringFile), resp.Keyring, 0o600); err != nil {
			return err
		}
		if err := writeTLS(n.cfg.StateDir, b.kek, resp.CACert, resp.Cert, keyPEM); err != nil {
			return err
		}
		if b.tls, err = newTLSMaterial(resp.CACert, resp.Cert, keyPEM); err != nil {
			return err
		}
		if b.store, err = raftsm.OpenStore(filepath.Join(n.cfg.StateDir, statedir.StoreDir), false); err != nil {
			return err
		}
		return n.startRaft(ctx, b)
	}()
	if err != nil {
		b.release()
		return err
	}
	return statedir.WriteNode(n.cfg.StateDir, st)
}
