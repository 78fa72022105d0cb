// Package volplugin serves Docker's volume plugin protocol for a vault node:
// `docker volume create -d vault -o secret=NAME VOLUME` defines a volume of
// secrets, and every container that mounts it gets its own read-only FUSE
// mount of them, served from the node's memory, gone when the container is.
//
// # Protocol
//
// Docker discovers a plugin by the name of its socket in /run/docker/plugins
// (vault.sock answers to `-d vault`) and speaks HTTP/JSON to it: a POST to
// /Plugin.Activate, then /VolumeDriver.Create, Remove, Mount, Unmount, Path,
// Get, List and Capabilities. Every answer is 200 with an "Err" field; Docker
// shows that text to the user, so it says what was wrong and what to do.
//
// # Volume options
//
// Docker hands driver options over as a map, so a key given twice keeps only
// its last value. A volume therefore takes each secret under its own key:
// every key that starts with "secret" (secret, secret2, secret.token, ...)
// holds one secret in Swarm's --secret syntax (NAME, NAME@VERSION or
// source=NAME,target=FILE,uid=U,gid=G,mode=0400). "follow" (default true)
// says whether mounts show a new version of an unpinned secret live. Options
// are checked when the volume is created; a secret's existence is checked
// when a container mounts it, since a Compose file may create its volumes
// before its secrets.
//
// # Invariants
//
//   - Volume definitions are kept in one file (mode 0600) so they survive a
//     restart of the daemon: each volume's name and creation time in the
//     clear, its options and secrets (which name secrets) sealed by the
//     Config.Sealer, bound to the volume's name. A locked node cannot seal
//     or open: volumes are listed and removed, but not created, mounted or
//     inspected in detail, until it is unlocked.
//   - A volume is not removed while a container mounts it.
//   - Each Mount ID gets its own mountpoint, Root/VOLUME/ID, and an Unmount
//     of that ID ends exactly that mount. An Unmount of an ID this process
//     does not know (a mount of an earlier daemon, which the node may have
//     kept and serves again) ends the mount at that place if there is one,
//     and succeeds, so Docker can stop the container.
package volplugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/internal/statedir"
)

// Mounter mounts and unmounts secrets; *vault.Node is one.
type Mounter interface {
	Mount(ctx context.Context, req *api.MountRequest) (*api.MountInfo, error)
	Unmount(path string) error
}

// Sealer seals what the plugin writes to disk; *vault.Node is one. object
// binds a sealed blob to its place: it opens only with the same object.
type Sealer interface {
	SealLocal(object string, b []byte) ([]byte, error)
	OpenLocal(object string, sealed []byte) ([]byte, error)
}

// Config says where a Plugin keeps its volumes and mounts.
type Config struct {
	Mounter   Mounter
	Sealer    Sealer // required
	StateFile string // where volume definitions are kept (mode 0600)
	Root      string // mountpoints go under Root/VOLUME/MOUNT-ID
	Logger    *slog.Logger
	// KeepMounts leaves containers' mounts to the Mounter when the plugin
	// closes (a node that keeps mounts across its restarts); otherwise
	// Close ends them.
	KeepMounts bool
}

// Validate checks a Config.
func (c *Config) Validate() error {
	switch {
	case c.Mounter == nil:
		return errors.New("volplugin: no Mounter")
	case c.StateFile == "":
		return errors.New("volplugin: no StateFile")
	case c.Sealer == nil:
		return errors.New("volplugin: no Sealer")
	case !filepath.IsAbs(c.Root):
		return fmt.Errorf("volplugin: Root %q is not an absolute path", c.Root)
	}
	return nil
}

// Errors a Plugin returns (Docker shows their text).
var (
	ErrNotFound = errors.New("volplugin: no such volume")
	ErrInUse    = errors.New("volplugin: volume in use")
	ErrExists   = errors.New("volplugin: volume exists with other options")
	ErrInvalid  = errors.New("volplugin: invalid volume")
)

