package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// urfave/cli stops parsing flags at a command's first argument and refuses
// two spellings of one flag (`--label a=b -l c=d`). Docker users put flags
// anywhere and mix spellings, so normalizeArgs rewrites the command line
// before urfave/cli sees it, from the command tree alone:
//
//   - the command's flags move ahead of its arguments, each with its value
//     (a flag takes a value unless it is a boolean);
//   - every spelling of a flag becomes its first name (`-l` → `--label`);
//   - a global flag (`--socket`) given after the command moves before it;
//   - `--` ends the flags: what follows stays arguments, in place;
//   - `-` alone is an argument (stdin);
//   - a command whose arguments are a command line of their own (`exec`)
//     takes no flags after its first argument, as `docker run` does;
//   - a command the tree does not have is refused with a suggestion.
//
// It also returns the full path of the command run ("vault secret ls"), for
// hints.

// argsAreCommand names the commands whose first argument starts a command
// line to run: nothing after it is theirs.
var argsAreCommand = map[string]bool{"vault exec": true}

// normalizedArgs is a command line rewritten for urfave/cli.
type normalizedArgs struct {
	argv []string
	path string // "vault secret ls"
	cmd  *cli.Command
}

func normalizeArgs(app *cli.App, argv []string) (normalizedArgs, error) {
	n := normalizedArgs{path: app.Name}
	if len(argv) == 0 {
		return n, nil
	}
	appFlags := append(slices.Clone(app.Flags), cli.HelpFlag, cli.VersionFlag)
	var global, names []string
	rest := argv[1:]
	// Global flags before the command.
	for len(rest) > 0 && isFlag(rest[0]) {
		if rest[0] == "--" {
			rest = rest[1:]
			break
		}
		consumed := takeFlag(appFlags, rest, &global)
		rest = rest[consumed:]
	}
	cmds := app.Commands
	var cmd *cli.Command
	for len(rest) > 0 {
		word := rest[0]
		if word == "help" && cmd == nil {
			// `vault help secret ls` is `vault secret ls --help`.
			m, err := normalizeArgs(app, append([]string{argv[0]}, append(rest[1:], "--help")...))
			if err != nil {
				return n, err
			}
			m.argv = append([]string{argv[0]}, append(global, m.argv[1:]...)...)
			return m, nil
		}
		sub := findCommand(cmds, word)
		if sub == nil {
			if cmd != nil && cmd.Action != nil {
				break // an argument of a command that also has subcommands (mount)
			}
			return n, unknownCommand(app, n.path, cmds, word)
		}
		cmd = sub
		names = append(names, word)
		n.path += " " + sub.Name
		rest = rest[1:]
		if sub.SkipFlagParsing || len(sub.Subcommands) == 0 {
			break
		}
		// A group: its own flags may come before the subcommand's name.
		var own []string
		for len(rest) > 0 && isFlag(rest[0]) && rest[0] != "--" {
			consumed := takeFlag(sub.Flags, rest, &own)
			rest = rest[consumed:]
		}
		names = append(names, own...)
		cmds = sub.Subcommands
	}
	n.cmd = cmd
	out := append([]string{argv[0]}, global...)
	out = append(out, names...)
	if cmd == nil || cmd.SkipFlagParsing {
		n.argv = append(out, rest...)
		return n, nil
	}
	flags, args := reorder(cmd.Flags, appFlags, rest, argsAreCommand[n.path], &global)
	out = append([]string{argv[0]}, global...)
	out = append(out, names...)
	out = append(out, flags...)
	n.argv = append(out, args...)
	return n, nil
}

