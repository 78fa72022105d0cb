package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/vaultd/vault/api"
)

// vaultCluster is one or three `vault daemon` processes on loopback, one
// cluster.
type vaultCluster struct {
	bin     string
	members []*vaultMember
	memberSet
	shards int // secret groups

	label  string             // the system's name ("" is "vault")
	scrape context.CancelFunc // stops the metrics scraper (metrics.go); nil without one
}

type vaultMember struct {
	p        *proc
	socket   string
	stateDir string
	addr     string // Raft
	apiAddr  string // manager API

	metricsAddr string // --metrics-addr ("": none)
}

// startVault starts n managers (1 or 3) under root, inits the cluster with
// shards secret groups on the first (0: vault's default), joins the others,
// and waits until group leadership has spread over the three; c.shards is
// the number of secret groups made.
func startVault(ctx context.Context, bin, root string, n, shards int, audit bool, log io.Writer, daemonArgs ...string) (_ *vaultCluster, err error) {
	return startVaultLabeled(ctx, bin, root, n, shards, audit, log, false, false, daemonArgs...)
}

// startVaultCluster is startVault; withMetrics starts each manager with
// --metrics-addr and scrapes it every second, as Prometheus would.
func startVaultCluster(ctx context.Context, bin, root string, n, shards int, audit bool, log io.Writer, withMetrics bool) (_ *vaultCluster, err error) {
	return startVaultLabeled(ctx, bin, root, n, shards, audit, log, withMetrics, false)
}

// startVaultOther is startVault of another vault binary, the peer of
// --vs vault-other.
func startVaultOther(ctx context.Context, bin, root string, n, shards int, audit bool, log io.Writer) (*vaultCluster, error) {
	return startVaultLabeled(ctx, bin, root, n, shards, audit, log, false, true)
}

