package vault

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/vaultd/vault/api"
	"github.com/vaultd/vault/ca"
	"github.com/vaultd/vault/crypto"
	"github.com/vaultd/vault/keys"
)

// moduleSource is what the module's non-test Go files say: the package names
// they declare and every string literal in them.
type moduleSource struct {
	packages map[string]bool
	literals []string
	// sentinels are the texts of errors.New calls assigned to exported
	// variables named Err* of packages outside internal/ and cmd/.
	sentinels map[string]string // text -> pkg.Name
}

func readModuleSource(t *testing.T) *moduleSource {
	t.Helper()
	src := &moduleSource{packages: map[string]bool{}, sentinels: map[string]string{}}
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// third_party holds other modules (a patched Dragonboat), not this one's source.
		if e.IsDir() && (e.Name() == "testdata" || e.Name() == "bench" || e.Name() == "third_party" || strings.HasPrefix(e.Name(), ".")) && p != ".." {
			return filepath.SkipDir
		}
		if e.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return err
		}
		if f.Name.Name != "main" {
			src.packages[f.Name.Name] = true
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BasicLit:
				if n.Kind == token.STRING {
					if s, err := strconv.Unquote(n.Value); err == nil {
						src.literals = append(src.literals, s)
					}
				}
			case *ast.ValueSpec:
				for i, name := range n.Names {
					if !strings.HasPrefix(name.Name, "Err") || i >= len(n.Values) ||
						strings.Contains(p, "internal/") || strings.Contains(p, "cmd/") {
						continue
					}
					if call, ok := n.Values[i].(*ast.CallExpr); ok && len(call.Args) == 1 {
						if lit, ok := call.Args[0].(*ast.BasicLit); ok {
							s, _ := strconv.Unquote(lit.Value)
							src.sentinels[s] = f.Name.Name + "." + name.Name
						}
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(src.packages) < 6 || len(src.sentinels) < 20 {
		t.Fatalf("read %d packages and %d sentinel errors: the walk missed the module", len(src.packages), len(src.sentinels))
	}
	return src
}

// prefixRE matches a Go package's prefix anywhere in a message: a package of
// this module, or of a library whose errors the node wraps.
func (s *moduleSource) prefixRE() *regexp.Regexp {
	names := []string{"dragonboat", "pebble", "tls", "x509", "json", "http"}
	for p := range s.packages {
		names = append(names, regexp.QuoteMeta(p))
	}
	return regexp.MustCompile(`(^|[\s(;:])(` + strings.Join(names, "|") + `): `)
}

// leadingWord is any "word: " at the start of a message, which reads as a
// package prefix to an operator even when it is not one.
var leadingWord = regexp.MustCompile(`^[a-z]+: `)

// TestOperatorErrorsNameNoPackage walks the error texts the daemon can send
// the CLI: every sentinel error of the module, bare and wrapped, every
// prefixed string literal, and errors made by the parsers of what operators
// type. None may carry a Go package prefix once operatorError has made it an
// API error.
func TestOperatorErrorsNameNoPackage(t *testing.T) {
	src := readModuleSource(t)
	prefix := src.prefixRE()
	check := func(what string, err error) {
		t.Helper()
		e := operatorError(api.CodeInternal, err)
		if prefix.MatchString(e.Message) || prefix.MatchString(e.Hint) {
			t.Errorf("%s: the message names a Go package: %q (hint %q)", what, e.Message, e.Hint)
		}
	}

	// Every sentinel is listed in operatorTexts (so it has a code and hint
	// chosen for operators), and reads clean bare and wrapped.
	listed := map[string]bool{}
	for _, o := range operatorTexts {
		listed[o.err.Error()] = true
	}
	for text, name := range src.sentinels {
		if !prefix.MatchString(text) {
			continue // not an error text (or not prefixed)
		}
		if !listed[text] {
			t.Errorf("%s (%q) is not in operatorTexts", name, text)
		}
	}
	for _, o := range operatorTexts {
		for _, err := range []error{o.err, fmt.Errorf("%w: some detail", o.err), fmt.Errorf("open keyring: %w", o.err)} {
			check(o.err.Error(), err)
			if e := operatorError(api.CodeInternal, err); leadingWord.MatchString(e.Message) {
				t.Errorf("%q reads as %q, which starts like a package prefix", err, e.Message)
			}
		}
	}

	// Every prefixed literal (unexported errors, wrapping formats such as
	// "keys: share %d was already added").
	n := 0
	for _, s := range src.literals {
		if prefix.MatchString(s) && !strings.Contains(s, "\n") {
			n++
			check(fmt.Sprintf("literal %q", s), errors.New(s))
		}
	}
	if n < 30 {
		t.Fatalf("only %d prefixed literals found", n)
	}

	// Errors the parsers make from what operators type.
	key, err := keys.GenerateUnlockKey("cluster-a")
	if err != nil {
		t.Fatal(err)
	}
	typo := []byte(key.Text())
	typo[20] = map[bool]byte{true: 'B', false: 'A'}[typo[20] == 'A']
	shares, err := key.Split(3, 2)
	if err != nil {
		t.Fatal(err)
	}
	shareTypo := []byte(shares[0])
	shareTypo[20] = map[bool]byte{true: 'B', false: 'A'}[shareTypo[20] == 'A']
	var set keys.ShareSet
	if _, _, err := set.Add(shares[0]); err != nil {
		t.Fatal(err)
	}
	typed := map[string]error{}
	for _, s := range []string{"", "hello", "VLTKEY-1-ABC", "vltkey-1-abc", string(typo), "VLTSHR-1-ABC", shares[1] + "A"} {
		_, err := keys.ParseUnlockKey(s)
		typed["unlock key "+strconv.Quote(s)] = err
		_, err = keys.ParseShare(s)
		typed["share "+strconv.Quote(s)] = err
	}
	_, _, typed["the same share twice"] = set.Add(shares[0])
	_, _, typed["a share with a typo"] = set.Add(string(shareTypo))
	typed["another cluster's key"] = key.CheckCluster("cluster-b")
	for _, s := range []string{"", "SWMTKN-1-abc", "VLTJOIN-1-xyz"} {
		_, typed["join token "+strconv.Quote(s)] = ca.ParseToken(s)
	}
	for what, err := range typed {
		if err == nil {
			t.Errorf("%s: no error", what)
			continue
		}
		check(what, err)
		if e := operatorError(api.CodeInvalid, err); leadingWord.MatchString(e.Message) {
			t.Errorf("%s: %q starts like a package prefix", what, e.Message)
		}
	}
}

func TestOperatorError(t *testing.T) {
	given := api.Errorf(api.CodeNotFound, "no such secret: x")
	for _, c := range []struct {
		name       string
		err        error
		code, msg  string
		hintPrefix string
	}{
		{"an API error passes", given, api.CodeNotFound, "no such secret: x", ""},
		{"a sentinel's code and message", fmt.Errorf("x: %w", keys.ErrOtherCluster), api.CodeInvalid, "this unlock key belongs to another cluster", "`vault status`"},
		{"a sentinel keeps its detail", fmt.Errorf("%w: have 1, need 2", keys.ErrNotEnoughShares), api.CodeInvalid, "not enough shares: have 1, need 2", "give more shares"},
		{"prefixes anywhere go", errors.New("open: keys: keyring: crypto: bad"), api.CodeInternal, "open: keyring: bad", ""},
		{"other words stay", errors.New("secret db: mode 644"), api.CodeInternal, "secret db: mode 644", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := operatorError(api.CodeInternal, c.err)
			if e.Code != c.code || e.Message != c.msg || !strings.HasPrefix(e.Hint, c.hintPrefix) {
				t.Fatalf("got %q %q hint %q, want %q %q hint %q...", e.Code, e.Message, e.Hint, c.code, c.msg, c.hintPrefix)
			}
		})
	}
}

// TestStartErrorsNameNoPackage: an error from Start reaches the operator
// without becoming an API error; it reads clean and still wraps its cause.
func TestStartErrorsNameNoPackage(t *testing.T) {
	dir := t.TempDir()
	// A state dir whose node.json is not JSON: Start refuses it.
	if err := os.WriteFile(filepath.Join(dir, "node.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Config{StateDir: dir, SocketPath: filepath.Join(dir, "s"), ListenAddr: "127.0.0.1:1", Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		t.Fatal("Start accepted a broken node.json")
	}
	if regexp.MustCompile(`(^|[\s(;:])(json|vault|crypto|keys): `).MatchString(err.Error()) {
		t.Fatalf("Start's error names a package: %q", err)
	}
	wrapped := &operatorErr{fmt.Errorf("read KEK: %w", crypto.ErrIntegrity)}
	if got := wrapped.Error(); got != "read KEK: integrity check failed" || !errors.Is(wrapped, crypto.ErrIntegrity) {
		t.Fatalf("operatorErr reads %q (wraps ErrIntegrity: %v)", got, errors.Is(wrapped, crypto.ErrIntegrity))
	}
}
