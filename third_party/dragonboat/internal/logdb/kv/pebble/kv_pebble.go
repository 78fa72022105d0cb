// Copyright 2017-2021 Lei Ni (nilei81@gmail.com) and other contributors.
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
//     http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

package pebble

// WARNING: pebble support is expermental, DO NOT USE IT IN PRODUCTION.

import (
	"bytes"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/cockroachdb/pebble"
	pvfs "github.com/cockroachdb/pebble/vfs"
	"github.com/lni/goutils/syncutil"

	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/internal/fileutil"
	"github.com/lni/dragonboat/v4/internal/logdb/kv"
	"github.com/lni/dragonboat/v4/internal/utils"
	"github.com/lni/dragonboat/v4/internal/vfs"
	"github.com/lni/dragonboat/v4/logger"
)

var (
	plog = logger.GetLogger("pebblekv")
)

const (
	maxLogFileSize = 1024 * 1024 * 128
)

var firstError = utils.FirstError

type eventListener struct {
	kv      *KV
	stopper *syncutil.Stopper
}

func (l *eventListener) close() {
	l.stopper.Stop()
}

func (l *eventListener) notify() {
	l.stopper.RunWorker(func() {
		select {
		case <-l.kv.dbSet:
			if l.kv.callback != nil {
				memSizeThreshold := l.kv.config.KVWriteBufferSize *
					l.kv.config.KVMaxWriteBufferNumber * 19 / 20
				l0FileNumThreshold := l.kv.config.KVLevel0StopWritesTrigger - 1
				m := l.kv.db.Metrics()
				busy := m.MemTable.Size >= memSizeThreshold ||
					uint64(m.Levels[0].Sublevels) >= l0FileNumThreshold
				l.kv.callback(busy)
			}
		default:
		}
	})
}

func (l *eventListener) onCompactionEnd(pebble.CompactionInfo) {
	l.notify()
}

func (l *eventListener) onFlushEnd(pebble.FlushInfo) {
	l.notify()
}

func (l *eventListener) onWALCreated(pebble.WALCreateInfo) {
	l.notify()
}

type pebbleWriteBatch struct {
	wb *pebble.Batch
	db *pebble.DB
	wo *pebble.WriteOptions
}

func (w *pebbleWriteBatch) Destroy() {
	if err := w.wb.Close(); err != nil {
		panic(err)
	}
}

func (w *pebbleWriteBatch) Put(key []byte, val []byte) {
	if err := w.wb.Set(key, val, w.wo); err != nil {
		panic(err)
	}
}

func (w *pebbleWriteBatch) Delete(key []byte) {
	if err := w.wb.Delete(key, w.wo); err != nil {
		panic(err)
	}
}

func (w *pebbleWriteBatch) Clear() {
	if err := w.wb.Close(); err != nil {
		panic(err)
	}
	w.wb = w.db.NewBatch()
}

func (w *pebbleWriteBatch) Count() int {
	return int(w.wb.Count())
}

type pebbleLogger struct{}

var _ pebble.Logger = (*pebbleLogger)(nil)

// PebbleLogger is the logger used by pebble
var PebbleLogger pebbleLogger

func (pebbleLogger) Infof(format string, args ...interface{}) {
	pebble.DefaultLogger.Infof(format, args...)
}

func (pebbleLogger) Fatalf(format string, args ...interface{}) {
	pebble.DefaultLogger.Infof(format, args...)
	panic(fmt.Errorf(format, args...))
}

// NewKVStore returns a pebble based IKVStore instance.
func NewKVStore(config config.LogDBConfig, callback kv.LogDBCallback,
	dir string, wal string, fs vfs.IFS) (kv.IKVStore, error) {
	return openPebbleDB(config, callback, dir, wal, fs)
}

// KV is a pebble based IKVStore type.
type KV struct {
	db       *pebble.DB
	dbSet    chan struct{}
	opts     *pebble.Options
	ro       *pebble.IterOptions
	wo       *pebble.WriteOptions
	event    *eventListener
	callback kv.LogDBCallback
	config   config.LogDBConfig
	spare    *walSpare // vault patch: see walSpare
}

var _ kv.IKVStore = (*KV)(nil)

var pebbleWarning sync.Once

