package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
)

// finishServer answers POST /v1/keys/rotate/finish with fail's errors, in
// order, then with a finished status.
func finishServer(t *testing.T, fail ...*api.Error) (*api.Client, *atomic.Int32) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "v.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/keys/rotate/finish" {
			http.NotFound(w, r)
			return
		}
		i := int(calls.Add(1)) - 1
		if i < len(fail) {
			api.WriteError(w, fail[i])
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(api.KeyStatus{})
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return api.NewClient(sock), &calls
}

// TestFinishRotationWaitsForElections: right after the compaction the
// groups elect, and "did not answer in time" is asked again; any other
// refusal is the answer at once.
func TestFinishRotationWaitsForElections(t *testing.T) {
	unavailable := api.Errorf(api.CodeUnavailable, "control: the Raft group did not answer in time")
	cl, calls := finishServer(t, unavailable, unavailable)
	if _, err := finishRotation(context.Background(), cl); err != nil {
		t.Fatalf("finish after two unavailable answers: %v", err)
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("%d calls, want 3", n)
	}

	cl, calls = finishServer(t, api.Errorf(api.CodeConflict, "data key v1 still holds 3 values"))
	if _, err := finishRotation(context.Background(), cl); !api.IsCode(err, api.CodeConflict) {
		t.Fatalf("a conflict: %v, want it returned", err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("a conflict was asked %d times, want once", n)
	}

	old := finishWait
	finishWait = 0
	defer func() { finishWait = old }()
	cl, calls = finishServer(t, unavailable, unavailable)
	start := time.Now()
	if _, err := finishRotation(context.Background(), cl); !api.IsCode(err, api.CodeUnavailable) {
		t.Fatalf("past the wait: %v, want the unavailable answer", err)
	}
	if n := calls.Load(); n != 1 || time.Since(start) > time.Second {
		t.Fatalf("past the wait: %d calls in %v, want one at once", n, time.Since(start))
	}
}
