package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestBadEntryStopsOneGroup: an entry committed to a group and sealed under
// a DEK this manager does not hold stops that group on this manager, with a
// log line naming the group, the entry and what to do; the daemon stays up,
// the other groups keep serving, and `vault status` says which group
// stopped and why. A restart tries the entry again and stops the group
// again, never the daemon.
func TestBadEntryStopsOneGroup(t *testing.T) {
	for _, managers := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d managers", managers), func(t *testing.T) { testBadEntry(t, managers) })
	}
}

func testBadEntry(t *testing.T, managers int) {
	var ds []*daemon
	if managers == 1 {
		d := newDaemon(t)
		d.start()
		must(t, d.vault("cluster", "init", "--shards", "4"))
		ds = append(ds, d)
	} else {
		ds = startCluster(t, managers)
	}
	var names []string
	for i := range 16 {
		name := fmt.Sprintf("before%d", i)
		must(t, ds[i%len(ds)].vaultIn([]byte("v"), "secret", "create", name, "-"))
		names = append(names, name)
	}

	// Group 2 (the first secret group) gets an entry sealed under a DEK
	// that no keyring holds: every manager's replica of it stops.
	out := debugPost(t, ds[0], "/v1/debug/poison?shard=2")
	var poisoned struct {
		Result     uint64 `json:"result"`
		DEKVersion uint32 `json:"dek_version"`
	}
	if err := json.Unmarshal([]byte(out), &poisoned); err != nil {
		t.Fatalf("poison: %v: %s", err, out)
	}
	checkStopped := func(d *daemon) {
		t.Helper()
		waitFor(t, "the status to list group 2 as stopped", 30*time.Second, func() bool {
			return strings.Contains(must(t, d.vault("status")).stdout, "group 2 stopped")
		})
		st := must(t, d.vault("status"))
		want := fmt.Sprintf("it is sealed under data key v%d, which this manager does not hold", poisoned.DEKVersion)
		if !strings.Contains(st.stdout, want) ||
			!strings.Contains(st.stderr, "vault: hint: unlock it with the current unlock key") || !strings.Contains(st.stderr, "vault node rm") {
			t.Fatalf("status, want %q and a hint:\n%s", want, st)
		}
		var js struct {
			StoppedGroups []struct {
				Group, Entry uint64
				DEKVersion   uint32 `json:"DEKVersion"`
			} `json:"StoppedGroups"`
		}
		if err := json.Unmarshal([]byte(must(t, d.vault("status", "--format", "json")).stdout), &js); err != nil ||
			len(js.StoppedGroups) != 1 || js.StoppedGroups[0].Group != 2 || js.StoppedGroups[0].Entry == 0 || js.StoppedGroups[0].DEKVersion != poisoned.DEKVersion {
			t.Fatalf("status json: %+v, %v", js, err)
		}
		line := fmt.Sprintf("group 2 stopped at entry %d: it is sealed under data key v%d", js.StoppedGroups[0].Entry, poisoned.DEKVersion)
		waitFor(t, "the log line", 10*time.Second, func() bool { return strings.Contains(d.logs.String(), line) })
		for _, l := range strings.Split(d.logs.String(), "\n") {
			if strings.Contains(l, line) {
				t.Logf("daemon log: %s", l)
				break
			}
		}
		if strings.Contains(d.logs.String(), "panic") {
			t.Fatalf("the daemon logged a panic:\n%s", d.logs)
		}
		select {
		case <-d.exited:
			t.Fatalf("the daemon exited:\n%s", d.logs)
		default:
		}
		// The other groups serve: reads of what they hold, and new writes.
		okReads, stoppedReads := 0, 0
		for _, name := range names {
			r := d.vault("secret", "inspect", name)
			switch {
			case r.code == 0:
				okReads++
			case strings.Contains(r.stderr, "group 2 stopped"):
				stoppedReads++
			default:
				t.Fatalf("inspect %s: %s", name, r)
			}
		}
		okWrites := 0
		for i := range 8 {
			r := d.vaultIn([]byte("w"), "secret", "create", fmt.Sprintf("after%d-%s", i, randHex(4)), "-")
			switch {
			case r.code == 0:
				okWrites++
			case strings.Contains(r.stderr, "group 2 stopped"):
			default:
				t.Fatalf("create: %s", r)
			}
		}
		if okReads == 0 || okWrites == 0 {
			t.Fatalf("other groups: %d reads and %d writes served (%d reads refused by the stopped group)", okReads, okWrites, stoppedReads)
		}
		t.Logf("with group 2 stopped: %d reads served, %d refused with the reason; %d of 8 writes served", okReads, stoppedReads, okWrites)
	}
	for _, d := range ds {
		checkStopped(d)
	}

	// A restart replays the entry: the group stops again, the daemon stays.
	d := ds[len(ds)-1]
	d.stop()
	d.start()
	checkStopped(d)
}

