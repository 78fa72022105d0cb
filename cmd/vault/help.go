package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
)

// Help reads like Docker's: a Usage line with the full command path, the
// description, Aliases, Commands, Options, and where to look next.

// commandPaths maps every command of the tree to its full path
// ("vault secret ls"); filled by indexCommands.
var commandPaths = map[*cli.Command]string{}

// runnable holds the commands that do something of their own, not only
// hold subcommands (urfave/cli gives those the help as their action).
var runnable = map[*cli.Command]bool{}

func indexCommands(cmds []*cli.Command, path string) {
	for _, c := range cmds {
		p := path + " " + c.Name
		commandPaths[c] = p
		runnable[c] = c.Action != nil
		indexCommands(c.Subcommands, p)
	}
}

func pathOf(c *cli.Command) string {
	if p, ok := commandPaths[c]; ok {
		return p
	}
	return "vault " + c.FullName()
}

// printHelp replaces urfave/cli's template help.
func printHelp(w io.Writer, _ string, data any) {
	switch d := data.(type) {
	case *cli.App:
		writeHelp(w, "vault", d.Usage, "", d.Commands, d.VisibleFlags(), nil, true, "Global Options")
	case *cli.Command:
		usage := d.Usage
		if d.Description != "" {
			usage += "\n\n" + d.Description
		}
		writeHelp(w, pathOf(d), usage, d.ArgsUsage, d.Subcommands, d.VisibleFlags(), d.Aliases, runnable[d], "Options")
	}
}

func writeHelp(w io.Writer, path, usage, argsUsage string, subs []*cli.Command, flags []cli.Flag, aliases []string, runs bool, flagsTitle string) {
	var visible []*cli.Command
	for _, c := range subs {
		if !c.Hidden {
			visible = append(visible, c)
		}
	}
	opts := ""
	if slices.ContainsFunc(flags, func(f cli.Flag) bool { return f != cli.HelpFlag }) {
		opts = " [OPTIONS]"
	}
	var lines []string
	if path == "vault" {
		lines = append(lines, path+opts+" COMMAND")
	} else {
		if runs || len(visible) == 0 {
			lines = append(lines, strings.TrimSpace(path+opts+" "+argsUsage))
		}
		if len(visible) > 0 {
			lines = append(lines, path+" COMMAND")
		}
	}
	fmt.Fprintf(w, "Usage:  %s\n", strings.Join(lines, "\n        "))
	if usage != "" {
		fmt.Fprintf(w, "\n%s\n", usage)
	}
	if len(aliases) > 0 {
		parent := path[:strings.LastIndex(path, " ")+1]
		all := []string{path}
		for _, a := range aliases {
			all = append(all, parent+a)
		}
		fmt.Fprintf(w, "\nAliases:\n  %s\n", strings.Join(all, ", "))
	}
	if len(visible) > 0 {
		fmt.Fprintf(w, "\nCommands:\n")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, c := range visible {
			fmt.Fprintf(tw, "  %s\t%s\n", c.Name, c.Usage)
		}
		tw.Flush()
	}
	if path != "vault" {
		flags = slices.DeleteFunc(slices.Clone(flags), func(f cli.Flag) bool { return f == cli.HelpFlag })
	}
	if len(flags) > 0 {
		fmt.Fprintf(w, "\n%s:\n", flagsTitle)
		tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
		for _, f := range flags {
			lines := strings.Split(flagUsage(f), "\n")
			fmt.Fprintf(tw, "  %s\t%s\n", flagSynopsis(f), lines[0])
			for _, l := range lines[1:] {
				fmt.Fprintf(tw, "  \t%s\n", l)
			}
		}
		tw.Flush()
	}
	if len(visible) > 0 {
		fmt.Fprintf(w, "\nRun '%s COMMAND --help' for more information on a command.\n", path)
	}
}

// flagSynopsis is "-f, --filter filter" or "    --format string".
func flagSynopsis(f cli.Flag) string {
	var short, long []string
	for _, n := range f.Names() {
		if len(n) == 1 {
			short = append(short, "-"+n)
		} else {
			long = append(long, "--"+n)
		}
	}
	s := "    "
	if len(short) > 0 {
		s = strings.Join(short, ", ") + ", "
	}
	s += strings.Join(long, ", ")
	if t := flagType(f); t != "" {
		s += " " + t
	}
	return s
}

// flagType names a flag's value the way Docker's help does.
func flagType(f cli.Flag) string {
	switch f.Names()[0] {
	case "filter":
		return "filter"
	}
	switch f.(type) {
	case *cli.BoolFlag:
		return ""
	case *cli.StringSliceFlag:
		return "list"
	case *cli.IntFlag, *cli.Int64Flag:
		return "int"
	case *cli.UintFlag, *cli.Uint64Flag:
		return "uint"
	case *cli.DurationFlag:
		return "duration"
	}
	return "string"
}

func flagUsage(f cli.Flag) string {
	df, ok := f.(cli.DocGenerationFlag)
	if !ok {
		return ""
	}
	u := df.GetUsage()
	if _, isBool := f.(*cli.BoolFlag); !isBool {
		if d := df.GetDefaultText(); d != "" && d != "0" && d != "0s" {
			u += fmt.Sprintf(" (default %s)", d)
		}
	}
	if env := df.GetEnvVars(); len(env) > 0 {
		u += " [$" + strings.Join(env, ", $") + "]"
	}
	if rf, ok := f.(cli.RequiredFlag); ok && rf.IsRequired() {
		u += " (required)"
	}
	return u
}

// buildVersion describes this binary from its build info: the module
// version and, when built from a checkout, the VCS revision and time.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	return v
}

