package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// One client, two transports: over TLS the same JSON calls and the same
// error envelope as over the daemon's socket.
func TestTransportClientCall(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"NodeID":"n1"}`))
		case "/locked":
			WriteError(w, Errorf(CodeLocked, "this node is locked").WithHint("unlock it"))
		default:
			http.Error(w, "not here", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	c := NewTransportClient(srv.URL, srv.Client().Transport)
	ctx := context.Background()

	var s Status
	if err := c.Call(ctx, "GET", "/ok", nil, &s); err != nil || s.NodeID != "n1" {
		t.Fatalf("GET /ok = %+v, %v", s, err)
	}
	err := c.Call(ctx, "POST", "/locked", struct{}{}, nil)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeLocked || e.Hint != "unlock it" {
		t.Fatalf("POST /locked = %v, want the envelope's error with its code and hint", err)
	}
	err = c.Call(ctx, "GET", "/missing", nil, nil)
	if err == nil || errors.As(err, &e) || !strings.Contains(err.Error(), "answered 404") {
		t.Fatalf("GET /missing = %v, want a plain error naming the status", err)
	}
}

func TestReadErrorNotAnEnvelope(t *testing.T) {
	for _, body := range []string{"", "not json", `{"error":null}`, `{"error":{"code":"x"}}`, `{"other":1}`} {
		if e := ReadError(strings.NewReader(body)); e != nil {
			t.Errorf("ReadError(%q) = %v, want nil", body, e)
		}
	}
}
