package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/internal/audit"
)

// Exit status of `vault audit verify` when every record up to the last seal
// verifies but records follow it that no seal covers.
const exitUnsealed = 2

func auditCommand() *cli.Command {
	return &cli.Command{
		Name:  "audit",
		Usage: "check the audit log and search it",
		Subcommands: []*cli.Command{
			{
				Name:      "verify",
				Usage:     "check the hash chain and seals of audit log files and name the first bad record",
				ArgsUsage: "FILE...",
				Description: "Give a log and its rotated files in any order; they are checked as one chain,\n" +
					"oldest first. Exit status: 0 every record verifies; 1 a bad record (or\n" +
					"another error); 2 the records after the last seal cannot be verified.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "key-file", Usage: "read the verification key (vault-audit-verify-v1:...) from a file instead of asking the daemon"},
				},
				Action: auditVerify,
			},
			{
				Name:  "key",
				Usage: "print the cluster's audit verification key, to verify logs off the cluster with --key-file",
				Description: "The key is public: it checks seals and cannot make them, so it can be given\n" +
					"to an auditor. Save it with: vault audit key > audit-verify.key",
				Action: func(c *cli.Context) error {
					if c.Args().Present() {
						return usagef("vault audit key > audit-verify.key", "audit key takes no arguments")
					}
					r, err := client(c).AuditVerifyKey(c.Context)
					if err != nil {
						return noDaemonKey(err, "")
					}
					fmt.Println(r.VerifyKey)
					return nil
				},
			},
			{
				Name:      "hash",
				Usage:     "print the HMAC under which audit records name a secret, to search the log for",
				ArgsUsage: "NAME",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "audit-key-file", Usage: "read the audit name key (vault-audit-name-v1:...) from a file instead of asking the daemon"},
				},
				Action: auditHash,
			},
		},
	}
}

func auditVerify(c *cli.Context) error {
	files := c.Args().Slice()
	if len(files) == 0 {
		return usagef("vault audit verify [--key-file FILE] /var/log/vault/audit.log*", "give the audit log files to verify")
	}
	key, err := auditVerifyKey(c)
	if err != nil {
		return err
	}
	files, err = chainOrder(files)
	if err != nil {
		return err
	}
	res, err := audit.VerifyFiles(key, files...)
	var ve *audit.VerifyError
	if errors.As(err, &ve) {
		return usagef(verifyHint(ve), "%s", verifyMessage(ve))
	}
	if err != nil {
		return err
	}
	fmt.Printf("%d records (%d to %d), %d seals: ", res.Records, res.First, res.Last, res.Seals)
	if res.Unsealed == 0 {
		fmt.Println("verified")
	} else {
		fmt.Printf("verified up to record %d\n", res.LastSeal)
	}
	if !res.Anchored {
		fmt.Fprintf(os.Stderr, "vault: note: the chain starts at record %d, in a file not given; give the older files too to check the link to them\n", res.First)
	}
	if res.Unsealed > 0 {
		fmt.Fprintf(os.Stderr, "vault: warning: records after the last seal cannot be verified: records %d to %d (%d); a running log seals them within a second, a closed one ends with a seal, so a file that still ends unsealed may have been cut\n",
			res.Last-res.Unsealed+1, res.Last, res.Unsealed)
		os.Exit(exitUnsealed)
	}
	return nil
}

// verifyMessage words a verification failure for the operator.
func verifyMessage(ve *audit.VerifyError) string {
	what := map[error]string{
		audit.ErrMalformed: "is not a record as the log writes it",
		audit.ErrEdited:    "was edited",
		audit.ErrDeleted:   "follows deleted records",
		audit.ErrReordered: "is out of order",
		audit.ErrTruncated: "is cut off (the file was truncated)",
		audit.ErrBadSeal:   "is a seal that does not verify",
		audit.ErrWrongKey:  "is a seal made under another key",
	}[ve.Err]
	rec := "the line"
	if ve.Err == audit.ErrTruncated {
		rec = "the last record"
	}
	if ve.Seq != 0 {
		rec = fmt.Sprintf("record %d", ve.Seq)
	}
	return fmt.Sprintf("%s, line %d: %s %s: %s", ve.File, ve.Line, rec, what, ve.Detail)
}

