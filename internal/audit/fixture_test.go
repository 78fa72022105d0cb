//go:build fixtures

package audit

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var fixtureDir = flag.String("audit.fixture", "", "write the files of cmd/vault/testdata/script/audit.txt into this directory")

// TestCLIFixture writes the logs and keys that the CLI script
// cmd/vault/testdata/script/audit.txt embeds, when the record format
// changes: go test -tags fixtures ./internal/audit -run TestCLIFixture -audit.fixture DIR,
// then replace the script's files with DIR's (and its expected line, byte
// and hash values).
func TestCLIFixture(t *testing.T) {
	dir := *fixtureDir
	if dir == "" {
		t.Fatal("give -audit.fixture DIR: the directory to write the fixture files into")
	}
	s := sha256.Sum256([]byte("fixture cluster"))
	k, _ := NewKeys(s[:])
	o := sha256.Sum256([]byte("other cluster"))
	other, _ := NewKeys(o[:])
	nk, _ := k.NameKey()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("name.key", nk.Export()+"\n")
	write("verify.key", k.VerifyKey().String()+"\n")
	write("other.key", other.VerifyKey().String()+"\n")
	db, _ := k.HashName("db-password")
	api, _ := k.HashName("api-key")
	rec := func(i int) *Record {
		switch i % 3 {
		case 0:
			return &Record{Identity: &Identity{Kind: IdentitySocket, Peer: &Peer{UID: 0, PID: int32(4000 + i)}},
				Route: "POST /v1/secrets", Op: "secret.create", SecretID: fmt.Sprintf("sec%023d", i), NameHMAC: db, Result: ResultOK}
		case 1:
			return &Record{Identity: &Identity{Kind: IdentityClient, Cert: &Cert{Subject: "CN=alice,O=operators", Serial: "5a1f"}},
				Route: "GET /v1/secrets/{ref}", Op: "secret.inspect", SecretID: fmt.Sprintf("sec%023d", i), NameHMAC: api, Result: ResultOK}
		}
		return &Record{Identity: &Identity{Kind: IdentityWorker, Cert: &Cert{Subject: "CN=w1", Serial: "77"}},
			Route: "DELETE /v1/secrets/{ref}", Op: "secret.rm", NameHMAC: api, Result: ResultError, Code: "forbidden"}
	}
	path := filepath.Join(dir, "audit.log")
	l, err := Open(&Config{Path: path, Node: "q2mz6yd3xk7h", SealEvery: 4, SealInterval: 1 << 40}, k)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		if i == 6 {
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			if err := l.Reopen(); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Write(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	variant := func(name string, f func([]string) []string) {
		ls := f(append([]string(nil), lines...))
		write(name, strings.Join(ls, "\n")+"\n")
	}
	variant("edited.log", func(ls []string) []string { ls[2] = strings.Replace(ls[2], "CN=alice", "CN=bob", 1); return ls })
	variant("deleted.log", func(ls []string) []string { return append(ls[:2], ls[3:]...) })
	variant("reordered.log", func(ls []string) []string { ls[2], ls[3] = ls[3], ls[2]; return ls })
	variant("tail.log", func(ls []string) []string { return ls[:len(ls)-1] })
	variant("forged.log", func(ls []string) []string {
		i := strings.Index(ls[4], `"sig":"`) + len(`"sig":"`)
		c := byte('0')
		if ls[4][i] == '0' {
			c = '1'
		}
		ls[4] = ls[4][:i] + string(c) + ls[4][i+1:]
		return ls
	})
	t.Logf("cut.log: head -c %d audit.log", len(b)-len(lines[len(lines)-1])-1+60)
}
