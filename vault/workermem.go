package vault

import "golang.org/x/sys/unix"

// heldBuffer holds a delivered secret's bytes on a worker outside the Go
// heap, as the mount buffers of package fuse do: an anonymous private
// mapping, locked into RAM where the kernel allows it and left out of core
// dumps. wipe zeroes and unmaps it.
type heldBuffer struct {
	mem    []byte
	n      int
	mapped bool
}

func newHeldBuffer(data []byte) (b heldBuffer, locked bool) {
	if len(data) == 0 {
		return heldBuffer{}, true
	}
	page := unix.Getpagesize()
	size := (len(data) + page - 1) / page * page
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		mem = make([]byte, len(data))
		copy(mem, data)
		return heldBuffer{mem: mem, n: len(data)}, false
	}
	_ = unix.Madvise(mem, unix.MADV_DONTDUMP)
	locked = unix.Mlock(mem) == nil // ENOMEM (RLIMIT_MEMLOCK) or EPERM: held anyway, unlocked
	copy(mem, data)
	return heldBuffer{mem: mem, n: len(data), mapped: true}, locked
}

// copyOut returns a heap copy for one mount or exec; the caller wipes it.
func (b *heldBuffer) copyOut() []byte {
	out := make([]byte, b.n)
	copy(out, b.mem[:b.n])
	return out
}

func (b *heldBuffer) wipe() {
	if b.mem != nil {
		clear(b.mem)
		if b.mapped {
			_ = unix.Munlock(b.mem)
			_ = unix.Munmap(b.mem)
		}
	}
	*b = heldBuffer{}
}
