package rootsock

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNoHeaders is what http.Transport says when ResponseHeaderTimeout
// passes; RoundTrip says the same, so a caller's messages do not change.
// A server that is there but slow is told apart from one that refused or
// hung up by it.
var ErrNoHeaders = errors.New("net/http: timeout awaiting response headers")

// Request is one request to a root server: a method, a path and an
// optional body, sent with its length.
type Request struct {
	Method      string // GET, POST
	Path        string // /v1/get
	ContentType string // with a body
	Body        []byte
	// Rest, when set, is RestLen more bytes of body that the caller is
	// still computing: Body goes with the head at once, and the server
	// may start on it while Rest is read (and written as it comes).
	Rest    io.Reader
	RestLen int
}

// url names the request in errors, as http.Client did.
func (r Request) url() string { return "http://enroot-agent" + r.Path }

// Answer is the server's answer. Its body owns the connection: closing it
// closes the connection, and so does the end of the request's context.
type Answer struct {
	Code   int    // 200
	Status string // "200 OK"
	Body   io.ReadCloser
}

// The answer's head is small: a status line and a few headers.
const (
	maxHeadLine = 4096
	maxHeaders  = 64
)

// RoundTrip sends req to the root server at path on a connection of its
// own and returns the answer, for a client that makes one request and
// exits (the importer at every container start, verify as a health
// check). It speaks HTTP/1.0 to the daemon's net/http server, which then
// ends the answer by closing the connection instead of chunking it: what
// remains to read is a status line and headers. net/http's client would
// do the same work, but linking it (and crypto/tls with it) made each of
// these processes start 1.5 times slower than an empty Go program.
//
// within bounds the dial, writing req and reading the answer's head
// (http.Transport's ResponseHeaderTimeout); 0 leaves that to ctx. The body
// is not bounded by within, so an answer may stream: ctx's end closes the
// connection at any time, and closing the body closes it too. Errors read
// as http.Client's: Post "URL": what failed.
func RoundTrip(ctx context.Context, path string, req Request, within time.Duration) (*Answer, error) {
	a, err := roundTrip(ctx, path, req, within)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, &CallError{Op: req.Method[:1] + strings.ToLower(req.Method[1:]), URL: req.url(), Err: err}
	}
	return a, nil
}

// CallError is a failed RoundTrip, worded as net/http's url.Error.
type CallError struct {
	Op, URL string
	Err     error
}

func (e *CallError) Error() string { return fmt.Sprintf("%s %q: %v", e.Op, e.URL, e.Err) }
func (e *CallError) Unwrap() error { return e.Err }

func roundTrip(ctx context.Context, path string, req Request, within time.Duration) (*Answer, error) {
	dial, cancel := ctx, context.CancelFunc(func() {})
	if within > 0 {
		dial, cancel = context.WithTimeout(ctx, within)
	}
	defer cancel()
	c, err := Dial(dial, path)
	if err != nil {
		return nil, err
	}
	if within > 0 {
		_ = c.SetDeadline(time.Now().Add(within))
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	a, err := exchange(c, req, within)
	if err != nil {
		stop()
		_ = c.Close()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			err = ErrNoHeaders
		}
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	a.Body = &connBody{body: a.Body, conn: c, stop: stop}
	return a, nil
}

// exchange writes req on c, the head and Body in one write, then Rest as
// it comes, and reads the answer's head. Waiting for Rest is not bounded
// by within (ctx is): the caller is still working on it.
func exchange(c net.Conn, req Request, within time.Duration) (*Answer, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.0\r\nHost: enroot-agent\r\n", req.Method, req.Path)
	if req.Body != nil || req.Rest != nil {
		fmt.Fprintf(&b, "Content-Type: %s\r\nContent-Length: %d\r\n", req.ContentType, len(req.Body)+req.RestLen)
	}
	b.WriteString("\r\n")
	b.Write(req.Body)
	if _, err := c.Write(b.Bytes()); err != nil {
		return nil, err
	}
	if req.Rest != nil {
		_ = c.SetDeadline(time.Time{})
		if err := writeRest(c, req.Rest, req.RestLen); err != nil {
			return nil, err
		}
		if within > 0 {
			_ = c.SetDeadline(time.Now().Add(within))
		}
	}
	return readHead(bufio.NewReaderSize(c, maxHeadLine))
}

// writeRest copies exactly n bytes of rest to c: fewer would leave the
// server waiting for the rest of a body the head announced.
func writeRest(c net.Conn, rest io.Reader, n int) error {
	copied, err := io.Copy(c, io.LimitReader(rest, int64(n)))
	if err == nil && copied < int64(n) {
		err = fmt.Errorf("the request's body ended after %d of its %d bytes", copied, n)
	}
	return err
}

// readHead reads the status line and the headers; the body is what
// follows, up to Content-Length when the server gave one, else to the
// connection's end.
func readHead(r *bufio.Reader) (*Answer, error) {
	line, err := headLine(r)
	if err != nil {
		return nil, err
	}
	a, err := parseStatus(line)
	if err != nil {
		return nil, err
	}
	length := int64(-1)
	for n := 0; ; n++ {
		line, err := headLine(r)
		if err != nil {
			return nil, err
		}
		if line == "" {
			break
		}
		if n == maxHeaders {
			return nil, fmt.Errorf("malformed HTTP response: more than %d headers", maxHeaders)
		}
		key, value, _ := strings.Cut(line, ":")
		value = strings.TrimSpace(value)
		switch {
		case strings.EqualFold(key, "Transfer-Encoding") && !strings.EqualFold(value, "identity"):
			return nil, fmt.Errorf("malformed HTTP response: Transfer-Encoding %q to an HTTP/1.0 request", value)
		case strings.EqualFold(key, "Content-Length"):
			if length, err = strconv.ParseInt(value, 10, 64); err != nil || length < 0 {
				return nil, fmt.Errorf("malformed HTTP response: Content-Length %q", value)
			}
		}
	}
	a.Body = io.NopCloser(r)
	if length >= 0 {
		a.Body = io.NopCloser(io.LimitReader(r, length))
	}
	return a, nil
}

// headLine is one line of the head without its CRLF; a longer line than
// the reader's buffer is an error.
func headLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", fmt.Errorf("malformed HTTP response: a header line over %d bytes", maxHeadLine)
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

// parseStatus reads "HTTP/1.x 200 OK".
func parseStatus(line string) (*Answer, error) {
	proto, status, _ := strings.Cut(line, " ")
	code, _, _ := strings.Cut(status, " ")
	n, err := strconv.Atoi(code)
	if (proto != "HTTP/1.0" && proto != "HTTP/1.1") || len(code) != 3 || err != nil || n < 100 {
		return nil, fmt.Errorf("malformed HTTP response %q", line)
	}
	return &Answer{Code: n, Status: status}, nil
}

// connBody is an answer's body that owns its connection.
type connBody struct {
	body   io.ReadCloser
	conn   net.Conn
	stop   func() bool
	once   sync.Once
	closed atomic.Bool
}

// errReadAfterClose is net/http's word for it.
var errReadAfterClose = errors.New("http: invalid Read on closed Body")

// Read fails once the body is closed, even with bytes still buffered.
func (b *connBody) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, errReadAfterClose
	}
	return b.body.Read(p)
}

// Close closes the connection, which ends a read that waits for a daemon
// still streaming.
func (b *connBody) Close() error {
	b.once.Do(func() {
		b.closed.Store(true)
		b.stop()
		_ = b.conn.Close()
		_ = b.body.Close()
	})
	return nil
}
