// Package raftnet is the Raft transport between managers: Dragonboat's TCP
// transport, on the same wire format, with the admission control vault
// needs and Dragonboat's cannot take (it builds its TLS configuration from
// file paths alone).
//
// # Admission
//
// Every connection, accepted or dialed, is mutual TLS 1.3 with certificates
// from the cluster CA, and is then put to Config.Admit with the peer's
// verified certificate: vault refuses there a certificate whose node is not
// a current member or was removed. Admission is asked again every
// Config.RecheckInterval for each open connection, and a connection whose
// peer is no longer admitted is closed: Raft connections live as long as
// the process, so a check at the handshake alone would let a node removed
// while connected keep talking.
//
// # Deadlines
//
// A connection must finish its TLS handshake within Config.HandshakeTimeout
// of being accepted, or it is closed; Dragonboat's transport started the
// handshake only on the first read and, finding no data, waited again
// forever. Once admitted, a connection reads frames with Dragonboat's own
// deadlines.
//
// The framing (magic number, header with CRC, poison on snapshot close) and
// the buffer sizes are Dragonboat's internal/transport/tcp.go, Copyright
// 2017-2019 Lei Ni and other contributors, Apache License 2.0, so managers
// on either transport interoperate.
package raftnet

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"net"
	"sync"
	"time"

	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"
	"github.com/lni/goutils/stringutil"
)

// Name is the transport's name, as Dragonboat logs it.
const Name = "vault-tls-transport"

// Config configures the transport. Validate fills defaults.
type Config struct {
	// Certificate is this node's certificate chain and key; Roots the
	// cluster CA. Both are required.
	Certificate tls.Certificate
	Roots       *x509.CertPool
	// Admit is asked about the peer's verified leaf certificate on every
	// connection, at the handshake and every RecheckInterval after; an
	// error refuses or closes the connection. Nil admits every certificate
	// the CA signed.
	Admit func(*x509.Certificate) error
	// Refused is told of every refused or closed connection with the
	// reason; nil: not reported.
	Refused func(remote string, err error)
	// HandshakeTimeout bounds a TLS handshake, accepted or dialed
	// (default 5 s).
	HandshakeTimeout time.Duration
	// RecheckInterval is how often open connections are admitted again
	// (default 2 s).
	RecheckInterval time.Duration
}

// Errors returned by Config.Validate.
var (
	ErrNoCertificate = errors.New("raftnet: no certificate")
	ErrNoRoots       = errors.New("raftnet: no CA")
)

// Validate checks the config and fills defaults.
func (c *Config) Validate() error {
	if len(c.Certificate.Certificate) == 0 {
		return ErrNoCertificate
	}
	if c.Roots == nil {
		return ErrNoRoots
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = 5 * time.Second
	}
	if c.RecheckInterval == 0 {
		c.RecheckInterval = 2 * time.Second
	}
	return nil
}

// Factory makes the transport for Dragonboat (config.ExpertConfig.TransportFactory).
type Factory struct {
	Config Config

	valid validAddrs // addresses Validate accepted (validaddr.go)
}

var _ config.TransportFactory = (*Factory)(nil)

// Create returns the transport of a NodeHost.
func (f *Factory) Create(nhc config.NodeHostConfig, mh raftio.MessageHandler, ch raftio.ChunkHandler) raftio.ITransport {
	return &transport{
		cfg: f.Config, listenAddr: nhc.GetListenAddress(), onMessage: mh, onChunk: ch,
		conns: map[*tls.Conn]*x509.Certificate{}, stop: make(chan struct{}),
	}
}

// Validate says whether addr is a Raft address: HOST:PORT. Dragonboat
// asks it for every message received (the sender's address, once per
// message of a batch); an address once accepted is remembered.
func (f *Factory) Validate(addr string) bool {
	if f.valid.has(addr) {
		return true
	}
	if !stringutil.IsValidAddress(addr) {
		return false
	}
	f.valid.add(addr)
	return true
}

