package rootsock

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// errNoHeaders is what http.Transport says when ResponseHeaderTimeout
// passes; RoundTrip says the same, so a caller's messages do not change.
var errNoHeaders = errors.New("net/http: timeout awaiting response headers")

// RoundTrip sends req to the root server at path on a connection of its
// own and returns the answer, for a client that makes one request and
// exits (the importer at every container start, verify as a health
// check). It is net/http's own wire code (Request.Write, ReadResponse)
// without an http.Client: a Transport starts a reader and a writer
// goroutine and a connection pool per client, which such a process pays
// for and never uses.
//
// within bounds the dial, writing req and reading the answer's header
// (http.Transport's ResponseHeaderTimeout); 0 leaves that to ctx. The body
// is not bounded by within, so an answer may stream: ctx's end closes the
// connection at any time, and closing the body closes it too. Errors read
// as http.Client's: Post "URL": what failed.
func RoundTrip(ctx context.Context, path string, req *http.Request, within time.Duration) (*http.Response, error) {
	resp, err := roundTrip(ctx, path, req, within)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, &url.Error{Op: req.Method[:1] + strings.ToLower(req.Method[1:]), URL: req.URL.String(), Err: err}
	}
	return resp, nil
}

func roundTrip(ctx context.Context, path string, req *http.Request, within time.Duration) (*http.Response, error) {
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
	req.Close = true // one request: Connection: close, as DisableKeepAlives sends
	resp, err := exchange(c, req)
	if err != nil {
		stop()
		_ = c.Close()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			err = errNoHeaders
		}
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	resp.Body = &connBody{body: resp.Body, conn: c, stop: stop}
	return resp, nil
}

// exchange writes req on c in one write and reads the answer's header.
func exchange(c net.Conn, req *http.Request) (*http.Response, error) {
	w := bufio.NewWriter(c)
	if err := req.Write(w); err != nil {
		return nil, err
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	return http.ReadResponse(bufio.NewReader(c), req)
}

// connBody is an answer's body that owns its connection.
type connBody struct {
	body io.ReadCloser
	conn net.Conn
	stop func() bool
	once sync.Once
}

func (b *connBody) Read(p []byte) (int, error) { return b.body.Read(p) }

// Close closes the connection first: net/http's body reads to the end on
// Close, which for a daemon still streaming would not end.
func (b *connBody) Close() error {
	b.once.Do(func() {
		b.stop()
		_ = b.conn.Close()
		_ = b.body.Close()
	})
	return nil
}
