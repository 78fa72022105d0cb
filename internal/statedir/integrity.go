package statedir

import (
	"bytes"
	"crypto/md5"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/vaultd/vault/ca"
	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/internal/snapfile"
	"github.com/vaultd/vault/keys"
	"github.com/vaultd/vault/raftsm"
)

// ErrIntegrity is wrapped by the error of a node that refuses to start
// because a file in its state dir is damaged (see IntegrityError).
var ErrIntegrity = errors.New("vault: integrity check failed")

// IntegrityError names a damaged file in a state dir. Its message holds no
// key material and no file contents.
type IntegrityError struct {
	Path   string // the damaged file
	Reason string
}

func (e *IntegrityError) Error() string {
	return fmt.Sprintf("integrity check failed: %s: %s; nothing was changed in the state dir: restore the file, or replace this node "+
		"(`vault node rm` it on a healthy manager, then start it on an empty --state-dir and `vault cluster join`)", e.Path, e.Reason)
}

func (e *IntegrityError) Unwrap() error { return ErrIntegrity }

func integrityError(path string, format string, args ...any) error {
	return &IntegrityError{Path: path, Reason: fmt.Sprintf(format, args...)}
}

// Check reads every file of an initialized node's state dir that
// the node will open, without writing anything, and returns an error naming
// the first damaged file. It runs before anything is opened for writing, so
// a node that refuses to start leaves its state dir exactly as it was.
//
// What it checks: node.json against the certificates; the certificates and
// their chain; the KEK file and the sealed node key and keyrings it must
// open; Dragonboat's checksummed flag files; and for each Pebble database
// (the state database and every Raft log database) CURRENT, the MANIFEST
// and write-ahead logs (a damaged record followed by intact ones is damage,
// not a torn tail), and every block of every table (checksums) except
// the tables recorded as known good and unchanged since (TablesFile).
//
// Not detectable here: a write-ahead log or MANIFEST cut short at a record
// boundary or in its last record looks like a crash in the middle of a
// write, which Pebble recovers from by dropping the torn tail.
func Check(dir string, st *Node) error {
	_, err := check(dir, st)
	return err
}

// checkStats counts the tables a check read and the ones it skipped as
// recorded and unchanged (TablesFile).
type checkStats struct{ read, skipped int }

func check(dir string, st *Node) (checkStats, error) {
	var cs checkStats
	if err := checkNodeFile(dir, st); err != nil {
		return cs, err
	}
	if err := checkTLSFiles(dir, st); err != nil {
		return cs, err
	}
	if err := checkFlagFiles(filepath.Join(dir, RaftDir), st); err != nil {
		return cs, err
	}
	known := readTableRecord(dir)
	for _, db := range pebbleDirs(dir, st) {
		read, skipped, err := checkPebble(dir, db, known)
		cs.read, cs.skipped = cs.read+read, cs.skipped+skipped
		if err != nil {
			return cs, err
		}
	}
	return cs, checkKeys(dir, st)
}

