package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func testSecrets() []Secret {
	t0 := time.Unix(1700000000, 123456789).UTC()
	many := make([]SecretVersion, 1000) // a line longer than the reader's buffer
	for i := range many {
		many[i] = SecretVersion{Version: uint32(i + 1), Size: i, CreatedAt: t0.Add(time.Duration(i))}
	}
	return []Secret{
		{ID: "a1", Name: "db", Labels: map[string]string{}, CreatedAt: t0, UpdatedAt: t0, Version: 1, Size: 3,
			Versions: []SecretVersion{{Version: 1, Size: 3, CreatedAt: t0}}},
		{ID: "b2", Name: "x.y-z_w", Labels: map[string]string{"env": "prod", "<k>": "v&\"\n", "é": "ü"},
			CreatedAt: t0.Add(time.Second), UpdatedAt: time.Unix(1, 0).In(time.FixedZone("x", 3600)), Version: 1000, Size: 999, Versions: many, MaxVersions: 1000},
		{ID: "c3", Name: "n", Labels: nil, Versions: nil},
	}
}

func TestAppendSecretMatchesJSON(t *testing.T) {
	for _, s := range testSecrets() {
		want, err := json.Marshal(&s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendSecret(nil, &s); !bytes.Equal(got, want) {
			t.Errorf("AppendSecret:\n got %.300s\nwant %.300s", got, want)
		}
		var got, ref Secret
		if err := DecodeSecret(want, &got); err != nil {
			t.Fatal(err)
		}
		_ = json.Unmarshal(want, &ref)
		if !reflect.DeepEqual(got, ref) {
			t.Errorf("DecodeSecret of %.200s differs from json.Unmarshal", want)
		}
	}
}

func TestSecretListStream(t *testing.T) {
	for _, n := range []int{0, 1, 3, 40} {
		var buf bytes.Buffer
		lw := NewSecretListWriter(&buf)
		var want []Secret
		for i := 0; i < n; i++ {
			s := testSecrets()[i%3]
			if i > 3 && i%3 == 1 {
				s = testSecrets()[0] // one long line is enough
			}
			want = append(want, s)
			if err := lw.Add(&s); err != nil {
				t.Fatal(err)
			}
		}
		if err := lw.Close(); err != nil {
			t.Fatal(err)
		}
		// Any JSON client reads it as one array.
		var whole []Secret
		if err := json.Unmarshal(buf.Bytes(), &whole); err != nil || len(whole) != n {
			t.Fatalf("%d secrets: json.Unmarshal: %d, %v", n, len(whole), err)
		}
		got := []Secret{}
		if err := readSecretList(bytes.NewReader(buf.Bytes()), func(s *Secret) error { got = append(got, *s); return nil }); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, whole) {
			t.Fatalf("%d secrets: streamed list differs from the whole array", n)
		}
		// A list cut anywhere before its end is an error, never a shorter list.
		for cut := 0; cut < buf.Len(); cut += 1 + buf.Len()/50 {
			err := readSecretList(bytes.NewReader(buf.Bytes()[:cut]), func(*Secret) error { return nil })
			if err == nil {
				t.Fatalf("%d secrets cut at %d of %d: no error", n, cut, buf.Len())
			}
		}
	}
	// An answer on one line (an older server) is read whole.
	one, _ := json.Marshal(testSecrets())
	var got []Secret
	if err := readSecretList(bytes.NewReader(one), func(s *Secret) error { got = append(got, *s); return nil }); err != nil || len(got) != 3 {
		t.Fatalf("one-line array: %d, %v", len(got), err)
	}
	stop := errors.New("stop")
	if err := readSecretList(strings.NewReader("[\n"+string(AppendSecret(nil, &testSecrets()[0]))+"\n]\n"), func(*Secret) error { return stop }); err != stop {
		t.Fatalf("f's error: %v", err)
	}
	if err := readSecretList(io.LimitReader(strings.NewReader("[\n{\"ID\":\"a\"}\n"), 100), func(*Secret) error { return nil }); err == nil {
		t.Fatal("a list without its end: no error")
	}
}

// FuzzDecodeSecret checks that DecodeSecret decides and decodes exactly
// as json.Unmarshal does.
func FuzzDecodeSecret(f *testing.F) {
	for _, s := range testSecrets()[:1] {
		f.Add(AppendSecret(nil, &s))
	}
	for _, s := range []string{`{"ID":"a","ID":"b"}`, `{"id":"a"}`, `{"CreatedAt":"2020-01-01T00:00:00+01:00"}`,
		`{"Labels":null}`, `{"Version":-1}`, `{"Size":1e3}`, `{"Versions":[{"Version":1,"version":2}]}`, `{"CreatedAt":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got, want Secret
		gotErr := DecodeSecret(b, &got)
		wantErr := json.Unmarshal(b, &want)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: DecodeSecret %v, json.Unmarshal %v", b, gotErr, wantErr)
		}
		if wantErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %#v\nwant %#v", b, got, want)
		}
	})
}