// daemonArgs are added to each manager's `vault daemon` command line.
func startVaultLabeled(ctx context.Context, bin, root string, n, shards int, audit bool, log io.Writer, withMetrics, other bool, daemonArgs ...string) (_ *vaultCluster, err error) {
	addrs, err := freeAddrs(3 * n)
	if err != nil {
		return nil, err
	}
	c := &vaultCluster{bin: bin, memberSet: memberSet{log: log}}
	prefix := "vault-m"
	if withMetrics {
		c.label, prefix = PeerVaultMetrics, "vault-metrics-m"
	}
	if other {
		c.label, prefix = PeerVaultOther, "vault-other-m"
	}
	c.pool.make = c.newClient
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	for i := range n {
		dir := filepath.Join(root, prefix+strconv.Itoa(i+1))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		m := &vaultMember{
			socket:   filepath.Join(dir, "vault.sock"),
			stateDir: filepath.Join(dir, "state"),
			addr:     addrs[2*i],
			apiAddr:  addrs[2*i+1],
		}
		m.p = &proc{
			name: c.name() + " manager " + strconv.Itoa(i+1),
			bin:  bin,
			args: []string{"--socket", m.socket, "daemon", "--state-dir", m.stateDir, "--listen-addr", m.addr, "--api-addr", m.apiAddr, "--keep-mounts", "0", "--docker-plugin-socket", ""},
			log:  filepath.Join(dir, "daemon.log"),
		}
		if withMetrics {
			m.metricsAddr = addrs[2*n+i]
			m.p.args = append(m.p.args, "--metrics-addr", m.metricsAddr)
		}
		if audit {
			m.p.args = append(m.p.args, "--audit-log", filepath.Join(dir, "audit.log"))
		}
		m.p.args = append(m.p.args, daemonArgs...)
		c.members = append(c.members, m)
		c.add(m.p, m.stateDir)
		if err := m.p.start(); err != nil {
			return nil, err
		}
	}
	for _, m := range c.members {
		if err := m.waitServing(ctx, 60*time.Second); err != nil {
			return nil, err
		}
	}
	first := api.NewClient(c.members[0].socket)
	initResp, err := first.Init(ctx, api.InitRequest{Shards: shards})
	if err != nil {
		return nil, fmt.Errorf("vault cluster init: %w", err)
	}
	tok, err := first.JoinToken(ctx, "manager", false)
	if err != nil {
		return nil, fmt.Errorf("vault cluster join-token: %w", err)
	}
	for _, m := range c.members[1:] {
		if _, err := api.NewClient(m.socket).Join(ctx, api.JoinRequest{Token: tok.Token, ManagerAddr: c.members[0].apiAddr}); err != nil {
			return nil, fmt.Errorf("vault cluster join on %s: %w\n%s", m.p.name, err, m.p.tail())
		}
	}
	c.shards = initResp.Shards
	if err := c.waitBalanced(ctx, c.shards+1, 60*time.Second); err != nil {
		return nil, err
	}
	if withMetrics {
		if err := c.startScraper(ctx); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// waitServing polls the member's status until it answers.
func (m *vaultMember) waitServing(ctx context.Context, timeout time.Duration) error {
	cl := api.NewClient(m.socket)
	return poll(ctx, timeout, m.p.name+" to serve", func(ctx context.Context) error {
		if !m.p.alive() {
			return errExited{m.p}
		}
		_, err := cl.Status(ctx)
		return err
	})
}

// waitBalanced waits until all the managers are ready and no manager leads
// more than its share of the groups, as vault's leadership balancing
// arranges within seconds of a join. Until then one manager would carry
// every write.
func (c *vaultCluster) waitBalanced(ctx context.Context, groups int, timeout time.Duration) error {
	n := len(c.members)
	share := (groups + n - 1) / n
	cl := api.NewClient(c.members[0].socket)
	return poll(ctx, timeout, "vault's group leadership to spread over the managers", func(ctx context.Context) error {
		ns, err := cl.Nodes(ctx)
		if err != nil {
			return err
		}
		if len(ns) != n {
			return fmt.Errorf("%d managers", len(ns))
		}
		total := 0
		for _, n := range ns {
			if n.Status != "ready" {
				return fmt.Errorf("manager %s is %s", n.ID, n.Status)
			}
			if n.Leader > share {
				return fmt.Errorf("manager %s leads %d of %d groups", n.ID, n.Leader, groups)
			}
			total += n.Leader
		}
		if total != groups {
			return fmt.Errorf("%d of %d groups have a leader", total, groups)
		}
		return nil
	})
}

func (c *vaultCluster) name() string {
	if c.label != "" {
		return c.label
	}
	return "vault"
}

// newClient gives each worker its own api.Client, hence its own connection
// to the member's socket.
func (c *vaultCluster) newClient(_ context.Context, i int) (client, error) {
	cl := api.NewClient(c.members[i%len(c.members)].socket)
	return vaultClient{cl, cl.StaleReads()}, nil
}

// leads asks member i which of the secret groups it leads. A vault from
// before SecretLeader reports none on every manager: then it cannot tell.
func (c *vaultCluster) leads(ctx context.Context, i int) (led, groups int, err error) {
	ns, err := api.NewClient(c.members[i].socket).Nodes(ctx)
	if err != nil {
		return 0, 0, err
	}
	total, self := 0, -1
	for _, n := range ns {
		total += n.SecretLeader
		if n.Self {
			self = n.SecretLeader
		}
	}
	if total == 0 || self < 0 {
		return 0, 0, nil
	}
	return self, c.shards, nil
}

// list lists every key as etcd's keys-only range does: each secret's id
// and name (GET /v1/secrets?keys=true), every record still opened. A vault
// from before keys-only lists answers with whole secrets.
func (c *vaultCluster) list(ctx context.Context) (int, error) {
	s, err := api.NewClient(c.members[0].socket).SecretKeys(ctx)
	return len(s), err
}

// listWhole lists every secret with all of its metadata.
func (c *vaultCluster) listWhole(ctx context.Context) (int, error) {
	s, err := api.NewClient(c.members[0].socket).Secrets(ctx)
	return len(s), err
}

func (c *vaultCluster) restart(ctx context.Context, i int, key string) (stop, serve time.Duration, err error) {
	m := c.members[i]
	if stop, err = m.p.stop(60 * time.Second); err != nil {
		return stop, 0, err
	}
	start := time.Now()
	if err := m.p.start(); err != nil {
		return stop, 0, err
	}
	cl := api.NewClient(m.socket)
	err = poll(ctx, 5*time.Minute, m.p.name+" to serve `secret inspect` after a restart", func(ctx context.Context) error {
		if !m.p.alive() {
			return errExited{m.p}
		}
		_, err := cl.Secret(ctx, key)
		return err
	})
	return stop, time.Since(start), err
}

func (c *vaultCluster) close() {
	if c.scrape != nil {
		c.scrape()
	}
	c.stopAll()
}

// vaultClient is one worker's API client.
type vaultClient struct{ c, stale *api.Client }

func (v vaultClient) create(ctx context.Context, key string, val []byte) error {
	_, err := v.c.CreateSecret(ctx, api.CreateSecretRequest{Name: key, Data: val})
	if api.IsCode(err, api.CodeExists) {
		return fmt.Errorf("%s: %w", key, errExists)
	}
	return err
}

func (v vaultClient) read(ctx context.Context, key string) error {
	_, err := v.c.Secret(ctx, key)
	return err
}

// staleRead is `secret inspect --stale`: the manager's applied state, no
// ReadIndex.
func (v vaultClient) staleRead(ctx context.Context, key string) error {
	_, err := v.stale.Secret(ctx, key)
	return err
}

func (v vaultClient) ping(ctx context.Context) error {
	_, err := v.c.Status(ctx)
	return err
}

// errExited is a server that exited while the bench waited for it.
type errExited struct{ p *proc }

func (e errExited) Error() string {
	return fmt.Sprintf("%s exited; the end of its log:\n%s", e.p.name, e.p.tail())
}

// poll runs try every 20ms until it succeeds, the timeout passes, or a
// server exits. Each try gets at most a second.
func poll(ctx context.Context, timeout time.Duration, what string, try func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		tctx, tcancel := context.WithTimeout(ctx, time.Second)
		err := try(tctx)
		tcancel()
		if err == nil {
			return nil
		}
		var ex errExited
		if errors.As(err, &ex) {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("waiting for %s: timed out after %s (last: %v)", what, timeout, err)
			}
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}
