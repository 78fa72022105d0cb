package logdb

import (
	"encoding/binary"
	"errors"
	"fmt"

	pb "github.com/lni/dragonboat/v4/raftpb"
)

// ErrMalformed is returned for a key or value that does not follow
// Dragonboat's LogDB format.
var ErrMalformed = errors.New("logdb: malformed record")

// unmarshaler is implemented by the raftpb types.
type unmarshaler interface{ Unmarshal([]byte) error }

// decode unmarshals b into m. Dragonboat's decoders are written for data it
// wrote itself and may panic on other input; this is the one place that
// turns such a panic into an error, so no input makes the tool panic.
func decode(what string, b []byte, m unmarshaler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s does not decode", ErrMalformed, what)
		}
	}()
	if err := m.Unmarshal(b); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
	}
	return nil
}

// DecodeEntry decodes a Raft log entry as the plain LogDB stores it.
func DecodeEntry(b []byte) (pb.Entry, error) {
	var e pb.Entry
	if err := decode("entry", b, &e); err != nil {
		return pb.Entry{}, err
	}
	if err := checkEntry(e); err != nil {
		return pb.Entry{}, err
	}
	return e, nil
}

func checkEntry(e pb.Entry) error {
	if e.Type < pb.ApplicationEntry || e.Type > pb.MetadataEntry {
		return fmt.Errorf("%w: entry %d has unknown type %d", ErrMalformed, e.Index, e.Type)
	}
	if e.Index == 0 {
		return fmt.Errorf("%w: entry with index 0", ErrMalformed)
	}
	return nil
}

// DecodeEntryBatch decodes the value of an entry batch key (batched LogDB).
func DecodeEntryBatch(b []byte) ([]pb.Entry, error) {
	var eb pb.EntryBatch
	if err := decode("entry batch", b, &eb); err != nil {
		return nil, err
	}
	for _, e := range eb.Entries {
		if err := checkEntry(e); err != nil {
			return nil, err
		}
	}
	return eb.Entries, nil
}

// DecodeState decodes a replica's persistent Raft state.
func DecodeState(b []byte) (pb.State, error) {
	var s pb.State
	err := decode("raft state", b, &s)
	return s, err
}

// DecodeSnapshot decodes snapshot metadata (a LogDB snapshot record or the
// body of a snapshot.metadata file).
func DecodeSnapshot(b []byte) (pb.Snapshot, error) {
	var s pb.Snapshot
	err := decode("snapshot record", b, &s)
	return s, err
}

// DecodeBootstrap decodes a replica's bootstrap record.
func DecodeBootstrap(b []byte) (pb.Bootstrap, error) {
	var s pb.Bootstrap
	err := decode("bootstrap record", b, &s)
	return s, err
}

// DecodeMaxIndex decodes a max index record.
func DecodeMaxIndex(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: max index of %d bytes", ErrMalformed, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// DecodeConfigChange decodes the command of a config change entry.
func DecodeConfigChange(e pb.Entry) (pb.ConfigChange, error) {
	var cc pb.ConfigChange
	if e.Type != pb.ConfigChangeEntry {
		return cc, fmt.Errorf("%w: entry %d is not a config change", ErrMalformed, e.Index)
	}
	err := decode("config change", e.Cmd, &cc)
	return cc, err
}

// Encoded entry header (Dragonboat's internal/rsm/encoded.go): version (4
// bits), compression (3 bits), session flag (1 bit).
const (
	encodedV0          = 0
	encodedNoCompress  = 0
	encodedSnappy      = 1
	encodedVersionMask = 0xf0
	encodedCompMask    = 0x0e
	encodedSessionMask = 0x01
)

// ErrCompressed is returned by Payload for an entry compressed with Snappy:
// vault never enables entry compression, and this tool does not read it.
var ErrCompressed = errors.New("logdb: compressed entry (snappy) is not supported")

// Payload returns the state machine command an entry carries: Cmd itself,
// or for an EncodedEntry the bytes after its header. Empty entries (a new
// leader's first entry) return nil.
func Payload(e pb.Entry) ([]byte, error) {
	switch e.Type {
	case pb.ApplicationEntry, pb.ConfigChangeEntry, pb.MetadataEntry:
		return e.Cmd, nil
	case pb.EncodedEntry:
		if len(e.Cmd) == 0 {
			return nil, fmt.Errorf("%w: encoded entry %d without header", ErrMalformed, e.Index)
		}
		h := e.Cmd[0]
		switch {
		case h&encodedVersionMask>>4 != encodedV0:
			return nil, fmt.Errorf("%w: encoded entry %d has version %d", ErrMalformed, e.Index, h>>4)
		case h&encodedSessionMask != 0:
			return nil, fmt.Errorf("%w: encoded entry %d has session data", ErrMalformed, e.Index)
		case h&encodedCompMask>>1 == encodedSnappy:
			return nil, ErrCompressed
		case h&encodedCompMask>>1 != encodedNoCompress:
			return nil, fmt.Errorf("%w: encoded entry %d has compression type %d", ErrMalformed, e.Index, h&encodedCompMask>>1)
		}
		return e.Cmd[1:], nil
	}
	return nil, fmt.Errorf("%w: entry %d has unknown type %d", ErrMalformed, e.Index, e.Type)
}
