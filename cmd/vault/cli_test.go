package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/vaultd/vault/api"
)

// TestDockerInvocations runs every Docker-style command line of issue 14
// against a fake daemon: each works, or fails with the documented error.
func TestDockerInvocations(t *testing.T) {
	d := newFakeDaemon(t)
	t.Setenv("VAULT_SOCKET", d.socket)
	dir := t.TempDir()
	bigFile := filepath.Join(dir, "big")
	if err := os.WriteFile(bigFile, make([]byte, 10<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("VLTTKN-1-FROMFILE\n"), 0o600)
	s0, s1, s2 := fakeSecrets[0], fakeSecrets[1], fakeSecrets[2]

	for _, tc := range []struct {
		name   string
		args   []string
		stdin  string
		code   int
		stdout []string // each must appear
		not    []string // none may appear in stdout or stderr
		stderr []string
		sent   map[string]string // request body substrings, by "METHOD path"
		lines  int               // stdout lines, when not 0
	}{
		// Flags after arguments, mixed spellings, bare booleans.
		{name: "inspect --format after the name", args: []string{"secret", "inspect", "db-password", "--format", "json"},
			stdout: []string{`"Name": "db-password"`, `"Spec": {`}},
		{name: "create NAME - --label", args: []string{"secret", "create", "web-key", "-", "--label", "env=dev"}, stdin: "x",
			stdout: []string{"newsecretid"}, sent: map[string]string{"POST /v1/secrets": "label=env=dev&name=web-key\nx"}},
		{name: "update sends the data as it is", args: []string{"secret", "update", "db-password", "-"}, stdin: "new\x00data",
			stdout: []string{"version 3"}, sent: map[string]string{"POST /v1/secrets/db-password/versions": "new\x00data"}},
		{name: "--label and -l together", args: []string{"secret", "create", "--label", "env=prod", "-l", "team=web", "web-key2", "-"}, stdin: "x",
			sent: map[string]string{"POST /v1/secrets": "label=env=prod&label=team=web&name=web-key2\nx"}},
		{name: "-l= and --label= after the file", args: []string{"secret", "create", "web-key3", "-", "-l=a=1", "--label=b=2"}, stdin: "x",
			sent: map[string]string{"POST /v1/secrets": "label=a=1&label=b=2&name=web-key3\nx"}},
		{name: "bare --autolock", args: []string{"cluster", "update", "--autolock"},
			stdout: []string{"Autolock is on.", "VLTKEY-1-TEST"}, sent: map[string]string{"POST /v1/cluster/autolock": `"enable":true`}},
		{name: "--autolock=false", args: []string{"cluster", "update", "--autolock=false"},
			stdout: []string{"Autolock is off."}, sent: map[string]string{"POST /v1/cluster/autolock": `"enable":false`}},
		{name: "--autolock false", args: []string{"cluster", "update", "--autolock", "false"}, code: 1,
			stderr: []string{`vault: error: "false" is not an argument`, "vault: hint: vault cluster update --autolock=false"}},
		{name: "--socket after the command", args: []string{"secret", "ls", "--socket", d.socket, "-q"}, lines: 3},

		// --filter.
		{name: "-f is --filter", args: []string{"secret", "ls", "-f", "label=env=prod"},
			stdout: []string{"db-password"}, not: []string{"api-key", "label=env=prod"}, lines: 2},
		{name: "filter label=K", args: []string{"secret", "ls", "-q", "--filter", "label=env"}, lines: 2},
		{name: "filter two labels: all", args: []string{"secret", "ls", "-q", "--filter", "label=env", "--filter", "label=team"}, stdout: []string{s0.ID}, lines: 1},
		{name: "filter two names: any", args: []string{"secret", "ls", "-q", "-f", "name=api", "-f", "name=tls"}, stdout: []string{s1.ID, s2.ID}, lines: 2},
		{name: "filter name and label: both", args: []string{"secret", "ls", "-q", "-f", "name=db", "-f", "label=env=dev"}, lines: 0},
		{name: "filter id prefix", args: []string{"secret", "ls", "-q", "--filter", "id=l7bk"}, stdout: []string{s1.ID}, lines: 1},
		{name: "unknown filter", args: []string{"secret", "ls", "--filter", "colour=red"}, code: 1,
			stderr: []string{`vault: error: invalid filter "colour"`, "vault: hint: vault secret ls filters by id, name, label"}},
		{name: "filter without =", args: []string{"secret", "ls", "--filter", "label"}, code: 1, stderr: []string{`bad filter "label"`}},
		{name: "node ls filter", args: []string{"node", "ls", "-q", "--filter", "state=locked"}, stdout: []string{fakeNodes[1].ID}, lines: 1},
		{name: "mount ls filter", args: []string{"mount", "ls", "--filter", "secret=api-key", "-q"}, stdout: []string{"/run/secrets"}, lines: 1},

		// --format.
		{name: "table TEMPLATE", args: []string{"secret", "ls", "--format", `table {{.Name}}\t{{.Version}}`},
			stdout: []string{"NAME          VERSION\n", "db-password   2\n"}, not: []string{"table", `\t`}, lines: 4},
		{name: "table with Docker fields", args: []string{"secret", "ls", "--format", `table {{.ID}}\t{{.Spec.Name}}\t{{.CreatedAt}}\t{{.UpdatedAt}}`},
			stdout: []string{"ID             NAME          CREATED AT                      UPDATED AT\n", "4bgnuehx5urq   db-password   2026-12-01 10:00:00 +0000 UTC"}},
		{name: "table --no-trunc", args: []string{"secret", "ls", "--no-trunc"}, stdout: []string{s0.ID + "   db-password"}},
		{name: "table truncates ids", args: []string{"secret", "ls"}, stdout: []string{"ID             NAME          VERSION   CREATED", "4bgnuehx5urq   db-password"}, not: []string{s0.ID}},
		{name: "-q prints whole ids", args: []string{"secret", "ls", "-q"}, stdout: []string{s0.ID + "\n"}, lines: 3},
		{name: "Docker template fields", args: []string{"secret", "ls", "--format", "{{.ID}} {{.Spec.Name}} {{.Spec.Labels}} {{.Version}}", "-f", "name=db"},
			stdout: []string{s0.ID + " db-password map[env:prod team:web] 2\n"}},
		{name: "template helpers", args: []string{"secret", "ls", "-f", "name=db", "--format",
			`{{join (split .Name "-") "+"}}|{{upper .Name}}|{{lower "X"}}|{{title "db pass"}}|{{pad "a" 1 2}}|{{truncate .ID 4}}|{{json .Spec.Labels}}`},
			stdout: []string{`db+password|DB-PASSWORD|x|Db Pass| a  |4bgn|{"env":"prod","team":"web"}` + "\n"}},
		{name: "ls --format json", args: []string{"secret", "ls", "--format", "json"}, stdout: []string{"[\n", `"ID": "` + s2.ID}},
		{name: "bad template field", args: []string{"secret", "ls", "--format", "{{.Colour}}"}, code: 1,
			stderr: []string{"vault: error: bad --format: can't evaluate field Colour", "vault: hint: `vault secret ls --help` lists the fields"}},
		{name: "inspect --format table", args: []string{"secret", "inspect", "db-password", "--format", "table"},
			stdout: []string{"ID             NAME          VERSION"}, not: []string{"{"}},
		{name: "inspect --format table TEMPLATE", args: []string{"secret", "inspect", "--format", `table {{.Name}}\t{{.Size}}`, "db-password", "api-key"},
			stdout: []string{"NAME          SIZE\ndb-password   7\napi-key       1\n"}},
		{name: "inspect template", args: []string{"secret", "inspect", "--format", "{{.Name}} v{{.Version}}", "db-password"}, stdout: []string{"db-password v2\n"}},
		{name: "inspect --pretty", args: []string{"secret", "inspect", "--pretty", "db-password"},
			stdout: []string{"ID:          " + s0.ID, "Name:        db-password", " - env=prod", "Version:     2", " - v1  5 bytes"}, not: []string{"{"}},
		{name: "inspect a missing one still prints the rest", args: []string{"secret", "inspect", "db-password", "nope"}, code: 1,
			stdout: []string{`"Name": "db-password"`}, stderr: []string{"vault: error: no such secret: nope"}},
		{name: "node ls --format {{.Name}}", args: []string{"node", "ls", "--format", "{{.Name}}"}, stdout: []string{fakeNodes[0].ID + "\n"}, lines: 3},
		{name: "node ls fields", args: []string{"node", "ls", "--format", "{{.Hostname}} {{.Addr}} {{.Role}} {{.State}} {{.Leader}} {{.Leads}} {{.Self}}", "-f", "name=zap"},
			stdout: []string{"10.0.0.1 10.0.0.1:4700 manager ready 2 2/3 true\n"}},
		{name: "node ls table shows locked", args: []string{"node", "ls"},
			stdout: []string{"ID               ADDRESS         ROLE      STATE         LEADS", "zaptkjxkfaot *", "locked", "unreachable"}},
		{name: "mount ls", args: []string{"mount", "ls"}, stdout: []string{"MOUNTPOINT", "/run/secrets (vault exec)", "api-key@1->key"}},
		{name: "status KEK version", args: []string{"status"}, stdout: []string{"KEK version:  3\n"}},
		{name: "status json is PascalCase", args: []string{"status", "--format", "json"}, stdout: []string{`"KEKVersion": 3`, `"NodeID": "`}, not: []string{"kek_version"}},
		{name: "status template", args: []string{"status", "--format", "{{.KEKVersion}}"}, stdout: []string{"3\n"}},
		{name: "unlock-key --rotate KEK version", args: []string{"unlock-key", "--rotate"}, stdout: []string{"KEK version 4"}},

		// Messages and hints.
		{name: "unknown command", args: []string{"crate"}, code: 1,
			stderr: []string{`vault: error: unknown command "crate" for "vault"`, `vault: hint: did you mean "vault secret create"?`}},
		{name: "unknown subcommand", args: []string{"secret", "crate", "x"}, code: 1,
			stderr: []string{`vault: error: unknown command "crate" for "vault secret"`, `vault: hint: did you mean "create"?`, "`vault secret --help` lists the commands"}},
		{name: "unknown flag hint names the command", args: []string{"secret", "create", "--bogus", "x"}, code: 1,
			stderr: []string{"vault: error: unknown flag: --bogus", "vault: hint: `vault secret create --help` shows the usage"}},
		{name: "ls argument hint", args: []string{"secret", "ls", "extra"}, code: 1, stderr: []string{"vault: hint: `vault secret ls --help`"}},
		{name: "inspect without a name", args: []string{"secret", "inspect"}, code: 1, stderr: []string{"vault: error: name the secret", "vault: hint: vault secret inspect NAME|ID..."}},
		{name: "flag needs a value", args: []string{"secret", "ls", "--format"}, code: 1, stderr: []string{"vault: error: flag needs an argument: --format"}},
		{name: "missing input file", args: []string{"secret", "update", "db-password", "./new-password.txt"}, code: 1,
			stderr: []string{`vault: error: "./new-password.txt" does not exist`}, not: []string{"is not a file"}},
		{name: "10 MiB file", args: []string{"secret", "create", "big", bigFile}, code: 1, stderr: []string{"is 10 MiB, over the 500 KiB limit"}, not: []string{"512000"}},
		{name: "10 MiB stdin", args: []string{"secret", "create", "big", "-"}, stdin: strings.Repeat("x", 10<<20), code: 1,
			stderr: []string{"stdin holds more than the 500 KiB limit"}, not: []string{"512000"}},
		{name: "exec of a missing command", args: []string{"exec", "--secret", "db-password", "--", "no-such-command-here"}, code: 127,
			stderr: []string{"vault: error: no-such-command-here: command not found"}},
		{name: "exec of a file that is not executable", args: []string{"exec", "--secret", "db-password", "--", tokenFile}, code: 126,
			stderr: []string{"permission denied"}},
		{name: "version", args: []string{"version"}, stdout: []string{"vault version ", "revision:", "go version:"}},
		{name: "--version", args: []string{"--version"}, stdout: []string{"vault version "}},
		{name: "help command", args: []string{"help", "secret"}, stdout: []string{"Usage:  vault secret COMMAND"}},

		// cluster join and join-token.
		{name: "join --help has no backquote placeholder", args: []string{"cluster", "join", "--help"},
			stdout: []string{"--token string", "--token-file string"}, not: []string{"--token vault cluster", "`"}},
		{name: "join-token worker", args: []string{"cluster", "join-token", "worker"},
			stdout: []string{"To add a worker to this cluster", "vault cluster join --token VLTTKN-1-WORKER"}},
		{name: "join --token-file", args: []string{"cluster", "join", "10.0.0.1:4701", "--token-file", tokenFile},
			sent: map[string]string{"POST /v1/cluster/join": `"token":"VLTTKN-1-FROMFILE"`}},
		{name: "join --token-file -", args: []string{"cluster", "join", "--token-file", "-", "10.0.0.1:4701"}, stdin: "VLTTKN-1-STDIN\n",
			sent: map[string]string{"POST /v1/cluster/join": `"token":"VLTTKN-1-STDIN"`}},
		{name: "join --token-file missing", args: []string{"cluster", "join", "--token-file", "/no/such/token", "10.0.0.1:4701"}, code: 1,
			stderr: []string{`vault: error: "/no/such/token" does not exist`}},
		{name: "unlock --key-file missing", args: []string{"unlock", "--key-file", "/no/such/key"}, code: 1,
			stderr: []string{`vault: error: "/no/such/key" does not exist`}},
		{name: "join without a token", args: []string{"cluster", "join", "10.0.0.1:4701"}, code: 1, stderr: []string{"no join token"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.stdin, tc.args...)
			show := func() string { return "\nstdout:\n" + r.stdout + "\nstderr:\n" + r.stderr }
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d%s", r.code, tc.code, show())
			}
			for _, w := range tc.stdout {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q%s", w, show())
				}
			}
			for _, w := range tc.stderr {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q%s", w, show())
				}
			}
			for _, w := range tc.not {
				if strings.Contains(r.stdout+r.stderr, w) {
					t.Errorf("output has %q%s", w, show())
				}
			}
			if tc.code != 0 && !strings.HasPrefix(r.stderr, "vault: error: ") {
				t.Errorf("stderr does not start with 'vault: error: '%s", show())
			}
			if tc.lines != 0 || (tc.code == 0 && strings.Contains(tc.name, "both")) {
				if n := strings.Count(r.stdout, "\n"); n != tc.lines {
					t.Errorf("%d stdout lines, want %d%s", n, tc.lines, show())
				}
			}
			for k, w := range tc.sent {
				if b := d.body(k); !strings.Contains(b, w) {
					t.Errorf("%s sent %s, want %s in it", k, b, w)
				}
			}
		})
	}
}

