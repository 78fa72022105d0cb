package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
)

// auditLine is the part of an audit record the tests look at.
type auditLine struct {
	Seq      uint64 `json:"seq"`
	Kind     string `json:"kind"`
	Identity *struct {
		Kind string `json:"kind"`
		Peer *struct {
			UID uint32 `json:"uid"`
			PID int32  `json:"pid"`
		} `json:"peer"`
		Cert *struct {
			Subject string `json:"subject"`
			Serial  string `json:"serial"`
		} `json:"cert"`
	} `json:"identity"`
	Route    string `json:"route"`
	Op       string `json:"op"`
	SecretID string `json:"secret_id"`
	NameHMAC string `json:"name_hmac"`
	Result   string `json:"result"`
	Code     string `json:"code"`
}

// who is a record's identity in short: "socket uid=0" or "client CN=…".
func (l auditLine) who() string {
	switch {
	case l.Identity == nil:
		return "-"
	case l.Identity.Peer != nil:
		return fmt.Sprintf("%s uid=%d", l.Identity.Kind, l.Identity.Peer.UID)
	case l.Identity.Cert != nil:
		cn, _, _ := strings.Cut(l.Identity.Cert.Subject, ",")
		return l.Identity.Kind + " " + cn
	}
	return l.Identity.Kind
}

func readAudit(t *testing.T, path string) []auditLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []auditLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l auditLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s: %v: %s", path, err, sc.Text())
		}
		out = append(out, l)
	}
	return out
}

// requestsAfter are the request records after seq, as "op who result
// secret name".
func requestsAfter(lines []auditLine, seq uint64) []auditLine {
	var out []auditLine
	for _, l := range lines {
		if l.Seq > seq && l.Kind == "request" {
			out = append(out, l)
		}
	}
	return out
}

func lastSeq(t *testing.T, path string) uint64 {
	lines := readAudit(t, path)
	if len(lines) == 0 {
		return 0
	}
	return lines[len(lines)-1].Seq
}

