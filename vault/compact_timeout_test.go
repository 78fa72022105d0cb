package vault

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// A request given longer than handlerTimeout gets that long to work, and
// its answer is still written after the server's own write timeout.
func TestHandleTimeoutLongerThanDefault(t *testing.T) {
	n := &Node{}
	var left time.Duration
	h := n.handleTimeout(compactTimeout, func(r *http.Request) (any, error) {
		dl, _ := r.Context().Deadline()
		left = time.Until(dl)
		time.Sleep(300 * time.Millisecond) // past the server's write timeout
		return struct{}{}, nil
	})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.WriteTimeout = 100 * time.Millisecond
	srv.Start()
	defer srv.Close()
	resp, err := http.Post(srv.URL, "application/json", nil)
	if err != nil {
		t.Fatalf("the answer was not written: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("answer %d %q, %v", resp.StatusCode, body, err)
	}
	if left <= handlerTimeout || left > compactTimeout {
		t.Fatalf("the request had %v to work, want up to %v", left, compactTimeout)
	}
}
