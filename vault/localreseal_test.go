package vault

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
)

// TestFullRotationsInTurn: two full rotations, one after the other, on a
// manager, in steps of a few secrets (the walk goes on across steps and
// starts over for the second target): every version of every secret reads
// back the same after each, and nothing is left under an older data key.
func TestFullRotationsInTurn(t *testing.T) {
	n, cl := startSingleNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	want := map[string][]string{}
	for i := range 30 {
		name := fmt.Sprintf("s%02d", i)
		if _, err := cl.CreateSecret(ctx, api.CreateSecretRequest{Name: name, Data: []byte("one-" + name)}); err != nil {
			t.Fatal(err)
		}
		want[name] = []string{"one-" + name}
		if i%4 == 0 {
			if _, err := cl.UpdateSecret(ctx, name, []byte("two-"+name)); err != nil {
				t.Fatal(err)
			}
			want[name] = append(want[name], "two-"+name)
		}
	}
	check := func(when string) {
		t.Helper()
		for name, versions := range want {
			for i, text := range versions {
				got, _, err := n.SecretData(ctx, name, uint32(i+1))
				if err != nil || string(got) != text {
					t.Fatalf("%s: %s v%d = %q, %v; want %q", when, name, i+1, got, err, text)
				}
			}
		}
	}
	for round := 1; round <= 2; round++ {
		r, err := cl.RotateKey(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		steps, done := 0, 0
		for {
			p, err := cl.Reseal(ctx, 7)
			if err != nil {
				t.Fatalf("rotation %d step %d: %v", round, steps, err)
			}
			if p.Resealed > 7 {
				t.Fatalf("a step re-sealed %d secrets on one manager, more than its 7", p.Resealed)
			}
			done += p.Resealed
			steps++
			if p.Remaining == 0 {
				break
			}
			if steps > 100 {
				t.Fatalf("rotation %d: %d steps and %d still left", round, steps, p.Remaining)
			}
		}
		if done != 30 || steps < 5 {
			t.Fatalf("rotation %d re-sealed %d secrets in %d steps, want 30 in at least 5", round, done, steps)
		}
		check(fmt.Sprintf("rotation %d re-sealed", round))
		if _, err := cl.Compact(ctx); err != nil {
			t.Fatal(err)
		}
		var ks *api.KeyStatus
		for deadline := time.Now().Add(time.Minute); ; {
			ks, err = cl.FinishRotation(ctx)
			if err == nil || !api.IsCode(err, api.CodeUnavailable) || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("rotation %d: finish: %v", round, err)
		}
		for _, d := range ks.DEKs {
			if d.Version != r.Version && d.Values != 0 {
				t.Fatalf("rotation %d: DEK v%d still holds %d values", round, d.Version, d.Values)
			}
		}
		check(fmt.Sprintf("rotation %d done", round))
	}
}
