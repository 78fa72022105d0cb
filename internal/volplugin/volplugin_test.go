package volplugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vaultd/vault/api"
)

// fakeMounter records mounts instead of making them.
type fakeMounter struct {
	mu     sync.Mutex
	mounts map[string]*api.MountRequest
	fail   error
}

func (f *fakeMounter) Mount(ctx context.Context, req *api.MountRequest) (*api.MountInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	if f.mounts == nil {
		f.mounts = map[string]*api.MountRequest{}
	}
	f.mounts[req.Mountpoint] = req
	return &api.MountInfo{Mountpoint: req.Mountpoint, Secrets: req.Secrets, Follow: req.Follow}, nil
}

func (f *fakeMounter) Unmount(path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.mounts[path]; !ok {
		return api.Errorf(api.CodeNotFound, "%s is not a vault mount", path)
	}
	delete(f.mounts, path)
	return nil
}

func (f *fakeMounter) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.mounts)
}

func TestParseOptions(t *testing.T) {
	for _, c := range []struct {
		name    string
		opts    map[string]string
		want    []string // SecretSpec.String of each, sorted by key
		follow  bool
		wantErr string
	}{
		{name: "one name", opts: map[string]string{"secret": "db"}, want: []string{"source=db,target=db,uid=0,gid=0,mode=0444"}, follow: true},
		{name: "swarm syntax", opts: map[string]string{"secret": "source=api,target=token,uid=1000,mode=0400"},
			want: []string{"source=api,target=token,uid=1000,gid=0,mode=0400"}, follow: true},
		{name: "several keys", opts: map[string]string{"secret": "db", "secret.token": "source=api,target=token", "secret2": "x@3", "follow": "false"},
			want: []string{"source=db,target=db,uid=0,gid=0,mode=0444", "source=api,target=token,uid=0,gid=0,mode=0444", "source=x@3,target=x,uid=0,gid=0,mode=0444"}},
		{name: "no secret", opts: map[string]string{"follow": "true"}, wantErr: "no secret: give -o secret=NAME"},
		{name: "nothing", opts: nil, wantErr: "no secret"},
		{name: "unknown key", opts: map[string]string{"secret": "a", "size": "1"}, wantErr: `unknown option "size"`},
		{name: "bad follow", opts: map[string]string{"secret": "a", "follow": "often"}, wantErr: "give true or false"},
		{name: "bad mode", opts: map[string]string{"secret": "source=a,mode=0999"}, wantErr: "option secret: " + `"source=a,mode=0999": mode must be octal`},
		{name: "bad name", opts: map[string]string{"secret": "a/b"}, wantErr: "a secret name holds only"},
		{name: "bad target", opts: map[string]string{"secret": "source=a,target=../x"}, wantErr: "a file name holds only"},
		{name: "a list", opts: map[string]string{"secrets": "a,b"}, wantErr: "option secrets=a,b: one secret per key: give secrets=a, secrets2=b, ..."},
		{name: "same target", opts: map[string]string{"secret": "a", "secret2": "source=b,target=a"}, wantErr: `options secret and secret2 both have the target "a"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			specs, follow, err := ParseOptions(c.opts)
			if c.wantErr != "" {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want ErrInvalid with %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range specs {
				got = append(got, s.String())
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") || follow != c.follow {
				t.Fatalf("got %q follow %v, want %q follow %v", got, follow, c.want, c.follow)
			}
		})
	}
}

func newPlugin(t *testing.T, m Mounter, state string) *Plugin {
	t.Helper()
	p, err := New(Config{Mounter: m, Sealer: &fakeSealer{}, StateFile: state, Root: filepath.Join(filepath.Dir(state), "volumes")})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLifecycle: mounts per id, removal refused while mounted, definitions
// kept across a restart with mode 0600 and no mounts.
func TestLifecycle(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "docker-volumes.json")
	m := &fakeMounter{}
	p := newPlugin(t, m, state)
	opts := map[string]string{"secret": "db", "secret.t": "source=api,target=token,uid=1000,mode=0400"}
	if err := p.Create("app", opts); err != nil {
		t.Fatal(err)
	}
	if err := p.Create("app", nil); err != nil {
		t.Fatalf("implicit create of an existing volume: %v", err)
	}
	if err := p.Create("app", map[string]string{"secret": "other"}); !errors.Is(err, ErrExists) {
		t.Fatalf("create with other options: %v", err)
	}
	if err := p.Create("../x", opts); !errors.Is(err, ErrInvalid) {
		t.Fatalf("create ../x: %v", err)
	}
	ctx := context.Background()
	mp1, err := p.Mount(ctx, "app", "c1")
	if err != nil {
		t.Fatal(err)
	}
	mp2, err := p.Mount(ctx, "app", "c2")
	if err != nil {
		t.Fatal(err)
	}
	if mp1 == mp2 || m.count() != 2 || !m.mounts[mp1].Follow || len(m.mounts[mp1].Secrets) != 2 {
		t.Fatalf("mounts %q %q: %+v", mp1, mp2, m.mounts)
	}
	if again, _ := p.Mount(ctx, "app", "c1"); again != mp1 || m.count() != 2 {
		t.Fatalf("a second Mount of c1 gave %q", again)
	}
	if _, err := p.Mount(ctx, "app", "../c"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("mount id ../c: %v", err)
	}
	if _, err := p.Mount(ctx, "nosuch", "c1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("mount of nosuch: %v", err)
	}
	if err := p.Remove("app"); !errors.Is(err, ErrInUse) {
		t.Fatalf("remove while mounted: %v", err)
	}
	if in, _ := p.Get("app"); in.Status["Mounts"] != 2 || in.Mountpoint == "" {
		t.Fatalf("get: %+v", in)
	}
	if err := p.Unmount("app", "c1"); err != nil {
		t.Fatal(err)
	}
	if err := p.Unmount("app", "unknown"); err != nil {
		t.Fatalf("unmount of an unknown id: %v", err)
	}
	if _, err := os.Stat(mp1); !os.IsNotExist(err) {
		t.Fatalf("mountpoint left after unmount: %v", err)
	}
	if path, _ := p.Path("app"); path != mp2 {
		t.Fatalf("path %q, want %q", path, mp2)
	}

	// A restart keeps the definition, not the mounts.
	fi, err := os.Stat(state)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", fi, err)
	}
	p2 := newPlugin(t, &fakeMounter{}, state)
	if l := p2.List(); len(l) != 1 || l[0].Name != "app" || l[0].Mountpoint != "" {
		t.Fatalf("list after restart: %+v", l)
	}
	if err := p2.Unmount("app", "c2"); err != nil {
		t.Fatalf("unmount of a mount an earlier daemon made: %v", err)
	}
	if err := p2.Remove("app"); err != nil {
		t.Fatal(err)
	}
	if l := newPlugin(t, &fakeMounter{}, state).List(); len(l) != 0 {
		t.Fatalf("list after remove and restart: %+v", l)
	}
	b, _ := os.ReadFile(state)
	if bytes.Contains(b, []byte("app")) {
		t.Fatalf("state file still names the removed volume: %s", b)
	}
}

func TestMountError(t *testing.T) {
	dir := t.TempDir()
	m := &fakeMounter{fail: api.Errorf(api.CodeNotFound, "no such secret: db").WithHint("`vault secret ls` lists them")}
	p := newPlugin(t, m, filepath.Join(dir, "v.json"))
	if err := p.Create("app", map[string]string{"secret": "db"}); err != nil {
		t.Fatal(err)
	}
	_, err := p.Mount(context.Background(), "app", "c1")
	if err == nil || err.Error() != "mount volume app: no such secret: db (hint: `vault secret ls` lists them)" {
		t.Fatalf("err %v", err)
	}
	if err := p.Remove("app"); err != nil {
		t.Fatalf("a failed mount left the volume in use: %v", err)
	}
}

func TestDamagedStateFile(t *testing.T) {
	state := filepath.Join(t.TempDir(), "v.json")
	os.WriteFile(state, []byte("{not json"), 0o600)
	if _, err := New(Config{Mounter: &fakeMounter{}, Sealer: &fakeSealer{}, StateFile: state, Root: "/run/x"}); err == nil || !strings.Contains(err.Error(), "is damaged") {
		t.Fatalf("New on a damaged file: %v", err)
	}
}

// TestProtocol speaks to the socket as Docker's plugin client does.
func TestProtocol(t *testing.T) {
	dir := t.TempDir()
	m := &fakeMounter{}
	p := newPlugin(t, m, filepath.Join(dir, "v.json"))
	sock := filepath.Join(dir, "vault.sock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Serve(l) }()
	if _, err := Listen(sock); !errors.Is(err, ErrSocketInUse) {
		t.Fatalf("second Listen: %v", err)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	call := func(path, body string) map[string]any {
		t.Helper()
		resp, err := hc.Post("http://plugin"+path, "application/vnd.docker.plugins.v1.2+json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", path, resp.StatusCode)
		}
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return out
	}
	for _, c := range []struct {
		path, body string
		want       string // JSON of the answer, Mountpoint and CreatedAt aside
	}{
		{"/Plugin.Activate", "", `{"Implements":["VolumeDriver"]}`},
		{"/VolumeDriver.Capabilities", "{}", `{"Capabilities":{"Scope":"local"}}`},
		{"/VolumeDriver.Create", `{"Name":"v","Opts":{"secret":"db"}}`, `{"Err":""}`},
		{"/VolumeDriver.Create", `{"Name":"w","Opts":{"bogus":"1"}}`, `{"Err":"invalid volume: unknown option \"bogus\": give secret=NAME (one secret per key: secret, secret2, secret.token, ...) and follow=true|false"}`},
		{"/VolumeDriver.Create", `{"Name":`, `{"Err":"invalid volume: bad request: unexpected EOF"}`},
		{"/VolumeDriver.List", "{}", `{"Err":"","Volumes":[{"Name":"v"}]}`},
		{"/VolumeDriver.Get", `{"Name":"v"}`, `{"Err":"","Volume":{"Name":"v","Status":{"Follow":true,"Mounts":0,"Secrets":["source=db,target=db,uid=0,gid=0,mode=0444"]}}}`},
		{"/VolumeDriver.Get", `{"Name":"nosuch"}`, `{"Err":"no such volume: nosuch"}`},
		{"/VolumeDriver.Mount", `{"Name":"v","ID":"abc"}`, `{"Err":""}`},
		{"/VolumeDriver.Path", `{"Name":"v"}`, `{"Err":""}`},
		{"/VolumeDriver.Remove", `{"Name":"v"}`, `{"Err":"volume in use: v is mounted by 1 container(s): stop them first"}`},
		{"/VolumeDriver.Unmount", `{"Name":"v","ID":"abc"}`, `{"Err":""}`},
		{"/VolumeDriver.Remove", `{"Name":"v"}`, `{"Err":""}`},
	} {
		out := call(c.path, c.body)
		mp, _ := out["Mountpoint"].(string)
		delete(out, "Mountpoint")
		if v, ok := out["Volume"].(map[string]any); ok {
			delete(v, "CreatedAt")
		}
		if vs, ok := out["Volumes"].([]any); ok {
			for _, v := range vs {
				delete(v.(map[string]any), "CreatedAt")
			}
		}
		got, _ := json.Marshal(out)
		if string(got) != c.want {
			t.Errorf("%s %s:\n got %s\nwant %s", c.path, c.body, got, c.want)
		}
		if (c.path == "/VolumeDriver.Mount" || c.path == "/VolumeDriver.Path") && mp != filepath.Join(dir, "volumes", "v", "abc") {
			t.Errorf("%s: mountpoint %q", c.path, mp)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve after Close: %v", err)
	}
}

// FuzzParseOptions: options come from whoever runs docker; parsing never
// panics, and what it accepts is a valid mount request.
func FuzzParseOptions(f *testing.F) {
	f.Add("secret", "db", "secret.t", "source=api,target=token,uid=1000,mode=0400")
	f.Add("secrets", "a,b", "follow", "false")
	f.Add("secret", "x@3", "secret2", "source=y,target=x")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		specs, _, err := ParseOptions(map[string]string{k1: v1, k2: v2})
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, sp := range specs {
			if err := sp.Validate(); err != nil {
				t.Fatalf("accepted %+v: %v", sp, err)
			}
			if seen[sp.Target] {
				t.Fatalf("accepted two targets %q", sp.Target)
			}
			seen[sp.Target] = true
		}
	})
}

// TestUnmountKeptMount: a daemon restarted under a running container does
// not know its mount, which the node kept; Docker's Unmount still ends it.
func TestUnmountKeptMount(t *testing.T) {
	state := filepath.Join(t.TempDir(), "docker-volumes.json")
	m := &fakeMounter{}
	p := newPlugin(t, m, state)
	if err := p.Create("app", map[string]string{"secret": "db"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Mount(context.Background(), "app", "c1"); err != nil {
		t.Fatal(err)
	}
	// The next daemon: same state file, the node still serves the mount.
	p2 := newPlugin(t, m, state)
	if err := p2.Unmount("app", "c1"); err != nil {
		t.Fatal(err)
	}
	if n := m.count(); n != 0 {
		t.Errorf("%d mounts left after Unmount by the next daemon", n)
	}
	if err := p2.Unmount("app", "../../etc"); err != nil || m.count() != 0 {
		t.Errorf("Unmount of a bad id: %v", err)
	}
}

// fakeSealer "seals" by XOR, bound to the object; locked, it fails as a
// locked node does.
type fakeSealer struct {
	mu     sync.Mutex
	locked bool
}

func (f *fakeSealer) isLocked() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.locked
}

func (f *fakeSealer) SealLocal(object string, b []byte) ([]byte, error) {
	if f.isLocked() {
		return nil, api.Errorf(api.CodeLocked, "this node is locked").WithHint("run `vault unlock`")
	}
	out := append([]byte(object+"\x00"), b...)
	for i := len(object) + 1; i < len(out); i++ {
		out[i] ^= 0x5a
	}
	return out, nil
}

func (f *fakeSealer) OpenLocal(object string, sealed []byte) ([]byte, error) {
	if f.isLocked() {
		return nil, api.Errorf(api.CodeLocked, "this node is locked").WithHint("run `vault unlock`")
	}
	if !bytes.HasPrefix(sealed, []byte(object+"\x00")) {
		return nil, errors.New("integrity check failed")
	}
	out := append([]byte(nil), sealed[len(object)+1:]...)
	for i := range out {
		out[i] ^= 0x5a
	}
	return out, nil
}

// TestDefinitionsSealed: the state file names no secret; a locked node
// lists and removes volumes but neither creates nor mounts them; a state
// file of version 1 (plaintext) is sealed at the next save.
func TestDefinitionsSealed(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "docker-volumes.json")
	m := &fakeMounter{}
	sealer := &fakeSealer{}
	p, err := New(Config{Mounter: m, Sealer: sealer, StateFile: state, Root: filepath.Join(dir, "volumes")})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Create("app", map[string]string{"secret": "db-password-xyz"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(state)
	if bytes.Contains(b, []byte("db-password-xyz")) || !bytes.Contains(b, []byte(`"app"`)) {
		t.Fatalf("state file:\n%s", b)
	}

	sealer.locked = true
	p2, err := New(Config{Mounter: m, Sealer: sealer, StateFile: state, Root: filepath.Join(dir, "volumes")})
	if err != nil {
		t.Fatal(err)
	}
	if l := p2.List(); len(l) != 1 || l[0].Name != "app" {
		t.Errorf("List while locked: %v", l)
	}
	if _, err := p2.Mount(context.Background(), "app", "c1"); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("Mount while locked: %v", err)
	}
	if err := p2.Create("other", map[string]string{"secret": "x"}); err == nil || !strings.Contains(err.Error(), "vault unlock") {
		t.Errorf("Create while locked: %v", err)
	}
	if err := p2.Create("app", map[string]string{"secret": "db-password-xyz"}); err == nil {
		t.Errorf("Create of an existing volume with options while locked succeeded")
	}
	sealer.locked = false
	if _, err := p2.Mount(context.Background(), "app", "c1"); err != nil {
		t.Errorf("Mount after unlock: %v", err)
	}
	if err := p2.Unmount("app", "c1"); err != nil {
		t.Fatal(err)
	}

	// A sealed blob moved to another volume's name does not open.
	raw := strings.Replace(string(b), `"Name": "app"`, `"Name": "app2"`, 1)
	os.WriteFile(state, []byte(raw), 0o600)
	p3, err := New(Config{Mounter: m, Sealer: sealer, StateFile: state, Root: filepath.Join(dir, "volumes")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p3.Mount(context.Background(), "app2", "c1"); err == nil {
		t.Errorf("a definition moved to another name opened")
	}

	// Version 1: plaintext, sealed by Reseal.
	v1 := `{"Version":1,"Volumes":[{"Name":"old","Secrets":[{"Source":"legacy-name","Target":"legacy-name","Mode":292}],"Follow":true,"Options":{"secret":"legacy-name"},"CreatedAt":"2026-01-01T00:00:00Z"}]}`
	os.WriteFile(state, []byte(v1), 0o600)
	p4, err := New(Config{Mounter: m, Sealer: sealer, StateFile: state, Root: filepath.Join(dir, "volumes")})
	if err != nil {
		t.Fatal(err)
	}
	if err := p4.Reseal(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(state); bytes.Contains(b, []byte("legacy-name")) {
		t.Errorf("after Reseal the state file still names the secret:\n%s", b)
	}
	if mp, err := p4.Mount(context.Background(), "old", "c2"); err != nil || m.mounts[mp].Secrets[0].Source != "legacy-name" {
		t.Errorf("mount of a migrated volume: %v", err)
	}
}
