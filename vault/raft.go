package vault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/logger"
	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/raftsm"
)

// Raft timing. RTT is Dragonboat's logical tick; elections take
// electionRTT ticks, heartbeats heartbeatRTT ticks. Every tick wakes every
// group on the node and every heartbeat crosses TLS, so an idle cluster's
// CPU follows them: with 20 ms ticks and 40 ms heartbeats three idle
// managers used 0.27 cores of this machine's two, with 50 ms ticks and
// 100 ms heartbeats (etcd's default) 0.12 (docs/PERFORMANCE.md). Elections
// still start after 500 ms without a leader.
const (
	rttMillisecond = 50
	electionRTT    = 10 // 500 ms
	heartbeatRTT   = 2
)

var loggerOnce sync.Once

// quietDragonboat routes Dragonboat's own log lines into slog at debug level
// (warnings and errors of the storage layers at warn), so vault's log says
// what happened in operator terms. It can be installed once per process.
func quietDragonboat(log *slog.Logger) {
	loggerOnce.Do(func() {
		logger.SetLoggerFactory(func(pkg string) logger.ILogger {
			return &dbLogger{log: log.With("component", "raft/"+pkg), pkg: pkg}
		})
	})
}

type dbLogger struct {
	log *slog.Logger
	pkg string
}

func (l *dbLogger) SetLevel(logger.LogLevel)          {}
func (l *dbLogger) Debugf(f string, a ...interface{}) {}
func (l *dbLogger) Infof(f string, a ...interface{}) {
	l.log.Debug(fmt.Sprintf(f, a...))
}
func (l *dbLogger) Warningf(f string, a ...interface{}) {
	l.log.Debug(fmt.Sprintf(f, a...))
}
func (l *dbLogger) Errorf(f string, a ...interface{}) {
	switch l.pkg {
	case "transport", "grpc", "raft", "dragonboat":
		// Unreachable peers and elections: reported by vault in its own words.
		l.log.Debug(fmt.Sprintf(f, a...))
	default:
		l.log.Warn(fmt.Sprintf(f, a...))
	}
}
func (l *dbLogger) Panicf(f string, a ...interface{}) {
	msg := fmt.Sprintf(f, a...)
	// Logged first: NewNodeHost recovers a panic whose value is not an error.
	l.log.Error("the Raft library stopped: "+msg, "hint", "if this node's raft/ or state/ files were damaged or restored from a backup, replace the node: `vault node rm` it on a healthy manager, then an empty --state-dir and `vault cluster join`")
	panic(msg)
}

func (n *Node) nodeHostConfig(st *statedir.Node, tm *tlsMaterial) config.NodeHostConfig {
	caFile, certFile, keyFile := tm.files(n.cfg.StateDir)
	return config.NodeHostConfig{
		MutualTLS:           true,
		CAFile:              caFile,
		CertFile:            certFile,
		KeyFile:             keyFile,
		NodeHostDir:         filepath.Join(n.cfg.StateDir, statedir.RaftDir),
		RTTMillisecond:      rttMillisecond,
		RaftAddress:         st.RaftAddr,
		ListenAddress:       n.cfg.ListenAddr,
		DeploymentID:        st.DeploymentID,
		RaftEventListener:   events{n.log, n.metrics(), &n.leaders},
		SystemEventListener: events{n.log, n.metrics(), &n.leaders},
		EnableMetrics:       n.metrics() != nil,
		Expert:              n.expertConfig(st, tm),
	}
}

// expertConfig is expertConfig with this node's Raft transport.
func (n *Node) expertConfig(st *statedir.Node, tm *tlsMaterial) config.ExpertConfig {
	e := expertConfig(st.Workers())
	e.TransportFactory = n.raftTransport(tm)
	return e
}

// defaultRaftWorkers is the Dragonboat worker count of a new node: one per
// four CPUs, 1 to 16. With one, a step writes every group's new entries
// and state in one Pebble batch with one fsync, and one LogDB database
// serves the node instead of sixteen: measured on 2 CPUs, half the disk
// and the same or slightly less CPU per write (docs/PERFORMANCE.md). More
// cores get more workers so that groups step and apply in parallel.
func defaultRaftWorkers() uint64 {
	return uint64(perFourCPUs(statedir.LegacyRaftWorkers))
}

// expertConfig is Dragonboat's engine and LogDB layout for workers step
// workers: one LogDB database per worker.
func expertConfig(workers uint64) config.ExpertConfig {
	e := config.ExpertConfig{LogDB: config.GetTinyMemLogDBConfig(), Engine: config.GetDefaultEngineConfig()}
	e.Engine.ExecShards = workers
	e.Engine.CommitShards = workers
	e.Engine.ApplyShards = workers
	e.LogDB.Shards = workers
	return e
}

// compactionOverhead is how many entries Dragonboat keeps of a group's log
// behind each snapshot: a tenth of the entries between snapshots.
func compactionOverhead(snapshotEntries uint64) uint64 { return snapshotEntries / 10 }

