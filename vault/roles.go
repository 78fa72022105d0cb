package vault

import (
	"fmt"
	"slices"
	"strings"
)

// Roles of remote clients (`vault cluster client create --role`). A caller
// on the local socket is root and has every right; a client certificate has
// the rights of its role, read from the cluster record at each request;
// every other caller has none. Deny by default: a route not in routeRules,
// or a role not listed for it, is refused.
const (
	RoleAdmin    = "admin"    // everything a remote client can do
	RoleOperator = "operator" // lock/unlock, keys, nodes, join tokens; no secret changes
	RoleWriter   = "writer"   // secret create/update/rm (and grants), metadata
	RoleReader   = "reader"   // metadata only
	// RoleWorker is a worker node's certificate: refused on every route
	// here; a route a worker may use lists it explicitly.
	RoleWorker = "worker"
)

// ClientRoles are the roles `vault cluster client create` issues.
var ClientRoles = []string{RoleAdmin, RoleOperator, RoleWriter, RoleReader}

// routeRule is what the access check and the audit log know of a route.
type routeRule struct {
	op    string   // the audit record's "op"
	what  string   // "create secrets": the end of "role reader may not …"
	roles []string // roles allowed besides root; nil: the local socket only
}

var (
	allRoles    = []string{RoleAdmin, RoleOperator, RoleWriter, RoleReader}
	adminOnly   = []string{RoleAdmin}
	opsRoles    = []string{RoleAdmin, RoleOperator}
	writeRoles  = []string{RoleAdmin, RoleWriter}
	localOnly   []string // mounts, exec, init/join: local to the node by nature
	readerRoles = allRoles
)

// routeRules is the one table of who may use which route of the API (the
// local socket's routes, which the manager API also serves to client
// certificates). TestRouteRulesCoverRoutes checks it names every
// registered route and nothing else.
var routeRules = map[string]routeRule{
	"GET /v1/status":                     {"status", "read the node status", readerRoles},
	"POST /v1/cluster/init":              {"cluster.init", "initialize a cluster (local only)", localOnly},
	"POST /v1/cluster/join":              {"cluster.join", "join a cluster (local only)", localOnly},
	"GET /v1/cluster/join-token/{role}":  {"cluster.join-token", "show join tokens", opsRoles},
	"POST /v1/cluster/join-token/{role}": {"cluster.join-token.rotate", "rotate join tokens", opsRoles},
	"POST /v1/cluster/leave":             {"cluster.leave", "make a manager leave the cluster", adminOnly},
	"GET /v1/nodes":                      {"node.ls", "list nodes", readerRoles},
	"DELETE /v1/nodes/{id}":              {"node.rm", "remove nodes", opsRoles},
	"POST /v1/cluster/autolock":          {"cluster.autolock", "change autolock", opsRoles},
	"GET /v1/unlock-key":                 {"unlock-key.show", "show the unlock key", opsRoles},
	"POST /v1/unlock-key/rotate":         {"unlock-key.rotate", "rotate the unlock key", opsRoles},
	"POST /v1/kek-change/commit":         {"kek-change.commit", "change the KEK", opsRoles},
	"POST /v1/kek-change/abort":          {"kek-change.abort", "abort a KEK change", opsRoles},
	"POST /v1/unlock":                    {"unlock", "unlock managers", opsRoles},
	"POST /v1/lock":                      {"lock", "lock managers", opsRoles},
	"GET /v1/keys":                       {"key.status", "read key status", readerRoles},
	"POST /v1/keys/rotate":               {"key.rotate", "rotate keys", opsRoles},
	"POST /v1/keys/reseal":               {"key.reseal", "re-seal secrets", opsRoles},
	"POST /v1/keys/compact":              {"key.compact", "compact the logs", opsRoles},
	"POST /v1/keys/rotate/finish":        {"key.rotate.finish", "finish a rotation", opsRoles},
	"POST /v1/keys/retire":               {"key.retire", "retire keys", opsRoles},
	"POST /v1/cluster/rotation":          {"cluster.rotation", "change the rotation policy", opsRoles},
	"POST /v1/cluster/versions":          {"cluster.versions", "change the version limit", opsRoles},
	"GET /v1/mounts":                     {"mount.ls", "list mounts (local only)", localOnly},
	"POST /v1/mounts":                    {"mount.create", "mount secrets (local only)", localOnly},
	"DELETE /v1/mounts":                  {"mount.rm", "unmount secrets (local only)", localOnly},
	"POST /v1/exec":                      {"exec", "run commands with secrets (local only)", localOnly},
	"GET /v1/secrets":                    {"secret.ls", "list secrets", readerRoles},
	"POST /v1/secrets":                   {"secret.create", "create secrets", writeRoles},
	"GET /v1/secrets/{ref}":              {"secret.inspect", "inspect secrets", readerRoles},
	"POST /v1/secrets/{ref}/versions":    {"secret.update", "update secrets", writeRoles},
	"DELETE /v1/secrets/{ref}":           {"secret.rm", "remove secrets", writeRoles},
	"POST /v1/audit/hash":                {"audit.hash", "hash names for the audit log", readerRoles},
	"GET /v1/audit/key":                  {"audit.key", "read the audit verification key", readerRoles},
	"POST /v1/secrets/{ref}/grants":      {"secret.grant", "grant secrets to nodes", writeRoles},
	"POST /v1/secrets/{ref}/revoke":      {"secret.revoke", "revoke secrets from nodes", writeRoles},
	"GET /v1/nodes/{id}":                 {"node.inspect", "inspect nodes", readerRoles},
	"POST /v1/nodes/{id}/update":         {"node.update", "change node labels", opsRoles},
	"POST /v1/nodes/{id}/promote":        {"node.promote", "promote workers to managers", opsRoles},
	"POST /v1/nodes/{id}/demote":         {"node.demote", "demote managers to workers", opsRoles},
	"POST /v1/snapshot":                  {"snapshot.save", "save snapshots", opsRoles},
	"POST /v1/cluster/restore":           {"cluster.restore", "restore a cluster from a snapshot (local only)", localOnly},
	"POST /v1/cluster/recover":           {"cluster.recover", "recover a cluster that lost its quorum (local only)", localOnly},
	"POST /v1/cluster/clients":           {"client.create", "create clients", adminOnly},
	"GET /v1/cluster/clients":            {"client.ls", "list clients", opsRoles},
	"DELETE /v1/cluster/clients/{name}":  {"client.rm", "remove clients", adminOnly},
}

// allowed says whether role may use the route pattern.
func allowed(pattern, role string) bool {
	r, ok := routeRules[pattern]
	return ok && slices.Contains(r.roles, role)
}

// opOf is the audit "op" of a route pattern.
func opOf(pattern string) string {
	if r, ok := routeRules[pattern]; ok {
		return r.op
	}
	return pattern
}

// refusal is the message for a role refused a route.
func refusal(pattern, role string) string {
	what := "use " + pattern
	if r, ok := routeRules[pattern]; ok {
		what = r.what
	}
	return fmt.Sprintf("role %s may not %s", role, what)
}

// RouteRoles returns, for every route of the API, the roles allowed to use
// it remotely (for tests and docs/access.md).
func RouteRoles() map[string][]string {
	m := make(map[string][]string, len(routeRules))
	for p, r := range routeRules {
		m[p] = slices.Clone(r.roles)
	}
	return m
}

// validRole checks a role named for a new client.
func validRole(role string) error {
	if slices.Contains(ClientRoles, role) {
		return nil
	}
	return fmt.Errorf("unknown role %q: want %s", role, strings.Join(ClientRoles, ", "))
}
