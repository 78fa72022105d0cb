package keys

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/vaultd/vault/crypto"
)

// DEKState is where a DEK is in its life: one DEK is active (new data is
// sealed under it), older ones can still open data, retired ones have lost
// their key material.
type DEKState uint8

// DEK states. The zero value is invalid.
const (
	DEKActive  DEKState = iota + 1 // seals new data
	DEKOld                         // opens data sealed earlier; not used to seal
	DEKRetired                     // key material dropped; nothing sealed under it remains
)

func (s DEKState) String() string {
	switch s {
	case DEKActive:
		return "active"
	case DEKOld:
		return "old"
	case DEKRetired:
		return "retired"
	}
	return fmt.Sprintf("DEKState(%d)", uint8(s))
}

// WrappedDEK is one DEK of the replicated keyring.
type WrappedDEK struct {
	Version uint32
	Created int64 // unix nanoseconds, chosen by the proposer
	State   DEKState
	Seals   uint64 // seals counted under it by the state machine
	Wrapped []byte // the DEK sealed under the KEK; nil once retired
	// NextWrapped is the DEK sealed under the next KEK while the ring is
	// wrapped under two KEKs (see WrappedKeyring.NextKEKVersion); else nil.
	NextWrapped []byte
}

// WrappedKeyring is the replicated form of the keyring: the DEKs wrapped
// under the KEK and the KEK's check value. See the package doc for its
// invariants and determinism.
type WrappedKeyring struct {
	KEKVersion uint32
	KEKCheck   []byte
	// Index is the name-index key wrapped under the KEK: the MAC key that
	// turns secret names into lookup keys, so no name is stored in
	// plaintext. It does not seal anything and is not rotated with the DEKs.
	Index []byte
	DEKs  []WrappedDEK // ascending Version

	// A second wrapping, under the next KEK, while a KEK change is in
	// progress (NextKEKVersion 0: none). Every DEK that is not retired then
	// carries NextWrapped, so either KEK opens the whole ring.
	NextKEKVersion uint32
	NextKEKCheck   []byte
	NextIndex      []byte
}

// indexBinding binds the wrapped name-index key.
var indexBinding = crypto.Binding{Purpose: crypto.PurposeKeyring, Object: []byte("index")}

// indexKeyVersion is the version of the name-index key.
const indexKeyVersion = 1

func dekBinding(version uint32) crypto.Binding {
	return crypto.Binding{
		Purpose: crypto.PurposeKeyring,
		Object:  binary.BigEndian.AppendUint32([]byte("dek/"), version),
	}
}

// NewKeyring makes the keyring of a new cluster: DEK v1, active, wrapped
// under kek. It returns the wrapped form to replicate and the unwrapped form
// for this node.
func NewKeyring(kek *crypto.Key, now time.Time) (*WrappedKeyring, *Keyring, error) {
	check, err := KeyCheck(kek)
	if err != nil {
		return nil, nil, err
	}
	d, dek, err := NewDEK(kek, 1, now)
	if err != nil {
		return nil, nil, err
	}
	d.State = DEKActive
	index, err := crypto.GenerateKey(indexKeyVersion)
	if err != nil {
		dek.Wipe()
		return nil, nil, err
	}
	wrappedIndex, err := crypto.WrapKey(kek, indexBinding, index)
	if err != nil {
		dek.Wipe()
		index.Wipe()
		return nil, nil, fmt.Errorf("keys: wrap index key: %w", err)
	}
	w := &WrappedKeyring{KEKVersion: kek.Version(), KEKCheck: check, Index: wrappedIndex, DEKs: []WrappedDEK{d}}
	r := &Keyring{keys: map[uint32]*crypto.Key{1: dek}, active: 1, index: index}
	return w, r, nil
}

