package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/vaultd/vault/keys"
)

// A cluster whose unlock key was split into Shamir shares has no single key
// to give the tool: --unlock-share-file FILE (repeatable; - once for stdin;
// a file may hold several shares, one a line) gives the shares instead. They
// are combined once the node's keyrings are read, so that a share of a
// previous split is told apart at once: a share made for a KEK names the
// split whose key opens a keyring (keys.SplitIDFor the keyring's key check
// value), before anything is combined.

// givenShare is one share's text and the file it came from.
type givenShare struct {
	text string
	file string
}

// sharesFromFlags reads every --unlock-share-file, or returns nil when none
// was given.
func sharesFromFlags(c *cli.Context) ([]givenShare, error) {
	files := c.StringSlice("unlock-share-file")
	if len(files) == 0 {
		return nil, nil
	}
	if c.IsSet("unlock-key") || c.IsSet("unlock-key-file") {
		return nil, usagef("give the unlock key or its shares", "--unlock-share-file given with an unlock key")
	}
	var out []givenShare
	stdin := false
	for _, f := range files {
		var b []byte
		var err error
		name := f
		if f == "-" {
			if stdin {
				return nil, usagef("give stdin once; it may hold several shares, one a line", "--unlock-share-file - given twice")
			}
			stdin, name = true, "stdin"
			b, err = io.ReadAll(io.LimitReader(c.App.Reader, 64<<10))
		} else {
			b, err = os.ReadFile(f)
		}
		if err != nil {
			return nil, fmt.Errorf("read the unlock key share: %w", err)
		}
		n := 0
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				out = append(out, givenShare{text: line, file: name})
				n++
			}
		}
		clear(b)
		if n == 0 {
			return nil, withHint(fmt.Errorf("%s holds no share", name), "put one share a line in the file (VLTSHR-... as printed when the key was split)")
		}
	}
	return out, nil
}

// combineShares combines the given shares into the unlock key. checks are
// the key check values of the keyrings the key is to open: bound shares of
// another split are refused before anything is combined. Errors say which
// share, from which file, and what to do.
func combineShares(given []givenShare, checks [][]byte, clusterID string) (*keys.UnlockKey, error) {
	var set keys.ShareSet
	defer set.Wipe()
	set.ExpectSplits(checks...)
	fileOf := map[int]string{} // share number -> file
	for _, g := range given {
		_, _, err := set.Add(g.text)
		if err != nil {
			return nil, shareError(err, g.file, len(given))
		}
		if sh, err := keys.ParseShare(g.text); err == nil {
			fileOf[sh.Number()] = g.file
			sh.Wipe()
		}
	}
	have, need := set.Progress()
	if have < need {
		return nil, withHint(fmt.Errorf("%d shares given, %d needed", have, need),
			fmt.Sprintf("give %d more with --unlock-share-file", need-have))
	}
	u, err := set.Key()
	if err != nil {
		var se *keys.ShareError
		if errors.As(err, &se) {
			return nil, shareError(err, fileOf[se.Number], have)
		}
		return nil, shareError(err, "", have)
	}
	if err := u.CheckCluster(clusterID); err != nil {
		u.Wipe()
		return nil, withHint(fmt.Errorf("the shares combine to the unlock key of another cluster, not of cluster %s", clusterID),
			"each cluster has its own unlock key: use the shares printed when this cluster's key was split")
	}
	return u, nil
}

// shareError turns a keys error about shares into the tool's message and a
// hint that agrees with it.
func shareError(err error, file string, given int) error {
	in := ""
	if file != "" {
		in = " (in " + file + ")"
	}
	var se *keys.ShareError
	num := 0
	if errors.As(err, &se) {
		num = se.Number
	}
	// The keys message names the share; say where it came from too.
	named := errors.New(strings.Replace(strings.TrimPrefix(err.Error(), "keys: "),
		fmt.Sprintf("share %d", num), fmt.Sprintf("share %d%s", num, in), 1))
	switch {
	case errors.Is(err, keys.ErrShareFormat):
		return withHint(fmt.Errorf("a share%s is malformed: %w", in, err),
			"check that the whole share was copied; it was not tried")
	case errors.Is(err, keys.ErrShareChecksum):
		return withHint(fmt.Errorf("share %d%s has a typo: its checksum does not match", num, in),
			"compare it character by character with the share you saved; it was not tried")
	case errors.Is(err, keys.ErrPreviousSplit):
		return withHint(named,
			"give shares of the split that opens this node: the ones printed by the last `vault unlock-key --rotate` or `vault cluster update --autolock`; if this node was down during a later re-split, the shares from before it")
	case errors.Is(err, keys.ErrOtherSplit):
		return withHint(named,
			"give shares of one split only: every share of a split carries the same split id")
	case errors.Is(err, keys.ErrDuplicateShare):
		return withHint(fmt.Errorf("share %d%s was given twice", num, in),
			"give different shares of the split")
	case errors.Is(err, keys.ErrSharesCorrupt) && num != 0 && strings.Contains(err.Error(), "valid key: shares "):
		// Several named: "shares 2, 5 may be corrupt".
		_, which, _ := strings.Cut(err.Error(), "valid key: shares ")
		which, _, _ = strings.Cut(which, " may be")
		return withHint(fmt.Errorf("shares %s do not agree with the others: they are corrupt or forged", which),
			fmt.Sprintf("leave shares %s out and give other shares of the split in their place", which))
	case errors.Is(err, keys.ErrSharesCorrupt) && num != 0:
		return withHint(fmt.Errorf("share %d%s does not agree with the others: it is corrupt or forged", num, in),
			fmt.Sprintf("leave share %d out and give another share of the split in its place", num))
	case errors.Is(err, keys.ErrSharesCorrupt) && strings.Contains(err.Error(), "more than one share"):
		return withHint(fmt.Errorf("the %d shares do not combine to a valid unlock key: more than one of them is corrupt or forged", given),
			"give other shares of the split: with more shares than the threshold the tool names each bad one")
	case errors.Is(err, keys.ErrSharesCorrupt):
		return withHint(fmt.Errorf("the %d shares do not combine to a valid unlock key: one of them is corrupt or forged, and with exactly the threshold which one cannot be told", given),
			"give one more share of the split (another --unlock-share-file): with more than the threshold the tool names the bad one")
	}
	return err
}
