package api

import (
	"context"
	"net/http"
	"net/url"
)

// RoleChange is the answer to `vault node promote` and `vault node demote`:
// the node joined again with its new role, under a new id.
type RoleChange struct {
	ID    string `json:"ID"`    // the node's id before the change
	NewID string `json:"NewID"` // its id now
	Role  string `json:"Role"`  // its role now: manager or worker
}

// PromoteNode makes a worker a manager.
func (c *Client) PromoteNode(ctx context.Context, id string) (*RoleChange, error) {
	var r RoleChange
	return &r, c.do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(id)+"/promote", nil, &r)
}

// DemoteNode makes a manager a worker.
func (c *Client) DemoteNode(ctx context.Context, id string) (*RoleChange, error) {
	var r RoleChange
	return &r, c.do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(id)+"/demote", nil, &r)
}
