package vault

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/ca"
	"github.com/vaultd/vault/internal/raftnet"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/raftsm"
)

// Only current members are peers.
//
// Every certificate the cluster CA issues names a node id (its CN) that the
// cluster record listed as a member before the certificate was signed, and
// the record keeps the certificate's serial. Removing a manager (`vault node
// rm`, `vault cluster leave`, a join rolled back) moves it from Members to
// Removed in the same write. A manager checks a peer's certificate against
// the record it last applied (a local read, no quorum):
//
//   - on the manager API (peerOnly), the node must be a current member,
//     with the serial it was issued, and not removed;
//   - on the Raft port (internal/raftnet), at every handshake and every few
//     seconds for open connections, a removed node or a member's
//     certificate with another serial is refused. A node id the record does
//     not know yet is let through there: it is a manager that joined after
//     what this one applied, and a manager catching up must hear from it.
//
// A node with no record applied yet (joining, catching up) checks the CA
// chain only, as does a node whose record cannot be read, with the last one
// it read. A removed node learns it: its applied record lists it as removed,
// or a peer answers it with the code "removed"; it stops its replicas, keeps
// a marker file so that it does not start them again, and `vault status`
// says so.

// Errors of peer admission.
var (
	errPeerRemoved   = errors.New("removed from the cluster")
	errPeerNotMember = errors.New("not a member of the cluster")
)

// revocation is what a Node keeps for peer admission.
type revocation struct {
	access  atomic.Pointer[peerAccess] // last one read from applied state
	removed atomic.Bool                // this node was removed
	leaving atomic.Bool                // this node is leaving: its removal is expected
	// joinMembers are the members a join answered with: whom to ask while
	// this node has applied no record that lists it.
	joinMembers atomic.Pointer[[]raftsm.Member]
	once        sync.Once
	warned      warnLimiter // refusals logged
}

// warnLimiter lets a refusal be logged once a minute per peer: a removed
// node retries its Raft connections several times a second.
type warnLimiter struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (w *warnLimiter) allow(key string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last == nil {
		w.last = map[string]time.Time{}
	}
	now := time.Now()
	if t, ok := w.last[key]; ok && now.Sub(t) < time.Minute {
		return false
	}
	if len(w.last) > 1000 { // forget, rather than grow without bound
		clear(w.last)
	}
	w.last[key] = now
	return true
}

// peerAccess is who may talk to this node as a manager, from one applied
// cluster record.
type peerAccess struct {
	gen            uint64
	members        map[string]string // node id -> certificate serial ("": not recorded)
	removedIDs     map[string]bool
	removedSerials map[string]bool
}

func newPeerAccess(rec *raftsm.ClusterRecord, gen uint64) *peerAccess {
	a := &peerAccess{gen: gen, members: map[string]string{}, removedIDs: map[string]bool{}, removedSerials: map[string]bool{}}
	for _, m := range rec.Members {
		a.members[m.NodeID] = m.CertSerial
	}
	for _, r := range rec.Removed {
		a.removedIDs[r.NodeID] = true
		if r.CertSerial != "" {
			a.removedSerials[r.CertSerial] = true
		}
	}
	return a
}

// admit checks a certificate whose chain verified. strict requires a
// current member; otherwise an unknown node id passes.
func (a *peerAccess) admit(cert *x509.Certificate, strict bool) error {
	id, serial := cert.Subject.CommonName, certSerial(cert)
	if certRole(cert) == ca.RoleWorker {
		return fmt.Errorf("node %s is a worker: %w", id, errPeerNotMember) // workers reach the stream only (workerserve.go)
	}
	if a.removedIDs[id] || a.removedSerials[serial] {
		return fmt.Errorf("node %s: %w", id, errPeerRemoved)
	}
	want, ok := a.members[id]
	switch {
	case !ok && strict:
		return fmt.Errorf("node %s: %w", id, errPeerNotMember)
	case ok && want != "" && want != serial:
		return fmt.Errorf("node %s: certificate %s is not the one it was issued: %w", id, serial, errPeerNotMember)
	}
	return nil
}

func certSerial(c *x509.Certificate) string { return c.SerialNumber.Text(16) }

// pemSerial is the serial of a PEM certificate ("" if it does not parse).
func pemSerial(certPEM []byte) string {
	c, err := ca.ParseCert(certPEM)
	if err != nil {
		return ""
	}
	return certSerial(c)
}

