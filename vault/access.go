package vault

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/ca"
	"github.com/vaultd/vault/internal/audit"
	"github.com/vaultd/vault/raftsm"
)

// Remote clients (docs/access.md).
//
// `vault cluster client create NAME --role ROLE` has the cluster CA sign a
// certificate (CN NAME, OU "client") for a key the CLI made, and records
// NAME, ROLE and the certificate's serial in the cluster record. A manager's
// API serves the local API's routes to such certificates: at each request
// it reads the cluster record through the control group's leader
// (linearizable), admits the certificate only while the record lists it
// with that serial, and allows the route only if routeRules lists the
// client's role for it. Removing the client (`client rm`) takes it out of
// the record, so every manager refuses it from the next request on: no
// manager can admit it on a record older than the removal. A client
// certificate is never a peer: the Raft port and the peer routes refuse it.

// RoleClient is the OU of every remote client's certificate.
const RoleClient = "client"

// isClientCert says whether a certificate of the cluster CA was issued to a
// remote client (not to a manager or worker).
func isClientCert(c *x509.Certificate) bool {
	return slices.Contains(c.Subject.OrganizationalUnit, RoleClient)
}

// caller is who made an API request: root on the local socket, or a
// client certificate with a role.
type caller struct {
	identity *audit.Identity
	role     string // "" for root
}

type callerKey struct{}

func withCaller(ctx context.Context, c *caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// callerOf returns the request's caller: set by the manager API for a
// client, else the local socket's peer (root).
func callerOf(r *http.Request) *caller {
	if c, ok := r.Context().Value(callerKey{}).(*caller); ok {
		return c
	}
	if r.TLS != nil {
		return nil // the manager API's peer routes: not a client request
	}
	p, _ := audit.PeerFrom(r.Context())
	return &caller{identity: audit.SocketIdentity(p)}
}

// clientTable is the clients of one cluster record generation, by serial.
type clientTable struct {
	gen      uint64
	bySerial map[string]raftsm.Client
	removed  map[string]bool
}

// accessState is a Node's cache of the client table.
type accessState struct {
	clients atomic.Pointer[clientTable]
}

// clientCheckTimeout bounds the linearizable read behind each client
// request's admission.
const clientCheckTimeout = 3 * time.Second

// currentClients reads the cluster record through the leader and returns
// its client table (decrypting the record only when its generation changed).
func (n *Node) currentClients(ctx context.Context) (*clientTable, error) {
	ctx, cancel := context.WithTimeout(ctx, clientCheckTimeout)
	defer cancel()
	sc, err := readAs[*raftsm.StoredCluster](ctx, n, raftsm.ControlShard, raftsm.QueryCluster{})
	if err != nil {
		return nil, err
	}
	if t := n.acc.clients.Load(); t != nil && sc != nil && t.gen == sc.Gen {
		return t, nil
	}
	rec, err := n.openCluster(sc)
	if err != nil {
		return nil, err
	}
	t := &clientTable{gen: sc.Gen, bySerial: map[string]raftsm.Client{}, removed: map[string]bool{}}
	for _, c := range rec.Clients {
		t.bySerial[c.CertSerial] = c
	}
	for _, c := range rec.RemovedClients {
		t.removed[c.CertSerial] = true
	}
	n.acc.clients.Store(t)
	return t, nil
}

var noClientHint = "remote commands need a client bundle: on a manager, run `vault cluster client create NAME --role ROLE -o DIR`, then `vault --host tcp://HOST:PORT --tls-dir DIR …` (or VAULT_HOST and VAULT_CERT_PATH)"

// admitClient checks the request's client certificate against the cluster
// record: nil and the client, or the API error to answer.
func (n *Node) admitClient(r *http.Request) (*raftsm.Client, *x509.Certificate, *api.Error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil, nil, api.Errorf(api.CodeForbidden, "a client certificate from this cluster's CA is required").WithHint("%s", noClientHint)
	}
	cert := r.TLS.VerifiedChains[0][0]
	if !isClientCert(cert) {
		return nil, cert, api.Errorf(api.CodeForbidden, "this certificate (%s) is not a client's: managers and workers use their own routes", cert.Subject.CommonName).WithHint("%s", noClientHint)
	}
	t, err := n.currentClients(r.Context())
	if err != nil {
		return nil, cert, api.Errorf(api.CodeUnavailable, "cannot check the client certificate against the cluster record: %s", operatorMessage(err.Error())).
			WithHint("the manager needs its control group's leader to admit remote clients; retry, or use another manager")
	}
	serial := certSerial(cert)
	c, ok := t.bySerial[serial]
	switch {
	case !ok && t.removed[serial]:
		return nil, cert, api.Errorf(api.CodeForbidden, "client %s was removed from the cluster: its certificate is revoked", cert.Subject.CommonName).
			WithHint("ask an admin for a new bundle (`vault cluster client create`)")
	case !ok || c.Name != cert.Subject.CommonName:
		return nil, cert, api.Errorf(api.CodeForbidden, "client %s is not a client of this cluster", cert.Subject.CommonName).WithHint("%s", noClientHint)
	}
	return &c, cert, nil
}

