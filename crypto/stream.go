package crypto

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"golang.org/x/crypto/chacha20poly1305"
)

// Stream format, version 1:
//
//	header: magic "vs" (2) || format version 0x01 (1) || key version uint32 BE (4) || salt (32)
//	chunks: ChaCha20-Poly1305(stream key, nonce, plaintext chunk), no associated data
//
// stream key = HKDF-SHA256(ikm = key, salt = salt, info = streamInfo || header || binding)
// nonce      = chunk counter (11 bytes, big endian) || last flag (0x00, or 0x01 on the last chunk)
const (
	streamMagic0     = 'v'
	streamMagic1     = 's'
	streamFormat     = 0x01
	streamSaltSize   = 32
	streamHeaderSize = 2 + 1 + 4 + streamSaltSize
	streamInfo       = "vault/stream/v1"
	streamTag        = chacha20poly1305.Overhead
)

// ChunkSize is the plaintext size of every stream chunk but the last, which
// holds 0 to ChunkSize bytes (0 only when the stream is empty).
const ChunkSize = 64 << 10

// NewStreamWriter returns a writer that seals everything written to it into
// dst as a stream bound to b under k, and writes the stream header to dst
// now. Close must be called to write the final chunk; it does not close dst.
// Memory use is constant (one chunk).
//
// The writer derives a per-stream key when it is created, so wiping k later
// does not stop a stream already being written.
func NewStreamWriter(dst io.Writer, k *Key, b Binding) (io.WriteCloser, error) {
	var salt [streamSaltSize]byte
	if err := randRead(salt[:]); err != nil {
		return nil, err
	}
	return newStreamWriter(dst, k, b, salt[:], ChunkSize)
}

// StreamReader opens a stream written by [NewStreamWriter], one verified
// chunk at a time.
type StreamReader struct {
	src       io.Reader
	aead      cipher.AEAD
	version   uint32
	chunkSize int
	counter   uint64
	enc       []byte // one encrypted chunk plus one byte of lookahead
	ptBuf     []byte // backing array of pt
	pt        []byte // verified plaintext not yet returned
	carry     bool   // enc[chunkSize+tag] holds a byte of the next chunk
	done      bool   // the final chunk was verified
	err       error  // sticky
}

// NewStreamReader reads and checks the stream header from src and looks up
// its key in ks. Errors: [ErrMalformed] for a short header, bad magic or an
// unknown format version; whatever ks returns for an unknown key version.
// Everything else (wrong key or binding, tampering, truncation, reordering,
// trailing bytes) is reported by Read as an error wrapping [ErrIntegrity].
func NewStreamReader(src io.Reader, ks KeySource, b Binding) (*StreamReader, error) {
	return newStreamReader(src, ks, b, ChunkSize)
}

// Read reads verified plaintext. Plaintext is returned only after the chunk
// holding it has been authenticated, and io.EOF only after the final chunk
// has been authenticated and src has ended. Errors are sticky.
func (r *StreamReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.src == nil {
		return 0, errors.New("crypto: StreamReader not made by NewStreamReader")
	}
	if len(p) == 0 {
		return 0, nil
	}
	for len(r.pt) == 0 {
		if r.done {
			if r.ptBuf != nil {
				clear(r.ptBuf[:cap(r.ptBuf)])
				r.ptBuf, r.enc = nil, nil
			}
			return 0, io.EOF
		}
		if err := r.readChunk(); err != nil {
			r.fail(err)
			return 0, err
		}
	}
	n := copy(p, r.pt)
	r.pt = r.pt[n:]
	return n, nil
}

// KeyVersion returns the key version named in the stream header.
func (r *StreamReader) KeyVersion() uint32 { return r.version }

type streamWriter struct {
	dst       io.Writer
	aead      cipher.AEAD
	chunkSize int
	counter   uint64
	buf       []byte // plaintext of the pending chunk; cap chunkSize+tag
	err       error  // sticky
}