// TestNotVaultSocket: a socket that answers, but not as vault does, is
// named with a hint.
func TestNotVaultSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "other.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/status" {
			w.Write([]byte("<html>hello</html>"))
			return
		}
		http.Error(w, `{"message":"page not found"}`, http.StatusNotFound)
	}))
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	for _, args := range [][]string{{"secret", "ls"}, {"status"}} {
		r := runCLI(t, "", append([]string{"--socket", sock}, args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, "does not answer as a vault daemon") ||
			!strings.Contains(r.stderr, "vault: hint: is VAULT_SOCKET (or --socket) pointing at a vault daemon?") {
			t.Errorf("%v: exit %d, stderr:\n%s", args, r.code, r.stderr)
		}
	}
}

// TestHelpReadsLikeDocker: the shape of `docker --help` and `docker secret
// --help`.
func TestHelpReadsLikeDocker(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"Usage:  vault [OPTIONS] COMMAND\n", "\nCommands:\n  daemon ", "  secret  ", "\nGlobal Options:\n", "--socket string", "\nRun 'vault COMMAND --help' for more information on a command.\n"}},
		{nil, []string{"Usage:  vault [OPTIONS] COMMAND\n"}},
		{[]string{"secret", "--help"}, []string{"Usage:  vault secret COMMAND\n\nmanage secrets\n\nCommands:\n  create ", "  inspect ", "  ls ", "  rm ", "\nRun 'vault secret COMMAND --help' for more information on a command.\n"}},
		{[]string{"secret"}, []string{"Usage:  vault secret COMMAND\n"}},
		{[]string{"secret", "ls", "--help"}, []string{"Usage:  vault secret ls [OPTIONS]\n", "\nAliases:\n  vault secret ls, vault secret list\n", "\nOptions:\n", "  -f, --filter filter ", "      --format string ", "  -q, --quiet ", "      --no-trunc "}},
		{[]string{"secret", "create", "--help"}, []string{"Usage:  vault secret create [OPTIONS] NAME [FILE|-]\n", "  -l, --label list "}},
		{[]string{"mount", "--help"}, []string{"Usage:  vault mount [OPTIONS] MOUNTPOINT\n        vault mount COMMAND\n"}},
		{[]string{"daemon", "--help"}, []string{`--state-dir string `, `(default "/var/lib/vault")`}},
		{[]string{"dev", "--help"}, []string{"--listen-addr string", "--api-addr string"}},
	} {
		r := runCLI(t, "", tc.args...)
		if r.code != 0 {
			t.Errorf("%v: exit %d: %s", tc.args, r.code, r.stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%v: help lacks %q:\n%s", tc.args, w, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "  help ") {
			t.Errorf("%v: help lists a help command:\n%s", tc.args, r.stdout)
		}
	}
}