// clientAPI serves the local API's routes on the manager API to client
// certificates, each route to the roles routeRules allows.
func (n *Node) clientAPI() http.Handler {
	local := n.routes()
	inner := n.refuseByPhase(local.ServeMux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/peer/") {
			http.NotFound(w, r) // a peer route this manager does not serve (an older version)
			return
		}
		_, pattern := local.Handler(r)
		cl, cert, e := n.admitClient(r)
		if e != nil {
			n.auditRefusal(r, cert, pattern, e)
			api.WriteError(w, e)
			return
		}
		id := audit.CertIdentity(audit.IdentityClient, cert)
		if pattern != "" && !allowed(pattern, cl.Role) {
			e := api.Errorf(api.CodeForbidden, "%s", refusal(pattern, cl.Role)).
				WithHint("client %s has role %s; docs/access.md lists what each role may do", cl.Name, cl.Role)
			n.auditRefusal(r, cert, pattern, e)
			api.WriteError(w, e)
			return
		}
		inner.ServeHTTP(w, r.WithContext(withCaller(r.Context(), &caller{identity: id, role: cl.Role})))
	})
}

var clientNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// CreateClient signs a remote client's certificate for req.CSR and records
// the client with its role.
func (n *Node) CreateClient(ctx context.Context, req *api.ClientCreateRequest) (*api.ClientCreateResponse, error) {
	if !clientNameRE.MatchString(req.Name) {
		return nil, api.Errorf(api.CodeInvalid, "client name %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", req.Name)
	}
	if err := validRole(req.Role); err != nil {
		return nil, api.Errorf(api.CodeInvalid, "%s", err.Error())
	}
	var resp *api.ClientCreateResponse
	_, err := n.updateCluster(ctx, func(rec *raftsm.ClusterRecord) error {
		if rec.ClientNamed(req.Name) != nil {
			return api.Errorf(api.CodeExists, "client %s exists", req.Name).WithHint("remove it first with `vault cluster client rm %s`, or choose another name", req.Name)
		}
		if rec.Member(req.Name) != nil {
			return api.Errorf(api.CodeExists, "%s is a manager's node id", req.Name)
		}
		root, err := ca.ParseRoot(rec.CACert, rec.CAKey)
		if err != nil {
			return err
		}
		now := time.Now()
		certPEM, err := root.Sign(req.CSR, req.Name, RoleClient, nil, now)
		if err != nil {
			return api.Errorf(api.CodeInvalid, "certificate request: %s", operatorMessage(err.Error()))
		}
		cert, err := ca.ParseCert(certPEM)
		if err != nil {
			return err
		}
		rec.Clients = append(rec.Clients, raftsm.Client{Name: req.Name, Role: req.Role, CertSerial: certSerial(cert),
			Created: now.UnixNano(), NotAfter: cert.NotAfter.UnixNano()})
		resp = &api.ClientCreateResponse{ClientInfo: clientInfo(rec.Clients[len(rec.Clients)-1]), CACert: rec.CACert, Cert: certPEM}
		return nil
	})
	if err != nil {
		return nil, err
	}
	n.log.Info("client created", "client", req.Name, "role", req.Role, "serial", resp.Serial)
	return resp, nil
}

func clientInfo(c raftsm.Client) api.ClientInfo {
	return api.ClientInfo{Name: c.Name, Role: c.Role, Serial: c.CertSerial,
		CreatedAt: time.Unix(0, c.Created).UTC(), NotAfter: time.Unix(0, c.NotAfter).UTC()}
}

// Clients lists the remote clients.
func (n *Node) Clients(ctx context.Context) ([]api.ClientInfo, error) {
	rec, _, err := n.readCluster(ctx)
	if err != nil {
		return nil, err
	}
	out := []api.ClientInfo{}
	for _, c := range rec.Clients {
		out = append(out, clientInfo(c))
	}
	return out, nil
}

// RemoveClient revokes a client's certificate: once the record without it
// is committed, no manager admits it (admitClient reads through the leader).
func (n *Node) RemoveClient(ctx context.Context, name string) (*api.ClientInfo, error) {
	var gone raftsm.Client
	_, err := n.updateCluster(ctx, func(rec *raftsm.ClusterRecord) error {
		i := slices.IndexFunc(rec.Clients, func(c raftsm.Client) bool { return c.Name == name })
		if i < 0 {
			return api.Errorf(api.CodeNotFound, "no such client: %s", name).WithHint("`vault cluster client ls` lists them")
		}
		gone = rec.Clients[i]
		rec.Clients = slices.Delete(rec.Clients, i, i+1)
		rec.RemovedClients = append(rec.RemovedClients, raftsm.RemovedClient{Name: gone.Name, CertSerial: gone.CertSerial, Removed: time.Now().UnixNano()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	n.log.Info("client removed: its certificate is revoked", "client", name, "serial", gone.CertSerial)
	info := clientInfo(gone)
	return &info, nil
}

// registerClients adds the client management routes.
func (n *Node) registerClients(mux *routeTable) {
	mux.HandleFunc("POST /v1/cluster/clients", n.handle(func(r *http.Request) (any, error) {
		var req api.ClientCreateRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return n.CreateClient(r.Context(), &req)
	}))
	mux.HandleFunc("GET /v1/cluster/clients", n.handle(func(r *http.Request) (any, error) { return n.Clients(r.Context()) }))
	mux.HandleFunc("DELETE /v1/cluster/clients/{name}", n.handle(func(r *http.Request) (any, error) {
		return n.RemoveClient(r.Context(), r.PathValue("name"))
	}))
}

// errClientCert is the peer admission's refusal of a client certificate.
var errClientCert = errors.New("a client certificate is not a peer")