func printVersion(w io.Writer) {
	fmt.Fprintf(w, "vault version %s\n", buildVersion())
	rev, when, modified := "unknown (built without VCS information)", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if modified {
		rev += " (modified)"
	}
	fmt.Fprintf(w, " revision:   %s\n", rev)
	if when != "" {
		fmt.Fprintf(w, " commit time: %s\n", when)
	}
	fmt.Fprintf(w, " go version: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "show the version of this binary (module version and VCS revision)",
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usagef("", "version takes no arguments")
			}
			printVersion(os.Stdout)
			return nil
		},
	}
}

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh or fish)",
		ArgsUsage: "bash|zsh|fish",
		Description: "bash:  source <(vault completion bash)\n" +
			"zsh:   vault completion zsh > \"${fpath[1]}/_vault\"\n" +
			"fish:  vault completion fish > ~/.config/fish/completions/vault.fish",
		Action: func(c *cli.Context) error {
			if c.Args().Len() != 1 {
				return usagef("", "name the shell: bash, zsh or fish")
			}
			switch sh := c.Args().First(); sh {
			case "bash":
				fmt.Print(bashCompletion(c.App))
			case "zsh":
				fmt.Print(zshCompletion(c.App))
			case "fish":
				s, err := oneLineUsages(newApp()).ToFishCompletion()
				if err != nil {
					return err
				}
				fmt.Print(s)
			default:
				return usagef("", "no completion for %q: want bash, zsh or fish", sh)
			}
			return nil
		},
	}
}

// completionTree lists, for every command path ("", "secret", "secret
// ls"), the words that may follow it: subcommands and flags.
func completionTree(app *cli.App) map[string][]string {
	tree := map[string][]string{}
	var walk func(path string, cmds []*cli.Command, flags []cli.Flag)
	walk = func(path string, cmds []*cli.Command, flags []cli.Flag) {
		var words []string
		for _, c := range cmds {
			if c.Hidden {
				continue
			}
			words = append(words, c.Name)
			p := strings.TrimSpace(path + " " + c.Name)
			walk(p, c.Subcommands, c.Flags)
		}
		for _, f := range flags {
			if vf, ok := f.(cli.VisibleFlag); ok && !vf.IsVisible() {
				continue
			}
			for _, n := range f.Names() {
				if len(n) == 1 {
					words = append(words, "-"+n)
				} else {
					words = append(words, "--"+n)
				}
			}
		}
		if !slices.Contains(words, "--help") {
			words = append(words, "--help")
		}
		tree[path] = words
	}
	walk("", app.Commands, app.Flags)
	return tree
}

func bashCompletion(app *cli.App) string {
	tree := completionTree(app)
	var paths []string
	for p := range tree {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var b strings.Builder
	b.WriteString("# bash completion for vault; generated by `vault completion bash`\n")
	b.WriteString("_vault() {\n")
	b.WriteString("    local cur path w i\n")
	b.WriteString("    cur=\"${COMP_WORDS[COMP_CWORD]}\"\n")
	b.WriteString("    path=\"\"\n")
	b.WriteString("    for ((i = 1; i < COMP_CWORD; i++)); do\n")
	b.WriteString("        w=\"${COMP_WORDS[i]}\"\n")
	b.WriteString("        case \"$w\" in -*) continue ;; esac\n")
	b.WriteString("        if _vault_words \"${path# }\" | grep -qx -- \"$w\"; then path=\"$path $w\"; fi\n")
	b.WriteString("    done\n")
	b.WriteString("    COMPREPLY=($(compgen -W \"$(_vault_words \"${path# }\")\" -- \"$cur\"))\n")
	b.WriteString("    if [ ${#COMPREPLY[@]} -eq 0 ]; then COMPREPLY=($(compgen -f -- \"$cur\")); fi\n")
	b.WriteString("}\n")
	b.WriteString("_vault_words() {\n")
	b.WriteString("    case \"$1\" in\n")
	for _, p := range paths {
		fmt.Fprintf(&b, "    %q) printf '%%s\\n' %s ;;\n", p, strings.Join(tree[p], " "))
	}
	b.WriteString("    esac\n")
	b.WriteString("}\n")
	b.WriteString("complete -o default -F _vault vault\n")
	return b.String()
}

// zshCompletion runs the bash completion through zsh's bashcompinit.
func zshCompletion(app *cli.App) string {
	return "#compdef vault\n# zsh completion for vault; generated by `vault completion zsh`\n" +
		"autoload -U +X bashcompinit && bashcompinit\n" + bashCompletion(app)
}

// oneLineUsages cuts every flag's usage to its first line, for formats
// that take one line (fish's descriptions).
func oneLineUsages(app *cli.App) *cli.App {
	var walk func([]*cli.Command)
	cut := func(flags []cli.Flag) {
		for _, f := range flags {
			if sf, ok := f.(*cli.StringFlag); ok {
				sf.Usage, _, _ = strings.Cut(sf.Usage, "\n")
			}
		}
	}
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			cut(c.Flags)
			walk(c.Subcommands)
		}
	}
	cut(app.Flags)
	walk(app.Commands)
	return app
}

func manCommand() *cli.Command {
	return &cli.Command{
		Name:   "man",
		Usage:  "write the vault(1) man page, generated from the command tree",
		Hidden: true,
		Flags:  []cli.Flag{&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write DIR/vault.1 instead of printing it"}},
		Action: func(c *cli.Context) error {
			page, err := c.App.ToManWithSection(1)
			if err != nil {
				return err
			}
			dir := c.String("output")
			if dir == "" {
				fmt.Print(page)
				return nil
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			p := filepath.Join(dir, "vault.1")
			if err := os.WriteFile(p, []byte(page), 0o644); err != nil {
				return err
			}
			fmt.Println(p)
			return nil
		},
	}
}