// Wire constants and buffer sizes, as Dragonboat's TCP transport has them.
const (
	requestHeaderSize        = 18
	raftType          uint16 = 100
	snapshotType      uint16 = 200

	snapshotChunkSize = 2 << 20
	payloadBufferSize = snapshotChunkSize + 128<<10
	perConnBufSize    = 2 << 20
	recvBufSize       = 2 << 20

	magicNumberDuration = time.Second
	headerDuration      = 2 * time.Second
	readDuration        = 5 * time.Second
	writeDuration       = 5 * time.Second
	keepAlivePeriod     = 10 * time.Second
	dialTimeout         = 5 * time.Second
)

var (
	magicNumber  = [2]byte{0xAE, 0x7D}
	poisonNumber = [2]byte{0x0, 0x0}

	errBadMessage     = errors.New("raftnet: invalid message")
	errPoisonReceived = errors.New("raftnet: poison received")
	errNotAdmitted    = errors.New("raftnet: peer certificate not admitted")
)

type transport struct {
	cfg        Config
	listenAddr string
	onMessage  raftio.MessageHandler
	onChunk    raftio.ChunkHandler

	ln       net.Listener
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	mu    sync.Mutex
	conns map[*tls.Conn]*x509.Certificate // open; nil until admitted
}

var _ raftio.ITransport = (*transport)(nil)

func (t *transport) Name() string { return Name }

func (t *transport) Start() error {
	if err := t.cfg.Validate(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", t.listenAddr)
	if err != nil {
		return err
	}
	t.ln = ln
	t.wg.Add(2)
	go t.acceptLoop()
	go t.recheckLoop()
	return nil
}

func (t *transport) Close() error {
	t.stopOnce.Do(func() { close(t.stop) })
	var err error
	if t.ln != nil {
		err = t.ln.Close()
	}
	t.mu.Lock()
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
	return err
}

func (t *transport) stopped() bool {
	select {
	case <-t.stop:
		return true
	default:
		return false
	}
}

// verify is both ends' VerifyConnection: the chain was verified by then.
func (t *transport) verify(cs tls.ConnectionState) error {
	if len(cs.VerifiedChains) == 0 || len(cs.PeerCertificates) == 0 {
		return errNotAdmitted
	}
	if t.cfg.Admit == nil {
		return nil
	}
	return t.cfg.Admit(cs.PeerCertificates[0])
}

func (t *transport) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		Certificates:     []tls.Certificate{t.cfg.Certificate},
		ClientAuth:       tls.RequireAndVerifyClientCert,
		ClientCAs:        t.cfg.Roots,
		VerifyConnection: t.verify,
	}
}

func (t *transport) clientConfig(host string) *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		Certificates:     []tls.Certificate{t.cfg.Certificate},
		RootCAs:          t.cfg.Roots,
		ServerName:       host,
		VerifyConnection: t.verify,
	}
}

func (t *transport) refused(remote string, err error) {
	if t.cfg.Refused != nil && !t.stopped() {
		t.cfg.Refused(remote, err)
	}
}

// track registers an open connection; it reports false once the transport
// is closing (the caller closes the connection).
func (t *transport) track(c *tls.Conn, cert *x509.Certificate) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped() {
		return false
	}
	t.conns[c] = cert
	return true
}

