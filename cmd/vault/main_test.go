package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/vaultd/vault/api"
)

// cliResult is what one run of the CLI printed and returned.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs the CLI in this process with its stdin, stdout and stderr
// swapped for files, as a shell would run it.
func runCLI(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	dir := t.TempDir()
	in, out, errf := filepath.Join(dir, "in"), filepath.Join(dir, "out"), filepath.Join(dir, "err")
	if err := os.WriteFile(in, []byte(stdin), 0o600); err != nil {
		t.Fatal(err)
	}
	open := func(p string, flag int) *os.File {
		f, err := os.OpenFile(p, flag, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	fin, fout, ferr := open(in, os.O_RDONLY), open(out, os.O_CREATE|os.O_WRONLY), open(errf, os.O_CREATE|os.O_WRONLY)
	oldIn, oldOut, oldErr := os.Stdin, os.Stdout, os.Stderr
	os.Stdin, os.Stdout, os.Stderr = fin, fout, ferr
	code := run(append([]string{"vault"}, args...))
	os.Stdin, os.Stdout, os.Stderr = oldIn, oldOut, oldErr
	fin.Close()
	fout.Close()
	ferr.Close()
	o, _ := os.ReadFile(out)
	e, _ := os.ReadFile(errf)
	return cliResult{stdout: string(o), stderr: string(e), code: code}
}

// fakeDaemon answers the API on a Unix socket with fixed objects and
// records what it was sent: enough for the CLI's parsing, filtering and
// printing, without a real node.
type fakeDaemon struct {
	socket string
	mu     sync.Mutex
	got    map[string]json.RawMessage // request bodies by "METHOD path"
}

var fakeTime = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

var fakeSecrets = []api.Secret{
	{ID: "4bgnuehx5urqc5iydla6lyniru", Name: "db-password", Labels: map[string]string{"env": "prod", "team": "web"}, CreatedAt: fakeTime, UpdatedAt: fakeTime, Version: 2, Size: 7,
		Versions: []api.SecretVersion{{Version: 1, Size: 5, CreatedAt: fakeTime}, {Version: 2, Size: 7, CreatedAt: fakeTime}}},
	{ID: "l7bk75khebtrsix6nr4qsj5mle", Name: "api-key", Labels: map[string]string{"env": "dev"}, CreatedAt: fakeTime, UpdatedAt: fakeTime, Version: 1, Size: 1},
	{ID: "b32nwbeiyf4txqclqx4bpykr3y", Name: "tls-cert", CreatedAt: fakeTime, UpdatedAt: fakeTime, Version: 1, Size: 900},
}

var fakeNodes = []api.Node{
	{ID: "zaptkjxkfaotrj3clp5m7qryt4", Addr: "10.0.0.1:4700", APIAddr: "10.0.0.1:4701", Role: "manager", Status: "ready", Leader: 2, Groups: 3, Self: true, JoinedAt: fakeTime},
	{ID: "q2mz6yd3xk7hjqgx5q4tq3nmhe", Addr: "10.0.0.2:4700", APIAddr: "10.0.0.2:4701", Role: "manager", Status: "locked", Leader: 0, Groups: 3, JoinedAt: fakeTime},
	{ID: "w6yv2lwq5xoe3i6e7b4hmbkqqa", Addr: "10.0.0.3:4700", APIAddr: "10.0.0.3:4701", Role: "manager", Status: "unreachable", Leader: 1, Groups: 3, JoinedAt: fakeTime},
}

var fakeMounts = []api.MountInfo{
	{Mountpoint: "/run/app", Secrets: []api.SecretSpec{{Source: "db-password", Target: "db-password", Mode: 0o400}}, CreatedAt: fakeTime},
	{Mountpoint: "/run/secrets", Secrets: []api.SecretSpec{{Source: "api-key", Target: "key", Version: 1}}, Exec: true, CreatedAt: fakeTime},
}

func newFakeDaemon(t *testing.T) *fakeDaemon {
	t.Helper()
	d, stop, err := startFakeDaemon(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return d
}

// startFakeDaemon serves the fake API on dir/vault.sock until stop.
func startFakeDaemon(dir string) (d *fakeDaemon, stop func(), err error) {
	d = &fakeDaemon{socket: filepath.Join(dir, "vault.sock"), got: map[string]json.RawMessage{}}
	l, err := net.Listen("unix", d.socket)
	if err != nil {
		return nil, nil, err
	}
	reply := func(w http.ResponseWriter, v any) { json.NewEncoder(w).Encode(v) }
	fail := func(w http.ResponseWriter, e *api.Error) {
		w.WriteHeader(e.Status())
		json.NewEncoder(w).Encode(map[string]*api.Error{"error": e})
	}
	mux := http.NewServeMux()
	record := func(r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if q, _ := url.QueryUnescape(r.URL.RawQuery); q != "" {
			b = append([]byte(q+"\n"), b...) // a secret's spec travels in the query
		}
		d.mu.Lock()
		d.got[r.Method+" "+r.URL.Path] = b
		d.mu.Unlock()
	}
	mux.HandleFunc("GET /v1/secrets", func(w http.ResponseWriter, r *http.Request) { reply(w, fakeSecrets) })
	mux.HandleFunc("GET /v1/secrets/{ref}", func(w http.ResponseWriter, r *http.Request) {
		for _, s := range fakeSecrets {
			if s.Name == r.PathValue("ref") || strings.HasPrefix(s.ID, r.PathValue("ref")) {
				reply(w, s)
				return
			}
		}
		fail(w, api.Errorf(api.CodeNotFound, "no such secret: %s", r.PathValue("ref")))
	})
	mux.HandleFunc("POST /v1/secrets", func(w http.ResponseWriter, r *http.Request) {
		if err := api.CheckDataType(r.Header.Get("Content-Type")); err != nil {
			fail(w, err.(*api.Error))
			return
		}
		record(r)
		reply(w, api.SecretRef{ID: "newsecretid000000000000000", Version: 1})
	})
	mux.HandleFunc("POST /v1/secrets/{ref}/versions", func(w http.ResponseWriter, r *http.Request) {
		if err := api.CheckDataType(r.Header.Get("Content-Type")); err != nil {
			fail(w, err.(*api.Error))
			return
		}
		record(r)
		reply(w, api.SecretRef{ID: fakeSecrets[0].ID, Version: 3})
	})
	mux.HandleFunc("GET /v1/nodes", func(w http.ResponseWriter, r *http.Request) { reply(w, fakeNodes) })
	mux.HandleFunc("GET /v1/mounts", func(w http.ResponseWriter, r *http.Request) { reply(w, fakeMounts) })
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		reply(w, api.Status{Initialized: true, NodeID: fakeNodes[0].ID, ClusterID: "c", Addr: "10.0.0.1:4700", APIAddr: "10.0.0.1:4701", Shards: 2, Autolock: true, KEKVersion: 3, ActiveDEK: 2, DEKVersions: []uint32{1, 2}})
	})
	mux.HandleFunc("GET /v1/cluster/join-token/{role}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, api.JoinTokenResponse{Role: r.PathValue("role"), Token: "VLTTKN-1-" + strings.ToUpper(r.PathValue("role"))})
	})
	mux.HandleFunc("POST /v1/cluster/join", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		reply(w, api.InitResponse{ClusterID: "c", NodeID: "n"})
	})
	mux.HandleFunc("POST /v1/cluster/autolock", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		reply(w, api.UnlockKeyResponse{Key: "VLTKEY-1-TEST", KEKVersion: 3, Autolock: true})
	})
	mux.HandleFunc("POST /v1/unlock-key/rotate", func(w http.ResponseWriter, r *http.Request) {
		record(r)
		reply(w, api.UnlockKeyResponse{Key: "VLTKEY-1-TEST", KEKVersion: 4, DEKVersion: 3, Autolock: true})
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = l
	srv.Start()
	return d, srv.Close, nil
}

func (d *fakeDaemon) body(key string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return string(d.got[key])
}

func TestMain(m *testing.M) {
	// The socket comes from each test's flags or VAULT_SOCKET, never
	// from the machine's own daemon; a script's `vault` has its own.
	if filepath.Base(os.Args[0]) != "vault" {
		os.Setenv("VAULT_SOCKET", filepath.Join(os.TempDir(), "vault-cli-test-no-daemon.sock"))
	}
	// Scripts run this test binary as `vault`.
	testscript.Main(m, map[string]func(){
		"vault": func() { os.Exit(run(os.Args)) },
	})
}

// TestScripts runs testdata/script/*.txt: command lines as an operator
// types them, and what they print, against a fake daemon per script.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			d, stop, err := startFakeDaemon(e.WorkDir)
			if err != nil {
				return err
			}
			e.Defer(stop)
			e.Setenv("VAULT_SOCKET", d.socket)
			return nil
		},
	})
}
