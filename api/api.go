// Package api is vault's client API: the JSON types of the versioned HTTP
// endpoints (/v1/...) served by a node on its Unix socket, the error model,
// and a Client for them.
//
// # Errors
//
// Every failed request answers with an HTTP status and an Error body. Code is
// stable and meant for programs; Message says what happened and Hint what to
// do, both for operators. Secret data never appears in an error.
//
// # Secret data
//
// A secret's data crosses the API as the raw request body, never inside
// JSON (where it would be base64, in buffers the daemon cannot clear):
//
//	POST /v1/secrets?name=NAME&label=KEY=VALUE&label=...&max-versions=N   create
//	POST /v1/secrets/{ref}/versions                        new version
//
// with Content-Type: application/octet-stream (ContentTypeData) and the
// data as the body, which the daemon reads into one buffer and wipes once
// the data is sealed. The spec travels beside it in the query: name once,
// label once per label (KEY=VALUE, split at the first '=', so a key holds
// no '='), max-versions at most once. SecretQuery writes it and ParseSecretQuery reads it. Answers
// are JSON as everywhere else.
package api

import (
	"fmt"
	"net/http"
	"time"
)

// Error codes.
const (
	CodeInvalid        = "invalid"         // bad input; nothing changed
	CodeNotFound       = "not_found"       // no such secret
	CodeExists         = "exists"          // name taken
	CodeAmbiguous      = "ambiguous"       // id prefix matches several
	CodeNotInitialized = "not_initialized" // daemon has no cluster yet
	CodeInitialized    = "initialized"     // cluster init on an initialized node
	CodeLocked         = "locked"          // node is locked
	CodeUnavailable    = "unavailable"     // no quorum or shard not ready; retry
	CodeConflict       = "conflict"        // concurrent change; retry
	CodeInternal       = "internal"
	CodeForbidden      = "forbidden" // manager API: no certificate, or not a member's
	CodeRemoved        = "removed"   // the node was removed from the cluster
)