func (t *transport) untrack(c *tls.Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

func (t *transport) acceptLoop() {
	defer t.wg.Done()
	for {
		conn, err := t.ln.Accept()
		if err != nil {
			if t.stopped() || errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // e.g. out of file descriptors: let some close
			continue
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			t.serve(conn)
		}()
	}
}

// serve runs an accepted connection: handshake within the deadline, then
// frames until the peer goes away or is no longer admitted.
func (t *transport) serve(raw net.Conn) {
	if tc, ok := raw.(*net.TCPConn); ok {
		_ = setTCPConn(tc)
	}
	c := tls.Server(raw, t.serverConfig())
	defer c.Close()
	if !t.track(c, nil) {
		return
	}
	defer t.untrack(c)
	if err := handshake(c, t.cfg.HandshakeTimeout); err != nil {
		t.refused(raw.RemoteAddr().String(), err)
		return
	}
	t.mu.Lock()
	t.conns[c] = c.ConnectionState().PeerCertificates[0]
	t.mu.Unlock()
	t.serveConn(c)
}

func handshake(c *tls.Conn, timeout time.Duration) error {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if err := c.Handshake(); err != nil {
		return err
	}
	return c.SetDeadline(time.Time{})
}

// recheckLoop closes connections whose peers are no longer admitted.
func (t *transport) recheckLoop() {
	defer t.wg.Done()
	tick := time.NewTicker(t.cfg.RecheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
		}
		if t.cfg.Admit == nil {
			continue
		}
		t.mu.Lock()
		open := make(map[*tls.Conn]*x509.Certificate, len(t.conns))
		for c, cert := range t.conns {
			if cert != nil {
				open[c] = cert
			}
		}
		t.mu.Unlock()
		for c, cert := range open {
			if err := t.cfg.Admit(cert); err != nil {
				t.refused(c.RemoteAddr().String(), err)
				c.Close()
			}
		}
	}
}

func (t *transport) serveConn(conn net.Conn) {
	magicNum := make([]byte, len(magicNumber))
	header := make([]byte, requestHeaderSize)
	tbuf := make([]byte, payloadBufferSize)
	for {
		err := readMagicNumber(conn, magicNum)
		if err != nil {
			if errors.Is(err, errPoisonReceived) {
				_ = sendPoison(conn, poisonNumber[:])
				return
			}
			var nerr net.Error
			if errors.As(err, &nerr) && nerr.Timeout() && !t.stopped() {
				continue // an idle connection of an admitted peer
			}
			return
		}
		rheader, buf, err := readMessage(conn, header, tbuf)
		if err != nil {
			return
		}
		if rheader.method == raftType {
			batch := pb.MessageBatch{}
			if err := batch.Unmarshal(buf); err != nil {
				return
			}
			t.onMessage(batch)
		} else {
			chunk := pb.Chunk{}
			if err := chunk.Unmarshal(buf); err != nil {
				return
			}
			if !t.onChunk(chunk) {
				return
			}
		}
	}
}

func (t *transport) GetConnection(ctx context.Context, target string) (raftio.IConnection, error) {
	c, err := t.dial(target)
	if err != nil {
		return nil, err
	}
	mc := &messageConn{t: t, target: target, payload: make([]byte, perConnBufSize)}
	mc.use(c)
	return mc, nil
}

func (t *transport) GetSnapshotConnection(ctx context.Context, target string) (raftio.ISnapshotConnection, error) {
	c, err := t.dial(target)
	if err != nil {
		return nil, err
	}
	return &snapshotConn{conn: c}, nil
}

// dial connects to a peer and admits its certificate.
func (t *transport) dial(target string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return nil, err
	}
	raw, err := net.DialTimeout("tcp", target, dialTimeout)
	if err != nil {
		return nil, err
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		if err := setTCPConn(tc); err != nil {
			raw.Close()
			return nil, err
		}
	}
	c := tls.Client(raw, t.clientConfig(host))
	if err := handshake(c, t.cfg.HandshakeTimeout); err != nil {
		c.Close()
		t.refused(target, err)
		return nil, err
	}
	if !t.track(c, c.ConnectionState().PeerCertificates[0]) {
		c.Close()
		return nil, net.ErrClosed
	}
	return &trackedConn{Conn: c, t: t, c: c}, nil
}

// trackedConn is a dialed connection; closing it stops its rechecks.
type trackedConn struct {
	net.Conn
	t *transport
	c *tls.Conn
}

func (c *trackedConn) Close() error {
	c.t.untrack(c.c)
	return c.Conn.Close()
}

func setTCPConn(conn *net.TCPConn) error {
	if err := conn.SetLinger(0); err != nil {
		return err
	}
	if err := conn.SetKeepAlive(true); err != nil {
		return err
	}
	return conn.SetKeepAlivePeriod(keepAlivePeriod)
}

