package vault

import (
	"context"
	"testing"
	"time"
)

// The pacer says busy while a foreground proposal runs and once after one
// finished, then not until the next.
func TestResealPacerBusy(t *testing.T) {
	var p resealPacer
	if p.busy() {
		t.Fatal("busy with no foreground proposal")
	}
	end := p.foreground()
	if !p.busy() || !p.busy() {
		t.Fatal("not busy while a foreground proposal runs")
	}
	end()
	if !p.busy() {
		t.Fatal("not busy right after a foreground proposal finished")
	}
	if p.busy() {
		t.Fatal("still busy with nothing run since the last look")
	}
	p.foreground()()
	if !p.busy() {
		t.Fatal("a proposal that started and finished between looks was missed")
	}
}

// The pause is resealYield batch times, and ends with its context.
func TestResealPacerPause(t *testing.T) {
	var p resealPacer
	took := 40 * time.Millisecond
	start := time.Now()
	p.pause(context.Background(), took)
	if got, want := time.Since(start), time.Duration(float64(took)*resealYield); got < want {
		t.Fatalf("paused %v, want at least %v", got, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start = time.Now()
	p.pause(ctx, time.Hour)
	if got := time.Since(start); got > time.Second {
		t.Fatalf("a cancelled pause took %v", got)
	}
}
