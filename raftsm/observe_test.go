package raftsm

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vaultd/vault/crypto"
)

// recordingObserver records what a state machine reports.
type recordingObserver struct {
	mu               sync.Mutex
	applied          map[uint64]int
	batches          int
	opened           map[uint32]int
	saved, received  []int64
	savedD, receivdD []time.Duration
}

func (o *recordingObserver) Applied(shard uint64, n int, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.applied == nil {
		o.applied = map[uint64]int{}
	}
	o.applied[shard] += n
	o.batches++
}

func (o *recordingObserver) Opened(v uint32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.opened == nil {
		o.opened = map[uint32]int{}
	}
	o.opened[v]++
}

func (o *recordingObserver) SnapshotSaved(d time.Duration, size int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.saved, o.savedD = append(o.saved, size), append(o.savedD, d)
}

func (o *recordingObserver) SnapshotReceived(d time.Duration, size int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.received, o.receivdD = append(o.received, size), append(o.receivdD, d)
}

// TestObserverSeesAppliesOpensAndSnapshots: applied batches and entries,
// each entry opened by its key version, and the sealed stream's size on
// save and on recovery; a damaged stream reports no recovery.
func TestObserverSeesAppliesOpensAndSnapshots(t *testing.T) {
	key, _ := crypto.GenerateKey(4)
	obs := &recordingObserver{}
	src := newTestNode(t, key, 2)
	src.sm.hooks.Observer = obs
	var cmds []*Command
	for i := range 50 {
		cmds = append(cmds, create(fmt.Sprintf("id%03d", i), fmt.Sprintf("name%03d", i), int64(i+1)))
	}
	src.apply(t, 1, cmds[:20]...)
	src.apply(t, 21, cmds[20:]...)
	if obs.applied[2] != 50 || obs.batches != 2 || obs.opened[4] != 50 || len(obs.opened) != 1 {
		t.Fatalf("applied %v in %d batches, opened %v; want 50 in 2, 50 under v4", obs.applied, obs.batches, obs.opened)
	}

	var buf bytes.Buffer
	ctx, err := src.sm.PrepareSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := src.sm.SaveSnapshot(ctx, &buf, nil); err != nil {
		t.Fatal(err)
	}
	if len(obs.saved) != 1 || obs.saved[0] != int64(buf.Len()) {
		t.Fatalf("saved sizes %v, want [%d]", obs.saved, buf.Len())
	}

	dst := newTestNode(t, key, 2)
	dst.sm.hooks.Observer = obs
	if err := dst.sm.RecoverFromSnapshot(bytes.NewReader(flip(buf.Bytes(), buf.Len()/2)), nil); err == nil {
		t.Fatal("a damaged stream recovered")
	}
	if len(obs.received) != 0 {
		t.Fatalf("a failed recovery was reported: %v", obs.received)
	}
	dst = newTestNode(t, key, 2) // the damaged stream stopped the first
	dst.sm.hooks.Observer = obs
	if err := dst.sm.RecoverFromSnapshot(bytes.NewReader(buf.Bytes()), nil); err != nil {
		t.Fatal(err)
	}
	if len(obs.received) != 1 || obs.received[0] != int64(buf.Len()) {
		t.Fatalf("received sizes %v, want [%d]", obs.received, buf.Len())
	}
}
