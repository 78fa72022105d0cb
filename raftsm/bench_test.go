package raftsm

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/vaultd/vault/crypto"
)

// BenchmarkApplyCreate applies creates of 1 KiB secrets in batches of 16
// to a shard that already holds 50,000: the state machine's share of a
// create on every replica (decode, lookups that miss, batch commit).
func BenchmarkApplyCreate(b *testing.B) {
	key, _ := crypto.NewKey(1, bytes.Repeat([]byte{7}, 32))
	n := newTestNode(b, key, 2)
	data := bytes.Repeat([]byte{1}, 1024)
	next := 0
	batch := func() []*Command {
		cmds := make([]*Command, 16)
		for i := range cmds {
			m := make([]byte, 32)
			rand.Read(m)
			id := fmt.Sprintf("id%024d", next)
			next++
			cmds[i] = &Command{Op: OpSecretCreate, RequestID: reqID(), Time: int64(next), Secret: &SecretWrite{
				ID: id, NameMAC: m, Record: []byte("rec-" + id), Version: 1, Data: data}}
		}
		return cmds
	}
	index := uint64(1)
	for next < 50000 {
		n.apply(b, index, batch()...)
		index += 16
	}
	b.ResetTimer()
	cpu0 := processCPU(b)
	for i := 0; i < b.N; i += 16 {
		cmds := batch()
		n.apply(b, index, cmds...)
		index += 16
	}
	b.StopTimer()
	// CPU of the whole process (Pebble's flushes and compactions included),
	// which on a shared machine says more than wall time.
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU returns the user and system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
