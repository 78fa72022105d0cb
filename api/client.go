package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Client talks to one node's API: over its Unix socket (NewClient), or to
// another manager's API over mutual TLS (NewTransportClient with a TLS
// transport). It is the one HTTP/JSON client of vault: requests are JSON,
// answers are JSON or the error envelope (ReadError).
type Client struct {
	socket string // the Unix socket; "" over TCP
	base   string // the URL requests' paths are appended to
	hc     *http.Client
	stale  bool
	// direct keeps the socket's connections for the requests this client
	// makes on its own goroutine: GETs (sockget.go) and secret writes
	// (directpost.go). nil for a client over TCP.
	direct *directPool
}

// StaleReads returns a client whose Secrets and Secret calls are served from
// the node's own applied state (?stale=true) instead of a linearizable read
// through the group leader: cheaper, and available while the node's groups
// have no leader, but they may miss writes acknowledged on other managers
// that this node has not applied yet.
func (c *Client) StaleReads() *Client {
	s := *c
	s.stale = true
	return &s
}

// readQuery is the query string of a read that may be stale.
func (c *Client) readQuery() string {
	if c.stale {
		return "?stale=true"
	}
	return ""
}

// NewClient returns a client for the daemon listening on socket.
func NewClient(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}
	return &Client{socket: socket, base: "http://vault", hc: &http.Client{Transport: tr}, direct: newDirectPool(socket)}
}

// NewTransportClient returns a client for the API at base (such as
// "https://HOST:PORT") over tr, for example an *http.Transport with a
// mutual TLS configuration.
func NewTransportClient(base string, tr http.RoundTripper) *Client {
	return &Client{base: base, hc: &http.Client{Transport: tr}}
}

// Call makes one request: in (if not nil) is sent as JSON and the answer
// decoded into out (if not nil). An answer with a status of 300 or more is
// returned as its *Error.
func (c *Client) Call(ctx context.Context, method, path string, in, out any) error {
	return c.do(ctx, method, path, in, out)
}

// Socket returns the socket path.
func (c *Client) Socket() string { return c.socket }

// ErrNoDaemon is returned when nothing listens on the socket.
var ErrNoDaemon = errors.New("no vault daemon")

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	if in == nil {
		return c.send(ctx, method, path, "", nil, out)
	}
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.send(ctx, method, path, "application/json", bytes.NewReader(b), out)
}

// send makes one request with body (nil: none) of contentType and decodes
// a JSON answer into out (if not nil).
func (c *Client) send(ctx context.Context, method, path, contentType string, body io.Reader, out any) error {
	if c.direct != nil && method == http.MethodGet && body == nil && plainRequestURI(path) {
		return c.socketGet(ctx, path, out)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.transportError(err)
	}
	return c.answer(resp, method, path, out)
}

// transportError is the error of a request that got no answer.
func (c *Client) transportError(err error) error {
	if c.socket == "" {
		return err
	}
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, os.ErrNotExist) {
		return (&Error{Code: "no_daemon", Message: fmt.Sprintf("no vault daemon at %s", c.socket)}).
			WithHint("start one with `vault daemon` (its state goes to /var/lib/vault unless --state-dir says otherwise), or `vault dev` to try vault; set --socket or VAULT_SOCKET to use another")
	}
	if errors.Is(err, syscall.EACCES) {
		return (&Error{Code: "no_daemon", Message: fmt.Sprintf("permission denied on %s", c.socket)}).
			WithHint("the socket is readable by root only: run as root")
	}
	if strings.Contains(err.Error(), "malformed HTTP") {
		return c.notVault("it does not speak HTTP")
	}
	return err
}

// answer decodes resp, the answer to method path, into out (if not nil),
// or returns its error; it closes resp.Body.
func (c *Client) answer(resp *http.Response, method, path string, out any) error {
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		if e := ReadError(resp.Body); e != nil {
			return e
		}
		if (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed) && newerRoute(path) {
			return unsupported(c.socket, method, path)
		}
		if c.socket == "" {
			return fmt.Errorf("%s answered %s", strings.TrimPrefix(c.base, "https://"), resp.Status)
		}
		return c.notVault("it answered " + resp.Status)
	}
	if out == nil {
		return nil
	}
	if read, ok := out.(bodyReader); ok {
		return read(resp.Body)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		if c.socket == "" {
			return err
		}
		return c.notVault("its answer is not vault's JSON: " + err.Error())
	}
	return nil
}

