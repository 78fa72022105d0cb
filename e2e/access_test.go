package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/vault"
)

// Remote clients and roles (docs/access.md).

// createBundle issues a client bundle through d's socket and returns its
// directory.
func createBundle(t *testing.T, d *daemon, name, role string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	r := must(t, d.vault("cluster", "client", "create", name, "--role", role, "-o", dir))
	if !strings.Contains(r.stdout, "Client "+name+" (role "+role) {
		t.Fatalf("client create said: %s", r)
	}
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("bundle: %v", err)
		}
	}
	if fi, _ := os.Stat(filepath.Join(dir, "key.pem")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key.pem mode %v", fi.Mode().Perm())
	}
	return dir
}

// remote runs the CLI with --host and a bundle only: the socket it is
// given does not exist. With ns it runs inside that network namespace.
func remote(ns, apiAddr, dir string, stdin []byte, args ...string) result {
	argv := append([]string{"--host", "tcp://" + apiAddr, "--tls-dir", dir}, args...)
	name := vaultBin
	if ns != "" {
		argv = append([]string{"netns", "exec", ns, vaultBin}, argv...)
		name = "ip"
	}
	return runCommand("VAULT_SOCKET=/nonexistent/vault.sock", stdin, name, argv...)
}

// auditedManagers starts n managers (on tn's hosts when tn is not nil),
// each with its own audit log, inits the first and joins the others.
func auditedManagers(t *testing.T, tn *testnet, n int, extra ...string) (nodes []*node, logs []string) {
	t.Helper()
	for i := range n {
		log := filepath.Join(t.TempDir(), "audit.log")
		nd := newNode(t, tn, i, append([]string{"--audit-log", log}, extra...)...)
		nd.start()
		nodes, logs = append(nodes, nd), append(logs, log)
	}
	must(t, nodes[0].vault("cluster", "init", "--shards", "2"))
	for _, nd := range nodes[1:] {
		tok := strings.TrimSpace(must(t, nodes[0].vault("cluster", "join-token", "-q", "manager")).stdout)
		must(t, nd.vault("cluster", "join", "--token", tok, nodes[0].apiAddr))
	}
	return nodes, logs
}

// TestRemoteCLI: from another network namespace, with a client bundle and
// no socket, the CLI runs the secret commands, key status and node ls
// against any manager; local-only commands say so; a removed client is
// refused at once by every manager.
func TestRemoteCLI(t *testing.T) {
	if why := netnsUnavailable(); why != "" {
		t.Fatalf("the remote CLI test needs network namespaces: %s", why)
	}
	tn := newTestnet(t, 4) // three managers and the operator's machine
	nodes, _ := auditedManagers(t, tn, 3)
	admin := createBundle(t, nodes[0].daemon, "ops-admin", "admin")
	reader := createBundle(t, nodes[0].daemon, "auditor", "reader")
	op := tn.hosts[3].ns
	via := nodes[1].apiAddr

	id := strings.TrimSpace(must(t, remote(op, via, admin, []byte("s3cret"), "secret", "create", "db-password", "-")).stdout)
	ls := must(t, remote(op, nodes[2].apiAddr, admin, nil, "secret", "ls")).stdout
	if !strings.Contains(ls, "db-password") || !strings.Contains(ls, id[:12]) {
		t.Fatalf("remote ls: %s", ls)
	}
	ins := must(t, remote(op, via, admin, nil, "secret", "inspect", "db-password")).stdout
	if !strings.Contains(ins, id) || strings.Contains(ins, "s3cret") {
		t.Fatalf("remote inspect: %s", ins)
	}
	must(t, remote(op, via, admin, []byte("n3w"), "secret", "update", "db-password", "-"))
	if v := must(t, remote(op, via, admin, nil, "secret", "inspect", "--format", "{{.Version}}", "db-password")).stdout; strings.TrimSpace(v) != "2" {
		t.Fatalf("version after update: %q", v)
	}
	if ks := must(t, remote(op, via, admin, nil, "key", "status")).stdout; !strings.Contains(ks, "active") {
		t.Fatalf("key status: %s", ks)
	}
	if nl := must(t, remote(op, via, admin, nil, "node", "ls")).stdout; strings.Count(nl, "manager") != 3 {
		t.Fatalf("node ls: %s", nl)
	}
	if st := must(t, remote(op, via, reader, nil, "status")).stdout; !strings.Contains(st, nodes[1].addr) {
		t.Fatalf("remote status is not the manager's: %s", st)
	}
	mustFail(t, remote(op, via, reader, []byte("x"), "secret", "create", "nope", "-"), "role reader may not create secrets")
	mustFail(t, remote(op, via, admin, nil, "mount", "ls"), "`vault mount` is local to a node")
	mustFail(t, remote(op, via, admin, nil, "exec", "--secret", "db-password", "true"), "local to a node")
	mustFail(t, remote(op, via, admin, nil, "cluster", "init"), "local to a node")
	must(t, remote(op, via, admin, nil, "secret", "rm", "db-password"))

	// An admin makes a bundle remotely (the key is made on the operator's
	// machine); the new writer works at once on another manager.
	writer := filepath.Join(t.TempDir(), "ci")
	must(t, remote(op, via, admin, nil, "cluster", "client", "create", "ci", "--role", "writer", "-o", writer))
	must(t, remote(op, nodes[2].apiAddr, writer, []byte("w"), "secret", "create", "from-ci", "-"))
	mustFail(t, remote(op, nodes[2].apiAddr, writer, nil, "cluster", "client", "ls"), "role writer may not list clients")

	// Without a bundle, with another cluster's CA, and without --host's form.
	mustFail(t, remote(op, via, "", nil, "status"), "--host needs a client bundle")
	mustFail(t, remote(op, "not-an-addr", admin, nil, "status"), "want tcp://HOST:PORT")

	// The socket's root sees the clients; a removed one is refused by every
	// manager on its next request.
	for _, nd := range nodes {
		must(t, remote(op, nd.apiAddr, reader, nil, "secret", "ls"))
	}
	cl := must(t, nodes[0].vault("cluster", "client", "ls")).stdout
	if !strings.Contains(cl, "auditor") || !strings.Contains(cl, "reader") {
		t.Fatalf("client ls: %s", cl)
	}
	must(t, remote(op, via, admin, nil, "cluster", "client", "rm", "auditor"))
	for _, nd := range nodes {
		mustFail(t, remote(op, nd.apiAddr, reader, nil, "secret", "ls"), "client auditor was removed from the cluster")
	}
	if cl := must(t, nodes[2].vault("cluster", "client", "ls", "-q")).stdout; strings.Join(strings.Fields(cl), " ") != "ops-admin ci" {
		t.Fatalf("clients after rm: %q", cl)
	}
}

