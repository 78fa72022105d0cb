package vault

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/ca"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/raftsm"
)

// admitWorker runs on a manager for a join with the worker token: the node
// gets an id and a certificate with the worker role, and is recorded as a
// worker. It gets no replica, no KEK and no keyring.
// A demoted manager (from: its id as manager) joins with its handover
// token and takes its labels and node grants along.
func (n *Node) admitWorker(ctx context.Context, req *joinRequest, remote, from string) (*joinResponse, error) {
	rec, _, err := n.readCluster(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	nodeID := statedir.NewID()
	root, err := ca.ParseRoot(rec.CACert, rec.CAKey)
	if err != nil {
		return nil, err
	}
	// The worker serves no TLS: its certificate names no host.
	cert, err := root.Sign(req.CSR, nodeID, ca.RoleWorker, nil, now)
	if err != nil {
		return nil, operatorError(api.CodeInvalid, err)
	}
	host, _, _ := net.SplitHostPort(remote)
	rec, err = n.updateCluster(ctx, func(rec *raftsm.ClusterRecord) error {
		if from != "" && !rec.TakeHandover(from, nodeID) {
			return api.Errorf(api.CodeConflict, "the demotion of node %s was withdrawn or already done", from)
		}
		rec.Workers = append(rec.Workers, raftsm.Worker{NodeID: nodeID, Addr: host, Joined: now.UnixNano(), CertSerial: pemSerial(cert)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	n.log.Info("worker joined", "node_id", nodeID, "from", host)
	return &joinResponse{ClusterID: rec.ID, NodeID: nodeID, CACert: rec.CACert, Cert: cert, Members: rec.Members, Role: ca.RoleWorker}, nil
}

// removeWorker removes a worker for good: its certificate is refused from
// now on, and the stream it holds tells it to wipe what it holds (within
// workerPoll of the removal applying on that manager).
func (n *Node) removeWorker(ctx context.Context, id string) (*api.Node, error) {
	_, err := n.updateCluster(ctx, func(rec *raftsm.ClusterRecord) error {
		w := rec.Worker(id)
		if w == nil {
			return api.Errorf(api.CodeNotFound, "no such node: %s", id)
		}
		rec.Removed = append(rec.Removed, raftsm.RemovedMember{NodeID: id, CertSerial: w.CertSerial, Removed: time.Now().UnixNano()})
		rec.ForgetNode(id)
		return nil
	})
	if err != nil {
		return nil, err
	}
	n.log.Info("worker removed", "node_id", id)
	return &api.Node{ID: id, Role: ca.RoleWorker}, nil
}

// workerNodes lists the workers as `vault node ls` shows them: ready while
// a stream to some manager is open, down otherwise.
func (n *Node) workerNodes(ctx context.Context, rec *raftsm.ClusterRecord) []api.Node {
	if len(rec.Workers) == 0 {
		return nil
	}
	up := map[string]bool{}
	for _, id := range n.workerHub().connectedWorkers() {
		up[id] = true
	}
	if r := n.current(); r != nil {
		var mu sync.Mutex
		var wg sync.WaitGroup
		self := n.Status().NodeID
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		for _, m := range rec.Members {
			if m.NodeID == self {
				continue
			}
			wg.Add(1)
			go func(addr string) {
				defer wg.Done()
				var ids []string
				if err := n.peerCall(cctx, r.tls, addr, "GET", "/v1/peer/workers", nil, &ids); err != nil {
					return
				}
				mu.Lock()
				for _, id := range ids {
					up[id] = true
				}
				mu.Unlock()
			}(m.APIAddr)
		}
		wg.Wait()
	}
	var out []api.Node
	for _, w := range rec.Workers {
		status := "down"
		if up[w.NodeID] {
			status = "ready"
		}
		out = append(out, api.Node{ID: w.NodeID, Addr: w.Addr, Role: ca.RoleWorker, Status: status,
			JoinedAt: time.Unix(0, w.Joined).UTC(), Labels: rec.NodeLabels[w.NodeID]})
	}
	return out
}
