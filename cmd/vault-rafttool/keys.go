package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/internal/statedir"
	"github.com/vaultd/vault/keys"
)

// kekSource gives the KEKs to try for a version: the node's KEK file
// (autolock off) when it holds that version, and the KEK derived from the
// operator's unlock key (autolock on).
type kekSource struct {
	file      *crypto.Key
	filePath  string
	unlock    *keys.UnlockKey
	clusterID string
	// shares, when given instead of the key, are combined into unlock once
	// the keyrings' check values are known (resolveShares).
	shares []givenShare
}

// errKEKVersion means no KEK of a keyring's version is at hand: the KEK file
// holds another version and no unlock key was given.
var errKEKVersion = errors.New("no KEK of this version")

// keks returns the KEKs of version v to try, in order. The caller wipes them.
func (s *kekSource) keks(v uint32) ([]*crypto.Key, error) {
	var out []*crypto.Key
	if s.file != nil && s.file.Version() == v {
		b, err := crypto.ExportKey(s.file)
		if err != nil {
			return nil, err
		}
		k, err := crypto.NewKey(v, b)
		clear(b)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	if s.unlock != nil {
		// The unlock key derives the KEK of every version; the keyring's key
		// check tells whether it is the right one (as vault unlock does).
		k, err := s.unlock.KEK(s.clusterID, v)
		if err != nil {
			wipeKeys(out)
			return nil, err
		}
		out = append(out, k)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: the keyring is wrapped under KEK v%d and %s holds v%d", errKEKVersion, statedir.OperatorKEKVersion(v), s.filePath, statedir.OperatorKEKVersion(s.file.Version()))
	}
	return out, nil
}

func wipeKeys(ks []*crypto.Key) {
	for _, k := range ks {
		k.Wipe()
	}
}

func (s *kekSource) wipe() {
	s.file.Wipe()
	s.unlock.Wipe()
}

// keySourceFromFlags reads --unlock-key or --unlock-key-file (checking its
// text), then the KEK file. A node with neither asks for the key on a
// terminal, or fails with the locked error.
func keySourceFromFlags(c *cli.Context, dir *statedir.Dir) (*kekSource, error) {
	clusterID := dir.Node.ClusterID
	shares, err := sharesFromFlags(c)
	if err != nil {
		return nil, err
	}
	u, err := unlockKeyFromFlags(c, clusterID)
	if err != nil {
		return nil, err
	}
	src := &kekSource{unlock: u, clusterID: clusterID, filePath: dir.KEKFile(), shares: shares}
	kek, err := dir.ReadKEK()
	switch {
	case err == nil:
		src.file = kek
	case errors.Is(err, statedir.ErrLocked):
		if u == nil && shares == nil {
			if src.unlock, err = promptUnlockKey(c, clusterID); err != nil {
				return nil, err
			}
		}
	case u != nil || shares != nil:
		warnf(c.App.ErrWriter, "the KEK file is unreadable (%v): using the unlock key", err)
	default:
		return nil, withHint(fmt.Errorf("read the KEK file: %w", err),
			"the KEK file is damaged: give the unlock key with --unlock-key-file if autolock is on, or restore the file from a backup")
	}
	return src, nil
}

// unlockKeyFromFlags parses the unlock key given on the command line, or
// returns nil when none was.
func unlockKeyFromFlags(c *cli.Context, clusterID string) (*keys.UnlockKey, error) {
	var text string
	switch {
	case c.IsSet("unlock-key") && c.IsSet("unlock-key-file"):
		return nil, usagef("give one of them", "--unlock-key and --unlock-key-file both given")
	case c.IsSet("unlock-key"):
		text = c.String("unlock-key")
	case c.IsSet("unlock-key-file"):
		f := c.String("unlock-key-file")
		var b []byte
		var err error
		if f == "-" {
			b, err = io.ReadAll(io.LimitReader(c.App.Reader, 4096))
		} else {
			b, err = os.ReadFile(f)
		}
		if err != nil {
			return nil, fmt.Errorf("read the unlock key: %w", err)
		}
		text = string(b)
		clear(b)
	default:
		return nil, nil
	}
	return parseUnlockKey(text, clusterID)
}

// parseUnlockKey checks an unlock key's text and its cluster, with an error
// that says which of the two is wrong.
func parseUnlockKey(text, clusterID string) (*keys.UnlockKey, error) {
	u, err := keys.ParseUnlockKey(text)
	switch {
	case errors.Is(err, keys.ErrUnlockKeyChecksum):
		return nil, withHint(errors.New("the unlock key has a typo: its checksum does not match"),
			"compare it character by character with the key you saved; it was not tried")
	case err != nil:
		return nil, withHint(fmt.Errorf("the unlock key is malformed: %w", err),
			"check that the whole key was copied")
	}
	if err := u.CheckCluster(clusterID); err != nil {
		u.Wipe()
		return nil, withHint(fmt.Errorf("the unlock key belongs to another cluster, not to cluster %s", clusterID),
			"each cluster has its own unlock key: use the one printed when this cluster was locked")
	}
	return u, nil
}

// promptUnlockKey asks for the key on a terminal, without echo.
func promptUnlockKey(c *cli.Context, clusterID string) (*keys.UnlockKey, error) {
	f, ok := c.App.Reader.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, withHint(errors.New("this node is locked: pass --unlock-key"),
			"give the unlock key with --unlock-key-file FILE (or --unlock-key KEY): a locked node keeps no KEK file")
	}
	fmt.Fprint(c.App.ErrWriter, "This node is locked. Unlock key: ")
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(c.App.ErrWriter)
	if err != nil {
		return nil, fmt.Errorf("read the unlock key: %w", err)
	}
	defer clear(b)
	return parseUnlockKey(string(b), clusterID)
}

