package main

import (
	"fmt"
	"net"
	"strings"

	"github.com/vaultd/vault/api"
)

// Rows are what ls, inspect and templates see: the API's objects plus the
// fields Docker's templates use for the same concepts.

// secretRow is a secret with Docker's Spec.
type secretRow struct {
	api.Secret
	Spec secretSpec `json:"Spec"`
}

// secretSpec is Docker's name for a secret's name and labels.
type secretSpec struct {
	Name   string            `json:"Name"`
	Labels map[string]string `json:"Labels"`
}

const secretFields = ".ID, .Name, .Labels, .Version, .Size, .CreatedAt, .UpdatedAt, .CreatedSince, .UpdatedSince, .Spec.Name, .Spec.Labels, .Versions"

func secretRows(list []api.Secret) []secretRow {
	rows := make([]secretRow, len(list))
	for i, s := range list {
		rows[i] = secretRow{Secret: s, Spec: secretSpec{Name: s.Name, Labels: s.Labels}}
	}
	return rows
}

// CreatedSince is how long ago the secret was created.
func (r secretRow) CreatedSince() string { return ago(r.CreatedAt) }

// UpdatedSince is how long ago its latest version was made.
func (r secretRow) UpdatedSince() string { return ago(r.UpdatedAt) }

var secretList = list[secretRow]{
	table: "{{.ID}}\t{{.Name}}\t{{.Version}}\t{{.CreatedSince}}\t{{.UpdatedSince}}",
	quiet: func(r secretRow) string { return r.ID },
	trunc: func(r secretRow, n int) secretRow { r.ID = truncate(r.ID, n); return r },
}

// nodeRow is a manager with Docker's node fields.
type nodeRow struct {
	api.Node
	Name     string `json:"Name"`     // what `vault node rm` takes: the id
	Hostname string `json:"Hostname"` // the host of its Raft address
	State    string `json:"State"`    // ready, unreachable, locked
	Leads    string `json:"Leads"`    // groups it leads, of all: "2/4"
}

const nodeFields = ".ID, .Name, .Hostname, .Addr, .APIAddr, .Role, .State, .Leader, .SecretLeader, .Groups, .Leads, .Self, .JoinedAt"

func nodeRows(nodes []api.Node) []nodeRow {
	rows := make([]nodeRow, len(nodes))
	for i, n := range nodes {
		host, _, err := net.SplitHostPort(n.Addr)
		if err != nil {
			host = n.Addr
		}
		rows[i] = nodeRow{Node: n, Name: n.ID, Hostname: host, State: n.Status, Leads: fmt.Sprintf("%d/%d", n.Leader, n.Groups)}
	}
	return rows
}

var nodeList = list[nodeRow]{
	table: "{{.ID}}{{if .Self}} *{{end}}\t{{.Addr}}\t{{.Role}}\t{{.State}}\t{{.Leads}}",
	quiet: func(r nodeRow) string { return r.ID },
	trunc: func(r nodeRow, n int) nodeRow { r.ID = truncate(r.ID, n); return r },
}

// mountRow is a mount with its secrets in one column.
type mountRow struct {
	api.MountInfo
}

const mountFields = ".Mountpoint, .Names, .Secrets, .Follow, .Locked, .Exec, .CreatedAt"

// Names lists the mount's secrets: NAME, NAME@VERSION, NAME->FILE.
func (m mountRow) Names() string {
	var names []string
	for _, s := range m.Secrets {
		n := s.Source
		if s.Version != 0 {
			n = fmt.Sprintf("%s@%d", n, s.Version)
		}
		if s.Target != s.Source {
			n += "->" + s.Target
		}
		names = append(names, n)
	}
	return strings.Join(names, ",")
}

// Where is the mountpoint, marked when it is a `vault exec`'s own.
func (m mountRow) Where() string {
	if m.Exec {
		return m.Mountpoint + " (vault exec)"
	}
	return m.Mountpoint
}

func mountRows(ms []api.MountInfo) []mountRow {
	rows := make([]mountRow, len(ms))
	for i, m := range ms {
		rows[i] = mountRow{m}
	}
	return rows
}

var mountList = list[mountRow]{
	table: "{{.Where}}\t{{.Names}}\t{{.Follow}}\t{{.Locked}}",
	quiet: func(r mountRow) string { return r.Mountpoint },
}