// TestNoUsagePlaceholders: urfave/cli takes backquoted text in a flag's
// usage as its value's name, which garbles the help.
func TestNoUsagePlaceholders(t *testing.T) {
	var walk func([]*cli.Command)
	check := func(where string, flags []cli.Flag) {
		for _, f := range flags {
			if df, ok := f.(cli.DocGenerationFlag); ok && strings.Contains(df.GetUsage(), "`") {
				t.Errorf("%s --%s: usage has a backquote: %s", where, f.Names()[0], df.GetUsage())
			}
		}
	}
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			check(pathOf(c), c.Flags)
			walk(c.Subcommands)
		}
	}
	app := newApp()
	check("vault", app.Flags)
	walk(app.Commands)
}

func TestCompletionAndMan(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"completion", "bash"}, []string{"complete -o default -F _vault vault", `"secret ls") printf '%s\n' `, "--filter"}},
		{[]string{"completion", "zsh"}, []string{"#compdef vault", "bashcompinit", "_vault"}},
		{[]string{"completion", "fish"}, []string{"complete -c vault", "secret"}},
		{[]string{"man"}, []string{".TH vault 1", "secret"}},
	} {
		r := runCLI(t, "", tc.args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.args, r.code, r.stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%v lacks %q", tc.args, w)
			}
		}
	}
	dir := t.TempDir()
	if r := runCLI(t, "", "man", "-o", dir); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "vault.1")); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, "", "completion", "tcsh"); r.code != 1 || !strings.Contains(r.stderr, "want bash, zsh or fish") {
		t.Fatalf("completion tcsh: %+v", r)
	}
}

