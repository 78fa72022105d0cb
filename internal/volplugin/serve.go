package volplugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// contentType is what Docker's plugin client sends and expects.
const contentType = "application/vnd.docker.plugins.v1.2+json"

// maxRequest bounds a request body: the largest is a Create's options.
const maxRequest = 1 << 20

// ErrSocketInUse is returned by Listen when another process serves the socket.
var ErrSocketInUse = errors.New("volplugin: socket in use")

// Handler serves the protocol's endpoints.
func (p *Plugin) Handler() http.Handler {
	mux := http.NewServeMux()
	// These three take no arguments (Docker sends an empty body or {}).
	mux.HandleFunc("POST /Plugin.Activate", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string][]string{"Implements": {"VolumeDriver"}})
	})
	mux.HandleFunc("POST /VolumeDriver.Capabilities", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]any{"Capabilities": map[string]string{"Scope": "local"}})
	})
	mux.HandleFunc("POST /VolumeDriver.List", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]any{"Volumes": p.List(), "Err": ""})
	})
	type nameReq struct {
		Name string            `json:"Name"`
		ID   string            `json:"ID"`
		Opts map[string]string `json:"Opts"`
	}
	// Each handler gets its own request value: requests run concurrently.
	mux.HandleFunc("POST /VolumeDriver.Create", decodeName(func(r *http.Request, q *nameReq) any {
		return errReply{errText(p.Create(q.Name, q.Opts))}
	}))
	mux.HandleFunc("POST /VolumeDriver.Remove", decodeName(func(r *http.Request, q *nameReq) any {
		return errReply{errText(p.Remove(q.Name))}
	}))
	mux.HandleFunc("POST /VolumeDriver.Mount", decodeName(func(r *http.Request, q *nameReq) any {
		mp, err := p.Mount(r.Context(), q.Name, q.ID)
		return mountReply{Mountpoint: mp, Err: errText(err)}
	}))
	mux.HandleFunc("POST /VolumeDriver.Unmount", decodeName(func(r *http.Request, q *nameReq) any {
		return errReply{errText(p.Unmount(q.Name, q.ID))}
	}))
	mux.HandleFunc("POST /VolumeDriver.Path", decodeName(func(r *http.Request, q *nameReq) any {
		mp, err := p.Path(q.Name)
		return mountReply{Mountpoint: mp, Err: errText(err)}
	}))
	mux.HandleFunc("POST /VolumeDriver.Get", decodeName(func(r *http.Request, q *nameReq) any {
		in, err := p.Get(q.Name)
		if err != nil {
			return errReply{errText(err)}
		}
		return map[string]any{"Volume": in, "Err": ""}
	}))
	return mux
}

type errReply struct {
	Err string `json:"Err"`
}

type mountReply struct {
	Mountpoint string `json:"Mountpoint"`
	Err        string `json:"Err"`
}

func decodeName[T any](f func(r *http.Request, q *T) any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := new(T)
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequest)).Decode(q); err != nil {
			reply(w, errReply{Err: errText(fmt.Errorf("%w: bad request: %v", ErrInvalid, err))})
			return
		}
		reply(w, f(r, q))
	}
}

// errText is the text Docker shows: the sentinel's package prefix dropped.
func errText(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	const prefix = "volplugin: "
	if len(s) > len(prefix) && s[:len(prefix)] == prefix {
		s = s[len(prefix):]
	}
	return s
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", contentType)
	_ = json.NewEncoder(w).Encode(v)
}

// Listen opens the plugin's Unix socket (mode 0600): a socket file left by
// a process that is gone is replaced, one that answers, or one whose lock
// another process holds, is ErrSocketInUse. The lock (an flock on
// "."+name+".lock" beside the socket, held until the listener is closed)
// keeps two daemons started at the same instant from removing each other's
// fresh socket: only the holder may replace the file.
func Listen(path string) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("%w: another process serves %s", ErrSocketInUse, path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: another process is starting to serve %s", ErrSocketInUse, path)
		}
		return nil, err
	}
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		lock.Close()
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%w: another process serves %s", ErrSocketInUse, path)
		}
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		lock.Close()
		return nil, err
	}
	return &lockedListener{Listener: l, lock: lock}, nil
}

// lockedListener releases the socket's lock when it is closed.
type lockedListener struct {
	net.Listener
	once sync.Once
	lock *os.File
}

func (l *lockedListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { l.lock.Close() })
	return err
}

// Serve answers Docker on l until Close.
func (p *Plugin) Serve(l net.Listener) error {
	p.mu.Lock()
	p.srv = &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 10 * time.Second}
	srv := p.srv
	p.mu.Unlock()
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops serving (waiting a little for requests in flight) and ends
// every mount it made, unless Config.KeepMounts.
func (p *Plugin) Close() error {
	p.mu.Lock()
	srv := p.srv
	p.mu.Unlock()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(ctx)
		cancel()
	}
	if p.cfg.KeepMounts {
		return nil
	}
	type m struct{ name, id string }
	var ms []m
	p.mu.Lock()
	for _, v := range p.vols {
		for id := range v.mounts {
			ms = append(ms, m{v.Name, id})
		}
	}
	p.mu.Unlock()
	for _, x := range ms {
		_ = p.Unmount(x.name, x.id)
	}
	return nil
}