// Error is the body of every failed request.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Status returns the HTTP status for the error's code.
func (e *Error) Status() int {
	switch e.Code {
	case CodeInvalid, CodeAmbiguous:
		return http.StatusBadRequest
	case CodeNotFound:
		return http.StatusNotFound
	case CodeExists, CodeInitialized, CodeConflict:
		return http.StatusConflict
	case CodeNotInitialized, CodeLocked, CodeUnavailable:
		return http.StatusServiceUnavailable
	case CodeForbidden, CodeRemoved:
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

// Errorf returns an Error with a code and message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithHint returns e with a hint.
func (e *Error) WithHint(format string, args ...any) *Error {
	e.Hint = fmt.Sprintf(format, args...)
	return e
}

// Status is a node's view of itself (GET /v1/status). Its JSON fields are
// PascalCase, as in every object the CLI prints (Docker's convention).
type Status struct {
	Initialized bool     `json:"Initialized"`
	Locked      bool     `json:"Locked"`
	NodeID      string   `json:"NodeID,omitempty"`
	ClusterID   string   `json:"ClusterID,omitempty"`
	Addr        string   `json:"Addr,omitempty"`
	APIAddr     string   `json:"APIAddr,omitempty"`
	Shards      int      `json:"Shards,omitempty"`
	Autolock    bool     `json:"Autolock"`
	KEKVersion  uint32   `json:"KEKVersion,omitempty"`
	ActiveDEK   uint32   `json:"ActiveDEK,omitempty"`
	DEKVersions []uint32 `json:"DEKVersions,omitempty"`
	// While locked and given Shamir shares: progress towards the threshold.
	SharesGiven  int `json:"SharesGiven,omitempty"`
	SharesNeeded int `json:"SharesNeeded,omitempty"`
	// Groups this manager stopped at an entry it cannot open; the other
	// managers keep serving them.
	StoppedGroups []StoppedGroup `json:"StoppedGroups,omitempty"`
	// Removed: this node was removed from the cluster; its replicas are
	// stopped for good.
	Removed bool `json:"Removed,omitempty"`
	// Audit is the state of the node's audit log (nil: none configured).
	Audit *AuditStatus `json:"Audit,omitempty"`

	// Role is "worker" on a worker (empty on a manager), and Worker its
	// stream and what it holds (workers.go).
	Role   string        `json:"Role,omitempty"`
	Worker *WorkerStatus `json:"Worker,omitempty"`
}

// StoppedGroup is a group a manager stopped at an entry (or a received
// snapshot, Entry 0) it cannot open.
type StoppedGroup struct {
	Group      uint64    `json:"Group"`
	Entry      uint64    `json:"Entry"`
	Applied    uint64    `json:"Applied"`              // the last entry it applied
	DEKVersion uint32    `json:"DEKVersion,omitempty"` // what the entry is sealed under
	Since      time.Time `json:"Since"`
	Reason     string    `json:"Reason"`
	Hint       string    `json:"Hint"`
}

// AutolockRequest is POST /v1/cluster/autolock.
type AutolockRequest struct {
	Enable       bool `json:"enable"`
	KeyShares    int  `json:"key_shares,omitempty"`
	KeyThreshold int  `json:"key_threshold,omitempty"`
	// Prepare only records the change and returns its key, to be shown
	// before POST /v1/kek-change/commit switches the managers. Without it
	// the call does both (the key is recorded before any manager switches,
	// and `vault unlock-key` shows it while the change runs).
	Prepare bool `json:"prepare,omitempty"`
}

// UnlockKeyRequest is POST /v1/unlock-key/rotate.
type UnlockKeyRequest struct {
	KeyShares    int  `json:"key_shares,omitempty"`
	KeyThreshold int  `json:"key_threshold,omitempty"`
	Prepare      bool `json:"prepare,omitempty"` // as in AutolockRequest
}

// UnlockKeyResponse carries a new or the current unlock key, or its shares.
type UnlockKeyResponse struct {
	Key        string   `json:"key,omitempty"`
	Shares     []string `json:"shares,omitempty"`
	Threshold  int      `json:"threshold,omitempty"`
	KEKVersion uint32   `json:"kek_version"`
	DEKVersion uint32   `json:"dek_version,omitempty"` // the DEK made active with it
	Autolock   bool     `json:"autolock"`

	// A KEK change is two calls: the first records the change and returns
	// its key (to be shown before anything depends on it), the second
	// (POST /v1/kek-change/commit with ChangeID) switches every manager.
	ChangeID string `json:"change_id,omitempty"`
	Phase    string `json:"phase,omitempty"`   // "prepared", "switching" or "done"
	Resumed  bool   `json:"resumed,omitempty"` // an interrupted change, shown again
	Started  int64  `json:"started,omitempty"` // unix nanoseconds
	// Pending is the key of a change still in progress, shown with the
	// current key by GET /v1/unlock-key.
	Pending *UnlockKeyResponse `json:"pending,omitempty"`
}

// KEKChangeRequest is POST /v1/kek-change/commit.
type KEKChangeRequest struct {
	ID string `json:"id"`
}

// UnlockRequest is POST /v1/unlock: a whole key or one Shamir share.
type UnlockRequest struct {
	Key string `json:"key"`
}

// UnlockResponse answers UnlockRequest.
type UnlockResponse struct {
	Unlocked     bool `json:"unlocked"`
	SharesGiven  int  `json:"shares_given,omitempty"`
	SharesNeeded int  `json:"shares_needed,omitempty"`
}

// LockRequest is POST /v1/lock.
type LockRequest struct {
	Force bool `json:"force"`
}

// InitRequest is POST /v1/cluster/init.
type InitRequest struct {
	Shards int `json:"shards"`
}

// InitResponse answers InitRequest.
type InitResponse struct {
	ClusterID string `json:"cluster_id"`
	NodeID    string `json:"node_id"`
	Shards    int    `json:"shards"`
	Role      string `json:"role,omitempty"` // "worker" for a worker; empty for a manager
}

// CreateSecretRequest is POST /v1/secrets. It is not JSON: Data is the
// request body and the spec travels in the query (see "Secret data" in the
// package doc, and SecretQuery).
type CreateSecretRequest struct {
	Name   string
	Labels map[string]string
	Data   []byte
	// MaxVersions is how many data versions the secret keeps (0: the
	// cluster's default).
	MaxVersions int
}

// SecretRef answers create and update.
type SecretRef struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version uint32 `json:"version"`
}

// Secret is what inspect and ls show. It never carries data.
type Secret struct {
	ID        string            `json:"ID"`
	Name      string            `json:"Name"`
	Labels    map[string]string `json:"Labels"`
	CreatedAt time.Time         `json:"CreatedAt"`
	UpdatedAt time.Time         `json:"UpdatedAt"`
	Version   uint32            `json:"Version"` // latest data version
	Size      int               `json:"Size"`    // of the latest version, bytes
	Versions  []SecretVersion   `json:"Versions"`
	// MaxVersions is the secret's own version limit (0: the cluster's
	// default).
	MaxVersions int `json:"MaxVersions,omitempty"`

	// Grants (inspect only) say which nodes may receive it (workers.go).
	Grants []Grant `json:"Grants,omitempty"`
}

// SecretVersion describes one data version.
type SecretVersion struct {
	Version   uint32    `json:"Version"`
	Size      int       `json:"Size"`
	CreatedAt time.Time `json:"CreatedAt"`
}

// RemoveResponse answers DELETE /v1/secrets/{ref}.
type RemoveResponse struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// JoinRequest is POST /v1/cluster/join: join the cluster a token is for.
type JoinRequest struct {
	Token       string `json:"token"`
	ManagerAddr string `json:"manager_addr"`
}

// JoinTokenResponse answers GET /v1/cluster/join-token/{role}.
type JoinTokenResponse struct {
	Role    string `json:"role"`
	Token   string `json:"token"`
	Rotated bool   `json:"rotated"`
}

// Node is a manager as `vault node ls` shows it.
type Node struct {
	ID      string `json:"ID"`
	Addr    string `json:"Addr"`
	APIAddr string `json:"APIAddr"`
	Role    string `json:"Role"`
	Status  string `json:"Status"` // ready, unreachable, locked
	Leader  int    `json:"Leader"` // groups this node leads
	Groups  int    `json:"Groups"`
	// SecretLeader is how many of the secret groups (Groups less the
	// control group) this node leads: a create sent to a manager that
	// leads its group skips the forward to the leader and the commit's way
	// back.
	SecretLeader int       `json:"SecretLeader"`
	Self         bool      `json:"Self"`
	JoinedAt     time.Time `json:"JoinedAt"`

	// Labels are the node's labels (workers.go: grants by label).
	Labels map[string]string `json:"Labels,omitempty"`
}

// KeyStatus is `vault key status`: every DEK version and what still uses it.
type KeyStatus struct {
	DEKs        []DEKStatus   `json:"DEKs"`
	Unreachable []string      `json:"Unreachable,omitempty"` // managers that did not answer
	MaxAge      time.Duration `json:"MaxAge"`                // automatic rotation (0: default)
	MaxSeals    uint64        `json:"MaxSeals"`
	Rotation    uint32        `json:"Rotation,omitempty"` // target of a full rotation in progress
}

// DEKStatus is one DEK version. Counts are the most any manager holds.
type DEKStatus struct {
	Version    uint32    `json:"Version"`
	State      string    `json:"State"` // active, old, retired
	CreatedAt  time.Time `json:"CreatedAt"`
	Seals      uint64    `json:"Seals"`      // log entries sealed under it
	Values     int       `json:"Values"`     // stored values still sealed under it
	LogEntries int       `json:"LogEntries"` // log entries not yet compacted away
	Snapshots  int       `json:"Snapshots"`  // snapshot files holding a stream under it
	InUseOn    []KeyUse  `json:"InUseOn,omitempty"`
}

// KeyUse is what one manager holds under a DEK version.
type KeyUse struct {
	NodeID     string `json:"NodeID"`
	Values     int    `json:"Values"`
	LogEntries int    `json:"LogEntries"`
	Snapshots  int    `json:"Snapshots"`
}

// RotateRequest is POST /v1/keys/rotate.
type RotateRequest struct {
	Full bool `json:"full"`
}

// RotateResponse answers RotateRequest.
type RotateResponse struct {
	Version uint32 `json:"version"` // the new active DEK
	Full    bool   `json:"full"`
	Resumed bool   `json:"resumed"` // a full rotation already in progress continues
}

// ResealRequest is POST /v1/keys/reseal: one step of a full rotation.
type ResealRequest struct {
	Limit int `json:"limit"`
}

// ResealProgress answers ResealRequest.
type ResealProgress struct {
	Target    uint32 `json:"target"`
	Resealed  int    `json:"resealed"`
	Remaining int    `json:"remaining"`
}

// CompactResponse answers POST /v1/keys/compact.
type CompactResponse struct {
	Managers []string `json:"managers"`
}

// RotationPolicy is POST /v1/cluster/rotation.
type RotationPolicy struct {
	MaxAge      time.Duration `json:"max_age"`
	SetMaxAge   bool          `json:"set_max_age"`
	MaxSeals    uint64        `json:"max_seals"`
	SetMaxSeals bool          `json:"set_max_seals"`
}

// RetireRequest is POST /v1/keys/retire.
type RetireRequest struct {
	Version uint32 `json:"version"`
}
