package main

import (
	"bufio"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// secretLsQuiet answers `secret ls -q` when no label filter needs the rest
// of each secret: a keys-only list (ids and names), its ids printed
// through one buffer rather than one write each. It reports false when the
// whole list is needed.
func secretLsQuiet(c *cli.Context, f filters) (bool, error) {
	if !c.Bool("quiet") || len(f["label"]) > 0 {
		return false, nil
	}
	keys, err := readClient(c).SecretKeys(c.Context)
	if err != nil {
		return true, err
	}
	w := bufio.NewWriterSize(os.Stdout, 64<<10)
	for _, k := range keys {
		if f.any("id", func(v string) bool { return strings.HasPrefix(k.ID, v) }) &&
			f.any("name", func(v string) bool { return strings.HasPrefix(k.Name, v) }) {
			_, _ = w.WriteString(k.ID)
			_ = w.WriteByte('\n')
		}
	}
	return true, w.Flush()
}