// notVault is the error for a socket that answers, but not as a vault
// daemon does: another program's socket, or a daemon of another version.
func (c *Client) notVault(what string) error {
	return (&Error{Code: "not_vault", Message: fmt.Sprintf("%s does not answer as a vault daemon: %s", c.socket, what)}).
		WithHint("is VAULT_SOCKET (or --socket) pointing at a vault daemon? start one with `vault daemon`, or `vault dev` to try vault")
}

// Status returns the node's status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	return &s, c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
}

// Init creates a cluster on an uninitialized node.
func (c *Client) Init(ctx context.Context, req InitRequest) (*InitResponse, error) {
	var r InitResponse
	return &r, c.do(ctx, http.MethodPost, "/v1/cluster/init", req, &r)
}

// CreateSecret creates a secret. req.Data is sent as the request body as
// it is (no copy is made); the caller keeps it and may wipe it after.
func (c *Client) CreateSecret(ctx context.Context, req CreateSecretRequest) (*SecretRef, error) {
	q, err := SecretQuery(&req)
	if err != nil {
		return nil, err
	}
	var r SecretRef
	return &r, c.postData(ctx, "/v1/secrets?"+q.Encode(), req.Data, &r)
}

// UpdateSecret adds a new data version to a secret (by name or id). data
// is sent as the request body as it is.
func (c *Client) UpdateSecret(ctx context.Context, ref string, data []byte) (*SecretRef, error) {
	var r SecretRef
	return &r, c.postData(ctx, "/v1/secrets/"+url.PathEscape(ref)+"/versions", data, &r)
}

// Secrets lists every secret, sorted by name.
func (c *Client) Secrets(ctx context.Context) ([]Secret, error) {
	r := []Secret{}
	err := c.EachSecret(ctx, func(s *Secret) error { r = append(r, *s); return nil })
	return sortSecrets(r), err
}

// RemoveSecret removes a secret by name, id or unique id prefix.
func (c *Client) RemoveSecret(ctx context.Context, ref string) (*RemoveResponse, error) {
	var r RemoveResponse
	return &r, c.do(ctx, http.MethodDelete, "/v1/secrets/"+url.PathEscape(ref), nil, &r)
}

// IsCode reports whether err is an API error with the given code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// Join joins this (fresh) node to the cluster a token is for.
func (c *Client) Join(ctx context.Context, req JoinRequest) (*InitResponse, error) {
	var r InitResponse
	return &r, c.do(ctx, http.MethodPost, "/v1/cluster/join", req, &r)
}

// JoinToken prints (or rotates) a role's join token.
func (c *Client) JoinToken(ctx context.Context, role string, rotate bool) (*JoinTokenResponse, error) {
	var r JoinTokenResponse
	method := http.MethodGet
	if rotate {
		method = http.MethodPost
	}
	return &r, c.do(ctx, method, "/v1/cluster/join-token/"+url.PathEscape(role), nil, &r)
}

// Leave takes this node out of its cluster.
func (c *Client) Leave(ctx context.Context, force bool) error {
	return c.do(ctx, http.MethodPost, "/v1/cluster/leave?force="+strconv.FormatBool(force), nil, nil)
}

// Nodes lists the managers.
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	var r []Node
	return r, c.do(ctx, http.MethodGet, "/v1/nodes", nil, &r)
}

// RemoveNode removes a manager from the cluster.
func (c *Client) RemoveNode(ctx context.Context, id string, force bool) (*Node, error) {
	var r Node
	return &r, c.do(ctx, http.MethodDelete, "/v1/nodes/"+url.PathEscape(id)+"?force="+strconv.FormatBool(force), nil, &r)
}

// SetAutolock turns autolock on or off.
func (c *Client) SetAutolock(ctx context.Context, req AutolockRequest) (*UnlockKeyResponse, error) {
	var r UnlockKeyResponse
	return &r, c.do(ctx, http.MethodPost, "/v1/cluster/autolock", req, &r)
}

// CommitKEKChange finishes a prepared (or interrupted) KEK change.
func (c *Client) CommitKEKChange(ctx context.Context, id string) (*UnlockKeyResponse, error) {
	var r UnlockKeyResponse
	return &r, c.do(ctx, http.MethodPost, "/v1/kek-change/commit", KEKChangeRequest{ID: id}, &r)
}

