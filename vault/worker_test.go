package vault

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/ca"
)

// startWorker starts an uninitialized node and joins it to the manager m
// with the worker token.
func startWorker(t *testing.T, m *Node) (*Node, *api.Client, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tok, err := m.JoinToken(ctx, ca.RoleWorker, false)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := Config{
		StateDir:   filepath.Join(dir, "state"),
		SocketPath: filepath.Join(dir, "vault.sock"),
		ListenAddr: "127.0.0.1:" + strconv.Itoa(adjacentPorts(t)),
	}
	w, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	c := api.NewClient(cfg.SocketPath)
	r, err := c.Join(ctx, api.JoinRequest{Token: tok.Token, ManagerAddr: m.Status().APIAddr})
	if err != nil {
		t.Fatal(err)
	}
	if r.Role != ca.RoleWorker {
		t.Fatalf("joined as %q", r.Role)
	}
	return w, c, cfg.StateDir
}

func apiCode(err error) string {
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

func TestWorkerJoinAndDelivery(t *testing.T) {
	requireMounts(t)
	m, mc := startSingleNode(t)
	w, wc, wdir := startWorker(t, m)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	wid := w.Status().NodeID

	// A worker holds no replica and no key: its state dir holds its
	// identity and TLS material only.
	var files []string
	filepath.WalkDir(wdir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(wdir, p)
			files = append(files, rel)
		}
		return nil
	})
	for _, f := range files {
		switch f {
		case workerFile, "tls/ca.crt", "tls/node.crt", "tls/" + workerKeyFile, mountsFile, "vault.lock":
		default:
			if !strings.HasPrefix(f, ".") {
				t.Errorf("worker state dir holds %s", f)
			}
		}
	}
	nodes, err := mc.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var seen bool
	for _, nd := range nodes {
		if nd.ID == wid {
			seen = nd.Role == "worker"
		}
	}
	if !seen {
		t.Fatalf("node ls does not show the worker: %+v", nodes)
	}
	pollUntil(t, 10*time.Second, "worker connected", func() bool { return w.Status().Worker.Connected })

	// Manager-only routes refuse the worker's certificate.
	wp := w.worker()
	for _, path := range []string{"/v1/peer/status", "/v1/peer/keyusage"} {
		err := httpsCall(ctx, wp.tm.clientConfig(m.Status().APIAddr), m.Status().APIAddr, "GET", path, nil, &struct{}{})
		if c := apiCode(err); c != api.CodeForbidden {
			t.Errorf("worker certificate on %s: %v", path, err)
		}
	}
	// Routes a worker does not serve say so.
	if _, err := wc.Secrets(ctx); apiCode(err) != api.CodeUnsupported {
		t.Errorf("secret ls on a worker: %v", err)
	}

	for _, name := range []string{"granted", "other"} {
		if _, err := mc.CreateSecret(ctx, api.CreateSecretRequest{Name: name, Data: []byte(name + "-v1")}); err != nil {
			t.Fatal(err)
		}
	}
	mp := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mp, 0o700); err != nil {
		t.Fatal(err)
	}
	// Not granted yet: a clear error naming the grant to add.
	_, err = wc.Mount(ctx, api.MountRequest{Mountpoint: mp, Secrets: []api.SecretSpec{{Source: "granted", Target: "granted", Mode: 0o400}}, Follow: true})
	if apiCode(err) != api.CodeNotFound || !strings.Contains(err.Error(), "not granted") {
		t.Fatalf("mount of an ungranted secret: %v", err)
	}
	var ae *api.Error
	if errors.As(err, &ae); !strings.Contains(ae.Hint, "vault secret grant granted --node "+wid) {
		t.Errorf("hint: %q", ae.Hint)
	}

	if _, err := mc.UpdateNode(ctx, wid, api.NodeUpdateRequest{LabelAdd: []string{"tier=web"}}); err != nil {
		t.Fatal(err)
	}
	granted := time.Now()
	if _, err := mc.GrantSecret(ctx, "granted", api.GrantRequest{Label: "tier=web"}); err != nil {
		t.Fatal(err)
	}
	// Delivery is due within a poll (100 ms). A stream that took a new
	// change channel after each keepalive missed the grant now and then
	// and delivered it at its 30 s refresh.
	pollUntil(t, 5*time.Second, "granted secret delivered", func() bool { return w.Status().Worker.Secrets == 1 })
	t.Logf("the grant reached the worker in %v", time.Since(granted))
	if _, err := wc.Mount(ctx, api.MountRequest{Mountpoint: mp, Secrets: []api.SecretSpec{{Source: "granted", Target: "granted", Mode: 0o400}}, Follow: true}); err != nil {
		t.Fatal(err)
	}
	defer wc.Unmount(context.Background(), mp)
	read := func() string {
		b, _ := os.ReadFile(filepath.Join(mp, "granted"))
		return string(b)
	}
	if got := read(); got != "granted-v1" {
		t.Fatalf("mount reads %q", got)
	}
	// Only what is granted: the other secret never reaches the worker.
	if _, err := w.worker().resolve(ctx, "other"); apiCode(err) != api.CodeNotFound {
		t.Fatalf("ungranted secret on the worker: %v", err)
	}

	// A new version appears live.
	start := time.Now()
	if _, err := mc.UpdateSecret(ctx, "granted", []byte("granted-v2")); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 2*time.Second, "update in the worker's mount", func() bool { return read() == "granted-v2" })
	t.Logf("update reached the worker's mount in %v", time.Since(start))

	// Revoking wipes it from memory and from the mount within a second.
	start = time.Now()
	if _, err := mc.RevokeSecret(ctx, "granted", api.GrantRequest{Label: "tier=web"}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, time.Second, "revocation in the worker's mount", func() bool { return read() == "" && w.Status().Worker.Secrets == 0 })
	t.Logf("revocation emptied the worker's mount in %v", time.Since(start))

	// Granted again by node id, then the worker is removed: everything goes.
	if _, err := mc.GrantSecret(ctx, "granted", api.GrantRequest{NodeID: wid}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 2*time.Second, "granted again", func() bool { return read() == "granted-v2" })
	start = time.Now()
	if _, err := mc.RemoveNode(ctx, wid, false); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, time.Second, "removal wipes the worker", func() bool {
		st := w.Status()
		return st.Removed && st.Worker.Secrets == 0
	})
	t.Logf("node rm wiped the worker in %v", time.Since(start))
	if b, err := os.ReadFile(filepath.Join(mp, "granted")); err == nil && len(b) > 0 {
		t.Fatalf("removed worker's mount still reads %q", b)
	}
	ni, err := mc.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, nd := range ni {
		if nd.ID == wid {
			t.Fatal("node ls still lists the removed worker")
		}
	}
}

func TestWorkerLockWipes(t *testing.T) {
	m, mc := startSingleNode(t)
	w, wc, _ := startWorker(t, m)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := mc.CreateSecret(ctx, api.CreateSecretRequest{Name: "s", Data: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if _, err := mc.GrantSecret(ctx, "s", api.GrantRequest{NodeID: w.Status().NodeID}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, 5*time.Second, "delivered", func() bool { return w.Status().Worker.Secrets == 1 })
	if err := wc.Lock(ctx, false); err != nil {
		t.Fatal(err)
	}
	st := w.Status()
	if !st.Locked || st.Worker.Secrets != 0 || len(w.worker().held) != 0 {
		t.Fatalf("after lock: %+v %+v", st, st.Worker)
	}
	if _, err := w.worker().resolve(ctx, "s"); apiCode(err) != api.CodeLocked {
		t.Fatalf("resolve on a locked worker: %v", err)
	}
}
