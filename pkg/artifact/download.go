package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
	"github.com/enroot-agent/enroot-agent/internal/backoff"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// partPath is where a download grows until it is complete and verified. The
// leading dot keeps it out of any glob; the cache dir is root-only.
func partPath(dest string) string {
	return filepath.Join(filepath.Dir(dest), "."+filepath.Base(dest)+".part")
}

// download fetches url into dest's part file and returns its digest. When a
// digest is expected, a part left by an earlier failed attempt or run is
// resumed; the digest check then catches a file that changed at the source
// in between, and one fresh download follows. An unpinned file is always
// downloaded whole, since nothing could catch a spliced one.
func (f *Fetcher) download(ctx context.Context, url, dest, want string) (string, error) {
	part := partPath(dest)
	if want == "" {
		_ = os.Remove(part)
	}
	resumed := false
	fetch := func(ctx context.Context) error {
		r, err := f.attempt(ctx, url, part)
		resumed = resumed || r
		return err
	}
	if err := f.retry(ctx, url, fetch); err != nil {
		return "", err
	}
	got, err := atomicfile.SHA256(part)
	if err != nil || want == "" || got == want || !resumed {
		return got, err
	}
	f.Log.Warn("resumed download does not verify; downloading it whole once more")
	_ = os.Remove(part)
	if err := f.retry(ctx, url, fetch); err != nil {
		return "", err
	}
	return atomicfile.SHA256(part)
}

// attempt appends to part from where it ends, or restarts it when the source
// cannot serve a range.
func (f *Fetcher) attempt(ctx context.Context, url, part string) (resumed bool, err error) {
	fd, err := unix.Open(part, unix.O_WRONLY|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return false, permanent(fmt.Errorf("open %s: %w", part, err))
	}
	file := os.NewFile(uintptr(fd), part)
	defer file.Close()
	offset, err := file.Seek(0, io.SeekEnd)
	if err != nil {
		return false, permanent(err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	body, start, err := f.open(ctx, url, offset)
	if err != nil {
		if errors.As(err, new(errRestart)) {
			_ = file.Truncate(0)
		}
		return false, err
	}
	defer body.Close()
	resumed = start > 0
	if start != offset {
		if err := file.Truncate(start); err != nil {
			return resumed, permanent(err)
		}
		if _, err := file.Seek(start, io.SeekStart); err != nil {
			return resumed, permanent(err)
		}
	}
	if _, err := io.Copy(file, f.watch(ctx, cancel, body)); err != nil {
		return resumed, retryable(fmt.Errorf("read %s: %w", Redact(url), causeOf(ctx, err)))
	}
	return resumed, permanent(file.Sync())
}

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
