package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestMaxVersions: a secret keeps at most its own --max-versions, or the
// cluster's default; each update drops the oldest versions beyond the
// limit, from the record and their data (a pinned read of one fails).
func TestMaxVersions(t *testing.T) {
	d := newDaemon(t)
	d.start()
	must(t, d.vault("cluster", "init"))
	versions := func(name string) string {
		r := must(t, d.vault("secret", "inspect", "--format", "{{range .Versions}}{{.Version}} {{end}}", name))
		return strings.TrimSpace(r.stdout)
	}
	update := func(name string, n int) {
		for i := range n {
			must(t, d.vaultIn([]byte(fmt.Sprintf("%s-%d", name, i)), "secret", "update", name, "-"))
		}
	}

	must(t, d.vaultIn([]byte("v1"), "secret", "create", "--max-versions", "2", "own", "-"))
	update("own", 3)
	if got := versions("own"); got != "3 4" {
		t.Fatalf("own limit 2 after 3 updates: versions %q, want \"3 4\"", got)
	}
	if r := must(t, d.vault("secret", "inspect", "--pretty", "own")); !strings.Contains(r.stdout, "Keeps:       2 versions") {
		t.Errorf("inspect --pretty does not show the limit:\n%s", r.stdout)
	}
	mustFail(t, d.vault("exec", "--secret", "own@1", "--", "true"), "no version 1")
	r := must(t, d.vault("exec", "--secret", "own@3", "--", "cat", "/run/secrets/own"))
	if r.stdout != "own-1" {
		t.Fatalf("version 3 reads %q", r.stdout)
	}

	must(t, d.vaultIn([]byte("v1"), "secret", "create", "plain", "-"))
	update("plain", 3)
	if got := versions("plain"); got != "1 2 3 4" {
		t.Fatalf("no limit: versions %q", got)
	}
	must(t, d.vault("cluster", "update", "--max-versions", "2"))
	update("plain", 1)
	if got := versions("plain"); got != "4 5" {
		t.Fatalf("cluster default 2 after an update: versions %q, want \"4 5\"", got)
	}
	mustFail(t, d.vault("exec", "--secret", "plain@2", "--", "true"), "no version 2")
	update("own", 1) // its own limit still wins over the default
	if got := versions("own"); got != "4 5" {
		t.Fatalf("own after a 4th update: %q", got)
	}
	must(t, d.vault("cluster", "update", "--max-versions", "0"))
	update("plain", 2)
	if got := versions("plain"); got != "4 5 6 7" {
		t.Fatalf("default back to 0: versions %q", got)
	}
	mustFail(t, d.vaultIn([]byte("x"), "secret", "create", "--max-versions", "-1", "bad", "-"), "--max-versions -1")
}