// checkNodeFile decodes node.json strictly: it has no checksum, so a
// damaged byte shows as an unknown field, a missing value or a value that
// disagrees with what other files say (checked below and by checkTLSFiles
// and checkFlagFiles).
func checkNodeFile(dir string, st *Node) error {
	p := filepath.Join(dir, NodeFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return integrityError(p, "%v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var strict Node
	if err := dec.Decode(&strict); err != nil {
		return integrityError(p, "%v", err)
	}
	for _, a := range []string{st.RaftAddr, st.APIAddr} {
		if h, _, err := net.SplitHostPort(a); err != nil || h == "" {
			return integrityError(p, "bad address %q", a)
		}
	}
	if st.Hostname == "" || !IsID(st.NodeID) || !IsID(st.ClusterID) {
		return integrityError(p, "a node id, cluster id or hostname is missing or malformed")
	}
	if DeploymentID(st.ClusterID) != st.DeploymentID {
		return integrityError(p, "its deployment id does not derive from its cluster id")
	}
	return nil
}

// checkTLSFiles parses the CA and node certificates, checks the chain and
// that the certificate is this node's, and parses the sealed key's header.
func checkTLSFiles(dir string, st *Node) error {
	p := func(name string) string { return filepath.Join(dir, TLSDir, name) }
	caPEM, err := os.ReadFile(p(CACertFile))
	if err != nil {
		return integrityError(p(CACertFile), "%v", err)
	}
	root, err := ca.ParseCert(caPEM)
	if err != nil {
		return integrityError(p(CACertFile), "%v", err)
	}
	certPEM, err := os.ReadFile(p(NodeCertFile))
	if err != nil {
		return integrityError(p(NodeCertFile), "%v", err)
	}
	cert, err := ca.ParseCert(certPEM)
	if err != nil {
		return integrityError(p(NodeCertFile), "%v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	// Expiry is not integrity: check the chain at the certificate's own time.
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: cert.NotBefore, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return integrityError(p(NodeCertFile), "not signed by the CA in %s: %v", CACertFile, err)
	}
	if cert.Subject.CommonName != st.NodeID {
		return integrityError(filepath.Join(dir, NodeFile), "its node id does not match the node certificate (%s)", p(NodeCertFile))
	}
	if len(root.Subject.Organization) != 1 || root.Subject.Organization[0] != st.ClusterID {
		return integrityError(filepath.Join(dir, NodeFile), "its cluster id does not match the CA certificate (%s)", p(CACertFile))
	}
	host, _, _ := net.SplitHostPort(st.RaftAddr)
	if err := cert.VerifyHostname(host); err != nil {
		return integrityError(filepath.Join(dir, NodeFile), "its Raft address does not match the node certificate (%s)", p(NodeCertFile))
	}
	sealed, err := os.ReadFile(p(NodeKeyFile))
	if err != nil {
		return integrityError(p(NodeKeyFile), "%v", err)
	}
	if _, err := crypto.EnvelopeKeyVersion(sealed); err != nil {
		return integrityError(p(NodeKeyFile), "%v", err)
	}
	return nil
}

// checkFlagFiles checks Dragonboat's flag files (NODEHOST.ID, dragonboat.ds,
// every snapshot.metadata): 8 bytes of MD5 over the rest, which Dragonboat
// checks with a panic; and every snapshot file (checkSnapshotFile). dragonboat.ds records the Raft address and hostname
// the Raft data belongs to: node.json must say the same.
func checkFlagFiles(raftPath string, st *Node) error {
	return filepath.WalkDir(raftPath, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d := filepath.Base(filepath.Dir(p)); strings.HasSuffix(d, ".generating") || strings.HasSuffix(d, ".receiving") {
			return nil // a snapshot being made or received when the node stopped: Dragonboat removes it
		}
		switch e.Name() {
		case "NODEHOST.ID", "dragonboat.ds", "snapshot.metadata":
		default:
			if strings.HasSuffix(e.Name(), ".gbsnap") {
				return checkSnapshotFile(p)
			}
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return integrityError(p, "%v", err)
		}
		if len(b) < 8 {
			return integrityError(p, "%d bytes: too short for its checksum", len(b))
		}
		sum := md5.Sum(b[8:])
		if !bytes.Equal(b[:8], sum[8:]) {
			return integrityError(p, "checksum mismatch")
		}
		if e.Name() == "dragonboat.ds" && (!bytes.Contains(b[8:], []byte(st.RaftAddr)) || !bytes.Contains(b[8:], []byte(st.Hostname))) {
			return integrityError(filepath.Join(filepath.Dir(raftPath), NodeFile), "its Raft address or hostname differs from the one the Raft data belongs to (%s)", p)
		}
		return nil
	})
}

var (
	currentRE   = regexp.MustCompile(`^MANIFEST-(\d+)\n$`)
	tableNameRE = regexp.MustCompile(`table (\d{6,})`)
	missingRE   = regexp.MustCompile(`(\d{6,})\.sst: no such file`)
	sstPathRE   = regexp.MustCompile(`\((/[^()]+\.sst)\)`)
)

// checkPebble checks one Pebble database without writing to it.
func checkPebble(dir, db string, known map[string]tableStat) (read, skipped int, err error) {
	if _, err := os.Stat(db); errors.Is(err, fs.ErrNotExist) {
		return 0, 0, nil // not created yet (a node that crashed during init)
	}
	cur := filepath.Join(db, "CURRENT")
	b, err := os.ReadFile(cur)
	if err != nil {
		return 0, 0, integrityError(cur, "%v", err)
	}
	m := currentRE.FindSubmatch(b)
	if m == nil {
		return 0, 0, integrityError(cur, "does not name a MANIFEST file")
	}
	manifest := filepath.Join(db, "MANIFEST-"+string(m[1]))
	if err := checkRecords(manifest, 0, false); err != nil {
		return 0, 0, err
	}
	logs, _ := filepath.Glob(filepath.Join(db, "*.log"))
	for _, l := range logs {
		num, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(l), ".log"), 10, 64)
		if err != nil {
			continue
		}
		if err := checkRecords(l, uint32(num), true); err != nil {
			return 0, 0, err
		}
	}
	return checkTables(dir, db, manifest, known)
}