// NewDEK generates a DEK with the given version and wraps it under kek. It is
// the proposer's half of adding a DEK: the result, in state DEKOld, goes into
// a command that the state machine applies with AddDEK. The unwrapped DEK is
// returned too; the caller owns it.
func NewDEK(kek *crypto.Key, version uint32, now time.Time) (WrappedDEK, *crypto.Key, error) {
	if version == 0 {
		return WrappedDEK{}, nil, fmt.Errorf("%w: dek version 0", ErrMalformedKeyring)
	}
	dek, err := crypto.GenerateKey(version)
	if err != nil {
		return WrappedDEK{}, nil, fmt.Errorf("keys: generate dek: %w", err)
	}
	wrapped, err := crypto.WrapKey(kek, dekBinding(version), dek)
	if err != nil {
		dek.Wipe()
		return WrappedDEK{}, nil, fmt.Errorf("keys: wrap dek version %d: %w", version, err)
	}
	return WrappedDEK{Version: version, Created: now.UnixNano(), State: DEKOld, Wrapped: wrapped}, dek, nil
}

// Clone returns a deep copy of w.
func (w *WrappedKeyring) Clone() *WrappedKeyring {
	c := &WrappedKeyring{KEKVersion: w.KEKVersion, KEKCheck: bytes.Clone(w.KEKCheck), Index: bytes.Clone(w.Index),
		NextKEKVersion: w.NextKEKVersion, NextKEKCheck: bytes.Clone(w.NextKEKCheck), NextIndex: bytes.Clone(w.NextIndex)}
	if w.DEKs != nil {
		c.DEKs = make([]WrappedDEK, len(w.DEKs))
		for i, d := range w.DEKs {
			d.Wrapped = bytes.Clone(d.Wrapped)
			d.NextWrapped = bytes.Clone(d.NextWrapped)
			c.DEKs[i] = d
		}
	}
	return c
}

// Active returns the version of the active DEK, or 0 if there is none.
func (w *WrappedKeyring) Active() uint32 {
	for _, d := range w.DEKs {
		if d.State == DEKActive {
			return d.Version
		}
	}
	return 0
}

func (w *WrappedKeyring) index(v uint32) (int, bool) {
	for i, d := range w.DEKs {
		if d.Version == v {
			return i, true
		}
	}
	return 0, false
}

// Lookup returns the DEK with version v. The result shares Wrapped with w.
func (w *WrappedKeyring) Lookup(v uint32) (WrappedDEK, bool) {
	if i, ok := w.index(v); ok {
		return w.DEKs[i], true
	}
	return WrappedDEK{}, false
}

func (w *WrappedKeyring) last() uint32 {
	if len(w.DEKs) == 0 {
		return 0
	}
	return w.DEKs[len(w.DEKs)-1].Version
}

// AddDEK appends d, made by NewDEK, to the ring. Its version must be the
// last version plus one and its state DEKOld. Adding a DEK that is already
// recorded (same version, creation time and wrapped bytes; its state and
// seal count may have moved on since) does nothing, so a replayed command is
// harmless. Errors: ErrMalformedKeyring for an invalid d, ErrDEKConflict for
// a version out of order or another DEK under an existing version.
func (w *WrappedKeyring) AddDEK(d WrappedDEK) error {
	if i, ok := w.index(d.Version); ok {
		have := w.DEKs[i]
		if have.Created == d.Created && have.State != DEKRetired && bytes.Equal(have.Wrapped, d.Wrapped) {
			return nil
		}
		return fmt.Errorf("%w: version %d already holds another dek", ErrDEKConflict, d.Version)
	}
	if d.State != DEKOld {
		return fmt.Errorf("%w: new dek version %d is %v, want old", ErrMalformedKeyring, d.Version, d.State)
	}
	if len(d.Wrapped) == 0 {
		return fmt.Errorf("%w: new dek version %d has no key material", ErrMalformedKeyring, d.Version)
	}
	if w.HasNext() != (len(d.NextWrapped) > 0) {
		return fmt.Errorf("%w: new dek version %d is not wrapped under the ring's KEKs", ErrMalformedKeyring, d.Version)
	}
	if next := w.last() + 1; d.Version != next || next == 0 {
		return fmt.Errorf("%w: dek version %d out of order, next is %d", ErrDEKConflict, d.Version, next)
	}
	d.Wrapped = bytes.Clone(d.Wrapped)
	d.NextWrapped = bytes.Clone(d.NextWrapped)
	w.DEKs = append(w.DEKs, d)
	return nil
}

