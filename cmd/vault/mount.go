package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/fuse"
)

func secretSpecs(c *cli.Context) ([]api.SecretSpec, error) {
	var specs []api.SecretSpec
	for _, s := range c.StringSlice("secret") {
		sp, err := api.ParseSecretSpec(s)
		if err != nil {
			return nil, usagef("--secret NAME, NAME@VERSION, or source=NAME,target=FILE,uid=U,gid=G,mode=0400", "%v", err)
		}
		specs = append(specs, sp)
	}
	if len(specs) == 0 {
		return nil, usagef("give --secret NAME (repeatable)", "no secrets")
	}
	return specs, nil
}

func mountFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "secret", Usage: "NAME, NAME@VERSION, or source=NAME,target=FILE,uid=U,gid=G,mode=0400 (repeatable)"},
		&cli.BoolFlag{Name: "follow", Usage: "new versions of the secrets replace the files' content live"},
	}
}

func mountCommand() *cli.Command {
	return &cli.Command{
		Name:      "mount",
		Usage:     "serve secrets as read-only files at MOUNTPOINT, from the daemon's memory",
		ArgsUsage: "MOUNTPOINT",
		Flags:     mountFlags(),
		Subcommands: []*cli.Command{{
			Name:    "ls",
			Aliases: []string{"list"},
			Usage:   "list the daemon's mounts",
			Flags:   listFlags(mountFields, "name=MOUNTPOINT, secret=NAME"),
			Action: func(c *cli.Context) error {
				if c.Args().Present() {
					return usagef("", "mount ls takes no arguments")
				}
				f, err := parseFilters(c.StringSlice("filter"), "name", "secret")
				if err != nil {
					return err
				}
				ms, err := client(c).Mounts(c.Context)
				if err != nil {
					return err
				}
				rows := filterRows(mountRows(ms), func(r mountRow) bool {
					return f.any("name", func(v string) bool { return strings.HasPrefix(r.Mountpoint, v) }) &&
						f.any("secret", func(v string) bool {
							return slices.ContainsFunc(r.Secrets, func(s api.SecretSpec) bool { return s.Source == v })
						})
				})
				return mountList.print(c, rows)
			},
		}},
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return usagef("vault mount --secret NAME [--follow] MOUNTPOINT", "give one mountpoint")
			}
			specs, err := secretSpecs(c)
			if err != nil {
				return err
			}
			mp, err := filepath.Abs(c.Args().First()) // the daemon's working directory is not ours
			if err != nil {
				return err
			}
			m, err := client(c).Mount(c.Context, api.MountRequest{Mountpoint: mp, Secrets: specs, Follow: c.Bool("follow")})
			if err != nil {
				return fuseHint(err)
			}
			fmt.Println(m.Mountpoint)
			return nil
		},
	}
}

func unmountCommand() *cli.Command {
	return &cli.Command{
		Name:      "unmount",
		Usage:     "end a mount",
		ArgsUsage: "MOUNTPOINT",
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return usagef("vault unmount MOUNTPOINT", "give one mountpoint")
			}
			mp, err := filepath.Abs(c.Args().First()) // the daemon's working directory is not ours
			if err != nil {
				return err
			}
			return client(c).Unmount(c.Context, mp)
		},
	}
}

// execChild is the hidden command `vault exec` runs itself as, in a new
// mount namespace.
const execChild = "__exec-child"

func execCommand() *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "run a command with the secrets at /run/secrets, in a private mount only it sees",
		ArgsUsage: "-- CMD [ARGS...]",
		Flags:     mountFlags(),
		Action: func(c *cli.Context) error {
			specs, err := secretSpecs(c)
			if err != nil {
				return err
			}
			if !c.Args().Present() {
				return usagef("vault exec --secret NAME -- CMD [ARGS...]", "no command")
			}
			// As a shell would: 127 for a command not found, 126 for
			// one that cannot be run, before anything is mounted.
			if _, err := exec.LookPath(c.Args().First()); err != nil {
				return commandNotFound(c.Args().First(), err)
			}
			req, _ := json.Marshal(api.ExecRequest{Secrets: specs, Follow: c.Bool("follow")})
			self, err := os.Executable()
			if err != nil {
				return err
			}
			args := append([]string{"--socket", c.String("socket"), execChild, string(req), "--"}, c.Args().Slice()...)
			// With util-linux's unshare, this process becomes the command
			// (same pid, signals and exit status straight through): unshare
			// makes a private mount namespace and runs the child, which mounts
			// /run/secrets and execs the command.
			if unshare, err := exec.LookPath("unshare"); err == nil {
				argv := append([]string{"unshare", "--mount", "--propagation", "private", self}, args...)
				return syscall.Exec(unshare, argv, os.Environ())
			}
			// Otherwise a child in a new namespace, and this process waits.
			cmd := exec.Command(self, args...)
			cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
			// A new mount namespace for the child; Go makes its root private,
			// so nothing mounted there is seen outside.
			// It dies with this process.
			cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
			runtime.LockOSThread() // Pdeathsig fires when the starting thread exits
			if err := cmd.Start(); err != nil {
				return fmt.Errorf("vault exec: %w", err)
			}
			sigs := make(chan os.Signal, 4)
			signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
			go func() {
				for s := range sigs {
					_ = cmd.Process.Signal(s) // the command decides what a signal means
				}
			}()
			err = cmd.Wait()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					os.Exit(128 + int(ws.Signal()))
				}
				os.Exit(ee.ExitCode())
			}
			if err != nil {
				return fmt.Errorf("vault exec: %w", err)
			}
			return nil
		},
	}
}

