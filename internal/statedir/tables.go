package statedir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/sstable"
)

// TablesFile records the Pebble tables of the state dir as they were when
// they were last known good: after a start-up check that read them, and
// at a clean stop. Tables are immutable once written, so a table whose
// inode, size, modification and change times are the ones recorded has not
// been written since, and the start-up check skips reading its blocks.
// Any write to a file changes its change time (which no system call can set
// back), and a file put in its place has another inode; what the record
// cannot see is damage below the file system (a medium that flips bits):
// Pebble still verifies each block's checksum when it reads it.
//
// The record holds file names and numbers only. A record that does not
// decode is ignored (every table is read), never an integrity failure.
const TablesFile = "tables.json"

// tableRecord is TablesFile's content.
type tableRecord struct {
	Version int                  `json:"version"`
	Tables  map[string]tableStat `json:"tables"` // path relative to the state dir
}

type tableStat struct {
	Ino   uint64 `json:"ino"`
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime"` // unix nanoseconds
	Ctime int64  `json:"ctime"`
}

const tableRecordVersion = 1

func statOf(fi fs.FileInfo) (tableStat, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return tableStat{}, false
	}
	return tableStat{
		Ino: st.Ino, Size: fi.Size(),
		Mtime: st.Mtim.Sec*1e9 + st.Mtim.Nsec,
		Ctime: st.Ctim.Sec*1e9 + st.Ctim.Nsec,
	}, true
}

// readTableRecord returns the recorded tables (nil if none or unreadable).
func readTableRecord(dir string) map[string]tableStat {
	b, err := os.ReadFile(filepath.Join(dir, TablesFile))
	if err != nil {
		return nil
	}
	var r tableRecord
	if json.Unmarshal(b, &r) != nil || r.Version != tableRecordVersion {
		return nil
	}
	return r.Tables
}

// RecordTables records every table of the state dir's Pebble databases as
// known good (TablesFile). It is called after the start-up check passed,
// before anything was opened for writing, and after a clean stop, once
// every database is closed. It never fails a start or a stop: without a
// record, the next start reads every table.
func RecordTables(dir string, st *Node) error {
	r := tableRecord{Version: tableRecordVersion, Tables: map[string]tableStat{}}
	for _, db := range pebbleDirs(dir, st) {
		ssts, _ := filepath.Glob(filepath.Join(db, "*.sst"))
		for _, p := range ssts {
			fi, err := os.Stat(p)
			if err != nil {
				continue
			}
			if s, ok := statOf(fi); ok {
				rel, _ := filepath.Rel(dir, p)
				r.Tables[rel] = s
			}
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, TablesFile), b, 0o600)
}

// pebbleDirs lists the state dir's Pebble databases: the state database
// and every Raft log database.
func pebbleDirs(dir string, st *Node) []string {
	dbs := []string{filepath.Join(dir, StoreDir)}
	logdbs, _ := filepath.Glob(filepath.Join(logDBPath(dir, st), "logdb-*"))
	return append(dbs, logdbs...)
}

// checkTables opens a database read-only and reads every block of every
// table its MANIFEST names (checksums), except the tables recorded as
// known good and unchanged since (TablesFile). It returns how many tables
// it read and how many it skipped.
func checkTables(dir, db, manifest string, known map[string]tableStat) (read, skipped int, err error) {
	defer func() {
		if r := recover(); r != nil { // Pebble's Fatalf
			err = integrityError(db, "%v", firstLine(fmt.Sprint(r)))
		}
	}()
	d, err := pebble.Open(db, &pebble.Options{ReadOnly: true, Logger: panicLogger{}})
	if err != nil {
		return 0, 0, blameTable(db, manifest, err)
	}
	defer d.Close()
	levels, err := d.SSTables()
	if err != nil {
		return 0, 0, blameTable(db, manifest, err)
	}
	for _, level := range levels {
		for _, t := range level {
			name := fmt.Sprintf("%06d.sst", uint64(t.FileNum))
			p := filepath.Join(db, name)
			fi, err := os.Stat(p)
			if errors.Is(err, fs.ErrNotExist) {
				return read, skipped, integrityError(manifest, "refers to %s, which is missing", name)
			}
			if err != nil {
				return read, skipped, integrityError(p, "%v", err)
			}
			if uint64(fi.Size()) != t.Size {
				return read, skipped, integrityError(p, "%d bytes where its MANIFEST says %d", fi.Size(), t.Size)
			}
			rel, _ := filepath.Rel(dir, p)
			if s, ok := statOf(fi); ok && known != nil {
				if k, ok := known[rel]; ok && k == s {
					skipped++
					continue
				}
			}
			if err := readTable(p); err != nil {
				return read, skipped, integrityError(p, "%v", firstLine(err.Error()))
			}
			read++
		}
	}
	return read, skipped, nil
}

// readTable verifies the checksum of every block of one table.
func readTable(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	r, err := sstable.NewReader(f, sstable.ReaderOptions{}) // closes f
	if err != nil {
		return err
	}
	defer r.Close()
	return r.ValidateBlockChecksums()
}

// blameTable names the file an error from opening a database points at.
func blameTable(db, manifest string, err error) error {
	msg := err.Error()
	if m := missingRE.FindStringSubmatch(msg); m != nil {
		return integrityError(manifest, "refers to %s.sst, which is missing", m[1])
	}
	if m := sstPathRE.FindStringSubmatch(msg); m != nil {
		return integrityError(m[1], "%v", firstLine(msg))
	}
	if m := tableNameRE.FindStringSubmatch(msg); m != nil {
		return integrityError(filepath.Join(db, m[1]+".sst"), "%v", firstLine(msg))
	}
	return integrityError(db, "%v", strings.TrimSpace(firstLine(msg)))
}
