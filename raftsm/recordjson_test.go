package raftsm

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestDecodeRecordMatchesJSON(t *testing.T) {
	recs := []SecretRecord{
		{ID: "abc", Name: "db-password", Created: 1, Updated: 2, Versions: []VersionInfo{{Version: 1, Size: 10, Created: 1}}},
		{ID: "abc", Name: "x", Labels: map[string]string{"env": "prod", "a": ""}, Created: -5, Updated: 1 << 62,
			Versions: []VersionInfo{{Version: 1, Size: 0, Created: 1}, {Version: 4294967295, Size: 512000, Created: 3}}},
		{ID: "weird", Name: "l", Labels: map[string]string{"k\"q": "v\n<>&é"}, Versions: []VersionInfo{}},
		{ID: "keyed", Name: "k", Versions: []VersionInfo{{Version: 1, Size: 3, Key: []byte("0123456789abcdef0123456789abcdef")}, {Version: 2, Key: []byte{0xff, 0, 1}}}},
	}
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var got SecretRecord
		if err := DecodeRecord(b, &got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		var want SecretRecord
		_ = json.Unmarshal(b, &want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", b, got, want)
		}
	}
}

// FuzzDecodeRecord checks that DecodeRecord decides and decodes exactly
// as json.Unmarshal does, fast path or not.
func FuzzDecodeRecord(f *testing.F) {
	for _, s := range []string{
		`{"id":"a","name":"b","created":1,"updated":2,"versions":[{"version":1,"size":3,"created":4}]}`,
		`{"id":"a","labels":{"k":"v","k":"w"}}`, `{"ID":"a"}`, `{"id":"a","id":"b"}`, `{"created":1.0}`,
		`{"created":01}`, `{"versions":null}`, `{"size":-0}`, `{"versions":[{"version":4294967296}]}`,
		`{"name":"a\u0041"}`, ` {"id" : "x" } `, `{"id":"x"} x`, `{}`, `[]`, `{"labels":{}}`,
		`{"versions":[{"version":1,"key":"AAAA"}]}`, `{"versions":[{"key":"!!"}]}`, `{"versions":[{"key":null}]}`,
		`{"versions":[{"key":""}]}`, `{"versions":[{"key":"QQ=="}]}`, `{"versions":[{"key":"QQ"}]}`, `{"versions":[{"key":"Q\/=="}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got, want SecretRecord
		gotErr := DecodeRecord(b, &got)
		wantErr := json.Unmarshal(b, &want)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: DecodeRecord %v, json.Unmarshal %v", b, gotErr, wantErr)
		}
		if wantErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %#v\nwant %#v", b, got, want)
		}
	})
}
