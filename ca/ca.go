// Package ca is vault's built-in certificate authority and join tokens: the
// cluster's root CA (ECDSA P-256), node certificates for mutual TLS between
// managers, and the tokens a new node presents to join.
//
// # Trust
//
// Every manager-to-manager connection (Raft transport and API) is mutual TLS
// with certificates signed by the cluster's root. A joining node has no
// certificate yet: it learns the root's SHA-256 digest from its join token
// and refuses a manager whose chain does not end in that root before it sends
// anything. The root's private key is stored sealed in the control group, so
// any manager can admit nodes.
//
// # Join tokens
//
//	VLTTKN-1-<root digest, base32, 52 chars>-<secret, base32, 32 chars>
//
// One token per role (manager, worker). Managers compare the secret in
// constant time; rotating a role's token makes the old one useless.
package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base32"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

// Validity periods.
const (
	RootValidity = 20 * 365 * 24 * time.Hour
	NodeValidity = 365 * 24 * time.Hour
)

// Root is the cluster's root CA. KeyPEM is secret.
type Root struct {
	Cert    *x509.Certificate
	CertPEM []byte
	key     *ecdsa.PrivateKey
}

// NewRoot creates a root CA for a cluster.
func NewRoot(clusterID string, now time.Time) (*Root, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "vault root CA", Organization: []string{clusterID}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(RootValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return &Root{Cert: cert, CertPEM: pemBlock("CERTIFICATE", der), key: key}, pemBlock("EC PRIVATE KEY", keyDER), nil
}

// ParseRoot loads a root from its certificate and private key.
func ParseRoot(certPEM, keyPEM []byte) (*Root, error) {
	cert, err := ParseCert(certPEM)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(keyPEM)
	if b == nil {
		return nil, errors.New("ca: root key is not PEM")
	}
	key, err := x509.ParseECPrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ca: root key: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("ca: root key does not match its certificate")
	}
	return &Root{Cert: cert, CertPEM: certPEM, key: key}, nil
}

// ParseCert parses one PEM certificate.
func ParseCert(certPEM []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(certPEM)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("ca: not a PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

// Digest is the SHA-256 of the root certificate, as carried in join tokens.
func Digest(cert *x509.Certificate) [32]byte { return sha256.Sum256(cert.Raw) }

// NewNodeKey makes a node's private key and a CSR for it.
func NewNodeKey(nodeID string) (keyPEM, csrPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: nodeID}}, key)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pemBlock("EC PRIVATE KEY", der), pemBlock("CERTIFICATE REQUEST", csr), nil
}

// Sign issues a node certificate for a CSR: CN is the node id, OU its role,
// O the cluster id; SANs are the hosts (IPs or DNS names) it is reached at;
// usable as TLS server and client.
func (r *Root) Sign(csrPEM []byte, nodeID, role string, hosts []string, now time.Time) ([]byte, error) {
	b, _ := pem.Decode(csrPEM)
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("ca: not a PEM certificate request")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ca: certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("ca: certificate request signature: %w", err)
	}
	if _, ok := csr.PublicKey.(*ecdsa.PublicKey); !ok {
		return nil, errors.New("ca: certificate request must carry an ECDSA key")
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject: pkix.Name{CommonName: nodeID, OrganizationalUnit: []string{role},
			Organization: r.Cert.Subject.Organization},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(NodeValidity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, r.Cert, csr.PublicKey, r.key)
	if err != nil {
		return nil, err
	}
	return pemBlock("CERTIFICATE", der), nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// Roles a token admits.
const (
	RoleManager = "manager"
	RoleWorker  = "worker"
)

var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

const tokenPrefix = "VLTTKN-1-"

// Errors from ParseToken.
var (
	ErrTokenFormat = errors.New("ca: malformed join token")
)

// Token is a parsed join token.
type Token struct {
	Digest [32]byte // SHA-256 of the cluster's root certificate
	Secret [20]byte
}

// NewTokenSecret returns a random token secret.
func NewTokenSecret() ([20]byte, error) {
	var s [20]byte
	_, err := rand.Read(s[:])
	return s, err
}

// String formats the token.
func (t Token) String() string {
	return tokenPrefix + tokenEncoding.EncodeToString(t.Digest[:]) + "-" + tokenEncoding.EncodeToString(t.Secret[:])
}

// ParseToken parses a join token; surrounding whitespace is ignored.
func ParseToken(s string) (Token, error) {
	var t Token
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, tokenPrefix)
	if !ok {
		return t, fmt.Errorf("%w: it starts with %s", ErrTokenFormat, tokenPrefix)
	}
	d, sec, ok := strings.Cut(rest, "-")
	db, err1 := tokenEncoding.DecodeString(d)
	sb, err2 := tokenEncoding.DecodeString(sec)
	// Exact lengths and canonical encodings only: one token has one spelling.
	if !ok || err1 != nil || err2 != nil || len(db) != 32 || len(sb) != 20 ||
		tokenEncoding.EncodeToString(db) != d || tokenEncoding.EncodeToString(sb) != sec {
		return t, fmt.Errorf("%w: want %s<52 characters>-<32 characters>; `vault cluster join-token manager` on a manager prints one", ErrTokenFormat, tokenPrefix)
	}
	copy(t.Digest[:], db)
	copy(t.Secret[:], sb)
	return t, nil
}

// SecretEqual compares token secrets in constant time.
func SecretEqual(a, b [20]byte) bool {
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}
