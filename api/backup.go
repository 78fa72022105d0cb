package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// SnapshotKeyHeader carries, on the answer of POST /v1/snapshot, the
// snapshot key the daemon made for this save (autolock off, no key given);
// on POST /v1/cluster/restore, the key that opens the snapshot. It travels
// over the root-only Unix socket only.
const SnapshotKeyHeader = "Vault-Snapshot-Key"

// SnapshotRequest asks for a snapshot file (POST /v1/snapshot).
type SnapshotRequest struct {
	// Key is the snapshot key to seal the file for, when autolock is off;
	// empty: the daemon makes one and returns it in SnapshotKeyHeader.
	Key string `json:"Key,omitempty"`
}

// RestoreResponse is the answer of POST /v1/cluster/restore.
type RestoreResponse struct {
	ClusterID string `json:"ClusterID"`
	NodeID    string `json:"NodeID"`
	Shards    int    `json:"Shards"`
	Secrets   uint64 `json:"Secrets"`
	Versions  uint64 `json:"Versions"`
	// Removed are the node ids of the snapshot's managers: none of them is
	// a member of the restored cluster.
	Removed []string `json:"Removed"`
}

// RecoverGroup is one group of a recovery plan.
type RecoverGroup struct {
	Shard   uint64 `json:"Shard"`
	Applied uint64 `json:"Applied"` // Raft index this manager applied
	Leader  bool   `json:"Leader"`  // the group has a leader now
}

// RecoverResponse is the plan (dry run) or the result of POST
// /v1/cluster/recover.
type RecoverResponse struct {
	NodeID  string         `json:"NodeID"`
	Removed []string       `json:"Removed"` // managers that stop being members
	Groups  []RecoverGroup `json:"Groups"`
	Done    bool           `json:"Done"`
}

// SaveSnapshot asks the daemon for a snapshot file and copies it to w. It
// returns the snapshot key the daemon made ("" when the key was given or
// autolock is on) before the copy starts, through keyFn, and the bytes
// written.
func (c *Client) SaveSnapshot(ctx context.Context, req SnapshotRequest, keyFn func(key string, size int64) error, w io.Writer) (int64, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return 0, err
	}
	resp, err := c.raw(ctx, http.MethodPost, "/v1/snapshot", bytes.NewReader(b), nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if err := keyFn(resp.Header.Get(SnapshotKeyHeader), resp.ContentLength); err != nil {
		return 0, err
	}
	n, err := io.Copy(w, resp.Body)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("the daemon sent %d of %d bytes", n, resp.ContentLength)
	}
	return n, err
}

// Restore sends a snapshot file to a node that is in no cluster, with the
// key (unlock key, shares one per line, or snapshot key) that opens it.
func (c *Client) Restore(ctx context.Context, file io.Reader, size int64, key string) (*RestoreResponse, error) {
	h := http.Header{}
	h.Set(SnapshotKeyHeader, key)
	resp, err := c.raw(ctx, http.MethodPost, "/v1/cluster/restore", file, h, size)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out RestoreResponse
	return &out, json.NewDecoder(resp.Body).Decode(&out)
}

// Recover makes this manager the only member of its cluster (dryRun: says
// what it would do).
func (c *Client) Recover(ctx context.Context, dryRun bool) (*RecoverResponse, error) {
	var out RecoverResponse
	return &out, c.do(ctx, http.MethodPost, fmt.Sprintf("/v1/cluster/recover?dry_run=%t", dryRun), struct{}{}, &out)
}

// raw makes a request whose body and answer are not JSON; an answer of
// 300 or more is returned as its *Error.
func (c *Client) raw(ctx context.Context, method, path string, body io.Reader, h http.Header, size ...int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if len(size) > 0 {
		req.ContentLength = size[0]
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// The same diagnosis as every other call.
		if derr := c.do(ctx, http.MethodGet, "/v1/status", nil, nil); derr != nil {
			return nil, derr
		}
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		if e := ReadError(resp.Body); e != nil {
			return nil, e
		}
		return nil, c.notVault("it answered " + resp.Status)
	}
	return resp, nil
}
