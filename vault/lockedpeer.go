package vault

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"sync"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/raftsm"
)

// A locked manager has no key to prove who it is: its TLS key is sealed
// under the KEK. So that the other managers show it as locked rather than
// unreachable, it answers GET /v1/peer/status on its API address under a
// throwaway self-signed certificate, saying only its node id and that it is
// locked, and refuses everything else. The managers asking take the answer
// as a claim for display (`vault node ls`, the health log), never as a sign
// that the node serves or counts toward a quorum (a node joining through it
// is told it is locked instead of that its CA does not match).

// startLockedPeer starts the locked node's status server. It is best
// effort: a node that cannot serve it (nil) is shown as unreachable.
func (n *Node) startLockedPeer(nodeID string) *peerServer {
	cert, err := throwawayCert()
	if err != nil {
		n.log.Warn("cannot serve the locked status to other managers", "err", err)
		return nil
	}
	l, err := tls.Listen("tcp", n.cfg.APIAddr, &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}})
	if err != nil {
		n.log.Warn("cannot serve the locked status to other managers", "addr", n.cfg.APIAddr, "err", err)
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/peer/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(&peerStatus{NodeID: nodeID, Locked: true})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		api.WriteError(w, errLocked())
	})
	errLog := slog.NewLogLogger(n.log.With("component", "manager-api").Handler(), slog.LevelDebug)
	p := &peerServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}, ln: l}
	go func() { _ = p.srv.Serve(l) }()
	return p
}

// throwawayCert is a self-signed certificate whose key lives only in memory
// and protects nothing.
func throwawayCert() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "locked vault manager"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("throwaway certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// lockedPeers asks the members that did not answer over mutual TLS whether
// they are locked, concurrently. See the note at the top of this file for
// what the answer is worth.
func lockedPeers(ctx context.Context, members []raftsm.Member, live map[string]*peerStatus) map[string]bool {
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[string]bool{}
	for _, m := range members {
		if _, ok := live[m.NodeID]; ok || m.APIAddr == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if probeLocked(ctx, m.APIAddr) == m.NodeID {
				mu.Lock()
				out[m.NodeID] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

// probeLocked returns the node id a locked manager at addr gives, or "" when
// nothing there says it is a locked manager.
func probeLocked(ctx context.Context, addr string) string {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	// Nothing is verified: the answer is a claim for display only.
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true}
	var ps peerStatus
	if err := httpsCall(ctx, cfg, addr, "GET", "/v1/peer/status", nil, &ps); err != nil || !ps.Locked {
		return ""
	}
	return ps.NodeID
}
