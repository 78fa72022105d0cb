package statedir

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Lock is the exclusive lock one daemon holds on its state dir.
type Lock struct {
	f *os.File
}

// Acquire takes the state dir's lock without waiting: another daemon
// holding it is an error.
func Acquire(dir string) (*Lock, error) {
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("state dir %s is in use by another vault daemon", dir)
	}
	return &Lock{f: f}, nil
}

// Release gives the lock up. It is safe on a nil Lock and to call twice.
func (l *Lock) Release() {
	if l == nil || l.f == nil {
		return
	}
	l.f.Close()
	l.f = nil
}
