package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// askCredential connects to a credential socket exactly as systemd does for
// LoadCredential=ID:SOCKET of unit UNIT: from the abstract address
// "\0RANDOM/unit/UNIT/ID", sending nothing, reading until EOF.
func askCredential(t *testing.T, sock, unit, id string) string {
	t.Helper()
	var rnd [8]byte
	rand.Read(rnd[:])
	laddr := &net.UnixAddr{Name: "@" + hex.EncodeToString(rnd[:]) + "/unit/" + unit + "/" + id, Net: "unix"}
	c, err := net.DialUnix("unix", laddr, &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatalf("connect to %s: %v", sock, err)
	}
	defer c.Close()
	c.CloseWrite()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read the credential: %v", err)
	}
	return string(b)
}

// TestCredentialSocket: the daemon answers a systemd-style connection for a
// granted secret with its latest data, refuses an ungranted one (nothing
// written, so systemd fails the unit), and serves nothing while locked.
func TestCredentialSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "credentials.sock")
	d := newDaemon(t, "--credentials-socket", sock,
		"--credential", "app.service/db-password=db-password",
		"--credential", "app.service/token=api-token@1")
	d.start()
	must(t, d.vault("cluster", "init", "--shards", "1"))
	pass := "CANARY-VALUE-cred-" + randHex(12)
	tok := "CANARY-VALUE-cred-tok-" + randHex(12)
	must(t, d.vaultIn([]byte(pass), "secret", "create", "db-password", "-"))
	must(t, d.vaultIn([]byte(tok), "secret", "create", "api-token", "-"))
	must(t, d.vaultIn([]byte("tok2"), "secret", "update", "api-token", "-"))

	if got := askCredential(t, sock, "app.service", "db-password"); got != pass {
		t.Errorf("granted credential: %q", got)
	}
	if got := askCredential(t, sock, "app.service", "token"); got != tok {
		t.Errorf("credential pinned to version 1: %q", got)
	}
	for _, c := range [][2]string{{"other.service", "db-password"}, {"app.service", "api-token"}, {"app@x.service", "db-password"}} {
		if got := askCredential(t, sock, c[0], c[1]); got != "" {
			t.Errorf("ungranted %s/%s got %q", c[0], c[1], got)
		}
	}
	// An update is what the next start of the unit gets.
	newPass := "CANARY-VALUE-cred2-" + randHex(12)
	must(t, d.vaultIn([]byte(newPass), "secret", "update", "db-password", "-"))
	if got := askCredential(t, sock, "app.service", "db-password"); got != newPass {
		t.Errorf("after an update: %q", got)
	}
	key := unlockKeyRE.FindString(must(t, d.vault("cluster", "update", "--autolock=true")).stdout)
	must(t, d.vault("lock", "--force"))
	if got := askCredential(t, sock, "app.service", "db-password"); got != "" {
		t.Errorf("a locked node handed out %q", got)
	}
	must(t, d.vaultIn([]byte(key), "unlock"))
	if got := askCredential(t, sock, "app.service", "db-password"); got != newPass {
		t.Errorf("after unlock: %q", got)
	}
	logs := d.logs.String()
	if strings.Contains(logs, "CANARY-VALUE") || strings.Contains(logs, "db-password=") {
		t.Errorf("the daemon's log names a secret or its data")
	}
	if !strings.Contains(logs, `credential request refused: not granted" component=credentials unit=other.service credential=db-password`) {
		t.Errorf("the refusal is not logged by unit and credential:\n%s", logs)
	}
	mustFail(t, runVault(d.socket, nil, "daemon", "--state-dir", t.TempDir(), "--socket", filepath.Join(t.TempDir(), "x.sock"),
		"--credential", "nonsense"), "UNIT/CREDENTIAL=SECRET")
}