func TestNormalizeArgs(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		path     string
	}{
		{"secret inspect db-password --format json", "secret inspect --format json db-password", "vault secret inspect"},
		{"secret create NAME - --label env=dev", "secret create --label env=dev NAME -", "vault secret create"},
		{"secret create --label env=prod -l team=web NAME", "secret create --label env=prod --label team=web NAME", ""},
		{"secret create NAME -l=a=b", "secret create --label=a=b NAME", ""},
		{"secret ls -q -f label=a", "secret ls --quiet --filter label=a", ""},
		{"cluster update --autolock", "cluster update --autolock", "vault cluster update"},
		{"cluster update --autolock=false", "cluster update --autolock=false", ""},
		{"secret ls --socket /s", "--socket /s secret ls", ""},
		{"secret rm a b --force", "secret rm --force a b", ""},
		{"secret create -- -weird -", "secret create -- -weird -", ""},
		{"exec --secret a -- ls -l", "exec --secret a -- ls -l", "vault exec"},
		{"exec --secret a ls -l", "exec --secret a -- ls -l", ""},
		{"mount /mnt --secret x --follow", "mount --secret x --follow /mnt", "vault mount"},
		{"mount ls -f name=/x", "mount ls --filter name=/x", "vault mount ls"},
		{"bench --duration 3s x", "bench --duration 3s x", "vault bench"},
		{"secret ls --bogus", "secret ls --bogus", ""},
		{"help secret ls", "secret ls --help", "vault secret ls"},
		{"secret ls -h", "secret ls --help", ""},
		{"-v", "--version", "vault"},
		{"node list", "node list", "vault node ls"},
	} {
		n, err := normalizeArgs(newApp(), append([]string{"vault"}, strings.Fields(tc.in)...))
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if got := strings.Join(n.argv[1:], " "); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.in, got, tc.want)
		}
		if tc.path != "" && n.path != tc.path {
			t.Errorf("%s: path %q, want %q", tc.in, n.path, tc.path)
		}
	}
}

