// Package credsock answers systemd's LoadCredential= with secrets of a
// vault node: a unit that says
//
//	LoadCredential=db-password:/run/vault/credentials.sock
//
// gets the secret its grant names in $CREDENTIALS_DIRECTORY/db-password,
// in memory (systemd keeps credentials on a non-swappable ramfs), without
// it ever touching a disk.
//
// # Protocol
//
// For a LoadCredential= whose source is an AF_UNIX stream socket, systemd
// (PID 1, root) binds its end to the abstract address
// "\x00RANDOM/unit/UNIT/ID", connects, and reads the credential until the
// connection ends. The server reads the unit and the credential id from the
// peer's address, looks up a grant for exactly that pair, writes the
// secret's latest data and closes. Anything else — no grant, a peer that is
// not root, an address of another form — is closed without a byte, which
// makes systemd fail to start the unit ("Failed to set up credentials").
//
// # Invariants
//
//   - Only grants given to the daemon are ever answered; a grant names one
//     unit and one credential id, and says which secret.
//   - The socket is mode 0600 (root) and the peer must be root: the
//     address is chosen by the peer, so it proves nothing by itself.
//   - Logs name the unit and the credential id, never the secret's name or
//     data.
package credsock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vaultd/vault/api"
)

// ErrInvalidGrant means a grant could not be parsed.
var ErrInvalidGrant = errors.New("credsock: invalid grant")

// Grant gives a unit's credential the data of a secret.
type Grant struct {
	Unit       string // e.g. app.service
	Credential string // the ID of LoadCredential=ID:PATH
	Secret     string // NAME, NAME@VERSION or an id
}

var (
	unitRE = regexp.MustCompile(`^[a-zA-Z0-9:_.\\@-]{1,255}$`)
	credRE = regexp.MustCompile(`^[a-zA-Z0-9_.@+-]{1,255}$`)
)

// ParseGrant parses UNIT/CREDENTIAL=SECRET, e.g.
// app.service/db-password=db-password.
func ParseGrant(s string) (Grant, error) {
	left, secret, ok := strings.Cut(s, "=")
	unit, cred, ok2 := strings.Cut(left, "/")
	if !ok || !ok2 || secret == "" {
		return Grant{}, fmt.Errorf("%w %q: give UNIT/CREDENTIAL=SECRET, e.g. app.service/db-password=db-password", ErrInvalidGrant, s)
	}
	if !unitRE.MatchString(unit) || !strings.Contains(unit, ".") {
		return Grant{}, fmt.Errorf("%w %q: %q is not a unit name (e.g. app.service)", ErrInvalidGrant, s, unit)
	}
	if !credRE.MatchString(cred) || cred == "." || cred == ".." {
		return Grant{}, fmt.Errorf("%w %q: %q is not a credential name", ErrInvalidGrant, s, cred)
	}
	return Grant{Unit: unit, Credential: cred, Secret: secret}, nil
}

// Reader reads a secret's data; *vault.Node is one (CredentialData).
type Reader interface {
	CredentialData(ctx context.Context, ref string) ([]byte, error)
}

// Server answers credential requests.
type Server struct {
	r      Reader
	grants map[[2]string]string // (unit, credential) -> secret
	log    *slog.Logger
	// peerOK decides whether a peer may ask; nil: root only.
	peerOK func(cred *unix.Ucred) bool

	mu sync.Mutex
	l  net.Listener
}

// New returns a server of grants (a unit and credential granted twice is
// an error).
func New(r Reader, grants []Grant, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{r: r, grants: map[[2]string]string{}, log: log}
	for _, g := range grants {
		k := [2]string{g.Unit, g.Credential}
		if _, dup := s.grants[k]; dup {
			return nil, fmt.Errorf("%w: %s/%s is granted twice", ErrInvalidGrant, g.Unit, g.Credential)
		}
		s.grants[k] = g.Secret
	}
	return s, nil
}

// Listen opens the socket at path (mode 0600), replacing a file left by a
// process that is gone.
func Listen(path string) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("credsock: another process serves %s", path)
	}
	_ = os.Remove(path)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("credsock: %w", err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("credsock: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("credsock: %w", err)
	}
	return l, nil
}

// Serve answers on l until Close.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	s.l = l
	s.mu.Unlock()
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go s.answer(c.(*net.UnixConn))
	}
}

// Close stops serving.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.l != nil {
		return s.l.Close()
	}
	return nil
}

// PeerUnit parses the abstract address systemd binds for a credential
// request: "@RANDOM/unit/UNIT/ID" as Go shows it.
func PeerUnit(addr string) (unit, cred string, ok bool) {
	rest, ok := strings.CutPrefix(addr, "@")
	if !ok {
		return "", "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 4 || parts[0] == "" || parts[1] != "unit" || !unitRE.MatchString(parts[2]) || !credRE.MatchString(parts[3]) {
		return "", "", false
	}
	return parts[2], parts[3], true
}

func (s *Server) answer(c *net.UnixConn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	addr := ""
	if a := c.RemoteAddr(); a != nil {
		addr = a.String()
	}
	unit, cred, ok := PeerUnit(addr)
	if !ok {
		s.log.Warn("credential request refused: the peer's address is not systemd's \"\\0RANDOM/unit/UNIT/ID\"")
		return
	}
	if !s.peerAllowed(c) {
		s.log.Warn("credential request refused: the peer is not root", "unit", unit, "credential", cred)
		return
	}
	secret, ok := s.grants[[2]string{unit, cred}]
	if !ok {
		s.log.Warn("credential request refused: not granted", "unit", unit, "credential", cred)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	data, err := s.r.CredentialData(ctx, secret)
	if err != nil {
		s.log.Warn("credential request failed", "unit", unit, "credential", cred, "err", kind(err))
		return
	}
	defer clear(data)
	if _, err := c.Write(data); err != nil {
		s.log.Warn("credential request failed", "unit", unit, "credential", cred, "err", err)
		return
	}
	s.log.Info("credential handed to the service manager", "unit", unit, "credential", cred, "bytes", len(data))
}

func (s *Server) peerAllowed(c *net.UnixConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var cred *unix.Ucred
	_ = raw.Control(func(fd uintptr) {
		cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err != nil || cred == nil {
		return false
	}
	if s.peerOK != nil {
		return s.peerOK(cred)
	}
	return cred.Uid == 0
}

// kind describes an error for a log line that must not name the secret:
// errors of the node name it, so only their code is logged.
func kind(err error) string {
	var ae *api.Error
	if errors.As(err, &ae) {
		return "api error: " + ae.Code
	}
	return "cannot read the secret"
}
