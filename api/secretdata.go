package api

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// ContentTypeData is the content type of a request whose body is a
// secret's data (see "Secret data" in the package doc).
const ContentTypeData = "application/octet-stream"

// SecretQuery is the query of POST /v1/secrets for spec (its Data is not
// part of it): the name, each label as label=KEY=VALUE, and max-versions
// when not 0. A label key holding '=' cannot be sent.
func SecretQuery(spec *CreateSecretRequest) (url.Values, error) {
	q := url.Values{"name": {spec.Name}}
	keys := make([]string, 0, len(spec.Labels))
	for k := range spec.Labels {
		if strings.Contains(k, "=") {
			return nil, Errorf(CodeInvalid, "label key %q holds '=': a key is the text before the first '='", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		q.Add("label", k+"="+spec.Labels[k])
	}
	if spec.MaxVersions != 0 {
		q.Set("max-versions", strconv.Itoa(spec.MaxVersions))
	}
	return q, nil
}

// ParseSecretQuery reads what SecretQuery wrote: the name (exactly once),
// the labels (nil when none) and max-versions (at most once; its range is
// the daemon's to check). Any other parameter is refused. The result has
// no Data.
func ParseSecretQuery(q url.Values) (*CreateSecretRequest, error) {
	for k := range q {
		if k != "name" && k != "label" && k != "max-versions" {
			return nil, Errorf(CodeInvalid, "unknown query parameter %q: a secret's spec is name=NAME, label=KEY=VALUE and max-versions=N", k)
		}
	}
	if len(q["name"]) != 1 {
		return nil, Errorf(CodeInvalid, "give the secret's name once, as ?name=NAME (got %d)", len(q["name"]))
	}
	spec := &CreateSecretRequest{Name: q["name"][0]}
	for _, kv := range q["label"] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, Errorf(CodeInvalid, "label %q is not KEY=VALUE", kv)
		}
		if _, dup := spec.Labels[k]; dup {
			return nil, Errorf(CodeInvalid, "label %q is given twice", k)
		}
		if spec.Labels == nil {
			spec.Labels = map[string]string{}
		}
		spec.Labels[k] = v
	}
	if mv := q["max-versions"]; len(mv) > 0 {
		n, err := strconv.Atoi(mv[0])
		if len(mv) != 1 || err != nil || strconv.Itoa(n) != mv[0] {
			return nil, Errorf(CodeInvalid, "max-versions is %q: give it once, as a whole number", strings.Join(mv, ","))
		}
		spec.MaxVersions = n
	}
	return spec, nil
}

// CheckDataType checks the Content-Type of a request that carries a
// secret's data: it must be ContentTypeData (a JSON body is an older
// client's).
func CheckDataType(contentType string) error {
	if contentType != ContentTypeData {
		return Errorf(CodeInvalid, "a secret's data is the request body as it is, with Content-Type %s (got %q)", ContentTypeData, contentType).
			WithHint("use a vault command of the daemon's version")
	}
	return nil
}