// messageConn sends Raft message batches. Dragonboat keeps one per peer
// for as long as it works, and uses it from one goroutine.
//
// A peer that restarted closed the connection, but nothing reads a message
// connection on this side, so the closure used to show only when the next
// batch failed to write: that batch was lost (Raft resends entries, but a
// follower's forwarded proposal or its vote is not resent, and the request
// behind it waited for its timeout). A goroutine now waits on the
// connection's read side (the peer never writes on it); once it has seen
// the peer go, the next batch goes on a new connection.
type messageConn struct {
	t       *transport
	target  string
	conn    net.Conn
	gone    chan struct{} // closed when the peer closed conn
	payload []byte
}

var _ raftio.IConnection = (*messageConn)(nil)

// use makes conn the connection batches go on and watches for its end.
func (c *messageConn) use(conn net.Conn) {
	c.conn, c.gone = conn, make(chan struct{})
	go func(conn net.Conn, gone chan struct{}) {
		var b [1]byte
		_, _ = conn.Read(b[:]) // EOF, a reset, or our Close
		close(gone)
	}(conn, c.gone)
}

func (c *messageConn) peerGone() bool {
	select {
	case <-c.gone:
		return true
	default:
		return false
	}
}

// redial replaces a connection the peer closed.
func (c *messageConn) redial() error {
	_ = c.conn.Close()
	conn, err := c.t.dial(c.target)
	if err != nil {
		return err
	}
	c.use(conn)
	return nil
}

func (c *messageConn) Close() { _ = c.conn.Close() }

func (c *messageConn) SendMessageBatch(batch pb.MessageBatch) error {
	sz := frameHeadSize + batch.SizeUpperLimit()
	buf := c.payload
	if len(buf) < sz {
		buf = make([]byte, sz)
	}
	body := pb.MustMarshalTo(&batch, buf[frameHeadSize:])
	frame := buf[:frameHeadSize+len(body)]
	if c.peerGone() {
		if err := c.redial(); err != nil {
			return err
		}
	}
	err := writeFrame(c.conn, requestHeader{method: raftType}, frame)
	if err == nil {
		return nil
	}
	// The peer may have gone since: its reset fails this write before the
	// watcher reports it. Once it has, the batch goes on a new connection.
	select {
	case <-c.gone:
	case <-time.After(50 * time.Millisecond):
		return err
	}
	if rerr := c.redial(); rerr != nil {
		return err
	}
	return writeFrame(c.conn, requestHeader{method: raftType}, frame)
}

// snapshotConn sends snapshot chunks.
type snapshotConn struct {
	conn net.Conn
}

var _ raftio.ISnapshotConnection = (*snapshotConn)(nil)

func (c *snapshotConn) Close() {
	defer c.conn.Close()
	if err := sendPoison(c.conn, poisonNumber[:]); err != nil {
		return
	}
	waitPoisonAck(c.conn)
}

func (c *snapshotConn) SendChunk(chunk pb.Chunk) error {
	buf := make([]byte, frameHeadSize+chunk.Size())
	body := pb.MustMarshalTo(&chunk, buf[frameHeadSize:])
	return writeFrame(c.conn, requestHeader{method: snapshotType}, buf[:frameHeadSize+len(body)])
}

type requestHeader struct {
	size   uint64
	crc    uint32
	method uint16
}

func (h *requestHeader) encode(buf []byte) []byte {
	binary.BigEndian.PutUint16(buf, h.method)
	binary.BigEndian.PutUint64(buf[2:], h.size)
	binary.BigEndian.PutUint32(buf[10:], 0)
	binary.BigEndian.PutUint32(buf[14:], h.crc)
	binary.BigEndian.PutUint32(buf[10:], crc32.ChecksumIEEE(buf[:requestHeaderSize]))
	return buf[:requestHeaderSize]
}

