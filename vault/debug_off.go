//go:build !vaulttest

package vault

import "net/http"

// registerDebug adds nothing: key export exists only in test builds.
func (n *Node) registerDebug(*http.ServeMux) {}
