package raftsm

import (
	"bytes"
	"testing"
)

// BenchmarkSealSecretWrite: what a proposer spends sealing one create (a
// record with one version and 1 KiB of data).
func BenchmarkSealSecretWrite(b *testing.B) {
	k := harnessKey(1)
	data := bytes.Repeat([]byte{'x'}, 1024)
	mac := bytes.Repeat([]byte{7}, 32)
	b.ReportAllocs()
	for b.Loop() {
		rec := &SecretRecord{ID: "0123456789abcdefghijklmnop", Name: "bench-secret-000001", Created: 1, Updated: 1,
			Versions: []VersionInfo{{Version: 1, Size: len(data), Created: 1}}}
		if _, err := SealSecretWrite(k, 2, mac, rec, 0, data); err != nil {
			b.Fatal(err)
		}
	}
}
