package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/internal/audit"
	"github.com/vaultd/vault/vault"
)

// auditFlags configure the daemon's audit log. They are flags (or a unit
// file's command line) only: nothing in the API can change them.
func auditFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "audit-log", Usage: "write an audit record of every request to this file (see docs/access.md); rotated files are FILE.1, FILE.2, …"},
		&cli.StringFlag{Name: "audit-fail", Value: "closed", Usage: "when the audit log cannot be written: closed refuses secret access, open serves and warns"},
		&cli.Int64Flag{Name: "audit-max-size", Value: audit.DefaultMaxSize, Usage: "rotate the audit log when it reaches this many bytes"},
		&cli.IntFlag{Name: "audit-max-files", Value: audit.DefaultMaxFiles, Usage: "rotated audit files kept"},
	}
}

// auditConfig is the audit log's configuration from the flags; nil without
// --audit-log.
func auditConfig(c *cli.Context) (*audit.Config, error) {
	path := c.String("audit-log")
	if path == "" {
		for _, f := range []string{"audit-fail", "audit-max-size", "audit-max-files"} {
			if c.IsSet(f) {
				return nil, usagef("vault daemon --audit-log /var/log/vault/audit.log …", "--%s needs --audit-log", f)
			}
		}
		return nil, nil
	}
	p, err := audit.ParsePolicy(c.String("audit-fail"))
	if err != nil {
		return nil, usagef("", "--audit-fail %q: want closed or open", c.String("audit-fail"))
	}
	cfg := &audit.Config{Path: path, MaxSize: c.Int64("audit-max-size"), MaxFiles: c.Int("audit-max-files"), Fail: p}
	switch {
	case cfg.MaxSize < 4096:
		return nil, usagef("", "--audit-max-size %d: give at least 4096 bytes", cfg.MaxSize)
	case cfg.MaxFiles < 1:
		return nil, usagef("", "--audit-max-files %d: keep at least one rotated file", cfg.MaxFiles)
	}
	return cfg, nil
}

// reopenOnHUP reopens the audit log on SIGHUP (logrotate's postrotate); the
// returned function stops listening.
func reopenOnHUP(n *vault.Node) func() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				_ = n.ReopenAudit() // logged by the node
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}

// printAuditStatus adds the audit log's lines to `vault status`.
func printAuditStatus(a *api.AuditStatus) {
	if a == nil {
		return
	}
	state := "writing"
	if !a.Healthy {
		state = "FAILING: " + a.LastError
	}
	fmt.Printf("Audit log:    %s (--audit-fail %s): %s\n", a.Path, a.Policy, state)
	if a.Lost > 0 {
		fmt.Printf("Audit lost:   %d records not written\n", a.Lost)
	}
	if a.Healthy {
		return
	}
	if a.Policy == "closed" {
		fmt.Fprintln(os.Stderr, "vault: warning: secret access is refused until the audit log can be written again (disk space, permissions)")
	} else {
		fmt.Fprintln(os.Stderr, "vault: warning: requests are served without audit records until the audit log can be written again")
	}
}
