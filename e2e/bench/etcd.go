package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// etcdPrefix is where the bench's keys live in etcd.
const etcdPrefix = "/bench/"

// etcdCluster is three etcd members on loopback, with their data on disk and
// etcd's defaults otherwise (fsync on every commit).
type etcdCluster struct {
	members []*etcdMember
	memberSet
}

type etcdMember struct {
	p       *proc
	dataDir string
	client  string // client URL
}

// startEtcd starts a fresh three-member cluster under root and waits until
// a linearizable read succeeds through every member.
func startEtcd(ctx context.Context, bin, root string, peerTLS bool, log io.Writer) (_ *etcdCluster, err error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("etcd server: %w (install it with `apt-get install -y etcd-server`, or give --etcd PATH)", err)
	}
	addrs, err := freeAddrs(2 * etcdMembers)
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if peerTLS {
		scheme = "https"
	}
	var initial []string
	for i := range etcdMembers {
		initial = append(initial, fmt.Sprintf("e%d=%s://%s", i+1, scheme, addrs[2*i+1]))
	}
	tok := make([]byte, 8)
	rand.Read(tok)
	c := &etcdCluster{memberSet: memberSet{log: log}}
	c.pool.make = c.newClient
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	for i := range etcdMembers {
		dir := filepath.Join(root, "etcd-e"+strconv.Itoa(i+1))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		m := &etcdMember{dataDir: filepath.Join(dir, "data"), client: "http://" + addrs[2*i]}
		peer := scheme + "://" + addrs[2*i+1]
		args := []string{
			"--name", "e" + strconv.Itoa(i+1),
			"--data-dir", m.dataDir,
			"--listen-client-urls", m.client, "--advertise-client-urls", m.client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new",
			"--initial-cluster-token", "vault-bench-" + hex.EncodeToString(tok),
			"--logger", "zap", "--log-outputs", "stderr",
		}
		if peerTLS {
			args = append(args, "--peer-auto-tls")
		}
		m.p = &proc{name: "etcd member " + strconv.Itoa(i+1), bin: bin, args: args, log: filepath.Join(dir, "etcd.log")}
		c.members = append(c.members, m)
		c.add(m.p, m.dataDir)
		if err := m.p.start(); err != nil {
			return nil, err
		}
	}
	for _, m := range c.members {
		if err := m.waitServing(ctx, 60*time.Second); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// waitServing waits until a linearizable Get through this member succeeds.
func (m *etcdMember) waitServing(ctx context.Context, timeout time.Duration) error {
	return m.pollGet(ctx, timeout, m.p.name+" to serve", "probe", func(*clientv3.GetResponse) error { return nil })
}

// pollGet polls (see poll) until a linearizable Get of key through this
// member succeeds and check accepts the answer. It connects on the first
// try that can and keeps that client until it returns.
func (m *etcdMember) pollGet(ctx context.Context, timeout time.Duration, what, key string, check func(*clientv3.GetResponse) error) error {
	var cl *clientv3.Client
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	return poll(ctx, timeout, what, func(ctx context.Context) error {
		if !m.p.alive() {
			return errExited{m.p}
		}
		if cl == nil {
			var err error
			if cl, err = newEtcdClient(ctx, m.client); err != nil {
				return err
			}
		}
		r, err := cl.Get(ctx, etcdPrefix+key)
		if err != nil {
			return err
		}
		return check(r)
	})
}

// newEtcdClient connects to one member only, so the bench decides which
// member each worker talks to, as it does for vault.
func newEtcdClient(ctx context.Context, endpoint string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   []string{endpoint},
		DialTimeout: 5 * time.Second,
		Context:     ctx,
		Logger:      zap.NewNop(),
	})
}

func (c *etcdCluster) name() string { return "etcd" }

// leads reports whether member i is the Raft leader.
func (c *etcdCluster) leads(ctx context.Context, i int) (led, groups int, err error) {
	m := c.members[i]
	cl, err := newEtcdClient(ctx, m.client)
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	st, err := cl.Status(ctx, m.client)
	if err != nil {
		return 0, 0, err
	}
	if st.Leader == st.Header.MemberId {
		return 1, 1, nil
	}
	return 0, 1, nil
}

// newClient gives each worker its own etcd client, hence its own gRPC
// connection, as each vault worker has its own socket connection.
func (c *etcdCluster) newClient(_ context.Context, i int) (client, error) {
	// The client lives for the whole run: it must not inherit a request's
	// context.
	cl, err := newEtcdClient(context.Background(), c.members[i%etcdMembers].client)
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	return etcdClient{cl}, nil
}

func (c *etcdCluster) list(ctx context.Context) (int, error) {
	cl, err := newEtcdClient(ctx, c.members[0].client)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	r, err := cl.Get(ctx, etcdPrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return 0, err
	}
	return len(r.Kvs), nil
}

func (c *etcdCluster) restart(ctx context.Context, i int, key string) (stop, serve time.Duration, err error) {
	m := c.members[i]
	if stop, err = m.p.stop(60 * time.Second); err != nil {
		return stop, 0, err
	}
	start := time.Now()
	// With a data dir in place, etcd ignores the --initial-* flags and
	// rejoins as the member it was.
	if err := m.p.start(); err != nil {
		return stop, 0, err
	}
	err = m.pollGet(ctx, 5*time.Minute, m.p.name+" to serve a linearizable Get after a restart", key, func(r *clientv3.GetResponse) error {
		if len(r.Kvs) != 1 {
			return fmt.Errorf("%s: %d keys", key, len(r.Kvs))
		}
		return nil
	})
	return stop, time.Since(start), err
}

func (c *etcdCluster) close() {
	for _, cl := range c.pool.all() {
		cl.(etcdClient).c.Close()
	}
	c.pool.clients, c.pool.extra = nil, nil
	c.stopAll()
}

// etcdClient is one worker's etcd client.
type etcdClient struct{ c *clientv3.Client }

// create is etcd's idiomatic create: put only if the key has never been
// created (create revision 0), which, like vault's create, reads before it
// writes.
func (e etcdClient) create(ctx context.Context, key string, val []byte) error {
	k := etcdPrefix + key
	r, err := e.c.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(val))).
		Commit()
	if err != nil {
		return err
	}
	if !r.Succeeded {
		return fmt.Errorf("%s: %w", key, errExists)
	}
	return nil
}

func (e etcdClient) read(ctx context.Context, key string) error {
	r, err := e.c.Get(ctx, etcdPrefix+key)
	if err == nil && len(r.Kvs) != 1 {
		err = fmt.Errorf("%s: not found", key)
	}
	return err
}

func (e etcdClient) staleRead(ctx context.Context, key string) error {
	r, err := e.c.Get(ctx, etcdPrefix+key, clientv3.WithSerializable())
	if err == nil && len(r.Kvs) != 1 {
		err = fmt.Errorf("%s: not found", key)
	}
	return err
}

func (e etcdClient) ping(ctx context.Context) error {
	_, err := e.c.Get(ctx, etcdPrefix+"probe", clientv3.WithSerializable())
	return err
}
