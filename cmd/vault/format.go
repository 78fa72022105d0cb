package main

import (
	"encoding/json"
	"fmt"
	"os"

	"text/tabwriter"
	"text/template"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/vaultd/vault/api"
)

func formatFlag() cli.Flag {
	return &cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "table, json, or a Go template such as '{{.Name}}'"}
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "    ")
	return enc.Encode(v)
}

func parseTemplate(f string) (*template.Template, error) {
	t, err := template.New("format").Funcs(template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
	}).Parse(f)
	if err != nil {
		return nil, usagef("a template looks like '{{.Name}} {{.ID}}'", "bad --format: %v", err)
	}
	return t, nil
}

// printFormatted prints v as JSON or through a template.
func printFormatted(f string, v any) error {
	if f == "json" {
		return printJSON(v)
	}
	t, err := parseTemplate(f)
	if err != nil {
		return err
	}
	if err := t.Execute(os.Stdout, v); err != nil {
		return err
	}
	fmt.Println()
	return nil
}

// printFormattedEach prints a list as one JSON document, or one template
// line per element.
func printFormattedEach[T any](f string, list []T) error {
	if f == "json" {
		return printJSON(list)
	}
	t, err := parseTemplate(f)
	if err != nil {
		return err
	}
	for _, v := range list {
		if err := t.Execute(os.Stdout, v); err != nil {
			return err
		}
		fmt.Println()
	}
	return nil
}

func printSecretTable(list []api.Secret) error {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tVERSION\tCREATED\tUPDATED")
	for _, s := range list {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", s.ID, s.Name, s.Version, ago(s.CreatedAt), ago(s.UpdatedAt))
	}
	return w.Flush()
}

func ago(t time.Time) string {
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
