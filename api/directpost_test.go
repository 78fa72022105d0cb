package api

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// directServer is socketServerIdle without the server.
func directServer(t *testing.T, h http.HandlerFunc, idle time.Duration) (string, *atomic.Int64) {
	t.Helper()
	_, sock, conns := socketServerIdle(t, h, idle)
	return sock, conns
}

func TestDirectPostReusesAndAnswers(t *testing.T) {
	var bodies []string
	sock, conns := directServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Type") != ContentTypeData || r.ContentLength != int64(len(b)) {
			t.Errorf("content type %q, length %d for %d bytes", r.Header.Get("Content-Type"), r.ContentLength, len(b))
		}
		bodies = append(bodies, r.URL.Query().Get("name")+"="+string(b))
		if r.URL.Query().Get("name") == "dup" {
			WriteError(w, Errorf(CodeExists, "secret dup already exists"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"abc","name":"`+r.URL.Query().Get("name")+`","version":1}`)
	}, time.Minute)
	c := NewClient(sock)
	ctx := context.Background()
	for _, n := range []string{"a", "b", "c"} {
		ref, err := c.CreateSecret(ctx, CreateSecretRequest{Name: n, Data: []byte("v-" + n)})
		if err != nil {
			t.Fatal(err)
		}
		if ref.ID != "abc" || ref.Name != n {
			t.Fatalf("answer %+v", ref)
		}
	}
	_, err := c.CreateSecret(ctx, CreateSecretRequest{Name: "dup", Data: []byte("x")})
	var ae *Error
	if !errors.As(err, &ae) || ae.Code != CodeExists {
		t.Fatalf("error %v, want %s", err, CodeExists)
	}
	if _, err := c.UpdateSecret(ctx, "a", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if got := conns.Load(); got != 1 {
		t.Fatalf("%d connections for 5 writes, want 1", got)
	}
	if len(bodies) != 5 || bodies[0] != "a=v-a" || bodies[3] != "dup=x" {
		t.Fatalf("server saw %q", bodies)
	}
}

func TestDirectPostAfterServerClosedIdle(t *testing.T) {
	var writes atomic.Int32
	sock, conns := directServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		writes.Add(1)
		io.WriteString(w, `{"id":"x","version":1}`)
	}, 50*time.Millisecond)
	c := NewClient(sock)
	if _, err := c.CreateSecret(context.Background(), CreateSecretRequest{Name: "a", Data: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the server closes the idle connection
	if _, err := c.CreateSecret(context.Background(), CreateSecretRequest{Name: "b", Data: []byte("2")}); err != nil {
		t.Fatalf("write after the idle connection closed: %v", err)
	}
	if conns.Load() != 2 || writes.Load() != 2 {
		t.Fatalf("%d connections, %d writes; want 2, 2", conns.Load(), writes.Load())
	}
}

func TestDirectPostContextEnds(t *testing.T) {
	release := make(chan struct{})
	sock, _ := directServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		<-release
	}, time.Minute)
	defer close(release)
	c := NewClient(sock)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.CreateSecret(ctx, CreateSecretRequest{Name: "a", Data: []byte("1")})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the context's", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("returned after %v", d)
	}
	c.direct.mu.Lock()
	n := len(c.direct.idle)
	c.direct.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d idle connections kept after an interrupted write", n)
	}
}

func TestDirectPostNoDaemon(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), "none.sock"))
	_, err := c.CreateSecret(context.Background(), CreateSecretRequest{Name: "a", Data: []byte("1")})
	var ae *Error
	if !errors.As(err, &ae) || ae.Code != "no_daemon" {
		t.Fatalf("error %v, want no_daemon", err)
	}
}

// BenchmarkSecretWritePost compares a secret write through net/http's
// Transport with the direct path, against a server that reads the body and
// answers at once (go test -run '^$' -bench SecretWritePost ./api).
func BenchmarkSecretWritePost(b *testing.B) {
	sock := filepath.Join(b.TempDir(), "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"id":"abc","name":"n","version":1}`)
	})}
	go srv.Serve(l)
	defer srv.Close()
	data := make([]byte, 1024)
	ctx := context.Background()
	for _, direct := range []bool{false, true} {
		name := "net-http"
		if direct {
			name = "direct"
		}
		b.Run(name, func(b *testing.B) {
			c := NewClient(sock)
			if !direct {
				c.direct = nil
			}
			for i := 0; i < b.N; i++ {
				if _, err := c.CreateSecret(ctx, CreateSecretRequest{Name: "n", Data: data}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A write connection left unused is closed, giving the daemon its slot back.
func TestDirectPostClosesIdle(t *testing.T) {
	defer func(d time.Duration) { directIdle = d }(directIdle)
	directIdle = 100 * time.Millisecond
	closed := make(chan struct{}, 1)
	sock := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"id":"x","version":1}`)
	}), ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed <- struct{}{}
		}
	}}
	go srv.Serve(l)
	defer srv.Close()
	c := NewClient(sock)
	if _, err := c.CreateSecret(context.Background(), CreateSecretRequest{Name: "a", Data: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the idle write connection was not closed")
	}
	c.direct.mu.Lock()
	n := len(c.direct.idle)
	c.direct.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d idle connections left", n)
	}
}