// Activate makes DEK v the active one; the previously active DEK becomes
// old. Activating the active DEK does nothing. Errors: ErrUnknownDEK,
// ErrDEKRetired.
func (w *WrappedKeyring) Activate(v uint32) error {
	i, ok := w.index(v)
	if !ok {
		return fmt.Errorf("%w: activate version %d", ErrUnknownDEK, v)
	}
	switch w.DEKs[i].State {
	case DEKActive:
		return nil
	case DEKRetired:
		return fmt.Errorf("%w: cannot activate version %d", ErrDEKRetired, v)
	}
	for j := range w.DEKs {
		if w.DEKs[j].State == DEKActive {
			w.DEKs[j].State = DEKOld
		}
	}
	w.DEKs[i].State = DEKActive
	return nil
}

// Retire marks DEK v retired and drops its wrapped key material. Whether
// anything sealed under v remains is for the caller to have checked.
// Retiring a retired DEK does nothing. Errors: ErrUnknownDEK, ErrDEKActive.
func (w *WrappedKeyring) Retire(v uint32) error {
	i, ok := w.index(v)
	if !ok {
		return fmt.Errorf("%w: retire version %d", ErrUnknownDEK, v)
	}
	switch w.DEKs[i].State {
	case DEKRetired:
		return nil
	case DEKActive:
		return fmt.Errorf("%w: cannot retire version %d; activate another first", ErrDEKActive, v)
	}
	w.DEKs[i].State = DEKRetired
	w.DEKs[i].Wrapped = nil
	w.DEKs[i].NextWrapped = nil
	return nil
}

// CountSeals adds n to the seal count of DEK v, saturating at the maximum.
// An unknown version is ignored.
func (w *WrappedKeyring) CountSeals(v uint32, n uint64) {
	if i, ok := w.index(v); ok {
		d := &w.DEKs[i]
		if d.Seals > math.MaxUint64-n {
			d.Seals = math.MaxUint64
		} else {
			d.Seals += n
		}
	}
}

// Validate checks the invariants listed in the package doc.
func (w *WrappedKeyring) Validate() error {
	if len(w.KEKCheck) != keyCheckSize {
		return fmt.Errorf("%w: key check value is %d bytes, want %d", ErrMalformedKeyring, len(w.KEKCheck), keyCheckSize)
	}
	if len(w.DEKs) == 0 {
		return fmt.Errorf("%w: no dek", ErrMalformedKeyring)
	}
	var prev uint32
	active := 0
	for _, d := range w.DEKs {
		switch {
		case d.Version <= prev:
			return fmt.Errorf("%w: dek version %d after %d", ErrMalformedKeyring, d.Version, prev)
		case d.State < DEKActive || d.State > DEKRetired:
			return fmt.Errorf("%w: dek version %d has invalid state %d", ErrMalformedKeyring, d.Version, uint8(d.State))
		case d.State == DEKRetired && d.Wrapped != nil:
			return fmt.Errorf("%w: retired dek version %d has key material", ErrMalformedKeyring, d.Version)
		case d.State != DEKRetired && len(d.Wrapped) == 0:
			return fmt.Errorf("%w: %v dek version %d has no key material", ErrMalformedKeyring, d.State, d.Version)
		case d.State == DEKRetired && d.NextWrapped != nil:
			return fmt.Errorf("%w: retired dek version %d has key material", ErrMalformedKeyring, d.Version)
		case d.State != DEKRetired && w.HasNext() != (len(d.NextWrapped) > 0):
			return fmt.Errorf("%w: dek version %d is not wrapped under every KEK of the ring", ErrMalformedKeyring, d.Version)
		}
		if d.State == DEKActive {
			active++
		}
		prev = d.Version
	}
	if active != 1 {
		return fmt.Errorf("%w: %d active deks, want 1", ErrMalformedKeyring, active)
	}
	switch {
	case !w.HasNext() && (w.NextKEKCheck != nil || w.NextIndex != nil):
		return fmt.Errorf("%w: a second wrapping without a KEK version", ErrMalformedKeyring)
	case w.HasNext() && w.NextKEKVersion == w.KEKVersion:
		return fmt.Errorf("%w: both wrappings are under KEK version %d", ErrMalformedKeyring, w.KEKVersion)
	case w.HasNext() && len(w.NextKEKCheck) != keyCheckSize:
		return fmt.Errorf("%w: next key check value is %d bytes, want %d", ErrMalformedKeyring, len(w.NextKEKCheck), keyCheckSize)
	case w.HasNext() && (w.Index == nil) != (w.NextIndex == nil):
		return fmt.Errorf("%w: the index key is not wrapped under every KEK of the ring", ErrMalformedKeyring)
	}
	return nil
}