func newStreamWriter(dst io.Writer, k *Key, b Binding, salt []byte, chunkSize int) (*streamWriter, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	if len(salt) != streamSaltSize {
		return nil, fmt.Errorf("crypto: stream salt is %d bytes, want %d", len(salt), streamSaltSize)
	}
	if dst == nil {
		return nil, errors.New("crypto: nil stream destination")
	}
	version := k.Version()
	header := make([]byte, 0, streamHeaderSize)
	header = append(header, streamMagic0, streamMagic1, streamFormat)
	header = binary.BigEndian.AppendUint32(header, version)
	header = append(header, salt...)
	aead, err := streamAEAD(k, b, header)
	if err != nil {
		return nil, err
	}
	if _, err := dst.Write(header); err != nil {
		return nil, fmt.Errorf("crypto: write stream header: %w", err)
	}
	return &streamWriter{
		dst:       dst,
		aead:      aead,
		chunkSize: chunkSize,
		buf:       make([]byte, 0, chunkSize+streamTag),
	}, nil
}

// streamAEAD derives the per-stream key and returns a ChaCha20-Poly1305
// instance for it. The derived key bytes are cleared; the cipher keeps its
// own copy for the life of the stream.
func streamAEAD(k *Key, b Binding, header []byte) (cipher.AEAD, error) {
	info := make([]byte, 0, len(streamInfo)+len(header)+bindingLen(b))
	info = append(info, streamInfo...)
	info = append(info, header...)
	info = appendBinding(info, b)
	salt := header[streamHeaderSize-streamSaltSize:]
	var aead cipher.AEAD
	err := k.use(func(key *[KeySize]byte) error {
		sk, err := hkdf.Key(sha256.New, key[:], salt, string(info), chacha20poly1305.KeySize)
		if err != nil {
			return err
		}
		defer clear(sk)
		aead, err = chacha20poly1305.New(sk)
		return err
	})
	if err != nil {
		return nil, err
	}
	return aead, nil
}

// streamNonce returns the nonce for chunk counter, flagged as last or not.
func streamNonce(counter uint64, last bool) [chacha20poly1305.NonceSize]byte {
	var n [chacha20poly1305.NonceSize]byte
	// Bytes 0..2 are the high bytes of the 11-byte counter; a uint64 counter
	// leaves them zero and cannot overflow in practice (2^64 chunks).
	binary.BigEndian.PutUint64(n[3:11], counter)
	if last {
		n[11] = 0x01
	}
	return n
}

// Write buffers p and seals every chunk that is full and known not to be the
// last: a full chunk is held back until more data arrives, so the final
// chunk is never empty unless the whole stream is.
func (w *streamWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	written := 0
	for len(p) > 0 {
		if len(w.buf) == w.chunkSize {
			if err := w.flush(false); err != nil {
				w.fail(err)
				return written, err
			}
		}
		n := copy(w.buf[len(w.buf):w.chunkSize], p)
		w.buf = w.buf[:len(w.buf)+n]
		p = p[n:]
		written += n
	}
	return written, nil
}

// Close seals and writes the final chunk. It does not close dst. Calling
// Close again returns the first Close's result.
func (w *streamWriter) Close() error {
	if w.err != nil {
		if errors.Is(w.err, ErrClosed) {
			return nil
		}
		return w.err
	}
	err := w.flush(true)
	if err == nil {
		err = ErrClosed
	}
	w.fail(err)
	if errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}

func (w *streamWriter) flush(last bool) error {
	if w.counter == math.MaxUint64 {
		return errors.New("crypto: stream too long")
	}
	nonce := streamNonce(w.counter, last)
	ct := w.aead.Seal(w.buf[:0], nonce[:], w.buf, nil)
	if _, err := w.dst.Write(ct); err != nil {
		return fmt.Errorf("crypto: write stream chunk %d: %w", w.counter, err)
	}
	w.counter++
	w.buf = w.buf[:0]
	return nil
}

// fail records a sticky error and drops the cipher and buffer.
func (w *streamWriter) fail(err error) {
	w.err = err
	w.aead = nil
	clear(w.buf[:cap(w.buf)])
	w.buf = nil
}

