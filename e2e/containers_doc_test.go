package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docBlocks returns the ```sh blocks of a Markdown file that follow a
// `<!-- tested: NAME -->` line, by NAME.
func docBlocks(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- tested: ([a-z]+) -->\n```sh\n(.*?)```")
	blocks := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		blocks[m[1]] = m[2]
	}
	return blocks
}

// TestContainersDoc runs the examples of docs/containers.md as a user
// would paste them, with the test's image for busybox, its driver name for
// vault and a temporary directory for the host mountpoint.
func TestContainersDoc(t *testing.T) {
	needFUSE(t)
	needDocker(t)
	image := busyboxImage(t)
	d, driver, _ := pluginDaemon(t)
	hostDir := filepath.Join(t.TempDir(), "vault-app")
	t.Cleanup(func() {
		exec.Command("umount", "-l", hostDir).Run()
		removeTestVolumes()
	})
	blocks := docBlocks(t, "../docs/containers.md")
	run := func(name string) string {
		t.Helper()
		script, ok := blocks[name]
		if !ok {
			t.Fatalf("docs/containers.md has no block marked tested: %s", name)
		}
		script = regexp.MustCompile(`\bbusybox\b`).ReplaceAllString(script, image)
		script = strings.ReplaceAll(script, "-d vault ", "-d "+driver+" ")
		script = strings.ReplaceAll(script, "/run/vault-app", hostDir)
		cmd := exec.Command("sh", "-e", "-c", script)
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(vaultBin)+":"+os.Getenv("PATH"), "VAULT_SOCKET="+d.socket)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the %s example failed: %v\n%s\n%s", name, err, script, out)
		}
		return string(out)
	}
	for _, c := range []struct {
		block string
		want  []string
	}{
		{"setup", nil},
		{"bind", []string{"hunter2"}},
		{"volume", []string{"hunter2s3cr3t-token", `"Driver": "` + driver + `"`, `"Mounts": 0`}},
		{"exec", []string{"hunter2s3cr3t-token"}},
	} {
		out := run(c.block)
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Fatalf("the %s example printed no %q:\n%s", c.block, w, out)
			}
		}
	}
}
