package vault

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/ca"
	"github.com/vaultd/vault/keys"
)

// requestBody is one request type the daemon decodes from untrusted bytes
// (the local socket or the manager API), with the checks it runs on the
// decoded value before touching any state.
type requestBody struct {
	name     string
	new      func() any
	validate func(t *testing.T, v any) error
}

var fuzzRoot = sync.OnceValues(func() (*ca.Root, error) {
	root, _, err := ca.NewRoot("fuzz", time.Now())
	return root, err
})

// requestBodies lists every body that decode accepts, endpoint by endpoint.
var requestBodies = []requestBody{
	{name: "POST /v1/cluster/init", new: func() any { return &api.InitRequest{} }},
	{name: "POST /v1/cluster/join", new: func() any { return &api.JoinRequest{} }, validate: func(t *testing.T, v any) error {
		req := v.(*api.JoinRequest)
		if _, err := ca.ParseToken(req.Token); err != nil {
			return err
		}
		_, _, err := net.SplitHostPort(req.ManagerAddr)
		return err
	}},
	{name: "POST /v1/cluster/autolock", new: func() any { return &api.AutolockRequest{} }},
	{name: "POST /v1/unlock-key/rotate", new: func() any { return &api.UnlockKeyRequest{} }},
	{name: "POST /v1/kek-change/commit", new: func() any { return &api.KEKChangeRequest{} }},
	{name: "POST /v1/unlock", new: func() any { return &api.UnlockRequest{} }, validate: func(t *testing.T, v any) error {
		text := v.(*api.UnlockRequest).Key
		var err error
		if strings.HasPrefix(strings.TrimSpace(text), "VLTSHR-") {
			_, err = keys.ParseShare(text)
		} else {
			var k *keys.UnlockKey
			if k, err = keys.ParseUnlockKey(text); err == nil {
				k.Wipe()
			}
		}
		if err != nil {
			e := operatorError(api.CodeInvalid, err)
			// A mistyped key is still mostly the key: no error may repeat it.
			if len(strings.TrimSpace(text)) >= 12 && strings.Contains(e.Message+e.Hint, strings.TrimSpace(text)) {
				t.Fatalf("an unlock error repeats the key given: %v", err)
			}
			if packagePrefix.MatchString(e.Message) {
				t.Fatalf("an unlock error names a Go package: %q", e.Message)
			}
		}
		return err
	}},
	{name: "POST /v1/lock", new: func() any { return &api.LockRequest{} }},
	{name: "POST /v1/keys/rotate", new: func() any { return &api.RotateRequest{} }},
	{name: "POST /v1/keys/reseal", new: func() any { return &api.ResealRequest{} }},
	{name: "POST /v1/keys/retire", new: func() any { return &api.RetireRequest{} }},
	{name: "POST /v1/cluster/rotation", new: func() any { return &api.RotationPolicy{} }},
	{name: "POST /v1/cluster/versions", new: func() any { return &api.VersionPolicy{} }, validate: func(t *testing.T, v any) error {
		return validateMaxVersions("--max-versions", v.(*api.VersionPolicy).MaxVersions)
	}},
	{name: "POST /v1/mounts", new: func() any { return &api.MountRequest{} }, validate: func(t *testing.T, v any) error {
		return validateSpecs(v.(*api.MountRequest).Secrets)
	}},
	{name: "POST /v1/exec", new: func() any { return &api.ExecRequest{} }, validate: func(t *testing.T, v any) error {
		return validateSpecs(v.(*api.ExecRequest).Secrets)
	}},
	{name: "POST /v1/snapshot", new: func() any { return &api.SnapshotRequest{} }},
	{name: "POST /v1/peer/join", new: func() any { return &joinRequest{} }, validate: func(t *testing.T, v any) error {
		req := v.(*joinRequest)
		if _, err := ca.ParseToken(req.Token); err != nil {
			return err
		}
		for _, a := range []string{req.RaftAddr, req.APIAddr} {
			if h, _, err := net.SplitHostPort(a); err != nil || h == "" {
				return errors.New("bad address")
			}
		}
		// The CSR is parsed and signed before the node is admitted.
		root, err := fuzzRoot()
		if err != nil {
			t.Fatal(err)
		}
		_, err = root.Sign(req.CSR, "fuzz", ca.RoleManager, certHosts(req.RaftAddr, req.APIAddr), time.Now())
		return err
	}},
	{name: "POST /v1/peer/kek", new: func() any { return &peerKEK{} }},
	{name: "POST /v1/peer/reseal", new: func() any { return &peerReseal{} }},
	{name: "POST /v1/audit/hash", new: func() any { return &api.AuditHashRequest{} }},
	{name: "POST /v1/cluster/clients", new: func() any { return &api.ClientCreateRequest{} }, validate: func(t *testing.T, v any) error {
		req := v.(*api.ClientCreateRequest)
		if !clientNameRE.MatchString(req.Name) {
			return errors.New("bad name")
		}
		if err := validRole(req.Role); err != nil {
			return err
		}
		root, err := fuzzRoot()
		if err != nil {
			t.Fatal(err)
		}
		_, err = root.Sign(req.CSR, req.Name, RoleClient, nil, time.Now())
		return err
	}},
	{name: "POST /v1/secrets/{ref}/grants", new: func() any { return &api.GrantRequest{} }},
	{name: "POST /v1/nodes/{id}/update", new: func() any { return &api.NodeUpdateRequest{} }},
	{name: "POST /v1/peer/demote", new: func() any { return &demoteRequest{} }},
}

