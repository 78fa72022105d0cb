package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"text/template"
	"text/template/parse"
	"time"
	"unicode"

	"github.com/urfave/cli/v2"
)

// Output follows `docker`'s --format:
//
//	(none), table   the command's default table
//	table TEMPLATE  a table: one column per tab ("\t" in the template), the
//	                header derived from each column's first field
//	json            the objects as JSON (a list for ls and inspect)
//	TEMPLATE        a Go template, executed once per object
//
// Tables shorten ids to 12 characters unless --no-trunc; templates and JSON
// always carry the full id.

// shortID is how many characters of an id a table shows.
const shortID = 12

func formatFlag(fields string) cli.Flag {
	return &cli.StringFlag{Name: "format", Usage: "format the output:\n" +
		"'table':           a table with column headers (the default)\n" +
		"'table TEMPLATE':  a table of the given Go template's columns (\\t between them)\n" +
		"'json':            JSON\n" +
		"'TEMPLATE':        the given Go template, once per object\n" +
		"fields: " + fields + "\n" +
		"see docs/cli.md"}
}

// objectFormatFlag is --format of a command that prints one object.
func objectFormatFlag(fields string) cli.Flag {
	return &cli.StringFlag{Name: "format", Usage: "format the output: 'json', or a Go template (fields: " + fields + ")"}
}

// listFlags are the flags of every ls: --filter, --format, --quiet,
// --no-trunc.
func listFlags(fields, filterKeys string) []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"}, Usage: "filter the output: " + filterKeys + " (repeatable)"},
		formatFlag(fields),
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only print ids"},
		&cli.BoolFlag{Name: "no-trunc", Usage: "do not shorten ids in tables"},
	}
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "    ")
	return enc.Encode(v)
}

// templateFuncs are the helpers Docker's templates offer.
var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"join":  strings.Join,
	"split": strings.Split,
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"title": func(s string) string {
		prev := ' '
		return strings.Map(func(r rune) rune {
			if unicode.IsSpace(prev) {
				r = unicode.ToUpper(r)
			}
			prev = r
			return r
		}, s)
	},
	"pad": func(s string, prefix, suffix int) string {
		return strings.Repeat(" ", prefix) + s + strings.Repeat(" ", suffix)
	},
	"truncate": func(s string, n int) string {
		if r := []rune(s); len(r) > n {
			return string(r[:n])
		}
		return s
	},
}

func parseTemplate(f string) (*template.Template, error) {
	t, err := template.New("format").Funcs(templateFuncs).Option("missingkey=zero").Parse(f)
	if err != nil {
		return nil, usagef("a template looks like '{{.Name}} {{.ID}}', a table like 'table {{.ID}}\\t{{.Name}}'", "bad --format: %v", err)
	}
	return t, nil
}

// unescape turns the two characters \t and \n of a shell-quoted template
// into a tab and a newline, as Docker does.
func unescape(f string) string {
	return strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(f)
}

// tableFormat reports whether f asks for a table, and its template ("" for
// the command's default).
func tableFormat(f string) (tmpl string, ok bool) {
	if f == "" || f == "table" {
		return "", true
	}
	if t, ok := strings.CutPrefix(f, "table "); ok {
		return unescape(strings.TrimSpace(t)), true
	}
	return "", false
}

// list says how an ls prints its rows.
type list[T any] struct {
	table string          // the default table's template, without "table "
	quiet func(T) string  // the id -q prints
	trunc func(T, int) T  // shortens the row's id for a table
	json  func([]T) any   // what json prints, if not the rows
	fmt   func([]T) error // the default table, if not a template
}

// print prints rows as the --format, --quiet and --no-trunc flags ask.
func (l list[T]) print(c *cli.Context, rows []T) error {
	if c.Bool("quiet") {
		for _, r := range rows {
			fmt.Println(l.quiet(r))
		}
		return nil
	}
	return l.printFormat(c, c.String("format"), rows)
}

func (l list[T]) printFormat(c *cli.Context, f string, rows []T) error {
	if f == "json" {
		if l.json != nil {
			return printJSON(l.json(rows))
		}
		return printJSON(rows)
	}
	tmpl, isTable := tableFormat(f)
	if !isTable {
		return executeEach(os.Stdout, unescape(f), rows)
	}
	if l.trunc != nil && !c.Bool("no-trunc") {
		short := make([]T, len(rows))
		for i, r := range rows {
			short[i] = l.trunc(r, shortID)
		}
		rows = short
	}
	if tmpl == "" {
		tmpl = l.table
	}
	return writeTable(os.Stdout, tmpl, rows)
}

