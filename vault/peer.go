package vault

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/vaultd/vault/api"
)

// peerServer is the manager API: TCP with TLS on the node's API address.
// Peer endpoints need a client certificate from the cluster CA; the join
// endpoint is authenticated by its token instead.
type peerServer struct {
	srv *http.Server
	ln  net.Listener
}

func (p *peerServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
	// Shutdown closes only the listeners Serve has begun to track: one
	// whose Serve goroutine has not run yet would hold the address until
	// it does, and a manager API started right after (an unlock straight
	// after a lock) could not bind it.
	if p.ln != nil {
		_ = p.ln.Close()
	}
}

// peerStatus is what GET /v1/peer/status answers.
type peerStatus struct {
	NodeID     string `json:"node_id"`
	Locked     bool   `json:"locked"`
	Ready      bool   `json:"ready"`
	KEKVersion uint32 `json:"kek_version,omitempty"` // as `vault status` shows it
	// During a KEK change: the KEK version this node holds (pending or
	// switched to), and that version again once every group's keyring it
	// stores is wrapped under it (kekChangeStatus).
	HeldKEKVersion uint32 `json:"held_kek_version,omitempty"`
	NextKEKVersion uint32 `json:"next_kek_version,omitempty"`
	// Each group's last applied index on this manager: how far it has
	// caught up. An unlocked manager always sends it, {} while its
	// replicas are not open yet (behind takes that for "not caught up");
	// a manager of an earlier version leaves it out.
	Applied map[uint64]uint64 `json:"applied"`
}

func (n *Node) startPeerServer(addr string, tm *tlsMaterial) (*peerServer, error) {
	tcp, err := net.Listen("tcp", n.cfg.APIAddr)
	if err != nil {
		return nil, fmt.Errorf("manager API on %s: %w", n.cfg.APIAddr, err)
	}
	ln := tls.NewListener(newLimitListener(tcp, maxUnverifiedPeerConns, maxUnverifiedPerHost), tm.serverConfig())
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/peer/join", n.handle(func(r *http.Request) (any, error) {
		var req joinRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return n.admit(r.Context(), &req, r.RemoteAddr)
	}))
	mux.HandleFunc("GET /v1/peer/status", n.peerOnly(func(r *http.Request) (any, error) {
		return n.selfPeerStatus(), nil
	}))
	// Refused handshakes (foreign certificates, joiners that found the wrong
	// CA) are routine: keep them out of the operator's log unless debugging.
	errLog := slog.NewLogLogger(n.log.With("component", "manager-api").Handler(), slog.LevelDebug)
	mux.HandleFunc("POST /v1/peer/kek", n.peerOnly(func(r *http.Request) (any, error) {
		var req peerKEK
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return struct{}{}, n.acceptPendingKEK(r.Context(), &req, peerNodeID(r))
	}))
	mux.HandleFunc("GET /v1/peer/keyusage", n.peerOnly(func(r *http.Request) (any, error) { return n.localKeyUsage() }))
	mux.HandleFunc("POST /v1/peer/compact", n.peerOnlyTimeout(compactTimeout, func(r *http.Request) (any, error) {
		return struct{}{}, n.compactLocal(r.Context())
	}))
	mux.HandleFunc("POST /v1/peer/reseal", n.peerOnlyTimeout(localResealTimeout, func(r *http.Request) (any, error) {
		var req peerReseal
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		rs, err := n.running()
		if err != nil {
			return nil, err
		}
		return rs.resealLocal(r.Context(), req.Target, req.Limit)
	}))
	mux.HandleFunc("POST /v1/peer/leave", n.peerOnly(n.handlePeerLeave))
	mux.Handle("/v1/", n.clientAPI()) // remote clients (access.go)
	n.registerWorkerPeerRoutes(mux)
	p := &peerServer{srv: &http.Server{Handler: n.countRequests(mux, mux), ErrorLog: errLog}, ln: ln}
	limitPeerServer(p.srv)
	go func() {
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("manager API stopped", "err", err)
		}
	}()
	return p, nil
}

// peerOnly requires a verified client certificate from the cluster CA whose
// node is a current member (checkPeerRequest).
func (n *Node) peerOnly(f func(r *http.Request) (any, error)) http.HandlerFunc {
	h := n.handle(f)
	return func(w http.ResponseWriter, r *http.Request) {
		if e := n.checkPeerRequest(r); e != nil {
			api.WriteError(w, e)
			return
		}
		h(w, r)
	}
}

// peerNodeID is the node id in a peer's verified client certificate.
func peerNodeID(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return ""
	}
	return r.TLS.VerifiedChains[0][0].Subject.CommonName
}

// selfPeerStatus is this node's answer to GET /v1/peer/status.
func (n *Node) selfPeerStatus() *peerStatus {
	s := n.Status()
	ps := &peerStatus{NodeID: s.NodeID, Locked: s.Locked, Ready: s.Initialized, KEKVersion: s.KEKVersion}
	if !s.Locked && s.Initialized {
		ps.HeldKEKVersion, ps.NextKEKVersion = n.kekChangeStatus()
		ps.Applied = map[uint64]uint64{}
		if r := n.current(); r != nil {
			ps.Applied = r.applied()
		}
	}
	return ps
}

// peerCall makes a request to another manager's API with this node's certificate.
func (n *Node) peerCall(ctx context.Context, tm *tlsMaterial, addr, method, path string, in, out any) error {
	return httpsCall(ctx, tm.clientConfig(addr), addr, method, path, in, out)
}

// httpsCall makes one request to a manager API at addr over TLS with cfg,
// on a connection of its own.
func httpsCall(ctx context.Context, cfg *tls.Config, addr, method, path string, in, out any) error {
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	return httpsDo(ctx, tr, addr, method, path, in, out)
}

// httpsDo is httpsCall over a given transport (one that keeps its
// connections, for calls made again and again).
func httpsDo(ctx context.Context, tr *http.Transport, addr, method, path string, in, out any) error {
	return api.NewTransportClient("https://"+addr, tr).Call(ctx, method, path, in, out)
}
