package crypto

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// testChunk is the chunk size the tamper tests use so that a stream of a few
// hundred bytes has several chunks. The format's chunk size is ChunkSize.
const testChunk = 64

var snapBinding = Binding{Purpose: PurposeSnapshot, Shard: 2, Object: []byte("index 1000")}

func testSalt(seed byte) []byte { return seq(seed, streamSaltSize) }

// splitStream cuts a sealed stream into its header and encrypted chunks.
func splitStream(t testing.TB, s []byte, chunkSize int) (header []byte, chunks [][]byte) {
	t.Helper()
	header, rest := s[:streamHeaderSize], s[streamHeaderSize:]
	enc := chunkSize + streamTag
	for len(rest) > enc {
		chunks = append(chunks, rest[:enc])
		rest = rest[enc:]
	}
	return header, append(chunks, rest)
}

func joinStream(header []byte, chunks ...[]byte) []byte {
	out := bytes.Clone(header)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out
}

func wantChunks(n, chunkSize int) int { return max(1, (n+chunkSize-1)/chunkSize) }

func TestStreamRoundTrip(t *testing.T) {
	k := mustKey(t, 3, 1)
	for _, cs := range []int{testChunk, ChunkSize} {
		for _, n := range []int{0, 1, cs - 1, cs, cs + 1, 2 * cs, 3*cs + 7} {
			pt := pattern(n)
			var buf bytes.Buffer
			w, err := newStreamWriter(&buf, k, snapBinding, testSalt(1), cs)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(pt); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			s := buf.Bytes()
			if want := streamHeaderSize + n + wantChunks(n, cs)*streamTag; len(s) != want {
				t.Errorf("chunk %d, %d bytes: stream is %d bytes, want %d", cs, n, len(s), want)
			}
			got, err := readStream(k, snapBinding, cs, s)
			if err != nil {
				t.Fatalf("chunk %d, %d bytes: %v", cs, n, err)
			}
			if !bytes.Equal(got, pt) {
				t.Errorf("chunk %d, %d bytes: plaintext differs", cs, n)
			}
		}
	}
}

