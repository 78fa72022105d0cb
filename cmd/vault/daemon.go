package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/internal/monitorslack"
	"github.com/vaultd/vault/vault"
)

// DefaultStateDir is where a daemon keeps its state unless told otherwise.
const DefaultStateDir = "/var/lib/vault"

func daemonCommand() *cli.Command {
	return &cli.Command{
		Name:  "daemon",
		Usage: "run a vault node in the foreground",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "state-dir", Value: DefaultStateDir, Usage: "where the node keeps its state"},
			&cli.StringFlag{Name: "listen-addr", Value: vault.DefaultListenAddr, Usage: "Raft listen address HOST:PORT"},
			&cli.StringFlag{Name: "advertise-addr", Usage: "Raft address peers use (default: --listen-addr)"},
			&cli.StringFlag{Name: "api-addr", Usage: "manager API listen address HOST:PORT (default: the Raft port + 1)"},
			&cli.Uint64Flag{Name: "snapshot-entries", Hidden: true, Usage: "entries between snapshots (tests)"},
			&cli.BoolFlag{Name: "debug", Usage: "log debug lines, Raft internals included"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log lines as text or json (one JSON object a line)"},
			&cli.StringFlag{Name: "metrics-addr", Usage: "serve /metrics, /healthz and /readyz over plain HTTP at HOST:PORT (see docs/monitoring.md)"},
			&cli.BoolFlag{Name: "pprof", Usage: "serve Go profiles at /debug/pprof/ on the local socket (see docs/PERFORMANCE.md)"},
			&cli.StringFlag{Name: "docker-plugin-socket", Value: defaultPluginSocket,
				Usage: "serve Docker's volume plugin protocol here; the file's name is the driver's (vault.sock: -d vault); \"\" turns it off (default: on when " + filepath.Dir(defaultPluginSocket) + " exists; see docs/containers.md)"},
			&cli.StringFlag{Name: "docker-volumes-dir", Value: defaultVolumesDir, Usage: "where the volume plugin mounts each container's secrets"},
			&cli.StringSliceFlag{Name: "credential", Usage: "serve systemd's LoadCredential=: give unit UNIT's credential ID the latest data of SECRET (UNIT/ID=SECRET, repeatable; see docs/containers.md)"},
			&cli.StringFlag{Name: "credentials-socket", Value: defaultCredentialsSocket, Usage: "where --credential grants are served (LoadCredential=ID:PATH)"},
			&cli.DurationFlag{Name: "keep-mounts", Value: 10 * time.Minute,
				Usage: "keep mounts alive this long while no daemon runs, for the next daemon to serve (a holder process keeps them; see docs/containers.md); 0: mounts end with the daemon"},
		}, append(auditFlags(), scheduleFlags()...)...),
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usagef("", "daemon takes no arguments, got %q", c.Args().First())
			}
			if err := checkScheduleFlags(c); err != nil {
				return err
			}
			log, err := newLoggerFormat(c.Bool("debug"), c.String("log-format"))
			if err != nil {
				return err
			}
			auditCfg, err := auditConfig(c)
			if err != nil {
				return err
			}
			ms, err := listenMetrics(c.String("metrics-addr"))
			if err != nil {
				return err
			}
			defer ms.close()
			cfg := vault.Config{
				StateDir:        c.String("state-dir"),
				SocketPath:      c.String("socket"),
				ListenAddr:      c.String("listen-addr"),
				AdvertiseAddr:   c.String("advertise-addr"),
				APIAddr:         c.String("api-addr"),
				SnapshotEntries: c.Uint64("snapshot-entries"),
				Logger:          log,
				Pprof:           c.Bool("pprof"),
				Metrics:         ms.metrics(),
				Audit:           auditCfg,
			}
			grants, err := credentialGrants(c)
			if err != nil {
				return err
			}
			keepFor := c.Duration("keep-mounts")
			if keepFor > 0 && vault.IsWorkerStateDir(cfg.StateDir) {
				log.Info("mounts are not kept across restarts on a worker: they end with the daemon (--keep-mounts applies to managers)")
				keepFor = 0
			}
			keeper, err := connectKeeper(cfg.SocketPath, keepFor)
			if err != nil {
				return err
			}
			cfg.Keeper = keeper
			return runNode(cfg, func(n *vault.Node) (func(), error) {
				ms.serve(n, log)
				// Each started piece adds its stop; they stop in reverse.
				var stops []func()
				stopAll := func() {
					for i := len(stops) - 1; i >= 0; i-- {
						stops[i]()
					}
				}
				stops = append(stops, reopenOnHUP(n))
				stopScheduled, err := startScheduledSnapshots(c, n, log)
				if err != nil {
					stopAll()
					return nil, err
				}
				stops = append(stops, stopScheduled)
				stopCreds, err := startCredentials(c, grants, n, log)
				if err != nil {
					stopAll()
					return nil, err
				}
				if stopCreds != nil {
					stops = append(stops, stopCreds)
				}
				stopPlugin, err := startVolumePlugin(c, n, cfg)
				if err != nil {
					stopAll()
					return nil, err
				}
				if stopPlugin != nil {
					stops = append(stops, stopPlugin)
				}
				return stopAll, nil
			})
		},
	}
}

