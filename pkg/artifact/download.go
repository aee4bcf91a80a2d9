package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/enroot-agent/enroot-agent/internal/atomicfile"
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
