package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/ca"
)

// Remote use: `vault --host tcp://HOST:PORT --tls-dir DIR …` (or VAULT_HOST
// and VAULT_CERT_PATH, as Docker's DOCKER_HOST and DOCKER_CERT_PATH) talks
// to a manager's API with the client bundle in DIR: ca.pem (the cluster CA,
// the only CA trusted), cert.pem and key.pem, as `vault cluster client
// create` writes them.

// Bundle file names.
const (
	bundleCA   = "ca.pem"
	bundleCert = "cert.pem"
	bundleKey  = "key.pem"
)

func remoteFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "host", EnvVars: []string{"VAULT_HOST"}, Usage: "a manager's API, tcp://HOST:PORT, to use instead of the local socket (needs --tls-dir)"},
		&cli.StringFlag{Name: "tls-dir", EnvVars: []string{"VAULT_CERT_PATH"}, Usage: "the client bundle for --host: ca.pem, cert.pem, key.pem, as vault cluster client create -o DIR writes them"},
	}
}

// remoteHost is --host (or VAULT_HOST), "" for the local socket.
func remoteHost(c *cli.Context) string {
	for _, x := range c.Lineage() {
		if x.IsSet("host") || x.String("host") != "" {
			return x.String("host")
		}
	}
	return ""
}

func tlsDir(c *cli.Context) string {
	for _, x := range c.Lineage() {
		if d := x.String("tls-dir"); d != "" {
			return d
		}
	}
	return ""
}

// remoteClient is the client for --host: every request fails with the
// bundle's problem, if it has one.
func remoteClient(host, dir string) *api.Client {
	addr, err := hostAddr(host)
	var cfg *tls.Config
	if err == nil {
		cfg, err = bundleTLS(dir)
	}
	tr := &http.Transport{TLSClientConfig: cfg, TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: 60 * time.Second}
	if cfg != nil {
		cfg.VerifyConnection = verifyManager(cfg.RootCAs, host, dir)
	}
	return api.NewTransportClient("https://"+addr, &remoteTransport{rt: tr, host: host, err: err})
}

// hostAddr reads tcp://HOST:PORT (or HOST:PORT).
func hostAddr(host string) (string, error) {
	addr := strings.TrimPrefix(host, "tcp://")
	if strings.Contains(addr, "://") {
		return "", usagef("vault --host tcp://HOST:PORT …", "--host %q: want tcp://HOST:PORT (a manager's API address, `vault status` shows it)", host)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", usagef("vault --host tcp://HOST:PORT …", "--host %q: want tcp://HOST:PORT", host)
	}
	return addr, nil
}

// bundleTLS reads a client bundle: the cluster CA is the only root
// trusted (pinned); the client certificate and key authenticate.
func bundleTLS(dir string) (*tls.Config, error) {
	if dir == "" {
		return nil, usagef("on a manager, `vault cluster client create NAME --role ROLE -o DIR` writes a bundle", "--host needs a client bundle: give --tls-dir DIR (or VAULT_CERT_PATH)")
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, bundleCA))
	if err != nil {
		return nil, bundleError(dir, err)
	}
	root, err := ca.ParseCert(caPEM)
	if err != nil || !root.IsCA {
		return nil, usagef("", "%s is not a CA certificate", filepath.Join(dir, bundleCA))
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, bundleCert), filepath.Join(dir, bundleKey))
	if err != nil {
		return nil, bundleError(dir, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{pair},
		RootCAs:      pool,
		// Any manager of the cluster may answer, whatever name or address
		// it was reached by: VerifyConnection checks the chain against
		// the pinned CA and that the certificate is a manager's.
		InsecureSkipVerify: true,
	}, nil
}

func bundleError(dir string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return usagef("a bundle holds ca.pem, cert.pem and key.pem, as `vault cluster client create NAME --role ROLE -o DIR` writes them", "client bundle %s: %s", dir, err)
}

// verifyManager accepts only a manager's certificate issued by the pinned
// cluster CA.
func verifyManager(roots *x509.CertPool, host, dir string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("no server certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		leaf := cs.PeerCertificates[0]
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			return &api.Error{Code: api.CodeForbidden, Message: fmt.Sprintf("%s is not a manager of the cluster whose CA is in %s", host, dir),
				Hint: "check --host and --tls-dir; a locked manager answers with a throwaway certificate until it is unlocked on the node"}
		}
		if !slices.Contains(leaf.Subject.OrganizationalUnit, ca.RoleManager) {
			return &api.Error{Code: api.CodeForbidden, Message: fmt.Sprintf("%s answers with a certificate that is not a manager's", host)}
		}
		return nil
	}
}

// remoteTransport turns connection failures into messages that say what
// to do.
type remoteTransport struct {
	rt   http.RoundTripper
	host string
	err  error // the bundle's problem, for every request
}

func (t *remoteTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.err != nil {
		return nil, t.err
	}
	resp, err := t.rt.RoundTrip(req)
	if err == nil {
		return resp, nil
	}
	var ae *api.Error
	switch {
	case errors.As(err, &ae):
		return nil, ae
	case errors.Is(err, syscall.ECONNREFUSED):
		return nil, (&api.Error{Code: "no_daemon", Message: fmt.Sprintf("no vault manager answers at %s", t.host)}).
			WithHint("is the manager running, and is this its API address (`vault status` on it shows APIAddr)?")
	case strings.Contains(err.Error(), "certificate"), strings.Contains(err.Error(), "tls:"):
		return nil, (&api.Error{Code: api.CodeForbidden, Message: fmt.Sprintf("%s refused the client certificate: %v", t.host, err)}).
			WithHint("the bundle may be of another cluster; on a manager, `vault cluster client ls` lists the clients")
	}
	return nil, err
}

// localOnly are the commands that act on the node they run on.
var localOnly = map[string]string{
	"daemon":          "runs a node",
	"dev":             "runs a node",
	"mount":           "mounts on the node it runs on",
	"unmount":         "unmounts on the node it runs on",
	"exec":            "runs a command on the node it runs on",
	"bench":           "runs its own cluster",
	"cluster init":    "initializes the node it runs on",
	"cluster join":    "joins the node it runs on",
	"cluster restore": "makes the node it runs on a new cluster's first manager",
	"cluster recover": "makes the node it runs on a one-manager cluster",
}

// refuseRemote makes the local-only commands say so under --host.
func refuseRemote(cmds []*cli.Command, parent string) {
	for _, c := range cmds {
		path := strings.TrimSpace(parent + " " + c.Name)
		if why, ok := localOnly[path]; ok {
			before := c.Before
			c.Before = func(ctx *cli.Context) error {
				if h := remoteHost(ctx); h != "" {
					return usagef("run it on the node itself, without --host (and with VAULT_HOST unset)", "`vault %s` is local to a node (it %s): it cannot run with --host %s", path, why, h)
				}
				if before != nil {
					return before(ctx)
				}
				return nil
			}
		}
		refuseRemote(c.Subcommands, path)
	}
}