// HasNext reports whether the ring is wrapped under a second (next) KEK too.
func (w *WrappedKeyring) HasNext() bool { return w.NextKEKVersion != 0 }

// KEKVersions returns the versions of the KEKs the ring is wrapped under:
// the current one, then the next one while it has two.
func (w *WrappedKeyring) KEKVersions() []uint32 {
	if w.HasNext() {
		return []uint32{w.KEKVersion, w.NextKEKVersion}
	}
	return []uint32{w.KEKVersion}
}

// WrappedUnder reports whether one of the ring's wrappings is under KEK
// version v (the key itself is not checked).
func (w *WrappedKeyring) WrappedUnder(v uint32) bool {
	return v != 0 && (w.KEKVersion == v || w.NextKEKVersion == v)
}

// wrapping is one of the ring's two wrappings.
type wrapping struct {
	index []byte
	dek   func(d WrappedDEK) []byte
}

// wrappingFor returns the wrapping kek opens, after its key check:
// ErrWrongKey when it is neither.
func (w *WrappedKeyring) wrappingFor(kek *crypto.Key) (wrapping, error) {
	if kek == nil {
		return wrapping{}, fmt.Errorf("%w: no kek", ErrWrongKey)
	}
	switch kek.Version() {
	case w.KEKVersion:
		if err := VerifyKEK(kek, w.KEKCheck); err != nil {
			return wrapping{}, err
		}
		return wrapping{index: w.Index, dek: func(d WrappedDEK) []byte { return d.Wrapped }}, nil
	case w.NextKEKVersion:
		if w.HasNext() {
			if err := VerifyKEK(kek, w.NextKEKCheck); err != nil {
				return wrapping{}, err
			}
			return wrapping{index: w.NextIndex, dek: func(d WrappedDEK) []byte { return d.NextWrapped }}, nil
		}
	}
	return wrapping{}, fmt.Errorf("%w: keyring is wrapped under kek version %v, got version %d",
		ErrWrongKey, w.KEKVersions(), kek.Version())
}

// AddWrapping returns a copy of w wrapped under nextKEK as well as under
// curKEK, the KEK it is wrapped under now: the first step of a KEK change,
// after which either KEK opens the ring. Adding the same next KEK again
// returns an equal copy. Errors: ErrWrongKey when curKEK does not open w,
// ErrMalformedKeyring when w already has another second wrapping or
// nextKEK has w's version.
func (w *WrappedKeyring) AddWrapping(curKEK, nextKEK *crypto.Key) (*WrappedKeyring, error) {
	if err := w.checkKEK(curKEK); err != nil {
		return nil, err
	}
	if nextKEK == nil || nextKEK.Version() == w.KEKVersion {
		return nil, fmt.Errorf("%w: the next kek needs a version other than %d", ErrMalformedKeyring, w.KEKVersion)
	}
	if w.HasNext() {
		if w.NextKEKVersion == nextKEK.Version() && VerifyKEK(nextKEK, w.NextKEKCheck) == nil {
			return w.Clone(), nil
		}
		return nil, fmt.Errorf("%w: already wrapped under kek version %d too", ErrMalformedKeyring, w.NextKEKVersion)
	}
	check, err := KeyCheck(nextKEK)
	if err != nil {
		return nil, err
	}
	index, deks, err := w.wrapUnder(curKEK, nextKEK)
	if err != nil {
		return nil, err
	}
	c := w.Clone()
	c.NextKEKVersion, c.NextKEKCheck = nextKEK.Version(), check
	if w.Index != nil {
		c.NextIndex = index
	}
	for i, d := range deks {
		if d != nil {
			c.DEKs[i].NextWrapped = d
		}
	}
	return c, nil
}

