package raftpatch

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestNoSettingsFromTheWorkingDirectory: Dragonboat upstream reads
// dragonboat-soft-settings.json and dragonboat-hard-settings.json from the
// process's working directory when its package initializes: any vault
// command run in a directory holding one had Raft's internals changed (hard
// settings that differ from the ones a replica's data was written with can
// corrupt it), or, for a file that is not JSON, panicked before main. This
// test binary links the patched library; it runs itself in a directory
// holding both files, malformed, and must start and pass.
func TestNoSettingsFromTheWorkingDirectory(t *testing.T) {
	if os.Getenv("RAFTPATCH_SETTINGS_CHILD") == "1" {
		return // initialized in the directory with the files: nothing read them
	}
	dir := t.TempDir()
	for _, name := range []string{"dragonboat-soft-settings.json", "dragonboat-hard-settings.json"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("{not json"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run", "^TestNoSettingsFromTheWorkingDirectory$", "-test.count", "1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "RAFTPATCH_SETTINGS_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the library read a settings file from the working directory: %v\n%s", err, out)
	}
}
