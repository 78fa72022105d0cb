// Package backup owns the snapshot file of `vault snapshot save`: one file
// that holds a consistent cut of every Raft group of a cluster and the
// keyring that opens it, readable only with the key it was sealed for.
//
// # Format (version 1)
//
//	prefix   "VLTSNAP\n" || version (1) || total length (8, BE) || CRC32-IEEE of the 17 bytes before (4, BE)
//	header   length (4, BE) || JSON Header: cluster id, time, groups and their sizes, key versions and counts
//	keyring  length (4, BE) || keys.WrappedKeyring, wrapped under the snapshot KEK
//	groups   for each Header.Groups[i], Size bytes: the group's sealed snapshot stream (crypto.PurposeSnapshot, bound to its shard)
//	trailer  SHA-256 of everything before (32) || MAC of that digest under the snapshot KEK (32)
//
// The snapshot KEK is the KEK of the unlock key the snapshot was sealed
// for: the cluster's own unlock key when autolock is on, or a snapshot key
// made for this one save when it is off (a KEK stored on a disk never opens
// a snapshot). The KEK opens the wrapped keyring, whose DEKs open the group
// streams, whose values are sealed again under the same DEKs (names are
// MACs). Nothing in the file is plaintext but the header, which holds no
// name and no value.
//
// # Errors
//
// Each way a file can be wrong has its own sentinel, so an operator learns
// which: ErrTruncated (the file ends early), ErrCorrupt (a byte changed:
// checksum or MAC mismatch, or a malformed field), ErrNotSnapshot (not a
// snapshot file, or a version this build does not read), ErrOtherCluster
// (the key belongs to another cluster) and ErrWrongKey (the key is of this
// cluster but does not open the snapshot).
//
// # Invariants
//
//   - Open reads only the prefix, header and keyring into memory and checks
//     the whole file's SHA-256 before it returns; no input makes it panic.
//   - Unlock checks the key and the MAC before it returns the keyring: a
//     snapshot that passed Unlock was written by a holder of the key.
package backup

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"

	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/keys"
)

// Version is the format version this package writes and reads.
const Version = 1

var magic = []byte("VLTSNAP\n")

const (
	prefixSize  = 8 + 1 + 8 + 4
	trailerSize = sha256.Size + crypto.MACSize
	maxHeader   = 1 << 20
	maxKeyring  = 16 << 20
)

var (
	// ErrNotSnapshot means the file is not a vault snapshot file, or one of a
	// format version this build does not read.
	ErrNotSnapshot = errors.New("backup: not a vault snapshot file")
	// ErrTruncated means the file is shorter than it says it is: a copy or
	// a save that did not finish.
	ErrTruncated = errors.New("backup: snapshot file is truncated")
	// ErrCorrupt means the file does not match its checksum or MAC, or a
	// field is malformed: it was damaged or modified.
	ErrCorrupt = errors.New("backup: snapshot file is corrupt")
	// ErrOtherCluster means the key belongs to another cluster than the
	// snapshot: the snapshot is of another cluster than the key.
	ErrOtherCluster = errors.New("backup: the key and the snapshot belong to different clusters")
	// ErrWrongKey means the key is of the snapshot's cluster but is not the
	// key the snapshot was sealed for.
	ErrWrongKey = errors.New("backup: wrong key for this snapshot")
)

// Key sources: what the snapshot KEK derives from.
const (
	KeyUnlock   = "unlock-key"   // the cluster's unlock key (or its shares) at save time
	KeySnapshot = "snapshot-key" // a key made for this save (autolock off)
)

// Header describes a snapshot. It is stored in plaintext and names no
// secret and holds no value.
type Header struct {
	Format     int       `json:"Format"`
	ClusterID  string    `json:"ClusterID"`
	Created    time.Time `json:"Created"`
	NodeID     string    `json:"NodeID"` // the manager that saved it
	Autolock   bool      `json:"Autolock"`
	KeySource  string    `json:"KeySource"`
	KEKVersion uint32    `json:"KEKVersion"` // internal numbering, as the wrapped keyring
	KeyCheck   []byte    `json:"KeyCheck"`   // the snapshot KEK's check value
	DEKs       []uint32  `json:"DEKs"`       // DEK versions the keyring holds
	ActiveDEK  uint32    `json:"ActiveDEK"`
	Shards     int       `json:"Shards"` // secret groups
	Groups     []Group   `json:"Groups"`
}

// Group is one Raft group's section.
type Group struct {
	Shard      uint64 `json:"Shard"`
	Index      uint64 `json:"Index"` // Raft index of the cut
	Term       uint64 `json:"Term"`
	Size       int64  `json:"Size"`       // bytes of the sealed stream
	KeyVersion uint32 `json:"KeyVersion"` // DEK the stream is sealed under
	Records    uint64 `json:"Records"`
	Secrets    uint64 `json:"Secrets"`
	Versions   uint64 `json:"Versions"` // data versions stored
}

