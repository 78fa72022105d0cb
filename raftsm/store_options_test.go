package raftsm

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

// The regions stateTableLimit keeps tables to, by a group's sub-key byte.
var stateRegions = [][]byte{
	{subSeals, subEpoch, subKeyring, subApplied},
	{subName},
	{subObject},
	{subRequests, subReqTime},
	{subData},
	{subDataAt},
	{subCluster},
}

func regionOf(sub byte) int {
	for i, r := range stateRegions {
		if bytes.IndexByte(r, sub) >= 0 {
			return i
		}
	}
	return -1
}

// TestStateTableLimit: the limit after a key is past it, and it is the
// first key of the next region: a later key is below it exactly when it is
// in the same region (the same shard and generation, the same group of
// sub-keys, or the metadata after every group).
func TestStateTableLimit(t *testing.T) {
	type keyed struct {
		k      []byte
		region string
	}
	var keys []keyed
	add := func(k []byte, region string) { keys = append(keys, keyed{k, region}) }
	for _, shard := range []uint64{0, 1, 7, 1 << 40, ^uint64(0)} {
		for _, gen := range []uint64{0, 3, ^uint64(0)} {
			base := dataKey(shard, gen)
			add(base, fmt.Sprintf("%d/%d/%d", shard, gen, 0))
			for _, r := range stateRegions {
				for _, sub := range r {
					for _, rest := range [][]byte{nil, {0}, {0xff, 0xff}, []byte("abcdefghijklmnopqrstuvwxyz")} {
						add(append(dataKey(shard, gen, sub), rest...), fmt.Sprintf("%d/%d/%d", shard, gen, regionOf(sub)))
					}
				}
			}
		}
	}
	add([]byte{prefixMeta}, "M")
	add([]byte{prefixMeta, 1, 2, 3}, "M")
	add([]byte{0xff, 0xff}, "M")
	add([]byte{prefixData - 1}, "before")
	add([]byte{prefixData - 1, 0xff}, "before")
	sort.Slice(keys, func(i, j int) bool { return bytes.Compare(keys[i].k, keys[j].k) < 0 })
	for i, a := range keys {
		lim := stateTableLimit(a.k)
		if lim != nil && bytes.Compare(lim, a.k) <= 0 {
			t.Fatalf("limit %x of %x is not past it", lim, a.k)
		}
		for _, b := range keys[i+1:] {
			below := lim == nil || bytes.Compare(b.k, lim) < 0
			if below != (a.region == b.region) {
				t.Fatalf("%x (region %s) then %x (region %s): limit %x, the second below it: %v", a.k, a.region, b.k, b.region, lim, below)
			}
		}
	}
}

// TestStateTablesKeepToRegions: after flushes and compactions of writes to
// every region of two groups at once, no table of a real store spans two
// regions.
func TestStateTablesKeepToRegions(t *testing.T) {
	s, err := OpenStore(t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rnd := func(n int) []byte { b := make([]byte, n); rand.Read(b); return b }
	err = s.with(func(db *pebble.DB) error {
		for round := range 6 {
			b := db.NewBatch()
			for i := range 2000 {
				for _, shard := range []uint64{1, 2} {
					idx := uint64(round*2000 + i)
					id := string(rnd(13))
					b.Set(dataKey(shard, 1, subApplied), u64(idx), nil)
					b.Set(dataKey(shard, 1, append([]byte{subName}, rnd(32)...)...), []byte(id), nil)
					b.Set(dataKey(shard, 1, append([]byte{subObject}, id...)...), rnd(300), nil)
					b.Set(dataKey(shard, 1, append(binary.BigEndian.AppendUint64([]byte{subReqTime}, idx), rnd(16)...)...), rnd(16), nil)
					b.Set(dataKey(shard, 1, append(append([]byte{subData}, id...), 0, 0, 0, 0, 1)...), rnd(12), nil)
					b.Set(dataKey(shard, 1, dataAtSub(idx, id)...), rnd(1024), nil)
				}
			}
			b.Set(metaKey(1), u64(1), nil)
			if err := b.Commit(pebble.NoSync); err != nil {
				return err
			}
			if err := db.Flush(); err != nil {
				return err
			}
		}
		if err := db.Compact([]byte{prefixData}, []byte{prefixMeta + 1}, false); err != nil {
			return err
		}
		levels, err := db.SSTables()
		if err != nil {
			return err
		}
		tables := 0
		for l, level := range levels {
			for _, tb := range level {
				tables++
				lo, hi := tb.Smallest.UserKey, tb.Largest.UserKey
				if lim := stateTableLimit(lo); lim != nil && bytes.Compare(hi, lim) >= 0 {
					t.Errorf("L%d table %d spans %x to %x, past the end of its first key's region %x", l, tb.FileNum, lo, hi, lim)
				}
			}
		}
		if tables < 2*len(stateRegions) {
			t.Errorf("%d tables: fewer than two groups' regions", tables)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// writeSizes is a file system that records the size of every write to a
// table file.
type writeSizes struct {
	vfs.FS
	mu     sync.Mutex
	writes map[string][]int
}

func (fs *writeSizes) Create(name string) (vfs.File, error) {
	f, err := fs.FS.Create(name)
	if err != nil || !strings.HasSuffix(name, ".sst") {
		return f, err
	}
	return &sizedFile{File: f, fs: fs, name: name}, nil
}

type sizedFile struct {
	vfs.File
	fs   *writeSizes
	name string
}

func (f *sizedFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	f.fs.writes[f.name] = append(f.fs.writes[f.name], len(p))
	f.fs.mu.Unlock()
	return f.File.Write(p)
}

// TestTablesWrittenInLargeWrites: a flush or compaction writes each table in
// 256 KiB pieces, whole pages, not a write(2) per 4 KiB block
// (third_party/pebble, PATCHES.md). Both of vault's databases run this
// Pebble; the state database's options stand for both.
func TestTablesWrittenInLargeWrites(t *testing.T) {
	fs := &writeSizes{FS: vfs.Default, writes: map[string][]int{}}
	o := &pebble.Options{FS: fs}
	tuneStateOptions(o)
	db, err := pebble.Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	val := make([]byte, 1024)
	for round := range 2 {
		b := db.NewBatch()
		for i := range 4000 {
			rand.Read(val)
			b.Set(fmt.Appendf(nil, "%c%08d", 'a'+round, i), val, nil)
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			t.Fatal(err)
		}
		if err := db.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Compact([]byte("a"), []byte("z"), false); err != nil {
		t.Fatal(err)
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	large := 0
	for name, sizes := range fs.writes {
		for i, n := range sizes[:len(sizes)-1] {
			if n != 256<<10 {
				t.Errorf("%s: write %d of %d was %d bytes, not 256 KiB", name, i+1, len(sizes), n)
				break
			}
			large++
		}
	}
	if len(fs.writes) < 3 || large < 3*15 {
		t.Errorf("%d tables written in %d whole writes: the test wrote too little to see them", len(fs.writes), large)
	}
}
