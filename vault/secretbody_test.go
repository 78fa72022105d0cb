package vault

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
)

// sizeServer answers a secret write with the size of the data it read.
func sizeServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(wipeAfter(func(w http.ResponseWriter, r *http.Request) {
		data, err := readSecretData(r)
		if err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "{\"Size\":%d}\n", len(data))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A body cut off before its Content-Length is an error, never the whole
// secret.
func TestWipeAfterShortBody(t *testing.T) {
	srv := sizeServer(t)
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "POST /v1/secrets?name=s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: 100\r\n\r\nonly-ten-b", api.ContentTypeData)
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "bad request body") {
		t.Fatalf("short body: %d %q, want 400 bad request body", resp.StatusCode, b)
	}
}

// A body of unknown length (chunked) and one of known length both reach
// the handler whole, and every write's connection is closed after it.
func TestWipeAfterBodies(t *testing.T) {
	srv := sizeServer(t)
	value := strings.Repeat("v", 10000) // more than net/http's read buffer
	for name, body := range map[string]io.Reader{
		"known length": strings.NewReader(value),
		"chunked":      io.MultiReader(strings.NewReader(value)), // hides the length
	} {
		resp, err := http.Post(srv.URL, api.ContentTypeData, body)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || !strings.Contains(string(b), `{"Size":10000}`) || !resp.Close {
			t.Errorf("%s: %d %q (close %v)", name, resp.StatusCode, b, resp.Close)
		}
	}
}

// A body over the limit is refused by its Content-Length, and the answer
// still arrives.
func TestWipeAfterTooLarge(t *testing.T) {
	srv := sizeServer(t)
	resp, err := http.Post(srv.URL, api.ContentTypeData, strings.NewReader(strings.Repeat("v", MaxDataSize+1)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "over the limit") && !strings.Contains(string(b), "the limit is") {
		t.Fatalf("too large: %d %q", resp.StatusCode, b)
	}
}

// BenchmarkSecretWriteHTTP is one secret write over a Unix socket from a
// keep-alive client, through wipeAfter on a server that is not the local
// API (a connection per write), through wipeAfter on the local API (the
// connection handed back), through the local API's hot loop, and through
// a plain handler (the connection kept): what taking the connection over costs a write, client and server
// in one process (docs/PERFORMANCE.md).
func BenchmarkSecretWriteHTTP(b *testing.B) {
	h := func(w http.ResponseWriter, r *http.Request) {
		data, err := readSecretData(r)
		if err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "{\"Size\":%d}\n", len(data))
	}
	value := strings.Repeat("v", 1024)
	for _, bc := range []struct {
		name    string
		handler http.HandlerFunc
		local   bool // served as the local API is: the connection goes back (keepconn.go)
		hot     bool // and in front of it the local API's hot loop (localhttp.go)
	}{{"wipeAfter", wipeAfter(h), false, false}, {"wipeAfter-local", wipeAfter(h), true, false}, {"hot-loop", wipeAfter(h), true, true}, {"plain", h, false, false}} {
		b.Run(bc.name, func(b *testing.B) {
			sock := filepath.Join(b.TempDir(), "s")
			var ln net.Listener
			ln, err := net.Listen("unix", sock)
			if err != nil {
				b.Fatal(err)
			}
			srv := &http.Server{Handler: bc.handler}
			if bc.local {
				ln = limitLocalServer(srv, ln)
			}
			if bc.hot {
				ln = newHotListener(srv, ln.(*gate), hotRoutes{create: h}, func() bool { return true }, nil)
			}
			go srv.Serve(ln)
			defer srv.Close()
			c := api.NewClient(sock)
			for b.Loop() {
				if _, err := c.CreateSecret(context.Background(), api.CreateSecretRequest{Name: "s", Data: []byte(value)}); err != nil && !api.IsCode(err, api.CodeInternal) {
					b.Fatal(err)
				}
			}
		})
	}
}
