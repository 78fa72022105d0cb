package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The Swarm peer (--vs swarm): a single-manager Docker Swarm that the bench
// creates on this machine's dockerd through the Engine API, measures with
// the same create and inspect workloads as vault (POST /secrets/create,
// GET /secrets/{id}), and leaves when the run ends, failed or interrupted
// included. A dockerd that is already part of a swarm is refused before
// anything starts: the bench never touches a swarm it did not create.
//
// Swarm's manager lives inside dockerd, so the CPU and RSS charged to Swarm
// are dockerd's whole process, and its disk is dockerd's swarm directory.
// dockerd is not the bench's to stop, so Swarm has no restart figure.

// DefaultDockerSocket is where dockerd serves the Engine API.
const DefaultDockerSocket = "/var/run/docker.sock"

// ErrSwarmActive is returned by Run with --vs swarm when dockerd is already
// part of a swarm (as a manager, a worker, or joining one).
var ErrSwarmActive = errors.New("bench: this machine's Docker is already part of a swarm; --vs swarm creates its own single-manager swarm and leaves it afterwards, so it never runs beside an existing one")

// errNoRestart is a system whose members the bench does not own.
var errNoRestart = errors.New("restart not measured: the bench does not stop a server it did not start")

// dockerAPI is a client of dockerd's Engine API over its Unix socket, with
// its own connection.
type dockerAPI struct {
	socket string
	hc     *http.Client
}

func newDockerAPI(socket string) *dockerAPI {
	tr := unixTransport(socket)
	tr.MaxIdleConnsPerHost = 2
	tr.IdleConnTimeout = 5 * time.Minute
	return &dockerAPI{socket: socket, hc: &http.Client{Transport: tr}}
}

// unixTransport is an HTTP transport whose every connection is to socket.
func unixTransport(socket string) *http.Transport {
	return &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}
}

// dockerError is an answer of dockerd other than 2xx.
type dockerError struct {
	status  int
	message string
}

func (e *dockerError) Error() string {
	return fmt.Sprintf("docker: %d %s: %s", e.status, http.StatusText(e.status), e.message)
}

// call sends a request with in (if not nil) as its JSON body and decodes
// the answer into out (if not nil).
func (d *dockerAPI) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://docker"+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return fmt.Errorf("docker %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var m struct{ Message string }
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &m) != nil || m.Message == "" {
			m.Message = strings.TrimSpace(string(b))
		}
		return &dockerError{status: resp.StatusCode, message: m.Message}
	}
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (d *dockerAPI) close() { d.hc.CloseIdleConnections() }

// dockerInfo is the part of GET /info the bench reads.
type dockerInfo struct {
	ServerVersion string
	DockerRootDir string
	Swarm         struct {
		NodeID         string
		NodeAddr       string
		LocalNodeState string
		Cluster        *struct{ ID string }
	}
}

func (d *dockerAPI) info(ctx context.Context) (*dockerInfo, error) {
	var i dockerInfo
	if err := d.call(ctx, http.MethodGet, "/info", nil, &i); err != nil {
		return nil, err
	}
	return &i, nil
}

// checkNoSwarm fails with ErrSwarmActive unless dockerd is outside any
// swarm, and with a hint when dockerd cannot be reached.
func checkNoSwarm(ctx context.Context, socket string) error {
	d := newDockerAPI(socket)
	defer d.close()
	i, err := d.info(ctx)
	if err != nil {
		return fmt.Errorf("--vs swarm needs dockerd's Engine API on %s (start dockerd, or give --docker SOCKET): %w", socket, err)
	}
	if s := i.Swarm.LocalNodeState; s != "inactive" {
		return fmt.Errorf("%w (node state %q, node id %q); leave it first if it is yours to leave (`docker swarm leave`), or run the bench on another machine", ErrSwarmActive, s, i.Swarm.NodeID)
	}
	return nil
}

// swarmCluster is the single-manager swarm the bench made. Its one server
// is dockerd, which the bench measures but does not own.
type swarmCluster struct {
	memberSet
	api     *dockerAPI
	version string // dockerd's
	nodeID  string // of the swarm this bench made; "" once left
	// ids maps each key the bench created to its secret's id: the
	// workloads inspect by id, Swarm's direct lookup (by name, dockerd
	// first tries the id, then lists by name).
	ids sync.Map
}

