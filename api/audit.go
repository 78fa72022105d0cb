package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// CodeUnsupported means the daemon does not serve a route: it is older
// than the client.
const CodeUnsupported = "unsupported"

// newerRoute reports whether path belongs to routes that daemons of an
// earlier version do not serve, so that a bare 404 there means an old
// daemon rather than another program on the socket.
func newerRoute(path string) bool { return strings.HasPrefix(path, "/v1/audit/") }

// unsupported is the error for a route the daemon answers with a bare 404
// or 405 (its router's, not a vault error): the daemon predates the route.
func unsupported(socket, method, path string) *Error {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	return (&Error{Code: CodeUnsupported, Message: fmt.Sprintf("the vault daemon at %s does not serve %s %s", socket, method, path)}).
		WithHint("the daemon is older than this vault command: upgrade it")
}

// AuditHashRequest is the body of POST /v1/audit/hash. The name travels in
// the body, never in a URL, so that no access log records it.
type AuditHashRequest struct {
	Name string `json:"Name"`
}

// AuditHashResponse is the name's HMAC as audit records carry it
// ("name_hmac").
type AuditHashResponse struct {
	HMAC string `json:"HMAC"`
}

// AuditKeyResponse is the answer of GET /v1/audit/key (root only): the
// cluster's audit seal verification key in its text form
// ("vault-audit-verify-v1:..."). It is public: it checks seals and cannot
// make them.
type AuditKeyResponse struct {
	VerifyKey string `json:"VerifyKey"`
}

// AuditHash returns the HMAC under which audit records name a secret.
func (c *Client) AuditHash(ctx context.Context, name string) (*AuditHashResponse, error) {
	var r AuditHashResponse
	return &r, c.do(ctx, http.MethodPost, "/v1/audit/hash", AuditHashRequest{Name: name}, &r)
}

// AuditVerifyKey returns the cluster's audit seal verification key.
func (c *Client) AuditVerifyKey(ctx context.Context) (*AuditKeyResponse, error) {
	var r AuditKeyResponse
	return &r, c.do(ctx, http.MethodGet, "/v1/audit/key", nil, &r)
}

// AuditStatus is the state of a node's audit log, for `vault status` and
// the health check (Status.Audit).
type AuditStatus struct {
	Path      string `json:"Path"`
	Policy    string `json:"Policy"` // "closed" or "open"
	Healthy   bool   `json:"Healthy"`
	LastError string `json:"LastError,omitempty"`
	Lost      uint64 `json:"Lost,omitempty"` // records not written under the open policy
}
