package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// errExists is a create of a key that exists.
var errExists = errors.New("key exists")

// system is a running cluster under test (vault: 1 or 3 managers).
type system interface {
	name() string
	// servers are the member processes, in member order.
	servers() []*proc
	// stateDirs are the members' data directories, in member order.
	stateDirs() []string
	// client returns the client of worker i, connected to member i mod the
	// number of members.
	// Clients are made once and reused by every workload.
	client(ctx context.Context, i int) (client, error)
	// memberClient returns a new client connected to member i, for a
	// workload that runs against one chosen member.
	memberClient(ctx context.Context, i int) (client, error)
	// leads reports how many of the groups a create can go to member i
	// leads (vault: its secret groups; etcd and Swarm: their one Raft
	// group). groups is 0 when the system cannot tell.
	leads(ctx context.Context, i int) (led, groups int, err error)
	// list lists every key and reports how many there are.
	list(ctx context.Context) (int, error)
	// restart stops member i with SIGTERM, starts it again and waits until
	// a linearizable read of key through that member succeeds. It reports
	// how long the member took to exit and then to serve.
	restart(ctx context.Context, i int, key string) (stop, serve time.Duration, err error)
	// close stops every member.
	close()
}

// client is one worker's connection to one member.
type client interface {
	// create creates key with val, failing if key exists.
	create(ctx context.Context, key string, val []byte) error
	// read is a linearizable read of key.
	read(ctx context.Context, key string) error
	// staleRead is a read served from the member's local state, possibly
	// stale (vault: ?stale=true; etcd: a serializable Get).
	staleRead(ctx context.Context, key string) error
	// ping checks the connection, so a workload's first request does not
	// pay for dialing.
	ping(ctx context.Context) error
}

// etcdMembers is the size of the etcd cluster; vault runs Config.Managers.
const etcdMembers = 3

// opTimeout bounds one request of a workload.
const opTimeout = 20 * time.Second

// clientPool makes each worker's client once.
type clientPool struct {
	mu      sync.Mutex
	clients []client
	make    func(ctx context.Context, i int) (client, error)
	// extra are the clients made for one chosen member (memberClient),
	// closed with the others.
	extra []client
}

// all is every client the pool made.
func (p *clientPool) all() []client {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append(append([]client(nil), p.clients...), p.extra...)
}

func (p *clientPool) get(ctx context.Context, i int) (client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.clients) <= i {
		c, err := p.make(ctx, len(p.clients))
		if err != nil {
			return nil, err
		}
		p.clients = append(p.clients, c)
	}
	return p.clients[i], nil
}

// memberSet is what the two systems share: the member processes and their
// data directories, in member order, and the workers' clients. Each system
// embeds one and adds its members as it starts them.
type memberSet struct {
	procs []*proc
	dirs  []string
	pool  clientPool
	log   io.Writer
}

// add records a member's process and data directory.
func (s *memberSet) add(p *proc, dataDir string) {
	s.procs = append(s.procs, p)
	s.dirs = append(s.dirs, dataDir)
}

func (s *memberSet) servers() []*proc { return s.procs }

func (s *memberSet) stateDirs() []string { return s.dirs }

func (s *memberSet) client(ctx context.Context, i int) (client, error) { return s.pool.get(ctx, i) }

func (s *memberSet) memberClient(ctx context.Context, i int) (client, error) {
	c, err := s.pool.make(ctx, i)
	if err == nil {
		s.pool.mu.Lock()
		s.pool.extra = append(s.pool.extra, c)
		s.pool.mu.Unlock()
	}
	return c, err
}

// stopAll stops every member, warning about one that does not exit cleanly.
func (s *memberSet) stopAll() {
	for _, p := range s.procs {
		if _, err := p.stop(30 * time.Second); err != nil {
			fmt.Fprintf(s.log, "vault-bench: warning: %v\n", err)
		}
	}
}