// checkSnapshotFile reads a Dragonboat snapshot file through snapfile (the
// reader vault-rafttool uses): the header's length and CRC-32, then every
// block's CRC-32 and the tail, one block in memory at a time. Dragonboat checks these only when it reads
// the snapshot, and panics on a mismatch.
func checkSnapshotFile(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return integrityError(p, "%v", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return integrityError(p, "%v", err)
	}
	// Vault writes only what snapfile reads (version 2, CRC32, no
	// compression, no sessions): anything else here is damage too.
	r, err := snapfile.Open(f, fi.Size())
	if err == nil {
		_, err = io.Copy(io.Discard, r) // every block's checksum, then the tail
	}
	if err != nil {
		return integrityError(p, "%v", err)
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// panicLogger keeps Pebble quiet and turns its Fatalf into a panic that
// checkTables recovers.
type panicLogger struct{}

func (panicLogger) Infof(string, ...interface{}) {}
func (panicLogger) Fatalf(format string, args ...interface{}) {
	panic(fmt.Sprintf(format, args...))
}

// checkKeys checks, when the KEK file is there (autolock off), that the
// KEK opens the node key and every stored keyring wrapped under its
// version: a KEK file with a damaged key would otherwise look like a
// changed unlock key.
func checkKeys(dir string, st *Node) error {
	kek, err := ReadKEK(dir, KEKFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // autolock: the node starts locked
	}
	if err != nil {
		p := filepath.Join(dir, KEKFile)
		return integrityError(p, "%s", strings.TrimPrefix(err.Error(), p+": "))
	}
	defer kek.Wipe()
	store, err := raftsm.OpenStore(filepath.Join(dir, StoreDir), true)
	if err != nil {
		return integrityError(filepath.Join(dir, StoreDir), "%v", err)
	}
	defer store.Close()
	opened := false
	for _, shard := range AllShards(st.Shards) {
		b, err := store.Keyring(shard)
		if err != nil {
			return integrityError(filepath.Join(dir, StoreDir), "shard %d keyring: %v", shard, err)
		}
		if b == nil {
			continue
		}
		w, err := keys.UnmarshalWrappedKeyring(b)
		if err != nil {
			return integrityError(filepath.Join(dir, StoreDir), "shard %d keyring: %v", shard, err)
		}
		if !w.WrappedUnder(kek.Version()) {
			continue
		}
		ring, err := w.Unwrap(kek)
		if err != nil {
			return integrityError(filepath.Join(dir, KEKFile), "its key does not open the keyring wrapped under its version (v%d)", OperatorKEKVersion(kek.Version()))
		}
		ring.Wipe()
		opened = true
	}
	if !opened {
		return nil // wrapped under other versions: handled as a changed unlock key
	}
	// During a KEK change the node key may be sealed under the next KEK
	// only (tls/node.key.next.sealed) until the KEK file follows.
	keyPEM, err := OpenNodeKey(filepath.Join(dir, TLSDir), kek)
	if err != nil {
		if next, nerr := ReadKEK(dir, NextKEKFile); nerr == nil {
			k2, err2 := OpenNodeKey(filepath.Join(dir, TLSDir), next)
			next.Wipe()
			if err2 == nil {
				Wipe(k2)
				return nil
			}
		}
		if errors.Is(err, crypto.ErrUnknownKeyVersion) {
			// Sealed under a newer KEK only: the node switched during a
			// KEK change and stopped before removing its old KEK file.
			// Handled as a changed unlock key.
			return nil
		}
		return integrityError(filepath.Join(dir, TLSDir, NodeKeyFile), "%v", err)
	}
	Wipe(keyPEM)
	return nil
}