// Binding of the file MAC.
func macBinding(clusterID string) crypto.Binding {
	return crypto.Binding{Purpose: "snapshot-file", Object: []byte(clusterID)}
}

// Write writes a snapshot file to w: h (whose Groups give each stream's
// Size), the keyring wrapped under kek, and each group's stream, read from
// streams in order. It returns the bytes written.
func Write(w io.Writer, h *Header, keyring []byte, kek *crypto.Key, streams []io.Reader) (int64, error) {
	if len(streams) != len(h.Groups) {
		return 0, fmt.Errorf("backup: %d streams for %d groups", len(streams), len(h.Groups))
	}
	hb, total, err := layout(h, len(keyring))
	if err != nil {
		return 0, err
	}
	sum := sha256.New()
	cw := &countWriter{w: io.MultiWriter(w, sum)}
	p := append(bytes.Clone(magic), Version)
	p = binary.BigEndian.AppendUint64(p, uint64(total))
	p = binary.BigEndian.AppendUint32(p, crc32.ChecksumIEEE(p))
	p = binary.BigEndian.AppendUint32(p, uint32(len(hb)))
	p = append(p, hb...)
	p = binary.BigEndian.AppendUint32(p, uint32(len(keyring)))
	p = append(p, keyring...)
	if _, err := cw.Write(p); err != nil {
		return cw.n, err
	}
	for i, s := range streams {
		n, err := io.Copy(cw, s)
		if err != nil {
			return cw.n, fmt.Errorf("backup: group %d: %w", h.Groups[i].Shard, err)
		}
		if n != h.Groups[i].Size {
			return cw.n, fmt.Errorf("backup: group %d: stream of %d bytes, header says %d", h.Groups[i].Shard, n, h.Groups[i].Size)
		}
	}
	digest := sum.Sum(nil)
	mac, err := crypto.MAC(kek, macBinding(h.ClusterID), digest)
	if err != nil {
		return cw.n, err
	}
	n, err := w.Write(append(digest, mac...))
	return cw.n + int64(n), err
}

// layout sets h's format version and returns its encoding and the length
// of the file it heads.
func layout(h *Header, keyringLen int) ([]byte, int64, error) {
	h.Format = Version
	hb, err := json.Marshal(h)
	if err != nil {
		return nil, 0, err
	}
	total := int64(prefixSize + 4 + len(hb) + 4 + keyringLen + trailerSize)
	for _, g := range h.Groups {
		total += g.Size
	}
	return hb, total, nil
}

// FileSize is the length of the file Write writes for h and a keyring of
// keyringLen bytes.
func FileSize(h *Header, keyringLen int) (int64, error) {
	_, total, err := layout(h, keyringLen)
	return total, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Snapshot is an opened snapshot file whose checksum matched.
type Snapshot struct {
	Header  Header
	keyring []byte
	src     io.ReaderAt
	offsets []int64 // of each group's stream
	digest  []byte
	mac     []byte
	size    int64
}

// Open checks the snapshot file in src (size bytes): framing, lengths and
// the SHA-256 of the whole file. It needs no key. Errors wrap
// ErrNotSnapshot, ErrTruncated or ErrCorrupt, or are read errors.
func Open(src io.ReaderAt, size int64) (*Snapshot, error) {
	p := make([]byte, prefixSize)
	if n, err := src.ReadAt(p, 0); n < len(magic) || !bytes.Equal(p[:len(magic)], magic) {
		if err != nil && err != io.EOF {
			return nil, err
		}
		return nil, ErrNotSnapshot
	}
	if size < prefixSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrTruncated, size)
	}
	if binary.BigEndian.Uint32(p[17:]) != crc32.ChecksumIEEE(p[:17]) {
		return nil, fmt.Errorf("%w: the file's first bytes do not match their checksum", ErrCorrupt)
	}
	if p[8] != Version {
		return nil, fmt.Errorf("%w: format version %d (this build reads %d)", ErrNotSnapshot, p[8], Version)
	}
	total := int64(binary.BigEndian.Uint64(p[9:]))
	switch {
	case size < total:
		return nil, fmt.Errorf("%w: %d of %d bytes", ErrTruncated, size, total)
	case size > total:
		return nil, fmt.Errorf("%w: %d bytes after the end", ErrCorrupt, size-total)
	case total < prefixSize+8+trailerSize:
		return nil, fmt.Errorf("%w: length %d", ErrCorrupt, total)
	}
	// The whole file's checksum first: nothing below trusts a byte of it
	// before it matched.
	sum := sha256.New()
	if _, err := io.Copy(sum, io.NewSectionReader(src, 0, total-trailerSize)); err != nil {
		return nil, err
	}
	tr := make([]byte, trailerSize)
	if _, err := src.ReadAt(tr, total-trailerSize); err != nil {
		return nil, err
	}
	digest := sum.Sum(nil)
	if !bytes.Equal(digest, tr[:sha256.Size]) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	s := &Snapshot{src: src, digest: digest, mac: tr[sha256.Size:], size: total}
	off := int64(prefixSize)
	field := func(what string, max int) ([]byte, error) {
		var l [4]byte
		if _, err := src.ReadAt(l[:], off); err != nil {
			return nil, fmt.Errorf("%w: %s length: %v", ErrCorrupt, what, err)
		}
		n := int64(binary.BigEndian.Uint32(l[:]))
		if n > int64(max) || off+4+n > total-trailerSize {
			return nil, fmt.Errorf("%w: %s of %d bytes", ErrCorrupt, what, n)
		}
		b := make([]byte, n)
		if _, err := src.ReadAt(b, off+4); err != nil {
			return nil, err
		}
		off += 4 + n
		return b, nil
	}
	hb, err := field("header", maxHeader)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(hb, &s.Header); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrCorrupt, err)
	}
	if s.keyring, err = field("keyring", maxKeyring); err != nil {
		return nil, err
	}
	for _, g := range s.Header.Groups {
		if g.Size < 0 || off+g.Size > total-trailerSize {
			return nil, fmt.Errorf("%w: group %d of %d bytes", ErrCorrupt, g.Shard, g.Size)
		}
		s.offsets = append(s.offsets, off)
		off += g.Size
	}
	if off != total-trailerSize {
		return nil, fmt.Errorf("%w: %d bytes between the groups and the trailer", ErrCorrupt, total-trailerSize-off)
	}
	if s.Header.ClusterID == "" || s.Header.Format != Version {
		return nil, fmt.Errorf("%w: header without cluster id or of format %d", ErrCorrupt, s.Header.Format)
	}
	return s, nil
}

