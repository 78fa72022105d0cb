package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// TestSecretKeyListStream: a keys-only list, written element by element
// and in encoded runs, reads back as written, and reads as one JSON array
// for any other client; a list cut short is an error.
func TestSecretKeyListStream(t *testing.T) {
	for _, n := range []int{0, 1, 5, 2000} {
		var buf bytes.Buffer
		lw := NewSecretListWriter(&buf)
		want := []SecretKey{}
		var run []byte
		runN := 0
		for i := range n {
			k := SecretKey{ID: fmt.Sprintf("id%d", i), Name: fmt.Sprintf("n<&>\"%d", i%7)}
			want = append(want, k)
			if i%3 == 0 {
				if err := lw.AddKey(k.ID, k.Name); err != nil {
					t.Fatal(err)
				}
				continue
			}
			// The others go in runs, as a server's parts do.
			if runN > 0 {
				run = append(run, ",\n"...)
			}
			run, runN = AppendSecretKey(run, k.ID, k.Name), runN+1
			if i%3 == 2 {
				if err := lw.AddEncoded(run, runN); err != nil {
					t.Fatal(err)
				}
				run, runN = nil, 0
			}
		}
		if err := lw.AddEncoded(run, runN); err != nil {
			t.Fatal(err)
		}
		if err := lw.Close(); err != nil {
			t.Fatal(err)
		}
		whole := []SecretKey{}
		if err := json.Unmarshal(buf.Bytes(), &whole); err != nil || !reflect.DeepEqual(whole, want) {
			t.Fatalf("%d keys: json.Unmarshal: %d, %v\n%.300s", n, len(whole), err, buf.Bytes())
		}
		got := []SecretKey{}
		if err := readList(bytes.NewReader(buf.Bytes()), DecodeSecretKey, func(k *SecretKey) error { got = append(got, *k); return nil }); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%d keys: streamed list differs from what was written", n)
		}
		for cut := 0; cut < buf.Len(); cut += 1 + buf.Len()/50 {
			if err := readList(bytes.NewReader(buf.Bytes()[:cut]), DecodeSecretKey, func(*SecretKey) error { return nil }); err == nil {
				t.Fatalf("%d keys cut at %d of %d: no error", n, cut, buf.Len())
			}
		}
	}
}

// TestSecretKeyFromWholeList: a server from before keys-only lists answers
// with whole secrets; their ids and names are read from it.
func TestSecretKeyFromWholeList(t *testing.T) {
	var buf bytes.Buffer
	lw := NewSecretListWriter(&buf)
	for _, s := range testSecrets() {
		if err := lw.Add(&s); err != nil {
			t.Fatal(err)
		}
	}
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	var got []SecretKey
	if err := readList(bytes.NewReader(buf.Bytes()), DecodeSecretKey, func(k *SecretKey) error { got = append(got, *k); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []SecretKey{{"a1", "db"}, {"b2", "x.y-z_w"}, {"c3", "n"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestSortSecrets(t *testing.T) {
	l := []Secret{{ID: "3", Name: "b"}, {ID: "2", Name: "a"}, {ID: "1", Name: "b"}, {ID: "0", Name: "c", Size: 7}}
	got := sortSecrets(l)
	want := []Secret{{ID: "2", Name: "a"}, {ID: "1", Name: "b"}, {ID: "3", Name: "b"}, {ID: "0", Name: "c", Size: 7}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// FuzzDecodeSecretKey checks that what DecodeSecretKey takes, it reads as
// json.Unmarshal reads a SecretKey.
func FuzzDecodeSecretKey(f *testing.F) {
	f.Add(AppendSecretKey(nil, "a", "b"))
	f.Add(AppendSecret(nil, &testSecrets()[0]))
	for _, s := range []string{`{"ID":"a","ID":"b"}`, `{"id":"a"}`, `{"Name":"a\u0041"}`, `{"ID":1}`, `{}`, `[]`, `{"ID":"a"} x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got, want SecretKey
		if DecodeSecretKey(b, &got) != nil {
			return
		}
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("%q: DecodeSecretKey took it, json.Unmarshal: %v", b, err)
		}
		if got != want {
			t.Fatalf("%q: got %#v, want %#v", b, got, want)
		}
	})
}

// TestMergeKeys: runs sorted on their own and merged give the keys sorted
// by name, then id, for any number and length of runs.
func TestMergeKeys(t *testing.T) {
	if got := mergeKeys(nil); got == nil || len(got) != 0 {
		t.Errorf("no runs: %#v, want an empty slice", got)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 7, keyRun - 1, keyRun, keyRun + 1, 5*keyRun + 3} {
		var all []SecretKey
		for range n {
			// Few names, so that many keys share one and the id decides.
			all = append(all, SecretKey{ID: fmt.Sprintf("id%06d", rnd.IntN(n)), Name: fmt.Sprintf("n%d", rnd.IntN(max(1, n/3)))})
		}
		want := slices.Clone(all)
		slices.SortFunc(want, compareKeys)
		var runs [][]SecretKey
		for rest := all; len(rest) > 0; {
			k := min(len(rest), 1+rnd.IntN(2*keyRun))
			run := slices.Clone(rest[:k])
			slices.SortFunc(run, compareKeys)
			runs, rest = append(runs, run), rest[k:]
		}
		if got := mergeKeys(runs); !slices.Equal(got, want) {
			t.Errorf("%d keys in %d runs: not merged in order", n, len(runs))
		}
	}
}

// TestSortedKeys: keys added one by one come back sorted, from none to
// several full runs and a part of one.
func TestSortedKeys(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 3, keyRun, 3*keyRun + 5} {
		var s sortedKeys
		want := make([]SecretKey, 0, n)
		for range n {
			k := SecretKey{ID: fmt.Sprintf("id%08d", rnd.IntN(1<<30)), Name: fmt.Sprintf("name-%d", rnd.IntN(n))}
			s.add(k)
			want = append(want, k)
		}
		slices.SortFunc(want, compareKeys)
		if got := s.sorted(); got == nil || !slices.Equal(got, want) {
			t.Errorf("%d keys: not sorted by name, then id (nil: %v)", n, got == nil)
		}
	}
}
