package raftsm

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/vaultd/vault/crypto"
)

// BenchmarkOpenCommand opens and decodes one sealed create of a 1 KiB
// secret: the part of an entry's apply that each replica pays per entry,
// whatever the entry carries (what a command holding several writes would
// pay once for all of them).
func BenchmarkOpenCommand(b *testing.B) {
	key, _ := crypto.NewKey(1, bytes.Repeat([]byte{7}, 32))
	id := fmt.Sprintf("id%024d", 1)
	c := &Command{Op: OpSecretCreate, RequestID: reqID(), Time: 1, Secret: &SecretWrite{
		ID: id, NameMAC: mac("name"), Record: bytes.Repeat([]byte{2}, 200), Version: 1, Data: bytes.Repeat([]byte{1}, 1024+40)}}
	sealed, err := SealCommand(key, 2, c)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(sealed)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := OpenCommand(key, 2, sealed); err != nil {
			b.Fatal(err)
		}
	}
}
