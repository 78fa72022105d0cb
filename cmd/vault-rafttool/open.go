package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	pb "github.com/lni/dragonboat/v4/raftpb"
	"github.com/urfave/cli/v2"

	"github.com/vaultd/vault/cmd/vault-rafttool/internal/checkpoint"
	"github.com/vaultd/vault/internal/logdb"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/raftsm"
)

// session is a state dir opened for one command: private copies of its
// databases, its identity, its keys, and the problems found so far.
type session struct {
	stdout, stderr io.Writer

	dir   *statedir.Dir
	tmp   string        // private copies; removed by close
	store *raftsm.Store // nil when the state database did not open
	parts []*logdb.DB
	logs  map[uint64]*shardLog // this replica's log, by shard
	keys  *keyset
	// copies maps each private copy to the live database it was taken of.
	copies []dbCopy

	problems    []problem
	stopSignals func()
}

type dbCopy struct{ live, copy string }

// problem is a record that could not be read, and where it is.
type problem struct {
	Place string `json:"place"`
	Error string `json:"error"`
}

// shardLog is one shard's Raft log in the LogDB.
type shardLog struct {
	shard   uint64
	db      *logdb.DB
	place   string // the live logdb-N directory
	state   pb.State
	snap    pb.Snapshot
	hasSnap bool
	boot    pb.Bootstrap
	maxIdx  uint64
	hasMax  bool
}

// span is the part of the log Dragonboat reads back: the part that must
// have no holes.
func (l *shardLog) span() logdb.Span {
	sp := logdb.Span{Last: l.maxIdx, HasLast: l.hasMax}
	if l.hasSnap {
		sp.Snapshot = l.snap.Index
	}
	return sp
}

// problem records a damaged or unreadable record and warns on stderr.
func (s *session) problem(place string, err error) {
	s.problems = append(s.problems, problem{Place: place, Error: err.Error()})
	warnf(s.stderr, "%s: %v", place, err)
}

// done returns the error that ends a command that found problems.
func (s *session) done() error {
	if len(s.problems) > 0 {
		return &problemsError{n: len(s.problems)}
	}
	return nil
}

// open opens the state dir named by the global flags, copies its databases
// and opens its keys. The caller must close the session.
func open(c *cli.Context) (*session, error) {
	s, src, err := openCopies(c)
	if err != nil {
		return nil, err
	}
	if err := s.unlock(src); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// openCopies opens the state dir and private copies of its databases, and
// reads the key options; it does not unlock.
func openCopies(c *cli.Context) (*session, *kekSource, error) {
	s := &session{stdout: c.App.Writer, stderr: c.App.ErrWriter, logs: map[uint64]*shardLog{}}
	path := c.String("state-dir")
	dir, err := statedir.Open(path)
	if _, serr := os.Stat(path); errors.Is(serr, fs.ErrNotExist) {
		return nil, nil, withHint(fmt.Errorf("%s does not exist", path),
			"give the daemon's --state-dir with -d (default "+DefaultStateDir+")")
	}
	if errors.Is(err, statedir.ErrNotStateDir) {
		return nil, nil, withHint(fmt.Errorf("%s is not a vault state dir: no node.json", path),
			"give the daemon's --state-dir with -d (default "+DefaultStateDir+")")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	s.dir = dir
	src, err := keySourceFromFlags(c, dir)
	if err != nil {
		return nil, nil, err
	}
	s.tmp, err = os.MkdirTemp(c.String("temp-dir"), progName+"-")
	if err != nil {
		src.wipe()
		return nil, nil, withHint(fmt.Errorf("make a private copy: %w", err), "give a writable --temp-dir")
	}
	s.cleanupOnSignal()
	if err := s.openDatabases(); err != nil {
		src.wipe()
		s.close()
		return nil, nil, err
	}
	return s, src, nil
}

// cleanupOnSignal removes the private copies if the tool is interrupted.
func (s *session) cleanupOnSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		select {
		case <-ch:
			os.RemoveAll(s.tmp)
			os.Exit(130)
		case <-done:
		}
	}()
	s.stopSignals = func() {
		signal.Stop(ch)
		close(done)
	}
}

// close releases everything and removes the private copies.
func (s *session) close() {
	if s.keys != nil {
		s.keys.wipe()
	}
	for _, p := range s.parts {
		p.Close()
	}
	if s.store != nil {
		s.store.Close()
	}
	if s.tmp != "" {
		os.RemoveAll(s.tmp)
	}
	if s.stopSignals != nil {
		s.stopSignals()
	}
}