func TestTableHeader(t *testing.T) {
	for tmpl, want := range map[string]string{
		"{{.ID}}\t{{.Name}}":                              "ID\tNAME",
		"{{.Spec.Name}}\t{{.Spec.Labels}}":                "NAME\tLABELS",
		"{{.CreatedAt}}\t{{.UpdatedSince}}\t{{.APIAddr}}": "CREATED AT\tUPDATED\tAPI ADDRESS",
		"{{upper .Name}}\t{{json .Labels}}\tliteral":      "NAME\tLABELS\t",
		"{{if .Self}}*{{end}}{{.ID}}":                     "SELF",
		"{{.KEKVersion}}":                                 "KEK VERSION",
	} {
		if got := tableHeader(tmpl); got != want {
			t.Errorf("%q: header %q, want %q", tmpl, got, want)
		}
	}
}

func TestFilters(t *testing.T) {
	labels := map[string]string{"env": "prod", "team": "web"}
	for _, tc := range []struct {
		in   []string
		want bool
	}{
		{nil, true},
		{[]string{"label=env"}, true},
		{[]string{"label=env=prod"}, true},
		{[]string{"label=env=dev"}, false},
		{[]string{"label=env=prod", "label=team"}, true},
		{[]string{"label=env=prod", "label=owner"}, false},
		{[]string{"name=db"}, true},
		{[]string{"name=api", "name=db"}, true},
		{[]string{"name=api", "label=env"}, false},
		{[]string{"label=env="}, false},
	} {
		f, err := parseFilters(tc.in, "id", "name", "label")
		if err != nil {
			t.Fatal(err)
		}
		got := f.any("name", func(v string) bool { return strings.HasPrefix("db-password", v) }) && f.labels(labels)
		if got != tc.want {
			t.Errorf("%v: %v, want %v", tc.in, got, tc.want)
		}
	}
	if _, err := parseFilters([]string{"colour=red"}, "id", "name"); err == nil || !strings.Contains(err.Error(), `invalid filter "colour"`) {
		t.Errorf("unknown key: %v", err)
	}
}