func newStreamReader(src io.Reader, ks KeySource, b Binding, chunkSize int) (*StreamReader, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	if src == nil {
		return nil, errors.New("crypto: nil stream source")
	}
	header := make([]byte, streamHeaderSize)
	if _, err := io.ReadFull(src, header); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: stream header truncated", ErrMalformed)
		}
		return nil, fmt.Errorf("crypto: read stream header: %w", err)
	}
	if header[0] != streamMagic0 || header[1] != streamMagic1 {
		return nil, fmt.Errorf("%w: not a sealed stream (bad magic)", ErrMalformed)
	}
	if header[2] != streamFormat {
		return nil, fmt.Errorf("%w: unsupported stream format version %d", ErrMalformed, header[2])
	}
	version := binary.BigEndian.Uint32(header[3:7])
	k, err := lookupKey(ks, version)
	if err != nil {
		return nil, err
	}
	aead, err := streamAEAD(k, b, header)
	if err != nil {
		return nil, err
	}
	return &StreamReader{
		src:       src,
		aead:      aead,
		version:   version,
		chunkSize: chunkSize,
		enc:       make([]byte, chunkSize+streamTag+1),
		ptBuf:     make([]byte, 0, chunkSize),
	}, nil
}

// readChunk reads, authenticates and decrypts the next chunk into r.pt.
//
// Whether a chunk is the last one is decided by the stream's shape: a full
// chunk followed by more bytes must carry the "not last" flag, and the chunk
// that ends src must carry the "last" flag. So truncation at a chunk boundary,
// trailing bytes, and a last chunk moved elsewhere all fail authentication.
func (r *StreamReader) readChunk() error {
	encSize := r.chunkSize + streamTag
	n := 0
	if r.carry {
		r.enc[0] = r.enc[encSize]
		n = 1
	}
	m, err := io.ReadFull(r.src, r.enc[n:encSize+1])
	n += m
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("crypto: read stream chunk %d: %w", r.counter, err)
	}
	last := n <= encSize
	r.carry = !last
	if !last {
		n = encSize
	}
	chunk := r.enc[:n]
	if n == 0 {
		return fmt.Errorf("%w: stream truncated before chunk %d", ErrIntegrity, r.counter)
	}
	if n < streamTag {
		return fmt.Errorf("%w: stream chunk %d truncated", ErrIntegrity, r.counter)
	}

	nonce := streamNonce(r.counter, last)
	pt, err := r.aead.Open(r.ptBuf[:0], nonce[:], chunk, nil)
	if err != nil {
		// Name the likely cause without releasing anything.
		other := streamNonce(r.counter, !last)
		if _, err2 := r.aead.Open(r.ptBuf[:0], other[:], chunk, nil); err2 == nil {
			clear(r.ptBuf[:cap(r.ptBuf)])
			if last {
				return fmt.Errorf("%w: stream truncated after chunk %d", ErrIntegrity, r.counter)
			}
			return fmt.Errorf("%w: data after the final chunk %d", ErrIntegrity, r.counter)
		}
		return fmt.Errorf("%w: stream chunk %d", ErrIntegrity, r.counter)
	}
	if last && len(pt) == 0 && r.counter > 0 {
		return fmt.Errorf("%w: empty final chunk %d", ErrIntegrity, r.counter)
	}
	if r.counter == math.MaxUint64 {
		return fmt.Errorf("%w: stream too long", ErrIntegrity)
	}
	r.counter++
	r.pt = pt
	if last {
		r.done = true
		r.aead = nil
	}
	return nil
}

// fail records a sticky error and drops the cipher and any plaintext.
func (r *StreamReader) fail(err error) {
	r.err = err
	r.aead = nil
	r.pt = nil
	clear(r.ptBuf[:cap(r.ptBuf)])
}

// StreamKeyVersion reports the key version named by a sealed stream's
// header, given at least its first 7 bytes; ok is false when b does not
// start like a stream of this format. Nothing is authenticated.
func StreamKeyVersion(b []byte) (version uint32, ok bool) {
	if len(b) < 7 || b[0] != streamMagic0 || b[1] != streamMagic1 || b[2] != streamFormat {
		return 0, false
	}
	return binary.BigEndian.Uint32(b[3:7]), true
}
