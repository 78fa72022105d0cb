package api

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Grant lets nodes receive a secret: one node (NodeID) or every node with a
// label (Label, "KEY=VALUE").
type Grant struct {
	SecretID  string    `json:"SecretID"`
	Name      string    `json:"Name,omitempty"` // the secret's name, where the answer may show it
	NodeID    string    `json:"NodeID,omitempty"`
	Label     string    `json:"Label,omitempty"`
	CreatedAt time.Time `json:"CreatedAt"`
}

// GrantRequest is POST /v1/secrets/{ref}/grants (grant) and
// /v1/secrets/{ref}/revoke (revoke): give exactly one of NodeID and Label.
type GrantRequest struct {
	NodeID string `json:"NodeID,omitempty"`
	Label  string `json:"Label,omitempty"` // KEY=VALUE
}

// NodeUpdateRequest is POST /v1/nodes/{id}/update, as `docker node update`:
// labels to add (KEY=VALUE, or KEY for an empty value) and keys to remove.
type NodeUpdateRequest struct {
	LabelAdd []string `json:"LabelAdd,omitempty"`
	LabelRm  []string `json:"LabelRm,omitempty"`
}

// NodeInspect is GET /v1/nodes/{id}: a node, its labels and what it may
// receive.
type NodeInspect struct {
	Node
	Labels map[string]string `json:"Labels"`
	// Grants are the grants that apply to the node (a manager holds every
	// secret; grants say what a worker receives).
	Grants []Grant `json:"Grants"`
}

// GrantSecret lets a node, or every node with a label, receive a secret.
func (c *Client) GrantSecret(ctx context.Context, ref string, req GrantRequest) (*Secret, error) {
	var r Secret
	return &r, c.do(ctx, http.MethodPost, "/v1/secrets/"+url.PathEscape(ref)+"/grants", req, &r)
}

// RevokeSecret removes a grant; a worker it covered drops the secret.
func (c *Client) RevokeSecret(ctx context.Context, ref string, req GrantRequest) (*Secret, error) {
	var r Secret
	return &r, c.do(ctx, http.MethodPost, "/v1/secrets/"+url.PathEscape(ref)+"/revoke", req, &r)
}

// InspectNode returns a node with its labels and grants.
func (c *Client) InspectNode(ctx context.Context, id string) (*NodeInspect, error) {
	var r NodeInspect
	return &r, c.do(ctx, http.MethodGet, "/v1/nodes/"+url.PathEscape(id), nil, &r)
}

// UpdateNode changes a node's labels.
func (c *Client) UpdateNode(ctx context.Context, id string, req NodeUpdateRequest) (*NodeInspect, error) {
	var r NodeInspect
	return &r, c.do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(id)+"/update", req, &r)
}

// WorkerStatus is a worker's view of its stream and what it holds.
type WorkerStatus struct {
	Connected   bool      `json:"Connected"`
	Manager     string    `json:"Manager,omitempty"` // the manager streaming to it now
	Managers    []string  `json:"Managers"`          // the managers it fails over to
	LastContact time.Time `json:"LastContact,omitempty"`
	// Stale is how long ago it last heard from a manager, while it hears
	// from none: it keeps serving what it holds, as of then.
	Stale   string `json:"Stale,omitempty"`
	Secrets int    `json:"Secrets"` // secrets held in memory
	Error   string `json:"Error,omitempty"`
	// UnlockedBuffers counts secrets held in memory that could not be
	// locked into RAM (RLIMIT_MEMLOCK).
	UnlockedBuffers int `json:"UnlockedBuffers,omitempty"`
}
