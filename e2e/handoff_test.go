package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// becameLeaderRE is the Raft library's debug line for a replica that won an
// election: its time and group.
var becameLeaderRE = regexp.MustCompile(`(?m)^time=(\S+) .*\[(\d{5}):\d{5}\] t\d+ became leader`)

// leaderWins returns, for each group, the times the daemon's replica became
// its leader, in every run of the daemon.
func leaderWins(t *testing.T, d *daemon) map[uint64][]time.Time {
	t.Helper()
	out := map[uint64][]time.Time{}
	for _, log := range append(append([]string(nil), d.earlier...), d.logs.String()) {
		for _, m := range becameLeaderRE.FindAllStringSubmatch(log, -1) {
			at, err := time.Parse(time.RFC3339Nano, m[1])
			if err != nil {
				t.Fatalf("log time %q: %v", m[1], err)
			}
			g, _ := strconv.ParseUint(m[2], 10, 64)
			out[g] = append(out[g], at)
		}
	}
	return out
}

// currentLeaders is, for each group, the daemon whose replica won its
// latest election.
func currentLeaders(t *testing.T, ds []*daemon) map[uint64]int {
	latest, who := map[uint64]time.Time{}, map[uint64]int{}
	for i, d := range ds {
		for g, wins := range leaderWins(t, d) {
			for _, at := range wins {
				if at.After(latest[g]) {
					latest[g], who[g] = at, i
				}
			}
		}
	}
	return who
}

// TestSIGTERMHandsOffLeadership: a manager stopped with SIGTERM first hands
// the leadership of its groups to the others, so that by the time its
// process has exited another manager has won each group it led. Without
// the hand-off those groups had no leader until an election timeout after
// the exit (0.5 s at least): writes to them stalled on every manager, once
// per manager in a rolling restart. The managers log the Raft library's
// elections (--debug), with their times.
func TestSIGTERMHandsOffLeadership(t *testing.T) {
	ds := startCluster(t, 3, "--debug")
	for round := range 3 {
		// Every manager serves writes.
		for i, d := range ds {
			name := fmt.Sprintf("s%d-%d", round, i)
			waitFor(t, "a write through manager "+strconv.Itoa(i), time.Minute, func() bool {
				return d.vaultIn([]byte("x"), "secret", "create", name, "-").code == 0
			})
		}
		leaders := currentLeaders(t, ds)
		count := map[int]int{}
		for _, i := range leaders {
			count[i]++
		}
		victim := 0
		for i := range ds {
			if count[i] > count[victim] {
				victim = i
			}
		}
		var led []uint64
		for g, i := range leaders {
			if i == victim {
				led = append(led, g)
			}
		}
		t.Logf("round %d: manager %d leads groups %v; SIGTERM", round, victim, led)

		stopAt := time.Now()
		ds[victim].stop()
		exitAt := time.Now()
		for _, g := range led {
			won := false
			for i, d := range ds {
				if i == victim {
					continue
				}
				for _, at := range leaderWins(t, d)[g] {
					if at.After(stopAt.Add(-time.Millisecond)) && !at.After(exitAt) {
						won = true
					}
				}
			}
			if !won {
				t.Errorf("round %d: no other manager had won group %d, led by manager %d, when its process exited %v after SIGTERM",
					round, g, victim, exitAt.Sub(stopAt).Round(time.Millisecond))
			}
		}
		ds[victim].start()
	}
}