// TestAuditTrail: every request of a scripted sequence, from the socket
// and from a remote client, is in the audit log of the manager that served
// it, with its identity, op, secret id, name HMAC and result; the logs
// verify (across a logrotate-style move and SIGHUP too), and each kind of
// tampering is found, naming the first bad record.
func TestAuditTrail(t *testing.T) {
	nodes, logs := auditedManagers(t, nil, 3)
	admin := createBundle(t, nodes[0].daemon, "ops", "admin")
	hmac := strings.TrimSpace(must(t, nodes[0].vault("audit", "hash", "alpha")).stdout)
	if len(hmac) != 64 {
		t.Fatalf("audit hash: %q", hmac)
	}
	var start []uint64
	for _, l := range logs {
		start = append(start, lastSeq(t, l))
	}

	id := strings.TrimSpace(must(t, nodes[0].vaultIn([]byte("one"), "secret", "create", "alpha", "-")).stdout)
	must(t, nodes[0].vault("exec", "--secret", "alpha", "--", "true"))
	must(t, remote("", nodes[1].apiAddr, admin, nil, "secret", "inspect", "alpha"))
	must(t, remote("", nodes[1].apiAddr, admin, []byte("two"), "secret", "update", "alpha", "-"))
	mustFail(t, remote("", nodes[1].apiAddr, admin, nil, "secret", "inspect", "beta"), "beta")
	must(t, remote("", nodes[2].apiAddr, admin, nil, "secret", "ls"))
	must(t, remote("", nodes[2].apiAddr, admin, nil, "secret", "rm", "alpha"))
	must(t, nodes[2].vault("node", "ls"))

	betaHMAC := strings.TrimSpace(must(t, nodes[0].vault("audit", "hash", "beta")).stdout)
	type want struct{ op, who, result, secret, name string }
	wants := [][]want{
		{ // node 0: the socket's create, then the hash of beta asked above
			{"secret.create", "socket uid=0", "started", "", ""},
			{"secret.create", "socket uid=0", "ok", id, hmac},
			{"exec", "socket uid=0", "started", "", ""},
			{"audit.hash", "socket uid=0", "started", "", ""},
			{"audit.hash", "socket uid=0", "ok", "", ""},
		},
		{ // node 1: the remote admin's inspect, update, failed inspect
			{"secret.inspect", "client CN=ops", "ok", id, hmac},
			{"secret.update", "client CN=ops", "started", "", hmac},
			{"secret.update", "client CN=ops", "ok", id, hmac},
			{"secret.inspect", "client CN=ops", "error", "", betaHMAC},
		},
		{ // node 2: ls, rm, and the socket's node ls
			{"secret.ls", "client CN=ops", "ok", "", ""},
			{"secret.rm", "client CN=ops", "started", "", hmac},
			{"secret.rm", "client CN=ops", "ok", id, hmac},
			{"node.ls", "socket uid=0", "ok", "", ""},
		},
	}
	for i, l := range logs {
		got := requestsAfter(readAudit(t, l), start[i])
		var gs []string
		for _, g := range got {
			gs = append(gs, fmt.Sprintf("%s %s %s %s %s", g.Op, g.who(), g.Result, g.SecretID, g.NameHMAC))
		}
		var ws []string
		for _, w := range wants[i] {
			ws = append(ws, fmt.Sprintf("%s %s %s %s %s", w.op, w.who, w.result, w.secret, w.name))
		}
		if strings.Join(gs, "\n") != strings.Join(ws, "\n") {
			t.Errorf("node %d's audit log:\n%s\nwant:\n%s", i, strings.Join(gs, "\n"), strings.Join(ws, "\n"))
		}
		for _, g := range got {
			if g.Identity.Peer != nil && g.Identity.Peer.PID <= 0 {
				t.Errorf("node %d: socket record without the caller's pid", i)
			}
			if g.Identity.Cert != nil && g.Identity.Cert.Serial == "" {
				t.Errorf("node %d: client record without the certificate serial", i)
			}
		}
	}
	// The name never appears in a log.
	for _, l := range logs {
		if b, _ := os.ReadFile(l); bytes.Contains(b, []byte("alpha")) {
			t.Errorf("%s holds the secret's name", l)
		}
	}

	// logrotate: move the file, SIGHUP, and the chain goes on in a new file.
	keyFile := filepath.Join(t.TempDir(), "audit-verify.key")
	key := must(t, nodes[0].vault("audit", "key")).stdout
	if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(logs[0], logs[0]+".1"); err != nil {
		t.Fatal(err)
	}
	nodes[0].cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(logs[0]); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new audit file after SIGHUP:\n%s", tail(nodes[0].logPath, 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
	must(t, nodes[0].vault("secret", "ls"))
	for _, nd := range nodes {
		nd.stop() // seals the logs
	}
	verify := func(files ...string) result {
		return runVault("/nonexistent", nil, append([]string{"audit", "verify", "--key-file", keyFile}, files...)...)
	}
	for i, l := range logs {
		files := []string{l}
		if i == 0 {
			files = append(files, l+".1")
		}
		if r := verify(files...); r.code != 0 || !strings.Contains(r.stdout, "verified") {
			t.Fatalf("verify of node %d's untouched log: %s", i, r)
		}
	}

	// Tampering, each on a copy of node 1's log: the first bad record is named.
	orig, err := os.ReadFile(logs[1])
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(orig), "\n")
	lines = lines[:len(lines)-1] // the empty string after the last newline
	// A request record that succeeded, in the middle, not the last two.
	mid := len(lines) / 2
	for mid < len(lines)-3 && !strings.Contains(lines[mid], `"result":"ok"`) {
		mid++
	}
	var midRec auditLine
	if err := json.Unmarshal([]byte(lines[mid]), &midRec); err != nil || midRec.Result != "ok" {
		t.Fatalf("no request record to edit near line %d: %v", mid+1, err)
	}
	tamper := map[string]struct {
		edit func([]string) []string
		want string
	}{
		"edited": {func(ls []string) []string {
			ls[mid] = strings.Replace(ls[mid], `"result":"ok"`, `"result":"error"`, 1)
			return ls
		}, fmt.Sprintf("record %d was edited", midRec.Seq)},
		"deleted": {func(ls []string) []string {
			return append(ls[:mid:mid], ls[mid+1:]...)
		}, fmt.Sprintf("record %d follows deleted records", midRec.Seq+1)},
		"reordered": {func(ls []string) []string {
			ls[mid], ls[mid+1] = ls[mid+1], ls[mid]
			return ls
		}, fmt.Sprintf("record %d is out of order", midRec.Seq+1)},
		"truncated": {func(ls []string) []string {
			last := ls[len(ls)-1]
			ls[len(ls)-1] = last[:len(last)/2]
			return ls
		}, "the last record is cut off"},
	}
	for name, tc := range tamper {
		t.Run(name, func(t *testing.T) {
			ls := tc.edit(append([]string(nil), lines...))
			f := filepath.Join(t.TempDir(), "audit.log")
			if err := os.WriteFile(f, []byte(strings.Join(ls, "")), 0o600); err != nil {
				t.Fatal(err)
			}
			r := verify(f)
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("verify after the file was %s: want exit 1 naming %q, got %s", name, tc.want, r)
			}
		})
	}
}

