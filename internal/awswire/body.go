package awswire

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// WriteBody copies src after an OpS3Get answer as data frames, then an end
// frame. A read of src that fails ends the stream with an end frame
// carrying errText(err), worded by the caller as the agent words a read
// error, so the agent sees why rather than a short object. An error
// writing to w (the agent went away) is returned.
func WriteBody(w io.Writer, src io.Reader, errText func(error) string) error {
	buf := make([]byte, MaxData)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if werr := writeFrame(w, kindData, buf[:n]); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			return writeJSON(w, kindEnd, Answer{})
		}
		if err != nil {
			return writeJSON(w, kindEnd, Answer{Error: errText(err)})
		}
	}
}

// BodyReader reads the object's bytes that follow an OpS3Get answer. It
// returns io.EOF only at an end frame that reports no error; a stream that
// ends without one (the helper died or was killed) is ErrTruncated, and an
// end frame with an error is that error.
type BodyReader struct {
	r    io.Reader
	left []byte // of the current data frame
	err  error  // sticky: the end, or what broke the stream
	read int64
}

// NewBodyReader reads data frames from r.
func NewBodyReader(r io.Reader) *BodyReader { return &BodyReader{r: r} }

// Read returns the object's next bytes.
func (b *BodyReader) Read(p []byte) (int, error) {
	for len(b.left) == 0 && b.err == nil {
		b.next()
	}
	if len(b.left) > 0 {
		n := copy(p, b.left)
		b.left = b.left[n:]
		b.read += int64(n)
		return n, nil
	}
	return 0, b.err
}

// next reads one frame: data to serve, or the end.
func (b *BodyReader) next() {
	kind, body, err := readFrame(b.r)
	switch {
	case errors.Is(err, ErrTruncated):
		b.err = fmt.Errorf("%w after %d bytes of the object, before its end", ErrTruncated, b.read)
	case err != nil:
		b.err = err
	case kind == kindData:
		b.left = body
	case kind == kindEnd:
		var end Answer
		if json.Unmarshal(body, &end) != nil {
			b.err = fmt.Errorf("the end of the object: %d bytes that are not its JSON", len(body))
		} else if end.Error != "" {
			b.err = errors.New(end.Error)
		} else {
			b.err = io.EOF
		}
	default:
		b.err = fmt.Errorf("%s inside the object's bytes", aFrame(kind))
	}
}

// RangeStart is the first byte of a Content-Range ("bytes 100-199/200"),
// -1 when it names none: where a resumed download's body starts, from S3
// (the helper's side) or an HTTP server (pkg/artifact's).
func RangeStart(contentRange string) int64 {
	s, ok := strings.CutPrefix(contentRange, "bytes ")
	if !ok {
		return -1
	}
	s, _, _ = strings.Cut(s, "-")
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return -1
	}
	return n
}
