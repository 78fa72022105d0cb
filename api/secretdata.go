package api

import (
	"net/url"
	"sort"
	"strings"
)

// ContentTypeData is the content type of a request whose body is a
// secret's data (see "Secret data" in the package doc).
const ContentTypeData = "application/octet-stream"

// SecretQuery is the query of POST /v1/secrets: the name, and each label
// as label=KEY=VALUE. A label key holding '=' cannot be sent.
func SecretQuery(name string, labels map[string]string) (url.Values, error) {
	q := url.Values{"name": {name}}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		if strings.Contains(k, "=") {
			return nil, Errorf(CodeInvalid, "label key %q holds '=': a key is the text before the first '='", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		q.Add("label", k+"="+labels[k])
	}
	return q, nil
}

// ParseSecretQuery reads what SecretQuery wrote: the name (exactly once)
// and the labels (nil when none). Any other parameter is refused.
func ParseSecretQuery(q url.Values) (name string, labels map[string]string, err error) {
	for k := range q {
		if k != "name" && k != "label" {
			return "", nil, Errorf(CodeInvalid, "unknown query parameter %q: a secret's spec is name=NAME and label=KEY=VALUE", k)
		}
	}
	if len(q["name"]) != 1 {
		return "", nil, Errorf(CodeInvalid, "give the secret's name once, as ?name=NAME (got %d)", len(q["name"]))
	}
	for _, kv := range q["label"] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return "", nil, Errorf(CodeInvalid, "label %q is not KEY=VALUE", kv)
		}
		if _, dup := labels[k]; dup {
			return "", nil, Errorf(CodeInvalid, "label %q is given twice", k)
		}
		if labels == nil {
			labels = map[string]string{}
		}
		labels[k] = v
	}
	return q["name"][0], labels, nil
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