func TestMessages(t *testing.T) {
	for in, want := range map[string]string{
		"flag provided but not defined: -bogus":                    "unknown flag: --bogus",
		"flag provided but not defined: -x":                        "unknown flag: -x",
		"flag needs an argument: -format":                          "flag needs an argument: --format",
		`invalid boolean value "maybe" for -autolock: parse error`: `invalid value "maybe" for --autolock`,
		`invalid value "x" for flag -shards: parse error`:          `invalid value "x" for --shards`,
		`invalid value "1y" for flag -dek-max-age: bad unit`:       `invalid value "1y" for --dek-max-age: bad unit`,
		"something else": "something else",
	} {
		if got := flagMessage(in); got != want {
			t.Errorf("flagMessage(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"keys: share 1 was already added":       "share 1 was already added",
		"fuse: open /dev/fuse: no such file":    "open /dev/fuse: no such file",
		"crypto: keys: bad":                     "bad",
		"no such secret: keys":                  "no such secret: keys",
		"mount /run/secrets: permission denied": "mount /run/secrets: permission denied",
	} {
		if got := withoutPackagePrefix(in); got != want {
			t.Errorf("withoutPackagePrefix(%q) = %q, want %q", in, got, want)
		}
	}
	for n, want := range map[int64]string{1: "1 byte", 512: "512 bytes", 500 << 10: "500 KiB", 10 << 20: "10 MiB", 1536: "1.5 KiB"} {
		if got := byteSize(n); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
	}
	if d := levenshtein("crate", "create"); d != 1 {
		t.Errorf("levenshtein = %d", d)
	}
}

// TestSecretRowJSON: inspect's JSON keeps the API's fields and adds
// Docker's Spec.
func TestSecretRowJSON(t *testing.T) {
	b, err := json.Marshal(secretRows(fakeSecrets[:1])[0])
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	json.Unmarshal(b, &got)
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	for _, k := range []string{"ID", "Name", "Labels", "CreatedAt", "UpdatedAt", "Version", "Size", "Versions", "Spec"} {
		if _, ok := got[k]; !ok {
			t.Errorf("JSON lacks %s: %s", k, b)
		}
	}
	if spec := got["Spec"].(map[string]any); !reflect.DeepEqual(spec["Name"], "db-password") {
		t.Errorf("Spec: %v", spec)
	}
}

// TestNoPackagePrefixInMessages walks the messages this command and the api
// package can print (the format strings of usagef, fmt.Errorf, errors.New
// and api.Errorf) for a Go package prefix such as "keys: ".
func TestNoPackagePrefixInMessages(t *testing.T) {
	fset := token.NewFileSet()
	var files []string
	for _, glob := range []string{"*.go", "../../api/*.go"} {
		m, _ := filepath.Glob(glob)
		files = append(files, m...)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			fn := ""
			switch f := call.Fun.(type) {
			case *ast.Ident:
				fn = f.Name
			case *ast.SelectorExpr:
				fn = f.Sel.Name
			}
			arg := -1
			switch fn {
			case "usagef":
				arg = 1
			case "Errorf", "New":
				arg = 0
				if len(call.Args) > 1 {
					if _, isCode := call.Args[0].(*ast.SelectorExpr); isCode {
						arg = 1 // api.Errorf(api.CodeX, format, ...)
					}
				}
			}
			if arg < 0 || arg >= len(call.Args) {
				return true
			}
			lit, ok := call.Args[arg].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, _ := strconv.Unquote(lit.Value)
			checked++
			if got := withoutPackagePrefix(s); got != s {
				t.Errorf("%s: message %q starts with a package name", fset.Position(lit.Pos()), s)
			}
			return true
		})
	}
	if checked < 40 {
		t.Fatalf("checked only %d messages: the walk misses them", checked)
	}
}