func newLogger(debug bool) *slog.Logger {
	log, _ := newLoggerFormat(debug, "text")
	return log
}

// newLoggerFormat makes the daemon's logger: slog's text or JSON handler on
// stderr.
func newLoggerFormat(debug bool, format string) (*slog.Logger, error) {
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, usagef("", "--log-format %q: want text or json", format)
}

// The Go runtime's monitor thread gets a coarser timer slack while the
// process starts, when it is easiest to tell from the others
// (internal/monitorslack); every vault command does it, the daemon logs it.
var monitorTID, monitorErr = monitorslack.Apply(monitorslack.Slack)

// harden keeps secrets out of core dumps and away from ptrace by other users.
func harden(log *slog.Logger) {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		log.Warn("could not make the process non-dumpable", "err", err)
	}
}

// runNode starts a node, calls ready once it serves, and runs until SIGINT or
// SIGTERM; the function ready returns (if any) runs before the node closes.
func runNode(cfg vault.Config, ready func(n *vault.Node) (func(), error)) error {
	harden(cfg.Logger)
	if monitorErr != nil {
		cfg.Logger.Info("running with the Go runtime's default monitor timing, which costs about a tenth more CPU per request", "err", monitorErr,
			"hint", "run the daemon as root or with CAP_SYS_NICE")
	} else {
		cfg.Logger.Debug("the Go runtime's monitor thread sleeps with a coarser timer slack", "thread", monitorTID, "slack", monitorslack.Slack)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	n, err := vault.Start(ctx, cfg)
	if err != nil {
		return err
	}
	var stopReady func()
	if ready != nil {
		if stopReady, err = ready(n); err != nil {
			n.Close()
			return err
		}
	}
	status := "STATUS=serving"
	if n.Status().Locked {
		status += "; locked: run `vault unlock`"
	}
	if err := sdNotify("READY=1\n" + status); err != nil {
		cfg.Logger.Warn("could not notify the service manager", "err", err)
	}
	<-ctx.Done()
	cfg.Logger.Info("stopping")
	_ = sdNotify("STOPPING=1")
	if stopReady != nil {
		stopReady()
	}
	return n.Close()
}

func devCommand() *cli.Command {
	return &cli.Command{
		Name:  "dev",
		Usage: "run a throwaway single-node cluster in a temporary directory (autolock off)",
		Flags: []cli.Flag{
			shardsFlag(),
			&cli.StringFlag{Name: "listen-addr", Usage: "Raft listen address HOST:PORT (default: a free port on 127.0.0.1)"},
			&cli.StringFlag{Name: "api-addr", Usage: "manager API listen address HOST:PORT (default: a free port on the Raft address's host)"},
			&cli.BoolFlag{Name: "debug", Usage: "log debug lines"},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usagef("", "dev takes no arguments, got %q", c.Args().First())
			}
			if err := checkShards(c); err != nil {
				return err
			}
			// Free ports for what was not given: the API's is checked too,
			// not taken as the Raft port + 1 (which another program may hold).
			listen, apiAddr := c.String("listen-addr"), c.String("api-addr")
			if listen == "" || apiAddr == "" {
				ports, err := freePorts(2)
				if err != nil {
					return err
				}
				if listen == "" {
					listen = fmt.Sprintf("127.0.0.1:%d", ports[0])
				}
				if apiAddr == "" {
					apiAddr = fmt.Sprintf("%s:%d", hostOf(listen), ports[1])
				}
			}
			dir, err := os.MkdirTemp("", "vault-dev-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			sock := c.String("socket")
			if !c.IsSet("socket") {
				sock = filepath.Join(dir, "vault.sock")
			}
			cfg := vault.Config{
				StateDir:   filepath.Join(dir, "state"),
				SocketPath: sock,
				ListenAddr: listen,
				APIAddr:    apiAddr,
				Logger:     newLogger(c.Bool("debug")),
			}
			return runNode(cfg, func(n *vault.Node) (func(), error) {
				if _, err := n.Init(c.Context, c.Int("shards")); err != nil {
					return nil, err
				}
				fmt.Fprintf(os.Stderr, "vault dev: a single-node cluster is running; its state is in %s and is deleted on exit\n", dir)
				fmt.Fprintf(os.Stderr, "vault dev: autolock is off: this is for trying vault, not for real secrets\n")
				fmt.Fprintf(os.Stderr, "vault dev: to use it from another terminal, run:\n\n")
				fmt.Printf("export VAULT_SOCKET=%s\n", sock)
				fmt.Fprintf(os.Stderr, "\nvault dev: press Ctrl-C to stop\n")
				return nil, nil
			})
		},
	}
}

// freePorts returns n distinct ports free on 127.0.0.1 now.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// hostOf is the host of a HOST:PORT address, or 127.0.0.1 if it has none.
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil && h != "" {
		return h
	}
	return "127.0.0.1"
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show this node's state",
		Flags: []cli.Flag{objectFormatFlag(statusFields)},
		Action: func(c *cli.Context) error {
			s, err := client(c).Status(c.Context)
			if err != nil {
				return err
			}
			if f := c.String("format"); f != "" && f != "table" {
				return printFormatted(f, s)
			}
			return printStatus(s)
		},
	}
}

