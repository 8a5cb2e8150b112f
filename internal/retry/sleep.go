package retry

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrDeadline is returned (wrapped, together with context.DeadlineExceeded) by
// [Sleep] when the requested delay would end at or after the context's
// deadline: the retry could not happen in time, so Sleep does not wait at all.
var ErrDeadline = errors.New("herz/retry: backoff would pass the context deadline")

// Sleep waits for d or until ctx is done, whichever comes first.
//
// It never sleeps past ctx's deadline: when the deadline is at or before
// now+d it returns at once, without sleeping, an error wrapping both
// [ErrDeadline] and context.DeadlineExceeded. When ctx is already done, or is
// canceled while sleeping, it returns an error wrapping ctx.Err() (and the
// cancel cause, when one was given). It returns nil after a full sleep, and at
// once for d ≤ 0 with a live ctx.
func Sleep(ctx context.Context, d time.Duration) error {
	if ctx.Err() != nil {
		return interrupted(ctx)
	}
	if d <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left <= d {
			return fmt.Errorf("%w: a %v backoff, %v left: %w", ErrDeadline, d, left, context.DeadlineExceeded)
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return interrupted(ctx)
	}
}

// interrupted wraps ctx's error, and its cause when that says more.
func interrupted(ctx context.Context) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		return fmt.Errorf("herz/retry: backoff interrupted: %w: %w", err, cause)
	}
	return fmt.Errorf("herz/retry: backoff interrupted: %w", err)
}