func openPebbleDB(config config.LogDBConfig, callback kv.LogDBCallback,
	dir string, walDir string, fs vfs.IFS) (kv.IKVStore, error) {
	if config.IsEmpty() {
		panic("invalid LogDBConfig")
	}
	pebbleWarning.Do(func() {
		if fs == vfs.MemStrictFS {
			plog.Warningf("running in pebble memfs test mode")
		}
	})
	blockSize := int(config.KVBlockSize)
	writeBufferSize := int(config.KVWriteBufferSize)
	maxWriteBufferNumber := int(config.KVMaxWriteBufferNumber)
	l0FileNumCompactionTrigger := int(config.KVLevel0FileNumCompactionTrigger)
	l0StopWritesTrigger := int(config.KVLevel0StopWritesTrigger)
	maxBytesForLevelBase := int64(config.KVMaxBytesForLevelBase)
	targetFileSizeBase := int64(config.KVTargetFileSizeBase)
	cacheSize := int64(config.KVLRUCacheSize)
	levelSizeMultiplier := int64(config.KVTargetFileSizeMultiplier)
	numOfLevels := int64(config.KVNumOfLevels)
	lopts := make([]pebble.LevelOptions, 0)
	sz := targetFileSizeBase
	for l := int64(0); l < numOfLevels; l++ {
		opt := pebble.LevelOptions{
			Compression:    pebble.NoCompression,
			BlockSize:      blockSize,
			TargetFileSize: sz,
		}
		sz = sz * levelSizeMultiplier
		lopts = append(lopts, opt)
	}
	if inMonkeyTesting {
		writeBufferSize = 1024 * 1024 * 4
	}
	cache := pebble.NewCache(cacheSize)
	ro := &pebble.IterOptions{}
	wo := &pebble.WriteOptions{Sync: true}
	opts := &pebble.Options{
		Levels:                      lopts,
		MaxManifestFileSize:         maxLogFileSize,
		MemTableSize:                writeBufferSize,
		MemTableStopWritesThreshold: maxWriteBufferNumber,
		LBaseMaxBytes:               maxBytesForLevelBase,
		L0CompactionFileThreshold:   l0FileNumCompactionTrigger,
		L0StopWritesThreshold:       l0StopWritesTrigger,
		Cache:                       cache,
		Logger:                      PebbleLogger,
	}
	if fs != vfs.DefaultFS {
		opts.FS = vfs.NewPebbleFS(fs)
	}
	// vault patch: WAL files are never recycled (see noReuseFS).
	if opts.FS == nil {
		opts.FS = pvfs.Default
	}
	spare := &walSpare{fs: opts.FS, size: int64(writeBufferSize) + int64(writeBufferSize)/10}
	opts.FS = noReuseFS{FS: opts.FS, spare: spare}
	kv := &KV{
		ro:       ro,
		wo:       wo,
		opts:     opts,
		config:   config,
		callback: callback,
		dbSet:    make(chan struct{}),
		spare:    spare,
	}
	event := &eventListener{
		kv:      kv,
		stopper: syncutil.NewStopper(),
	}
	opts.EventListener = pebble.EventListener{
		WALCreated:    event.onWALCreated,
		FlushEnd:      event.onFlushEnd,
		CompactionEnd: event.onCompactionEnd,
	}
	if len(walDir) > 0 {
		if err := fileutil.MkdirAll(walDir, fs); err != nil {
			return nil, err
		}
		opts.WALDir = walDir
	}
	if err := fileutil.MkdirAll(dir, fs); err != nil {
		return nil, err
	}
	pdb, err := pebble.Open(dir, opts)
	if err != nil {
		spare.close()
		return nil, err
	}
	cache.Unref()
	kv.db = pdb
	kv.setEventListener(event)
	return kv, nil
}

func (r *KV) setEventListener(event *eventListener) {
	if r.db == nil || r.event != nil {
		panic("unexpected kv state")
	}
	r.event = event
	close(r.dbSet)
	// force a WALCreated event as the one issued when opening the DB didn't get
	// handled
	event.onWALCreated(pebble.WALCreateInfo{})
}

// Name returns the IKVStore type name.
func (r *KV) Name() string {
	return "pebble"
}

// noReuseFS (vault patch) turns Pebble's reuse of an obsolete WAL file into
// a deletion and a new file. A recycled WAL keeps its old bytes past what is
// rewritten, and Pebble keeps up to MemTableStopWritesThreshold+1 obsolete
// WAL files for reuse, so entries removed from the log could outlive their
// removal in the LogDB's directory. With this, every WAL file written before
// enough memtable flushes (Flush) is gone.
type noReuseFS struct {
	pvfs.FS
	spare *walSpare // its size is the WAL's
}

