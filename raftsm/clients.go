package raftsm

// Client is a remote operator's certificate: `vault cluster client create`
// issues it from the cluster CA with a role. Managers admit a client
// certificate on their API only while the cluster record lists it with the
// same serial, so removing it (`vault cluster client rm`) revokes it on
// every manager as soon as each applies the record.
type Client struct {
	Name       string `json:"name"`
	Role       string `json:"role"`        // admin, operator, writer, reader
	CertSerial string `json:"cert_serial"` // hex
	Created    int64  `json:"created"`     // unix nanoseconds
	NotAfter   int64  `json:"not_after"`   // unix nanoseconds
}

// RemovedClient is a client certificate that was revoked.
type RemovedClient struct {
	Name       string `json:"name"`
	CertSerial string `json:"cert_serial"`
	Removed    int64  `json:"removed"` // unix nanoseconds
}

// ClientNamed returns the client called name, or nil.
func (c *ClusterRecord) ClientNamed(name string) *Client {
	for i := range c.Clients {
		if c.Clients[i].Name == name {
			return &c.Clients[i]
		}
	}
	return nil
}