// DropWrapping returns a copy of w wrapped under nextKEK only: the second
// wrapping becomes the only one. It is the last step of a KEK change and
// takes nothing random. A ring already wrapped under nextKEK alone is
// returned as an equal copy. Errors: ErrWrongKey when nextKEK is not w's
// next (or only) KEK.
func (w *WrappedKeyring) DropWrapping(nextKEK *crypto.Key) (*WrappedKeyring, error) {
	if !w.HasNext() {
		if err := w.checkKEK(nextKEK); err != nil {
			return nil, err
		}
		return w.Clone(), nil
	}
	if nextKEK == nil || nextKEK.Version() != w.NextKEKVersion {
		return nil, fmt.Errorf("%w: the ring's next kek is version %d", ErrWrongKey, w.NextKEKVersion)
	}
	if err := VerifyKEK(nextKEK, w.NextKEKCheck); err != nil {
		return nil, err
	}
	c := w.Clone()
	c.KEKVersion, c.KEKCheck, c.Index = c.NextKEKVersion, c.NextKEKCheck, c.NextIndex
	c.NextKEKVersion, c.NextKEKCheck, c.NextIndex = 0, nil, nil
	for i := range c.DEKs {
		c.DEKs[i].Wrapped, c.DEKs[i].NextWrapped = c.DEKs[i].NextWrapped, nil
	}
	return c, nil
}

// checkKEK verifies that kek is the key w is wrapped under.
func (w *WrappedKeyring) checkKEK(kek *crypto.Key) error {
	if kek == nil {
		return fmt.Errorf("%w: no kek", ErrWrongKey)
	}
	if kek.Version() != w.KEKVersion {
		return fmt.Errorf("%w: keyring is wrapped under kek version %d, got version %d",
			ErrWrongKey, w.KEKVersion, kek.Version())
	}
	return VerifyKEK(kek, w.KEKCheck)
}

func unwrapIndex(kek *crypto.Key, wrapped []byte) (*crypto.Key, error) {
	k, err := crypto.UnwrapKey(kek, indexBinding, indexKeyVersion, wrapped)
	if err != nil {
		return nil, fmt.Errorf("keys: unwrap index key: %w", err)
	}
	return k, nil
}

func unwrapDEK(kek *crypto.Key, version uint32, wrapped []byte) (*crypto.Key, error) {
	k, err := crypto.UnwrapKey(kek, dekBinding(version), version, wrapped)
	if err != nil {
		return nil, fmt.Errorf("keys: unwrap dek version %d: %w", version, err)
	}
	return k, nil
}

// Unwrap verifies kek against the key check of either wrapping
// (ErrWrongKey) and unwraps every DEK that is not retired. A DEK that fails
// to unwrap under the right KEK is corrupt: the error names its version and
// wraps crypto.ErrIntegrity.
func (w *WrappedKeyring) Unwrap(kek *crypto.Key) (*Keyring, error) {
	wr, err := w.wrappingFor(kek)
	if err != nil {
		return nil, err
	}
	r := &Keyring{keys: make(map[uint32]*crypto.Key, len(w.DEKs))}
	for _, d := range w.DEKs {
		if d.State == DEKRetired {
			continue
		}
		k, err := unwrapDEK(kek, d.Version, wr.dek(d))
		if err != nil {
			r.Wipe()
			return nil, err
		}
		r.keys[d.Version] = k
	}
	if wr.index != nil {
		k, err := unwrapIndex(kek, wr.index)
		if err != nil {
			r.Wipe()
			return nil, err
		}
		r.index = k
	}
	r.active = w.Active()
	return r, nil
}

