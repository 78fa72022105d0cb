package vault

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
)

// countingListener counts the connections it accepted.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// On the local API, secret writes of a keep-alive client share one
// connection: wipeAfter hands it back to the server after each answer,
// and every slot it took is given back once the client goes.
func TestWipeAfterKeepsLocalConnection(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/secrets", wipeAfter(func(w http.ResponseWriter, r *http.Request) {
		data, err := readSecretData(r)
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"ID\":\"%d\",\"Name\":%q,\"Version\":1}\n", len(data), r.URL.Query().Get("name"))
	}))
	srv := &http.Server{Handler: mux}
	g := limitLocalServer(srv, cl).(*gate)
	go srv.Serve(g)
	defer srv.Close()

	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	post := func(name, ctype, body string) (int, string, bool) {
		t.Helper()
		resp, err := hc.Post("http://vault/v1/secrets?name="+name, ctype, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Close
	}
	for i := range 20 {
		name := fmt.Sprint("s", i)
		code, body, closed := post(name, api.ContentTypeData, strings.Repeat("v", i*700))
		if code != http.StatusOK || !strings.Contains(body, fmt.Sprintf("\"ID\":\"%d\"", i*700)) || !strings.Contains(body, name) || closed {
			t.Fatalf("write %d: %d %q (close %v)", i, code, body, closed)
		}
	}
	// A refused write (a bad content type) keeps the connection too.
	for range 3 {
		if code, body, closed := post("x", "application/json", "{}"); code != http.StatusBadRequest || closed {
			t.Fatalf("refused write: %d %q (close %v)", code, body, closed)
		}
	}
	if n := cl.n.Load(); n != 1 {
		t.Fatalf("%d connections accepted for one keep-alive client, want 1", n)
	}
	hc.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for len(g.sem) != 1 { // the one the server's waiting Accept holds
		if time.Now().After(deadline) {
			t.Fatalf("%d connection slots taken after the client left, want 1 (the server's waiting Accept)", len(g.sem))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
