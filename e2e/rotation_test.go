package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/crypto"
)

type keyStatus struct {
	DEKs []struct {
		Version                       uint32
		State                         string
		Values, LogEntries, Snapshots int
	}
	Rotation uint32
}

func keyStatusOf(t *testing.T, d *daemon) keyStatus {
	t.Helper()
	var ks keyStatus
	if err := json.Unmarshal([]byte(must(t, d.vault("key", "status", "--format", "json")).stdout), &ks); err != nil {
		t.Fatal(err)
	}
	return ks
}

// TestFullRotationUnderLoad: writers keep writing while `vault key rotate
// --full` runs; a manager leading some groups is killed in the middle; the
// command is run again and finishes; the old key is retired; every
// acknowledged write is there, and no file on any manager holds anything
// sealed under the retired key.
func TestFullRotationUnderLoad(t *testing.T) {
	ds := startCluster(t, 3, "--snapshot-entries", "100")
	for i := range 300 {
		must(t, ds[i%3].vaultIn([]byte(fmt.Sprintf("CANARY-VALUE-%d-%s", i, randHex(8))), "secret", "create", fmt.Sprintf("pre%d", i), "-"))
	}
	ks := keyStatusOf(t, ds[0])
	if len(ks.DEKs) != 1 || ks.DEKs[0].Values == 0 || ks.DEKs[0].LogEntries == 0 {
		t.Fatalf("key status before rotation: %+v", ks)
	}
	oldVersion := ks.DEKs[0].Version
	oldKeys := canaries{}
	for name, h := range rawKeys(t, ds[0]) {
		if strings.HasPrefix(name, "dek-") {
			b, _ := hex.DecodeString(h)
			oldKeys.add("raw "+name, b)
		}
	}
	mustFail(t, ds[0].vault("key", "retire", "1"), "active key", "rotate --full")
	// Two plain rotations first: several old keys to retire one after
	// another, each retirement's keyring entry still wrapping the next.
	for range 2 {
		must(t, ds[0].vault("key", "rotate"))
		for i := range 10 {
			must(t, ds[i%3].vaultIn([]byte(randHex(8)), "secret", "update", fmt.Sprintf("pre%d", i), "-"))
		}
	}

	// Writers on the two managers that stay up.
	var mu sync.Mutex
	acked := map[string]int{} // name -> last acknowledged version
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := ds[[]int{0, 2}[w%2]]
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("w%d-%d", w, i/3)
				verb := "create"
				if i%3 != 0 {
					verb = "update"
				}
				if r := d.vaultIn([]byte(fmt.Sprintf("v%d", i)), "secret", verb, name, "-"); r.code == 0 {
					mu.Lock()
					acked[name]++
					mu.Unlock()
				}
			}
		}()
	}

	// A hot secret, updated as fast as one API client can: every re-seal
	// of it races an update, and must still leave no version under the
	// old key (a re-seal that lost every such race kept the rotation
	// from finishing).
	// It has many versions under the old key, so re-sealing it takes
	// longer than the gap between two updates.
	hot := api.NewClient(ds[2].socket)
	must(t, ds[2].vaultIn([]byte("hot-1"), "secret", "create", "hot", "-"))
	const hotVersions = 300
	for i := 2; i <= hotVersions; i++ {
		if _, err := hot.UpdateSecret(context.Background(), "hot", []byte(fmt.Sprintf("hot-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock() // the writers above are running
	acked["hot"] = hotVersions
	mu.Unlock()
	wg.Add(1)
	go func() {
		defer wg.Done()
		cl := hot
		for i := hotVersions + 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := cl.UpdateSecret(ctx, "hot", []byte(fmt.Sprintf("hot-%d", i)))
			cancel()
			if err == nil {
				mu.Lock()
				acked["hot"]++
				mu.Unlock()
			}
		}
	}()

	rot := exec.Command(vaultBin, "--socket", ds[0].socket, "key", "rotate", "--full", "--batch", "10")
	rotOut := &lockedBuffer{}
	rot.Stdout, rot.Stderr = rotOut, rotOut
	if err := rot.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "re-sealing to start", 30*time.Second, func() bool {
		return strings.Contains(rotOut.String(), "re-sealed")
	})
	// Kill a manager that leads some group, in the middle of the rotation
	// (the writers use the other two).
	victim := ds[1]
	waitFor(t, "the victim to lead a group", 20*time.Second, func() bool {
		for _, n := range nodes(t, ds[0]) {
			if n.Addr == victim.addr && n.Leader > 0 {
				return true
			}
		}
		return false
	})
	victim.kill()
	err := rot.Wait()
	t.Logf("first run (a manager was killed midway): err=%v\n%s", err, rotOut.String())

	victim.start()
	waitFor(t, "the restarted manager to answer", 30*time.Second, func() bool {
		return victim.vault("secret", "inspect", "pre1").code == 0
	})
	r := must(t, ds[2].vault("key", "rotate", "--full", "--batch", "50"))
	if !strings.Contains(r.stdout, "done") {
		t.Fatalf("second run did not finish:\n%s", r)
	}
	if err == nil && !strings.Contains(r.stdout, "Resuming") {
		t.Logf("the first run finished despite the kill; the second rotated again")
	}
	close(stop)
	wg.Wait()

	ks = keyStatusOf(t, ds[0])
	// Every key the managers hold before the retirements: the raw DEKs
	// and the KEK that wraps them, for the scans below.
	var keks [][]byte
	for _, d := range ds {
		for name, h := range rawKeys(t, d) {
			b, _ := hex.DecodeString(h)
			switch {
			case name == "kek" && !slices.ContainsFunc(keks, func(k []byte) bool { return bytes.Equal(k, b) }):
				keks = append(keks, b)
			case strings.HasPrefix(name, "dek-v") && name != fmt.Sprintf("dek-v%d", activeVersion(ks)):
				oldKeys.add("raw "+name, b)
			}
		}
	}
	// Control: before the retirements the keyrings on disk wrap every old
	// DEK, and the scan finds them.
	var olds []uint32
	for _, d := range ks.DEKs {
		if d.State != "active" {
			olds = append(olds, d.Version)
		}
	}
	if hits := findWrappedDEKs(t, ds[0].stateDir, keks, olds); len(hits) == 0 {
		t.Fatalf("control: no wrapped DEK %v found in %s before retiring them", olds, ds[0].stateDir)
	}
	for _, d := range ks.DEKs {
		if d.State == "active" {
			continue
		}
		if d.Values+d.LogEntries+d.Snapshots != 0 {
			t.Fatalf("after a full rotation v%d still holds %+v", d.Version, d)
		}
		must(t, ds[0].vault("key", "retire", fmt.Sprint(d.Version)))
	}
	// Retiring again finishes an interrupted retirement's compaction.
	must(t, ds[0].vault("key", "retire", fmt.Sprint(oldVersion)))

	// Every acknowledged write is readable, on every manager.
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 10 {
		t.Fatalf("only %d secrets written during the rotation", len(acked))
	}
	for name, n := range acked {
		got := inspect(t, ds[(len(name))%3], name)
		if got.Version < n-1 { // the first acknowledged write is the create (version 1)
			t.Fatalf("%s: version %d, but %d writes were acknowledged", name, got.Version, n)
		}
	}
	for i := range 300 {
		inspect(t, ds[i%3], fmt.Sprintf("pre%d", i))
	}
	t.Logf("%d secrets written during the rotation, all readable", len(acked))

	// No file on any manager holds an envelope or a stream sealed under a
	// retired key: an attacker with the old DEK and a copy of these state
	// dirs has nothing to open.
	for _, d := range ds {
		d.stop()
	}
	var retired []uint32
	for _, d := range ks.DEKs {
		if d.State != "active" {
			retired = append(retired, d.Version)
		}
	}
	// And the rafttool, reading each state dir as an operator would.
	rt := buildRafttool(t)
	for _, d := range ds {
		r := rt.run(t, nil, "-d", d.stateDir, "verify", "--format", "json")
		var v struct {
			Keys []struct {
				Version                                   uint32
				State                                     string
				Held                                      bool `json:"held"`
				LogEntries, SnapshotStreams, StoredValues int  `json:"-"`
				LogEntriesJ                               int  `json:"log_entries"`
				SnapshotStreamsJ                          int  `json:"snapshot_streams"`
				StoredValuesJ                             int  `json:"stored_values"`
			} `json:"keys"`
		}
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &v) != nil {
			t.Fatalf("rafttool verify on %s: %s", d.stateDir, r)
		}
		for _, k := range v.Keys {
			if k.State != "active" && k.LogEntriesJ+k.SnapshotStreamsJ+k.StoredValuesJ != 0 {
				t.Errorf("rafttool verify: %s holds %+v under retired v%d", d.stateDir, k, k.Version)
			}
			if k.State != "active" && k.Held {
				t.Errorf("rafttool verify: %s still holds retired v%d (a keyring on disk wraps it): %s", d.stateDir, k.Version, r.stdout)
			}
		}
	}
	for _, d := range ds {
		oldKeys.scan(t, d.stateDir)
		for _, v := range retired {
			if hits := findSealedUnder(t, d.stateDir, v); len(hits) > 0 {
				t.Errorf("sealed under retired v%d: %v", v, hits)
			}
		}
		// Nor a wrapped copy of a retired DEK that the KEK (which anyone
		// with the unlock key derives) opens.
		if hits := findWrappedDEKs(t, d.stateDir, keks, retired); len(hits) > 0 {
			t.Errorf("a retired DEK opens from %s", strings.Join(hits, "; "))
		}
	}
}

