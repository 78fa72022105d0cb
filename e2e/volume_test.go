package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// needDocker skips a test unless a Docker engine answers and Debian's
// static busybox is there to build an image from. .ci/run installs both
// and fails on any skip.
func needDocker(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("docker", "info").CombinedOutput(); err != nil {
		t.Skipf("no Docker engine: %v\n%s", err, out)
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("no busybox (Debian's busybox-static)")
	}
	if out, _ := exec.Command("file", "-L", busybox).CombinedOutput(); bytes.Contains(out, []byte("dynamically")) {
		t.Skipf("%s is not static: install busybox-static", busybox)
	}
}

// busyboxImage builds an image FROM scratch holding only a static busybox
// (no registry needed) and returns its tag.
func busyboxImage(t *testing.T) string {
	t.Helper()
	busybox, _ := exec.LookPath("busybox")
	ctx := t.TempDir()
	b, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(ctx, "busybox"), b, 0o755)
	os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT [\"/bin/busybox\"]\n"), 0o644)
	image := "vault-e2e-busybox:" + randHex(4)
	if out, err := exec.Command("docker", "build", "-q", "-t", image, ctx).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", image).Run() })
	return image
}

// dockerOut runs docker and returns its combined output.
func dockerOut(args ...string) (string, error) {
	out, err := exec.Command("docker", args...).CombinedOutput()
	return string(out), err
}

func mustDocker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := dockerOut(args...)
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func mustFailDocker(t *testing.T, want string, args ...string) {
	t.Helper()
	out, err := dockerOut(args...)
	if err == nil || !strings.Contains(out, want) {
		t.Fatalf("docker %s: %v, want an error with %q:\n%s", strings.Join(args, " "), err, want, out)
	}
}

// volumeMounts counts the FUSE mounts the plugin serves under root.
func volumeMounts(root string) int {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return -1
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], root+"/") {
			n++
		}
	}
	return n
}

// removeTestVolumes removes the volumes of testDriver that a failed test
// left. (`docker volume rm` of a volume that is gone asks every driver
// dockerd knows, and waits out the dead ones: only those that exist are
// removed.)
func removeTestVolumes() {
	out, _ := exec.Command("docker", "volume", "ls", "-q", "--filter", "driver="+testDriver).Output()
	if names := strings.Fields(string(out)); len(names) > 0 {
		exec.Command("docker", append([]string{"volume", "rm", "-f"}, names...)...).Run()
	}
}

// testDriver is the volume driver name the tests serve: not "vault", which
// a daemon on this machine may serve, and always the same, since dockerd
// keeps every volume driver it ever looked up until it restarts and asks
// each of them on `docker volume ls` (waiting out the dead ones).
const testDriver = "vault-e2e"

// pluginDaemon starts an initialized node serving the volume plugin as
// testDriver.
func pluginDaemon(t *testing.T) (d *daemon, driver, root string) {
	t.Helper()
	driver = testDriver
	sock := "/run/docker/plugins/" + driver + ".sock"
	root = filepath.Join(t.TempDir(), "volumes")
	d = newDaemon(t, "--docker-plugin-socket", sock, "--docker-volumes-dir", root, "--keep-mounts", "2m")
	d.start()
	t.Cleanup(func() { os.Remove(sock) })
	must(t, d.vault("cluster", "init", "--shards", "1"))
	return d, driver, root
}

