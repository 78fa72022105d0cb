package vault

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/ca"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/raftsm"
)

// The manager's side of delivery to workers.
//
// A worker holds a stream open to one manager: GET /v1/worker/stream on the
// manager API, mutual TLS with its worker certificate. The manager checks
// the certificate on every message it sends, against the cluster record it
// applied: the node must be a worker of the record with the serial it was
// issued, and not removed. Each message is the complete set of secrets the
// worker may hold now (its grants), with the data of every version the
// stream has not sent yet; whatever a message does not list, the worker
// wipes. The stream is the only route a worker certificate reaches: the
// manager-only routes (peerOnly) and the Raft port admit managers only.

// workerMessage is one line of a worker's stream.
type workerMessage struct {
	// Full marks a message that carries the whole set; a message without
	// it is a keepalive.
	Full    bool              `json:"full,omitempty"`
	Secrets []deliveredSecret `json:"secrets,omitempty"`
	// Managers are the managers' API addresses, to fail over to.
	Managers []string `json:"managers,omitempty"`
	// Removed: the worker was removed from the cluster; it wipes what it
	// holds and stops.
	Removed bool `json:"removed,omitempty"`
	// Promote is the one-time join token of this worker's promotion to
	// manager (handover.go): it wipes what it holds and joins with it.
	Promote string `json:"promote,omitempty"`
	Time    int64  `json:"time"` // the manager's clock, unix nanoseconds
}

// deliveredSecret is one granted secret at its latest version. Data is
// left out when the stream already sent that version.
type deliveredSecret struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version uint32 `json:"version"`
	Data    []byte `json:"data,omitempty"`
}

// workerKeepalive is how often an idle stream carries a message, and
// workerSilence how long a worker waits for one before it fails over.
const (
	workerKeepalive = 2 * time.Second
	workerSilence   = 3 * workerKeepalive
	// workerPoll bounds how late a change of the cluster record (a grant,
	// a revocation, a label, a removal) reaches the streams.
	workerPoll = 100 * time.Millisecond
	// workerRefresh is how often a stream recomputes the set with no
	// change announced.
	workerRefresh = 30 * time.Second
)

// workerHub wakes the streams a manager serves when what they deliver may
// have changed: a secret was written (the SecretsChanged hook) or the
// cluster record moved on (polled while streams are open).
type workerHub struct {
	mu      sync.Mutex
	changed chan struct{} // closed at the next change
	streams int
	gen     uint64         // cluster record generation last seen by the poller
	workers map[string]int // node id -> streams open here
	// The cluster record last opened for the streams, and its generation.
	// It holds the CA key: dropped with the hub's node only.
	rec    *raftsm.ClusterRecord
	recGen uint64
	quorum workerQuorum // workerquorum.go
}

func (n *Node) workerHub() *workerHub {
	n.wk.hubOnce.Do(func() { n.wk.hub = &workerHub{changed: make(chan struct{})} })
	return n.wk.hub
}

// wait returns the channel closed at the next change.
func (h *workerHub) wait() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.changed
}

// notify wakes every stream. It never blocks (it runs in apply).
func (h *workerHub) notify() {
	h.mu.Lock()
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
}

// workerSecretsChanged is called from the SecretsChanged hook.
func (n *Node) workerSecretsChanged() {
	n.workerHub().notify()
}

// connected records a worker's stream opening or closing here.
func (h *workerHub) connected(id string, up bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.workers == nil {
		h.workers = map[string]int{}
	}
	if up {
		h.workers[id]++
	} else if h.workers[id]--; h.workers[id] <= 0 {
		delete(h.workers, id)
	}
}

// connectedWorkers lists the workers streaming from this manager.
func (h *workerHub) connectedWorkers() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.workers))
	for id := range h.workers {
		out = append(out, id)
	}
	return out
}

// join counts a stream; the first starts the poller of the cluster record.
func (n *Node) joinHub() (*workerHub, func()) {
	h := n.workerHub()
	h.mu.Lock()
	h.streams++
	first := h.streams == 1
	h.mu.Unlock()
	if first {
		go n.pollCluster(h)
	}
	return h, func() {
		h.mu.Lock()
		h.streams--
		h.mu.Unlock()
	}
}