// Volume is one volume's definition as kept on disk.
type Volume struct {
	Name      string            `json:"Name"`
	Secrets   []api.SecretSpec  `json:"Secrets"`
	Follow    bool              `json:"Follow"`
	Options   map[string]string `json:"Options"`
	CreatedAt time.Time         `json:"CreatedAt"`
}

// volume is a Volume and the mounts containers hold of it.
type volume struct {
	Volume
	sealed  []byte            // Secrets, Follow and Options as stored; nil until sealed
	opened  bool              // Secrets, Follow and Options are known
	mounts  map[string]string // mount id -> mountpoint
	pending map[string]bool   // mount ids being mounted
	last    string            // latest mountpoint (Path)
}

func (v *volume) inUse() int { return len(v.mounts) + len(v.pending) }

// Plugin is the volume driver.
type Plugin struct {
	cfg    Config
	log    *slog.Logger
	saveMu sync.Mutex // serializes writes of StateFile

	mu   sync.Mutex // guards vols; never held across a mount or I/O but the state file's
	vols map[string]*volume

	srv *http.Server
}

// stateFile is the format of Config.StateFile. Version 1 kept every Volume
// in the clear; version 2 keeps the definition sealed.
type stateFile struct {
	Version int            `json:"Version"`
	Volumes []storedVolume `json:"Volumes"`
}

type storedVolume struct {
	Name      string    `json:"Name"`
	CreatedAt time.Time `json:"CreatedAt"`
	Sealed    []byte    `json:"Sealed,omitempty"` // version 2: sealed definition
	// Version 1 only.
	Secrets []api.SecretSpec  `json:"Secrets,omitempty"`
	Follow  bool              `json:"Follow,omitempty"`
	Options map[string]string `json:"Options,omitempty"`
}

// definition is what a volume's sealed blob holds.
type definition struct {
	Secrets []api.SecretSpec  `json:"Secrets"`
	Follow  bool              `json:"Follow"`
	Options map[string]string `json:"Options"`
}

// sealObject binds a volume's sealed definition to its name.
func sealObject(name string) string { return "docker-volume/" + name }

// open fills v's definition from its sealed blob. Called with p.mu held.
func (p *Plugin) open(v *volume) error {
	if v.opened {
		return nil
	}
	b, err := p.cfg.Sealer.OpenLocal(sealObject(v.Name), v.sealed)
	if err != nil {
		return fmt.Errorf("volume %s: %s", v.Name, describe(err))
	}
	var d definition
	err = json.Unmarshal(b, &d)
	clear(b)
	if err != nil {
		return fmt.Errorf("volume %s: its definition is damaged: %v", v.Name, err)
	}
	v.Secrets, v.Follow, v.Options, v.opened = d.Secrets, d.Follow, d.Options, true
	return nil
}

// New loads the volume definitions kept in cfg.StateFile.
func New(cfg Config) (*Plugin, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Plugin{cfg: cfg, log: cfg.Logger, vols: map[string]*volume{}}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	b, err := os.ReadFile(cfg.StateFile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("volplugin: read volumes: %w", err)
	}
	if err == nil {
		var sf stateFile
		if err := json.Unmarshal(b, &sf); err != nil {
			return nil, fmt.Errorf("volplugin: %s is damaged: %v", cfg.StateFile, err)
		}
		for _, sv := range sf.Volumes {
			v := &volume{Volume: Volume{Name: sv.Name, CreatedAt: sv.CreatedAt}, sealed: sv.Sealed, mounts: map[string]string{}, pending: map[string]bool{}}
			if sv.Sealed == nil { // version 1: sealed at the next save
				v.Secrets, v.Follow, v.Options, v.opened = sv.Secrets, sv.Follow, sv.Options, true
			}
			p.vols[v.Name] = v
			// Mountpoints of a daemon that stopped are empty directories now.
			dir := filepath.Join(cfg.Root, v.Name)
			if ents, err := os.ReadDir(dir); err == nil {
				for _, e := range ents {
					_ = os.Remove(filepath.Join(dir, e.Name()))
				}
				_ = os.Remove(dir)
			}
		}
	}
	return p, nil
}

