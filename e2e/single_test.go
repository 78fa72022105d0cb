package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

type inspected struct {
	ID       string
	Name     string
	Labels   map[string]string
	Version  int
	Size     int
	Versions []struct{ Version, Size int }
}

func inspect(t *testing.T, d *daemon, ref string) inspected {
	t.Helper()
	r := must(t, d.vault("secret", "inspect", ref))
	var out []inspected
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out) != 1 {
		t.Fatalf("inspect %s: %v: %s", ref, err, r.stdout)
	}
	return out[0]
}

// TestSingleNode runs one daemon the way an operator would: init, secrets in
// and out, every bad input, SIGKILL and restart, then a canary scan of every
// file the node wrote.
func TestSingleNode(t *testing.T) {
	d := newDaemon(t, "--snapshot-entries", "25")
	d.start()
	c := canaries{}

	mustFail(t, d.vault("secret", "ls"), "not part of a cluster", "vault: hint: run `vault cluster init`")
	must(t, d.vault("cluster", "init", "--shards", "3"))
	mustFail(t, d.vault("cluster", "init"), "already part of cluster")

	// Secrets with canary names and values, from stdin and from files.
	type secret struct {
		name, id string
		data     []byte
		version  int
	}
	var secrets []*secret
	for i := range 12 {
		s := &secret{name: fmt.Sprintf("canaryname%s", randHex(6)), data: []byte("CANARY-VALUE-" + randHex(16)), version: 1}
		c.add(fmt.Sprintf("name %d", i), []byte(s.name))
		c.add(fmt.Sprintf("value %d", i), s.data)
		var r result
		if i%2 == 0 {
			r = must(t, d.vaultIn(s.data, "secret", "create", "--label", "env=test", "--label", fmt.Sprintf("n=%d", i), s.name, "-"))
		} else {
			f := filepath.Join(t.TempDir(), "data")
			os.WriteFile(f, s.data, 0o600)
			r = must(t, d.vault("secret", "create", s.name, f))
		}
		s.id = strings.TrimSpace(r.stdout)
		if len(s.id) != 26 {
			t.Fatalf("create printed %q, want an id", r.stdout)
		}
		secrets = append(secrets, s)
	}

	// ls: table, json, template, quiet.
	ls := must(t, d.vault("secret", "ls")).stdout
	if !strings.HasPrefix(ls, "ID") || strings.Count(ls, "\n") != 13 {
		t.Fatalf("ls table:\n%s", ls)
	}
	var list []inspected
	if err := json.Unmarshal([]byte(must(t, d.vault("secret", "ls", "--format", "json")).stdout), &list); err != nil || len(list) != 12 {
		t.Fatalf("ls json: %v %d", err, len(list))
	}
	names := must(t, d.vault("secret", "ls", "--format", "{{.Name}}")).stdout
	for _, s := range secrets {
		if !strings.Contains(names, s.name+"\n") {
			t.Fatalf("ls template lacks %s", s.name)
		}
	}

	// inspect by name, id and id prefix; never data.
	got := inspect(t, d, secrets[0].name)
	if got.ID != secrets[0].id || got.Labels["env"] != "test" || got.Version != 1 || got.Size != len(secrets[0].data) {
		t.Fatalf("inspect: %+v", got)
	}
	if inspect(t, d, secrets[1].id).Name != secrets[1].name || inspect(t, d, secrets[2].id[:10]).Name != secrets[2].name {
		t.Fatal("inspect by id or prefix found the wrong secret")
	}
	raw := must(t, d.vault("secret", "inspect", secrets[0].name)).stdout
	if strings.Contains(raw, string(secrets[0].data)) {
		t.Fatal("inspect printed secret data")
	}
	if r := must(t, d.vault("secret", "inspect", "--format", "{{.Name}} v{{.Version}}", secrets[3].name)); strings.TrimSpace(r.stdout) != secrets[3].name+" v1" {
		t.Fatalf("inspect template: %s", r)
	}

	// update: a new version each time.
	for _, s := range secrets[:4] {
		s.data = []byte("CANARY-VALUE-" + randHex(16))
		c.add("updated "+s.name, s.data)
		must(t, d.vaultIn(s.data, "secret", "update", s.name, "-"))
		s.version++
	}
	if v := inspect(t, d, secrets[0].name); v.Version != 2 || len(v.Versions) != 2 {
		t.Fatalf("after update: %+v", v)
	}

	// rm: by name and by id.
	must(t, d.vault("secret", "rm", secrets[10].name, secrets[11].id))
	removed := secrets[10:]
	secrets = secrets[:10]
	mustFail(t, d.vault("secret", "inspect", removed[0].name), "no such secret")

	// Bad input: one clear error line each, and nothing changes.
	mustFail(t, d.vaultIn([]byte("x"), "secret", "create", secrets[0].name, "-"), "already exists", "vault secret update")
	mustFail(t, d.vaultIn([]byte("x"), "secret", "create", "bad-", "-"), "invalid secret name")
	mustFail(t, d.vaultIn([]byte("x"), "secret", "create", "-x", "-"), "unknown flag: -x", "vault secret create --help")
	mustFail(t, d.vaultIn([]byte("x"), "secret", "create", strings.Repeat("a", 65), "-"), "invalid secret name")
	mustFail(t, d.vaultIn([]byte{}, "secret", "create", "emptydata", "-"), "empty")
	mustFail(t, d.vaultIn(bytes.Repeat([]byte("x"), 512000), "secret", "create", "toobig", "-"), "limit")
	mustFail(t, d.vault("secret", "inspect", "nosuchsecret"), "no such secret: nosuchsecret")
	mustFail(t, d.vaultIn([]byte("x"), "secret", "update", "nosuchsecret", "-"), "no such secret")
	mustFail(t, d.vault("secret", "rm", "nosuchsecret"), "no such secret")
	mustFail(t, d.vault("secret", "create", "fromarg", "hunter2"), `"hunter2" does not exist`, "never from the command line")
	mustFail(t, d.vault("secret", "create", "fromarg", "-", "hunter2"), "too many arguments")
	mustFail(t, d.vaultIn([]byte("x"), "secret", "create", "fromarg", "-", "--label", "a"), `bad label "a"`)
	mustFail(t, runVault(filepath.Join(t.TempDir(), "none.sock"), nil, "secret", "ls"), "no vault daemon at", "vault: hint: start one")
	if n := len(strings.Split(strings.TrimSpace(must(t, d.vault("secret", "ls", "-q")).stdout), "\n")); n != 10 {
		t.Fatalf("bad input changed the secret count to %d", n)
	}
	for _, s := range []string{"emptydata", "toobig", "fromarg"} {
		mustFail(t, d.vault("secret", "inspect", s), "no such secret")
	}

	// Concurrent writers while the daemon is killed: every create that
	// returned success must be there after the restart.
	var mu sync.Mutex
	var acked []*secret
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				s := &secret{name: fmt.Sprintf("kill%d-%d-%s", w, i, randHex(4)), data: []byte("CANARY-VALUE-" + randHex(16)), version: 1}
				mu.Lock()
				c.add("concurrent "+s.name, s.data)
				mu.Unlock()
				if r := d.vaultIn(s.data, "secret", "create", s.name, "-"); r.code == 0 {
					s.id = strings.TrimSpace(r.stdout)
					mu.Lock()
					acked = append(acked, s)
					mu.Unlock()
				}
			}
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 30 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.kill()
	close(stop)
	wg.Wait()
	if len(acked) < 10 {
		t.Fatalf("only %d concurrent creates succeeded before the kill", len(acked))
	}
	d.start()
	for _, s := range append(secrets, acked...) {
		if got := inspect(t, d, s.name); got.ID != s.id || got.Version != s.version || got.Size != len(s.data) {
			t.Fatalf("after SIGKILL: %s = %+v, want id %s version %d", s.name, got, s.id, s.version)
		}
	}
	for _, s := range removed {
		mustFail(t, d.vault("secret", "inspect", s.name), "no such secret")
	}
	t.Logf("%d secrets survived SIGKILL (%d created concurrently)", len(secrets)+len(acked), len(acked))

	d.stop()
	scanControl(t, d.stateDir, d.addr)
	files, size := c.scan(t, d.stateDir)
	if files < 10 {
		t.Fatalf("scanned only %d files", files)
	}
	t.Logf("canary scan: %d canaries, %d files, %d bytes: none found", len(c), files, size)
}

// TestDev runs `vault dev` as a newcomer would: the export line works and the
// temporary state is gone after Ctrl-C.
func TestDev(t *testing.T) {
	sockDir := t.TempDir()
	cmd := exec.Command(vaultBin, "dev")
	cmd.Env = append(os.Environ(), "TMPDIR="+sockDir)
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("vault dev printed no export line: %v\n%s", err, stderr.String())
	}
	sock, ok := strings.CutPrefix(strings.TrimSpace(line), "export VAULT_SOCKET=")
	if !ok {
		t.Fatalf("first stdout line %q is not an export line", line)
	}
	must(t, runVault(sock, []byte("hello"), "secret", "create", "greeting", "-"))
	if r := must(t, runVault(sock, nil, "secret", "ls", "--format", "{{.Name}}")); strings.TrimSpace(r.stdout) != "greeting" {
		t.Fatalf("ls: %s", r)
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("vault dev exit: %v\n%s", err, stderr.String())
	}
	left, _ := filepath.Glob(filepath.Join(sockDir, "vault-dev-*"))
	if len(left) != 0 {
		t.Fatalf("vault dev left %v behind", left)
	}
}
