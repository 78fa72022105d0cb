// Package mountkeep keeps the FUSE mounts of a vault daemon alive while no
// daemon runs: a small holder process keeps a descriptor of each mount's
// kernel connection (a clone of its own, see fuse.CloneFD), and hands them
// to the next daemon, which serves the same mounts again (fuse.Resume). A
// container that bind-mounted one never sees it go.
//
// # Protocol
//
// The holder listens on a Unix SOCK_SEQPACKET socket (mode 0600; peers of
// another user are refused) and serves one daemon at a time. Each message
// is one line of text, with a descriptor attached where said:
//
//	daemon → holder   HELLO                 holder stops answering requests (see below)
//	holder → daemon   BUSY                  instead of all else: another daemon is connected
//	holder → daemon   HELD ID MOUNTPOINT    + descriptor, once per mount held
//	holder → daemon   END
//	daemon → holder   HOLD ID MOUNTPOINT    + descriptor: keep this mount
//	daemon → holder   DROP ID               the mount ended
//
// HELD and HOLD go on with the names of the mount's files, one a line: the
// names anyone may list in the mount, which the holder and a locked daemon
// make the kernel forget before they refuse, so that no cached file stays
// readable. The holder keeps what it holds when the daemon goes away, and gives it to
// the next daemon that says HELLO. A mount unmounted meanwhile is dropped.
//
// # Invariants
//
//   - The holder never holds plaintext: only descriptors, mountpoints and
//     the file names a mount lists (targets; a volume's mountpoint names
//     the volume). Nothing of it is written to disk.
//   - Requests reaching a mount while no daemon is connected wait at most
//     [Config.Grace]; after that the holder answers them with EACCES, as a
//     locked mount does. A connecting daemon ends that before it is told
//     what is held, so no request it could answer is refused.
//   - With no daemon for [Config.KeepFor], the holder detaches every mount
//     it holds and exits: a stopped daemon's mounts go away in the end.
package mountkeep

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vaultd/vault/fuse"
)

// ErrProtocol means the other side sent something this package does not
// speak.
var ErrProtocol = errors.New("mountkeep: protocol error")

// Config configures a holder.
type Config struct {
	Socket  string        // the holder's socket path
	Grace   time.Duration // how long requests wait for a daemon before EACCES (0: 5s)
	KeepFor time.Duration // how long mounts are kept with no daemon (0: forever)
	Logger  *slog.Logger
}

// maxMessage bounds a message: a path and the file names of a mount.
const maxMessage = 64 << 10

type held struct {
	id, mountpoint string
	names          []string
	fd             int
	refuser        *fuse.Refuser
	stop           chan struct{} // closed when the mount is dropped
}

// Holder keeps mounts for a daemon. Run serves it.
type Holder struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	mounts    map[string]*held
	daemon    bool      // a daemon is connected
	lastSeen  time.Time // when the last daemon went
	refusing  bool
	graceTick *time.Timer
}

// NewHolder returns a holder that holds nothing yet.
func NewHolder(cfg Config) *Holder {
	if cfg.Grace == 0 {
		cfg.Grace = 5 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Holder{cfg: cfg, log: log, mounts: map[string]*held{}, lastSeen: time.Now()}
}

// Listen opens the holder's socket: one that answers belongs to a running
// holder (ErrRunning); a file left by a dead one is replaced.
func Listen(path string) (*net.UnixListener, error) {
	if c, err := net.DialTimeout("unixpacket", path, time.Second); err == nil {
		c.Close()
		return nil, ErrRunning
	}
	_ = os.Remove(path)
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("mountkeep: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("mountkeep: %w", err)
	}
	return l, nil
}

// ErrBusy means another daemon is connected to the holder.
var ErrBusy = errors.New("mountkeep: another daemon uses this holder (is one running with the same --socket?)")

// ErrRunning means a holder already serves the socket.
var ErrRunning = errors.New("mountkeep: a holder already serves this socket")

// Run serves daemons on l until KeepFor passes with no daemon and, if it
// held any, every mount was detached.
func (h *Holder) Run(l *net.UnixListener) error {
	defer l.Close()
	conns := make(chan *net.UnixConn)
	go func() {
		for {
			c, err := l.AcceptUnix()
			if err != nil {
				close(conns)
				return
			}
			conns <- c
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case c, ok := <-conns:
			if !ok {
				return nil
			}
			if !samePeer(c) {
				c.Close()
				continue
			}
			h.mu.Lock()
			busy := h.daemon
			h.daemon = true
			h.mu.Unlock()
			if busy { // one daemon at a time
				go refuseBusy(c)
				continue
			}
			go h.serve(c)
		case <-tick.C:
			if h.expired() {
				h.detachAll()
				return nil
			}
		}
	}
}

// refuseBusy answers a second daemon's HELLO with BUSY. Its HELLO is read
// first: a socket closed with unread data resets its peer, which would lose
// the answer.
func refuseBusy(c *net.UnixConn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, maxMessage)
	if _, err := c.Read(buf); err != nil {
		return
	}
	_, _ = c.Write([]byte("BUSY"))
}

