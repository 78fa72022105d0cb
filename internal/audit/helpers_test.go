package audit

import (
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testKeys returns keys derived from a fixed secret named by label.
func testKeys(t testing.TB, label string) *Keys {
	t.Helper()
	s := sha256.Sum256([]byte(label))
	k, err := NewKeys(s[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// faultFile wraps a real file; a test makes its writes fail or hang.
type faultFile struct {
	*os.File
	ff *faults
}

type faults struct {
	mu      sync.Mutex
	fail    error         // every write fails with it
	hang    chan struct{} // writes block until it is closed
	writing chan struct{} // signalled when a write blocks
}

func (f *faultFile) Write(b []byte) (int, error) {
	f.ff.mu.Lock()
	fail, hang := f.ff.fail, f.ff.hang
	f.ff.mu.Unlock()
	if hang != nil {
		select {
		case f.ff.writing <- struct{}{}:
		default:
		}
		<-hang
	}
	if fail != nil {
		return 0, fail
	}
	return f.File.Write(b)
}

func (ff *faults) set(fail error, hang chan struct{}) {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	ff.fail, ff.hang = fail, hang
}

// openTestLog opens a log in a temporary directory whose file writes go
// through ff.
func openTestLog(t testing.TB, cfg Config, keys *Keys) (*Log, *faults) {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = filepath.Join(t.TempDir(), "audit.log")
	}
	ff := &faults{writing: make(chan struct{}, 1)}
	of := func(path string) (file, int64, error) {
		f, size, err := openFile(path)
		if err != nil {
			return nil, 0, err
		}
		return &faultFile{File: f.(*os.File), ff: ff}, size, nil
	}
	l, err := open(&cfg, keys, of, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return l, ff
}

func testRequest(i int) *Record {
	return &Record{
		Identity: &Identity{Kind: IdentitySocket, Peer: &Peer{UID: 0, PID: int32(1000 + i)}},
		Route:    "POST /v1/secrets", Op: "secret.create",
		SecretID: "s" + strings.Repeat("0", 10), NameHMAC: strings.Repeat("ab", 32),
		Result: ResultOK,
	}
}

// writeLog writes n requests and closes the log; it returns the file's lines.
func writeLog(t *testing.T, cfg Config, keys *Keys, n int) []string {
	t.Helper()
	l, _ := openTestLog(t, cfg, keys)
	for i := range n {
		if err := l.Write(testRequest(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(l.cfg.Path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func verifyLines(key VerifyKey, lines []string, final string) (*Result, error) {
	return Verify(key, Input{Name: "audit.log", R: strings.NewReader(strings.Join(lines, "\n") + final)})
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func isVerifyError(err error, target error, line int) bool {
	var ve *VerifyError
	return errors.As(err, &ve) && errors.Is(err, target) && (line == 0 || ve.Line == line)
}