// reorder splits a command's words into flags (canonical names, values
// attached) and arguments. Global flags found among them are appended to
// global.
func reorder(flags, appFlags []cli.Flag, words []string, stopAtArg bool, global *[]string) (outFlags, args []string) {
	var after []string // after "--"
	dashdash := false
	for i := 0; i < len(words); {
		w := words[i]
		switch {
		case w == "--":
			dashdash = true
			after = words[i+1:]
			i = len(words)
		case !isFlag(w):
			if stopAtArg {
				args = append(args, words[i:]...)
				i = len(words)
				continue
			}
			args = append(args, w)
			i++
		default:
			name, _, _ := strings.Cut(strings.TrimLeft(w, "-"), "=")
			switch {
			case lookupFlag(flags, name) != nil || name == "help" || name == "h":
				i += takeFlag(append(slices.Clone(flags), cli.HelpFlag), words[i:], &outFlags)
			case lookupFlag(appFlags, name) != nil:
				i += takeFlag(appFlags, words[i:], global)
			default:
				// Unknown: left for urfave/cli to refuse by name.
				outFlags = append(outFlags, w)
				i++
			}
		}
	}
	if dashdash {
		args = append(append([]string{"--"}, args...), after...)
	} else if slices.ContainsFunc(args, func(a string) bool { return a != "-" && strings.HasPrefix(a, "-") }) {
		args = append([]string{"--"}, args...)
	}
	return outFlags, args
}

// isFlag reports whether a word is a flag (or "--"); "-" alone is stdin.
func isFlag(w string) bool {
	return len(w) > 1 && w[0] == '-'
}

// takeFlag appends the flag at words[0], under its first name and with its
// value, to out, and returns how many words it used.
func takeFlag(flags []cli.Flag, words []string, out *[]string) int {
	w := words[0]
	name, value, hasValue := strings.Cut(strings.TrimLeft(w, "-"), "=")
	f := lookupFlag(flags, name)
	if f == nil {
		*out = append(*out, w)
		return 1
	}
	canon := "--" + f.Names()[0]
	switch {
	case hasValue:
		*out = append(*out, canon+"="+value)
		return 1
	case !takesValue(f) || len(words) == 1:
		*out = append(*out, canon)
		return 1
	}
	*out = append(*out, canon, words[1])
	return 2
}

func lookupFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		if f != nil && slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

// takesValue reports whether a flag reads the word after it.
func takesValue(f cli.Flag) bool {
	if dv, ok := f.(cli.DocGenerationFlag); ok {
		return dv.TakesValue()
	}
	return true
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// unknownCommand refuses a command word, suggesting the nearest command:
// at this level first, then anywhere in the tree.
func unknownCommand(app *cli.App, path string, cmds []*cli.Command, word string) error {
	hint := fmt.Sprintf("`%s --help` lists the commands", path)
	if s := suggest(word, cmds, ""); s != "" {
		hint = fmt.Sprintf("did you mean %q?\n%s", s, hint)
	} else if s := suggestDeep(word, app.Commands, app.Name); s != "" {
		hint = fmt.Sprintf("did you mean %q?\n%s", s, hint)
	}
	if isFlag(word) {
		return usagef(hint, "unknown flag %s for %q", word, path)
	}
	return usagef(hint, "unknown command %q for %q", word, path)
}

// suggest returns the visible command name nearest to word, if near enough.
func suggest(word string, cmds []*cli.Command, prefix string) string {
	best, bestD := "", 3
	for _, c := range cmds {
		if c.Hidden {
			continue
		}
		for _, name := range c.Names() {
			d := levenshtein(strings.ToLower(word), name)
			if len(word) >= 2 && strings.HasPrefix(name, word) {
				d = min(d, 1)
			}
			if d < bestD {
				best, bestD = prefix+c.Name, d
			}
		}
	}
	return best
}

// suggestDeep looks for word among the subcommands of every command,
// nearest level first: `vault crate` suggests "vault secret create" (not
// "vault cluster client create").
func suggestDeep(word string, cmds []*cli.Command, path string) string {
	for _, c := range cmds {
		if c.Hidden || len(c.Subcommands) == 0 {
			continue
		}
		if s := suggest(word, c.Subcommands, path+" "+c.Name+" "); s != "" {
			return s
		}
	}
	for _, c := range cmds {
		if c.Hidden || len(c.Subcommands) == 0 {
			continue
		}
		if s := suggestDeep(word, c.Subcommands, path+" "+c.Name); s != "" {
			return s
		}
	}
	return ""
}

// levenshtein is the edit distance between a and b.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