// pollCluster notifies the streams when the applied cluster record changes,
// while there are streams.
func (n *Node) pollCluster(h *workerHub) {
	t := time.NewTicker(workerPoll)
	defer t.Stop()
	for range t.C {
		h.mu.Lock()
		if h.streams == 0 {
			h.rec = nil // it holds the CA key: kept only while streams need it
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		n.pollWorkerQuorum()
		r := n.current()
		if r == nil {
			h.mu.Lock()
			h.rec = nil // locked or stopping: no key stays in memory
			h.mu.Unlock()
			continue
		}
		sc, err := staleReadAs[*raftsm.StoredCluster](r.host(), raftsm.ControlShard, raftsm.QueryCluster{})
		if err != nil || sc == nil {
			continue
		}
		h.mu.Lock()
		moved := sc.Gen != h.gen
		h.gen = sc.Gen
		h.mu.Unlock()
		if moved {
			h.notify()
		}
	}
}

// workerRecord is the applied cluster record, opened once per generation
// for every stream (streams only read it).
func (n *Node) workerRecord() (*raftsm.ClusterRecord, error) {
	r := n.current()
	if r == nil {
		return nil, errLocked()
	}
	sc, err := staleReadAs[*raftsm.StoredCluster](r.host(), raftsm.ControlShard, raftsm.QueryCluster{})
	if err != nil {
		return nil, err
	}
	h := n.workerHub()
	h.mu.Lock()
	if sc != nil && h.rec != nil && h.recGen == sc.Gen {
		rec := h.rec
		h.mu.Unlock()
		return rec, nil
	}
	h.mu.Unlock()
	rec, err := n.openCluster(sc)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.rec, h.recGen = rec, sc.Gen
	h.mu.Unlock()
	return rec, nil
}

// Errors of worker admission.
var (
	errNotWorker     = errors.New("not a worker certificate")
	errWorkerUnknown = errors.New("not a worker of the cluster")
)

// certRole is the role a cluster certificate was issued for.
func certRole(c *x509.Certificate) string {
	if len(c.Subject.OrganizationalUnit) == 1 {
		return c.Subject.OrganizationalUnit[0]
	}
	return ""
}

// checkWorkerCert checks a worker's verified certificate against a cluster
// record.
func checkWorkerCert(rec *raftsm.ClusterRecord, cert *x509.Certificate) error {
	if certRole(cert) != ca.RoleWorker {
		return errNotWorker
	}
	id, serial := cert.Subject.CommonName, certSerial(cert)
	for _, r := range rec.Removed {
		if r.NodeID == id || r.CertSerial == serial {
			return errPeerRemoved
		}
	}
	w := rec.Worker(id)
	if w == nil || w.CertSerial != serial {
		return errWorkerUnknown
	}
	return nil
}

// registerWorkerPeerRoutes adds the workers' routes to the manager API.
func (n *Node) registerWorkerPeerRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/worker/stream", n.serveWorkerStream)
	mux.HandleFunc("POST /v1/peer/demote", n.peerOnly(n.serveDemote))
	mux.HandleFunc("GET /v1/peer/workers", n.peerOnly(func(r *http.Request) (any, error) {
		return n.workerHub().connectedWorkers(), nil
	}))
}