// Create (vault patch) gives a new WAL file its full size at once
// (spare.size: the memtable's, plus a tenth, as Pebble's own preallocation).
// Pebble preallocates with FALLOC_FL_KEEP_SIZE, so each write past the end
// grows the file and the fdatasync after it has to commit the new size
// too: on ext4 a second synchronous write, of the inode, after the data's.
//
// The new WAL is the spare (walSpare) when one is ready: a file of that
// size whose blocks were written with zeros in the background, renamed
// into place. A write into it changes neither the file's size nor its
// block map, so its fdatasync commits the data alone. Otherwise the file
// is created and allocated with fallocate in its default mode (the blocks
// read as zeros, the size is set, but the first write into each block
// still converts it from unwritten), and a spare is made for the next one.
//
// Either way Pebble reads a zeroed chunk at the end of the last WAL as the
// log's end, and a WAL that is not the last was closed with an EOF trailer
// before the next one was created. Where the file system cannot allocate
// (EOPNOTSUPP), the file grows as before.
func (fs noReuseFS) Create(name string) (pvfs.File, error) {
	if fs.spare.size <= 0 || !strings.HasSuffix(name, ".log") {
		return fs.FS.Create(name)
	}
	if f := fs.spare.take(name); f != nil {
		return f, nil
	}
	f, err := fs.FS.Create(name)
	if err != nil {
		return f, err
	}
	if fd, ok := f.(interface{ Fd() uintptr }); ok {
		_ = unix.Fallocate(int(fd.Fd()), 0, 0, fs.spare.size)
	}
	fs.spare.fill(fs.FS.PathDir(name))
	return f, nil
}

// ReuseForWrite removes oldname and creates newname (through Create, so
// the new WAL file gets its size too).
func (fs noReuseFS) ReuseForWrite(oldname, newname string) (pvfs.File, error) {
	if err := fs.FS.Remove(oldname); err != nil {
		return nil, err
	}
	return fs.Create(newname)
}

// Names of the spare WAL file and of the file it is made in. Neither is a
// name Pebble parses (it leaves them alone) or one that ends in ".log".
const (
	walSpareName = "WAL.spare"
	walSpareTemp = "WAL.spare.tmp"
)

// walSpare (vault patch) keeps one spare WAL file in the WAL directory:
// size bytes of zeros, written and synced in the background, for Create to
// rename into place as the next WAL. Writing the zeros takes a few
// milliseconds; done inside Create, it would hold every write waiting on
// Pebble's switch to the new WAL. A spare holds nothing but zeros, so it
// keeps nothing of the log. It is made in walSpareTemp and renamed to
// walSpareName only once synced, so after a crash walSpareName is a
// whole spare or absent; a spare left by a stopped process is used by the
// next one once it has read it back as zeros of the right size (a spare
// that is not is written again).
type walSpare struct {
	fs      pvfs.FS
	size    int64
	mu      sync.Mutex
	ready   bool // walSpareName was made or read back by this process
	filling bool
	closed  bool
	wg      sync.WaitGroup
}

// take renames a ready spare in the directory of name to name and opens it
// for writing, and starts the next spare. It returns nil when no spare is
// ready (none yet, or one being made or checked).
func (s *walSpare) take(name string) pvfs.File {
	s.mu.Lock()
	ready := s.ready && !s.filling && !s.closed
	s.ready = false
	s.mu.Unlock()
	if !ready {
		return nil
	}
	dir := s.fs.PathDir(name)
	p := s.fs.PathJoin(dir, walSpareName)
	// ReuseForWrite is a rename and an open without truncation. If the
	// open fails after the rename, Create replaces the file.
	f, err := s.fs.ReuseForWrite(p, name)
	if err != nil {
		return nil
	}
	s.fill(dir)
	return f
}

// fill starts making a spare in dir unless one is being made.
func (s *walSpare) fill(dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.filling || s.closed {
		return
	}
	s.filling = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := s.make(dir)
		if err != nil {
			plog.Warningf("spare WAL file in %s: %v", dir, err)
		}
		s.mu.Lock()
		s.filling, s.ready = false, err == nil && !s.closed
		s.mu.Unlock()
	}()
}

func (s *walSpare) stopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// make writes the spare: zeros in walSpareTemp, synced, then renamed. A
// spare left by the last process is kept if it reads back as zeros of the
// right size.
func (s *walSpare) make(dir string) error {
	p := s.fs.PathJoin(dir, walSpareName)
	if s.zeroed(p) {
		return nil
	}
	tmp := s.fs.PathJoin(dir, walSpareTemp)
	f, err := s.fs.Create(tmp)
	if err != nil {
		return err
	}
	zeros := make([]byte, 256<<10)
	for n := int64(0); n < s.size && err == nil; n += int64(len(zeros)) {
		if s.stopped() {
			_ = f.Close()
			return s.fs.Remove(tmp)
		}
		_, err = f.Write(zeros[:min(int64(len(zeros)), s.size-n)])
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = s.fs.Remove(tmp)
		return err
	}
	return s.fs.Rename(tmp, p)
}

