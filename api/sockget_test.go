package api

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// socketServer serves h on a Unix socket in a temporary directory and
// counts the connections it accepted.
func socketServer(t *testing.T, h http.HandlerFunc) (*http.Server, string, *atomic.Int64) {
	return socketServerIdle(t, h, 0)
}

// socketServerIdle is socketServer closing connections idle for idle (0:
// net/http's default).
func socketServerIdle(t *testing.T, h http.HandlerFunc, idle time.Duration) (*http.Server, string, *atomic.Int64) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int64
	srv := &http.Server{Handler: h, IdleTimeout: idle, ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return srv, sock, &conns
}

// A socket GET keeps its connection for the next one, answers as the
// net/http path does (JSON, the error envelope, a bare status), and makes
// the GET again on a new connection when the daemon closed the kept one.
func TestSocketGet(t *testing.T) {
	at := time.Date(2026, 12, 3, 12, 0, 0, 5, time.UTC)
	want := &Secret{ID: "abc", Name: "db/pw", Labels: map[string]string{"a": "b"}, CreatedAt: at, UpdatedAt: at, Version: 1, Size: 3,
		Versions: []SecretVersion{{Version: 1, Size: 3, CreatedAt: at}}}
	srv, sock, conns := socketServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/secrets/db/pw":
			if r.URL.RawQuery != "stale=true" && r.URL.RawQuery != "" {
				http.Error(w, "query "+r.URL.RawQuery, http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header()["Date"] = nil // the daemon's head, read without net/http's parser
			b := append(AppendSecret(nil, want), '\n')
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			_, _ = w.Write(b)
		case "/v1/secrets/locked":
			WriteError(w, Errorf(CodeLocked, "this node is locked").WithHint("unlock it"))
		case "/v1/secrets/chunked":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"ID":"x",`))
			w.(http.Flusher).Flush()
			_, _ = w.Write([]byte(`"Name":"chunked"}` + "\n"))
		case "/v1/secrets/slow":
			<-r.Context().Done()
		default:
			http.Error(w, "not here", http.StatusNotFound)
		}
	})
	c := NewClient(sock)
	ctx := context.Background()
	for i, cl := range []*Client{c, c.StaleReads(), c} {
		s, err := cl.Secret(ctx, "db/pw")
		if err != nil || s.Name != want.Name || !s.UpdatedAt.Equal(at) || s.Labels["a"] != "b" || len(s.Versions) != 1 {
			t.Fatalf("GET %d = %+v, %v", i, s, err)
		}
	}
	if s, err := c.Secret(ctx, "chunked"); err != nil || s.Name != "chunked" {
		t.Fatalf("chunked answer = %+v, %v", s, err)
	}
	var e *Error
	if _, err := c.Secret(ctx, "locked"); !errors.As(err, &e) || e.Code != CodeLocked || e.Hint != "unlock it" {
		t.Fatalf("locked = %v, want the envelope's error", err)
	}
	if _, err := c.Secret(ctx, "missing"); !errors.As(err, &e) || e.Code != "not_vault" {
		t.Fatalf("missing = %v, want not_vault", err)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for sequential GETs, want 1", n)
	}

	// The daemon closes idle connections: the next GET still succeeds.
	time.Sleep(50 * time.Millisecond) // the server marks the connection idle
	srv.SetKeepAlivesEnabled(false)   // closes the idle ones
	srv.SetKeepAlivesEnabled(true)
	time.Sleep(50 * time.Millisecond)
	if _, err := c.Secret(ctx, "db/pw"); err != nil {
		t.Fatalf("GET after the daemon closed the kept connection: %v", err)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}

	// A context that ends breaks a GET waiting for its answer.
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := c.Secret(cctx, "slow"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow GET = %v, want the context's deadline", err)
	}
	if _, err := c.Secret(ctx, "db/pw"); err != nil {
		t.Fatalf("GET after a timed-out one: %v", err)
	}
}

// No daemon on the socket is the same no_daemon error as before.
func TestSocketGetNoDaemon(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), "none.sock"))
	_, err := c.Secret(context.Background(), "x")
	var e *Error
	if !errors.As(err, &e) || e.Code != "no_daemon" || !strings.Contains(e.Message, "no vault daemon at") {
		t.Fatalf("err = %v, want no_daemon", err)
	}
}

// The answer head read without net/http's parser is the daemon's JSON
// answer of known length; any other head is left to http.ReadResponse.
func TestReadFastHead(t *testing.T) {
	for _, tc := range []struct {
		in   string
		body string // "" : not read fast
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: application/json\r\n\r\n{}\nNEXT", "{}\n"},
		{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 3\r\n\r\n{}\n", "{}\n"},
		{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: application/json\r\nDate: x\r\n\r\n{}\n", ""},
		{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{}\n", ""},
		{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n{}\n", ""},
		{"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nContent-Type: application/json\r\n\r\n{}\n", ""},
		{"HTTP/1.1 200 OK\r\nContent-Length: x\r\nContent-Type: application/json\r\n\r\n{}\n", ""},
		{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: application/json\r\n", ""},
		{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\nContent-Type: application/json\r\n\r\n{}\n", ""},
	} {
		br := bufio.NewReader(strings.NewReader(tc.in))
		_, _ = br.Peek(1)
		resp := readFastHead(br)
		if tc.body == "" {
			if resp != nil {
				t.Errorf("%q read fast", tc.in)
			} else if br.Buffered() != len(tc.in) {
				t.Errorf("%q: head consumed though not read fast", tc.in)
			}
			continue
		}
		if resp == nil {
			t.Errorf("%q not read fast", tc.in)
			continue
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil || string(b) != tc.body || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%q: body %q, %v", tc.in, b, err)
		}
		if err := resp.Body.Close(); err != nil {
			t.Errorf("%q: close: %v", tc.in, err)
		}
		rest, _ := io.ReadAll(br)
		if want := strings.TrimPrefix(tc.in[strings.Index(tc.in, "\r\n\r\n")+4:], tc.body); string(rest) != want {
			t.Errorf("%q: left %q, want %q", tc.in, rest, want)
		}
	}
}

// A socket that does not answer HTTP is not_vault, as through net/http.
func TestSocketGetNotHTTP(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "other.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n"))
			c.Close()
		}
	}()
	_, err = NewClient(sock).Secret(context.Background(), "x")
	var e *Error
	if !errors.As(err, &e) || e.Code != "not_vault" || !strings.Contains(e.Message, "does not speak HTTP") {
		t.Fatalf("err = %v, want not_vault", err)
	}
}
