package raftsm

import (
	"fmt"
	"testing"
)

// BenchmarkResealLocal: one secret (a record and a version under its data
// key) re-sealed in place, alternating between two DEKs.
func BenchmarkResealLocal(b *testing.B) {
	v1, v2 := harnessKey(1), harnessKey(2)
	ring := keysOf{1: v1, 2: v2}
	n := newTestNode(b, v1, 2)
	n.sm.hooks.Keys = ring
	const secrets = 20000
	for i := 0; i < secrets; i += 64 {
		var cmds []*Command
		for j := i; j < min(i+64, secrets); j++ {
			id := fmt.Sprintf("%026d", j)
			rec := &SecretRecord{ID: id, Name: "name-" + id, Versions: []VersionInfo{{Version: 1, Size: 1024}}}
			w, err := SealSecretWrite(v1, 2, mac("name-"+id), rec, 0, make([]byte, 1024))
			if err != nil {
				b.Fatal(err)
			}
			cmds = append(cmds, &Command{Op: OpSecretCreate, RequestID: reqID(), Time: 1, Secret: w})
		}
		n.apply(b, uint64(i+1), cmds...)
	}
	b.ResetTimer()
	target, after := v2, ""
	for i := 0; i < b.N; {
		done, next, more, err := n.sm.ResealLocal(ring, target, after, min(ResealLocalBatch, b.N-i))
		if err != nil {
			b.Fatal(err)
		}
		i += done
		after = next
		if !more {
			after = ""
			if target == v2 {
				target = v1
			} else {
				target = v2
			}
		}
	}
}
