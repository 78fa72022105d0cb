package keys

import (
	"fmt"
	"slices"
	"sync"

	"github.com/vaultd/vault/crypto"
)

// Keyring is the unwrapped, in-memory DEK ring of one node and the
// crypto.KeySource for everything sealed under the DEKs. It is safe for
// concurrent use.
//
// The keys it returns belong to it: callers must not Wipe them, and a key
// becomes unusable (crypto.ErrWiped) once the ring drops it (Update after a
// retirement) or is wiped. The zero Keyring is empty and ready for Update.
type Keyring struct {
	mu     sync.RWMutex
	keys   map[uint32]*crypto.Key
	active uint32
	index  *crypto.Key // the name-index MAC key
	wiped  bool
}

var _ crypto.KeySource = (*Keyring)(nil)

func (r *Keyring) errWiped() error { return fmt.Errorf("keys: keyring: %w", crypto.ErrWiped) }

// Key returns the DEK with the given version, or an error wrapping
// crypto.ErrUnknownKeyVersion (crypto.ErrWiped after Wipe).
func (r *Keyring) Key(version uint32) (*crypto.Key, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.key(version)
}

func (r *Keyring) key(version uint32) (*crypto.Key, error) {
	if r.wiped {
		return nil, r.errWiped()
	}
	k, ok := r.keys[version]
	if !ok {
		return nil, fmt.Errorf("keys: dek version %d: %w", version, crypto.ErrUnknownKeyVersion)
	}
	return k, nil
}

// Active returns the active DEK, the one to seal new data with.
func (r *Keyring) Active() (*crypto.Key, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.active == 0 && !r.wiped {
		return nil, fmt.Errorf("keys: keyring has no active dek: %w", crypto.ErrUnknownKeyVersion)
	}
	return r.key(r.active)
}

// Update brings the ring in line with w: it unwraps, under kek, the DEKs of
// w that it lacks, follows w's active version, and drops and wipes the DEKs
// that w has retired (or no longer holds). kek, the KEK of either of w's
// wrappings, is checked first (ErrWrongKey) and only needed when there is
// something to unwrap; it may be nil otherwise. On error the ring is
// unchanged.
func (r *Keyring) Update(w *WrappedKeyring, kek *crypto.Key) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.wiped {
		return r.errWiped()
	}
	live := make(map[uint32]bool, len(w.DEKs))
	var missing []WrappedDEK
	for _, d := range w.DEKs {
		if d.State == DEKRetired {
			continue
		}
		live[d.Version] = true
		if _, ok := r.keys[d.Version]; !ok {
			missing = append(missing, d)
		}
	}
	if active := w.Active(); active == 0 || !live[active] {
		return fmt.Errorf("%w: no active dek", ErrMalformedKeyring)
	}
	added := make(map[uint32]*crypto.Key, len(missing))
	var index *crypto.Key
	if len(missing) > 0 || (r.index == nil && w.Index != nil) {
		wr, err := w.wrappingFor(kek)
		if err != nil {
			return err
		}
		for _, d := range missing {
			k, err := unwrapDEK(kek, d.Version, wr.dek(d))
			if err != nil {
				for _, k := range added {
					k.Wipe()
				}
				return err
			}
			added[d.Version] = k
		}
		if r.index == nil && wr.index != nil {
			k, err := unwrapIndex(kek, wr.index)
			if err != nil {
				for _, k := range added {
					k.Wipe()
				}
				return err
			}
			index = k
		}
	}
	if index != nil {
		r.index = index
	}
	if r.keys == nil {
		r.keys = make(map[uint32]*crypto.Key, len(added))
	}
	for v, k := range r.keys {
		if !live[v] {
			k.Wipe()
			delete(r.keys, v)
		}
	}
	for v, k := range added {
		r.keys[v] = k
	}
	r.active = w.Active()
	return nil
}

// IndexKey returns the name-index key: the MAC key for name lookups.
func (r *Keyring) IndexKey() (*crypto.Key, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.wiped {
		return nil, r.errWiped()
	}
	if r.index == nil {
		return nil, fmt.Errorf("keys: keyring has no index key: %w", crypto.ErrUnknownKeyVersion)
	}
	return r.index, nil
}

// Versions returns the versions of the DEKs held, ascending.
func (r *Keyring) Versions() []uint32 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.versions()
}

func (r *Keyring) versions() []uint32 {
	vs := make([]uint32, 0, len(r.keys))
	for v := range r.keys {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}

// Wipe zeroes and forgets every DEK. It is final: afterwards Key, Active and
// Update return errors wrapping crypto.ErrWiped, so no late Update can bring
// keys back into a locked node. Wipe is idempotent.
func (r *Keyring) Wipe() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range r.keys {
		k.Wipe()
	}
	r.keys = nil
	if r.index != nil {
		r.index.Wipe()
		r.index = nil
	}
	r.active = 0
	r.wiped = true
}

// String describes the ring without key material, such as
// "keys.Keyring{active v2, versions [1 2], REDACTED}".
func (r *Keyring) String() string {
	if r == nil {
		return "keys.Keyring(nil)"
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.wiped {
		return "keys.Keyring{wiped}"
	}
	return fmt.Sprintf("keys.Keyring{active v%d, versions %v, REDACTED}", r.active, r.versions())
}

// GoString is the same as String, so %#v is redacted too.
func (r *Keyring) GoString() string { return r.String() }

// Format prints String for every verb and flag.
func (r *Keyring) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(r.String())) }