func (n *Node) shardConfig(shard, replica uint64) config.Config {
	return config.Config{
		ShardID:             shard,
		ReplicaID:           replica,
		ElectionRTT:         electionRTT,
		HeartbeatRTT:        heartbeatRTT,
		CheckQuorum:         true,
		PreVote:             true,
		SnapshotEntries:     n.cfg.SnapshotEntries,
		CompactionOverhead:  compactionOverhead(n.cfg.SnapshotEntries),
		OrderedConfigChange: true,
	}
}

// startReplicas starts every shard's replica on the NodeHost. members is the
// initial membership for a new cluster, nil on restart.
func (n *Node) startReplicas(nh *dragonboat.NodeHost, st *statedir.Node, create sm.CreateOnDiskStateMachineFunc, members map[uint64]string, join bool) error {
	for _, shard := range statedir.AllShards(st.Shards) {
		if err := nh.StartOnDiskReplica(members, join, create, n.shardConfig(shard, st.ReplicaID)); err != nil {
			return fmt.Errorf("start shard %d: %w", shard, err)
		}
	}
	return nil
}

// waitReady waits until every shard has a leader.
func waitReady(ctx context.Context, nh *dragonboat.NodeHost, shards []uint64) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for _, s := range shards {
		for {
			_, _, ok, err := nh.GetLeaderID(s)
			if err == nil && ok {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("shard %d has no leader: %w", s, ctx.Err())
			case <-t.C:
			}
		}
	}
	return nil
}

// attemptTimeout bounds one proposal or read; requestTimeout bounds retries.
const (
	attemptTimeout = 2 * time.Second
	requestTimeout = 6 * time.Second
)

// unavailableError is a request that ran out of time while its Raft group
// made no progress; the node turns it into a "no quorum" error with counts.
type unavailableError struct {
	what string
	last error
}

func (e *unavailableError) Error() string {
	return fmt.Sprintf("%s: the Raft group did not answer (%v)", e.what, e.last)
}

// explain turns an unavailableError into the operator's "no quorum" error.
func (n *Node) explain(err error) error {
	var u *unavailableError
	if errors.As(err, &u) {
		return n.quorumError(u.what)
	}
	return err
}

func retryable(err error) bool {
	return errors.Is(err, dragonboat.ErrShardNotReady) ||
		errors.Is(err, dragonboat.ErrTimeout) ||
		errors.Is(err, dragonboat.ErrSystemBusy) ||
		errors.Is(err, dragonboat.ErrShardNotFound) ||
		errors.Is(err, dragonboat.ErrAborted) ||
		errors.Is(err, dragonboat.ErrCanceled) ||
		errors.Is(err, dragonboat.ErrInvalidDeadline) ||
		errors.Is(err, dragonboat.ErrClosed) || // a recovery is reopening the NodeHost (or the node stops: live() ends those retries)
		errors.Is(err, dragonboat.ErrShardClosed) ||
		errors.Is(err, context.DeadlineExceeded)
}

// withRetry runs op until it succeeds, fails for good, or the request's time
// runs out. Proposals keep their request id across attempts, so an attempt
// that timed out but committed applies once.
func withRetry(ctx context.Context, what string, op func(ctx context.Context) error) error {
	return withRetryIn(ctx, what, nil, op)
}

// withRetryIn is withRetry for a request to one group: epoch (leaderWatch)
// gives the context of the group's current leader, and an attempt ends,
// and the next starts at once, when another leader is known.
func withRetryIn(ctx context.Context, what string, epoch func() context.Context, op func(ctx context.Context) error) error {
	// The retries' deadline. Its context (a timer) is made only once an
	// attempt failed and is retried: the first attempt, which nearly
	// always decides, runs under its own timeout alone.
	deadline := time.Now().Add(requestTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	retrying := false
	backoff := 20 * time.Millisecond
	for {
		// Dragonboat counts deadlines in ticks and refuses one under a tick.
		if time.Until(deadline) < 2*rttMillisecond*time.Millisecond {
			return &unavailableError{what: what, last: context.DeadlineExceeded}
		}
		var leaderGone <-chan struct{}
		actx, acancel := context.WithDeadline(ctx, earliest(deadline, time.Now().Add(attemptTimeout)))
		stop := func() bool { return false }
		if epoch != nil {
			ep := epoch()
			leaderGone = ep.Done()
			stop = context.AfterFunc(ep, acancel)
		}
		err := op(actx)
		stop()
		acancel()
		if err == nil || !retryable(err) {
			return err
		}
		if !retrying {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, deadline)
			defer cancel()
			retrying = true
		}
		if ctx.Err() != nil {
			return &unavailableError{what: what, last: err}
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-leaderGone:
			// A new leader: go to it now, and wait little if it fails.
			t.Stop()
			backoff = 20 * time.Millisecond
			continue
		case <-t.C:
		}
		if backoff < 500*time.Millisecond {
			backoff *= 2
		}
	}
}

