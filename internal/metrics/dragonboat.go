package metrics

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"
)

// textGatherer gathers metrics written in Prometheus text format by
// another library: Dragonboat registers its metrics in VictoriaMetrics'
// process-wide set and writes them without # TYPE or # HELP lines. They
// are parsed here and given a type (counter for names ending in _total,
// gauge otherwise, which is how Dragonboat makes them) and a help line, so
// that /metrics is one exposition in any format a scraper asks for and
// passes promtool check metrics.
type textGatherer func(io.Writer)

func (t textGatherer) Gather() ([]*dto.MetricFamily, error) {
	var buf bytes.Buffer
	t(&buf)
	if buf.Len() == 0 {
		return nil, nil
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(&buf)
	if err != nil {
		return nil, fmt.Errorf("dragonboat metrics: %w", err)
	}
	names := make([]string, 0, len(fams))
	for name := range fams {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]*dto.MetricFamily, 0, len(fams))
	for _, name := range names {
		f := fams[name]
		typ := dto.MetricType_GAUGE
		if strings.HasSuffix(name, "_total") {
			typ = dto.MetricType_COUNTER
		}
		if f.GetType() == dto.MetricType_UNTYPED {
			f.Type = typ.Enum()
			for _, m := range f.Metric {
				v := m.GetUntyped().GetValue()
				m.Untyped = nil
				if typ == dto.MetricType_COUNTER {
					m.Counter = &dto.Counter{Value: proto.Float64(v)}
				} else {
					m.Gauge = &dto.Gauge{Value: proto.Float64(v)}
				}
			}
		}
		if f.GetHelp() == "" {
			f.Help = proto.String("Dragonboat's own metric (see docs/monitoring.md).")
		}
		out = append(out, f)
	}
	return out, nil
}

var _ prometheus.Gatherer = textGatherer(nil)