// copyDB takes a private copy of the database in live and returns its path.
func (s *session) copyDB(live, name string) (string, error) {
	dst := filepath.Join(s.tmp, name)
	if _, err := checkpoint.Take(live, dst); err != nil {
		return "", err
	}
	s.copies = append(s.copies, dbCopy{live: live, copy: dst})
	return dst, nil
}

// openDatabases copies and opens the state database and every LogDB part.
// A database that cannot be read is a problem, not an error: the others are
// still worth reading. Only a state dir with nothing readable is an error.
func (s *session) openDatabases() error {
	live := s.dir.StorePath()
	if cp, err := s.copyDB(live, "state"); err != nil {
		s.problem(live, err)
	} else if st, err := raftsm.OpenStore(cp, true); err != nil {
		s.problem(live, err)
	} else {
		s.store = st
	}

	base := s.dir.LogDBPath()
	ents, err := os.ReadDir(base)
	if err != nil {
		s.problem(base, fmt.Errorf("no Raft log: %w", err))
	}
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "logdb-") {
			continue
		}
		live := filepath.Join(base, e.Name())
		cp, err := s.copyDB(live, e.Name())
		if err != nil {
			s.problem(live, err)
			continue
		}
		db, err := logdb.Open(cp)
		if err != nil {
			s.problem(live, err)
			continue
		}
		db.Path = live
		s.parts = append(s.parts, db)
		s.findLogs(db)
	}
	if s.store == nil && len(s.parts) == 0 {
		return withHint(errors.New("nothing in the state dir could be read"), "see the warnings above")
	}
	return nil
}

// findLogs records which shards of this node's replica a LogDB part holds.
func (s *session) findLogs(db *logdb.DB) {
	reps, err := db.Replicas()
	if err != nil {
		s.problem(db.Path, err)
		return
	}
	for _, r := range reps {
		if r.Replica != s.dir.Node.ReplicaID {
			continue // an older replica of this host; not this node's log
		}
		if prev, ok := s.logs[r.Shard]; ok {
			s.problem(db.Path, fmt.Errorf("shard %d is also in %s", r.Shard, prev.place))
			continue
		}
		l := &shardLog{shard: r.Shard, db: db, place: db.Path}
		var err error
		if l.state, _, err = db.State(r.Shard, r.Replica); err != nil {
			s.problem(db.Path, fmt.Errorf("shard %d raft state: %w", r.Shard, err))
		}
		if l.snap, l.hasSnap, err = db.Snapshot(r.Shard, r.Replica); err != nil {
			s.problem(db.Path, fmt.Errorf("shard %d snapshot record: %w", r.Shard, err))
		}
		if l.boot, _, err = db.Bootstrap(r.Shard, r.Replica); err != nil {
			s.problem(db.Path, fmt.Errorf("shard %d bootstrap record: %w", r.Shard, err))
		}
		if l.maxIdx, l.hasMax, err = db.MaxIndex(r.Shard, r.Replica); err != nil {
			s.problem(db.Path, fmt.Errorf("shard %d max index: %w", r.Shard, err))
		}
		s.logs[r.Shard] = l
	}
}

// shards returns the shards to work on: the one asked for, or every shard
// of the node (and any other found on disk), ascending.
func (s *session) shards(c *cli.Context) ([]uint64, error) {
	if c.IsSet("shard") {
		want := c.Uint64("shard")
		for _, sh := range s.allShards() {
			if sh == want {
				return []uint64{want}, nil
			}
		}
		return nil, usagef(fmt.Sprintf("this node has shards 1 to %d", s.dir.Node.Shards+1), "no shard %d", want)
	}
	return s.allShards(), nil
}

func (s *session) allShards() []uint64 {
	seen := map[uint64]bool{}
	out := []uint64{}
	add := func(sh uint64) {
		if !seen[sh] {
			seen[sh] = true
			out = append(out, sh)
		}
	}
	for _, sh := range s.dir.Shards() {
		add(sh)
	}
	for sh := range s.logs {
		add(sh)
	}
	if s.store != nil {
		if shs, err := s.store.Shards(); err == nil {
			for _, sh := range shs {
				add(sh)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func shardName(shard uint64) string {
	if shard == raftsm.ControlShard {
		return fmt.Sprintf("shard %d (control)", shard)
	}
	return fmt.Sprintf("shard %d (secrets)", shard)
}

// storePlace names a record of the state database in warnings.
func (s *session) storePlace(shard uint64, what string) string {
	return strings.TrimSpace(fmt.Sprintf("%s: shard %d %s", s.dir.StorePath(), shard, what))
}