// runExecChild runs in the private mount namespace: it mounts /run/secrets,
// hands the /dev/fuse descriptor to the daemon, and becomes the command.
// It returns only on failure.
func runExecChild(socket string, args []string) error {
	if len(args) < 3 || args[1] != "--" {
		return errors.New("internal: bad exec child arguments")
	}
	var req api.ExecRequest
	if err := json.Unmarshal([]byte(args[0]), &req); err != nil {
		return err
	}
	argv := args[2:]
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return commandNotFound(argv[0], err)
	}
	// Connect first: /run may be replaced below, and the socket may live there.
	raddr := &net.UnixAddr{Name: socket, Net: "unix"}
	conn, err := net.DialUnix("unix", nil, raddr)
	if err != nil {
		return (&api.Error{Message: fmt.Sprintf("no vault daemon at %s", socket)}).WithHint("start one with `vault daemon`, or `vault dev` to try vault; set --socket or VAULT_SOCKET to use another")
	}
	defer conn.Close()
	const target = "/run/secrets"
	if fi, err := os.Stat(target); err != nil || !fi.IsDir() {
		// No /run/secrets on this host: give the command a private /run
		// holding it, instead of creating anything on the host.
		if err := unix.Mount("tmpfs", "/run", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=64k"); err != nil {
			return fmt.Errorf("private /run: %w", err)
		}
		if err := os.Mkdir(target, 0o755); err != nil {
			return err
		}
	}
	fd, err := fuse.MountFD(target)
	if err != nil {
		return fuseHint(fmt.Errorf("mount %s: %w", target, err))
	}
	body, _ := json.Marshal(req)
	hreq, _ := http.NewRequest("POST", "http://vault/v1/exec", strings.NewReader(string(body)))
	hreq.Header.Set("Content-Type", "application/json")
	if err := hreq.Write(conn); err != nil {
		return err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, hreq)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		if e := api.ReadError(resp.Body); e != nil {
			return e
		}
		return fmt.Errorf("daemon answered %s", resp.Status)
	}
	if err := fuse.SendFD(conn, fd); err != nil {
		return err
	}
	unix.Close(fd)
	line, err := br.ReadString('\n')
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	if line != "OK\n" {
		return fmt.Errorf("daemon: %s", strings.TrimSpace(strings.TrimPrefix(line, "ERR ")))
	}
	conn.Close()
	err = syscall.Exec(path, argv, os.Environ())
	return &exitCodeError{code: 126, err: fmt.Errorf("%s: %w", argv[0], err)}
}

// commandNotFound is a shell's answer to a command that cannot be run: 127
// when it is not found, 126 when it is not executable.
func commandNotFound(name string, err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return &exitCodeError{code: 126, err: usagef(fmt.Sprintf("make it executable (chmod +x %s), or run it through its interpreter", name), "%s: permission denied", name)}
	}
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, exec.ErrNotFound) {
		return &exitCodeError{code: 127, err: usagef("the command runs as in a shell: give its path, or put it on PATH", "%s: command not found", name)}
	}
	return &exitCodeError{code: 126, err: fmt.Errorf("%s: %w", name, err)}
}

// fuseHint adds what to do when the kernel's FUSE device is missing or
// refused.
func fuseHint(err error) error {
	msg := err.Error()
	if !strings.Contains(msg, "/dev/fuse") && !strings.Contains(msg, "fusermount") && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
		return err
	}
	var ae *api.Error
	if errors.As(err, &ae) && ae.Hint != "" {
		return err
	}
	hint := "load the FUSE module (modprobe fuse) so that /dev/fuse exists; in a container, pass --device /dev/fuse"
	if errors.Is(err, fs.ErrPermission) || strings.Contains(msg, "permission denied") || strings.Contains(msg, "operation not permitted") {
		hint = "mounting needs root (CAP_SYS_ADMIN): run as root"
	}
	return &api.Error{Code: api.CodeInvalid, Message: withoutPackagePrefix(msg), Hint: hint}
}
