package vault

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/ca"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/raftsm"
)

// Grants and node labels (raftsm.Fleet) live in the sealed cluster record.
// Deny by default: a worker receives a secret only while a grant names it
// or one of its labels. Every change is one compare-and-set of the record
// (updateCluster), so a grant, a revocation, a label change and a node's
// removal are ordered with membership, and a worker's stream (worker*.go)
// sees them in that order.

// registerWorkerRoutes adds the routes of grants, node labels and workers.
func (n *Node) registerWorkerRoutes(mux *routeTable) {
	mux.HandleFunc("POST /v1/secrets/{ref}/grants", n.handle(func(r *http.Request) (any, error) {
		var req api.GrantRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return n.GrantSecret(r.Context(), r.PathValue("ref"), &req)
	}))
	mux.HandleFunc("POST /v1/secrets/{ref}/revoke", n.handle(func(r *http.Request) (any, error) {
		var req api.GrantRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return n.RevokeSecret(r.Context(), r.PathValue("ref"), &req)
	}))
	mux.HandleFunc("GET /v1/nodes/{id}", n.handle(func(r *http.Request) (any, error) {
		return n.InspectNode(readContext(r), r.PathValue("id"))
	}))
	mux.HandleFunc("POST /v1/nodes/{id}/update", n.handle(func(r *http.Request) (any, error) {
		var req api.NodeUpdateRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return n.UpdateNode(r.Context(), r.PathValue("id"), &req)
	}))
	mux.HandleFunc("POST /v1/nodes/{id}/promote", n.handle(func(r *http.Request) (any, error) {
		return n.PromoteNode(r.Context(), r.PathValue("id"))
	}))
	mux.HandleFunc("POST /v1/nodes/{id}/demote", n.handle(func(r *http.Request) (any, error) {
		return n.DemoteNode(r.Context(), r.PathValue("id"))
	}))
}

// parseLabel splits KEY=VALUE; bare says whether KEY alone (an empty
// value) is accepted.
func parseLabel(s string, bare bool) (k, v string, err error) {
	k, v, ok := strings.Cut(s, "=")
	switch {
	case k == "":
		return "", "", api.Errorf(api.CodeInvalid, "label %q: the key is empty", s).WithHint("write a label as KEY=VALUE")
	case !ok && !bare:
		return "", "", api.Errorf(api.CodeInvalid, "label %q has no value", s).WithHint("write a label as KEY=VALUE")
	case len(k) > maxLabelLen || len(v) > maxLabelLen:
		return "", "", api.Errorf(api.CodeInvalid, "label %q: keys and values are at most %d bytes", k, maxLabelLen)
	}
	return k, v, nil
}

// findNode resolves a node id or unique prefix among managers and
// workers; it returns the full id and the node's role.
func findNode(rec *raftsm.ClusterRecord, ref string) (string, string, error) {
	type node struct{ id, role string }
	var all []node
	for _, m := range rec.Members {
		all = append(all, node{m.NodeID, ca.RoleManager})
	}
	for _, w := range rec.Workers {
		all = append(all, node{w.NodeID, ca.RoleWorker})
	}
	var found []node
	for _, x := range all {
		if x.id == ref {
			return x.id, x.role, nil
		}
		if ref != "" && strings.HasPrefix(x.id, ref) {
			found = append(found, x)
		}
	}
	switch len(found) {
	case 1:
		return found[0].id, found[0].role, nil
	case 0:
		return "", "", api.Errorf(api.CodeNotFound, "no such node: %s", ref).WithHint("`vault node ls` lists the nodes")
	}
	return "", "", api.Errorf(api.CodeAmbiguous, "%q matches %d nodes", ref, len(found)).WithHint("give more of the id")
}

// grantTarget checks a grant request: exactly one of node and label.
func grantTarget(req *api.GrantRequest) error {
	if (req.NodeID == "") == (req.Label == "") {
		return api.Errorf(api.CodeInvalid, "give exactly one of a node (--node ID) and a node label (--node-label KEY=VALUE)")
	}
	if req.Label != "" {
		if _, _, err := parseLabel(req.Label, false); err != nil {
			return err
		}
	}
	return nil
}