// executeEach executes a template once per row, a line each.
func executeEach[T any](w io.Writer, f string, rows []T) error {
	t, err := parseTemplate(f)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := t.Execute(w, r); err != nil {
			return templateError(err)
		}
		fmt.Fprintln(w)
	}
	return nil
}

// writeTable writes rows through a tab-separated template, under a header
// derived from each column's first field.
func writeTable[T any](w io.Writer, tmpl string, rows []T) error {
	t, err := parseTemplate(tmpl)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, tableHeader(tmpl))
	for _, r := range rows {
		var b bytes.Buffer
		if err := t.Execute(&b, r); err != nil {
			return templateError(err)
		}
		fmt.Fprintln(tw, b.String())
	}
	return tw.Flush()
}

// templateError keeps what a template failure says about the field and
// drops text/template's location prefix.
func templateError(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "can't evaluate field "); i >= 0 {
		msg = msg[i:]
	} else if i := strings.Index(msg, "error calling "); i >= 0 {
		msg = msg[i:]
	}
	return usagef(fmt.Sprintf("`%s --help` lists the fields", commandPath), "bad --format: %s", msg)
}

// tableHeader names each tab-separated column of a template after the
// first field it uses: {{.Spec.Name}} is NAME, {{.CreatedAt}} CREATED AT.
func tableHeader(tmpl string) string {
	cols := strings.Split(tmpl, "\t")
	for i, col := range cols {
		cols[i] = ""
		t, err := template.New("h").Funcs(templateFuncs).Parse(col)
		if err != nil || t.Tree == nil {
			continue
		}
		if f := firstField(t.Tree.Root); f != "" {
			cols[i] = headerName(f)
		}
	}
	return strings.Join(cols, "\t")
}

func firstField(n parse.Node) string {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return ""
		}
		for _, c := range n.Nodes {
			if f := firstField(c); f != "" {
				return f
			}
		}
	case *parse.ActionNode:
		return firstField(n.Pipe)
	case *parse.PipeNode:
		if n == nil {
			return ""
		}
		for _, c := range n.Cmds {
			for _, a := range c.Args {
				if f := firstField(a); f != "" {
					return f
				}
			}
		}
	case *parse.FieldNode:
		return n.Ident[len(n.Ident)-1]
	case *parse.ChainNode:
		if len(n.Field) > 0 {
			return n.Field[len(n.Field)-1]
		}
		return firstField(n.Node)
	case *parse.IfNode:
		return firstField(n.Pipe)
	case *parse.RangeNode:
		return firstField(n.Pipe)
	case *parse.WithNode:
		return firstField(n.Pipe)
	}
	return ""
}

// headerNames are the column titles Docker gives these fields.
var headerNames = map[string]string{
	"ID":           "ID",
	"APIAddr":      "API ADDRESS",
	"Addr":         "ADDRESS",
	"CreatedSince": "CREATED",
	"UpdatedSince": "UPDATED",
	"Leads":        "LEADS",
	"Where":        "MOUNTPOINT",
	"Names":        "SECRETS",
}

// headerName is a field's column title: CreatedAt is CREATED AT.
func headerName(field string) string {
	if h, ok := headerNames[field]; ok {
		return h
	}
	var b strings.Builder
	rs := []rune(field)
	for i, r := range rs {
		if i > 0 && unicode.IsUpper(r) && (unicode.IsLower(rs[i-1]) || i+1 < len(rs) && unicode.IsLower(rs[i+1])) {
			b.WriteByte(' ')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// truncate shortens an id for a table.
func truncate(id string, n int) string {
	if len(id) > n {
		return id[:n]
	}
	return id
}

func ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "less than a minute ago"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	}
	return plural(int(d/(24*time.Hour)), "day") + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// printFormatted prints one object (status, key status) as JSON or
// through a template; "table" and "" are the caller's own view.
func printFormatted(f string, v any) error {
	if f == "json" {
		return printJSON(v)
	}
	if _, isTable := tableFormat(f); isTable {
		return usagef(fmt.Sprintf("`%s --format json` prints every field", commandPath), "--format %q: this command prints one object, not a table", f)
	}
	return executeEach(os.Stdout, unescape(f), []any{v})
}