// volumeNameRE is Docker's rule for volume names (which Docker checks only
// for its local driver), bounded: a name becomes a path component.
var volumeNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$`)

// mountIDRE bounds what a Mount ID may be: it becomes a path component.
var mountIDRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$`)

// ParseOptions checks a volume's driver options and returns its secrets
// and whether it follows new versions.
func ParseOptions(opts map[string]string) ([]api.SecretSpec, bool, error) {
	follow := true
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var specs []api.SecretSpec
	targets := map[string]string{}
	for _, k := range keys {
		v := opts[k]
		switch {
		case k == "follow":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, false, fmt.Errorf("%w: follow=%q: give true or false", ErrInvalid, v)
			}
			follow = b
		case strings.HasPrefix(k, "secret"):
			if strings.Contains(v, ",") && !strings.Contains(v, "=") {
				return nil, false, fmt.Errorf("%w: option %s=%s: one secret per key: give %s=%s, %s2=%s, ...", ErrInvalid, k, v, k, strings.Split(v, ",")[0], k, strings.Split(v, ",")[1])
			}
			sp, err := api.ParseSecretSpec(v)
			if err != nil {
				return nil, false, fmt.Errorf("%w: option %s: %s", ErrInvalid, k, strings.TrimPrefix(err.Error(), "--secret "))
			}
			if other, ok := targets[sp.Target]; ok {
				return nil, false, fmt.Errorf("%w: options %s and %s both have the target %q: give one of them target=OTHER", ErrInvalid, other, k, sp.Target)
			}
			targets[sp.Target] = k
			specs = append(specs, sp)
		default:
			return nil, false, fmt.Errorf("%w: unknown option %q: give secret=NAME (one secret per key: secret, secret2, secret.token, ...) and follow=true|false", ErrInvalid, k)
		}
	}
	if len(specs) == 0 {
		return nil, false, fmt.Errorf("%w: no secret: give -o secret=NAME (more under secret2=..., secret.token=...)", ErrInvalid)
	}
	return specs, follow, nil
}

// Create defines a volume. Creating a volume that exists succeeds when no
// options or the same options are given (Docker creates implicitly).
func (p *Plugin) Create(name string, opts map[string]string) error {
	if !volumeNameRE.MatchString(name) {
		return fmt.Errorf("%w: name %q: a volume name is a letter or digit, then up to 254 letters, digits, '_', '.' or '-'", ErrInvalid, name)
	}
	p.mu.Lock()
	if v, ok := p.vols[name]; ok {
		if len(opts) == 0 {
			p.mu.Unlock()
			return nil
		}
		err := p.open(v)
		same := err == nil && equalOpts(v.Options, opts)
		p.mu.Unlock()
		if err != nil || same {
			return err
		}
		return fmt.Errorf("%w: %s: remove it first (docker volume rm %s)", ErrExists, name, name)
	}
	p.mu.Unlock()
	specs, follow, err := ParseOptions(opts)
	if err != nil {
		return err
	}
	kept := make(map[string]string, len(opts))
	for k, v := range opts {
		kept[k] = v
	}
	p.mu.Lock()
	if _, ok := p.vols[name]; ok {
		p.mu.Unlock()
		return fmt.Errorf("%w: %s was created meanwhile", ErrExists, name)
	}
	v := &volume{Volume: Volume{Name: name, Secrets: specs, Follow: follow, Options: kept, CreatedAt: time.Now().UTC()},
		opened: true, mounts: map[string]string{}, pending: map[string]bool{}}
	if err := p.seal(v); err != nil {
		p.mu.Unlock()
		return fmt.Errorf("create volume %s: %s", name, describe(err))
	}
	p.vols[name] = v
	p.mu.Unlock()
	p.log.Info("created a docker volume", "volume", name, "secrets", len(specs))
	return p.save()
}

