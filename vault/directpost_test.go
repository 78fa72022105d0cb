package vault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vaultd/vault/api"
)

// api.Client's direct secret writes against wipeAfter on the local API:
// answers, refusals and large bodies share the connection wipeAfter hands
// back, and a write refused before its body was read does not desync it.
func TestClientDirectWritesThroughWipeAfter(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/secrets", wipeAfter(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("name") == "refused" {
			writeError(w, api.Errorf(api.CodeInvalid, "refused before the body"))
			return
		}
		data, err := readSecretData(r)
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"id\":\"%d\",\"name\":%q,\"version\":1}\n", len(data), r.URL.Query().Get("name"))
	}))
	srv := &http.Server{Handler: mux}
	g := limitLocalServer(srv, cl).(*gate)
	go srv.Serve(g)
	defer srv.Close()

	c := api.NewClient(sock)
	ctx := context.Background()
	for i := range 30 {
		name := fmt.Sprint("s", i)
		if i%5 == 4 {
			_, err := c.CreateSecret(ctx, api.CreateSecretRequest{Name: "refused", Data: []byte(strings.Repeat("r", i*900))})
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Code != api.CodeInvalid {
				t.Fatalf("write %d: %v, want %s", i, err, api.CodeInvalid)
			}
			continue
		}
		ref, err := c.CreateSecret(ctx, api.CreateSecretRequest{Name: name, Data: []byte(strings.Repeat("v", i*900))})
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if ref.ID != fmt.Sprint(i*900) || ref.Name != name {
			t.Fatalf("write %d: %+v", i, ref)
		}
	}
	if n := cl.n.Load(); n != 1 {
		t.Fatalf("%d connections for 30 writes, want 1", n)
	}
}
