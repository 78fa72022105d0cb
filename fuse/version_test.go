//go:build linux

package fuse

import (
	"bytes"
	"syscall"
	"testing"
)

func TestBuffer(t *testing.T) {
	var c counters
	for _, size := range []int{0, 1, 4095, 4096, 4097, 100_000} {
		data := bytes.Repeat([]byte{0x42}, size)
		b := newBuffer(data, &c)
		if !bytes.Equal(b.bytes(), data) {
			t.Fatalf("size %d: content differs", size)
		}
		clear(data)
		if size > 0 && b.bytes()[0] != 0x42 {
			t.Fatalf("size %d: buffer shares memory with the caller", size)
		}
		if size > 0 && !b.mapped {
			t.Errorf("size %d: not in a private mapping", size)
		}
		if c.live.Load() != 1 {
			t.Fatalf("live = %d, want 1", c.live.Load())
		}
		b.wipe(&c)
		if b.mem != nil || b.n != 0 || c.live.Load() != 0 {
			t.Fatalf("size %d: after wipe: %d bytes, live %d", size, len(b.mem), c.live.Load())
		}
	}
	t.Logf("mlock failures: %d", c.mlockFailures.Load())
}

func TestVersionLifecycle(t *testing.T) {
	newV := func(c *counters) *version {
		return newVersion(&file{name: "f", mode: 0o400}, 1, newBuffer([]byte("0123456789"), c), c)
	}
	t.Run("read ranges", func(t *testing.T) {
		var c counters
		v := newV(&c)
		for _, tt := range []struct {
			off  int64
			n    int
			want string
		}{{0, 4, "0123"}, {8, 100, "89"}, {10, 5, ""}, {50, 5, ""}, {0, 0, ""}, {-1, 4, ""}} {
			got, errno := v.acquire(tt.off, tt.n)
			if errno != 0 || string(got) != tt.want {
				t.Errorf("acquire(%d, %d) = %q, %v; want %q", tt.off, tt.n, got, errno, tt.want)
			}
			if got != nil {
				v.release()
			}
		}
		if v.inflight != 0 {
			t.Errorf("inflight = %d after balanced reads", v.inflight)
		}
	})
	t.Run("kill waits for replies in flight", func(t *testing.T) {
		var c counters
		v := newV(&c)
		data, _ := v.acquire(0, 10)
		v.kill()
		if _, errno := v.acquire(0, 10); errno != syscall.EACCES {
			t.Errorf("read after kill: %v, want EACCES", errno)
		}
		if string(data) != "0123456789" || c.live.Load() != 1 {
			t.Fatalf("buffer wiped under a reply in flight")
		}
		v.release()
		if c.live.Load() != 0 || !v.wiped {
			t.Errorf("buffer not wiped after the last reply")
		}
	})
	t.Run("retire", func(t *testing.T) {
		var c counters
		v := newV(&c)
		v.retire()
		if c.live.Load() != 0 {
			t.Errorf("retired version not wiped")
		}
		if _, errno := v.acquire(0, 1); errno != syscall.ESTALE {
			t.Errorf("read after retire: %v, want ESTALE", errno)
		}
	})
	t.Run("force wipe", func(t *testing.T) {
		var c counters
		v := newV(&c)
		v.acquire(0, 1)
		v.forceWipe()
		if c.live.Load() != 0 {
			t.Errorf("forceWipe left the buffer")
		}
	})
}
