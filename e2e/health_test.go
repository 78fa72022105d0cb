package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// countLines counts the lines of a daemon's log, from offset on, that carry
// msg at level (for node id, unless id is "").
func countLines(d *daemon, offset int, level, msg, id string) int {
	return countIn(d.logs.String()[offset:], level, msg, id)
}

func countIn(log, level, msg, id string) int {
	re := regexp.MustCompile(`(?m)level=` + level + ` msg="?` + regexp.QuoteMeta(msg) + `.*node_id=` + regexp.QuoteMeta(id))
	if id == "" {
		re = regexp.MustCompile(`(?m)level=` + level + ` msg="?` + regexp.QuoteMeta(msg))
	}
	return len(re.FindAllString(log, -1))
}

func nodeStatus(t *testing.T, via *daemon, id string) string {
	t.Helper()
	for _, n := range nodes(t, via) {
		if n.ID == id {
			return n.Status
		}
	}
	t.Fatalf("node %s is not in `vault node ls`", id)
	return ""
}

// TestPeerHealth: a surviving manager logs each peer that goes and comes
// back, and the quorum lost and regained, once per change; `vault node ls`
// shows a locked manager as locked, and a node joining through it is told.
func TestPeerHealth(t *testing.T) {
	ds := startCluster(t, 3)
	ids := []string{nodeID(t, ds[0]), nodeID(t, ds[1]), nodeID(t, ds[2])}
	survivor := ds[0]

	// On a loaded machine a manager still joining can be logged
	// unreachable before the test begins: wait until the survivor's checks
	// have seen every peer reachable, so that the kill below is a change.
	waitFor(t, "the survivor to see every peer reachable", 20*time.Second, func() bool {
		for _, id := range ids[1:] {
			if countLines(survivor, 0, "WARN", "peer unreachable", id) != countLines(survivor, 0, "INFO", "peer reachable again", id) {
				return false
			}
		}
		return true
	})

	// One manager dies: one line, within seconds, however long it stays
	// down.
	mark := survivor.logs.Len()
	ds[1].kill()
	waitFor(t, "the survivor to log the dead peer", 20*time.Second, func() bool {
		return countLines(survivor, mark, "WARN", "peer unreachable", ids[1]) > 0
	})
	// A second one dies: the quorum is lost (and said once).
	ds[2].kill()
	waitFor(t, "the survivor to log the lost quorum", 20*time.Second, func() bool {
		return countLines(survivor, mark, "WARN", "quorum lost", "") > 0
	})
	// Both dead, for a few seconds of checks: one line each.
	dead := survivor.logs.String()[mark:]
	for _, c := range []struct {
		level, msg, id string
	}{
		{"WARN", "peer unreachable", ids[1]},
		{"WARN", "peer unreachable", ids[2]},
		{"WARN", "quorum lost", ""},
	} {
		if n := countIn(dead, c.level, c.msg, c.id); n != 1 {
			t.Errorf("%d %s %q lines for %q, want 1", n, c.level, c.msg, c.id)
		}
	}
	if t.Failed() {
		t.Fatalf("the survivor's log since the first kill:\n%s", dead)
	}
	// They come back, and the quorum with them.
	ds[1].start()
	waitFor(t, "the survivor to log the quorum regained", 60*time.Second, func() bool {
		return countLines(survivor, mark, "INFO", "quorum regained", "") > 0 &&
			countLines(survivor, mark, "INFO", "peer reachable again", ids[1]) > 0
	})
	ds[2].start()
	waitFor(t, "the survivor to log the last peer back", 60*time.Second, func() bool {
		return countLines(survivor, mark, "INFO", "peer reachable again", ids[2]) > 0
	})

	// A locked manager is `locked` in `vault node ls` everywhere, and in the
	// others' logs; unlocked, it is ready again.
	out := must(t, ds[0].vault("cluster", "update", "--autolock=true")).stdout
	key := unlockKeyRE.FindString(out)
	if key == "" {
		t.Fatalf("no unlock key printed:\n%s", out)
	}
	mark = survivor.logs.Len()
	// ds[2] refuses to lock until it has applied the autolock change.
	waitFor(t, "the manager to lock", 20*time.Second, func() bool {
		r := ds[2].vault("lock")
		if r.code != 0 && !strings.Contains(r.stderr, "autolock is off") {
			t.Fatalf("vault lock: %s", r)
		}
		return r.code == 0
	})
	for _, via := range ds[:2] {
		waitFor(t, "node ls to show the locked manager", 20*time.Second, func() bool {
			return nodeStatus(t, via, ids[2]) == "locked"
		})
	}
	waitFor(t, "the survivor to log the locked peer", 20*time.Second, func() bool {
		return countLines(survivor, mark, "WARN", "peer is locked", ids[2]) > 0
	})
	if r := must(t, ds[0].vault("node", "ls")); !strings.Contains(r.stdout, "locked") {
		t.Fatalf("node ls does not say locked:\n%s", r.stdout)
	}
	// A node joining through the locked manager is told so.
	joiner := newDaemon(t)
	joiner.start()
	tok := strings.TrimSpace(must(t, ds[0].vault("cluster", "join-token", "-q", "manager")).stdout)
	mustFail(t, joiner.vault("cluster", "join", "--token", tok, ds[2].apiAddr), "is locked", "`vault unlock` it, or join through another manager")

	must(t, ds[2].vaultIn([]byte(key), "unlock"))
	waitFor(t, "node ls to show the unlocked manager ready", 20*time.Second, func() bool {
		return nodeStatus(t, survivor, ids[2]) == "ready"
	})
}
