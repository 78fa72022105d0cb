package audit

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// PeerCred returns the credentials of a Unix socket's peer (SO_PEERCRED),
// for the identity of a local socket caller.
func PeerCred(c net.Conn) (*Peer, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil, fmt.Errorf("audit: peer credentials of a %T", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, fmt.Errorf("audit: SO_PEERCRED: %w", serr)
	}
	return &Peer{UID: cred.Uid, PID: cred.Pid}, nil
}

// SocketIdentity is the identity of a local socket caller.
func SocketIdentity(p *Peer) *Identity { return &Identity{Kind: IdentitySocket, Peer: p} }

// CertIdentity is the identity of a caller with a client certificate; kind
// is IdentityManager, IdentityWorker or IdentityClient.
func CertIdentity(kind string, cert *x509.Certificate) *Identity {
	id := &Identity{Kind: kind}
	if cert != nil {
		id.Cert = &Cert{Subject: cert.Subject.String(), Serial: cert.SerialNumber.Text(16)}
	}
	return id
}

type peerKey struct{}

// WithPeer returns ctx carrying a socket peer (for http.Server.ConnContext).
func WithPeer(ctx context.Context, p *Peer) context.Context {
	return context.WithValue(ctx, peerKey{}, p)
}

// PeerFrom returns the socket peer WithPeer put in ctx.
func PeerFrom(ctx context.Context) (*Peer, error) {
	p, ok := ctx.Value(peerKey{}).(*Peer)
	if !ok || p == nil {
		return nil, errors.New("audit: no socket peer in the request context")
	}
	return p, nil
}
