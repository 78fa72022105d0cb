package audit

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaultd/vault/crypto"
)

// sealEvery5 seals after every 5 records and never on a timer, so the
// layout of a log is known: line n holds record n, and lines 6, 12, ...
// and the last line are seals.
var sealEvery5 = Config{SealEvery: 5, SealInterval: time.Hour}

func TestVerifyUntouched(t *testing.T) {
	k := testKeys(t, "cluster")
	lines := writeLog(t, sealEvery5, k, 12)
	if len(lines) != 16 {
		t.Fatalf("got %d lines, want 16:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	res, err := verifyLines(k.VerifyKey(), lines, "\n")
	if err != nil {
		t.Fatal(err)
	}
	want := Result{Records: 16, First: 1, Last: 16, Seals: 3, LastSeal: 16, Anchored: true}
	if *res != want {
		t.Errorf("got %+v, want %+v", *res, want)
	}
	for i, l := range lines {
		if strings.Contains(l, "secret-name") {
			t.Errorf("line %d holds a name", i+1)
		}
	}
}

// rechain rewrites the prev of every line from i on, as an attacker without
// the seal key can.
func rechain(t *testing.T, lines []string, from int) []string {
	for i := from; i < len(lines); i++ {
		r, err := ParseRecord([]byte(lines[i]))
		if err != nil {
			t.Fatal(err)
		}
		h := lineHash([]byte(lines[i-1]))
		r.Prev = hex.EncodeToString(h[:])
		b, err := r.marshal()
		if err != nil {
			t.Fatal(err)
		}
		lines[i] = string(b)
	}
	return lines
}

func TestVerifyTampering(t *testing.T) {
	k := testKeys(t, "cluster")
	orig := writeLog(t, sealEvery5, k, 12)
	edit := func(line int, old, new string) func([]string) []string {
		return func(ls []string) []string {
			if !strings.Contains(ls[line-1], old) {
				t.Fatalf("line %d has no %q: %s", line, old, ls[line-1])
			}
			ls[line-1] = strings.Replace(ls[line-1], old, new, 1)
			return ls
		}
	}
	tests := []struct {
		name     string
		mutate   func([]string) []string
		final    string // what follows the last line
		err      error  // nil: verifies
		line     int    // the line the error names
		unsealed uint64
	}{
		{name: "edited", mutate: edit(3, `"result":"ok"`, `"result":"no"`), err: ErrEdited, line: 3},
		{name: "edited before a seal", mutate: edit(5, `"pid":1003`, `"pid":1004`), err: ErrEdited, line: 5},
		{name: "edited first", mutate: edit(1, `"note":"opened"`, `"note":"opened!"`), err: ErrEdited, line: 1},
		{name: "edited out of form", mutate: edit(3, `"result":"ok"`, `"result": "ok"`), err: ErrMalformed, line: 3},
		{name: "edited into garbage", mutate: edit(3, `{`, `[`), err: ErrMalformed, line: 3},
		{name: "field added", mutate: edit(3, `"result":"ok"`, `"result":"ok","x":1`), err: ErrMalformed, line: 3},
		{name: "seq edited", mutate: edit(3, `"seq":3,`, `"seq":30,`), err: ErrEdited, line: 3},
		{name: "deleted", mutate: func(ls []string) []string { return slices.Delete(ls, 2, 3) }, err: ErrDeleted, line: 3},
		{name: "deleted two", mutate: func(ls []string) []string { return slices.Delete(ls, 2, 4) }, err: ErrDeleted, line: 3},
		{name: "seal deleted", mutate: func(ls []string) []string { return slices.Delete(ls, 5, 6) }, err: ErrDeleted, line: 6},
		{name: "deleted and rechained", mutate: func(ls []string) []string {
			return rechain(t, slices.Delete(ls, 2, 3), 2)
		}, err: ErrDeleted, line: 3},
		{name: "reordered", mutate: func(ls []string) []string { ls[2], ls[3] = ls[3], ls[2]; return ls }, err: ErrReordered, line: 3},
		{name: "moved to the end", mutate: func(ls []string) []string {
			l := ls[2]
			return append(slices.Delete(ls, 2, 3), l)
		}, err: ErrReordered, line: 3},
		{name: "duplicated", mutate: func(ls []string) []string { return slices.Insert(ls, 4, ls[2]) }, err: ErrReordered, line: 5},
		{name: "cut mid-line", mutate: func(ls []string) []string {
			ls[len(ls)-1] = ls[len(ls)-1][:40]
			return ls
		}, final: "", err: ErrTruncated, line: 16},
		{name: "cut mid-line early", mutate: func(ls []string) []string {
			ls[len(ls)-1] = ls[len(ls)-1][:40]
			return ls[:9]
		}, final: "", err: ErrTruncated, line: 9},
		{name: "cut at a record after the last seal", mutate: func(ls []string) []string { return ls[:15] }, unsealed: 3},
		{name: "cut two records after a seal", mutate: func(ls []string) []string { return ls[:14] }, unsealed: 2},
		// A cut right after a seal cannot be told from a log that ended
		// there: the package doc says so.
		{name: "cut right after a seal", mutate: func(ls []string) []string { return ls[:12] }},
		{name: "seal forged", mutate: func(ls []string) []string {
			r, _ := ParseRecord([]byte(ls[5]))
			sig, _ := hex.DecodeString(r.Sig)
			sig[0] ^= 1
			return edit(6, r.Sig, hex.EncodeToString(sig))(ls)
		}, err: ErrBadSeal, line: 6},
		{name: "seal made with another key", mutate: func(ls []string) []string {
			other := testKeys(t, "attacker")
			r, _ := ParseRecord([]byte(ls[5]))
			msg, _ := r.sealMessage()
			sig, _ := other.sign(msg)
			return edit(6, r.Sig, hex.EncodeToString(sig))(ls)
		}, err: ErrBadSeal, line: 6},
		{name: "seal time edited", mutate: func(ls []string) []string {
			r, _ := ParseRecord([]byte(ls[5]))
			r.Time = r.Time.Add(time.Second)
			b, _ := r.marshal()
			ls[5] = string(b)
			return rechain(t, ls, 6)
		}, err: ErrBadSeal, line: 6},
		{name: "edited and rechained", mutate: func(ls []string) []string {
			return rechain(t, edit(8, `"result":"ok"`, `"result":"no"`)(ls), 8)
		}, err: ErrBadSeal, line: 12},
		{name: "blank line", mutate: func(ls []string) []string { return slices.Insert(ls, 3, "") }, err: ErrMalformed, line: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			final := "\n"
			if tt.err == ErrTruncated {
				final = tt.final
			}
			res, err := verifyLines(k.VerifyKey(), tt.mutate(slices.Clone(orig)), final)
			if tt.err == nil {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				if res.Unsealed != tt.unsealed {
					t.Errorf("unsealed = %d, want %d", res.Unsealed, tt.unsealed)
				}
				return
			}
			if !isVerifyError(err, tt.err, tt.line) {
				t.Fatalf("got %v, want %v naming line %d", err, tt.err, tt.line)
			}
			t.Log(err)
		})
	}
}

func TestVerifyWrongKey(t *testing.T) {
	k := testKeys(t, "cluster")
	lines := writeLog(t, sealEvery5, k, 12)
	_, err := verifyLines(testKeys(t, "other cluster").VerifyKey(), lines, "\n")
	if !isVerifyError(err, ErrWrongKey, 6) {
		t.Fatalf("got %v, want ErrWrongKey at line 6", err)
	}
}

// logFiles returns path's rotated files and path, oldest first.
func logFiles(path string) []string {
	var files []string
	for i := 1; ; i++ {
		if _, err := os.Stat(fmt.Sprintf("%s.%d", path, i)); err != nil {
			break
		}
		files = append([]string{fmt.Sprintf("%s.%d", path, i)}, files...)
	}
	return append(files, path)
}

func TestRotation(t *testing.T) {
	k := testKeys(t, "cluster")
	path := filepath.Join(t.TempDir(), "audit.log")
	cfg := Config{Path: path, MaxSize: 4096, MaxFiles: 50, SealEvery: 7, SealInterval: time.Hour}
	l, _ := openTestLog(t, cfg, k)
	for i := range 200 {
		if err := l.Write(testRequest(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files := logFiles(path)
	if len(files) < 5 {
		t.Fatalf("only %d files after 200 records of 4096 bytes max", len(files))
	}
	res, err := VerifyFiles(k.VerifyKey(), files...)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Anchored || res.Unsealed != 0 || res.Records < 200 {
		t.Errorf("result %+v", res)
	}
	for _, f := range files[:len(files)-1] {
		fi, _ := os.Stat(f)
		if fi.Size() > 4096+1024 {
			t.Errorf("%s is %d bytes", f, fi.Size())
		}
	}

	// One file alone verifies, not anchored; without a middle file the
	// chain breaks where it was.
	res, err = VerifyFiles(k.VerifyKey(), files[2])
	if err != nil || res.Anchored || res.StartPrev == "" {
		t.Errorf("middle file alone: %+v, %v", res, err)
	}
	without := slices.Delete(slices.Clone(files), 2, 3)
	if _, err := VerifyFiles(k.VerifyKey(), without...); !isVerifyError(err, ErrDeleted, 1) {
		t.Errorf("without a middle file: got %v, want ErrDeleted at the next file's line 1", err)
	}
	swapped := slices.Clone(files)
	swapped[1], swapped[2] = swapped[2], swapped[1]
	if _, err := VerifyFiles(k.VerifyKey(), swapped...); !isVerifyError(err, ErrReordered, 1) {
		t.Errorf("files swapped: got %v, want ErrReordered", err)
	}
}

func TestRotationKeepsMaxFiles(t *testing.T) {
	k := testKeys(t, "cluster")
	path := filepath.Join(t.TempDir(), "audit.log")
	l, _ := openTestLog(t, Config{Path: path, MaxSize: 4096, MaxFiles: 2}, k)
	for i := range 200 {
		if err := l.Write(testRequest(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files := logFiles(path)
	if len(files) != 3 {
		t.Fatalf("files %v, want the log and 2 rotated", files)
	}
	res, err := VerifyFiles(k.VerifyKey(), files...)
	if err != nil || res.Anchored {
		t.Fatalf("%+v, %v", res, err)
	}
}

func TestReopenAfterLogrotate(t *testing.T) {
	k := testKeys(t, "cluster")
	path := filepath.Join(t.TempDir(), "audit.log")
	l, _ := openTestLog(t, Config{Path: path}, k)
	for i := range 10 {
		if err := l.Write(testRequest(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(path, path+"-20261202"); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := l.Write(testRequest(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := VerifyFiles(k.VerifyKey(), path+"-20261202", path)
	if err != nil || !res.Anchored || res.Unsealed != 0 {
		t.Fatalf("%+v, %v", res, err)
	}
	// The rotated-away file ends with a seal.
	old, err := VerifyFiles(k.VerifyKey(), path+"-20261202")
	if err != nil || old.Unsealed != 0 {
		t.Fatalf("old file: %+v, %v", old, err)
	}
}

func TestOpenContinuesChain(t *testing.T) {
	k := testKeys(t, "cluster")
	path := filepath.Join(t.TempDir(), "audit.log")
	writeLog(t, Config{Path: path}, k, 3)
	// A crash in the middle of a write leaves a partial line.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"seq":6,"prev":"00`)
	f.Close()
	lines := writeLog(t, Config{Path: path}, k, 3)
	res, err := VerifyFiles(k.VerifyKey(), path)
	if err != nil || res.Records != 10 || !res.Anchored {
		t.Fatalf("%+v, %v", res, err)
	}
	if !strings.Contains(lines[5], "dropped a partial record of 19 bytes") {
		t.Errorf("the open record does not say what was dropped: %s", lines[5])
	}
}

func TestOpenRefusesUnreadableTail(t *testing.T) {
	k := testKeys(t, "cluster")
	path := filepath.Join(t.TempDir(), "audit.log")
	os.WriteFile(path, []byte("not a record\n"), 0o600)
	if _, err := Open(&Config{Path: path}, k); err == nil || !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v, want ErrMalformed", err)
	}
	if _, err := Open(&Config{Path: filepath.Join(path, "x", "audit.log")}, k); err == nil {
		t.Fatal("opened a log in a directory that does not exist")
	}
}

func TestFailPolicy(t *testing.T) {
	k := testKeys(t, "cluster")
	for _, policy := range []Policy{FailClosed, FailOpen} {
		t.Run(policy.String(), func(t *testing.T) {
			var logged []string
			var mu sync.Mutex
			cfg := Config{Fail: policy, WriteTimeout: time.Second, Logf: func(f string, a ...any) {
				mu.Lock()
				defer mu.Unlock()
				logged = append(logged, fmt.Sprintf(f, a...))
			}}
			l, ff := openTestLog(t, cfg, k)
			if err := l.Write(testRequest(0)); err != nil || !l.Healthy() {
				t.Fatalf("healthy log: %v, %v", err, l.LastError())
			}
			ff.set(os.ErrPermission, nil)
			for i := range 3 {
				err := l.Write(testRequest(i))
				switch policy {
				case FailClosed:
					if !errors.Is(err, os.ErrPermission) {
						t.Fatalf("closed: Write returned %v, want the write error", err)
					}
				case FailOpen:
					if err != nil {
						t.Fatalf("open: Write returned %v", err)
					}
				}
			}
			waitFor(t, "unhealthy", func() bool { return !l.Healthy() })
			if !errors.Is(l.LastError(), os.ErrPermission) {
				t.Errorf("LastError = %v", l.LastError())
			}
			ff.set(nil, nil)
			if err := l.Write(testRequest(9)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "healthy", l.Healthy)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			res, err := VerifyFiles(k.VerifyKey(), l.cfg.Path)
			if err != nil || res.Unsealed != 0 {
				t.Fatalf("%+v, %v", res, err)
			}
			b, _ := os.ReadFile(l.cfg.Path)
			// Under the open policy Write does not wait, so the first
			// record may have been lost too: 3 or 4.
			lost := strings.Contains(string(b), `"kind":"lost","lost":3,`) || strings.Contains(string(b), `"kind":"lost","lost":4,`)
			if lost != (policy == FailOpen) {
				t.Errorf("lost record present = %v under %s:\n%s", lost, policy, b)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(logged) != 2 || !strings.Contains(logged[0], "is failing") || !strings.Contains(logged[1], "writable again") {
				t.Errorf("log lines: %q", logged)
			}
		})
	}
}

func TestHungDisk(t *testing.T) {
	k := testKeys(t, "cluster")
	for _, policy := range []Policy{FailClosed, FailOpen} {
		t.Run(policy.String(), func(t *testing.T) {
			l, ff := openTestLog(t, Config{Fail: policy, WriteTimeout: 200 * time.Millisecond, QueueSize: 8}, k)
			hang := make(chan struct{})
			ff.set(nil, hang)
			start := time.Now()
			err := l.Write(testRequest(0))
			if policy == FailClosed && !errors.Is(err, ErrTimeout) {
				t.Fatalf("closed: got %v, want ErrTimeout", err)
			}
			if policy == FailOpen && err != nil {
				t.Fatalf("open: got %v", err)
			}
			<-ff.writing
			// Once the write hangs past the timeout, Write fails (closed)
			// or returns (open) at once, and never blocks, however many.
			waitFor(t, "hung", func() bool { return errors.Is(l.LastError(), ErrUnhealthy) })
			t0 := time.Now()
			for i := range 100 {
				err := l.Write(testRequest(i))
				if policy == FailClosed && !errors.Is(err, ErrUnhealthy) {
					t.Fatalf("closed: got %v, want ErrUnhealthy", err)
				}
				if policy == FailOpen && err != nil {
					t.Fatalf("open: got %v", err)
				}
			}
			if d := time.Since(t0); d > 2*time.Second {
				t.Errorf("100 writes against a hung disk took %v", d)
			}
			if l.Healthy() {
				t.Error("healthy while the disk hangs")
			}
			ff.set(nil, nil)
			close(hang)
			waitFor(t, "healthy", l.Healthy)
			if err := l.Write(testRequest(0)); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := VerifyFiles(k.VerifyKey(), l.cfg.Path); err != nil {
				t.Fatal(err)
			}
			t.Logf("first write returned after %v", time.Since(start))
		})
	}
}

func TestCloseDoesNotHang(t *testing.T) {
	k := testKeys(t, "cluster")
	l, ff := openTestLog(t, Config{WriteTimeout: 100 * time.Millisecond}, k)
	hang := make(chan struct{})
	ff.set(nil, hang)
	l.Write(testRequest(0))
	if err := l.Close(); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Close on a hung disk: %v, want ErrTimeout", err)
	}
	if err := l.Write(testRequest(0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
	// Once the disk answers, the writer seals, closes and exits.
	ff.set(nil, nil)
	hang <- struct{}{}
	select {
	case <-l.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the writer did not exit after the disk recovered")
	}
	res, err := VerifyFiles(k.VerifyKey(), l.cfg.Path)
	if err != nil || res.Unsealed != 0 {
		t.Fatalf("%+v, %v", res, err)
	}
}

func TestConcurrentWriters(t *testing.T) {
	k := testKeys(t, "cluster")
	l, _ := openTestLog(t, Config{SealEvery: 13, SealInterval: 5 * time.Millisecond}, k)
	const writers, each = 8, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := l.Write(testRequest(w*each + i)); err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					l.Healthy()
				}
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := VerifyFiles(k.VerifyKey(), l.cfg.Path)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Records - uint64(res.Seals) - 1; got != writers*each {
		t.Errorf("%d requests in the log, want %d", got, writers*each)
	}
}

func TestSealInterval(t *testing.T) {
	k := testKeys(t, "cluster")
	l, _ := openTestLog(t, Config{SealInterval: 10 * time.Millisecond}, k)
	defer l.Close()
	if err := l.Write(testRequest(0)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a timed seal", func() bool {
		res, err := VerifyFiles(k.VerifyKey(), l.cfg.Path)
		return err == nil && res.Seals > 0 && res.Unsealed == 0
	})
}

func TestKeys(t *testing.T) {
	raw := make([]byte, crypto.KeySize)
	raw[0] = 7
	index, err := crypto.NewKey(1, raw)
	if err != nil {
		t.Fatal(err)
	}
	a, err := DeriveKeys(index)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewKeys(raw)
	ha, _ := a.HashName("db-password")
	hb, _ := b.HashName("db-password")
	hc, _ := b.HashName("db-password2")
	if ha != hb || ha == hc || len(ha) != 64 {
		t.Errorf("HashName: %s %s %s", ha, hb, hc)
	}
	nk, _ := a.NameKey()
	pk, err := ParseNameKey(" " + nk.Export() + "\n")
	if err != nil || !pk.Equal(nk) || pk.HashName("db-password") != ha {
		t.Errorf("name key round trip: %v", err)
	}
	vk, err := ParseVerifyKey(a.VerifyKey().String())
	if err != nil || vk != a.VerifyKey() {
		t.Errorf("verify key round trip: %v", err)
	}
	if _, err := ParseVerifyKey(nk.Export()); !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), "name key") {
		t.Errorf("a name key read as a verify key: %v", err)
	}
	if _, err := ParseNameKey("vault-audit-name-v1:zz"); !errors.Is(err, ErrBadKey) {
		t.Errorf("bad hex: %v", err)
	}
	for _, s := range []string{fmt.Sprint(a), fmt.Sprintf("%#v", nk), fmt.Sprint(nk), fmt.Sprintf("%+v", a)} {
		if strings.Contains(s, nk.Export()[len(nameKeyPrefix):][:16]) {
			t.Errorf("printed a key: %s", s)
		}
	}
	a.Wipe()
	if _, err := a.HashName("x"); !errors.Is(err, ErrKeysWiped) {
		t.Errorf("after Wipe: %v", err)
	}
}

func TestParsePolicy(t *testing.T) {
	for in, want := range map[string]Policy{"closed": FailClosed, "": FailClosed, "open": FailOpen} {
		if p, err := ParsePolicy(in); err != nil || p != want {
			t.Errorf("%q: %v %v", in, p, err)
		}
	}
	if _, err := ParsePolicy("maybe"); err == nil {
		t.Error("accepted maybe")
	}
}

// TestUnwritableFile makes the real file unwritable the way an operator
// can as root: the path becomes a directory, and the log reopens (SIGHUP).
func TestUnwritableFile(t *testing.T) {
	k := testKeys(t, "cluster")
	for _, policy := range []Policy{FailClosed, FailOpen} {
		t.Run(policy.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			l, err := Open(&Config{Path: path, Fail: policy}, k)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := l.Reopen(); err == nil {
				t.Fatal("Reopen onto a directory succeeded")
			}
			if l.Healthy() || l.State().LastError == "" {
				t.Fatalf("healthy after a failed reopen: %+v", l.State())
			}
			err = l.Write(testRequest(0))
			switch {
			case policy == FailClosed && err == nil:
				t.Fatal("closed: Write succeeded with no file to write")
			case policy == FailOpen && err != nil:
				t.Fatalf("open: Write returned %v", err)
			}
			waitFor(t, "the failure to show", func() bool { return !l.Healthy() })
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "a write to succeed", func() bool { return l.Write(testRequest(1)) == nil && l.Healthy() })
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			res, err := VerifyFiles(k.VerifyKey(), path+".1", path)
			if err != nil || res.Unsealed != 0 {
				t.Fatalf("%+v, %v", res, err)
			}
		})
	}
}

// TestLocked: a locked node has no audit keys. Its records are chained but
// not sealed until it unlocks; a log closed while locked ends unsealed.
func TestLocked(t *testing.T) {
	k := testKeys(t, "cluster")
	l, _ := openTestLog(t, Config{SealEvery: 2, SealInterval: time.Millisecond}, nil)
	for i := range 5 {
		if err := l.Write(testRequest(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.HashName("db"); !errors.Is(err, ErrNoKeys) {
		t.Errorf("HashName while locked: %v", err)
	}
	res, err := VerifyFiles(k.VerifyKey(), l.cfg.Path)
	if err != nil || res.Seals != 0 || res.Unsealed != 6 {
		t.Fatalf("locked: %+v, %v", res, err)
	}
	// Unlock: the next seal covers everything written while locked.
	if err := l.SetKeys(k); err != nil {
		t.Fatal(err)
	}
	res, err = VerifyFiles(k.VerifyKey(), l.cfg.Path)
	if err != nil || res.Seals != 1 || res.Unsealed != 0 {
		t.Fatalf("unlocked: %+v, %v", res, err)
	}
	// Lock again: the keys can be wiped once SetKeys(nil) returns.
	if err := l.SetKeys(nil); err != nil {
		t.Fatal(err)
	}
	k.Wipe()
	for i := range 3 {
		if err := l.Write(testRequest(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	res, err = VerifyFiles(k.VerifyKey(), l.cfg.Path)
	if err != nil || res.Seals != 1 || res.Unsealed != 3 {
		t.Fatalf("closed while locked: %+v, %v", res, err)
	}
}

// TestCloseRacingTheSealTicker: Close marks the log closed before it hands
// the writer its request. A tick in between must not make the writer finish
// the close on its own (that path is for a Close that gave up on a hung
// disk), or Close would find the writer gone and report ErrClosed for a log
// it closed cleanly.
func TestCloseRacingTheSealTicker(t *testing.T) {
	k := testKeys(t, "cluster")
	for i := range 300 {
		l, _ := openTestLog(t, Config{SealInterval: time.Millisecond}, k)
		if err := l.Write(testRequest(i)); err != nil {
			t.Fatal(err)
		}
		// Let the ticker run so that it is likely to fire during Close.
		time.Sleep(time.Duration(i%3) * 100 * time.Microsecond)
		if err := l.Close(); err != nil {
			t.Fatalf("close %d: %v", i, err)
		}
	}
}
