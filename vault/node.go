package vault

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/vaultd/vault/internal/statedir"
)

// Node is one vault node: its Raft replicas, keyring and local API.
type Node struct {
	cfg Config
	log *slog.Logger

	lock *statedir.Lock // on the state dir
	srv  *http.Server
	ln   net.Listener

	// The phase (phase.go): nil (uninitialized), *lockedPhase, *replicas
	// (running, the only value that holds keys) or between.
	mu sync.RWMutex // guards ph
	ph phase

	leaders leaderWatch // which leader each group has, for requests in flight

	liveMu sync.Mutex
	live   map[string]time.Time // node id -> last successful ping

	stoppedMu sync.Mutex
	stopped   map[uint64]stoppedGroup // groups stopped at an entry they cannot open

	mountMu sync.Mutex
	mounts  map[string]*mount // by mountpoint (exec mounts by a private key)
	mnt     mountTable        // the rest of the table (mounts.go)

	rv revocation // peer admission; this node's own removal

	mcache      metricsCache    // what a scrape reads (metrics.go)
	aud         auditState      // the audit log (audit.go)
	acc         accessState     // remote clients admitted (access.go)
	wk          workerState     // a worker's phase; a manager's worker streams (worker.go)
	localReseal localResealWalk // a full rotation's walk over this manager's groups (localreseal.go)

	// Lock order: initMu, keyMu, mountMu, mu, replicas.mu (package doc).
	initMu sync.Mutex // serializes phase changes asked for: Init, Join, Unlock, Lock, Leave
	keyMu  sync.Mutex // serializes key operations started on this node
}

// Start opens the state dir, brings up the replicas of an initialized node,
// and serves the API on the socket. Its error reads as an operator message
// (no Go package prefixes) and wraps the cause.
func Start(ctx context.Context, cfg Config) (_ *Node, err error) {
	defer func() {
		if err != nil {
			err = &operatorErr{err}
		}
	}()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger, mounts: map[string]*mount{}}
	quietDragonboat(n.log)
	if err := os.MkdirAll(cfg.StateDir, statedir.Mode); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	if n.lock, err = statedir.Acquire(cfg.StateDir); err != nil {
		return nil, err
	}
	n.cleanStaleMounts()
	removeSnapshotLeftovers(cfg.StateDir, n.log)
	if isWorkerDir(cfg.StateDir) {
		return n.startWorkerNode()
	}
	st, err := statedir.ReadNode(cfg.StateDir)
	if err == nil && st != nil {
		err = statedir.Check(cfg.StateDir, st) // before anything is opened for writing
	}
	if err == nil {
		// After the check: a refused start leaves the state dir as it was.
		err = statedir.Secure(cfg.StateDir)
	}
	if err == nil && st != nil {
		_ = statedir.RecordTables(cfg.StateDir, st) // every table was just read: the next start skips them unless they change
	}
	if err != nil {
		n.lock.Release()
		return nil, err
	}
	if err := n.openAudit(st); err != nil {
		n.lock.Release()
		return nil, err
	}
	if st == nil {
		// A failed init may have left files behind; nothing in them was acknowledged.
		if err := n.removeClusterFiles(); err != nil {
			n.lock.Release()
			return nil, err
		}
		n.log.Info("node is not part of a cluster yet: run `vault cluster init` (or join one)", "state_dir", cfg.StateDir)
	} else if wasRemoved(cfg.StateDir) {
		n.enterRemoved(st)
	} else {
		if err := n.bringUp(ctx, st); err != nil {
			n.lock.Release()
			return nil, err
		}
	}
	if err := n.serve(); err != nil {
		n.Close()
		return nil, err
	}
	go n.restoreHeld() // kept mounts, if this node runs already
	return n, nil
}

// Close stops serving, stops the replicas and wipes keys from memory.
func (n *Node) Close() error {
	if n.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = n.srv.Shutdown(ctx)
		cancel()
		os.Remove(n.cfg.SocketPath)
	}
	n.closeMounts()
	n.closeAudit() // sealed while the keys are still there
	n.closeWorker()
	st := n.identity()
	n.shutdownRaft()
	if store := n.leaveLocked(); store != nil {
		store.Close()
	}
	if st != nil {
		_ = statedir.RecordTables(n.cfg.StateDir, st) // a clean stop: tables written since the start are known good
	}
	n.lock.Release()
	return nil
}