// Rewrap returns a copy of w with every DEK that is not retired re-wrapped
// from oldKEK to newKEK, KEKVersion set to newKEK's version and a new key
// check. w is not modified. It is the proposer's half of rotating the KEK
// (it uses randomness); give newKEK a new version so that nodes can tell the
// two KEKs apart. A second wrapping, if any, is dropped. Errors:
// ErrWrongKey when oldKEK is not the KEK w is wrapped under first.
func (w *WrappedKeyring) Rewrap(oldKEK, newKEK *crypto.Key) (*WrappedKeyring, error) {
	if err := w.checkKEK(oldKEK); err != nil {
		return nil, err
	}
	check, err := KeyCheck(newKEK)
	if err != nil {
		return nil, err
	}
	index, deks, err := w.wrapUnder(oldKEK, newKEK)
	if err != nil {
		return nil, err
	}
	c := w.Clone()
	c.KEKVersion = newKEK.Version()
	c.KEKCheck = check
	c.NextKEKVersion, c.NextKEKCheck, c.NextIndex = 0, nil, nil
	if w.Index != nil {
		c.Index = index
	}
	for i, d := range deks {
		if d != nil {
			c.DEKs[i].Wrapped, c.DEKs[i].NextWrapped = d, nil
		}
	}
	return c, nil
}

// wrapUnder unwraps w's name-index key and live DEKs (the first wrapping,
// under from) and wraps each under to, wiping the plain keys as it goes.
// index is nil when w has no index key; deks[i] is DEK i's new wrapping,
// nil for a retired DEK.
func (w *WrappedKeyring) wrapUnder(from, to *crypto.Key) (index []byte, deks [][]byte, err error) {
	if w.Index != nil {
		k, err := unwrapIndex(from, w.Index)
		if err != nil {
			return nil, nil, err
		}
		index, err = crypto.WrapKey(to, indexBinding, k)
		k.Wipe()
		if err != nil {
			return nil, nil, fmt.Errorf("keys: wrap index key: %w", err)
		}
	}
	deks = make([][]byte, len(w.DEKs))
	for i, d := range w.DEKs {
		if d.State == DEKRetired {
			continue
		}
		dek, err := unwrapDEK(from, d.Version, d.Wrapped)
		if err != nil {
			return nil, nil, err
		}
		deks[i], err = crypto.WrapKey(to, dekBinding(d.Version), dek)
		dek.Wipe()
		if err != nil {
			return nil, nil, fmt.Errorf("keys: wrap dek version %d: %w", d.Version, err)
		}
	}
	return index, deks, nil
}

// Binary format of a WrappedKeyring, all integers big endian:
//
//	magic "vk" (0x76 0x6b) | format version 0x01 | kek version u32 |
//	check length u32 | check | index length u32 | index | dek count u32 | count times:
//	  version u32 | created i64 | state u8 | seals u64 | wrapped length u32 | wrapped
//
// A ring wrapped under two KEKs uses format version 0x02, which adds after
// the index: next kek version u32 | next check length u32 | next check |
// next index length u32 | next index; and after each DEK's wrapped bytes:
// next wrapped length u32 | next wrapped. A ring with one wrapping is
// always encoded as 0x01, so its bytes do not change.
const (
	keyringMagic0, keyringMagic1 = 0x76, 0x6b
	keyringFormatV1              = 0x01
	keyringFormatV2              = 0x02
	keyringHeaderSize            = 3 + 4
	dekRecordMinSize             = 4 + 8 + 1 + 8 + 4
)

