package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
)

// A locked node holds no key and serves status and unlock only: every
// other route of the local API, including those that need no key (the
// mount list, unmount), answers "locked". The routes come from the table
// the daemon registers, so a new one cannot be left out.
func TestLockedNodeServesOnlyStatusAndUnlock(t *testing.T) {
	n, _ := startSingleNode(t, func(c *Config) { c.Pprof = true })
	lockNode(t, n)
	checkRoutes(t, n, func(pattern string) (int, string) {
		switch pattern {
		case "GET /v1/status":
			return http.StatusOK, ""
		case "POST /v1/unlock":
			return 0, api.CodeInvalid // an empty key
		}
		return 0, api.CodeLocked
	}, func(s *api.Status) bool { return s.Initialized && s.Locked })
}

// A node that is not part of a cluster serves status, init, join and
// unlock (which says there is nothing to unlock); every other route
// answers "not part of a cluster".
func TestUninitializedNodeServesOnlyStatusInitJoin(t *testing.T) {
	n := startUninitialized(t, func(c *Config) { c.Pprof = true })
	checkRoutes(t, n, func(pattern string) (int, string) {
		switch pattern {
		case "GET /v1/status":
			return http.StatusOK, ""
		case "POST /v1/cluster/init":
			return -1, "" // not asked: it would initialize the node
		case "POST /v1/cluster/join":
			return 0, api.CodeInvalid // no token
		case "POST /v1/cluster/restore":
			return 0, api.CodeInvalid // not a snapshot file
		}
		return 0, api.CodeNotInitialized
	}, func(s *api.Status) bool { return !s.Initialized })
}

// checkRoutes asks every route of n's local API with an empty JSON body and
// checks the answer want gives for its pattern: an HTTP status with a body
// the status check accepts (for GET /v1/status), the code of an error, or
// -1 to skip the route.
func checkRoutes(t *testing.T, n *Node, want func(pattern string) (status int, code string), status func(*api.Status) bool) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", n.cfg.SocketPath)
	}}, Timeout: 30 * time.Second}
	pathValue := regexp.MustCompile(`\{[^}]+\}`)
	patterns := n.routes().patterns
	if len(patterns) < 20 {
		t.Fatalf("only %d routes registered: %q", len(patterns), patterns)
	}
	for _, pattern := range patterns {
		wantStatus, wantCode := want(pattern)
		if wantStatus < 0 {
			continue
		}
		t.Run(pattern, func(t *testing.T) {
			method, path, _ := strings.Cut(pattern, " ")
			path = pathValue.ReplaceAllString(path, "x")
			req, err := http.NewRequest(method, "http://vault"+path, strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if wantCode == "" {
				var s api.Status
				if resp.StatusCode != wantStatus || json.Unmarshal(body, &s) != nil || !status(&s) {
					t.Errorf("%s %s: %s", resp.Status, path, body)
				}
				return
			}
			e := api.ReadError(bytes.NewReader(body))
			if e == nil || e.Code != wantCode {
				t.Errorf("%s %s: %s; want %q", resp.Status, path, body, wantCode)
			}
		})
	}
}

// decode takes one JSON object and nothing after it but white space.
func TestDecodeRefusesTrailingData(t *testing.T) {
	for _, c := range []struct {
		body string
		err  string
	}{
		{`{"shards":1}`, ""},
		{"{\"shards\":1}\n \t", ""},
		{`{"shards":1}` + strings.Repeat(" ", 10000), ""},
		{`{"shards":1}{"shards":2}`, "data after the JSON object"},
		{`{"shards":1} {"shards":2}`, "data after the JSON object"},
		{`{"shards":1}x`, "data after the JSON object"},
		{`{"shards":1}]`, "data after the JSON object"},
		{`{"shards":1} ` + strings.Repeat(" ", maxBody), "over"},
		{`{"shards":1,"x":2}`, "unknown field"},
		{``, "bad request body"},
	} {
		for _, length := range []string{"known", "unknown"} {
			var req api.InitRequest
			r := httptest.NewRequest("POST", "/v1/cluster/init", strings.NewReader(c.body))
			if length == "unknown" {
				r.ContentLength = -1
			}
			err := decode(r, &req)
			if c.err == "" {
				if err != nil || req.Shards != 1 {
					t.Errorf("decode(%.40q), %s length = %+v, %v", c.body, length, req, err)
				}
				continue
			}
			var e *api.Error
			if !errors.As(err, &e) || e.Code != api.CodeInvalid || !strings.Contains(e.Message, c.err) {
				t.Errorf("decode(%.40q), %s length: %v; want an invalid error with %q", c.body, length, err, c.err)
			}
		}
	}
}