func samePeer(c *net.UnixConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var cred *unix.Ucred
	_ = raw.Control(func(fd uintptr) {
		cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	return err == nil && cred != nil && int(cred.Uid) == os.Geteuid()
}

// expired reports whether the holder should give up: no daemon for KeepFor.
func (h *Holder) expired() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.daemon {
		return false
	}
	if h.cfg.KeepFor > 0 && time.Since(h.lastSeen) > h.cfg.KeepFor {
		return true
	}
	// Waiting with nothing to hold serves no one.
	return len(h.mounts) == 0 && time.Since(h.lastSeen) > h.cfg.Grace
}

// serve talks to one daemon until it goes.
func (h *Holder) serve(c *net.UnixConn) {
	defer c.Close()
	h.mu.Lock()
	h.daemon = true
	if h.graceTick != nil {
		h.graceTick.Stop()
	}
	var refusers []*fuse.Refuser
	for _, m := range h.mounts {
		if m.refuser != nil {
			refusers = append(refusers, m.refuser)
			m.refuser = nil
		}
	}
	h.refusing = false
	h.mu.Unlock()
	for _, r := range refusers {
		r.Stop()
	}
	defer h.daemonGone()
	buf := make([]byte, maxMessage)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil || n == 0 {
			return
		}
		fd := -1
		if fds, err := fdsOf(oob[:oobn]); err == nil && len(fds) == 1 {
			fd = fds[0]
		} else {
			for _, x := range fds {
				unix.Close(x)
			}
		}
		if err := h.handle(c, string(buf[:n]), fd); err != nil {
			h.log.Warn("daemon sent a bad message", "err", err)
			if fd >= 0 {
				unix.Close(fd)
			}
			return
		}
	}
}

func (h *Holder) handle(c *net.UnixConn, msg string, fd int) error {
	op, rest, _ := strings.Cut(msg, " ")
	switch op {
	case "HELLO":
		h.mu.Lock()
		var list []*held
		for _, m := range h.mounts {
			list = append(list, m)
		}
		h.mu.Unlock()
		for _, m := range list {
			if _, _, err := c.WriteMsgUnix([]byte(strings.Join(append([]string{"HELD " + m.id + " " + m.mountpoint}, m.names...), "\n")), unix.UnixRights(m.fd), nil); err != nil {
				return err
			}
		}
		_, err := c.Write([]byte("END"))
		return err
	case "HOLD":
		lines := strings.Split(rest, "\n")
		id, mp, ok := strings.Cut(lines[0], " ")
		if !ok || fd < 0 || !validID(id) {
			return fmt.Errorf("%w: HOLD needs an id, a mountpoint and a descriptor", ErrProtocol)
		}
		h.hold(id, mp, lines[1:], fd)
		return nil
	case "DROP":
		if !validID(rest) {
			return fmt.Errorf("%w: DROP needs an id", ErrProtocol)
		}
		h.drop(rest)
		return nil
	}
	return fmt.Errorf("%w: unknown message %q", ErrProtocol, op)
}

func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func (h *Holder) hold(id, mp string, names []string, fd int) {
	m := &held{id: id, mountpoint: mp, names: names, fd: fd, stop: make(chan struct{})}
	h.mu.Lock()
	old := h.mounts[id]
	h.mounts[id] = m
	h.mu.Unlock()
	if old != nil {
		h.release(old)
	}
	go func() {
		if fuse.WaitGone(fd, m.stop) {
			h.mu.Lock()
			gone := h.mounts[id] == m
			if gone {
				delete(h.mounts, id)
			}
			h.mu.Unlock()
			if gone {
				h.release(m)
			}
		}
	}()
}

func (h *Holder) drop(id string) {
	h.mu.Lock()
	m := h.mounts[id]
	delete(h.mounts, id)
	h.mu.Unlock()
	if m != nil {
		h.release(m)
	}
}

// release closes a mount's descriptor (after its refuser, if any).
func (h *Holder) release(m *held) {
	select {
	case <-m.stop:
		return
	default:
	}
	close(m.stop)
	h.mu.Lock()
	r := m.refuser
	m.refuser = nil
	h.mu.Unlock()
	if r != nil {
		r.Stop()
	}
	unix.Close(m.fd)
}

// daemonGone starts the grace period after which requests are refused.
func (h *Holder) daemonGone() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.daemon = false
	h.lastSeen = time.Now()
	h.graceTick = time.AfterFunc(h.cfg.Grace, h.startRefusing)
}

func (h *Holder) startRefusing() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.daemon || h.refusing {
		return
	}
	h.refusing = true
	for _, m := range h.mounts {
		r, err := fuse.Refuse(m.fd, syscall.EACCES, m.names)
		if err != nil {
			h.log.Warn("cannot answer a held mount", "mountpoint", m.mountpoint, "err", err)
			continue
		}
		m.refuser = r
	}
}

