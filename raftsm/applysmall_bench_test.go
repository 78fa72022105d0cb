package raftsm

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/vaultd/vault/crypto"
)

// BenchmarkApplySmallBatches applies creates two to a batch, as the
// apply sees them when a few clients write.
func BenchmarkApplySmallBatches(b *testing.B) {
	key, _ := crypto.NewKey(1, bytes.Repeat([]byte{7}, 32))
	n := newTestNode(b, key, 2)
	data := bytes.Repeat([]byte{1}, 1024)
	next, index := 0, uint64(1)
	batch := func() {
		cmds := make([]*Command, 2)
		for i := range cmds {
			id := fmt.Sprintf("id%024d", next)
			next++
			cmds[i] = &Command{Op: OpSecretCreate, RequestID: reqID(), Time: int64(next), Secret: &SecretWrite{
				ID: id, NameMAC: mac(id), Record: []byte("rec-" + id), Version: 1, Data: data}}
		}
		n.apply(b, index, cmds...)
		index += 2
	}
	for next < 20000 {
		batch()
	}
	b.ResetTimer()
	cpu0 := processCPU(b)
	for i := 0; i < b.N; i += 2 {
		batch()
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}
