package metrics

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ReadyBody is the JSON body of /readyz and /healthz.
type ReadyBody struct {
	Ready   bool     `json:"ready"`
	Reasons []string `json:"reasons,omitempty"`
}

// Handler serves the metrics listener (`vault daemon --metrics-addr`):
//
//   - GET /metrics: every metric, in the format the scraper asks for;
//   - GET /healthz: 200 while the process serves HTTP at all;
//   - GET /readyz: 200 if r says ready, else 503; the JSON body
//     (ReadyBody) says why not.
//
// It serves nothing secret: no route takes a name or returns a value.
func Handler(m *Metrics, r Readiness) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Gatherer(), promhttp.HandlerOpts{
		// A Dragonboat metric that fails to parse is left out, not the
		// whole scrape.
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, ReadyBody{Ready: true})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, why := r.Readiness()
		code := http.StatusOK
		if !ok {
			code = http.StatusServiceUnavailable
			if len(why) == 0 {
				why = []string{"not ready"}
			}
		}
		writeJSON(w, code, ReadyBody{Ready: ok, Reasons: why})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