func (h *requestHeader) decode(buf []byte) bool {
	if len(buf) < requestHeaderSize {
		return false
	}
	incoming := binary.BigEndian.Uint32(buf[10:])
	binary.BigEndian.PutUint32(buf[10:], 0)
	expected := crc32.ChecksumIEEE(buf[:requestHeaderSize])
	binary.BigEndian.PutUint32(buf[10:], incoming)
	if incoming != expected {
		return false
	}
	method := binary.BigEndian.Uint16(buf)
	if method != raftType && method != snapshotType {
		return false
	}
	h.method = method
	h.size = binary.BigEndian.Uint64(buf[2:])
	h.crc = binary.BigEndian.Uint32(buf[14:])
	return true
}

func sendPoison(conn net.Conn, poison []byte) error {
	if err := conn.SetWriteDeadline(time.Now().Add(2 * magicNumberDuration)); err != nil {
		return err
	}
	_, err := conn.Write(poison)
	return err
}

func waitPoisonAck(conn net.Conn) {
	ack := make([]byte, len(poisonNumber))
	if err := conn.SetReadDeadline(time.Now().Add(keepAlivePeriod)); err != nil {
		return
	}
	_, _ = io.ReadFull(conn, ack)
}

// frameHeadSize is the magic number and the request header that start a
// frame.
const frameHeadSize = len(magicNumber) + requestHeaderSize

// writeFrame writes one frame: frame holds the payload after frameHeadSize
// bytes it fills with the magic number and the header. The head goes out in
// the same write as the payload, so a small message is one TLS record and
// one system call, and wakes its reader once (three writes before: the
// magic number, the header and the payload each cost a record, a system
// call and, often, a wake-up of the reading side). The payload carries no
// CRC of its own: TLS authenticates it (Dragonboat's "encrypted" mode).
func writeFrame(conn net.Conn, header requestHeader, frame []byte) error {
	header.size = uint64(len(frame) - frameHeadSize)
	copy(frame, magicNumber[:])
	header.encode(frame[len(magicNumber):frameHeadSize])
	for sent := 0; sent < len(frame); {
		n := min(recvBufSize, len(frame)-sent)
		if err := conn.SetWriteDeadline(time.Now().Add(writeDuration)); err != nil {
			return err
		}
		if _, err := conn.Write(frame[sent : sent+n]); err != nil {
			return err
		}
		sent += n
	}
	return nil
}

func readMessage(conn net.Conn, header []byte, rbuf []byte) (requestHeader, []byte, error) {
	if err := conn.SetReadDeadline(time.Now().Add(headerDuration)); err != nil {
		return requestHeader{}, nil, err
	}
	if _, err := io.ReadFull(conn, header); err != nil {
		return requestHeader{}, nil, err
	}
	var rheader requestHeader
	if !rheader.decode(header) || rheader.size == 0 {
		return requestHeader{}, nil, errBadMessage
	}
	buf := rbuf
	if rheader.size > uint64(len(rbuf)) {
		buf = make([]byte, rheader.size)
	}
	buf = buf[:rheader.size]
	for received := uint64(0); received < rheader.size; {
		n := min(uint64(recvBufSize), rheader.size-received)
		if err := conn.SetReadDeadline(time.Now().Add(readDuration)); err != nil {
			return requestHeader{}, nil, err
		}
		if _, err := io.ReadFull(conn, buf[received:received+n]); err != nil {
			return requestHeader{}, nil, err
		}
		received += n
	}
	return rheader, buf, nil
}

func readMagicNumber(conn net.Conn, magicNum []byte) error {
	if err := conn.SetReadDeadline(time.Now().Add(magicNumberDuration)); err != nil {
		return err
	}
	if _, err := io.ReadFull(conn, magicNum); err != nil {
		return err
	}
	if bytes.Equal(magicNum, poisonNumber[:]) {
		return errPoisonReceived
	}
	if !bytes.Equal(magicNum, magicNumber[:]) {
		return errBadMessage
	}
	return nil
}