func equalOpts(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Remove forgets a volume no container mounts.
func (p *Plugin) Remove(name string) error {
	p.mu.Lock()
	v, ok := p.vols[name]
	if !ok {
		p.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if n := v.inUse(); n > 0 {
		p.mu.Unlock()
		return fmt.Errorf("%w: %s is mounted by %d container(s): stop them first", ErrInUse, name, n)
	}
	delete(p.vols, name)
	p.mu.Unlock()
	_ = os.Remove(filepath.Join(p.cfg.Root, name))
	p.log.Info("removed a docker volume", "volume", name)
	return p.save()
}

// Mount gives the container (or other user) id its own mount of a volume.
func (p *Plugin) Mount(ctx context.Context, name, id string) (string, error) {
	if !mountIDRE.MatchString(id) {
		return "", fmt.Errorf("%w: mount id %q", ErrInvalid, id)
	}
	p.mu.Lock()
	v, ok := p.vols[name]
	if !ok {
		p.mu.Unlock()
		return "", fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if mp, ok := v.mounts[id]; ok {
		p.mu.Unlock()
		return mp, nil
	}
	if v.pending[id] {
		p.mu.Unlock()
		return "", fmt.Errorf("%w: %s is being mounted for %s already", ErrInUse, name, id)
	}
	if err := p.open(v); err != nil {
		p.mu.Unlock()
		return "", fmt.Errorf("mount %w", err)
	}
	v.pending[id] = true
	specs, follow := append([]api.SecretSpec(nil), v.Secrets...), v.Follow
	p.mu.Unlock()

	mp := filepath.Join(p.cfg.Root, name, id)
	err := os.MkdirAll(filepath.Dir(p.cfg.Root), 0o755)
	if err == nil {
		err = os.MkdirAll(p.cfg.Root, 0o700)
	}
	if err == nil {
		err = os.MkdirAll(mp, 0o755)
	}
	if err == nil {
		_, err = p.cfg.Mounter.Mount(ctx, &api.MountRequest{Mountpoint: mp, Secrets: specs, Follow: follow})
		if err != nil {
			_ = os.Remove(mp)
		}
	}
	p.mu.Lock()
	delete(v.pending, id)
	if err == nil {
		v.mounts[id] = mp
		v.last = mp
	}
	p.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("mount volume %s: %s", name, describe(err))
	}
	p.log.Info("mounted a docker volume", "volume", name, "mount", id)
	return mp, nil
}

// Unmount ends the mount of a volume that Mount gave id.
func (p *Plugin) Unmount(name, id string) error {
	p.mu.Lock()
	v, ok := p.vols[name]
	if !ok {
		p.mu.Unlock()
		p.unmountEarlier(name, id)
		return nil // gone with an earlier daemon: let Docker go on
	}
	mp, ok := v.mounts[id]
	delete(v.mounts, id)
	if v.last == mp {
		v.last = ""
		for _, other := range v.mounts {
			v.last = other
		}
	}
	p.mu.Unlock()
	if !ok {
		p.unmountEarlier(name, id)
		return nil
	}
	var ae *api.Error
	if err := p.cfg.Mounter.Unmount(mp); err != nil && !(errors.As(err, &ae) && ae.Code == api.CodeNotFound) {
		p.log.Warn("unmounting a docker volume", "volume", name, "mount", id, "err", err)
	}
	_ = os.Remove(mp)
	_ = os.Remove(filepath.Dir(mp)) // the volume's directory, once no mount is left in it
	p.log.Info("unmounted a docker volume", "volume", name, "mount", id)
	return nil
}

// unmountEarlier ends the mount an earlier daemon made for name and id, if
// the node kept it.
func (p *Plugin) unmountEarlier(name, id string) {
	if !volumeNameRE.MatchString(name) || !mountIDRE.MatchString(id) {
		return
	}
	mp := filepath.Join(p.cfg.Root, name, id)
	if err := p.cfg.Mounter.Unmount(mp); err == nil {
		p.log.Info("unmounted a docker volume mounted before a restart", "volume", name, "mount", id)
	}
	_ = os.Remove(mp)
	_ = os.Remove(filepath.Dir(mp))
}

// describe renders an error for Docker's user: an API error with its hint.
func describe(err error) string {
	var ae *api.Error
	if errors.As(err, &ae) && ae.Hint != "" {
		return ae.Message + " (hint: " + ae.Hint + ")"
	}
	return err.Error()
}

// Info describes a volume for Get and List.
type Info struct {
	Name       string         `json:"Name"`
	Mountpoint string         `json:"Mountpoint,omitempty"`
	CreatedAt  string         `json:"CreatedAt,omitempty"`
	Status     map[string]any `json:"Status,omitempty"`
}

func (p *Plugin) info(v *volume, status bool) Info {
	in := Info{Name: v.Name, Mountpoint: v.last, CreatedAt: v.CreatedAt.Format(time.RFC3339)}
	if status && p.open(v) != nil {
		in.Status = map[string]any{"Mounts": len(v.mounts), "Secrets": "unknown while the node is locked"}
		return in
	}
	if status {
		specs := make([]string, len(v.Secrets))
		for i, s := range v.Secrets {
			specs[i] = s.String()
		}
		in.Status = map[string]any{"Secrets": specs, "Follow": v.Follow, "Mounts": len(v.mounts)}
	}
	return in
}

// Get describes one volume.
func (p *Plugin) Get(name string) (Info, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.vols[name]
	if !ok {
		return Info{}, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return p.info(v, true), nil
}

// List describes every volume, sorted by name.
func (p *Plugin) List() []Info {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Info, 0, len(p.vols))
	for _, v := range p.vols {
		out = append(out, p.info(v, false))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Path is where a volume is mounted now (the latest mount), or "".
func (p *Plugin) Path(name string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.vols[name]
	if !ok {
		return "", fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return v.last, nil
}

// seal seals v's definition. Called with p.mu held.
func (p *Plugin) seal(v *volume) error {
	b, err := json.Marshal(definition{Secrets: v.Secrets, Follow: v.Follow, Options: v.Options})
	if err != nil {
		return err
	}
	defer clear(b)
	sealed, err := p.cfg.Sealer.SealLocal(sealObject(v.Name), b)
	if err != nil {
		return err
	}
	v.sealed = sealed
	return nil
}

// Reseal seals definitions still kept in the clear (a state file of an
// earlier version, read while the node was locked). The daemon calls it
// once the node runs.
func (p *Plugin) Reseal() error {
	p.mu.Lock()
	pending := false
	for _, v := range p.vols {
		pending = pending || v.sealed == nil
	}
	p.mu.Unlock()
	if !pending {
		return nil
	}
	if err := p.save(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, v := range p.vols {
		if v.sealed == nil {
			return errNotSealed
		}
	}
	return nil
}

var errNotSealed = errors.New("volplugin: definitions not sealed yet (is the node locked?)")

// save writes the definitions; the table is read under saveMu, so the last
// write holds the latest table.
func (p *Plugin) save() error {
	p.saveMu.Lock()
	defer p.saveMu.Unlock()
	sf := stateFile{Version: 2, Volumes: []storedVolume{}}
	p.mu.Lock()
	for _, v := range p.vols {
		if v.sealed == nil {
			if err := p.seal(v); err != nil {
				// Kept as it was read (version 1) until it can be sealed.
				sf.Version = 1
				sf.Volumes = append(sf.Volumes, storedVolume{Name: v.Name, CreatedAt: v.CreatedAt, Secrets: v.Secrets, Follow: v.Follow, Options: v.Options})
				continue
			}
		}
		sf.Volumes = append(sf.Volumes, storedVolume{Name: v.Name, CreatedAt: v.CreatedAt, Sealed: v.sealed})
	}
	p.mu.Unlock()
	sort.Slice(sf.Volumes, func(i, j int) bool { return sf.Volumes[i].Name < sf.Volumes[j].Name })
	b, err := json.MarshalIndent(sf, "", "  ")
	if err != nil {
		return err
	}
	if err := statedir.WriteFileAtomic(p.cfg.StateFile, b, 0o600); err != nil {
		p.log.Warn("recording docker volumes", "err", err)
		return fmt.Errorf("record volumes: %v", err)
	}
	return nil
}
