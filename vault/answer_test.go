package vault

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
)

// writeAnswer writes what json.Encoder writes, for the secret answers it
// builds itself and for everything else.
func TestWriteAnswerMatchesEncoder(t *testing.T) {
	at := time.Date(2026, 12, 3, 12, 0, 0, 123456789, time.UTC)
	secret := func() *api.Secret {
		return &api.Secret{
			ID: "0123456789abcdef", Name: "db/password<&>", Labels: map[string]string{"env": "prod", "é": "\u2028"},
			CreatedAt: at, UpdatedAt: at.Add(time.Second), Version: 2, Size: 1024, MaxVersions: 3,
			Versions: []api.SecretVersion{{Version: 1, Size: 10, CreatedAt: at}, {Version: 2, Size: 1024, CreatedAt: at.Add(time.Second)}},
		}
	}
	granted := secret()
	granted.Grants = []api.Grant{{SecretID: granted.ID, NodeID: "n1", CreatedAt: at}}
	bare := &api.Secret{ID: "x", Name: "y"}
	for name, out := range map[string]any{
		"secret":         secret(),
		"secret, grants": granted,
		"secret, bare":   bare,
		"other":          &api.SecretRef{ID: "x", Name: "y"},
		"empty":          struct{}{},
	} {
		t.Run(name, func(t *testing.T) {
			var want bytes.Buffer
			if err := json.NewEncoder(&want).Encode(out); err != nil {
				t.Fatal(err)
			}
			for range 2 { // the second from a pooled buffer
				rec := httptest.NewRecorder()
				writeAnswer(rec, out)
				if got := rec.Body.Bytes(); !bytes.Equal(got, want.Bytes()) {
					t.Fatalf("answer:\n got %s\nwant %s", got, want.Bytes())
				}
				if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
					t.Fatalf("Content-Type %q", ct)
				}
			}
		})
	}
}

// BenchmarkWriteAnswer is an inspect answer written by writeAnswer and by
// json.Encoder, as the handler wrote it before:
//
//	go test -run '^$' -bench BenchmarkWriteAnswer -benchmem ./vault
func BenchmarkWriteAnswer(b *testing.B) {
	at := time.Date(2026, 12, 3, 12, 0, 0, 123456789, time.UTC)
	s := &api.Secret{ID: "0123456789abcdef0123456789", Name: "bench/secret-000123", Labels: map[string]string{},
		CreatedAt: at, UpdatedAt: at, Version: 1, Size: 1024, Versions: []api.SecretVersion{{Version: 1, Size: 1024, CreatedAt: at}}}
	b.Run("writeAnswer", func(b *testing.B) {
		rec := httptest.NewRecorder()
		for b.Loop() {
			rec.Body.Reset()
			writeAnswer(rec, s)
		}
	})
	b.Run("json.Encoder", func(b *testing.B) {
		rec := httptest.NewRecorder()
		for b.Loop() {
			rec.Body.Reset()
			rec.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(rec).Encode(s)
		}
	})
}