func activeVersion(ks keyStatus) uint32 {
	for _, d := range ks.DEKs {
		if d.State == "active" {
			return d.Version
		}
	}
	return 0
}

// findWrappedDEKs tries every envelope of a wrapped key's size under root
// (in every file as stored, and in what Pebble's tables and logs hold once
// decoded: see diskContents) with each raw key, as the wrapping of each of
// versions, and lists what opens. A wrapped DEK is an envelope sealing the
// raw DEK under the KEK, bound to the DEK's version; the envelope names the
// KEK version it needs, which the raw key is given as.
func findWrappedDEKs(t *testing.T, root string, rawKeys [][]byte, versions []uint32) []string {
	t.Helper()
	size := crypto.Overhead + crypto.KeySize
	var hits []string
	tried, triedDecoded, hitsDecoded := 0, 0, 0
	where := map[string]int{}                               // file, as stored or decoded -> copies that open
	opened := map[bool]map[string]bool{false: {}, true: {}} // decoded -> wrapped copies that open
	diskContents(t, root, func(place string, decoded bool, b []byte) {
		for off := 0; ; off++ {
			i := bytes.Index(b[off:], []byte{'v', 'l', 1})
			if i < 0 {
				break
			}
			off += i
			if off+size > len(b) {
				break
			}
			env := b[off : off+size]
			kv, err := crypto.EnvelopeKeyVersion(env)
			if err != nil {
				continue
			}
			tried++
			if decoded {
				triedDecoded++
			}
			for _, raw := range rawKeys {
				k, err := crypto.NewKey(kv, raw)
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range versions {
					bind := crypto.Binding{Purpose: crypto.PurposeKeyring, Object: binary.BigEndian.AppendUint32([]byte("dek/"), v)}
					if dek, err := crypto.UnwrapKey(k, bind, v, env); err == nil {
						dek.Wipe()
						hits = append(hits, fmt.Sprintf("%s at %d (DEK v%d)", place, off, v))
						opened[decoded][string(env)] = true
						file, _, _ := strings.Cut(strings.TrimPrefix(place, root+"/"), ": ")
						where[file+map[bool]string{false: " as stored", true: " decoded"}[decoded]]++
						if decoded {
							hitsDecoded++
						}
					}
				}
				k.Wipe()
			}
		}
	})
	hidden := 0 // found only once decoded: no file holds them as they are
	for env := range opened[true] {
		if !opened[false][env] {
			hidden++
		}
	}
	t.Logf("%s: tried %d envelopes (%d of them in decoded Pebble tables and logs) against %d keys for retired DEKs %v: %d open as stored (%d distinct), %d decoded (%d distinct, %d of them nowhere as stored)",
		root, tried, triedDecoded, len(rawKeys), versions, len(hits)-hitsDecoded, len(opened[false]), hitsDecoded, len(opened[true]), hidden)
	if len(where) > 0 {
		t.Logf("where they open: %v", where)
	}
	return hits
}

// findSealedUnder lists the files holding a crypto envelope or stream
// header that names key version v, as stored or in what Pebble's tables and
// logs hold once decoded (see diskContents: in a compressed block, a header
// can be a back-reference to an earlier one).
func findSealedUnder(t *testing.T, root string, v uint32) []string {
	t.Helper()
	var ver [4]byte
	binary.BigEndian.PutUint32(ver[:], v)
	envelope := append([]byte{'v', 'l', 1}, ver[:]...)
	stream := append([]byte{'v', 's', 1}, ver[:]...)
	var hits []string
	diskContents(t, root, func(place string, decoded bool, b []byte) {
		if bytes.Contains(b, envelope) || bytes.Contains(b, stream) {
			if file, _, _ := strings.Cut(place, ": "); !slices.Contains(hits, file) {
				hits = append(hits, file)
			}
		}
	})
	return hits
}
