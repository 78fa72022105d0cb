package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The remote flags: the form of --host, the bundle's files, and the
// commands that are local to a node by nature.
func TestRemoteFlags(t *testing.T) {
	empty := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--host", "tcp://127.0.0.1:1", "mount", "ls"}, "`vault mount` is local to a node"},
		{[]string{"--host", "tcp://127.0.0.1:1", "exec", "--secret", "x", "--", "true"}, "`vault exec` is local to a node"},
		{[]string{"--host", "tcp://127.0.0.1:1", "cluster", "init"}, "`vault cluster init` is local to a node"},
		{[]string{"--host", "tcp://127.0.0.1:1", "daemon"}, "`vault daemon` is local to a node"},
		{[]string{"secret", "ls", "--host", "tcp://127.0.0.1:1"}, "--host needs a client bundle"},
		{[]string{"--host", "unix:///run/vault.sock", "--tls-dir", empty, "status"}, "want tcp://HOST:PORT"},
		{[]string{"--host", "127.0.0.1", "--tls-dir", empty, "status"}, "want tcp://HOST:PORT"},
		{[]string{"--host", "tcp://127.0.0.1:1", "--tls-dir", empty, "status"}, "client bundle " + empty + ": " + filepath.Join(empty, "ca.pem")},
	} {
		r := runCLI(t, "", tc.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) || !strings.HasPrefix(r.stderr, "vault: error: ") {
			t.Errorf("vault %s: exit %d, stderr %q; want %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.want)
		}
	}
	// VAULT_HOST alone makes a command remote.
	t.Setenv("VAULT_HOST", "tcp://127.0.0.1:1")
	os.Unsetenv("VAULT_CERT_PATH")
	if r := runCLI(t, "", "status"); !strings.Contains(r.stderr, "--host needs a client bundle") {
		t.Errorf("VAULT_HOST: %q", r.stderr)
	}
}