// Marshal encodes w. The encoding is a function of w's fields alone, so
// replicas holding equal rings produce identical bytes.
func (w *WrappedKeyring) Marshal() []byte {
	n := keyringHeaderSize + 4 + len(w.KEKCheck) + 4 + len(w.Index) + 4
	for _, d := range w.DEKs {
		n += dekRecordMinSize + len(d.Wrapped)
	}
	format := byte(keyringFormatV1)
	if w.HasNext() {
		format = keyringFormatV2
		n += 4 + 4 + len(w.NextKEKCheck) + 4 + len(w.NextIndex)
		for _, d := range w.DEKs {
			n += 4 + len(d.NextWrapped)
		}
	}
	b := make([]byte, 0, n)
	b = append(b, keyringMagic0, keyringMagic1, format)
	b = binary.BigEndian.AppendUint32(b, w.KEKVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(len(w.KEKCheck)))
	b = append(b, w.KEKCheck...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(w.Index)))
	b = append(b, w.Index...)
	if format == keyringFormatV2 {
		b = binary.BigEndian.AppendUint32(b, w.NextKEKVersion)
		b = binary.BigEndian.AppendUint32(b, uint32(len(w.NextKEKCheck)))
		b = append(b, w.NextKEKCheck...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(w.NextIndex)))
		b = append(b, w.NextIndex...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(w.DEKs)))
	for _, d := range w.DEKs {
		b = binary.BigEndian.AppendUint32(b, d.Version)
		b = binary.BigEndian.AppendUint64(b, uint64(d.Created))
		b = append(b, byte(d.State))
		b = binary.BigEndian.AppendUint64(b, d.Seals)
		b = binary.BigEndian.AppendUint32(b, uint32(len(d.Wrapped)))
		b = append(b, d.Wrapped...)
		if format == keyringFormatV2 {
			b = binary.BigEndian.AppendUint32(b, uint32(len(d.NextWrapped)))
			b = append(b, d.NextWrapped...)
		}
	}
	return b
}

// decoder reads big-endian fields and remembers the first shortfall.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.err = fmt.Errorf("%w: truncated %s", ErrMalformedKeyring, what)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8(what string) uint8 {
	if v := d.take(1, what); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u32(what string) uint32 {
	if v := d.take(4, what); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) u64(what string) uint64 {
	if v := d.take(8, what); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// bytes reads a u32 length and that many bytes, copied; zero length is nil.
func (d *decoder) bytes(what string) []byte {
	n := d.u32(what + " length")
	if d.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: truncated %s", ErrMalformedKeyring, what)
		return nil
	}
	v := d.take(int(n), what)
	if len(v) == 0 {
		return nil
	}
	return bytes.Clone(v)
}

// UnmarshalWrappedKeyring decodes a keyring encoded by Marshal. It is
// strict: a bad magic or format version, a truncated or overlong input, or a
// ring that fails Validate returns an error wrapping ErrMalformedKeyring.
// Every accepted input is exactly what Marshal produces for the result.
func UnmarshalWrappedKeyring(b []byte) (*WrappedKeyring, error) {
	if len(b) < keyringHeaderSize || b[0] != keyringMagic0 || b[1] != keyringMagic1 {
		return nil, fmt.Errorf("%w: not a keyring", ErrMalformedKeyring)
	}
	format := b[2]
	if format != keyringFormatV1 && format != keyringFormatV2 {
		return nil, fmt.Errorf("%w: unsupported format version %d", ErrMalformedKeyring, b[2])
	}
	d := &decoder{b: b[3:]}
	w := &WrappedKeyring{KEKVersion: d.u32("kek version")}
	w.KEKCheck = d.bytes("key check")
	w.Index = d.bytes("index key")
	if format == keyringFormatV2 {
		w.NextKEKVersion = d.u32("next kek version")
		w.NextKEKCheck = d.bytes("next key check")
		w.NextIndex = d.bytes("next index key")
		if d.err == nil && !w.HasNext() {
			return nil, fmt.Errorf("%w: format 2 without a second wrapping", ErrMalformedKeyring)
		}
	}
	count := d.u32("dek count")
	if d.err == nil && uint64(count)*dekRecordMinSize > uint64(len(d.b)) {
		return nil, fmt.Errorf("%w: %d deks do not fit in %d bytes", ErrMalformedKeyring, count, len(d.b))
	}
	if count > 0 {
		w.DEKs = make([]WrappedDEK, 0, count)
	}
	for i := uint32(0); i < count && d.err == nil; i++ {
		var k WrappedDEK
		k.Version = d.u32("dek version")
		k.Created = int64(d.u64("dek creation time"))
		k.State = DEKState(d.u8("dek state"))
		k.Seals = d.u64("dek seal count")
		k.Wrapped = d.bytes("wrapped dek")
		if format == keyringFormatV2 {
			k.NextWrapped = d.bytes("next wrapped dek")
		}
		w.DEKs = append(w.DEKs, k)
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformedKeyring, len(d.b))
	}
	if err := w.Validate(); err != nil {
		return nil, err
	}
	return w, nil
}
