// Copyright 2017-2021 Lei Ni (nilei81@gmail.com) and other contributors.
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
//     http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

package transport

// vault patch (PATCHES.md, "A restarted peer is redialled within 250 ms"):
// the circuit breaker of netutil.NewBreaker, with a shorter back-off.

import (
	"time"

	"github.com/lni/goutils/netutil/cenk/backoff"
	"github.com/lni/goutils/netutil/facebookgo/clock"
	circuit "github.com/lni/goutils/netutil/rubyist/circuitbreaker"
)

const (
	breakerInitialBackoff = 50 * time.Millisecond
	breakerMaxBackoff     = 250 * time.Millisecond
)

type breakerClock struct{}

func (c *breakerClock) After(d time.Duration) <-chan time.Time {
	return time.After(d)
}

func (c *breakerClock) AfterFunc(d time.Duration, f func()) *clock.Timer {
	panic("unimplemented")
}

func (c *breakerClock) Now() time.Time {
	return time.Now()
}

func (c *breakerClock) Sleep(d time.Duration) {
	panic("unimplemented")
}

func (c *breakerClock) Tick(d time.Duration) <-chan time.Time {
	panic("unimplemented")
}

func (c *breakerClock) Ticker(d time.Duration) *clock.Ticker {
	panic("unimplemented")
}

func (c *breakerClock) Timer(d time.Duration) *clock.Timer {
	panic("unimplemented")
}

func newBreaker() *circuit.Breaker {
	clock := &breakerClock{}
	b := &backoff.ExponentialBackOff{
		InitialInterval:     breakerInitialBackoff,
		RandomizationFactor: 0.5,
		Multiplier:          1.5,
		MaxInterval:         breakerMaxBackoff,
		MaxElapsedTime:      0,
		Clock:               clock,
	}
	b.Reset()
	return circuit.NewBreakerWithOptions(&circuit.Options{
		BackOff:    b,
		Clock:      clock,
		ShouldTrip: circuit.ThresholdTripFunc(1),
	})
}
