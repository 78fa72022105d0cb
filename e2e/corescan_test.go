package e2e

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCoreCanaries dumps the core of a running daemon (gcore, as root) after
// a secret with a random name and value was created and read through a
// mount and the Go heap was collected, and looks for the name and the value
// in every dumped byte. Each copy is reported with the memory mapping it
// lies in (from /proc/PID/maps, read at the dump) and the bytes around it.
//
// What it asserts is what SECURITY.md ("Copies in memory") says remains:
// the plaintext value never appears in the core, nor its base64 (the
// mount's buffers are locked and excluded from core dumps, the data
// crosses the API as a raw body and the API's copies are wiped after
// sealing); the name may survive in a bounded number of buffers Go does
// not let us clear.
func TestCoreCanaries(t *testing.T) {
	needFUSE(t)
	if _, err := exec.LookPath("gcore"); err != nil {
		t.Skip("gcore (Debian's gdb) is not installed")
	}
	d := newDaemon(t, "--pprof")
	d.start()
	must(t, d.vault("cluster", "init", "--shards", "2"))

	// Two secrets: one only created (its name and value cross the API
	// once), one also mounted under another file name and read.
	name := "corecanary" + randHex(8)
	value := []byte("COREVALUE-" + randHex(16))
	must(t, d.vaultIn(value, "secret", "create", name, "-"))
	mounted := "coremounted" + randHex(8)
	mvalue := []byte("COREMOUNTED-" + randHex(16))
	must(t, d.vaultIn(mvalue, "secret", "create", mounted, "-"))
	mp := filepath.Join(t.TempDir(), "secrets")
	os.Mkdir(mp, 0o755)
	must(t, d.vault("mount", "--secret", "source="+mounted+",target=file", mp))
	t.Cleanup(func() { exec.Command("umount", "-l", mp).Run() })
	if b, err := os.ReadFile(filepath.Join(mp, "file")); err != nil || !bytes.Equal(b, mvalue) {
		t.Fatalf("read through the mount: %q, %v", b, err)
	}

	// heap?gc=1 runs a full collection before writing the profile.
	if r := runVaultHTTP(t, d, "/debug/pprof/heap?gc=1"); r.code != 0 {
		t.Fatalf("forcing a GC: %s", r)
	}
	pid := d.cmd.Process.Pid
	maps, err := readMaps(pid)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if out, err := exec.Command("gcore", "-o", filepath.Join(dir, "core"), strconv.Itoa(pid)).CombinedOutput(); err != nil {
		t.Fatalf("gcore: %v\n%s", err, out)
	}
	core := filepath.Join(dir, "core."+strconv.Itoa(pid))
	defer os.Remove(core)

	needles := map[string][]byte{
		"value":                  value,
		"value (base64)":         []byte(base64.StdEncoding.EncodeToString(value)),
		"name":                   []byte(name),
		"mounted value":          mvalue,
		"mounted value (base64)": []byte(base64.StdEncoding.EncodeToString(mvalue)),
		"mounted name":           []byte(mounted),
	}
	hits, size, err := scanCore(core, maps, needles)
	if err != nil {
		t.Fatal(err)
	}
	// Control: the scan sees what the daemon holds in plaintext by design
	// (its Raft address), or a miss would prove nothing.
	control, _, err := scanCore(core, maps, map[string][]byte{"control": []byte(d.addr)})
	if err != nil {
		t.Fatal(err)
	}
	if len(control) == 0 {
		t.Fatalf("control: the Raft address %s is not in the core; the scan would miss the canaries too", d.addr)
	}

	count := map[string]int{}
	perMapping := map[string]int{}
	for _, h := range hits {
		count[h.label]++
		perMapping[h.label+" in "+h.mapping]++
		t.Logf("%s at %#x: %q", h.label, h.addr, h.context)
	}
	for k, n := range perMapping {
		t.Logf("%d× %s", n, k)
	}
	// The mount's buffers are excluded from the dump; read them directly
	// to show where the mounted value lives.
	excluded, err := scanExcluded(pid, needles)
	if err != nil {
		t.Fatal(err)
	}
	for k, n := range excluded {
		if n == 0 {
			continue
		}
		t.Logf("%d× %s in mappings excluded from the dump (mlocked, MADV_DONTDUMP)", n, k)
	}
	t.Logf("core of %d bytes: %v", size, count)

	// The bounds SECURITY.md documents: see "Copies in memory". The
	// plaintext never outlives its request in a buffer the daemon owns
	// (the mount's buffers are excluded from dumps, the request buffer is
	// wiped after sealing and net/http's read buffer after answering), and
	// the data never crosses the API as base64.
	for _, label := range []string{"value", "mounted value", "value (base64)", "mounted value (base64)"} {
		if count[label] > 0 {
			t.Errorf("%s is in the core %d times; SECURITY.md says none", label, count[label])
		}
	}
	if excluded["mounted value"] == 0 {
		t.Errorf("the mounted value is not in the mount's buffers: the scan of excluded mappings reads nothing")
	}
	for label, most := range map[string]int{"name": maxNameCopies, "mounted name": maxMountedNameCopies} {
		if count[label] > most {
			t.Errorf("%s is in the core %d times; SECURITY.md allows %d", label, count[label], most)
		}
	}
}

