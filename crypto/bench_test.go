package crypto

import (
	"bytes"
	"io"
	"testing"
)

func BenchmarkSeal1KiB(b *testing.B) {
	k := mustKey(b, 1, 1)
	bind := Binding{Purpose: PurposeValue, Shard: 3, Object: []byte("secret/db-password@4")}
	pt := pattern(1 << 10)
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Seal(k, bind, pt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen1KiB(b *testing.B) {
	k := mustKey(b, 1, 1)
	bind := Binding{Purpose: PurposeValue, Shard: 3, Object: []byte("secret/db-password@4")}
	pt := pattern(1 << 10)
	env, err := Seal(k, bind, pt)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Open(k, bind, env); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStreamWrite1MiB(b *testing.B) {
	k := mustKey(b, 1, 1)
	pt := pattern(1 << 20)
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		w, err := NewStreamWriter(io.Discard, k, snapBinding)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.Write(pt); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStreamRead1MiB(b *testing.B) {
	k := mustKey(b, 1, 1)
	pt := pattern(1 << 20)
	var buf bytes.Buffer
	w, err := NewStreamWriter(&buf, k, snapBinding)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = w.Write(pt)
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	s := buf.Bytes()
	b.SetBytes(int64(len(pt)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := NewStreamReader(bytes.NewReader(s), k, snapBinding)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}