// keyset is every DEK the tool could unwrap: from the keyring of each
// shard's state and from keyring entries in the logs and snapshots. It is
// the crypto.KeySource for everything the tool opens. Unlike a node's
// keyring it never drops a DEK, so entries sealed under a DEK that a later
// keyring retired still open while some keyring holds it.
type keyset struct {
	src   *kekSource
	rings []*keys.Keyring
	seen  map[[32]byte]error
}

var _ crypto.KeySource = (*keyset)(nil)

// Key returns the DEK of a version.
func (k *keyset) Key(v uint32) (*crypto.Key, error) {
	for _, r := range k.rings {
		if key, err := r.Key(v); err == nil {
			return key, nil
		}
	}
	return nil, fmt.Errorf("%w: no keyring this node holds has DEK v%d (retired, or never introduced)", crypto.ErrUnknownKeyVersion, v)
}

// versions returns the DEK versions held, ascending.
func (k *keyset) versions() []uint32 {
	seen := map[uint32]bool{}
	var out []uint32
	for _, r := range k.rings {
		for _, v := range r.Versions() {
			if !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
	}
	slices.Sort(out)
	return out
}

// add unwraps a marshalled wrapped keyring found on disk. A keyring seen
// before returns the same result again without work.
func (k *keyset) add(b []byte) error {
	h := sha256.Sum256(b)
	if err, ok := k.seen[h]; ok {
		return err
	}
	err := k.unwrap(b)
	k.seen[h] = err
	return err
}

func (k *keyset) unwrap(b []byte) error {
	w, err := keys.UnmarshalWrappedKeyring(b)
	if err != nil {
		return err
	}
	// A ring in the middle of a KEK change is wrapped under two KEKs:
	// either opens it.
	var firstErr error
	for _, v := range w.KEKVersions() {
		keks, err := k.src.keks(v)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		for _, kek := range keks {
			ring, err := w.Unwrap(kek)
			if errors.Is(err, keys.ErrWrongKey) {
				continue
			}
			wipeKeys(keks)
			if err != nil {
				return err
			}
			k.rings = append(k.rings, ring)
			return nil
		}
		wipeKeys(keks)
	}
	if firstErr != nil && !w.HasNext() {
		return firstErr
	}
	return fmt.Errorf("KEK v%d: %w", statedir.OperatorKEKVersion(w.KEKVersion), keys.ErrWrongKey)
}

func (k *keyset) wipe() {
	for _, r := range k.rings {
		r.Wipe()
	}
	k.src.wipe()
}

// unlock opens the keyring of every shard's state with the KEK. A wrong key
// stops here, before anything is printed.
func (s *session) unlock(src *kekSource) error {
	s.keys = &keyset{src: src, seen: map[[32]byte]error{}}
	if err := s.resolveShares(src); err != nil {
		return err
	}
	if s.store == nil {
		return nil // the logs cannot be opened either; each entry says so
	}
	var wrong, otherVersion error
	found, unreadable := false, false
	// A node that joined keeps the keyring it was given until its shards
	// caught up.
	if b, err := os.ReadFile(s.dir.JoinKeyringFile()); err == nil {
		s.keys.add(b)
	}
	for _, shard := range s.allShards() {
		b, err := s.store.Keyring(shard)
		if err != nil {
			s.problem(s.storePlace(shard, "keyring"), err)
			unreadable = true
			continue
		}
		if b == nil {
			continue
		}
		found = true
		switch err := s.keys.add(b); {
		case err == nil:
		case errors.Is(err, keys.ErrWrongKey):
			wrong = err
		case errors.Is(err, errKEKVersion):
			otherVersion = err
		default:
			s.problem(s.storePlace(shard, "keyring"), err)
		}
	}
	if len(s.keys.rings) > 0 {
		return nil
	}
	switch {
	case (wrong != nil || otherVersion != nil) && src.shares != nil:
		return withHint(errors.New("wrong unlock key: the shares combine to a valid unlock key of this cluster, but it does not open this node's keyring: they are from a previous split"),
			"give shares of the split that opens this node: the ones printed by the last `vault unlock-key --rotate` or `vault cluster update --autolock`; if this node was down during a later re-split, the shares from before it")
	case (wrong != nil || otherVersion != nil) && src.unlock != nil:
		return withHint(errors.New("wrong unlock key: it is well formed and made for this cluster, but it does not open this node's keyring"),
			"give the cluster's current unlock key; if it was rotated while this node was down, the key from before the rotation")
	case wrong != nil || otherVersion != nil:
		return withHint(errors.New("this node is locked: its KEK file does not open the keyring: pass --unlock-key"),
			"the KEK changed while this node was down (autolock turned on, or the unlock key rotated), or the file is damaged")
	case unreadable:
		return withHint(fmt.Errorf("the keyring could not be read from the state database %s (see the warnings above)", s.dir.StorePath()),
			"`verify` checks every table; restore the state dir from a backup, or rebuild this manager from the others")
	case !found:
		return withHint(fmt.Errorf("no keyring found in the state database %s", s.dir.StorePath()),
			"without a keyring nothing sealed can be opened: the state database is incomplete or damaged")
	}
	return errors.New("no keyring in the state database could be opened (see the warnings above)")
}

// resolveShares combines the shares given instead of the unlock key, with
// the key check values of every keyring this node holds (its shards' and a
// join keyring), so that a share of a previous split is refused first.
func (s *session) resolveShares(src *kekSource) error {
	if src.shares == nil {
		return nil
	}
	var checks [][]byte
	add := func(b []byte) {
		if w, err := keys.UnmarshalWrappedKeyring(b); err == nil {
			checks = append(checks, w.KEKCheck)
			if w.HasNext() { // during a KEK change, the new split's too
				checks = append(checks, w.NextKEKCheck)
			}
		}
	}
	if b, err := os.ReadFile(s.dir.JoinKeyringFile()); err == nil {
		add(b)
	}
	if s.store != nil {
		for _, shard := range s.allShards() {
			if b, err := s.store.Keyring(shard); err == nil && b != nil {
				add(b)
			}
		}
	}
	u, err := combineShares(src.shares, checks, src.clusterID)
	for i := range src.shares {
		src.shares[i].text = ""
	}
	if err != nil {
		return err
	}
	src.unlock = u
	return nil
}
