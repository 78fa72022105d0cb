package vault

import (
	"context"
	"fmt"

	"github.com/lni/dragonboat/v4"
)

// Every raftsm query answers one type (raftsm's query docs). readAs,
// readAllAs and staleReadAs return that type, so that a query's result is
// converted in one place and a wrong type is an error, not a panic.

// queryResult converts a query's answer to T. An untyped nil is T's zero.
func queryResult[T any](out any) (T, error) {
	var zero T
	if out == nil {
		return zero, nil
	}
	t, ok := out.(T)
	if !ok {
		return zero, fmt.Errorf("a Raft query answered %T where %T was expected", out, zero)
	}
	return t, nil
}

// reader runs raftsm queries: a running node's replicas, or the node
// (which reads through its running phase).
type reader interface {
	read(ctx context.Context, shard uint64, q any) (any, error)
	readAll(ctx context.Context, q any) ([]any, error)
}

var (
	_ reader = (*Node)(nil)
	_ reader = (*replicas)(nil)
)

// readAs is reader.read with the answer's type.
func readAs[T any](ctx context.Context, n reader, shard uint64, q any) (T, error) {
	out, err := n.read(ctx, shard, q)
	if err != nil {
		var zero T
		return zero, err
	}
	return queryResult[T](out)
}

// readAllAs is reader.readAll with the answers' type, in shard order.
func readAllAs[T any](ctx context.Context, n reader, q any) ([]T, error) {
	outs, err := n.readAll(ctx, q)
	if err != nil {
		return nil, err
	}
	ts := make([]T, len(outs))
	for i, o := range outs {
		if ts[i], err = queryResult[T](o); err != nil {
			return nil, err
		}
	}
	return ts, nil
}

// staleReadAs reads from this node's applied state on nh, with the
// answer's type.
func staleReadAs[T any](nh *dragonboat.NodeHost, shard uint64, q any) (T, error) {
	out, err := nh.StaleRead(shard, q)
	if err != nil {
		var zero T
		return zero, err
	}
	return queryResult[T](out)
}
