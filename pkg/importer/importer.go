package importer

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/rootsock"
	"github.com/enroot-agent/enroot-agent/pkg/imageref"
)

// Bounds say how long a job waits on the cache before it imports on its
// own: the daemon must answer within AnswerWithin, send a line at least
// every LineWithin, and show progress (its counter moves) at least every
// NoProgressFor. A wedged daemon, a stuck import or a stalled registry costs
// a job at most these, never hours.
type Bounds struct {
	AnswerWithin, LineWithin, NoProgressFor time.Duration
}

// DefaultBounds are seconds, not hours.
func DefaultBounds() Bounds {
	return Bounds{AnswerWithin: 10 * time.Second, LineWithin: 15 * time.Second, NoProgressFor: 60 * time.Second}
}

// Importer is the Pyxis side: `enroot-agent importer get URI` and
// `release`, run by Pyxis as the job's user in the job's environment.
type Importer struct {
	Socket string
	Getenv func(string) string
	Stderr io.Writer
	Bounds Bounds // zero: DefaultBounds
}

func (im *Importer) bounds() Bounds {
	if im.Bounds == (Bounds{}) {
		return DefaultBounds()
	}
	return im.Bounds
}

// Get returns the squashfs Pyxis should use for uri. It asks the daemon
// with a digest the user resolved themselves (the daemon verifies it), and
// falls back to the user's own enroot import whenever the cache cannot
// serve: a cache problem never fails a job that would have run without it.
func (im *Importer) Get(ctx context.Context, uri string) (string, error) {
	path, err := im.fromCache(ctx, uri)
	if err == nil {
		return path, nil
	}
	fmt.Fprintf(im.Stderr, "enroot-agent importer: image cache not used (%v); importing %s as this user\n", err, uri)
	return im.ownImport(ctx, uri)
}

// fromCache asks the daemon /v2/get: the request goes at once, and the
// digest when the user's enroot digest gives it, so the daemon reads the
// manifest meanwhile. A daemon that gave no answer to it (an older one, or
// one that waited DigestWithin) is asked /v1/get with the digest.
func (im *Importer) fromCache(ctx context.Context, uri string) (string, error) {
	if _, err := imageref.ParseURI(uri); err != nil {
		return "", err
	}
	req := Request{URI: uri, Job: im.Getenv("SLURM_JOB_ID"), Step: im.Getenv("SLURM_STEP_ID")}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	first, _ := json.Marshal(req)
	digestR, digestW := io.Pipe()
	answered := make(chan answer, 1)
	go func() {
		a, err := im.post(ctx, PathGetV2, append(first, '\n'), digestR, DigestLine)
		digestR.Close() // a daemon that answered early (or never) takes no digest: the write below fails, not waits
		answered <- answer{a, err}
	}()
	d, err := im.digest(ctx, uri)
	if err != nil {
		digestW.CloseWithError(err)
		if a := <-answered; a.resp != nil {
			a.resp.Body.Close()
		}
		return "", err
	}
	_, _ = digestW.Write([]byte(string(d) + "\n"))
	a := <-answered
	var old *noAnswer
	if errors.As(a.err, &old) {
		req.Digest = string(d)
		body, _ := json.Marshal(req)
		a.resp, a.err = im.post(ctx, PathGet, body, nil, 0)
	}
	if a.err != nil {
		return "", a.err
	}
	defer a.resp.Body.Close()
	return follow(ctx, cancel, a.resp.Body, im.bounds())
}

type answer struct {
	resp *rootsock.Answer
	err  error
}