// Bounds explained in SECURITY.md, "Copies in memory": the name in the
// request line net/http keeps as a string, in the create answer's JSON, in
// name-MAC inputs, and, once mounted, in the mount's request and table.
// Measured: name 4–7, mounted name 11–15.
const (
	maxNameCopies        = 10
	maxMountedNameCopies = 24
)

// mapping is one line of /proc/PID/maps.
type mapping struct {
	start, end uint64
	perms      string
	path       string
}

func (m mapping) String() string {
	p := m.path
	if p == "" {
		p = "anonymous"
	}
	return fmt.Sprintf("%x-%x %s %s", m.start, m.end, m.perms, p)
}

func readMaps(pid int) ([]mapping, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 5 {
			continue
		}
		lo, hi, _ := strings.Cut(fs[0], "-")
		m := mapping{perms: fs[1]}
		m.start, _ = strconv.ParseUint(lo, 16, 64)
		m.end, _ = strconv.ParseUint(hi, 16, 64)
		if len(fs) > 5 {
			m.path = strings.Join(fs[5:], " ")
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

type coreHit struct {
	label   string
	addr    uint64
	mapping string
	context string
}

// scanCore looks for every needle in the loaded segments of an ELF core
// and places each hit in the mapping that held its address.
func scanCore(path string, maps []mapping, needles map[string][]byte) (hits []coreHit, size int64, err error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	const chunk = 16 << 20
	const ctx = 24
	buf := make([]byte, chunk+256)
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Filesz == 0 {
			continue
		}
		size += int64(p.Filesz)
		r := p.Open()
		// Chunks overlap by 256 bytes so a needle across a boundary is
		// found once, in the chunk where it starts.
		for off := int64(0); off < int64(p.Filesz); off += chunk {
			n, err := r.(io.ReaderAt).ReadAt(buf, off)
			if err != nil && err != io.EOF {
				return nil, size, err
			}
			b := buf[:n]
			for label, nd := range needles {
				for i := 0; ; {
					j := bytes.Index(b[i:], nd)
					if j < 0 || i+j >= chunk {
						break
					}
					at := i + j
					addr := p.Vaddr + uint64(off) + uint64(at)
					lo, hi := max(0, at-ctx), min(len(b), at+len(nd)+ctx)
					h := coreHit{label: label, addr: addr, mapping: "no mapping", context: string(b[lo:hi])}
					for _, m := range maps {
						if addr >= m.start && addr < m.end {
							h.mapping = m.String()
						}
					}
					hits = append(hits, h)
					i = at + 1
				}
			}
		}
	}
	return hits, size, nil
}

// scanExcluded counts the needles in the mappings a core dump leaves out
// (VmFlags "dd" in /proc/PID/smaps), read from /proc/PID/mem.
func scanExcluded(pid int, needles map[string][]byte) (map[string]int, error) {
	smaps, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return nil, err
	}
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		return nil, err
	}
	defer mem.Close()
	out := map[string]int{}
	var lo, hi uint64
	for _, line := range strings.Split(string(smaps), "\n") {
		fs := strings.Fields(line)
		if len(fs) == 0 {
			continue
		}
		if a, b, ok := strings.Cut(fs[0], "-"); ok && !strings.HasSuffix(fs[0], ":") {
			lo, _ = strconv.ParseUint(a, 16, 64)
			hi, _ = strconv.ParseUint(b, 16, 64)
			continue
		}
		if fs[0] != "VmFlags:" || !strings.Contains(line, " dd") {
			continue
		}
		b := make([]byte, hi-lo)
		n, _ := mem.ReadAt(b, int64(lo))
		for label, nd := range needles {
			out[label] += bytes.Count(b[:n], nd)
		}
	}
	return out, nil
}
