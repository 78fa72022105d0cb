package vault

import (
	"strings"
	"testing"
)

// The role table names every route the API registers and nothing else;
// routes it does not name (profiles, test-build debug routes) are refused
// to every role.
func TestRouteRulesCoverRoutes(t *testing.T) {
	n := startUninitialized(t, func(c *Config) { c.Pprof = true })
	registered := map[string]bool{}
	for _, p := range n.routes().patterns {
		registered[p] = true
		if _, ok := routeRules[p]; ok {
			continue
		}
		if !strings.Contains(p, "/debug/") {
			t.Errorf("route %q is not in routeRules: say which roles may use it", p)
		}
		for _, role := range append(ClientRoles, RoleWorker) {
			if allowed(p, role) {
				t.Errorf("role %s is allowed %q, which the table does not name", role, p)
			}
		}
	}
	for p, r := range routeRules {
		if !registered[p] {
			t.Errorf("routeRules names %q, which is not registered", p)
		}
		if r.op == "" || r.what == "" {
			t.Errorf("%q: rule without op or wording", p)
		}
		if allowed(p, RoleWorker) {
			t.Errorf("worker allowed %q", p)
		}
		if len(r.roles) > 0 && !allowed(p, RoleAdmin) {
			t.Errorf("%q: allowed to some role but not to admin", p)
		}
	}
	if got := refusal("POST /v1/secrets", RoleReader); got != "role reader may not create secrets" {
		t.Errorf("refusal: %q", got)
	}
}
