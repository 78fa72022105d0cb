package raftsm

import (
	"slices"
	"sort"
	"strings"
)

// Fleet is the part of the cluster record that says which nodes may
// receive which secrets: the workers, every node's labels and the grants.
// It lives in the sealed cluster record (the control group), so it is
// replicated, sealed, snapshotted and re-sealed with it, and it changes
// with the same compare-and-set (cluster.set) as membership.
//
// Deny by default: a node may receive a secret only when a grant names it,
// by node id or by one of its labels. Managers hold every secret anyway;
// grants matter for workers.
type Fleet struct {
	Workers []Worker `json:"workers,omitempty"`
	// NodeLabels holds each node's labels (managers' and workers').
	NodeLabels map[string]map[string]string `json:"node_labels,omitempty"`
	Grants     []Grant                      `json:"grants,omitempty"`
	// Handovers are the role changes asked for (handover.go).
	Handovers []Handover `json:"handovers,omitempty"`
}

// Worker is a node that joined with the worker token: it has a certificate
// with the worker role, no Raft replica and no key, and receives only the
// secrets granted to it.
type Worker struct {
	NodeID     string `json:"node_id"`
	Hostname   string `json:"hostname,omitempty"`
	Addr       string `json:"addr,omitempty"` // where it joined from (display only)
	Joined     int64  `json:"joined"`         // unix nanoseconds
	CertSerial string `json:"cert_serial"`    // hex: only that certificate is its identity
}

// Grant lets nodes receive a secret: the node NodeID, or every node
// carrying the label Label ("KEY=VALUE"). Exactly one of the two is set.
type Grant struct {
	SecretID string `json:"secret_id"`
	NodeID   string `json:"node_id,omitempty"`
	Label    string `json:"label,omitempty"`
	Created  int64  `json:"created"`
}

// Same reports whether two grants let the same nodes receive the same
// secret.
func (g Grant) Same(o Grant) bool {
	return g.SecretID == o.SecretID && g.NodeID == o.NodeID && g.Label == o.Label
}

// Target is the grant's target as an operator writes it: "node=ID" or
// "node.label=K=V".
func (g Grant) Target() string {
	if g.NodeID != "" {
		return "node=" + g.NodeID
	}
	return "node.label=" + g.Label
}

// Applies reports whether the grant covers a node with these labels.
func (g Grant) Applies(nodeID string, labels map[string]string) bool {
	if g.NodeID != "" {
		return g.NodeID == nodeID
	}
	k, v, ok := strings.Cut(g.Label, "=")
	if !ok {
		return false
	}
	have, ok := labels[k]
	return ok && have == v
}

// Worker returns the worker with a node id, or nil.
func (f *Fleet) Worker(nodeID string) *Worker {
	for i := range f.Workers {
		if f.Workers[i].NodeID == nodeID {
			return &f.Workers[i]
		}
	}
	return nil
}

// Granted reports whether a node may receive a secret (deny by default).
func (f *Fleet) Granted(secretID, nodeID string) bool {
	labels := f.NodeLabels[nodeID]
	for _, g := range f.Grants {
		if g.SecretID == secretID && g.Applies(nodeID, labels) {
			return true
		}
	}
	return false
}

// GrantsOf returns the grants of a secret.
func (f *Fleet) GrantsOf(secretID string) []Grant {
	var out []Grant
	for _, g := range f.Grants {
		if g.SecretID == secretID {
			out = append(out, g)
		}
	}
	return out
}

// GrantsFor returns the grants that apply to a node, in the order they
// were made.
func (f *Fleet) GrantsFor(nodeID string) []Grant {
	labels := f.NodeLabels[nodeID]
	var out []Grant
	for _, g := range f.Grants {
		if g.Applies(nodeID, labels) {
			out = append(out, g)
		}
	}
	return out
}

// SecretsFor returns the ids of the secrets a node may receive, sorted.
func (f *Fleet) SecretsFor(nodeID string) []string {
	seen := map[string]bool{}
	var out []string
	for _, g := range f.GrantsFor(nodeID) {
		if !seen[g.SecretID] {
			seen[g.SecretID] = true
			out = append(out, g.SecretID)
		}
	}
	sort.Strings(out)
	return out
}

// AddGrant records g unless the same grant exists; it reports whether it
// added one.
func (f *Fleet) AddGrant(g Grant) bool {
	if slices.ContainsFunc(f.Grants, g.Same) {
		return false
	}
	f.Grants = append(f.Grants, g)
	return true
}

// RemoveGrant removes the grant like g; it reports whether there was one.
func (f *Fleet) RemoveGrant(g Grant) bool {
	n := len(f.Grants)
	f.Grants = slices.DeleteFunc(f.Grants, g.Same)
	return len(f.Grants) != n
}

// ForgetNode drops a node's worker entry, labels and the grants naming it.
func (f *Fleet) ForgetNode(nodeID string) {
	f.Workers = slices.DeleteFunc(f.Workers, func(w Worker) bool { return w.NodeID == nodeID })
	delete(f.NodeLabels, nodeID)
	f.Grants = slices.DeleteFunc(f.Grants, func(g Grant) bool { return g.NodeID == nodeID })
}

// ForgetSecret drops a secret's grants.
func (f *Fleet) ForgetSecret(secretID string) {
	f.Grants = slices.DeleteFunc(f.Grants, func(g Grant) bool { return g.SecretID == secretID })
}

// SetLabels adds (replacing values) and removes a node's labels.
func (f *Fleet) SetLabels(nodeID string, add map[string]string, rm []string) {
	l := f.NodeLabels[nodeID]
	if l == nil {
		l = map[string]string{}
	}
	for _, k := range rm {
		delete(l, k)
	}
	for k, v := range add {
		l[k] = v
	}
	if f.NodeLabels == nil {
		f.NodeLabels = map[string]map[string]string{}
	}
	if len(l) == 0 {
		delete(f.NodeLabels, nodeID)
		return
	}
	f.NodeLabels[nodeID] = l
}
