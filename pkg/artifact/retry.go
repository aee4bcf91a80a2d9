package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/backoff"
	"go.uber.org/zap"
)

// ErrNotFound means the source answered that the file does not exist. It is
// not retried: a missing SHA256SUMS is normal, a missing package is a typo.
var ErrNotFound = errors.New("not found at the source")

// permanentError marks a failure that another attempt cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// retryable is the identity; it documents that err is worth another try.
func retryable(err error) error { return err }

// retry runs fn up to Attempts times with jittered, capped exponential backoff.
func (f *Fetcher) retry(ctx context.Context, url string, fn func(context.Context) error) error {
	var err error
	for attempt := 1; attempt <= f.Attempts; attempt++ {
		if err = fn(ctx); err == nil {
			return nil
		}
		var perm *permanentError
		if errors.As(err, &perm) || errors.Is(err, ErrNotFound) || ctx.Err() != nil {
			return err
		}
		if attempt == f.Attempts {
			break
		}
		wait := f.backoff(attempt)
		f.Log.Warn("download attempt failed; retrying", zap.String("url", Redact(url)), zap.Int("attempt", attempt),
			zap.Int("of", f.Attempts), zap.Duration("wait", wait), zap.Error(err))
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (while waiting to retry after: %w)", Redact(url), ctx.Err(), err)
		case <-time.After(wait):
		}
	}
	return fmt.Errorf("%s: gave up after %d attempts: %w", Redact(url), f.Attempts, err)
}

// backoff doubles from MinBackoff up to MaxBackoff and waits a random time in
// [d/2, d], so nodes that failed together do not retry together.
func (f *Fetcher) backoff(attempt int) time.Duration {
	d := backoff.Exp(f.MinBackoff, f.MaxBackoff, attempt)
	return backoff.Jitter(d, d/2, rand.Int64N)
}

// errStalled is the cause set on a request whose body stopped arriving.
type errStalled struct{ after time.Duration }

func (e errStalled) Error() string {
	return fmt.Sprintf("no data received for %s (stalled download)", e.after)
}

// watch cancels the request when no body bytes arrive for Timeouts.Stall. A
// whole-transfer deadline would punish a big file on a slow but live link.
func (f *Fetcher) watch(ctx context.Context, cancel context.CancelCauseFunc, r io.Reader) io.Reader {
	stall := f.Timeouts.Stall
	if stall <= 0 {
		return r
	}
	t := time.AfterFunc(stall, func() { cancel(errStalled{stall}) })
	context.AfterFunc(ctx, func() { t.Stop() })
	return readerFunc(func(p []byte) (int, error) {
		n, err := r.Read(p)
		if n > 0 {
			t.Reset(stall)
		}
		return n, err
	})
}

type readerFunc func([]byte) (int, error)

func (fn readerFunc) Read(p []byte) (int, error) { return fn(p) }

// causeOf prefers the reason the request was cancelled over the bare
// "context canceled" the reader reports.
func causeOf(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
		return c
	}
	return err
}
