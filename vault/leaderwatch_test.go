package vault

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4"
)

func TestLeaderWatchEpochs(t *testing.T) {
	var w leaderWatch
	done := func(ctx context.Context) bool {
		select {
		case <-ctx.Done():
			return true
		default:
			return false
		}
	}
	e1 := w.epoch(1)
	w.changed(1, 2) // the first leader known
	if !done(e1) {
		t.Fatal("a leader became known: the epoch without one did not end")
	}
	e2 := w.epoch(1)
	w.changed(1, 2)
	w.changed(2, 3) // another group
	if done(e2) {
		t.Fatal("the same leader again, or another group's, ended the epoch")
	}
	w.changed(1, 0) // lost
	if done(e2) {
		t.Fatal("losing the leader ended the epoch before a new one was known")
	}
	w.changed(1, 2) // the same leader back after a gap: a new term
	if !done(e2) {
		t.Fatal("a leader after a gap did not end the epoch")
	}
	e3 := w.epoch(1)
	w.changed(1, 3)
	if !done(e3) {
		t.Fatal("a new leader did not end the epoch")
	}
}

// TestAttemptEndsWhenTheLeaderChanges: an attempt whose request the old
// leader lost (it never answers) ends as soon as the group has a new
// leader, and the next attempt starts at once, instead of waiting for the
// attempt's timeout.
func TestAttemptEndsWhenTheLeaderChanges(t *testing.T) {
	var w leaderWatch
	w.changed(7, 1)
	var attempts []error
	start := time.Now()
	go func() {
		time.Sleep(50 * time.Millisecond)
		w.changed(7, 2)
	}()
	err := withRetryIn(context.Background(), "test", func() context.Context { return w.epoch(7) }, func(ctx context.Context) error {
		if len(attempts) == 0 {
			<-ctx.Done() // lost by the old leader: no answer
			attempts = append(attempts, ctx.Err())
			return dragonboat.ErrCanceled
		}
		attempts = append(attempts, nil)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(attempts) != 2 || !errors.Is(attempts[0], context.Canceled) {
		t.Fatalf("attempts %v: want the first canceled by the leader change, then a second", attempts)
	}
	t.Logf("two attempts in %v", time.Since(start).Round(time.Millisecond))
}