// detachAll detaches every held mount (lazily) and closes its descriptor.
func (h *Holder) detachAll() {
	h.mu.Lock()
	ms := h.mounts
	h.mounts = map[string]*held{}
	h.mu.Unlock()
	for _, m := range ms {
		_ = fuse.Unmount(m.mountpoint)
		h.release(m)
	}
}

// Held is a mount a holder kept from an earlier daemon.
type Held struct {
	ID, Mountpoint string
	Names          []string // the mount's file names
	FD             int      // owned by whoever took it from Client.Held
}

// Client is a daemon's connection to its holder.
type Client struct {
	mu   sync.Mutex
	c    *net.UnixConn
	held []Held
}

// Connect connects to the holder at path, starting one with start (which
// must not wait for it) if none answers, says HELLO and reads what it
// holds. While the holder is still busy with a daemon that just died (it
// has not seen the connection end yet), Connect tries again for a few
// seconds before it returns ErrBusy.
func Connect(path string, start func() error) (*Client, error) {
	deadline := time.Now().Add(busyWait)
	for {
		cl, err := connect(path, start)
		if !errors.Is(err, ErrBusy) || time.Now().After(deadline) {
			return cl, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// busyWait is how long Connect waits for a holder busy with another daemon.
var busyWait = 5 * time.Second

func connect(path string, start func() error) (*Client, error) {
	c, err := dial(path)
	if err != nil {
		if err := start(); err != nil {
			return nil, fmt.Errorf("mountkeep: start the holder: %w", err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			if c, err = dial(path); err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			return nil, fmt.Errorf("mountkeep: the holder did not answer on %s: %w", path, err)
		}
	}
	cl := &Client{c: c}
	if _, err := c.Write([]byte("HELLO")); err != nil {
		c.Close()
		return nil, fmt.Errorf("mountkeep: %w", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, maxMessage)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		if err != nil {
			cl.closeHeld()
			c.Close()
			return nil, fmt.Errorf("mountkeep: read from the holder: %w", err)
		}
		msg := string(buf[:n])
		if msg == "END" {
			break
		}
		if msg == "BUSY" {
			c.Close()
			return nil, ErrBusy
		}
		fds, _ := fdsOf(oob[:oobn])
		lines := strings.Split(msg, "\n")
		rest, ok := strings.CutPrefix(lines[0], "HELD ")
		id, mp, ok2 := strings.Cut(rest, " ")
		if !ok || !ok2 || len(fds) != 1 {
			for _, x := range fds {
				unix.Close(x)
			}
			cl.closeHeld()
			c.Close()
			return nil, fmt.Errorf("%w: %q", ErrProtocol, msg)
		}
		unix.CloseOnExec(fds[0])
		cl.held = append(cl.held, Held{ID: id, Mountpoint: mp, Names: lines[1:], FD: fds[0]})
	}
	_ = c.SetReadDeadline(time.Time{})
	return cl, nil
}

func dial(path string) (*net.UnixConn, error) {
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, err
	}
	if !samePeer(c) {
		c.Close()
		return nil, fmt.Errorf("%w: %s is served by another user", ErrProtocol, path)
	}
	return c, nil
}

func (cl *Client) closeHeld() {
	for _, h := range cl.held {
		unix.Close(h.FD)
	}
	cl.held = nil
}

// Held returns the mounts the holder kept from earlier daemons; the caller
// owns their descriptors. It returns them once.
func (cl *Client) Held() []Held {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	h := cl.held
	cl.held = nil
	return h
}

// Keep hands the holder a descriptor of a mount's connection (the caller
// keeps fd; the holder gets a copy) and the names of its files.
func (cl *Client) Keep(id, mountpoint string, names []string, fd int) error {
	msg := strings.Join(append([]string{"HOLD " + id + " " + mountpoint}, names...), "\n")
	if !validID(id) || strings.ContainsAny(mountpoint, "\x00\n") || len(msg) > maxMessage {
		return fmt.Errorf("%w: bad id or mountpoint, or too many names", ErrProtocol)
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	_, _, err := cl.c.WriteMsgUnix([]byte(msg), unix.UnixRights(fd), nil)
	if err != nil {
		return fmt.Errorf("mountkeep: %w", err)
	}
	return nil
}

// Drop tells the holder a mount ended.
func (cl *Client) Drop(id string) error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if _, err := cl.c.Write([]byte("DROP " + id)); err != nil {
		return fmt.Errorf("mountkeep: %w", err)
	}
	return nil
}

// Close disconnects; the holder keeps what it holds.
func (cl *Client) Close() error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.c.Close()
}

func fdsOf(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for i := range msgs {
		f, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			continue
		}
		fds = append(fds, f...)
	}
	return fds, nil
}