// documentedRoles is docs/access.md's table: the roles allowed each route
// from a client certificate (none: the local socket only).
var documentedRoles = map[string][]string{
	"GET /v1/status":                     {"admin", "operator", "writer", "reader"},
	"POST /v1/cluster/init":              nil,
	"POST /v1/cluster/join":              nil,
	"GET /v1/cluster/join-token/{role}":  {"admin", "operator"},
	"POST /v1/cluster/join-token/{role}": {"admin", "operator"},
	"POST /v1/cluster/leave":             {"admin"},
	"GET /v1/nodes":                      {"admin", "operator", "writer", "reader"},
	"DELETE /v1/nodes/{id}":              {"admin", "operator"},
	"POST /v1/cluster/autolock":          {"admin", "operator"},
	"GET /v1/unlock-key":                 {"admin", "operator"},
	"POST /v1/unlock-key/rotate":         {"admin", "operator"},
	"POST /v1/kek-change/commit":         {"admin", "operator"},
	"POST /v1/kek-change/abort":          {"admin", "operator"},
	"POST /v1/unlock":                    {"admin", "operator"},
	"POST /v1/lock":                      {"admin", "operator"},
	"GET /v1/keys":                       {"admin", "operator", "writer", "reader"},
	"POST /v1/keys/rotate":               {"admin", "operator"},
	"POST /v1/keys/reseal":               {"admin", "operator"},
	"POST /v1/keys/compact":              {"admin", "operator"},
	"POST /v1/keys/rotate/finish":        {"admin", "operator"},
	"POST /v1/keys/retire":               {"admin", "operator"},
	"POST /v1/cluster/rotation":          {"admin", "operator"},
	"GET /v1/mounts":                     nil,
	"POST /v1/mounts":                    nil,
	"DELETE /v1/mounts":                  nil,
	"POST /v1/exec":                      nil,
	"GET /v1/secrets":                    {"admin", "operator", "writer", "reader"},
	"POST /v1/secrets":                   {"admin", "writer"},
	"GET /v1/secrets/{ref}":              {"admin", "operator", "writer", "reader"},
	"POST /v1/secrets/{ref}/versions":    {"admin", "writer"},
	"DELETE /v1/secrets/{ref}":           {"admin", "writer"},
	"POST /v1/audit/hash":                {"admin", "operator", "writer", "reader"},
	"GET /v1/audit/key":                  {"admin", "operator", "writer", "reader"},
	"POST /v1/cluster/clients":           {"admin"},
	"GET /v1/cluster/clients":            {"admin", "operator"},
	"DELETE /v1/cluster/clients/{name}":  {"admin"},
	"POST /v1/secrets/{ref}/grants":      {"admin", "writer"},
	"POST /v1/secrets/{ref}/revoke":      {"admin", "writer"},
	"GET /v1/nodes/{id}":                 {"admin", "operator", "writer", "reader"},
	"POST /v1/nodes/{id}/update":         {"admin", "operator"},
	"POST /v1/nodes/{id}/promote":        {"admin", "operator"},
	"POST /v1/nodes/{id}/demote":         {"admin", "operator"},
	"POST /v1/snapshot":                  {"admin", "operator"},
	"POST /v1/cluster/versions":          {"admin", "operator"},
	"POST /v1/cluster/restore":           {},
	"POST /v1/cluster/recover":           {},
}

