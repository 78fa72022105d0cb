package vault

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/raftsm"
)

// listPage is how many secrets one read of a listing fetches from a group.
// Each page is one read (linearizable unless ?stale=true), so a listing of
// a million secrets makes about 120 reads, and none holds a group's read
// lock for long or copies a whole group into memory (two pages, a few MB,
// are in memory at a time).
const listPage = 8192

// listPageTimeout bounds each page's read; a listing as a whole has no
// deadline, since its length follows the number of secrets.
const listPageTimeout = 30 * time.Second

// serveSecretList answers GET /v1/secrets: every secret, by id within each
// group, streamed as pages are read (api.SecretListWriter, readPages), so that the
// first secrets reach the client while later pages are read and memory
// does not grow with the list. Each page is consistent; the list as a
// whole is not a snapshot: a secret created or removed while it streams
// may or may not appear, and no secret appears twice. An error before the
// first byte is an error answer; after it, the connection is cut, so that
// the client never takes a partial list for a complete one.
//
// With ?keys=true each element is only the secret's id and name
// (api.SecretKey): every record is still opened (the name is sealed in
// it), and the list is authorized and audited the same, but nothing else
// of the record is kept, encoded or sent.
func (n *Node) serveSecretList(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithCancel(readContext(r))
	defer cancel() // stops readPages when the answer ends early
	var lw *api.SecretListWriter
	// audited writes the request's audit record once, when the answer's
	// first byte is about to go out (its result: the first page read or
	// not); under the closed policy a record that cannot be written
	// refuses the list.
	audited := false
	audit := func(err error) error {
		if audited {
			return err
		}
		audited = true
		if aerr := n.auditAfter(r, nil, err); aerr != nil {
			return aerr
		}
		return err
	}
	fail := func(err error) {
		err = audit(err)
		var ae *api.Error
		if !errors.As(err, &ae) {
			n.log.Error("request failed", "method", r.Method, "route", r.Pattern, "err", err)
		}
		if lw == nil {
			writeError(w, err)
			return
		}
		panic(http.ErrAbortHandler)
	}
	begin := func() bool {
		if err := audit(nil); err != nil {
			fail(err)
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		lw = api.NewSecretListWriter(w)
		return true
	}
	keysOnly, err := listKeysOnly(r)
	if err != nil {
		fail(err)
		return
	}
	rp, err := n.running()
	if err != nil {
		fail(err)
		return
	}
	pages := rp.readPages(ctx)
	for pg := range pages {
		if pg.err != nil {
			fail(pg.err)
			return
		}
		if lw == nil && !begin() {
			return
		}
		parts, err := rp.encodePage(pg.shard, pg.Secrets, keysOnly)
		if err != nil {
			fail(err)
			return
		}
		for _, p := range parts {
			if lw.AddEncoded(p.b, p.n) != nil {
				return // the client went away
			}
		}
	}
	if lw == nil && !begin() {
		return
	}
	_ = lw.Close()
}

// listedPage is a page of a listing, or the error that ended it.
type listedPage struct {
	shard uint64
	*raftsm.SecretPage
	err error
}

// readPages reads every group's pages in order into the channel it
// returns, one page ahead of its reader: the next page's read (a round to
// the group leader, then the scan) overlaps with opening and sending the
// current one. The channel closes after the last page or an error; the
// reader must drain it, or cancel ctx to stop it early.
func (r *replicas) readPages(ctx context.Context) <-chan listedPage {
	ctx, cancel := context.WithCancel(ctx)
	out := make(chan listedPage, 1)
	go func() {
		defer close(out)
		defer cancel()
		send := func(p listedPage) bool {
			select {
			case out <- p:
				return p.err == nil
			case <-ctx.Done():
				return false
			}
		}
		for _, shard := range raftsm.SecretShards(r.st.Shards) {
			for after := ""; ; {
				pctx, cancel := context.WithTimeout(ctx, listPageTimeout)
				page, err := readAs[*raftsm.SecretPage](pctx, r, shard, raftsm.QuerySecretPage{After: after, Limit: listPage})
				cancel()
				if err == nil && page == nil {
					err = errors.New("a secret group answered no page")
				}
				if !send(listedPage{shard: shard, SecretPage: page, err: err}) {
					return
				}
				if !page.More || len(page.Secrets) == 0 {
					break
				}
				after = page.Secrets[len(page.Secrets)-1].ID
			}
		}
	}()
	return out
}

// listKeysOnly reads a listing's ?keys= (absent: false).
func listKeysOnly(r *http.Request) (bool, error) {
	switch v := r.URL.Query().Get("keys"); v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, api.Errorf(api.CodeInvalid, "keys=%q: want keys=true (only each secret's id and name) or keys=false", v)
	}
}