// startSwarm makes dockerd the single manager of a new swarm, advertised and
// listening on 127.0.0.1, and waits until it serves its secrets API. It
// refuses a dockerd already in a swarm, and leaves the swarm it made if
// anything after that fails.
func startSwarm(ctx context.Context, socket string, log io.Writer) (_ *swarmCluster, err error) {
	if err := checkNoSwarm(ctx, socket); err != nil {
		return nil, err
	}
	c := &swarmCluster{memberSet: memberSet{log: log}, api: newDockerAPI(socket)}
	c.pool.make = c.newClient
	pid, err := socketPeerPid(socket)
	if err != nil {
		return nil, fmt.Errorf("dockerd's process: %w", err)
	}
	i, err := c.api.info(ctx)
	if err != nil {
		return nil, err
	}
	c.version = i.ServerVersion
	c.add(&proc{name: "dockerd (swarm manager)", external: pid}, filepath.Join(i.DockerRootDir, "swarm"))
	addr, err := freeAddrs(1)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	// An interrupt must not abandon the init half-way: a swarm made after
	// the bench stopped waiting would be left behind. The init runs to its
	// end, and close leaves what it made.
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	var nodeID string
	err = c.api.call(ictx, http.MethodPost, "/swarm/init", map[string]any{
		"ListenAddr":    addr[0],
		"AdvertiseAddr": addr[0],
	}, &nodeID)
	if err != nil {
		return nil, fmt.Errorf("docker swarm init --advertise-addr %s: %w", addr[0], err)
	}
	c.nodeID = nodeID
	fmt.Fprintf(log, "vault-bench: made dockerd the single manager of a new swarm (node %s, %s); the bench leaves it when it ends\n", nodeID, addr[0])
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	err = poll(ctx, 60*time.Second, "the swarm manager to serve its secrets API", func(ctx context.Context) error {
		return c.api.call(ctx, http.MethodGet, "/secrets", nil, nil)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// socketPeerPid is the pid of the process serving a Unix socket.
func socketPeerPid(socket string) (int, error) {
	conn, err := net.Dial("unix", socket)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	raw, err := conn.(*net.UnixConn).SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, fmt.Errorf("SO_PEERCRED on %s: %w", socket, cerr)
	}
	return int(cred.Pid), nil
}

func (c *swarmCluster) name() string { return PeerSwarm }

// newClient gives each worker its own Engine API client, hence its own
// connection to dockerd's socket, as each vault worker has its own.
func (c *swarmCluster) newClient(_ context.Context, _ int) (client, error) {
	return swarmClient{d: newDockerAPI(c.api.socket), ids: &c.ids}, nil
}

// leads: the bench's swarm is one manager, which leads its Raft group.
func (c *swarmCluster) leads(context.Context, int) (led, groups int, err error) {
	return 1, 1, nil
}

func (c *swarmCluster) list(ctx context.Context) (int, error) {
	var ss []struct{ ID string }
	err := c.api.call(ctx, http.MethodGet, "/secrets", nil, &ss)
	return len(ss), err
}

func (c *swarmCluster) restart(context.Context, int, string) (time.Duration, time.Duration, error) {
	return 0, 0, errNoRestart
}

// close leaves the swarm this bench made, with its secrets (`docker swarm
// leave --force`): only if dockerd is still the node of that swarm, so a
// swarm someone else made in the meantime is left alone.
func (c *swarmCluster) close() {
	for _, cl := range c.pool.all() {
		cl.(swarmClient).d.close()
	}
	c.pool.clients, c.pool.extra = nil, nil
	defer c.api.close()
	if c.nodeID == "" {
		return
	}
	// The run's context may be cancelled (an interrupt): leaving must
	// still happen.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	warn := func(f string, a ...any) {
		fmt.Fprintf(c.log, "vault-bench: warning: "+f+"\n", a...)
	}
	i, err := c.api.info(ctx)
	switch {
	case err != nil:
		warn("cannot tell whether the bench's swarm (node %s) is still there: %v; if `docker info` shows that node, run `docker swarm leave --force`", c.nodeID, err)
		return
	case i.Swarm.NodeID != c.nodeID:
		warn("dockerd is no longer node %s of the bench's swarm (now %q, %s): left as it is", c.nodeID, i.Swarm.NodeID, i.Swarm.LocalNodeState)
		c.nodeID = ""
		return
	}
	if err := c.api.call(ctx, http.MethodPost, "/swarm/leave?force=true", nil, nil); err != nil {
		warn("leaving the bench's swarm (node %s): %v; run `docker swarm leave --force`", c.nodeID, err)
		return
	}
	fmt.Fprintf(c.log, "vault-bench: left the swarm the bench made (node %s)\n", c.nodeID)
	c.nodeID = ""
}

// swarmClient is one worker's Engine API client.
type swarmClient struct {
	d   *dockerAPI
	ids *sync.Map // key → secret id, shared by the workers
}

// create is `docker secret create`: Swarm refuses a name in use.
func (s swarmClient) create(ctx context.Context, key string, val []byte) error {
	var r struct{ ID string }
	// Data is []byte: encoding/json sends it as base64, as the API wants.
	err := s.d.call(ctx, http.MethodPost, "/secrets/create", struct {
		Name string
		Data []byte
	}{key, val}, &r)
	var de *dockerError
	if errors.As(err, &de) && de.status == http.StatusConflict {
		return fmt.Errorf("%s: %w", key, errExists)
	}
	if err != nil {
		return err
	}
	if r.ID == "" {
		return fmt.Errorf("%s: docker created a secret without an id", key)
	}
	s.ids.Store(key, r.ID)
	return nil
}

// read is `docker secret inspect` by id. A single manager is its swarm's
// leader and serves the read from its store, which holds every committed
// write: there is no other kind of read to compare with vault's stale one.
func (s swarmClient) read(ctx context.Context, key string) error {
	id, ok := s.ids.Load(key)
	if !ok {
		return fmt.Errorf("%s: the bench did not create it on swarm", key)
	}
	var r struct {
		ID   string
		Spec struct{ Name string }
	}
	if err := s.d.call(ctx, http.MethodGet, "/secrets/"+url.PathEscape(id.(string)), nil, &r); err != nil {
		return err
	}
	if r.Spec.Name != key {
		return fmt.Errorf("%s: inspect of %s answered %q", key, id, r.Spec.Name)
	}
	return nil
}

func (s swarmClient) staleRead(ctx context.Context, key string) error { return s.read(ctx, key) }

func (s swarmClient) ping(ctx context.Context) error {
	return s.d.call(ctx, http.MethodGet, "/_ping", nil, nil)
}

// procAlive reports whether a process the bench does not own still runs.
func procAlive(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}
