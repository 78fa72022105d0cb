package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
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
	for _, d := range ks.DEKs {
		if d.State == "active" {
			continue
		}
		if d.Values+d.LogEntries+d.Snapshots != 0 {
			t.Fatalf("after a full rotation v%d still holds %+v", d.Version, d)
		}
		must(t, ds[0].vault("key", "retire", fmt.Sprint(d.Version)))
	}
	mustFail(t, ds[0].vault("key", "retire", fmt.Sprint(oldVersion)), "already retired")

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
				LogEntries, SnapshotStreams, StoredValues int `json:"-"`
				LogEntriesJ                               int `json:"log_entries"`
				SnapshotStreamsJ                          int `json:"snapshot_streams"`
				StoredValuesJ                             int `json:"stored_values"`
			} `json:"keys"`
		}
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &v) != nil {
			t.Fatalf("rafttool verify on %s: %s", d.stateDir, r)
		}
		for _, k := range v.Keys {
			if k.State != "active" && k.LogEntriesJ+k.SnapshotStreamsJ+k.StoredValuesJ != 0 {
				t.Errorf("rafttool verify: %s holds %+v under retired v%d", d.stateDir, k, k.Version)
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
	}
}

// findSealedUnder lists files holding a crypto envelope or stream header
// that names key version v.
func findSealedUnder(t *testing.T, root string, v uint32) []string {
	t.Helper()
	var ver [4]byte
	binary.BigEndian.PutUint32(ver[:], v)
	envelope := append([]byte{'v', 'l', 1}, ver[:]...)
	stream := append([]byte{'v', 's', 1}, ver[:]...)
	var hits []string
	filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err == nil && (bytes.Contains(b, envelope) || bytes.Contains(b, stream)) {
			hits = append(hits, p)
		}
		return nil
	})
	return hits
}