// FuzzRequestBodies feeds bytes to the decoder of every request body the
// daemon accepts and to the checks that follow it: nothing panics, a body
// is either refused with an invalid-request error or decodes into a value
// whose encoding survives a JSON round trip unchanged.
func FuzzRequestBodies(f *testing.F) {
	seeds := []string{
		`{}`, `{"shards":4}`, `{"token":"VLTTKN-1-x","manager_addr":"127.0.0.1:4701"}`,
		`{"key":"VLTKEY-1-AAAA"}`, `{"key":"VLTSHR-1-AAAA"}`, `{"force":true}`, `{"full":true}`,
		`{"limit":50}`, `{"version":2}`, `{"max_age":3600000000000,"set_max_age":true}`,
		`{"name":"db-password","labels":{"env":"prod"}}`, `{"data":""}`,
		`{"mountpoint":"/run/secrets","secrets":[{"source":"a","target":"a","mode":420}]}`,
		`{"secrets":[{"source":"a","target":"b","uid":1,"gid":1,"mode":256,"version":2}],"follow":true}`,
		`{"token":"","csr":"","raft_addr":"10.0.0.1:4700","api_addr":"10.0.0.1:4701","transfer_key":""}`,
		`{"version":2147483650,"key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","autolock":true}`,
		`{"name":"x","extra":1}`, `[1,2]`, `null`, `{"data":"not base64"}`, `{"shards":1e400}`, "",
		`{"name":"a"}{"name":"b"}`, strings.Repeat(`{"a":`, 100),
	}
	for i, s := range seeds {
		for j := range requestBodies {
			if (i+j)%3 == 0 {
				f.Add([]byte(s), uint8(j))
			}
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, which uint8) {
		rb := requestBodies[int(which)%len(requestBodies)]
		v := rb.new()
		err := decode(httptest.NewRequest("POST", "/", bytes.NewReader(body)), v)
		if err != nil {
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Code != api.CodeInvalid {
				t.Fatalf("%s: decode error %v is not an invalid-request error", rb.name, err)
			}
			return
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: a decoded body does not encode: %v", rb.name, err)
		}
		again := rb.new()
		if err := decode(httptest.NewRequest("POST", "/", bytes.NewReader(b)), again); err != nil {
			t.Fatalf("%s: a re-encoded body does not decode: %v\n%s", rb.name, err, b)
		}
		// Encoding is a normal form: what a decoded body encodes to decodes
		// to the same thing (empty maps and slices may become absent).
		b2, err := json.Marshal(again)
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("%s: round trip changed the body (%v):\n%s\n%s", rb.name, err, b, b2)
		}
		if rb.validate != nil {
			rb.validate(t, v)
		}
	})
}

// TestRequestBodiesCovered keeps the fuzz target in step with the server:
// the type of every request body the package decodes (`var req T` before a
// decode call) is in requestBodies.
func TestRequestBodiesCovered(t *testing.T) {
	have := map[string]bool{}
	for _, rb := range requestBodies {
		have[strings.TrimPrefix(reflect.TypeOf(rb.new()).Elem().String(), "vault.")] = true
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	decl := regexp.MustCompile(`var req ([A-Za-z_.]+)\n[^\n]*decode\(r, &req\)`)
	found := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range decl.FindAllStringSubmatch(string(b), -1) {
			found++
			if !have[m[1]] {
				t.Errorf("%s decodes a %s body that FuzzRequestBodies does not cover", f, m[1])
			}
		}
	}
	if found < len(requestBodies) {
		t.Errorf("found %d decode call sites, fewer than the %d bodies fuzzed: the pattern no longer matches the code", found, len(requestBodies))
	}
}