// TestAuditUnwritable: with the audit log's path made unusable (moved
// away as logrotate would, a directory put in its place, SIGHUP), a daemon
// with --audit-fail closed refuses secret access with a clear error and
// says so in status and its log; one with --audit-fail open serves and
// warns. Neither hangs; both recover once the path is a file again, and the
// chain verifies across both files.
func TestAuditUnwritable(t *testing.T) {
	for _, policy := range []string{"closed", "open"} {
		t.Run(policy, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "audit.log")
			maddr := freeAddr(t)
			d := newDaemon(t, "--audit-log", log, "--audit-fail", policy, "--metrics-addr", maddr)
			d.start()
			must(t, d.vault("cluster", "init", "--shards", "1"))
			must(t, d.vaultIn([]byte("v"), "secret", "create", "before", "-"))
			keyFile := filepath.Join(t.TempDir(), "key")
			if err := os.WriteFile(keyFile, []byte(must(t, d.vault("audit", "key")).stdout), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(log, log+".1"); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(log, 0o700); err != nil {
				t.Fatal(err)
			}
			d.cmd.Process.Signal(syscall.SIGHUP)
			var s api.Status
			deadline := time.Now().Add(10 * time.Second)
			for {
				if err := json.Unmarshal([]byte(must(t, d.vault("status", "--format", "json")).stdout), &s); err != nil {
					t.Fatal(err)
				}
				if s.Audit != nil && !s.Audit.Healthy {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("status does not show the failing audit log: %+v", s.Audit)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if s.Audit.Policy != policy || !strings.Contains(s.Audit.LastError, "is a directory") {
				t.Fatalf("status: %+v", s.Audit)
			}
			timed := func(r func() result) result {
				began := time.Now()
				res := r()
				if took := time.Since(began); took > 10*time.Second {
					t.Fatalf("a request took %v with the audit log failing", took)
				}
				return res
			}
			create := timed(func() result { return d.vaultIn([]byte("v"), "secret", "create", "during", "-") })
			inspect := timed(func() result { return d.vault("secret", "inspect", "before") })
			st := must(t, d.vault("status"))
			ready, readyBody := readyz(t, maddr)
			switch policy {
			case "closed":
				mustFail(t, create, "refused: the audit log cannot be written", "is a directory")
				mustFail(t, inspect, "refused: the audit log cannot be written")
				if !strings.Contains(st.stdout, "FAILING") || !strings.Contains(st.stderr, "secret access is refused") {
					t.Fatalf("status: %s", st)
				}
				if ready != http.StatusServiceUnavailable || !strings.Contains(readyBody, "the audit log cannot be written") {
					t.Fatalf("/readyz with the audit log failing (closed): %d %s", ready, readyBody)
				}
				if !strings.Contains(d.logs.String(), "is failing (policy closed)") {
					t.Fatalf("no log line for the failing audit log:\n%s", d.logs)
				}
			case "open":
				must(t, create)
				must(t, inspect)
				if !strings.Contains(st.stdout, "FAILING") || !strings.Contains(st.stderr, "served without audit records") {
					t.Fatalf("status: %s", st)
				}
				if !strings.Contains(d.logs.String(), "is failing (policy open)") {
					t.Fatalf("no warning for the failing audit log:\n%s", d.logs)
				}
			}
			if err := os.Remove(log); err != nil {
				t.Fatal(err)
			}
			must(t, d.vaultIn([]byte("v"), "secret", "create", "after", "-"))
			if st := must(t, d.vault("status")); !strings.Contains(st.stdout, "writing") {
				t.Fatalf("status after the path is usable again: %s", st)
			}
			d.stop()
			r := runVault("/nonexistent", nil, "audit", "verify", "--key-file", keyFile, log, log+".1")
			if r.code != 0 {
				t.Fatalf("verify across the failure: %s", r)
			}
			if policy == "open" && !strings.Contains(string(mustRead(t, log)), `"kind":"lost"`) {
				t.Fatalf("no lost record after the open policy dropped records")
			}
		})
	}
}

// readyz GETs the metrics listener's /readyz.
func readyz(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