// TestVolumePlugin: Docker's own commands make, mount, list, inspect and
// remove vault volumes; each container gets its own mount with the owners
// and modes given, sees only its volume's secrets, and sees updates live.
func TestVolumePlugin(t *testing.T) {
	needFUSE(t)
	needDocker(t)
	image := busyboxImage(t)
	d, driver, root := pluginDaemon(t)
	dbPass := "CANARY-VALUE-vol-db-" + randHex(12)
	apiTok := "CANARY-VALUE-vol-api-" + randHex(12)
	must(t, d.vaultIn([]byte(dbPass), "secret", "create", "db-password", "-"))
	must(t, d.vaultIn([]byte(apiTok), "secret", "create", "api-token", "-"))

	vol, only := "app-secrets-"+randHex(4), "api-only-"+randHex(4)
	var containers []string
	t.Cleanup(func() {
		for _, c := range containers {
			exec.Command("docker", "rm", "-f", c).Run()
		}
		removeTestVolumes()
	})

	// Options are checked at create, with messages that say what to give.
	for _, c := range []struct {
		opts []string
		want string
	}{
		{nil, "no secret: give -o secret=NAME"},
		{[]string{"-o", "bogus=1"}, `unknown option "bogus"`},
		{[]string{"-o", "secret=source=x,mode=999"}, "mode must be octal"},
		{[]string{"-o", "secret=a b"}, "a secret name holds only"},
		{[]string{"-o", "secret=x", "-o", "secret2=source=y,target=x"}, `both have the target "x"`},
		{[]string{"-o", "secret=x", "-o", "follow=maybe"}, "give true or false"},
	} {
		args := append([]string{"volume", "create", "-d", driver}, c.opts...)
		mustFailDocker(t, c.want, append(args, "bad-"+randHex(4))...)
	}

	mustDocker(t, "volume", "create", "-d", driver, "-o", "secret=db-password",
		"-o", "secret.token=source=api-token,target=token,uid=1000,gid=1000,mode=0400", vol)
	mustDocker(t, "volume", "create", "--driver", driver, "-o", "secret=source=api-token,target=token", only)

	if out := mustDocker(t, "volume", "ls", "--filter", "driver="+driver, "--format", "{{.Driver}} {{.Name}}"); !strings.Contains(out, driver+" "+vol) || !strings.Contains(out, driver+" "+only) {
		t.Fatalf("docker volume ls:\n%s", out)
	}
	var inspect []struct {
		Driver  string
		Options map[string]string
		Status  map[string]any
	}
	if err := json.Unmarshal([]byte(mustDocker(t, "volume", "inspect", vol)), &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("docker volume inspect: %v", err)
	}
	if in := inspect[0]; in.Driver != driver || in.Options["secret"] != "db-password" || in.Status["Follow"] != true {
		t.Fatalf("docker volume inspect: %+v", in)
	}

	// As root, with --mount.
	mnt := "type=volume,src=" + vol + ",dst=/run/secrets,readonly"
	if out := mustDocker(t, "run", "--rm", "--network", "none", "--mount", mnt, image, "cat", "/run/secrets/db-password"); out != dbPass {
		t.Fatalf("root read %q", out)
	}
	// As uid 1000 with -v: its own 0400 file, and the 0444 default.
	if out := mustDocker(t, "run", "--rm", "--network", "none", "--user", "1000", "-v", vol+":/run/secrets:ro", image,
		"sh", "-c", "stat -c '%u %g %a' /run/secrets/token && cat /run/secrets/token /run/secrets/db-password"); out != "1000 1000 400\n"+apiTok+dbPass {
		t.Fatalf("uid 1000 read %q", out)
	}
	if out, err := dockerOut("run", "--rm", "--network", "none", "--user", "2000", "--mount", mnt, image, "cat", "/run/secrets/token"); err == nil || !strings.Contains(out, "Permission denied") {
		t.Fatalf("uid 2000 read a 0400 file of uid 1000: %q %v", out, err)
	}
	waitFor(t, "the plugin's mounts to go with their containers", 10*time.Second, func() bool { return volumeMounts(root) == 0 })

	// Two running containers, each on its own volume, each with its own mount.
	c1, c2, c3 := "vault-e2e-c1-"+randHex(4), "vault-e2e-c2-"+randHex(4), "vault-e2e-c3-"+randHex(4)
	containers = append(containers, c1, c2, c3)
	mustDocker(t, "run", "-d", "--name", c1, "--network", "none", "--mount", mnt, image, "sleep", "600")
	mustDocker(t, "run", "-d", "--name", c2, "--network", "none", "-v", only+":/run/secrets:ro", image, "sleep", "600")
	mustDocker(t, "run", "-d", "--name", c3, "--network", "none", "--mount", mnt, image, "sleep", "600")
	if out := mustDocker(t, "exec", c1, "/bin/busybox", "ls", "/run/secrets"); out != "db-password\ntoken\n" {
		t.Fatalf("c1 lists %q", out)
	}
	if out := mustDocker(t, "exec", c2, "/bin/busybox", "ls", "/run/secrets"); out != "token\n" {
		t.Fatalf("c2 lists %q", out)
	}
	if n := volumeMounts(root); n != 3 {
		t.Fatalf("%d plugin mounts for 3 containers", n)
	}

	// An update shows in running containers without a restart.
	newPass := "CANARY-VALUE-vol-db2-" + randHex(12)
	must(t, d.vaultIn([]byte(newPass), "secret", "update", "db-password", "-"))
	for _, c := range []string{c1, c3} {
		waitFor(t, "the new version in "+c, 10*time.Second, func() bool {
			out, _ := dockerOut("exec", c, "/bin/busybox", "cat", "/run/secrets/db-password")
			return out == newPass
		})
	}

	// In use: neither Docker nor the plugin lets it go.
	mustFailDocker(t, "in use", "volume", "rm", vol)
	mustFail(t, d.vault("secret", "rm", "db-password"), "mounted at")
	mustDocker(t, "rm", "-f", c3)
	if n := volumeMounts(root); n != 2 {
		t.Fatalf("%d plugin mounts after one of 3 containers went, want 2", n)
	}

	// Definitions and the running containers' mounts survive a SIGTERM and
	// a kill -9 restart: the containers read again once the daemon is back,
	// without being restarted, and Docker can still stop them.
	for _, restart := range []func(){d.stop, d.kill} {
		restart()
		d.start()
		for c, want := range map[string]string{c1: newPass, c2: apiTok} {
			file := map[string]string{c1: "db-password", c2: "token"}[c]
			waitFor(t, c+" reading after a restart", 30*time.Second, func() bool {
				out, _ := dockerOut("exec", c, "/bin/busybox", "cat", "/run/secrets/"+file)
				return out == want
			})
		}
		waitFor(t, "the node to serve both kept mounts", 30*time.Second, func() bool {
			return strings.Count(must(t, d.vault("mount", "ls", "-q")).stdout, root) == 2
		})
	}
	newer := "CANARY-VALUE-vol-db3-" + randHex(12)
	must(t, d.vaultIn([]byte(newer), "secret", "update", "db-password", "-"))
	waitFor(t, "an update in a container mounted before the restarts", 10*time.Second, func() bool {
		out, _ := dockerOut("exec", c1, "/bin/busybox", "cat", "/run/secrets/db-password")
		return out == newer
	})
	newPass = newer
	if out := mustDocker(t, "run", "--rm", "--network", "none", "--mount", mnt, image, "cat", "/run/secrets/db-password"); out != newPass {
		t.Fatalf("after a restart, read %q", out)
	}
	mustDocker(t, "rm", "-f", c1, c2)
	mustDocker(t, "volume", "rm", vol, only)
	if out := mustDocker(t, "volume", "ls", "-q", "--filter", "driver="+driver); strings.TrimSpace(out) != "" {
		t.Fatalf("volumes left after rm: %q", out)
	}
	fi, err := os.Stat(filepath.Join(d.stateDir, "docker-volumes.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("docker-volumes.json: %v %v", fi, err)
	}
	waitFor(t, "every plugin mount to go", 10*time.Second, func() bool { return volumeMounts(root) == 0 })
	c := canaries{}
	c.add("db-password v1", []byte(dbPass))
	c.add("db-password v2", []byte(newPass))
	c.add("api-token", []byte(apiTok))
	files, size := c.scanLive(t, d.stateDir, root)
	t.Logf("canary scan: state dir and volumes dir (%d files, %d bytes): none found", files, size)
}

// TestVolumePluginCompose: `docker-compose up` of the file docs/containers.md
// shows reads its secrets from a vault volume.
func TestVolumePluginCompose(t *testing.T) {
	needFUSE(t)
	needDocker(t)
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Skip("no docker-compose (Debian's docker-compose)")
	}
	image := busyboxImage(t)
	d, driver, _ := pluginDaemon(t)
	dbPass := "CANARY-VALUE-compose-db-" + randHex(12)
	apiTok := "CANARY-VALUE-compose-api-" + randHex(12)
	must(t, d.vaultIn([]byte(dbPass), "secret", "create", "db-password", "-"))
	must(t, d.vaultIn([]byte(apiTok), "secret", "create", "api-token", "-"))

	doc, err := os.ReadFile("../docs/examples/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, []byte("driver: vault\n")) {
		t.Fatal("docs/examples/compose.yaml has no `driver: vault`")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	os.WriteFile(file, bytes.Replace(doc, []byte("driver: vault\n"), []byte("driver: "+driver+"\n"), 1), 0o644)
	project := "vaulte2e" + randHex(4)
	compose := func(args ...string) (string, error) {
		cmd := exec.Command("docker-compose", append([]string{"-p", project, "-f", file}, args...)...)
		// A dockerd that once knew drivers now gone asks each of them
		// (30 s apiece) when Compose looks a new volume up.
		cmd.Env = append(os.Environ(), "IMAGE="+image, "COMPOSE_HTTP_TIMEOUT=600")
		t0 := time.Now()
		out, err := cmd.CombinedOutput()
		t.Logf("docker-compose %s: %v", args[0], time.Since(t0).Round(time.Millisecond))
		return string(out), err
	}
	downed := false
	t.Cleanup(func() {
		if !downed {
			compose("down", "--volumes")
		}
	})
	out, err := compose("up", "--no-color", "--abort-on-container-exit", "--exit-code-from", "app")
	if err != nil || !strings.Contains(out, dbPass+apiTok) {
		t.Fatalf("docker-compose up: %v\n%s", err, out)
	}
	var inspect []struct{ Driver string }
	json.Unmarshal([]byte(mustDocker(t, "volume", "inspect", project+"_app-secrets")), &inspect)
	if len(inspect) != 1 || inspect[0].Driver != driver {
		t.Fatalf("the compose volume: %+v", inspect)
	}
	downed = true
	if out, err := compose("down", "--volumes"); err != nil {
		t.Fatalf("docker-compose down --volumes: %v\n%s", err, out)
	}
	if out := mustDocker(t, "volume", "ls", "-q", "--filter", "driver="+driver); strings.TrimSpace(out) != "" {
		t.Fatalf("volumes left after down --volumes: %q", out)
	}
}
