// Package awsproc runs one AWS call in the AWS helper, enroot-agent-aws, a
// child process that holds the AWS SDK (cmd/enroot-agent-aws), and reads
// its answer (package awswire). The agent links no SDK: the SDK's package
// initialisers alone kept about 8 MB of every node's idle daemon resident,
// while the calls are few (one per region every six hours, and the
// downloads of an install), so each one pays a process start instead.
//
// The helper inherits the agent's environment (the SDK's standard
// variables: AWS_REGION, AWS_ENDPOINT_URL_*, AWS_EC2_METADATA_SERVICE_ENDPOINT,
// proxies), gets the caller's deadline in the request, and is killed when
// the caller's context ends: at once when it is cancelled, after a short
// grace when its deadline passes, so the helper's own account of what
// timed out (the last throttled answer, say) reaches the agent.
package awsproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/awswire"
)

// Name is the helper's file name. The packages install it beside the agent,
// /usr/libexec/enroot-agent/enroot-agent-aws; `make build` and the tests'
// builds lay it out the same way.
const Name = "enroot-agent-aws"

// Helper is the helper program to run.
type Helper struct{ Path string }

// Beside is the helper in the running binary's directory.
func Beside() Helper {
	exe, err := os.Executable()
	if err != nil {
		return Helper{Path: filepath.Join("/usr/libexec/enroot-agent", Name)}
	}
	return Helper{Path: filepath.Join(filepath.Dir(exe), Name)}
}

// grace is how long a helper may still answer after its deadline: it stops
// its own call at the same deadline and answers within milliseconds.
const grace = 2 * time.Second

// Call runs one request whose answer is the whole result (every op but
// awswire.OpS3Get). An error is the transport's: the helper could not be
// started, died or answered garbage; a failed call is Answer.Error.
func (h Helper) Call(ctx context.Context, req awswire.Request) (awswire.Answer, error) {
	p, err := h.start(ctx, req)
	if err != nil {
		return awswire.Answer{}, err
	}
	ans, err := awswire.ReadAnswer(p.out)
	werr := p.wait()
	if err != nil {
		return awswire.Answer{}, p.failed(ctx, err, werr)
	}
	return ans, nil
}

// Open runs an awswire.OpS3Get request. When the answer reports no error,
// body streams the object's bytes and must be closed; a read of it fails
// when the object ends early (the helper died or was killed).
func (h Helper) Open(ctx context.Context, req awswire.Request) (ans awswire.Answer, body io.ReadCloser, err error) {
	p, err := h.start(ctx, req)
	if err != nil {
		return awswire.Answer{}, nil, err
	}
	ans, err = awswire.ReadAnswer(p.out)
	if err != nil {
		return awswire.Answer{}, nil, p.failed(ctx, err, p.wait())
	}
	if ans.Error != "" {
		_ = p.wait()
		return ans, nil, nil
	}
	return ans, &stream{p: p, ctx: ctx, r: awswire.NewBodyReader(p.out)}, nil
}

// proc is one running helper.
type proc struct {
	path   string
	cmd    *exec.Cmd
	out    io.Reader
	stderr *capped
	stop   context.CancelFunc
	once   sync.Once
	werr   error
}

func (h Helper) start(ctx context.Context, req awswire.Request) (*proc, error) {
	req.Version = awswire.Version
	if d, ok := ctx.Deadline(); ok {
		req.Deadline = d
	}
	var in bytes.Buffer
	if err := awswire.WriteRequest(&in, req); err != nil {
		return nil, err
	}
	procCtx, stop := killOnEnd(ctx)
	cmd := exec.CommandContext(procCtx, h.Path)
	cmd.Env = helperEnv(os.Environ())
	cmd.Stdin = &in
	p := &proc{path: h.Path, cmd: cmd, stderr: &capped{max: 8 << 10}, stop: stop}
	cmd.Stderr = p.stderr
	// A helper outlives no agent: were the agent killed, nothing would
	// read its answer or end its call.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = grace
	out, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		stop()
		return nil, fmt.Errorf("cannot start the AWS helper %s: %w (the package installs it beside the agent, /usr/libexec/enroot-agent/%s: reinstall the package)", h.Path, err, Name)
	}
	p.out = out
	return p, nil
}

// helperGOGC is the helper's collector target unless the environment sets
// one: the SDK's initialisers allocate 3.7 MB of tables, just under Go's
// first target (4 MB), so a helper would collect once during start-up for
// nothing; at 400 it never collects in its short life (the front gives the
// agent's short commands the same, cmd/enroot-agent-front).
const helperGOGC = "GOGC=400"

// helperEnv is the agent's environment, which the helper inherits (the
// SDK's AWS_* settings, proxies), with helperGOGC.
func helperEnv(env []string) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "GOGC=") {
			return env
		}
	}
	return append(env[:len(env):len(env)], helperGOGC)
}

// killOnEnd is the context the helper runs under: cancelled with ctx, or a
// grace after ctx's deadline passed. Its cancel func also forgets ctx, so
// calls under a long-lived context leave nothing behind on it.
func killOnEnd(ctx context.Context) (context.Context, context.CancelFunc) {
	procCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	forget := context.AfterFunc(ctx, func() {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			time.AfterFunc(grace, stop)
			return
		}
		stop()
	})
	return procCtx, func() { forget(); stop() }
}

// wait reaps the helper once and returns how it ended.
func (p *proc) wait() error {
	p.once.Do(func() {
		p.werr = p.cmd.Wait()
		p.stop()
	})
	return p.werr
}

// failed words a transport failure: what broke, how the helper ended, what
// it said on stderr when that cannot hold a credential, and the caller's
// context when that is why.
func (p *proc) failed(ctx context.Context, err, werr error) error {
	var how string
	if werr != nil {
		how += " (" + werr.Error() + ")"
	}
	if s := p.stderr.summary(); s != "" {
		how += "; " + s
	}
	err = fmt.Errorf("AWS helper %s: %w%s", p.path, err, how)
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return err
}

// stream is an object's bytes; Close ends the helper.
type stream struct {
	p   *proc
	ctx context.Context
	r   *awswire.BodyReader
}

func (s *stream) Read(b []byte) (int, error) {
	n, err := s.r.Read(b)
	if errors.Is(err, awswire.ErrTruncated) {
		err = s.p.failed(s.ctx, err, s.p.wait())
	}
	return n, err
}

// Close stops a helper still streaming (the caller gave up) and reaps it.
func (s *stream) Close() error {
	s.p.stop()
	_ = s.p.wait()
	return nil
}

// capped keeps the first max bytes written to it and counts the rest.
type capped struct {
	mu    sync.Mutex
	max   int
	buf   []byte
	total int
}

func (c *capped) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total += len(b)
	if room := c.max - len(c.buf); room > 0 {
		c.buf = append(c.buf, b[:min(room, len(b))]...)
	}
	return len(b), nil
}

// summary is what the agent may show of the helper's stderr: a first line
// that cannot hold a credential is quoted (the helper's own refusals, and
// the Go runtime's fixed-text fatal errors); anything else, such as a panic
// with a value, is only counted.
func (c *capped) summary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.total == 0 {
		return ""
	}
	line, _, _ := strings.Cut(string(c.buf), "\n")
	for _, safe := range []string{Name + ": ", "fatal error: ", "panic: runtime error: "} {
		if strings.HasPrefix(line, safe) && len(line) <= 512 {
			return "it said: " + line
		}
	}
	return fmt.Sprintf("it wrote %d bytes to stderr, not shown since they may hold a credential", c.total)
}