// TestStreamPublicAPI uses the exported constructors with the real chunk size
// and a random salt.
func TestStreamPublicAPI(t *testing.T) {
	k1, k2 := mustKey(t, 1, 1), mustKey(t, 2, 2)
	pt := pattern(3*ChunkSize + 1234)
	var buf bytes.Buffer
	w, err := NewStreamWriter(&buf, k2, snapBinding)
	if err != nil {
		t.Fatal(err)
	}
	if buf.Len() != streamHeaderSize {
		t.Errorf("NewStreamWriter wrote %d header bytes, want %d", buf.Len(), streamHeaderSize)
	}
	// Write in uneven pieces.
	for rest := pt; len(rest) > 0; {
		n := min(len(rest), 1000+len(rest)%7777)
		if m, err := w.Write(rest[:n]); err != nil || m != n {
			t.Fatalf("Write = %d, %v", m, err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := w.Write([]byte("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}

	r, err := NewStreamReader(bytes.NewReader(buf.Bytes()), ring{1: k1, 2: k2}, snapBinding)
	if err != nil {
		t.Fatal(err)
	}
	if r.KeyVersion() != 2 {
		t.Errorf("KeyVersion = %d, want 2", r.KeyVersion())
	}
	got, err := io.ReadAll(iotest.HalfReader(r))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, pt) {
		t.Error("plaintext differs")
	}
	if n, err := r.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Errorf("Read after EOF = %d, %v", n, err)
	}

	// Two streams of the same plaintext differ (random salt).
	var buf2 bytes.Buffer
	w2, _ := NewStreamWriter(&buf2, k2, snapBinding)
	_, _ = w2.Write(pt)
	_ = w2.Close()
	if bytes.Equal(buf.Bytes(), buf2.Bytes()) {
		t.Error("two streams are identical")
	}
}

func TestStreamReaderShapes(t *testing.T) {
	k := mustKey(t, 1, 1)
	pt := pattern(5*testChunk + 3)
	s := sealStreamWithSalt(t, k, snapBinding, testSalt(1), testChunk, pt)
	wrappers := map[string]func(io.Reader) io.Reader{
		"plain":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data+EOF": iotest.DataErrReader,
	}
	for name, wrap := range wrappers {
		t.Run(name, func(t *testing.T) {
			r, err := newStreamReader(wrap(bytes.NewReader(s)), k, snapBinding, testChunk)
			if err != nil {
				t.Fatal(err)
			}
			if err := iotest.TestReader(r, pt); err != nil {
				t.Error(err)
			}
		})
	}
	// Writing one byte at a time gives the same stream.
	var buf bytes.Buffer
	w, _ := newStreamWriter(&buf, k, snapBinding, testSalt(1), testChunk)
	for i := range pt {
		if _, err := w.Write(pt[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
	_ = w.Close()
	if !bytes.Equal(buf.Bytes(), s) {
		t.Error("byte-at-a-time writes give another stream")
	}
}

// readAllStream reads a stream and returns what it yielded before failing.
func readAllStream(ks KeySource, b Binding, s []byte) ([]byte, error) {
	r, err := newStreamReader(bytes.NewReader(s), ks, b, testChunk)
	if err != nil {
		return nil, err
	}
	var out []byte
	buf := make([]byte, 7)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			// Errors are sticky.
			if _, err2 := r.Read(buf); !errors.Is(err2, err) {
				return out, errors.New("error not sticky")
			}
			return out, err
		}
	}
}

// streamFixture is a 4-chunk stream (3 full chunks and a 20-byte last one).
func streamFixture(t *testing.T) (k *Key, pt, s, header []byte, chunks [][]byte) {
	t.Helper()
	k = mustKey(t, 6, 1)
	pt = pattern(3*testChunk + 20)
	s = sealStreamWithSalt(t, k, snapBinding, testSalt(1), testChunk, pt)
	header, chunks = splitStream(t, s, testChunk)
	if len(chunks) != 4 {
		t.Fatalf("fixture has %d chunks, want 4", len(chunks))
	}
	return k, pt, s, header, chunks
}

// TestStreamTamperEveryByte flips every byte of a multi-chunk stream. Nothing
// may read to EOF, and no plaintext of the tampered chunk, or after it, may
// come out.
func TestStreamTamperEveryByte(t *testing.T) {
	k, pt, s, _, _ := streamFixture(t)
	for i := range s {
		bad := flip(s, i, 0x01)
		got, err := readAllStream(k, snapBinding, bad)
		var want error
		switch {
		case i < 3:
			want = ErrMalformed
		case i < 7:
			want = ErrUnknownKeyVersion
		default:
			want = ErrIntegrity
		}
		if !errors.Is(err, want) {
			t.Errorf("byte %d: err = %v, want %v", i, err, want)
		}
		chunk := max(0, (i-streamHeaderSize)/(testChunk+streamTag))
		if i < streamHeaderSize {
			chunk = 0
		}
		if len(got) > chunk*testChunk || !bytes.Equal(got, pt[:len(got)]) {
			t.Errorf("byte %d (chunk %d): released %d bytes of plaintext", i, chunk, len(got))
		}
		if i >= 3 && i < 7 {
			if _, err := readAllStream(anyVersion(fixedKeyBytes(1)), snapBinding, bad); !IsIntegrityError(err) {
				t.Errorf("byte %d with any-version keys: err = %v, want integrity error", i, err)
			}
		}
	}
}

// TestStreamTruncateEveryLength cuts the stream at every length, which covers
// every chunk boundary and the middle of every chunk.
func TestStreamTruncateEveryLength(t *testing.T) {
	k, pt, s, _, _ := streamFixture(t)
	for n := range len(s) {
		got, err := readAllStream(k, snapBinding, s[:n])
		want := ErrIntegrity
		if n < streamHeaderSize {
			want = ErrMalformed
		}
		if !errors.Is(err, want) {
			t.Errorf("cut at %d: err = %v, want %v", n, err, want)
		}
		if !bytes.Equal(got, pt[:len(got)]) {
			t.Errorf("cut at %d: released wrong plaintext", n)
		}
		if n > streamHeaderSize && (n-streamHeaderSize)%(testChunk+streamTag) == 0 &&
			!strings.Contains(err.Error(), "truncated") {
			t.Errorf("cut at chunk boundary %d: error %q does not say truncated", n, err)
		}
	}
}

func TestStreamChunkManipulation(t *testing.T) {
	k, _, s, header, c := streamFixture(t)
	// Another stream of the same plaintext, key and binding (other salt).
	other := sealStreamWithSalt(t, k, snapBinding, testSalt(2), testChunk, pattern(3*testChunk+20))
	otherHeader, oc := splitStream(t, other, testChunk)
	tests := []struct {
		name string
		s    []byte
	}{
		{"swap chunks 0 and 1", joinStream(header, c[1], c[0], c[2], c[3])},
		{"swap chunks 1 and 2", joinStream(header, c[0], c[2], c[1], c[3])},
		{"swap last two chunks", joinStream(header, c[0], c[1], c[3], c[2])},
		{"drop first chunk", joinStream(header, c[1], c[2], c[3])},
		{"drop middle chunk", joinStream(header, c[0], c[2], c[3])},
		{"drop last chunk", joinStream(header, c[0], c[1], c[2])},
		{"only last chunk", joinStream(header, c[3])},
		{"no chunks", joinStream(header)},
		{"duplicate first chunk", joinStream(header, c[0], c[0], c[1], c[2], c[3])},
		{"duplicate middle chunk", joinStream(header, c[0], c[1], c[1], c[2], c[3])},
		{"duplicate last chunk", joinStream(header, c[0], c[1], c[2], c[3], c[3])},
		{"replay whole stream twice", joinStream(header, c[0], c[1], c[2], c[3], c[0], c[1], c[2], c[3])},
		{"append one byte", append(bytes.Clone(s), 0)},
		{"append a chunk of garbage", append(bytes.Clone(s), make([]byte, testChunk+streamTag)...)},
		{"append another stream", append(bytes.Clone(s), other...)},
		{"splice tail of another stream", joinStream(header, c[0], c[1], oc[2], oc[3])},
		{"splice head of another stream", joinStream(otherHeader, oc[0], c[1], c[2], c[3])},
		{"other header", joinStream(otherHeader, c[0], c[1], c[2], c[3])},
		{"last chunk of another stream", joinStream(header, c[0], c[1], c[2], oc[3])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readAllStream(k, snapBinding, tt.s)
			if !IsIntegrityError(err) {
				t.Errorf("err = %v, want integrity error", err)
			}
			t.Log(err)
		})
	}
	if _, err := readAllStream(k, snapBinding, joinStream(header, c...)); err != nil {
		t.Errorf("reassembled stream: %v", err)
	}
}

func TestStreamWrongBinding(t *testing.T) {
	k, _, s, _, _ := streamFixture(t)
	tests := []struct {
		name string
		ks   KeySource
		b    Binding
	}{
		{"other shard", k, Binding{Purpose: PurposeSnapshot, Shard: 3, Object: snapBinding.Object}},
		{"other purpose", k, Binding{Purpose: PurposeEntry, Shard: 2, Object: snapBinding.Object}},
		{"other object", k, Binding{Purpose: PurposeSnapshot, Shard: 2, Object: []byte("index 1001")}},
		{"no object", k, Binding{Purpose: PurposeSnapshot, Shard: 2}},
		{"other key", mustKey(t, 6, 2), snapBinding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAllStream(tt.ks, tt.b, s)
			if !IsIntegrityError(err) {
				t.Errorf("err = %v, want integrity error", err)
			}
			if len(got) != 0 {
				t.Errorf("released %d bytes", len(got))
			}
		})
	}
	if _, err := readAllStream(mustKey(t, 7, 1), snapBinding, s); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Errorf("unknown version: err = %v", err)
	}
	// An envelope is not a stream, and a stream is not an envelope.
	env, _ := Seal(k, snapBinding, pattern(200))
	if _, err := readAllStream(k, snapBinding, env); !errors.Is(err, ErrMalformed) {
		t.Errorf("envelope read as a stream: %v", err)
	}
	if _, err := Open(k, snapBinding, s); !errors.Is(err, ErrMalformed) {
		t.Errorf("stream opened as an envelope: %v", err)
	}
	if _, err := readAllStream(k, snapBinding, flip(s, 2, 0x03)); !strings.Contains(errString(err), "format version") {
		t.Errorf("unknown format version: err = %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestStreamEmptyLastChunk builds, with the stream key, streams the writer
// never produces: an empty final chunk after data is rejected; an empty
// stream is one empty final chunk.
func TestStreamEmptyLastChunk(t *testing.T) {
	k := mustKey(t, 1, 1)
	header := binaryHeader(1, testSalt(9))
	aead, err := streamAEAD(k, snapBinding, header)
	if err != nil {
		t.Fatal(err)
	}
	seal := func(counter uint64, last bool, pt []byte) []byte {
		n := streamNonce(counter, last)
		return aead.Seal(nil, n[:], pt, nil)
	}
	full := pattern(testChunk)
	tests := []struct {
		name    string
		s       []byte
		wantErr bool
	}{
		{"empty stream", joinStream(header, seal(0, true, nil)), false},
		{"full last chunk", joinStream(header, seal(0, false, full), seal(1, true, full)), false},
		{"empty last chunk after data", joinStream(header, seal(0, false, full), seal(1, true, nil)), true},
		{"short non-last chunk", joinStream(header, seal(0, false, full[:10]), seal(1, true, full)), true},
		{"last flag on first of two", joinStream(header, seal(0, true, full), seal(1, true, full)), true},
		{"no last flag", joinStream(header, seal(0, false, full)), true},
		{"counter starts at 1", joinStream(header, seal(1, true, full)), true},
		{"tag only, not last", joinStream(header, seal(0, false, nil)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readAllStream(k, snapBinding, tt.s)
			if tt.wantErr && !IsIntegrityError(err) {
				t.Errorf("err = %v, want integrity error", err)
			}
			if !tt.wantErr && err != nil {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func binaryHeader(version uint32, salt []byte) []byte {
	h := []byte{streamMagic0, streamMagic1, streamFormat, byte(version >> 24), byte(version >> 16), byte(version >> 8), byte(version)}
	return append(h, salt...)
}

type failingWriter struct {
	n   int // writes that succeed
	err error
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	f.n--
	return len(p), nil
}

func TestStreamWriterErrors(t *testing.T) {
	k := mustKey(t, 1, 1)
	boom := errors.New("disk full")
	if _, err := newStreamWriter(&failingWriter{err: boom}, k, snapBinding, testSalt(1), testChunk); !errors.Is(err, boom) {
		t.Errorf("header write failure: %v", err)
	}
	w, err := newStreamWriter(&failingWriter{n: 1, err: boom}, k, snapBinding, testSalt(1), testChunk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(pattern(testChunk)); err != nil {
		t.Fatalf("buffered write failed: %v", err)
	}
	if n, err := w.Write(pattern(1)); !errors.Is(err, boom) || n != 0 {
		t.Errorf("chunk write failure: %d, %v", n, err)
	}
	if _, err := w.Write(pattern(1)); !errors.Is(err, boom) {
		t.Errorf("error not sticky: %v", err)
	}
	if err := w.Close(); !errors.Is(err, boom) {
		t.Errorf("Close after failure: %v", err)
	}
	w2, _ := newStreamWriter(&failingWriter{n: 1, err: boom}, k, snapBinding, testSalt(1), testChunk)
	if err := w2.Close(); !errors.Is(err, boom) {
		t.Errorf("final chunk write failure: %v", err)
	}
	if _, err := NewStreamWriter(nil, k, snapBinding); err == nil {
		t.Error("nil destination accepted")
	}
	if _, err := NewStreamWriter(io.Discard, nil, snapBinding); err == nil {
		t.Error("nil key accepted")
	}
}

func TestStreamReaderIOError(t *testing.T) {
	k, _, s, _, _ := streamFixture(t)
	boom := errors.New("connection reset")
	for _, n := range []int{10, streamHeaderSize + 5, streamHeaderSize + testChunk + streamTag + 1} {
		src := io.MultiReader(bytes.NewReader(s[:n]), iotest.ErrReader(boom))
		r, err := newStreamReader(src, k, snapBinding, testChunk)
		if err == nil {
			_, err = io.ReadAll(r)
		}
		if !errors.Is(err, boom) || IsIntegrityError(err) {
			t.Errorf("I/O error after %d bytes: %v, want the I/O error, not an integrity error", n, err)
		}
	}
	if _, err := new(StreamReader).Read(make([]byte, 1)); err == nil {
		t.Error("zero StreamReader read without error")
	}
	if _, err := NewStreamReader(nil, k, snapBinding); err == nil {
		t.Error("nil source accepted")
	}
	if _, err := NewStreamReader(bytes.NewReader(s), nil, snapBinding); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Errorf("nil key source: %v", err)
	}
}

// TestStreamReaderKeyWipedMidStream: the per-stream key was derived at open,
// so a stream already being read keeps working after the Key is wiped.
func TestStreamReaderKeyWipedMidStream(t *testing.T) {
	k, pt, s, _, _ := streamFixture(t)
	r, err := newStreamReader(bytes.NewReader(s), k, snapBinding, testChunk)
	if err != nil {
		t.Fatal(err)
	}
	k.Wipe()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, pt) {
		t.Errorf("ReadAll = %v", err)
	}
	if _, err := newStreamReader(bytes.NewReader(s), k, snapBinding, testChunk); !errors.Is(err, ErrWiped) {
		t.Errorf("new reader with a wiped key: %v", err)
	}
}
