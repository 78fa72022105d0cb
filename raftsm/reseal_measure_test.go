//go:build measure

package raftsm

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/vaultd/vault/crypto"
)

var (
	resealSecrets = flag.Int("reseal-secrets", 100_000, "secrets preloaded for TestMeasureResealApply")
	resealDataLen = flag.Int("reseal-data-size", 1064, "bytes of each create's sealed data version in TestMeasureResealApply (a few bytes: what the state database would compact with the data versions kept outside it)")
	resealIDs     = flag.String("reseal-ids", "sorted", "the secret ids of TestMeasureResealApply: sorted (in creation order, as vault makes them: statedir.NewSecretID) or random (as vault made them before)")
	resealMode    = flag.String("reseal-mode", "records", "what TestMeasureResealApply re-seals: records (versions under data keys, as vault writes them), data (records and their versions, as before data keys), none (the creates alone)")
)

// TestMeasureResealApply applies what a full rotation makes one replica
// apply at scale, on a real store: a group of secrets (a 300-byte record
// and a 1 KiB data version each, random bytes as sealed values are),
// then every secret re-sealed in id order in secret.reseal-batch entries
// of 128 while creates keep arriving (one create entry per re-seal). It
// prints the CPU and what Pebble wrote: the apply's own work and the
// compactions it causes.
//
//	go test -tags measure -run TestMeasureResealApply -v ./raftsm -reseal-secrets 100000
func TestMeasureResealApply(t *testing.T) {
	key, _ := crypto.GenerateKey(1)
	n := newTestNode(t, key, 2)
	rnd := func(k int) []byte { b := make([]byte, k); rand.Read(b); return b }
	newID := func() string { // statedir.NewSecretID's order: the time in seconds first
		return hex.EncodeToString(binary.BigEndian.AppendUint32(nil, uint32(time.Now().Unix()))) + hex.EncodeToString(rnd(9))
	}
	if *resealIDs == "random" {
		newID = func() string { return hex.EncodeToString(rnd(13)) }
	}
	index, now := uint64(1), int64(1)
	mk := func(id string) *Command {
		now++
		return &Command{Op: OpSecretCreate, RequestID: reqID(), Time: now, Secret: &SecretWrite{
			ID: id, NameMAC: rnd(32), Record: rnd(300), Version: 1, Data: rnd(*resealDataLen)}}
	}
	update := func(cmds ...*Command) []sm.Entry {
		var ents []sm.Entry
		for _, c := range cmds {
			b, err := SealCommand(key, 2, c)
			if err != nil {
				t.Fatal(err)
			}
			ents = append(ents, sm.Entry{Index: index, Cmd: b})
			index++
		}
		out, err := n.sm.Update(ents)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	ids := make([]string, 0, *resealSecrets)
	for len(ids) < *resealSecrets {
		var cmds []*Command
		for range 64 {
			id := newID()
			ids = append(ids, id)
			cmds = append(cmds, mk(id))
		}
		update(cmds...)
	}
	sort.Strings(ids)
	gens := map[string]uint64{}
	n.store.with(func(db *pebble.DB) error {
		for _, id := range ids {
			v, c, err := db.Get(dataKey(2, n.sm.gen, append([]byte{subObject}, id...)...))
			if err != nil {
				return err
			}
			gens[id] = getU64(v[:8])
			c.Close()
		}
		return nil
	})
	var m0 *pebble.Metrics
	n.store.with(func(db *pebble.DB) error { db.Flush(); m0 = db.Metrics(); return nil })
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	c0, w0 := cpu(), time.Now()
	var applyTime time.Duration
	for start := 0; start < len(ids); start += 128 {
		batch := &Command{Op: OpSecretResealBatch, RequestID: reqID(), Time: now}
		for _, id := range ids[start:min(start+128, len(ids))] {
			w := &SecretWrite{ID: id, NameMAC: rnd(32), ExpectGen: gens[id], Record: rnd(300)}
			if *resealMode == "data" {
				w.Resealed = []DataVersion{{Version: 1, Data: rnd(1064)}}
			}
			batch.Secrets = append(batch.Secrets, w)
		}
		// One Update with the batch and 16 creates, then 7 of 16 creates:
		// a create entry per re-sealed secret.
		for k := range 128 / 16 {
			var cmds []*Command
			if k == 0 && *resealMode != "none" {
				cmds = append(cmds, batch)
			}
			for range 16 {
				cmds = append(cmds, mk(newID()))
			}
			a0 := time.Now()
			update(cmds...)
			applyTime += time.Since(a0)
		}
	}
	applied := time.Since(w0)
	var m1 *pebble.Metrics
	n.store.with(func(db *pebble.DB) error {
		// Let the compactions the writes started finish, as they do on a
		// running replica: until no debt is left, or no flush or
		// compaction has run for a second (what debt is left is not due).
		idle := 0
		for i := 0; i < 600; i++ {
			m1 = db.Metrics()
			if m1.Compact.InProgressBytes == 0 && m1.Compact.NumInProgress == 0 && m1.Compact.EstimatedDebt == 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
			if m2 := db.Metrics(); m2.Compact.NumInProgress == 0 && m2.Compact.Count == m1.Compact.Count && m2.Flush.Count == m1.Flush.Count {
				if idle++; idle == 10 {
					break
				}
			} else {
				idle = 0
			}
		}
		return nil
	})
	wall, c1 := time.Since(w0), cpu()
	tot0, tot1 := m0.Total(), m1.Total()
	t.Logf("%d secrets re-sealed beside %d creates: apply %v (in Update %v), until compactions settle %v; CPU %v",
		len(ids), len(ids), applied.Round(time.Millisecond), applyTime.Round(time.Millisecond), wall.Round(time.Millisecond), (c1 - c0).Round(time.Millisecond))
	t.Logf("Pebble: flushed %d MiB, compacted %d MiB (written), %d compactions; ingested by the apply ~%d MiB",
		(tot1.BytesFlushed-tot0.BytesFlushed)>>20, (tot1.BytesCompacted-tot0.BytesCompacted)>>20, m1.Compact.Count-m0.Compact.Count,
		int64(len(ids))*2*(300+1064+100)>>20)
	t.Logf("levels after:\n%s", m1)
}