// Size is the file's length.
func (s *Snapshot) Size() int64 { return s.size }

// Digest is the file's SHA-256 (of everything but the trailer).
func (s *Snapshot) Digest() []byte { return bytes.Clone(s.digest) }

// KEK derives the snapshot KEK from u and checks it: ErrOtherCluster when u
// belongs to another cluster, ErrWrongKey when it is not the key the
// snapshot was sealed for.
func (s *Snapshot) KEK(u *keys.UnlockKey) (*crypto.Key, error) {
	if err := u.CheckCluster(s.Header.ClusterID); err != nil {
		if errors.Is(err, keys.ErrOtherCluster) {
			return nil, fmt.Errorf("%w: the snapshot is of cluster %s", ErrOtherCluster, s.Header.ClusterID)
		}
		return nil, err
	}
	kek, err := u.KEK(s.Header.ClusterID, s.Header.KEKVersion)
	if err != nil {
		return nil, err
	}
	if err := keys.VerifyKEK(kek, s.Header.KeyCheck); err != nil {
		kek.Wipe()
		if errors.Is(err, keys.ErrWrongKey) {
			return nil, fmt.Errorf("%w: it was sealed for the %s", ErrWrongKey, s.keyName())
		}
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return kek, nil
}

func (s *Snapshot) keyName() string {
	if s.Header.KeySource == KeySnapshot {
		return "snapshot key `vault snapshot save` printed (or read from --key-file)"
	}
	return "cluster's unlock key (or shares) at the time of the save"
}

// Unlock checks the file's MAC under kek and returns the wrapped keyring,
// which kek opens.
func (s *Snapshot) Unlock(kek *crypto.Key) (*keys.WrappedKeyring, error) {
	mac, err := crypto.MAC(kek, macBinding(s.Header.ClusterID), s.digest)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(mac, s.mac) {
		return nil, fmt.Errorf("%w: MAC mismatch: the file was modified", ErrCorrupt)
	}
	w, err := keys.UnmarshalWrappedKeyring(s.keyring)
	if err != nil {
		return nil, fmt.Errorf("%w: keyring: %v", ErrCorrupt, err)
	}
	return w, nil
}

// Stream returns group i's sealed snapshot stream.
func (s *Snapshot) Stream(i int) io.Reader {
	return io.NewSectionReader(s.src, s.offsets[i], s.Header.Groups[i].Size)
}

// ParseKey reads an unlock key or snapshot key ("VLTKEY-1-..."), or enough
// shares of one, one per line, as a key file holds them.
func ParseKey(text []byte) (*keys.UnlockKey, error) {
	fields := bytes.Fields(text)
	if len(fields) == 1 && bytes.HasPrefix(fields[0], []byte("VLTKEY-")) {
		return keys.ParseUnlockKey(string(fields[0]))
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("%w: the key file is empty", keys.ErrUnlockKeyFormat)
	}
	var set keys.ShareSet
	defer set.Wipe()
	for _, f := range fields {
		if _, _, err := set.Add(string(f)); err != nil {
			return nil, err
		}
	}
	return set.Key()
}
