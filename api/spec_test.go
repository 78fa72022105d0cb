package api

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSecretSpec(t *testing.T) {
	for _, c := range []struct {
		in   string
		want SecretSpec
		err  string // a substring of the error; "" means none
	}{
		{in: "db", want: SecretSpec{Source: "db", Target: "db", Mode: DefaultSecretMode}},
		{in: "db@3", want: SecretSpec{Source: "db", Target: "db", Mode: DefaultSecretMode, Version: 3}},
		{in: "source=db,target=db.env,uid=1000,gid=2000,mode=0400", want: SecretSpec{Source: "db", Target: "db.env", UID: 1000, GID: 2000, Mode: 0o400}},
		{in: "src=tls.key@2,dst=server_key-1", want: SecretSpec{Source: "tls.key", Target: "server_key-1", Mode: DefaultSecretMode, Version: 2}},
		{in: "source=db,target=" + strings.Repeat("a", 255), want: SecretSpec{Source: "db", Target: strings.Repeat("a", 255), Mode: DefaultSecretMode}},

		{in: "", err: "empty --secret"},
		{in: "db@0", err: "pinned version"},
		{in: "db@x", err: "pinned version"},
		{in: "target=x", err: "no source"},
		{in: "source=db,mode=1777", err: "octal permission bits"},
		{in: "source=db,uid=-1", err: "uid must be a number"},
		{in: "source=db,color=red", err: "unknown option"},
		{in: "source=db,target", err: "not KEY=VALUE"},
		{in: "source=db,target=../evil", err: "only letters"},
		{in: "source=db,target=a/b", err: "only letters"},
		{in: "source=db,target=.", err: "give a file name"},
		{in: "source=db,target=..", err: "give a file name"},
		{in: "source=db,target=" + strings.Repeat("a", 256), err: "at most 255"},
		{in: "source=db,target=x\ny", err: "only letters"},
		{in: "source=db,target=x\x00", err: "only letters"},
		{in: "x\ny", err: "only letters"},
		{in: "source=d b", err: "only letters"},
	} {
		got, err := ParseSecretSpec(c.in)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("ParseSecretSpec(%q): %v", c.in, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("ParseSecretSpec(%q) = %+v, %v; want an error with %q", c.in, got, err, c.err)
		case c.err == "" && got != c.want:
			t.Errorf("ParseSecretSpec(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

// Every spec the daemon gets passes Validate, whether the CLI parsed it or
// a client sent it raw.
func TestSecretSpecValidate(t *testing.T) {
	ok := SecretSpec{Source: "db", Target: "db", Mode: 0o400}
	for _, c := range []struct {
		name string
		edit func(*SecretSpec)
		err  string
	}{
		{"valid", func(*SecretSpec) {}, ""},
		{"empty source", func(s *SecretSpec) { s.Source = "" }, "no source"},
		{"source with a slash", func(s *SecretSpec) { s.Source = "../db" }, "only letters"},
		{"empty target", func(s *SecretSpec) { s.Target = "" }, "empty target"},
		{"dot", func(s *SecretSpec) { s.Target = "." }, "give a file name"},
		{"dot dot", func(s *SecretSpec) { s.Target = ".." }, "give a file name"},
		{"parent path", func(s *SecretSpec) { s.Target = "../evil" }, "only letters"},
		{"newline", func(s *SecretSpec) { s.Target = "x\ny" }, "only letters"},
		{"256 bytes", func(s *SecretSpec) { s.Target = strings.Repeat("x", 256) }, "at most 255"},
		{"setuid mode", func(s *SecretSpec) { s.Mode = 0o4755 }, "bits other than permissions"},
	} {
		s := ok
		c.edit(&s)
		err := s.Validate()
		if c.err == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeInvalid || !strings.Contains(e.Message, c.err) {
			t.Errorf("%s: %v; want an invalid error with %q", c.name, err, c.err)
		}
	}
}

func TestValidateMountpoint(t *testing.T) {
	for _, c := range []struct {
		p   string
		err string
	}{
		{"/run/secrets/app", ""},
		{"/mnt/a.b-c_d", ""},
		{"", "no mountpoint"},
		{"mnt", "relative"},
		{"./mnt", "relative"},
		{"/run/../proc", "not a clean path"},
		{"/run/secrets/", "not a clean path"},
		{"//run", "not a clean path"},
		{"/", "below /"},
		{"/proc", "the kernel serves"},
		{"/proc/self", "the kernel serves"},
		{"/sys/fs", "the kernel serves"},
		{"/dev/shm", "the kernel serves"},
		{"/device", ""},
		{"/run/x\ny", "control character"},
	} {
		err := ValidateMountpoint(c.p)
		if c.err == "" {
			if err != nil {
				t.Errorf("ValidateMountpoint(%q): %v", c.p, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeInvalid || !strings.Contains(e.Message, c.err) {
			t.Errorf("ValidateMountpoint(%q) = %v; want an invalid error with %q", c.p, err, c.err)
		}
	}
}

// FuzzParseSecretSpec: parsing never panics, what it accepts is valid, and
// it reads back what String writes.
func FuzzParseSecretSpec(f *testing.F) {
	for _, s := range []string{
		"db", "db@3", "source=db,target=db.env,uid=1000,gid=2000,mode=0400", "src=a@1,dst=b",
		"source=db,target=../evil", "x\ny", "source=db,target=.", "", "=,=", "source=db,mode=0777,mode=0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := ParseSecretSpec(s)
		if err != nil {
			return
		}
		if err := spec.Validate(); err != nil {
			t.Fatalf("ParseSecretSpec(%q) accepted %+v, which Validate refuses: %v", s, spec, err)
		}
		again, err := ParseSecretSpec(spec.String())
		if err != nil {
			t.Fatalf("ParseSecretSpec(%q): %v", spec.String(), err)
		}
		if again != spec {
			t.Fatalf("round trip of %q: %+v became %+v", s, spec, again)
		}
	})
}
