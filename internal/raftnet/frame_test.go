package raftnet

import (
	"bytes"
	"context"
	"crypto/x509"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"
)

// A frame written in one piece (head and payload together) reads back as
// the reader has always read it: magic number, header, payload; across
// the write chunking of large payloads too.
func TestFrameRoundTrip(t *testing.T) {
	for _, size := range []int{1, 100, recvBufSize - frameHeadSize, recvBufSize, recvBufSize + 5, 2*recvBufSize + 3} {
		payload := bytes.Repeat([]byte{0x5a}, size)
		payload[0], payload[size-1] = 1, 2
		frame := append(make([]byte, frameHeadSize), payload...)
		w, r := net.Pipe()
		errc := make(chan error, 1)
		go func() { errc <- writeFrame(w, requestHeader{method: raftType}, frame) }()
		magic := make([]byte, len(magicNumber))
		if err := readMagicNumber(r, magic); err != nil {
			t.Fatalf("size %d: magic: %v", size, err)
		}
		h, got, err := readMessage(r, make([]byte, requestHeaderSize), make([]byte, 64))
		if err != nil {
			t.Fatalf("size %d: read: %v", size, err)
		}
		if err := <-errc; err != nil {
			t.Fatalf("size %d: write: %v", size, err)
		}
		if h.method != raftType || h.size != uint64(size) || !bytes.Equal(got, payload) {
			t.Fatalf("size %d: got method %d size %d, payload equal %v", size, h.method, h.size, bytes.Equal(got, payload))
		}
		w.Close()
		r.Close()
	}
}

// Message batches of every size, from a heartbeat to an entry larger than
// the connection's reusable buffer and than one write, and a snapshot
// chunk, arrive whole over the TLS transport.
func TestTransportDeliversWhole(t *testing.T) {
	p := newPKI(t)
	var mu sync.Mutex
	var got []pb.MessageBatch
	var chunks []pb.Chunk
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	rx := (&Factory{Config: Config{Certificate: p.cert("rx"), Roots: p.pool, Admit: admitAll}}).Create(config.NodeHostConfig{RaftAddress: addr},
		func(b pb.MessageBatch) { mu.Lock(); got = append(got, b); mu.Unlock() },
		func(c pb.Chunk) bool { mu.Lock(); chunks = append(chunks, c); mu.Unlock(); return true })
	if err := rx.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rx.Close() })
	tx := startNode(t, p, "tx", 0)

	conn, err := tx.tr.GetConnection(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sizes := []int{0, 1000, perConnBufSize + 1, recvBufSize + 1000}
	for i, size := range sizes {
		cmd := bytes.Repeat([]byte{byte(i + 1)}, size)
		b := pb.MessageBatch{Requests: []pb.Message{{Type: pb.Replicate, From: 1, To: 2, LogIndex: uint64(i), Entries: []pb.Entry{{Index: uint64(i + 1), Cmd: cmd}}}}}
		if err := conn.SendMessageBatch(b); err != nil {
			t.Fatalf("send %d bytes: %v", size, err)
		}
	}
	sc, err := tx.tr.GetSnapshotConnection(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte{9}, 5000)
	if err := sc.SendChunk(pb.Chunk{ShardID: 1, ReplicaID: 2, Index: 7, Data: data, ChunkSize: uint64(len(data))}); err != nil {
		t.Fatal(err)
	}
	sc.Close()
	waitFor(t, "every batch and the chunk", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == len(sizes) && len(chunks) == 1
	})
	mu.Lock()
	defer mu.Unlock()
	for i, size := range sizes {
		m := got[i].Requests[0]
		if m.LogIndex != uint64(i) || len(m.Entries) != 1 || !bytes.Equal(m.Entries[0].Cmd, bytes.Repeat([]byte{byte(i + 1)}, size)) {
			t.Fatalf("batch %d (%d bytes) arrived changed", i, size)
		}
	}
	if chunks[0].Index != 7 || !bytes.Equal(chunks[0].Data, data) {
		t.Fatalf("chunk arrived changed")
	}
}

func admitAll(*x509.Certificate) error { return nil }

// TestBatchAfterThePeerRestarted: a connection whose peer restarted since
// (same address, new process) carries the next batch to the new process,
// instead of failing it (Dragonboat drops a batch that fails: a
// follower's forwarded proposal or vote is not resent).
func TestBatchAfterThePeerRestarted(t *testing.T) {
	p := newPKI(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var mu sync.Mutex
	got := map[int][]uint64{} // receiver run -> log indexes
	startRx := func(run int) raftio.ITransport {
		rx := (&Factory{Config: Config{Certificate: p.cert("rx"), Roots: p.pool, Admit: admitAll}}).Create(config.NodeHostConfig{RaftAddress: addr},
			func(b pb.MessageBatch) { mu.Lock(); got[run] = append(got[run], b.Requests[0].LogIndex); mu.Unlock() },
			func(pb.Chunk) bool { return true })
		if err := rx.Start(); err != nil {
			t.Fatal(err)
		}
		return rx
	}
	received := func(run int) []uint64 {
		mu.Lock()
		defer mu.Unlock()
		return append([]uint64(nil), got[run]...)
	}
	rx := startRx(1)
	tx := startNode(t, p, "tx", 0)
	conn, err := tx.tr.GetConnection(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	batch := func(i uint64) pb.MessageBatch {
		return pb.MessageBatch{Requests: []pb.Message{{Type: pb.Heartbeat, From: 1, To: 2, LogIndex: i}}}
	}
	if err := conn.SendMessageBatch(batch(1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first batch", func() bool { return len(received(1)) == 1 })

	rx.Close()
	time.Sleep(100 * time.Millisecond) // the closure reaches this side
	rx = startRx(2)
	defer rx.Close()
	for i := uint64(2); i <= 3; i++ {
		if err := conn.SendMessageBatch(batch(i)); err != nil {
			t.Fatalf("batch %d after the peer restarted: %v", i, err)
		}
	}
	waitFor(t, "both batches at the restarted peer", func() bool { return len(received(2)) == 2 })
	if r := received(2); r[0] != 2 || r[1] != 3 {
		t.Fatalf("the restarted peer received %v, want [2 3]", r)
	}
}
