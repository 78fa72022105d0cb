//go:build !vaulttest

package vault

// registerDebug adds nothing: key export exists only in test builds.
func (n *Node) registerDebug(*routeTable) {}
