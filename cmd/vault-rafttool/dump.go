package main

import "github.com/urfave/cli/v2"

// openShards opens the state dir (see open) for a command that reads the
// shards --shard selects, and gives the viewer --redact asks for. The
// caller closes the session.
func openShards(c *cli.Context) (*session, []uint64, *viewer, error) {
	s, err := open(c)
	if err != nil {
		return nil, nil, nil, err
	}
	shards, err := s.shards(c)
	if err != nil {
		s.close()
		return nil, nil, nil, err
	}
	return s, shards, s.newViewer(c.Bool("redact")), nil
}

// finish ends a command that prints what it found: as JSON (result), or as
// the text already written to out, whose first write error it reports.
// Without one, the exit status says whether problems were found (done).
func (s *session) finish(asJSON bool, result any, out *textOut) error {
	if asJSON {
		if err := printJSON(s.stdout, result); err != nil {
			return err
		}
	} else if out.err != nil {
		return out.err
	}
	return s.done()
}
