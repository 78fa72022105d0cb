package metrics

import (
	"errors"
	"testing"
	"time"
)

// BenchmarkCalls measures what the typed calls on a request's path cost.
func BenchmarkCalls(b *testing.B) {
	m := New(Options{Routes: testRoutes, NoProcess: true, NoDragonboat: true})
	errTimeout := errors.New("timeout")
	calls := []struct {
		name string
		call func()
	}{
		{"RequestDone", func() { m.RequestDone("POST /v1/secrets", 201, time.Millisecond) }},
		{"RequestDoneOther", func() { m.RequestDone("GET /v1/secrets/db", 200, time.Millisecond) }},
		{"Proposal", func() { m.ProposalStarted(3); m.ProposalDone(3, nil) }},
		{"ProposalFailed", func() { m.ProposalStarted(3); m.ProposalDone(3, errTimeout) }},
		{"Applied", func() { m.Applied(3, 1, time.Millisecond) }},
		{"Sealed", func() { m.Sealed(2) }},
		{"Nil", func() { (*Metrics)(nil).RequestDone("POST /v1/secrets", 201, time.Millisecond) }},
	}
	for _, c := range calls {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.call()
			}
		})
	}
}

// BenchmarkScrape measures one /metrics exposition of a populated registry.
func BenchmarkScrape(b *testing.B) {
	m := New(Options{Routes: testRoutes, Collector: &fakeState{runningState()}})
	populate(m)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Gatherer().Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
