//go:build linux

package fuse

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr bool
	}{
		{"zero", Options{}, false},
		{"two files", Options{Files: []File{{Name: "a", Mode: 0o400}, {Name: "b.pem"}}}, false},
		{"name with spaces", Options{Files: []File{{Name: "my secret"}}}, false},
		{"long name", Options{Files: []File{{Name: strings.Repeat("x", 255)}}}, false},
		{"mount name", Options{Name: "vault-node_1.a"}, false},
		{"empty file name", Options{Files: []File{{Name: ""}}}, true},
		{"dot", Options{Files: []File{{Name: "."}}}, true},
		{"dot dot", Options{Files: []File{{Name: ".."}}}, true},
		{"slash", Options{Files: []File{{Name: "a/b"}}}, true},
		{"nul", Options{Files: []File{{Name: "a\x00b"}}}, true},
		{"too long", Options{Files: []File{{Name: strings.Repeat("x", 256)}}}, true},
		{"reserved", Options{Files: []File{{Name: pollHackName}}}, true},
		{"duplicate", Options{Files: []File{{Name: "a"}, {Name: "a"}}}, true},
		{"setuid", Options{Files: []File{{Name: "a", Mode: os.ModeSetuid | 0o755}}}, true},
		{"directory mode", Options{Files: []File{{Name: "a", Mode: os.ModeDir | 0o755}}}, true},
		{"mount name with comma", Options{Name: "a,b"}, true},
		{"mount name with space", Options{Name: "a b"}, true},
		{"mount name too long", Options{Name: strings.Repeat("v", 33)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate: %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidOptions) {
				t.Errorf("Validate: %v does not wrap ErrInvalidOptions", err)
			}
		})
	}
}

func TestFileMode(t *testing.T) {
	for _, tt := range []struct {
		in   os.FileMode
		want uint32
	}{{0, 0o444}, {0o400, 0o400}, {0o640, 0o640}, {0o777, 0o777}} {
		f := File{Mode: tt.in}
		if got := f.mode(); got != tt.want {
			t.Errorf("mode(%v) = %o, want %o", tt.in, got, tt.want)
		}
	}
}
