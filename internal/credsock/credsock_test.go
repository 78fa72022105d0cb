package credsock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vaultd/vault/api"
)

type fakeReader map[string]string

func (f fakeReader) CredentialData(ctx context.Context, ref string) ([]byte, error) {
	if v, ok := f[ref]; ok {
		return []byte(v), nil
	}
	return nil, api.Errorf(api.CodeNotFound, "no secret %q", ref)
}

// askAsSystemd connects exactly as systemd's LoadCredential= does: from the
// abstract address "\0RANDOM/unit/UNIT/ID", then reads until EOF.
func askAsSystemd(t *testing.T, sock, unit, cred string) (string, error) {
	t.Helper()
	var rnd [8]byte
	rand.Read(rnd[:])
	laddr := &net.UnixAddr{Name: "@" + hex.EncodeToString(rnd[:]) + "/unit/" + unit + "/" + cred, Net: "unix"}
	c, err := net.DialUnix("unix", laddr, &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.CloseWrite() // systemd sends nothing
	c.SetDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

func serve(t *testing.T, peerOK func(*unix.Ucred) bool, grants ...string) string {
	t.Helper()
	var gs []Grant
	for _, g := range grants {
		x, err := ParseGrant(g)
		if err != nil {
			t.Fatal(err)
		}
		gs = append(gs, x)
	}
	s, err := New(fakeReader{"db-password": "hunter2", "api": "tok"}, gs, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.peerOK = peerOK
	sock := filepath.Join(t.TempDir(), "credentials.sock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return sock
}

func TestGrantedAndRefused(t *testing.T) {
	// The test may not run as root.
	sock := serve(t, func(*unix.Ucred) bool { return true }, "app.service/db-password=db-password", "other.service/token=api")

	for _, c := range []struct {
		unit, cred, want string
	}{
		{"app.service", "db-password", "hunter2"},
		{"other.service", "token", "tok"},
		{"app.service", "token", ""},         // not granted to this unit
		{"other.service", "db-password", ""}, // granted to another unit
		{"evil.service", "db-password", ""},  // not granted at all
		{"app@1.service", "db-password", ""}, // a template instance is another unit
	} {
		got, err := askAsSystemd(t, sock, c.unit, c.cred)
		if err != nil {
			t.Errorf("%s/%s: %v", c.unit, c.cred, err)
		}
		if got != c.want {
			t.Errorf("%s/%s: got %q, want %q", c.unit, c.cred, got, c.want)
		}
	}

	// A connection not from systemd's address form gets nothing.
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	c.Close()
	if len(b) != 0 {
		t.Errorf("an unbound peer got %q", b)
	}
}

func TestRootOnly(t *testing.T) {
	sock := serve(t, func(cred *unix.Ucred) bool { return cred.Uid == 12345 }, "app.service/db-password=db-password") // nobody here
	if got, _ := askAsSystemd(t, sock, "app.service", "db-password"); got != "" {
		t.Errorf("a refused peer got %q", got)
	}
}

func TestParseGrant(t *testing.T) {
	g, err := ParseGrant("app.service/db-password=db-password@2")
	if err != nil || g != (Grant{"app.service", "db-password", "db-password@2"}) {
		t.Errorf("ParseGrant: %+v %v", g, err)
	}
	for _, bad := range []string{"", "app.service", "app.service/x", "app/x=y", "app.service/a/b=y", "app.service/=y", "a b.service/x=y"} {
		if _, err := ParseGrant(bad); !errors.Is(err, ErrInvalidGrant) {
			t.Errorf("ParseGrant(%q): %v", bad, err)
		}
	}
	if _, err := New(fakeReader{}, []Grant{{"a.service", "x", "s"}, {"a.service", "x", "t"}}, nil); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("a credential granted twice: %v", err)
	}
}

func TestPeerUnit(t *testing.T) {
	for addr, want := range map[string][2]string{
		"@a1b2/unit/app.service/db":  {"app.service", "db"},
		"@a1b2/unit/app.service":     {},
		"/run/x.sock":                {},
		"@a1b2/unit/app.service/a/b": {},
		"@/unit/app.service/db":      {},
		"@a1b2/user/app.service/db":  {},
	} {
		u, c, ok := PeerUnit(addr)
		if ok != (want != [2]string{}) || [2]string{u, c} != want {
			t.Errorf("PeerUnit(%q) = %q %q %v", addr, u, c, ok)
		}
	}
}