// GrantSecret lets a node, or every node with a label, receive a secret.
// Granting what is already granted changes nothing.
func (n *Node) GrantSecret(ctx context.Context, ref string, req *api.GrantRequest) (*api.Secret, error) {
	if err := grantTarget(req); err != nil {
		return nil, err
	}
	e, err := n.resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	g := raftsm.Grant{SecretID: e.rec.ID, Label: req.Label, Created: time.Now().UnixNano()}
	rec, err := n.updateCluster(ctx, func(rec *raftsm.ClusterRecord) error {
		if req.NodeID != "" {
			id, _, err := findNode(rec, req.NodeID)
			if err != nil {
				return err
			}
			g.NodeID = id
		}
		rec.AddGrant(g)
		return nil
	})
	if err != nil {
		return nil, err
	}
	n.log.Info("secret granted", "secret_id", g.SecretID, "node_id", g.NodeID, "by_label", g.Label != "")
	s := toAPISecret(&e.rec)
	s.Grants = apiGrants(rec.GrantsOf(e.rec.ID), "")
	return s, nil
}

// RevokeSecret removes a grant. Workers it covered, and no other grant
// does, drop the secret from memory and mounts as they apply it.
func (n *Node) RevokeSecret(ctx context.Context, ref string, req *api.GrantRequest) (*api.Secret, error) {
	if err := grantTarget(req); err != nil {
		return nil, err
	}
	e, err := n.resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	g := raftsm.Grant{SecretID: e.rec.ID, NodeID: req.NodeID, Label: req.Label}
	rec, err := n.updateCluster(ctx, func(rec *raftsm.ClusterRecord) error {
		if g.NodeID != "" {
			// The grant names a node by its full id; a prefix finds it
			// among the secret's grants (the node may be gone).
			var ids []string
			for _, x := range rec.GrantsOf(g.SecretID) {
				if x.NodeID != "" && strings.HasPrefix(x.NodeID, req.NodeID) {
					ids = append(ids, x.NodeID)
				}
			}
			if len(ids) == 1 {
				g.NodeID = ids[0]
			}
		}
		if !rec.RemoveGrant(g) {
			return api.Errorf(api.CodeNotFound, "secret %s has no grant to %s", e.rec.Name, g.Target()).
				WithHint("`vault secret inspect %s` lists its grants", e.rec.Name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	n.log.Info("secret grant revoked", "secret_id", g.SecretID, "node_id", g.NodeID, "by_label", g.Label != "")
	s := toAPISecret(&e.rec)
	s.Grants = apiGrants(rec.GrantsOf(e.rec.ID), "")
	return s, nil
}

// forgetGrants drops a removed secret's grants from the cluster record.
// Best effort: ids are never reused, so a grant left behind (this write
// failed) gives nothing: workers receive only secrets that exist.
func (n *Node) forgetGrants(ctx context.Context, secretID string) {
	_, err := n.updateCluster(ctx, func(rec *raftsm.ClusterRecord) error {
		if len(rec.GrantsOf(secretID)) == 0 {
			return errNoChange
		}
		rec.ForgetSecret(secretID)
		return nil
	})
	if err != nil && !errors.Is(err, errNoChange) {
		n.log.Warn("dropping a removed secret's grants", "secret_id", secretID, "err", err)
	}
}

var errNoChange = errors.New("nothing to change")

func apiGrants(gs []raftsm.Grant, name string) []api.Grant {
	out := make([]api.Grant, 0, len(gs))
	for _, g := range gs {
		out = append(out, api.Grant{SecretID: g.SecretID, Name: name, NodeID: g.NodeID, Label: g.Label, CreatedAt: time.Unix(0, g.Created).UTC()})
	}
	return out
}

// withGrants adds a secret's grants to what inspect shows.
// They are the grants this manager has applied (a grant made through it
// is there once the command returns; one made through another manager a
// moment ago may not be yet): reading the cluster record through the
// control group's leader and opening it on every inspect halved the rate
// of linearizable reads.
func (n *Node) withGrants(ctx context.Context, s *api.Secret) (*api.Secret, error) {
	r, err := n.running()
	if err != nil {
		return nil, err
	}
	g, applied, err := r.appliedGrants()
	if err != nil {
		return nil, err
	}
	if !applied {
		// A manager that has just joined can serve a secret group's
		// read before its control group has applied the cluster record:
		// read the record through the control group, which waits until
		// this manager has caught up.
		rec, _, err := r.readCluster(ctx)
		if err != nil {
			return nil, err
		}
		statedir.Wipe(rec.CAKey)
		g = rec.Grants
	}
	s.Grants = apiGrants((&raftsm.Fleet{Grants: g}).GrantsOf(s.ID), "")
	return s, nil
}

// grantsCache is the grants of the cluster record this manager applied
// last, by the record's generation, so that the record is opened once per
// change rather than once per inspect. It holds no key and no token:
// grants name secret ids, node ids and labels only. Its mutex is a leaf.
type grantsCache struct {
	mu     sync.Mutex
	ok     bool
	gen    uint64
	grants []raftsm.Grant
}

// appliedGrants returns the grants of the applied cluster record; applied
// is false when this manager's control group has not applied one yet.
func (r *replicas) appliedGrants() (_ []raftsm.Grant, applied bool, err error) {
	sc, err := staleReadAs[*raftsm.StoredCluster](r.host(), raftsm.ControlShard, raftsm.QueryCluster{})
	if err != nil {
		return nil, false, err
	}
	if sc == nil {
		return nil, false, nil
	}
	c := &r.grants
	c.mu.Lock()
	if c.ok && c.gen == sc.Gen {
		g := c.grants
		c.mu.Unlock()
		return g, true, nil
	}
	c.mu.Unlock()
	rec, err := r.openCluster(sc)
	if err != nil {
		return nil, false, err
	}
	statedir.Wipe(rec.CAKey)
	g := slices.Clone(rec.Grants)
	c.mu.Lock()
	c.ok, c.gen, c.grants = true, sc.Gen, g
	c.mu.Unlock()
	return g, true, nil
}

// UpdateNode changes a node's labels, as `docker node update --label-add
// --label-rm`. What a worker may receive follows at once.
func (n *Node) UpdateNode(ctx context.Context, ref string, req *api.NodeUpdateRequest) (*api.NodeInspect, error) {
	if len(req.LabelAdd) == 0 && len(req.LabelRm) == 0 {
		return nil, api.Errorf(api.CodeInvalid, "nothing to update").WithHint("give --label-add KEY=VALUE or --label-rm KEY")
	}
	add := map[string]string{}
	for _, l := range req.LabelAdd {
		k, v, err := parseLabel(l, true)
		if err != nil {
			return nil, err
		}
		add[k] = v
	}
	var id string
	_, err := n.updateCluster(ctx, func(rec *raftsm.ClusterRecord) error {
		var err error
		if id, _, err = findNode(rec, ref); err != nil {
			return err
		}
		for _, k := range req.LabelRm {
			if _, ok := rec.NodeLabels[id][k]; !ok {
				return api.Errorf(api.CodeNotFound, "node %s has no label %q", id, k).WithHint("`vault node inspect %s` shows its labels", id)
			}
		}
		rec.SetLabels(id, add, req.LabelRm)
		return validateLabels(rec.NodeLabels[id])
	})
	if err != nil {
		return nil, err
	}
	n.log.Info("node labels updated", "node_id", id, "added", len(add), "removed", len(req.LabelRm))
	return n.InspectNode(ctx, id)
}

// InspectNode shows a node, its labels and the grants that apply to it.
func (n *Node) InspectNode(ctx context.Context, ref string) (*api.NodeInspect, error) {
	rec, _, err := n.readCluster(ctx)
	if err != nil {
		return nil, err
	}
	id, _, err := findNode(rec, ref)
	if err != nil {
		return nil, err
	}
	nodes, err := n.NodeList(ctx)
	if err != nil {
		return nil, err
	}
	out := &api.NodeInspect{Labels: map[string]string{}, Grants: []api.Grant{}}
	for _, x := range nodes {
		if x.ID == id {
			out.Node = x
		}
	}
	for k, v := range rec.NodeLabels[id] {
		out.Labels[k] = v
	}
	for _, g := range rec.GrantsFor(id) {
		e, err := n.resolve(ctx, g.SecretID)
		if err != nil {
			continue // a secret removed since: its grant gives nothing
		}
		out.Grants = append(out.Grants, apiGrants([]raftsm.Grant{g}, e.rec.Name)...)
	}
	sort.SliceStable(out.Grants, func(i, j int) bool { return out.Grants[i].Name < out.Grants[j].Name })
	return out, nil
}