// follow reads the daemon's Events until the path or an error, giving up
// (cancel) when the lines or the progress stop.
func follow(ctx context.Context, cancel context.CancelCauseFunc, body io.Reader, b Bounds) (string, error) {
	lines := make(chan Event)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 4096), MaxRequest)
		for sc.Scan() {
			var e Event
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				select {
				case lines <- e:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	var last int64 = -1
	moved := time.Now()
	idle := time.NewTimer(b.LineWithin)
	defer idle.Stop()
	for {
		select {
		case e, ok := <-lines:
			if !ok {
				if err := context.Cause(ctx); err != nil {
					return "", err
				}
				return "", errors.New("the daemon hung up without an answer")
			}
			switch {
			case e.Error != "":
				return "", errors.New(e.Error)
			case e.Path != "":
				if !filepath.IsAbs(e.Path) {
					return "", fmt.Errorf("the daemon answered a relative path %q", e.Path)
				}
				return e.Path, nil
			}
			if e.Progress != last {
				last, moved = e.Progress, time.Now()
			} else if time.Since(moved) > b.NoProgressFor {
				cancel(fmt.Errorf("the daemon showed no progress for %s (%s)", b.NoProgressFor, e.State))
			}
			idle.Reset(b.LineWithin)
		case <-idle.C:
			cancel(fmt.Errorf("the daemon sent nothing for %s", b.LineWithin))
		}
	}
}

// post sends body (and rest, restLen more bytes of it, as they come) to
// the daemon, which must run as root, and returns its answer when it is
// 200; it gives up when there is no answer within AnswerWithin of the
// body's end. One request on a connection of its own (rootsock.RoundTrip):
// the importer is a process per container start. A daemon that refused
// the connection, hung up or answered 404 (it does not serve path) gave a
// *noAnswer; one that is there but silent did not.
func (im *Importer) post(ctx context.Context, path string, body []byte, rest io.Reader, restLen int) (*rootsock.Answer, error) {
	within := im.bounds().AnswerWithin
	resp, err := rootsock.RoundTrip(ctx, im.Socket, rootsock.Request{Method: "POST", Path: path, ContentType: "application/json",
		Body: body, Rest: rest, RestLen: restLen}, within)
	if err != nil {
		err = fmt.Errorf("the agent's image cache (%s): %w", im.Socket, err)
		if errors.Is(err, rootsock.ErrNoHeaders) || ctx.Err() != nil {
			return nil, err // there, but silent: asking again waits as long
		}
		return nil, &noAnswer{err}
	}
	if resp.Code != 200 {
		// A refusal is one short line: read within the same bound
		// (closing the body ends a read that waits).
		defer time.AfterFunc(within, func() { resp.Body.Close() }).Stop()
		defer resp.Body.Close()
		var e Event
		_ = json.NewDecoder(io.LimitReader(resp.Body, MaxRequest)).Decode(&e)
		if e.Error == "" {
			e.Error = resp.Status
		}
		if resp.Code == 404 {
			return nil, &noAnswer{errors.New(e.Error)}
		}
		return nil, errors.New(e.Error)
	}
	return resp, nil
}

// noAnswer is a request the daemon did not answer.
type noAnswer struct{ err error }

func (e *noAnswer) Error() string { return e.err.Error() }
func (e *noAnswer) Unwrap() error { return e.err }

// digest is `enroot digest URI` as this user, with their credentials.
func (im *Importer) digest(ctx context.Context, uri string) (imageref.Digest, error) {
	cmd := exec.CommandContext(ctx, "enroot", "digest", uri)
	var errOut strings.Builder
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("enroot digest %s: %v: %s", uri, err, tail(errOut.String()))
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return imageref.ParseDigest(lines[len(lines)-1])
}

// ownPath is where the fallback import goes, as Pyxis's simple importer.
func (im *Importer) ownPath() (string, error) {
	rt, uid := im.Getenv("PYXIS_RUNTIME_PATH"), im.Getenv("SLURM_JOB_UID")
	job, step := im.Getenv("SLURM_JOB_ID"), im.Getenv("SLURM_STEP_ID")
	if !filepath.IsAbs(rt) || !SlurmID(uid) || !SlurmID(job) || !SlurmID(step) {
		return "", fmt.Errorf("PYXIS_RUNTIME_PATH, SLURM_JOB_UID, SLURM_JOB_ID and SLURM_STEP_ID must be set (run by Pyxis)")
	}
	return filepath.Join(rt, uid, job+"."+step+".squashfs"), nil
}

func (im *Importer) ownImport(ctx context.Context, uri string) (string, error) {
	out, err := im.ownPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
		return "", err
	}
	_ = os.Remove(out) // a leftover of this step's earlier try
	// An interrupted job must not leave its import pulling for minutes:
	// SIGINT and SIGTERM end it with the importer. This is the one child
	// worth the handler; on a hit the importer starts only enroot digest,
	// which ends by itself, and os/signal's watcher thread costs 0.3 ms of
	// every start.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := exec.CommandContext(ctx, "enroot", "import", "--output", out, uri)
	cmd.Stdout, cmd.Stderr = im.Stderr, im.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("enroot import %s: %w", uri, err)
	}
	return out, nil
}

// Release drops this step's holds and its fallback file; it is idempotent.
func (im *Importer) Release(ctx context.Context) error {
	if out, err := im.ownPath(); err == nil {
		_ = os.Remove(out)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	body, _ := json.Marshal(Request{Job: im.Getenv("SLURM_JOB_ID"), Step: im.Getenv("SLURM_STEP_ID")})
	resp, err := im.post(ctx, PathRelease, body, nil, 0)
	if err == nil {
		resp.Body.Close()
	} else {
		fmt.Fprintf(im.Stderr, "enroot-agent importer: release: %v (the daemon drops the hold once the step is gone)\n", err)
	}
	return nil
}

func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}
