package api

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// ClientCreateRequest is POST /v1/cluster/clients: sign a remote client's
// certificate. The key stays with the caller: only its CSR is sent.
type ClientCreateRequest struct {
	Name string `json:"Name"`
	Role string `json:"Role"`
	CSR  []byte `json:"CSR"` // PEM
}

// ClientInfo describes a remote client.
type ClientInfo struct {
	Name      string    `json:"Name"`
	Role      string    `json:"Role"`
	Serial    string    `json:"Serial"` // the certificate's, hex
	CreatedAt time.Time `json:"CreatedAt"`
	NotAfter  time.Time `json:"NotAfter"`
}

// ClientCreateResponse is the new client and its certificate, with the
// cluster CA to pin.
type ClientCreateResponse struct {
	ClientInfo
	CACert []byte `json:"CACert"` // PEM
	Cert   []byte `json:"Cert"`   // PEM
}

// CreateClient has the cluster CA sign a client certificate.
func (c *Client) CreateClient(ctx context.Context, req ClientCreateRequest) (*ClientCreateResponse, error) {
	var r ClientCreateResponse
	return &r, c.do(ctx, http.MethodPost, "/v1/cluster/clients", req, &r)
}

// Clients lists the remote clients.
func (c *Client) Clients(ctx context.Context) ([]ClientInfo, error) {
	var r []ClientInfo
	return r, c.do(ctx, http.MethodGet, "/v1/cluster/clients", nil, &r)
}

// RemoveClient revokes a client's certificate.
func (c *Client) RemoveClient(ctx context.Context, name string) (*ClientInfo, error) {
	var r ClientInfo
	return &r, c.do(ctx, http.MethodDelete, "/v1/cluster/clients/"+url.PathEscape(name), nil, &r)
}