// serveWorkerStream sends a worker its granted secrets, then every change,
// until the worker goes away, loses its last grant's node (removal) or this
// manager stops.
func (n *Node) serveWorkerStream(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		api.WriteError(w, api.Errorf(api.CodeForbidden, "a certificate from this cluster's CA is required"))
		return
	}
	cert := r.TLS.PeerCertificates[0]
	id := cert.Subject.CommonName
	rec, err := n.staleCluster()
	if err != nil {
		api.WriteError(w, operatorError(api.CodeUnavailable, err))
		return
	}
	if err := checkWorkerCert(rec, cert); err != nil {
		if n.rv.warned.allow("worker " + id + err.Error()) {
			n.log.Warn("refused a worker stream (logged once a minute)", "peer", id, "from", r.RemoteAddr, "err", err)
		}
		if errors.Is(err, errPeerRemoved) {
			api.WriteError(w, api.Errorf(api.CodeRemoved, "this certificate's node was removed from the cluster"))
			return
		}
		api.WriteError(w, api.Errorf(api.CodeForbidden, "this certificate's node is not a worker of the cluster"))
		return
	}
	if err := n.admitWorkerStream(r.Context()); err != nil {
		api.WriteError(w, operatorError(api.CodeUnavailable, err))
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	_ = rc.SetReadDeadline(time.Time{})
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	h, leave := n.joinHub()
	defer leave()
	h.connected(id, true)
	defer h.connected(id, false)
	n.log.Info("worker connected", "node_id", id, "from", r.RemoteAddr)
	defer n.log.Info("worker disconnected", "node_id", id)

	enc := json.NewEncoder(w)
	sent := map[string]uint32{} // id -> version the stream sent
	var lastIDs []string
	lastSend, lastSet := time.Time{}, time.Time{}
	dirty := true
	var changed <-chan struct{}
	for {
		if !h.quorum.fresh() {
			// Cut off from the majority: the worker goes to another
			// manager rather than keep an old set (workerquorum.go).
			n.log.Warn("ending a worker stream: this manager has no quorum of the control group", "node_id", id)
			return
		}
		// The channel of the next change, taken before the set is computed
		// and kept until it fires: one taken again after a keepalive
		// would miss a change announced in between (the grant then
		// waited for the refresh, 30 s).
		if dirty || changed == nil {
			changed = h.wait()
		}
		var msg *workerMessage
		if dirty || time.Since(lastSet) >= workerRefresh {
			var err error
			msg, err = n.workerSet(r.Context(), cert, sent)
			if err != nil && msg == nil {
				n.log.Debug("worker stream", "node_id", id, "err", redacted(err))
			}
			lastSet = time.Now()
		} else if time.Since(lastSend) >= workerKeepalive && n.current() != nil {
			// Nothing changed: a keepalive, not the set again. A manager
			// that is not running sends none, so its workers fail over.
			if enc.Encode(&workerMessage{Time: time.Now().UnixNano()}) != nil {
				return
			}
			_ = rc.Flush()
			lastSend = time.Now()
		}
		if msg != nil {
			ids := make([]string, 0, len(msg.Secrets))
			fresh := msg.Removed || msg.Promote != ""
			for _, s := range msg.Secrets {
				ids = append(ids, s.ID)
				fresh = fresh || s.Data != nil
			}
			if fresh || !slices.Equal(ids, lastIDs) || time.Since(lastSend) >= workerKeepalive {
				msg.Full = true
				msg.Time = time.Now().UnixNano()
				err := enc.Encode(msg)
				for _, s := range msg.Secrets {
					statedir.Wipe(s.Data)
				}
				if err != nil {
					return
				}
				_ = rc.Flush()
				lastIDs, lastSend = ids, time.Now()
				if msg.Removed {
					return
				}
			}
		}
		select {
		case <-r.Context().Done():
			return
		case <-changed:
			dirty = true
		case <-time.After(workerKeepalive):
			dirty = false
		}
	}
}

// workerSet builds the message a worker gets now: nil with an error when
// this manager cannot tell (it is locked, or stopped); sent is updated with
// the versions whose data the message carries.
func (n *Node) workerSet(ctx context.Context, cert *x509.Certificate, sent map[string]uint32) (*workerMessage, error) {
	rec, err := n.workerRecord()
	if err != nil {
		return nil, err
	}
	msg := &workerMessage{}
	for _, m := range rec.Members {
		msg.Managers = append(msg.Managers, m.APIAddr)
	}
	if err := checkWorkerCert(rec, cert); err != nil {
		// Removed since the stream opened (or its certificate no longer
		// the one recorded): it must drop everything.
		msg.Removed = true
		return msg, nil
	}
	id := cert.Subject.CommonName
	if h := rec.Handover(id); h != nil && h.Role == ca.RoleManager && pendingHandover(rec, h.Secret) != nil {
		msg.Promote, _ = handoverToken(rec, h.Secret)
	}
	ctx = WithStaleReads(ctx)
	keep := map[string]bool{}
	for _, sid := range rec.SecretsFor(id) {
		e, err := n.resolve(ctx, sid)
		if err != nil {
			continue // removed since it was granted: nothing to deliver
		}
		// The manager checks the grant, not the worker: it sends only
		// what the record grants this node.
		if !rec.Granted(e.rec.ID, id) {
			continue
		}
		d := deliveredSecret{ID: e.rec.ID, Name: e.rec.Name, Version: e.rec.Latest().Version}
		if sent[d.ID] != d.Version {
			data, v, err := n.secretData(ctx, e, d.Version)
			if err != nil {
				continue
			}
			d.Data, d.Version = data, v
			sent[d.ID] = v
		}
		keep[d.ID] = true
		msg.Secrets = append(msg.Secrets, d)
	}
	for sid := range sent {
		if !keep[sid] {
			delete(sent, sid)
		}
	}
	return msg, nil
}