// earliest is the earlier of a and b.
func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// propose seals c under the active DEK and proposes it to shard.
func (n *Node) propose(ctx context.Context, shard uint64, c *raftsm.Command) (sm.Result, error) {
	r, err := n.running()
	if err != nil {
		return sm.Result{}, err
	}
	return r.propose(ctx, shard, c)
}

// propose seals c under the active DEK and proposes it to shard.
func (r *replicas) propose(ctx context.Context, shard uint64, c *raftsm.Command) (sm.Result, error) {
	n := r.node
	if err := n.groupStopped(shard); err != nil {
		return sm.Result{}, err
	}
	dek, err := r.ring.Active()
	if err != nil {
		return sm.Result{}, err
	}
	cmd, err := raftsm.SealCommand(dek, shard, c)
	if err != nil {
		return sm.Result{}, err
	}
	n.metrics().Sealed(dek.Version())
	var res sm.Result
	n.metrics().ProposalStarted(shard)
	err = withRetryIn(ctx, string(c.Op), func() context.Context { return n.leaders.epoch(shard) }, func(ctx context.Context) error {
		if err := r.live(); err != nil {
			return err
		}
		nh := r.host() // a recovery may have replaced it
		res, err = nh.SyncPropose(ctx, nh.GetNoOPSession(shard), cmd)
		return err
	})
	n.metrics().ProposalDone(shard, err)
	if err == nil && res.Value == raftsm.ResultFailed {
		// Committed, but this manager's replica stopped at an earlier
		// entry: the other managers apply it, this one cannot say how.
		return res, api.Errorf(api.CodeUnavailable, "group %d stopped on this manager at an entry it cannot open: the request was committed and the other managers apply it, but this one cannot tell the result", shard).
			WithHint("`vault status` says why; check the result on another manager")
	}
	return res, n.explain(err)
}

// staleKey marks a context whose reads may be stale (see WithStaleReads).
type staleKey struct{}

// WithStaleReads returns a context whose secret reads are served from this
// node's applied state (NodeHost.StaleRead) without a ReadIndex round to the
// group leader: cheaper, but a read may miss writes acknowledged elsewhere
// that this node has not applied yet, and a node cut off from its leader
// keeps serving what it last applied. Only reads that callers asked to be
// stale use it; everything that decides a write reads linearizably.
func WithStaleReads(ctx context.Context) context.Context {
	return context.WithValue(ctx, staleKey{}, true)
}

func staleReads(ctx context.Context) bool {
	stale, _ := ctx.Value(staleKey{}).(bool)
	return stale
}

// read runs a query on shard: linearizable (ReadIndex), or from the local
// applied state when ctx came from WithStaleReads.
func (n *Node) read(ctx context.Context, shard uint64, q interface{}) (interface{}, error) {
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	return r.read(ctx, shard, q)
}

// readAll runs q on every secret shard concurrently and returns the answers
// in shard order.
func (n *Node) readAll(ctx context.Context, q interface{}) ([]interface{}, error) {
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	return r.readAll(ctx, q)
}

// read runs a query on shard: linearizable (ReadIndex), or from the local
// applied state when ctx came from WithStaleReads.
func (r *replicas) read(ctx context.Context, shard uint64, q interface{}) (interface{}, error) {
	if err := r.node.groupStopped(shard); err != nil {
		return nil, err
	}
	stale := staleReads(ctx)
	if stale {
		// A stale read takes no context: its first attempt needs none
		// (withRetry retries it if it fails in a way worth retrying).
		if r.live() == nil {
			out, err := r.host().StaleRead(shard, q)
			if err == nil || !retryable(err) {
				return out, r.node.explain(err)
			}
		}
	}
	var out interface{}
	epoch := func() context.Context { return r.node.leaders.epoch(shard) }
	if stale {
		epoch = nil // answered here: no leader involved
	}
	err := withRetryIn(ctx, "read", epoch, func(ctx context.Context) error {
		if err := r.live(); err != nil {
			return err
		}
		nh := r.host() // a recovery may have replaced it
		var err error
		if stale {
			out, err = nh.StaleRead(shard, q)
		} else {
			out, err = nh.SyncRead(ctx, shard, q)
		}
		return err
	})
	return out, r.node.explain(err)
}

// readAll runs q on every secret shard concurrently and returns the answers
// in shard order.
func (r *replicas) readAll(ctx context.Context, q interface{}) ([]interface{}, error) {
	shards := raftsm.SecretShards(r.st.Shards)
	out := make([]interface{}, len(shards))
	errs := make([]error, len(shards))
	var wg sync.WaitGroup
	for i, s := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = r.read(ctx, s, q)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func isHostnameChange(err error) bool {
	return err != nil && strings.Contains(err.Error(), "hostname changed")
}