// zeroed reports whether p holds exactly size bytes of zeros.
func (s *walSpare) zeroed(p string) bool {
	f, err := s.fs.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.Size() != s.size {
		return false
	}
	buf := make([]byte, 256<<10)
	var n int64
	for n < s.size {
		k, err := f.Read(buf)
		for _, c := range buf[:k] {
			if c != 0 {
				return false
			}
		}
		n += int64(k)
		if err != nil {
			break
		}
	}
	return n == s.size
}

// close stops the spare being made, if one is, and waits for it.
func (s *walSpare) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.wg.Wait()
}

// Flush (vault patch) flushes the memtable to a table, which makes the WAL
// file that held it obsolete.
func (r *KV) Flush() error {
	return r.db.Flush()
}

// Close closes the RDB object.
func (r *KV) Close() error {
	r.spare.close()
	if err := r.db.Close(); err != nil {
		return err
	}
	r.event.close()
	return nil
}

func iteratorIsValid(iter *pebble.Iterator) bool {
	v := iter.Valid()
	if err := iter.Error(); err != nil {
		plog.Panicf("%+v", err)
	}
	return v
}

// IterateValue ...
func (r *KV) IterateValue(fk []byte, lk []byte, inc bool,
	op func(key []byte, data []byte) (bool, error)) (err error) {
	iter := r.db.NewIter(r.ro)
	defer func() {
		err = firstError(err, iter.Close())
	}()
	for iter.SeekGE(fk); iteratorIsValid(iter); iter.Next() {
		key := iter.Key()
		val := iter.Value()
		if inc {
			if bytes.Compare(key, lk) > 0 {
				return nil
			}
		} else {
			if bytes.Compare(key, lk) >= 0 {
				return nil
			}
		}
		cont, err := op(key, val)
		if err != nil {
			return err
		}
		if !cont {
			break
		}
	}
	return nil
}

// GetValue ...
func (r *KV) GetValue(key []byte, op func([]byte) error) (err error) {
	val, closer, err := r.db.Get(key)
	if err != nil && err != pebble.ErrNotFound {
		return err
	}
	defer func() {
		if closer != nil {
			err = firstError(err, closer.Close())
		}
	}()
	return op(val)
}

// SaveValue ...
func (r *KV) SaveValue(key []byte, value []byte) error {
	return r.db.Set(key, value, r.wo)
}

// DeleteValue ...
func (r *KV) DeleteValue(key []byte) error {
	return r.db.Delete(key, r.wo)
}

// GetWriteBatch ...
func (r *KV) GetWriteBatch() kv.IWriteBatch {
	return &pebbleWriteBatch{
		wb: r.db.NewBatch(),
		db: r.db,
		wo: r.wo,
	}
}

// CommitWriteBatch ...
func (r *KV) CommitWriteBatch(wb kv.IWriteBatch) error {
	pwb, ok := wb.(*pebbleWriteBatch)
	if !ok {
		panic("unknown type")
	}
	if pwb.db != r.db {
		panic("pwb.db != r.db")
	}
	return r.db.Apply(pwb.wb, r.wo)
}

// CommitWriteBatchNoSync ...
func (r *KV) CommitWriteBatchNoSync(wb kv.IWriteBatch) error {
	pwb, ok := wb.(*pebbleWriteBatch)
	if !ok {
		panic("unknown type")
	}
	if pwb.db != r.db {
		panic("pwb.db != r.db")
	}
	return r.db.Apply(pwb.wb, pebble.NoSync)
}

// BulkRemoveEntries ...
func (r *KV) BulkRemoveEntries(fk []byte, lk []byte) (err error) {
	wb := r.db.NewBatch()
	defer func() {
		err = firstError(err, wb.Close())
	}()
	if err := wb.DeleteRange(fk, lk, r.wo); err != nil {
		return err
	}
	return r.db.Apply(wb, r.wo)
}

// CompactEntries ...
func (r *KV) CompactEntries(fk []byte, lk []byte) error {
	return r.db.Compact(fk, lk, false)
}

// FullCompaction ...
func (r *KV) FullCompaction() error {
	fk := make([]byte, kv.MaxKeyLength)
	lk := make([]byte, kv.MaxKeyLength)
	for i := uint64(0); i < kv.MaxKeyLength; i++ {
		fk[i] = 0
		lk[i] = 0xFF
	}
	return r.db.Compact(fk, lk, false)
}
