// Package checkpoint takes a consistent private copy of a Pebble database
// that another process may be writing, without writing to it.
//
// A live database cannot be opened in place: its owner holds a lock on it,
// and a second Pebble instance would race with its compactions. Take links
// every immutable table (*.sst) into the destination (copying when links are
// not possible) and copies every other file: the MANIFEST that names the
// tables, CURRENT, OPTIONS and the write-ahead logs.
//
// # Consistency
//
// The copy is consistent when the MANIFEST did not change while the tables
// and logs were being copied: then every table and log it names existed
// before the copy began and could not be deleted until a later MANIFEST
// edit. Take checks this by copying the MANIFEST last and comparing its
// length and CURRENT before and after, and starts over when they moved. A
// log still being appended to is copied up to some point; Pebble replays
// such a log up to its last whole batch, so the copy holds a prefix of the
// database's history: what it held at some instant.
//
// # Invariants
//
//   - Nothing in the source directory is created, written, renamed or
//     removed, and its files' contents and modification times are unchanged.
//   - The destination holds only the copy; the caller removes it.
package checkpoint

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrBusy is returned when the database kept changing for every attempt.
var ErrBusy = errors.New("checkpoint: the database changed during every attempt")

// Attempts is how many times Take tries before returning ErrBusy.
const Attempts = 10

// The spare WAL file a LogDB keeps beside its logs, and the file it is made
// in (third_party/dragonboat/PATCHES.md, "The next WAL file is a spare
// already written with zeros"): zeros, not part of the database, and
// renamed away when the LogDB starts a new log, so they are not copied.
const (
	walSpare     = "WAL.spare"
	walSpareTemp = "WAL.spare.tmp"
)

// Stats says how a copy was made.
type Stats struct {
	Linked   int   // tables hard-linked
	Copied   int   // files copied
	Bytes    int64 // bytes copied
	Attempts int
}

// Take copies the Pebble database in src into dst, which must not exist.
func Take(src, dst string) (Stats, error) {
	var st Stats
	for st.Attempts = 1; st.Attempts <= Attempts; st.Attempts++ {
		if err := os.RemoveAll(dst); err != nil {
			return st, err
		}
		if err := os.MkdirAll(dst, 0o700); err != nil {
			return st, err
		}
		ok, err := attempt(src, dst, &st)
		if err != nil {
			return st, err
		}
		if ok {
			return st, nil
		}
	}
	return st, fmt.Errorf("%w: %s", ErrBusy, src)
}

// manifest returns the name of the current MANIFEST and its size.
func manifest(src string) (string, int64, error) {
	name, err := currentManifest(src)
	if err != nil {
		return "", 0, err
	}
	fi, err := os.Stat(filepath.Join(src, name))
	if err != nil {
		return "", 0, err
	}
	return name, fi.Size(), nil
}

// currentManifest reads CURRENT, or the newest manifest marker of newer
// Pebble format versions.
func currentManifest(src string) (string, error) {
	b, err := os.ReadFile(filepath.Join(src, "CURRENT"))
	if err == nil {
		name := strings.TrimSpace(string(b))
		if !strings.HasPrefix(name, "MANIFEST-") || strings.ContainsAny(name, `/\`) {
			return "", fmt.Errorf("%s: CURRENT names %q, not a manifest", src, name)
		}
		return name, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return "", err
	}
	best := ""
	for _, e := range ents {
		// marker.manifest.NNNNNN.MANIFEST-XXXXXX; names sort by iteration.
		if n := e.Name(); strings.HasPrefix(n, "marker.manifest.") && n > best {
			best = n
		}
	}
	if _, name, ok := strings.Cut(strings.TrimPrefix(best, "marker.manifest."), "."); ok && strings.HasPrefix(name, "MANIFEST-") {
		return name, nil
	}
	return "", fmt.Errorf("%s: no CURRENT file: not a Pebble database", src)
}

// attempt makes one copy; it reports false when the source moved meanwhile.
func attempt(src, dst string, st *Stats) (bool, error) {
	name, size, err := manifest(src)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // rotated between CURRENT and stat
	}
	if err != nil {
		return false, err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return false, err
	}
	for _, e := range ents {
		n := e.Name()
		if !e.Type().IsRegular() || n == "LOCK" || strings.HasPrefix(n, "MANIFEST-") || n == walSpare || n == walSpareTemp {
			continue
		}
		var err error
		if strings.HasSuffix(n, ".sst") {
			err = link(filepath.Join(src, n), filepath.Join(dst, n), st)
		} else {
			err = copyFile(filepath.Join(src, n), filepath.Join(dst, n), -1, st)
		}
		if errors.Is(err, fs.ErrNotExist) {
			if strings.HasSuffix(n, ".sst") || strings.HasSuffix(n, ".log") {
				continue // deleted as obsolete after the listing
			}
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
	if err := copyFile(filepath.Join(src, name), filepath.Join(dst, name), size, st); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	name2, size2, err := manifest(src)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if name2 != name || size2 != size {
		return false, nil
	}
	// CURRENT was copied with the other files; make it name the manifest
	// copied, whatever it said then.
	if _, err := os.Stat(filepath.Join(dst, "CURRENT")); err == nil {
		if err := os.WriteFile(filepath.Join(dst, "CURRENT"), []byte(name+"\n"), 0o600); err != nil {
			return false, err
		}
	}
	return true, nil
}

// link hard-links a table, or copies it when the file system refuses.
func link(src, dst string, st *Stats) error {
	err := os.Link(src, dst)
	if err == nil {
		st.Linked++
		return nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return copyFile(src, dst, -1, st)
}

// copyFile copies src to dst (mode 0600); with limit >= 0, only its first
// limit bytes, failing if there are fewer.
func copyFile(src, dst string, limit int64, st *Stats) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	var r io.Reader = in
	if limit >= 0 {
		r = io.LimitReader(in, limit)
	}
	n, err := io.Copy(out, r)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && limit >= 0 && n != limit {
		err = fmt.Errorf("%s: %d bytes, expected %d", src, n, limit)
	}
	if err != nil {
		return err
	}
	st.Copied++
	st.Bytes += n
	return nil
}