func verifyHint(ve *audit.VerifyError) string {
	if ve.Line == 1 && ve.Err == audit.ErrMalformed {
		return fmt.Sprintf("is %s a vault audit log?", ve.File)
	}
	switch ve.Err {
	case audit.ErrWrongKey:
		return "is this log from another cluster? `vault audit verify` without --key-file asks the daemon for this cluster's key"
	case audit.ErrTruncated:
		return fmt.Sprintf("the records before the cut verify: `head -n %d %s` shows them", ve.Line-1, ve.File)
	}
	return "every record before it verifies; compare this file with a copy shipped off the node"
}

// chainOrder sorts files by the sequence number of their first record, so
// `audit.log*` (audit.log audit.log.1 ...) is checked oldest first. Files
// whose first record does not parse keep their place at the front, where
// the verifier will name them.
func chainOrder(files []string) ([]string, error) {
	type f struct {
		name  string
		first uint64
	}
	fs := make([]f, len(files))
	for i, name := range files {
		r, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, errors.Unwrap(err))
		}
		fs[i] = f{name, audit.FirstSeq(r)}
		r.Close()
	}
	slices.SortStableFunc(fs, func(a, b f) int {
		switch {
		case a.first < b.first:
			return -1
		case a.first > b.first:
			return 1
		}
		return 0
	})
	out := make([]string, len(fs))
	for i := range fs {
		out[i] = fs[i].name
	}
	return out, nil
}

// auditVerifyKey reads --key-file, or asks the local daemon.
func auditVerifyKey(c *cli.Context) (audit.VerifyKey, error) {
	if p := c.String("key-file"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return audit.VerifyKey{}, fmt.Errorf("read the key file: %w", err)
		}
		k, err := audit.ParseVerifyKey(string(b))
		if err != nil {
			return k, usagef("the file holds one line, vault-audit-verify-v1: and 64 hex digits, as `vault audit key` prints it on a manager", "%s: %s", p, keyErr(err))
		}
		return k, nil
	}
	r, err := client(c).AuditVerifyKey(c.Context)
	if err != nil {
		return audit.VerifyKey{}, noDaemonKey(err, "--key-file FILE (a line vault-audit-verify-v1:...)")
	}
	k, err := audit.ParseVerifyKey(r.VerifyKey)
	if err != nil {
		return k, fmt.Errorf("the daemon's verification key: %s", keyErr(err))
	}
	return k, nil
}

func auditHash(c *cli.Context) error {
	if c.Args().Len() != 1 {
		return usagef("vault audit hash NAME, then grep the log for what it prints", "give one secret name")
	}
	name := c.Args().First()
	if p := c.String("audit-key-file"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read the key file: %w", err)
		}
		k, err := audit.ParseNameKey(string(b))
		clear(b)
		if err != nil {
			return usagef("the file holds one line, vault-audit-name-v1: and 64 hex digits", "%s: %s", p, keyErr(err))
		}
		fmt.Println(k.HashName(name))
		return nil
	}
	r, err := client(c).AuditHash(c.Context, name)
	if err != nil {
		return noDaemonKey(err, "--audit-key-file FILE (a line vault-audit-name-v1:...)")
	}
	fmt.Println(r.HMAC)
	return nil
}

// noDaemonKey adds to a failure to get a key from the daemon the hint that
// a key file does without it.
func noDaemonKey(err error, flag string) error {
	var ae *api.Error
	if !errors.As(err, &ae) {
		return err
	}
	e := *ae
	if flag == "" {
		if e.Code == api.CodeUnsupported {
			e.Message = "this vault daemon does not give out audit keys"
		}
		return &e
	}
	if e.Code == api.CodeUnsupported {
		e.Message = "this vault daemon does not give out audit keys"
	}
	e.Hint = "pass " + flag + " to do without the daemon\n" + ae.Hint
	return &e
}

// keyErr is a key parse error without the package prefix.
func keyErr(err error) string {
	msg := err.Error()
	if s, ok := strings.CutPrefix(msg, audit.ErrBadKey.Error()+": "); ok {
		return "not an audit key: " + s
	}
	return msg
}
