package statedir

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Secure makes the state dir and every directory under it 0700 (Mode),
// whatever made them: an operator's `mkdir` (0755 by default), a restore
// from a backup, an older version. Files inside are 0600 as written, but a
// readable directory still shows names, sizes and times, and a directory
// others can enter is one step from a file made readable by mistake.
// Symbolic links are not followed. A daemon runs it once the state dir
// passed Check: a start refused for a damaged file changes nothing.
func Secure(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode().Perm() != Mode {
			if err := os.Chmod(p, Mode); err != nil {
				return fmt.Errorf("state dir: %w", err)
			}
		}
		return nil
	})
}
