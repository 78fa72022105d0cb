package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDockerStyleCLI types the command lines a Docker user would, against
// a real daemon (cmd/vault's tests cover every case against a fake one).
func TestDockerStyleCLI(t *testing.T) {
	d := newDaemon(t)
	d.start()
	must(t, d.vault("cluster", "init", "--shards", "1"))

	// Flags after the arguments, both spellings of --label, data on stdin.
	id := strings.TrimSpace(must(t, d.vaultIn([]byte("hunter2"), "secret", "create", "db-password", "-", "--label", "env=prod", "-l", "team=web")).stdout)
	must(t, d.vaultIn([]byte("x"), "secret", "create", "api-key", "-", "--label", "env=dev"))
	var got []struct {
		ID   string
		Spec struct {
			Name   string
			Labels map[string]string
		}
	}
	r := must(t, d.vault("secret", "inspect", "db-password", "--format", "json"))
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 1 || got[0].ID != id ||
		got[0].Spec.Name != "db-password" || got[0].Spec.Labels["env"] != "prod" || got[0].Spec.Labels["team"] != "web" {
		t.Fatalf("inspect --format json after the name: %v\n%s", err, r)
	}

	// --filter, and a table template with its header.
	if out := must(t, d.vault("secret", "ls", "-f", "label=env=prod", "-q")).stdout; out != id+"\n" {
		t.Fatalf("ls -f label=env=prod: %q", out)
	}
	out := must(t, d.vault("secret", "ls", "--format", `table {{.Name}}\t{{.Version}}`)).stdout
	if !strings.HasPrefix(out, "NAME          VERSION\n") || !strings.Contains(out, "db-password   1\n") {
		t.Fatalf("table template:\n%s", out)
	}
	if out := must(t, d.vault("secret", "inspect", "db-password", "--format", "table")).stdout; !strings.HasPrefix(out, "ID ") || strings.Contains(out, "{") {
		t.Fatalf("inspect --format table:\n%s", out)
	}
	mustFail(t, d.vault("secret", "ls", "--filter", "colour=red"), `invalid filter "colour"`, "vault secret ls filters by")

	// node ls: the template of its own help, and the table.
	var st struct{ NodeID, APIAddr string }
	if err := json.Unmarshal([]byte(must(t, d.vault("status", "--format", "json")).stdout), &st); err != nil || st.NodeID == "" {
		t.Fatalf("status json: %v", err)
	}
	if out := must(t, d.vault("node", "ls", "--format", "{{.Name}}")).stdout; out != st.NodeID+"\n" {
		t.Fatalf("node ls --format {{.Name}}: %q", out)
	}
	if out := must(t, d.vault("node", "ls")).stdout; !strings.Contains(out, "STATE") || !strings.Contains(out, "ready") {
		t.Fatalf("node ls:\n%s", out)
	}

	// Messages.
	mustFail(t, d.vault("crate"), `unknown command "crate" for "vault"`, `did you mean "vault secret create"?`)
	mustFail(t, d.vault("secret", "create", "--bogus", "x"), "vault: hint: `vault secret create --help`")
	mustFail(t, d.vault("secret", "update", "db-password", "./new-password.txt"), `"./new-password.txt" does not exist`)
	mustFail(t, d.vaultIn(make([]byte, 10<<20), "secret", "create", "big", "-"), "more than the 500 KiB limit")
	if r := d.vault("exec", "--secret", "db-password", "--", "no-such-command-here"); r.code != 127 || !strings.Contains(r.stderr, "command not found") {
		t.Fatalf("exec of a missing command: %s", r)
	}

	// A bare boolean.
	if out := must(t, d.vault("cluster", "update", "--autolock")).stdout; !strings.Contains(out, "Autolock is on.") {
		t.Fatalf("cluster update --autolock:\n%s", out)
	}
	if out := must(t, d.vault("status")).stdout; !strings.Contains(out, "KEK version:  2\n") {
		t.Fatalf("status after enabling autolock:\n%s", out)
	}
	must(t, d.vault("cluster", "update", "--autolock=false"))
}

// TestDevListenAddr: `vault dev` listens where it is told.
func TestDevListenAddr(t *testing.T) {
	addrs := freeAddrs(t, 2)
	sock := filepath.Join(t.TempDir(), "dev.sock")
	cmd := exec.Command(vaultBin, "--socket", sock, "dev", "--listen-addr", addrs[0], "--api-addr", addrs[1], "--shards", "1")
	cmd.SysProcAttr = dieWithTest()
	// Its state directory goes under TMPDIR; it is killed at the end, so
	// it does not delete that directory itself.
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var st struct {
		Initialized   bool
		Addr, APIAddr string
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := runVault(sock, nil, "status", "--format", "json")
		if r.code == 0 && json.Unmarshal([]byte(r.stdout), &st) == nil && st.Initialized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("vault dev did not serve within 60s:\n%s", logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st.Addr != addrs[0] || st.APIAddr != addrs[1] {
		t.Fatalf("vault dev listens on %s and %s, want %s and %s", st.Addr, st.APIAddr, addrs[0], addrs[1])
	}
	if _, err := os.Stat(sock); err != nil {
		t.Fatal(err)
	}
}
