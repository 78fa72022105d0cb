//go:build linux

package fuse

import (
	"slices"
	"strings"
	"testing"
)

func TestParseMountInfoLine(t *testing.T) {
	tests := []struct {
		line    string
		want    *mountEntry
		wantErr bool
	}{
		{
			line: "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue",
			want: &mountEntry{mountpoint: "/mnt2", options: []string{"rw", "noatime"}, fstype: "ext3", source: "/dev/root", superOptions: []string{"rw", "errors=continue"}},
		},
		{
			line: "812 29 0:71 / /run/my\\040secrets ro,nosuid,nodev,noexec,relatime - fuse.vault vault rw,user_id=0,group_id=0,default_permissions,allow_other",
			want: &mountEntry{mountpoint: "/run/my secrets", options: []string{"ro", "nosuid", "nodev", "noexec", "relatime"}, fstype: "fuse.vault", source: "vault", superOptions: []string{"rw", "user_id=0", "group_id=0", "default_permissions", "allow_other"}},
		},
		{
			line: "1 0 0:1 / /a\\134b rw shared:1 master:2 - tmpfs tmp\\011fs rw",
			want: &mountEntry{mountpoint: `/a\b`, options: []string{"rw"}, fstype: "tmpfs", source: "tmp\tfs", superOptions: []string{"rw"}},
		},
		{line: "", wantErr: true},
		{line: "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 ext3 /dev/root rw", wantErr: true},
		{line: "36 35 98:0 /mnt1 /mnt2 rw - ext3", wantErr: true},
		{line: "- - - - - - - - - -", want: &mountEntry{mountpoint: "-", options: []string{"-"}, fstype: "-", source: "-", superOptions: []string{"-"}}},
	}
	for _, tt := range tests {
		got, err := parseMountInfoLine(tt.line)
		if (err != nil) != tt.wantErr {
			t.Errorf("parse %q: %v, want error %v", tt.line, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if got.mountpoint != tt.want.mountpoint || got.fstype != tt.want.fstype || got.source != tt.want.source ||
			!slices.Equal(got.options, tt.want.options) || !slices.Equal(got.superOptions, tt.want.superOptions) {
			t.Errorf("parse %q:\n got %+v\nwant %+v", tt.line, got, tt.want)
		}
	}
}

func TestScanMountInfo(t *testing.T) {
	info := strings.Join([]string{
		"22 1 0:21 / /proc rw,nosuid - proc proc rw",
		"40 22 0:35 / /run/s rw - tmpfs tmpfs rw",
		"41 40 0:36 / /run/s ro,nosuid,nodev,noexec - fuse.vault vault rw",
		"",
	}, "\n")
	m, err := scanMountInfo(strings.NewReader(info), "/run/s")
	if err != nil || m == nil || m.fstype != "fuse.vault" {
		t.Fatalf("scan: %+v, %v; want the topmost mount, fuse.vault", m, err)
	}
	if m, err := scanMountInfo(strings.NewReader(info), "/run"); err != nil || m != nil {
		t.Errorf("scan /run: %+v, %v; want none", m, err)
	}
	if _, err := scanMountInfo(strings.NewReader("garbage\n"), "/"); err == nil {
		t.Errorf("scan of garbage: no error")
	}
}

func TestUnescapeMountInfo(t *testing.T) {
	for in, want := range map[string]string{
		`/plain`:          "/plain",
		`/a\040b`:         "/a b",
		`/a\011\012\134`:  "/a\t\n\\",
		`/trailing\`:      `/trailing\`,
		`/short\04`:       `/short\04`,
		`/notoctal\089`:   `/notoctal\089`,
		`/overflow\777x`:  `/overflow\777x`,
		`\101\102\103`:    "ABC",
		`/mixed\040\x\04`: `/mixed \x\04`,
	} {
		if got := unescapeMountInfo(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseMountInfoLine feeds arbitrary lines to the parser (mount points
// are chosen by whoever creates directories): it must not panic, and
// escaping then unescaping any path must give the path back.
func FuzzParseMountInfoLine(f *testing.F) {
	f.Add("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue")
	f.Add("812 29 0:71 / /run/my\\040secrets ro,nosuid - fuse.vault vault rw")
	f.Add("- - - - - - -")
	f.Add(`1 2 3 4 \\\0 6 - a b c`)
	f.Fuzz(func(t *testing.T, line string) {
		if m, err := parseMountInfoLine(line); err == nil {
			if m == nil {
				t.Fatal("nil entry without error")
			}
		}
		if got := unescapeMountInfo(escapeMountInfo(line)); got != line {
			t.Fatalf("round trip of %q gave %q", line, got)
		}
	})
}

// FuzzFDsFromOOB feeds arbitrary control-message bytes, as a peer could send
// over the socket, to the parser ReceiveFD uses. The descriptors it returns
// are only numbers here; nothing is closed.
func FuzzFDsFromOOB(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{20, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0})
	f.Add([]byte{255, 255, 255, 255, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, oob []byte) {
		_, _ = fdsFromOOB(oob)
	})
}
