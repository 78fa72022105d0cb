package vault

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/vaultd/vault/ca"
	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/internal/statedir"
)

type tlsMaterial struct {
	caPEM, certPEM []byte
	root           *x509.Certificate
	pool           *x509.CertPool
	cert           tls.Certificate // leaf + root, for servers and clients
	keyPath        string          // /proc/self/fd/N of a memfd holding the key
	keyFile        *os.File
}

func (m *tlsMaterial) close() {
	if m != nil && m.keyFile != nil {
		m.keyFile.Close()
	}
}

// writeTLS stores the CA certificate, the node certificate, and the node key
// sealed under kek.
func writeTLS(stateDir string, kek *crypto.Key, caPEM, certPEM, keyPEM []byte) error {
	dir := filepath.Join(stateDir, statedir.TLSDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, b := range map[string][]byte{statedir.CACertFile: caPEM, statedir.NodeCertFile: certPEM} {
		if err := statedir.WriteFileAtomic(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return statedir.SealNodeKey(stateDir, statedir.NodeKeyFile, kek, keyPEM)
}

// loadTLS reads the TLS material and unseals the node key into a memfd.
func loadTLS(stateDir string, kek *crypto.Key) (*tlsMaterial, error) {
	dir := filepath.Join(stateDir, statedir.TLSDir)
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("TLS material: %w", err)
		}
		return b, nil
	}
	caPEM, err := read(statedir.CACertFile)
	if err != nil {
		return nil, err
	}
	certPEM, err := read(statedir.NodeCertFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := statedir.OpenNodeKey(dir, kek)
	if err != nil {
		return nil, err
	}
	defer statedir.Wipe(keyPEM)
	return newTLSMaterial(caPEM, certPEM, keyPEM)
}

func newTLSMaterial(caPEM, certPEM, keyPEM []byte) (*tlsMaterial, error) {
	root, err := ca.ParseCert(caPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("node certificate: %w", err)
	}
	pair.Certificate = append(pair.Certificate, root.Raw)
	pool := x509.NewCertPool()
	pool.AddCert(root)
	f, err := memFile("vault-node-key", keyPEM)
	if err != nil {
		return nil, err
	}
	return &tlsMaterial{
		caPEM: caPEM, certPEM: certPEM, root: root, pool: pool, cert: pair,
		keyFile: f, keyPath: fmt.Sprintf("/proc/self/fd/%d", f.Fd()),
	}, nil
}

// memFile returns an anonymous in-memory file holding data.
func memFile(name string, data []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd: %w", err)
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// keyPEM reads the node key back from its memfd.
func (m *tlsMaterial) keyPEM() ([]byte, error) {
	fi, err := m.keyFile.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, fi.Size())
	if _, err := m.keyFile.ReadAt(b, 0); err != nil {
		return nil, err
	}
	return b, nil
}

// caFiles writes the CA and node certificates where Dragonboat can read
// them by path (they are public) and returns the paths.
func (m *tlsMaterial) files(stateDir string) (caFile, certFile, keyFile string) {
	dir := filepath.Join(stateDir, statedir.TLSDir)
	return filepath.Join(dir, statedir.CACertFile), filepath.Join(dir, statedir.NodeCertFile), m.keyPath
}

// serverConfig is the manager API's TLS: client certificates from the
// cluster CA are verified when given (peer endpoints require one; join is
// authenticated by its token instead).
func (m *tlsMaterial) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{m.cert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    m.pool,
	}
}

// clientConfig dials another manager with this node's certificate.
func (m *tlsMaterial) clientConfig(addr string) *tls.Config {
	host, _, _ := net.SplitHostPort(addr)
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{m.cert},
		RootCAs:      m.pool,
		ServerName:   host,
	}
}

// errCADigest is returned by a join dial whose server is not of the token's cluster.
var errCADigest = errors.New("CA digest mismatch")

// tokenTLSConfig verifies a manager against a join token's root digest:
// the handshake fails, before any request is sent, unless the manager's chain
// ends in a root with that digest and names the host dialed.
func tokenTLSConfig(addr string, digest [32]byte) *tls.Config {
	host, _, _ := net.SplitHostPort(addr)
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // verified below against the token's digest
		VerifyConnection: func(cs tls.ConnectionState) error {
			var root *x509.Certificate
			for _, c := range cs.PeerCertificates {
				if c.IsCA && ca.Digest(c) == digest {
					root = c
				}
			}
			if root == nil || len(cs.PeerCertificates) == 0 {
				return errCADigest
			}
			pool := x509.NewCertPool()
			pool.AddCert(root)
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
				Roots: pool, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			return err
		},
	}
}

func certHosts(addrs ...string) []string {
	var hosts []string
	seen := map[string]bool{}
	for _, a := range addrs {
		h, _, err := net.SplitHostPort(a)
		if err == nil && h != "" && !seen[h] {
			seen[h] = true
			hosts = append(hosts, h)
		}
	}
	return hosts
}