// currentAccess reads peer access from this node's applied control state,
// decrypting the record only when it changed; nil when no record was ever
// read.
func (n *Node) currentAccess() *peerAccess {
	last := n.rv.access.Load()
	run := n.current()
	if run == nil {
		return last
	}
	nh := run.host()
	sc, err := staleReadAs[*raftsm.StoredCluster](nh, raftsm.ControlShard, raftsm.QueryCluster{})
	if err != nil || sc == nil {
		return last
	}
	if last != nil && last.gen == sc.Gen {
		return last
	}
	rec, err := n.openCluster(sc)
	if err != nil {
		return last
	}
	a := newPeerAccess(rec, sc.Gen)
	n.rv.access.Store(a)
	if self := n.Status().NodeID; self != "" && a.removedIDs[self] {
		n.noteRemoved("the cluster record this node applied lists it as removed")
	}
	return a
}

// admitPeer checks a peer's verified certificate (see currentAccess).
func (n *Node) admitPeer(cert *x509.Certificate, strict bool) error {
	if isClientCert(cert) {
		return fmt.Errorf("%s: %w", cert.Subject.CommonName, errClientCert)
	}
	a := n.currentAccess()
	if a == nil {
		return nil // nothing applied yet: the CA chain is all there is
	}
	return a.admit(cert, strict)
}

// checkPeerRequest is peerOnly's admission: nil, or the API error to answer.
func (n *Node) checkPeerRequest(r *http.Request) *api.Error {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return api.Errorf(api.CodeForbidden, "a certificate from this cluster's CA is required")
	}
	peer := r.TLS.PeerCertificates[0]
	err := n.admitPeer(peer, true)
	if err == nil {
		return nil
	}
	if n.rv.warned.allow("api " + err.Error()) {
		n.log.Warn("refused a peer certificate (logged once a minute)", "peer", peer.Subject.CommonName, "route", r.Pattern, "from", r.RemoteAddr, "err", err)
	}
	if errors.Is(err, errPeerRemoved) {
		return api.Errorf(api.CodeRemoved, "this certificate's node was removed from the cluster").
			WithHint("a removed node cannot come back: move its state dir aside and join it again with `vault cluster join`")
	}
	return api.Errorf(api.CodeForbidden, "this certificate's node is not a member of the cluster")
}

// raftTransport is the Raft transport factory for this node's NodeHost.
func (n *Node) raftTransport(tm *tlsMaterial) *raftnet.Factory {
	log := n.log.With("component", "raft-transport")
	return &raftnet.Factory{Config: raftnet.Config{
		Certificate:      tm.cert,
		Roots:            tm.pool,
		Admit:            func(c *x509.Certificate) error { return n.admitPeer(c, false) },
		HandshakeTimeout: raftHandshakeTimeout,
		Refused: func(remote string, err error) {
			if errors.Is(err, errPeerRemoved) {
				if n.rv.warned.allow("raft " + err.Error()) {
					log.Warn("refused a removed node's Raft connection (logged once a minute)", "remote", remote, "err", err)
				}
				return
			}
			log.Debug("Raft connection refused", "remote", remote, "err", err)
		},
	}}
}

// raftHandshakeTimeout bounds a TLS handshake on the Raft port.
const raftHandshakeTimeout = 5 * time.Second

// noteRemoved is called when this node learns it was removed: it stops
// its replicas once. A node that is leaving expects it.
func (n *Node) noteRemoved(how string) {
	if n.rv.leaving.Load() {
		return
	}
	n.rv.once.Do(func() {
		n.rv.removed.Store(true)
		n.log.Error("this node was removed from the cluster: stopping its replicas", "how", how,
			"hint", "it holds no current data; to make this machine a manager again, stop the daemon, move --state-dir aside and run `vault cluster join` with a new token")
		// Not from the caller's goroutine: it may be the Raft transport's,
		// which closing the NodeHost waits for.
		go n.stopRemoved()
	})
}

// stopRemoved stops the replicas of a removed node, keeping its identity
// for `vault status`, and marks the state dir.
func (n *Node) stopRemoved() {
	if err := statedir.WriteFileAtomic(filepath.Join(n.cfg.StateDir, statedir.RemovedFile), []byte("removed from the cluster\n"), 0o600); err != nil {
		n.log.Warn("marking the state dir as removed", "err", err)
	}
	n.leaveRunning(true)
}

