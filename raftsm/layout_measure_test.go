//go:build measure

package raftsm

import (
	"crypto/rand"
	"encoding/binary"
	"flag"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
)

var layoutSeq = flag.Bool("layout-seq", false, "TestMeasureLayout: data values under sequential keys (with a pointer under the id)")

// TestMeasureLayout: 200k creates (a 300 B record and a 1 KiB value under
// a random id, 64 per batch) into a state database with this package's
// options; prints CPU and bytes compacted for the second 100k.
func TestMeasureLayout(t *testing.T) {
	s, err := OpenStore(filepath.Join(t.TempDir(), "s"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rnd := func(k int) []byte { b := make([]byte, k); rand.Read(b); return b }
	var seq uint64
	write := func(n int) {
		for i := 0; i < n; i += 64 {
			s.with(func(db *pebble.DB) error {
				b := db.NewBatch()
				for range 64 {
					seq++
					id := rnd(13)
					b.Set(append([]byte("Do"), id...), rnd(300), nil)
					if *layoutSeq {
						var k [10]byte
						k[0], k[1] = 'D', 'w'
						binary.BigEndian.PutUint64(k[2:], seq)
						b.Set(append([]byte("Dv"), id...), k[2:], nil)
						b.Set(k[:], rnd(1064), nil)
					} else {
						b.Set(append([]byte("Dv"), id...), rnd(1064), nil)
					}
				}
				return b.Commit(pebble.NoSync)
			})
		}
	}
	write(100_000)
	var m0 *pebble.Metrics
	s.with(func(db *pebble.DB) error { db.Flush(); m0 = db.Metrics(); return nil })
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	c0 := cpu()
	write(100_000)
	var m1 *pebble.Metrics
	s.with(func(db *pebble.DB) error {
		db.Flush()
		for i := 0; i < 600; i++ {
			m1 = db.Metrics()
			if m1.Compact.NumInProgress == 0 && m1.Compact.EstimatedDebt == 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		return nil
	})
	t.Logf("seq=%v: CPU %v, flushed %d MiB, compacted %d MiB", *layoutSeq, (cpu() - c0).Round(time.Millisecond),
		(m1.Total().BytesFlushed-m0.Total().BytesFlushed)>>20, (m1.Total().BytesCompacted-m0.Total().BytesCompacted)>>20)
	t.Logf("levels:\n%s", m1)
}