func TestFuseHint(t *testing.T) {
	for _, tc := range []struct {
		err       error
		msg, hint string
	}{
		{fmt.Errorf("mount /run/secrets: %w", fmt.Errorf("fuse: open /dev/fuse: %w", syscall.ENOENT)),
			"mount /run/secrets: open /dev/fuse: no such file or directory", "modprobe fuse"},
		{fmt.Errorf("mount /run/secrets: %w", fmt.Errorf("fuse: open /dev/fuse: %w", syscall.EACCES)),
			"mount /run/secrets: open /dev/fuse: permission denied", "run as root"},
		{api.Errorf(api.CodeInternal, "mount /srv/x: fuse: open /dev/fuse: no such file or directory"),
			"mount /srv/x: open /dev/fuse: no such file or directory", "modprobe fuse"},
		{api.Errorf(api.CodeNotFound, "no such secret: x"), "no such secret: x", ""},
	} {
		err := fuseHint(tc.err)
		var ae *api.Error
		if !errors.As(err, &ae) {
			t.Fatalf("%v: not an api.Error: %T", tc.err, err)
		}
		if ae.Message != tc.msg || !strings.Contains(ae.Hint, tc.hint) || tc.hint == "" && ae.Hint != "" {
			t.Errorf("%v: %q / %q, want %q / %q", tc.err, ae.Message, ae.Hint, tc.msg, tc.hint)
		}
	}
}

// FuzzNormalizeArgs: any command line is rewritten without a panic, and
// without losing or inventing words beyond one "--".
func FuzzNormalizeArgs(f *testing.F) {
	for _, s := range []string{
		"secret create NAME - --label env=dev -l team=web",
		"exec --secret a -- ls -l",
		"help secret ls",
		"--socket /s -- secret ls",
		"mount /mnt --secret x ls",
		"secret create -- -weird -",
		"cluster update --autolock=false",
	} {
		f.Add(s)
	}
	app := newApp()
	f.Fuzz(func(t *testing.T, s string) {
		words := append([]string{"vault"}, strings.Fields(s)...)
		n, err := normalizeArgs(app, words)
		if err != nil {
			return
		}
		if d := len(n.argv) - len(words); d < -1 || d > 1 {
			t.Fatalf("%q became %q", words, n.argv)
		}
	})
}
