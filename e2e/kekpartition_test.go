package e2e

import (
	"fmt"
	"testing"
	"time"
)

// Ways a KEK-change partition trial cuts one manager off.
const (
	cutBoth = iota // isolated: nothing in or out
	cutOut         // what it sends to the others is lost
	cutIn          // what the others send it is lost
)

var cutNames = []string{"isolated", "its packets to the others dropped", "the others' packets to it dropped"}

// TestKEKChangePartition cuts one manager off (both ways, or one way) at a
// random offset into KEK changes (unlock-key rotation, autolock on and off,
// a Shamir re-split), on three managers and on two, and heals the network
// after a random hold (mostly 0.3–3 s; one trial in five 16–21 s, longer
// than the change waits for a member); the manager cut off is the
// coordinator or another.
// The managers are hosts in network namespaces (root only). After each
// trial the checks of kekTrials.settle hold, as after a kill -9.
// VAULT_KEK_TRIALS sets the trials per cluster size, VAULT_KEK_SEED the seed.
func TestKEKChangePartition(t *testing.T) {
	if why := netnsUnavailable(); why != "" {
		t.Skipf("partitions need hosts in network namespaces: %s", why)
	}
	trials, seed := kekTrialParams(t, 5)
	for _, n := range []int{3, 2} {
		t.Run(fmt.Sprintf("%d-managers", n), func(t *testing.T) {
			f := newFleet(t, n, true)
			var ms []kekManager
			for _, nd := range f.nodes {
				ms = append(ms, nd)
			}
			k := newKEKTrials(t, ms, seed+uint64(n)+100)
			during := 0
			for trial := range trials {
				if k.partitionTrial(f, trial) {
					during++
				}
			}
			k.finish()
			t.Logf("%d managers: %d of %d cuts began while the command ran", n, during, trials)
		})
	}
}

// partitionTrial runs one change and cuts a manager off during it; it
// reports whether the cut began before the command returned.
func (k *kekTrials) partitionTrial(f *fleet, trial int) bool {
	rng, n := k.rng, len(k.ms)
	op := k.begin(trial)
	coord := rng.IntN(n)
	victim := coord
	if rng.IntN(3) != 0 {
		victim = (coord + 1 + rng.IntN(n-1)) % n
	}
	how := rng.IntN(3)
	offset := time.Duration(rng.IntN(500)) * time.Millisecond
	holdFor := time.Duration(300+rng.IntN(2700)) * time.Millisecond
	if rng.IntN(5) == 0 {
		// Longer than the change waits for a manager: the command gives
		// up with the change recorded. Early, to catch the command.
		holdFor = time.Duration(16+rng.IntN(6)) * time.Second
		offset = time.Duration(rng.IntN(100)) * time.Millisecond
	}

	began := time.Now()
	var took time.Duration
	done := make(chan result, 1)
	go func() {
		r := k.ds[coord].vault(op.args...)
		took = time.Since(began)
		done <- r
	}()
	hold(offset)
	others := f.others(victim)
	switch how {
	case cutBoth:
		f.net.partition([]int{victim}, others)
	case cutOut:
		for _, o := range others {
			f.net.cut(victim, o)
		}
	case cutIn:
		for _, o := range others {
			f.net.cut(o, victim)
		}
	}
	var first result
	during := false
	select {
	case first = <-done:
	default:
		during = true
	}
	if !during {
		holdFor = min(holdFor, time.Second) // the command is done: no need to wait long
	}
	hold(holdFor)
	f.net.heal()
	if during {
		first = <-done
	}
	note := fmt.Sprintf("trial %d: %s on manager %d (%s), manager %d %s at %v for %v (during the command: %v)",
		trial, op.name, coord, took.Round(time.Millisecond), victim, cutNames[how], offset, holdFor, during)
	k.settle(note, trial, op, coord, first, nil)
	return during
}