// AbortKEKChange undoes a KEK change that has not started switching managers.
func (c *Client) AbortKEKChange(ctx context.Context) (*UnlockKeyResponse, error) {
	var r UnlockKeyResponse
	return &r, c.do(ctx, http.MethodPost, "/v1/kek-change/abort", struct{}{}, &r)
}

// UnlockKey shows the current unlock key.
func (c *Client) UnlockKey(ctx context.Context) (*UnlockKeyResponse, error) {
	var r UnlockKeyResponse
	return &r, c.do(ctx, http.MethodGet, "/v1/unlock-key", nil, &r)
}

// RotateUnlockKey makes a new unlock key (and a new active DEK).
func (c *Client) RotateUnlockKey(ctx context.Context, req UnlockKeyRequest) (*UnlockKeyResponse, error) {
	var r UnlockKeyResponse
	return &r, c.do(ctx, http.MethodPost, "/v1/unlock-key/rotate", req, &r)
}

// Unlock gives a locked node its unlock key, or one share of it.
func (c *Client) Unlock(ctx context.Context, key string) (*UnlockResponse, error) {
	var r UnlockResponse
	return &r, c.do(ctx, http.MethodPost, "/v1/unlock", UnlockRequest{Key: key}, &r)
}

// Lock locks the node now.
func (c *Client) Lock(ctx context.Context, force bool) error {
	return c.do(ctx, http.MethodPost, "/v1/lock", LockRequest{Force: force}, nil)
}

// KeyStatus reports every DEK version and what still uses it.
func (c *Client) KeyStatus(ctx context.Context) (*KeyStatus, error) {
	var r KeyStatus
	return &r, c.do(ctx, http.MethodGet, "/v1/keys", nil, &r)
}

// RotateKey rotates the DEK (full: starts or resumes a full rotation).
func (c *Client) RotateKey(ctx context.Context, full bool) (*RotateResponse, error) {
	var r RotateResponse
	return &r, c.do(ctx, http.MethodPost, "/v1/keys/rotate", RotateRequest{Full: full}, &r)
}

// Reseal re-seals up to limit secrets under the active DEK.
func (c *Client) Reseal(ctx context.Context, limit int) (*ResealProgress, error) {
	var r ResealProgress
	return &r, c.do(ctx, http.MethodPost, "/v1/keys/reseal", ResealRequest{Limit: limit}, &r)
}

// Compact snapshots and compacts every group on every manager.
func (c *Client) Compact(ctx context.Context) (*CompactResponse, error) {
	var r CompactResponse
	return &r, c.do(ctx, http.MethodPost, "/v1/keys/compact", nil, &r)
}

// FinishRotation checks a full rotation and ends it.
func (c *Client) FinishRotation(ctx context.Context) (*KeyStatus, error) {
	var r KeyStatus
	return &r, c.do(ctx, http.MethodPost, "/v1/keys/rotate/finish", nil, &r)
}

// RetireKey retires a DEK version.
func (c *Client) RetireKey(ctx context.Context, version uint32) error {
	return c.do(ctx, http.MethodPost, "/v1/keys/retire", RetireRequest{Version: version}, nil)
}

// SetRotationPolicy sets the automatic rotation limits.
func (c *Client) SetRotationPolicy(ctx context.Context, p RotationPolicy) error {
	return c.do(ctx, http.MethodPost, "/v1/cluster/rotation", p, nil)
}

// Mount asks the daemon to mount secrets at a mountpoint.
func (c *Client) Mount(ctx context.Context, req MountRequest) (*MountInfo, error) {
	var r MountInfo
	return &r, c.do(ctx, http.MethodPost, "/v1/mounts", req, &r)
}

// Unmount ends a mount.
func (c *Client) Unmount(ctx context.Context, mountpoint string) error {
	return c.do(ctx, http.MethodDelete, "/v1/mounts?path="+url.QueryEscape(mountpoint), nil, nil)
}

// Mounts lists the daemon's mounts.
func (c *Client) Mounts(ctx context.Context) ([]MountInfo, error) {
	var r []MountInfo
	return r, c.do(ctx, http.MethodGet, "/v1/mounts", nil, &r)
}

// RemoveSecretForce removes a secret even while it is mounted.
func (c *Client) RemoveSecretForce(ctx context.Context, ref string) (*RemoveResponse, error) {
	var r RemoveResponse
	return &r, c.do(ctx, http.MethodDelete, "/v1/secrets/"+url.PathEscape(ref)+"?force=true", nil, &r)
}
