package statedir

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// One daemon per state dir: a second Acquire fails until the first lock
// is released.
func TestAcquireIsExclusive(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	if l2, err := Acquire(dir); err == nil {
		l2.Release()
		t.Fatal("a second Acquire succeeded while the first lock is held")
	}
	l.Release()
	l.Release() // twice is safe
	l3, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l3.Release()
}

func TestReadNode(t *testing.T) {
	good := &Node{Format: 1, NodeID: NewID(), ReplicaID: 1, ClusterID: NewID(), RaftAddr: "127.0.0.1:1", APIAddr: "127.0.0.1:2", Hostname: "h", Shards: 2}
	for _, c := range []struct {
		name      string
		content   string // "" writes good through WriteNode; "-" writes nothing
		wantNil   bool
		integrity bool
	}{
		{name: "written by WriteNode"},
		{name: "no node.json", content: "-", wantNil: true},
		{name: "not JSON", content: "{", integrity: true},
		{name: "another format", content: `{"format":2,"node_id":"a","cluster_id":"b","shards":1,"replica_id":1}`, integrity: true},
		{name: "no shards", content: `{"format":1,"node_id":"a","cluster_id":"b","replica_id":1}`, integrity: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			switch c.content {
			case "":
				if err := WriteNode(dir, good); err != nil {
					t.Fatal(err)
				}
			case "-":
			default:
				if err := os.WriteFile(filepath.Join(dir, NodeFile), []byte(c.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := ReadNode(dir)
			if c.integrity {
				if !errors.Is(err, ErrIntegrity) {
					t.Fatalf("ReadNode = %v, want an error wrapping ErrIntegrity", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.wantNil != (got == nil) {
				t.Fatalf("ReadNode = %+v, want nil: %v", got, c.wantNil)
			}
			if got != nil && *got != *good {
				t.Fatalf("ReadNode = %+v, want %+v", got, good)
			}
		})
	}
}

func TestOpenNotStateDir(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{filepath.Join(dir, "missing"), dir} {
		if _, err := Open(p); !errors.Is(err, ErrNotStateDir) {
			t.Errorf("Open(%s) = %v, want ErrNotStateDir", p, err)
		}
	}
}

func TestIDs(t *testing.T) {
	id := NewID()
	if len(id) != 26 || !IsID(id) {
		t.Fatalf("NewID = %q, not an id", id)
	}
	for _, s := range []string{"", "ABC", "a-b", id + "a"} {
		if IsID(s) {
			t.Errorf("IsID(%q) = true", s)
		}
	}
}

// TestSecretIDs: secret ids read as ids, sort as the times they were made
// (to the second, whatever their random bits), and differ within a second.
func TestSecretIDs(t *testing.T) {
	times := []time.Time{time.Unix(0, 0), time.Unix(1, 0), time.Unix(1_800_000_000, 0), time.Unix(1_800_000_001, 0), time.Unix(1<<32-1, 0)}
	var prev string
	for _, at := range times {
		seen := map[string]bool{}
		var first, last string
		for range 200 {
			id := NewSecretID(at)
			if len(id) != 26 || !IsID(id) {
				t.Fatalf("NewSecretID = %q, not an id", id)
			}
			if seen[id] {
				t.Fatalf("NewSecretID made %q twice", id)
			}
			seen[id] = true
			if id <= prev {
				t.Fatalf("id %q made at %v sorts before %q, made a second or more earlier", id, at, prev)
			}
			if first == "" || id < first {
				first = id
			}
			last = max(last, id)
		}
		if first[:6] != last[:6] {
			t.Errorf("ids made at %v differ in their first 6 characters: %q, %q", at, first, last)
		}
		prev = last
	}
}