// wasRemoved says whether the state dir is marked as removed.
func wasRemoved(stateDir string) bool {
	_, err := os.Stat(filepath.Join(stateDir, statedir.RemovedFile))
	return err == nil
}

// enterRemoved starts a node marked as removed: identity only, no replicas.
func (n *Node) enterRemoved(st *statedir.Node) {
	n.rv.removed.Store(true)
	n.rv.once.Do(func() {})
	n.enterBetween(st)
	n.log.Error("this node was removed from the cluster: its replicas stay stopped", "node_id", st.NodeID,
		"hint", "to make this machine a manager again, stop the daemon, move --state-dir aside and run `vault cluster join` with a new token")
}

func errRemoved() *api.Error {
	return api.Errorf(api.CodeRemoved, "this node was removed from the cluster").
		WithHint("to make this machine a manager again, stop the daemon, move --state-dir aside and run `vault cluster join` with a new token")
}

// removedPeerError says whether a peer call was refused because this node
// was removed.
func removedPeerError(err error) bool {
	var ae *api.Error
	return errors.As(err, &ae) && ae.Code == api.CodeRemoved
}

// handlePeerLeave is POST /v1/peer/leave: the calling manager asks to be
// removed. It cannot remove itself through Raft: once the record lists it
// as removed, its own Raft connections are refused.
func (n *Node) handlePeerLeave(r *http.Request) (any, error) {
	run, err := n.running()
	if err != nil {
		return nil, err
	}
	nh := run.host()
	id := r.TLS.PeerCertificates[0].Subject.CommonName
	rec, _, err := run.readCluster(r.Context())
	if err != nil {
		return nil, err
	}
	m := rec.Member(id)
	if m == nil {
		return nil, api.Errorf(api.CodeNotFound, "no such node: %s", id)
	}
	if id == n.Status().NodeID {
		return nil, api.Errorf(api.CodeInvalid, "node %s is this node", id)
	}
	leaving := *m
	if err := n.dropMember(r.Context(), nh, &leaving); err != nil {
		return nil, err
	}
	n.log.Info("manager left", "node_id", leaving.NodeID, "replica_id", leaving.ReplicaID)
	return struct{}{}, nil
}

// leaveThroughPeer asks a live manager other than this one to remove it.
func (n *Node) leaveThroughPeer(ctx context.Context, members []raftsm.Member, live map[string]*peerStatus) error {
	run := n.current()
	if run == nil {
		return errLocked()
	}
	tm := run.tls
	self := n.Status().NodeID
	var errs []error
	for _, m := range members {
		if _, up := live[m.NodeID]; !up || m.NodeID == self {
			continue
		}
		err := n.peerCall(ctx, tm, m.APIAddr, "POST", "/v1/peer/leave", nil, nil)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", m.NodeID, err))
	}
	if len(errs) == 0 {
		return errors.New("no other manager is reachable")
	}
	return errors.Join(errs...)
}

// removalProbeInterval is how often a node that its own applied record
// does not list as a member asks the managers it knows whether it was
// removed. One it lists is asked by balanceLoop's pings.
const removalProbeInterval = 5 * time.Second

// removalLoop notices this node's removal when nothing else would: removed
// before it caught up (its applied record may not list it yet, or even
// list only the first manager), its peers refuse its Raft connections and
// its record never changes again.
func (n *Node) removalLoop(stop <-chan struct{}) {
	every(stop, removalProbeInterval, n.probeRemoval)
}

func (n *Node) probeRemoval() {
	if n.rv.removed.Load() || n.rv.leaving.Load() {
		return
	}
	n.currentAccess() // notes a removal the applied record shows
	self := n.Status().NodeID
	var members []raftsm.Member
	if rec, err := n.staleCluster(); err == nil {
		if rec.Member(self) != nil && len(rec.Members) > 1 {
			return // balanceLoop pings them
		}
		members = rec.Members
	}
	if jm := n.rv.joinMembers.Load(); jm != nil {
		members = append(members, *jm...)
	}
	var others []raftsm.Member
	seen := map[string]bool{self: true}
	for _, m := range members {
		if !seen[m.NodeID] {
			seen[m.NodeID] = true
			others = append(others, m)
		}
	}
	if len(others) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*pingTimeout)
	defer cancel()
	n.ping(ctx, others)
}