const statusFields = ".Initialized, .Locked, .NodeID, .ClusterID, .Addr, .APIAddr, .Shards, .Autolock, .KEKVersion, .ActiveDEK, .DEKVersions"

func printStatus(s *api.Status) error {
	if !s.Initialized {
		fmt.Println("Initialized: false")
		fmt.Fprintln(os.Stderr, "vault: hint: run `vault cluster init` to create a cluster")
		return nil
	}
	if s.Worker != nil {
		return printWorkerStatus(s)
	}
	if s.Removed {
		fmt.Printf("Initialized:  true\nRemoved:      this node was removed from the cluster\nNode ID:      %s\nCluster ID:   %s\nAddress:      %s\n", s.NodeID, s.ClusterID, s.Addr)
		fmt.Fprintln(os.Stderr, "vault: hint: its replicas are stopped for good; to make this machine a manager again, stop the daemon, move --state-dir aside and run `vault cluster join` with a new token")
		return nil
	}
	fmt.Printf("Initialized:  true\nLocked:       %v\nNode ID:      %s\nCluster ID:   %s\nAddress:      %s\nShards:       %d\nAutolock:     %v\nKEK version:  %d\nActive DEK:   v%d\nDEK versions: %v\n",
		s.Locked, s.NodeID, s.ClusterID, s.Addr, s.Shards, s.Autolock, s.KEKVersion, s.ActiveDEK, s.DEKVersions)
	printAuditStatus(s.Audit)
	for _, g := range s.StoppedGroups {
		fmt.Printf("Stopped:      %s (since %s)\n", g.Reason, g.Since.Local().Format(time.DateTime))
		fmt.Fprintf(os.Stderr, "vault: hint: %s\n", g.Hint)
	}
	return nil
}