// notRunWhenAllowed are routes a role may use whose effect would end the
// test's cluster (the manager API stops while locked or after leaving):
// their refusals are tried, their permissions only by the role table.
var notRunWhenAllowed = map[string]bool{
	"POST /v1/lock":              true,
	"POST /v1/cluster/leave":     true,
	"POST /v1/unlock-key/rotate": true,
	"POST /v1/cluster/autolock":  true,
	"POST /v1/keys/compact":      true,
}

// bundleClient is an HTTPS client with a bundle's certificate.
func bundleClient(t *testing.T, dir string) *http.Client {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{pair}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}}}
}

// TestRolesByRoute tries each role against every route of the API, on the
// manager API with the role's certificate: allowed exactly where the table
// says, otherwise "role X may not …". A manager's own certificate and a
// stranger without one are refused everywhere; a client certificate is
// refused on the peer routes.
func TestRolesByRoute(t *testing.T) {
	if got := vault.RouteRoles(); !maps.EqualFunc(got, documentedRoles, func(a, b []string) bool {
		return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
	}) {
		t.Fatalf("the daemon's role table differs from the documented one:\n got %v\nwant %v", got, documentedRoles)
	}
	d := newDaemon(t)
	d.start()
	must(t, d.vault("cluster", "init", "--shards", "1"))
	must(t, d.vaultIn([]byte("v"), "secret", "create", "x", "-"))
	clients := map[string]*http.Client{}
	bundles := map[string]string{}
	for _, role := range []string{"admin", "operator", "writer", "reader"} {
		bundles[role] = createBundle(t, d, "c-"+role, role)
		clients[role] = bundleClient(t, bundles[role])
	}
	pathValue := regexp.MustCompile(`\{[^}]+\}`)
	call := func(hc *http.Client, method, path string) (int, *api.Error) {
		req, _ := http.NewRequest(method, "https://"+d.apiAddr+path, strings.NewReader("{}"))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode < 300 {
			return resp.StatusCode, nil
		}
		e := api.ReadError(bytes.NewReader(body))
		if e == nil {
			e = &api.Error{Code: "?", Message: string(body)}
		}
		return resp.StatusCode, e
	}
	patterns := slices.Sorted(maps.Keys(documentedRoles))
	tried := 0
	for _, pattern := range patterns {
		method, path, _ := strings.Cut(pattern, " ")
		path = pathValue.ReplaceAllString(path, "x")
		for _, role := range []string{"admin", "operator", "writer", "reader"} {
			ok := slices.Contains(documentedRoles[pattern], role)
			if ok && notRunWhenAllowed[pattern] {
				continue
			}
			tried++
			_, e := call(clients[role], method, path)
			switch {
			case ok && e != nil && e.Code == api.CodeForbidden:
				t.Errorf("%s as %s: refused, but the table allows it: %s", pattern, role, e.Message)
			case !ok && (e == nil || e.Code != api.CodeForbidden || !strings.HasPrefix(e.Message, "role "+role+" may not ")):
				t.Errorf("%s as %s: want \"role %s may not …\", got %+v", pattern, role, role, e)
			}
		}
	}
	t.Logf("%d role × route requests", tried)

	// No certificate, or a manager's: refused on every route.
	stranger := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for _, pattern := range patterns {
		method, path, _ := strings.Cut(pattern, " ")
		if _, e := call(stranger, method, pathValue.ReplaceAllString(path, "x")); e == nil || e.Code != api.CodeForbidden {
			t.Errorf("%s without a certificate: %+v", pattern, e)
		}
	}
	// A client certificate is no peer: every peer route and the Raft port
	// refuse it, an admin's included.
	adminCert, err := tls.LoadX509KeyPair(filepath.Join(bundles["admin"], "cert.pem"), filepath.Join(bundles["admin"], "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	_, pool := nodeTLS(t, d)
	for _, rt := range peerRoutes(t) {
		if status, code := peerCall(t, adminCert, pool, d.apiAddr, rt[0], rt[1]); status != http.StatusForbidden || code != api.CodeForbidden {
			t.Errorf("%s %s with a client certificate: %d %s", rt[0], rt[1], status, code)
		}
	}
	if raftAdmitted(t, adminCert, pool, d.addr) {
		t.Error("the Raft port admitted a client certificate")
	}
	// A manager's certificate is no client.
	nodeCert, _ := nodeTLS(t, d)
	if status, _ := peerCall(t, nodeCert, pool, d.apiAddr, "GET", "/v1/secrets"); status != http.StatusForbidden {
		t.Errorf("GET /v1/secrets with a manager's certificate: %d", status)
	}
	// The refusals are in the audit trail of the node only if it has one;
	// this one has none, and its status says nothing of it.
	var s api.Status
	if err := json.Unmarshal([]byte(must(t, d.vault("status", "--format", "json")).stdout), &s); err != nil || s.Audit != nil {
		t.Fatalf("status without an audit log: %+v %v", s.Audit, err)
	}
}
