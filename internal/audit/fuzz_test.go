package audit

import (
	"bytes"
	"os"
	"testing"
)

// FuzzParseRecord: whatever ParseRecord accepts re-encodes to the same
// bytes, so no two lines parse to one record and an edit always changes
// the hash. Verify never panics on any input.
func FuzzParseRecord(f *testing.F) {
	k := testKeys(f, "cluster")
	l, _ := openTestLog(f, Config{SealEvery: 3}, k)
	for i := range 5 {
		l.Write(testRequest(i))
	}
	l.Close()
	b, _ := os.ReadFile(l.cfg.Path)
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		f.Add(line)
	}
	f.Add([]byte(`{"seq":1}`))
	f.Add([]byte(`{"seq":1,"prev":"00","time":"2026-01-01T00:00:00Z","kind":"seal"}`))
	vk := k.VerifyKey()
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := ParseRecord(line)
		if err == nil {
			b, err := r.marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, line) {
				t.Fatalf("parsed %q, re-encoded %q", line, b)
			}
		}
		Verify(vk, Input{Name: "f", R: bytes.NewReader(line)})
		Verify(vk, Input{Name: "f", R: bytes.NewReader(append(append([]byte(nil), line...), '\n'))})
	})
}
