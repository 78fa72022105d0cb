package api

import (
	"context"
	"net/http"
)

// VersionPolicy is POST /v1/cluster/versions: how many data versions a
// secret keeps unless it has its own limit (0: all).
type VersionPolicy struct {
	MaxVersions int `json:"MaxVersions"`
}

// SetVersionPolicy sets the cluster's default version limit.
func (c *Client) SetVersionPolicy(ctx context.Context, p VersionPolicy) error {
	return c.do(ctx, http.MethodPost, "/v1/cluster/versions", p, nil)
}