// debugPost POSTs to a test-build debug route on the daemon's socket.
func debugPost(t *testing.T, d *daemon, path string) string {
	t.Helper()
	c := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", d.socket)
	}}}
	resp, err := c.Post("http://vault"+path, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: %s: %s", path, resp.Status, b)
	}
	return string(b)
}

// TestBadEntryStopsOneReplica: one manager lacks a DEK the others hold and
// an entry sealed under it commits: that manager's replica of the group
// stops, the daemon and its other groups go on, the other two managers
// keep the group serving, and a restart (which unwraps the DEK from the
// keyring on disk) replays the entry and brings the replica back.
func TestBadEntryStopsOneReplica(t *testing.T) {
	ds := startCluster(t, 3)
	must(t, ds[0].vault("key", "rotate"))
	// The cluster record is re-sealed under v2, so that nothing the test
	// reads on the manager that forgets v1 needs it.
	must(t, ds[0].vault("cluster", "update", "--dek-max-age", "720h"))
	var names []string
	for i := range 16 {
		name := fmt.Sprintf("s%d", i)
		must(t, ds[i%3].vaultIn([]byte("v"), "secret", "create", name, "-"))
		names = append(names, name)
	}
	a, c := ds[0], ds[2]
	debugPost(t, c, "/v1/debug/forget-dek?version=1")
	debugPost(t, a, "/v1/debug/poison?shard=2&dek=1")

	waitFor(t, "the manager without v1 to stop group 2", 30*time.Second, func() bool {
		return strings.Contains(must(t, c.vault("status")).stdout, "group 2 stopped")
	})
	st := must(t, c.vault("status"))
	if !strings.Contains(st.stdout, "it is sealed under data key v1, which this manager does not hold") {
		t.Fatalf("status of the manager without v1:\n%s", st)
	}
	for _, d := range ds[:2] {
		if st := must(t, d.vault("status")); strings.Contains(st.stdout, "Stopped") {
			t.Fatalf("a manager holding v1 stopped a group:\n%s", st)
		}
	}
	// The group serves through the others; the manager without v1 serves
	// the rest and refuses group 2 with the reason.
	for _, name := range names {
		must(t, a.vault("secret", "inspect", name))
	}
	for i := range 8 {
		must(t, a.vaultIn([]byte("w"), "secret", "create", fmt.Sprintf("after%d", i), "-"))
	}
	served, refused := 0, 0
	inspectOnC := func(name string) {
		t.Helper()
		r := c.vault("secret", "inspect", name)
		switch {
		case r.code == 0:
			served++
		case strings.Contains(r.stderr, "group 2 stopped"):
			refused++
		default:
			t.Fatalf("inspect %s on the manager without v1: %s", name, r)
		}
	}
	for _, name := range names {
		inspectOnC(name)
	}
	// A name's group comes from a MAC under the cluster's random index
	// key: the names above all miss group 2 about once in a hundred
	// clusters. Add names through a manager that serves group 2 until one
	// lands there (a quarter of them do).
	for i := 0; refused == 0 && i < 64; i++ {
		name := fmt.Sprintf("more%d", i)
		must(t, a.vaultIn([]byte("v"), "secret", "create", name, "-"))
		names = append(names, name)
		inspectOnC(name)
	}
	if served == 0 || refused == 0 {
		t.Fatalf("on the manager without v1: %d served, %d refused", served, refused)
	}
	if strings.Contains(c.logs.String(), "panic") {
		t.Fatalf("a panic:\n%s", c.logs)
	}
	t.Logf("manager without v1: %d reads served, %d refused by the stopped group", served, refused)

	// Restarted, it unwraps v1 from its keyring, replays and catches up.
	c.stop()
	c.start()
	waitFor(t, "the restarted manager to serve group 2 again", 60*time.Second, func() bool {
		for _, name := range append(names, "after7") {
			if c.vault("secret", "inspect", name).code != 0 {
				return false
			}
		}
		return true
	})
	if st := must(t, c.vault("status")); strings.Contains(st.stdout, "Stopped") {
		t.Fatalf("still stopped after a restart:\n%s", st)
	}
}
