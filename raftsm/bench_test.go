package raftsm

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"

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
	for i := 0; i < b.N; i += 16 {
		cmds := batch()
		n.apply(b, index, cmds...)
		index += 16
	}
}
