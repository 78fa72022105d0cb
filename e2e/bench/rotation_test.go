package bench

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseRotation(t *testing.T) {
	out := `Data key v2 is active; re-sealing everything under it.
re-sealed 256/1000 (900/s, ETA 1s)
re-sealed 1000/1000 (950/s, ETA 0s)
Compacting every group on every manager...
Writes sealed under an old key arrived meanwhile (conflict); another pass.
re-sealed 12/12 (400/s, ETA 0s)
Compacting every group on every manager...
Full rotation to v2 done: nothing on any manager is sealed under an older key.
`
	if v, n, p := parseRotation(out); v != 2 || n != 1012 || p != 2 {
		t.Errorf("parseRotation: v%d, %d re-sealed in %d passes; want v2, 1012 in 2", v, n, p)
	}
	if v, n, p := parseRotation("Resuming the full rotation to data key v7.\nre-sealed 0/0 (0/s, ETA -)\n"); v != 7 || n != 0 || p != 1 {
		t.Errorf("parseRotation of a resumed empty rotation: v%d, %d in %d passes", v, n, p)
	}
}

func TestSpread(t *testing.T) {
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	if got := spread(keys, 4); strings.Join(got, "") != "aceg" {
		t.Errorf("spread(8 keys, 4) = %v", got)
	}
	if got := spread(keys[:2], 4); len(got) != 2 {
		t.Errorf("spread(2 keys, 4) = %v", got)
	}
}

// TestSmokeRotation runs --rotation on a small preload: the rotation must
// complete, leave nothing under the old key, and every secret sampled
// afterwards must be intact.
func TestSmokeRotation(t *testing.T) {
	cfg := Config{Vault: vaultBin, Duration: time.Second, Clients: 4, Preload: 300, Rotation: true, Dir: t.TempDir()}
	var log bytes.Buffer
	r, err := Run(context.Background(), cfg, &log)
	if err != nil {
		t.Fatalf("run: %v\nprogress:\n%s", err, &log)
	}
	rot := r.Rotation
	if rot == nil {
		t.Fatal("no rotation figures")
	}
	for name, m := range map[string]*Measure{"before": rot.Before, "during": rot.During, "after": rot.After} {
		if m == nil || m.Ops == 0 || m.P50Ms <= 0 || m.P99Ms < m.P50Ms {
			t.Errorf("creates %s the rotation: %+v", name, m)
		} else if m.Errors > 0 {
			t.Errorf("creates %s the rotation: %d errors, first: %s", name, m.Errors, m.FirstError)
		}
	}
	if len(rot.BeforeOpsPerSec) != rotationBaseline || slices.Contains(rot.BeforeOpsPerSec, 0) {
		t.Errorf("creates before the rotation, each window: %v, want %d windows with creates", rot.BeforeOpsPerSec, rotationBaseline)
	}
	if rot.RotationS <= 0 || rot.KeptPct <= 0 || rot.Version < 2 || rot.Passes < 1 {
		t.Errorf("rotation: %+v", rot)
	}
	// Everything held before the rotation was re-sealed (the preload, the
	// workloads' keys, the creates made before it).
	// Each manager re-seals its own copy: the count is summed over them.
	if held := cfg.Preload + rot.Before.Ops; rot.Secrets < held || rot.Resealed < held*3 {
		t.Errorf("%d secrets when it began, %d copies re-sealed on 3 managers; at least %d were held before the rotation", rot.Secrets, rot.Resealed, held)
	}
	if rot.Failed != "" {
		t.Errorf("the rotation failed: %s", rot.Failed)
	}
	if rot.OldValues != 0 || rot.OldLogEntries != 0 || rot.OldSnapshots != 0 || rot.InProgress != 0 {
		t.Errorf("after the rotation, key status counts under older keys: %+v", rot)
	}
	if rot.Checked < cfg.Preload || len(rot.Bad) > 0 {
		t.Errorf("%d secrets checked after the rotation, bad: %v", rot.Checked, rot.Bad)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"full rotation (`vault key rotate --full`, 4 clients creating)", "rotation wall time, s", "during / before, %", "create p99 ms before / during"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, &text)
		}
	}
	if strings.Contains(text.String(), "note: rotation") {
		t.Errorf("the table has a rotation note:\n%s", &text)
	}
	t.Logf("\n%s", &text)
}
