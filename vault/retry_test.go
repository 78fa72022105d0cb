package vault

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lni/dragonboat/v4"
)

// withRetry gives each attempt a deadline no later than the request's,
// retries what is worth retrying, stops at once on anything else, and
// gives up once the request's time is spent.
func TestWithRetry(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	attempts := 0
	err := withRetry(ctx, "read", func(actx context.Context) error {
		attempts++
		dl, ok := actx.Deadline()
		if !ok || time.Until(dl) > attemptTimeout {
			t.Errorf("attempt %d: deadline %v, %v; want one within %v", attempts, dl, ok, attemptTimeout)
		}
		if attempts < 3 {
			return dragonboat.ErrShardNotReady
		}
		return nil
	})
	if err != nil || attempts != 3 {
		t.Fatalf("retryable twice, then fine: err %v after %d attempts, want nil after 3", err, attempts)
	}

	attempts = 0
	bad := errors.New("refused")
	err = withRetry(ctx, "read", func(context.Context) error { attempts++; return bad })
	if !errors.Is(err, bad) || attempts != 1 {
		t.Fatalf("not retryable: err %v after %d attempts, want %v after 1", err, attempts, bad)
	}

	short, cancelShort := context.WithTimeout(ctx, 400*time.Millisecond)
	defer cancelShort()
	attempts = 0
	err = withRetry(short, "read", func(actx context.Context) error {
		attempts++
		if dl, _ := actx.Deadline(); dl.After(time.Now().Add(400 * time.Millisecond)) {
			t.Errorf("attempt %d outlives the request: deadline %v", attempts, dl)
		}
		return dragonboat.ErrShardNotReady
	})
	var u *unavailableError
	if !errors.As(err, &u) || attempts < 2 {
		t.Fatalf("always retryable: err %v after %d attempts, want unavailable after several", err, attempts)
	}
}
