package main

import (
	"fmt"
	"slices"
	"strings"
)

// filters are an ls's --filter KEY=VALUE flags, with Docker's meaning:
// values of different keys must all match; several values of one key match
// if any does, except label, where every label given must be present (as
// `docker secret ls --filter label=a --filter label=b`).
type filters map[string][]string

// parseFilters parses --filter flags, refusing keys the command does not
// filter by.
func parseFilters(in []string, keys ...string) (filters, error) {
	f := filters{}
	for _, s := range in {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, usagef(fmt.Sprintf("a filter looks like --filter %s=VALUE", keys[0]), "bad filter %q: want KEY=VALUE", s)
		}
		if !slices.Contains(keys, k) {
			return nil, usagef(fmt.Sprintf("%s filters by %s", commandPath, strings.Join(keys, ", ")), "invalid filter %q", k)
		}
		f[k] = append(f[k], v)
	}
	return f, nil
}

// any reports whether some value of key matches, or none is given.
func (f filters) any(key string, match func(v string) bool) bool {
	vs, ok := f[key]
	return !ok || slices.ContainsFunc(vs, match)
}

// labels reports whether every label=K or label=K=V filter matches.
func (f filters) labels(l map[string]string) bool {
	for _, v := range f["label"] {
		k, want, hasValue := strings.Cut(v, "=")
		got, ok := l[k]
		if !ok || hasValue && got != want {
			return false
		}
	}
	return true
}

// filterRows keeps the rows that match.
func filterRows[T any](rows []T, keep func(T) bool) []T {
	var out []T
	for _, r := range rows {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}
