// Package awswire is the protocol between enroot-agent and its AWS helper
// (cmd/enroot-agent-aws): one request on the helper's stdin, one answer on
// its stdout, and for an S3 object the object's bytes after the answer. The
// agent links no AWS SDK (its resident memory is paid on every node all the
// time); every AWS call runs in the short-lived helper, which holds the SDK.
//
// Every message is a frame: one kind byte, a 4-byte big-endian length, then
// that many bytes. Each kind has its own bound, checked before anything is
// allocated, so a broken or foreign helper cannot make the agent read
// without end. JSON carries the request and the answer; an object's bytes
// cross as data frames closed by an end frame, so an object cut short by a
// helper that died is a read error, never a short file taken as complete.
//
// Nothing here formats a value it decodes: an answer carries tokens and
// secrets, and a malformed one is reported by its size only.
package awswire

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Version is the protocol's version. The helper refuses a request of
// another version: during a package upgrade the running agent may exec the
// new helper before systemd restarts the agent.
const Version = 1

// The calls the helper answers.
const (
	OpToken        = "ecr-token"        // ecr GetAuthorizationToken for Region (as RoleARN)
	OpPublicToken  = "ecr-public-token" // ecr-public GetAuthorizationToken
	OpSecret       = "secret"           // Store's value of ID
	OpNodeRegistry = "node-registry"    // this instance's account and region (IMDSv2)
	OpS3Get        = "s3-get"           // GetObject of Bucket/Key from Offset, then the bytes
)

// Request is one call. Only the fields of its Op are set.
type Request struct {
	Version int    `json:"version"`
	Op      string `json:"op"`
	// Deadline is the caller's: the helper stops its call then and answers
	// with the error, as the in-process call did. Zero means none (the
	// agent still kills the helper when its context ends).
	Deadline time.Time `json:"deadline,omitzero"`

	// OpToken: the registry's region and how it is reached.
	Region    string `json:"region,omitempty"`
	RoleARN   string `json:"role_arn,omitempty"`
	FIPS      bool   `json:"fips,omitempty"`
	DualStack bool   `json:"dual_stack,omitempty"`

	// OpSecret: "secretsmanager" or "ssm", and the secret's id or ARN.
	Store string `json:"store,omitempty"`
	ID    string `json:"id,omitempty"`

	// OpS3Get: the object, where to start, the URL as the agent shows it
	// in errors, and the agent's connect and response-header timeouts.
	Bucket         string        `json:"bucket,omitempty"`
	Key            string        `json:"key,omitempty"`
	Offset         int64         `json:"offset,omitempty"`
	URL            string        `json:"url,omitempty"`
	ConnectTimeout time.Duration `json:"connect_timeout,omitempty"`
	HeaderTimeout  time.Duration `json:"header_timeout,omitempty"`
}

// Answer is the helper's reply to one Request. Error, when set, is the
// call's failure, worded by the helper exactly as the agent words it (it
// never holds a credential); the other fields are then empty.
type Answer struct {
	Error string `json:"error,omitempty"`
	// Class sorts a failed OpS3Get (ClassNotFound...); "" is retryable.
	Class string `json:"class,omitempty"`
	// Withdrawn: OpSecret's store says the secret no longer exists.
	Withdrawn bool `json:"withdrawn,omitempty"`

	// OpToken, OpPublicToken: the registry password and its expiry.
	Password  string    `json:"password,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// OpSecret: the value.
	Value string `json:"value,omitempty"`
	// OpNodeRegistry: from the instance identity document.
	Account string `json:"account,omitempty"`
	Region  string `json:"region,omitempty"`
	// OpS3Get: the offset the object's bytes really start at (0 when the
	// store ignored the range); the bytes follow the answer.
	Start int64 `json:"start,omitempty"`
}

// ErrWithdrawn is what a failed OpSecret wraps when the store says the
// secret no longer exists (Answer.Withdrawn): its lines are removed at once
// rather than served until secrets.max_age.
var ErrWithdrawn = errors.New("the secret no longer exists in its store")

// Classes of a failed OpS3Get, as the agent's fetcher retries them.
const (
	ClassNotFound  = "not-found" // no such key: not retried; Error is the URL only
	ClassDenied    = "denied"    // 403: not retried, names the permission
	ClassRestart   = "restart"   // 416: the partial file is wrong, start at 0
	ClassPermanent = "permanent" // another 4xx: not retried
)

// String keeps the secret fields out of any %v of an Answer.
func (a Answer) String() string {
	return fmt.Sprintf("{error %q class %q withdrawn %v expires %s account %s region %s start %d}",
		a.Error, a.Class, a.Withdrawn, a.ExpiresAt.Format(time.RFC3339), a.Account, a.Region, a.Start)
}

// GoString is String, for %#v.
func (a Answer) GoString() string { return a.String() }

// Frame kinds.
const (
	kindRequest byte = 'Q'
	kindAnswer  byte = 'A'
	kindData    byte = 'D'
	kindEnd     byte = 'Z'
)

// Bounds of each frame kind. A request is a few names; the largest answer
// is a secret's value, which Secrets Manager caps at 64 KiB and SSM at
// 8 KiB: MaxAnswer leaves room for a longer one to reach the agent, which
// refuses it with the registry's name and the netrc line limit rather than
// a transport error. Data frames keep the pipe's copies small.
const (
	MaxRequest = 64 << 10
	MaxAnswer  = 2 << 20
	MaxData    = 64 << 10
)

// WriteRequest sends req as one frame.
func WriteRequest(w io.Writer, req Request) error {
	return writeJSON(w, kindRequest, req)
}

// ReadRequest reads the one request of a helper's run.
func ReadRequest(r io.Reader) (Request, error) {
	var req Request
	if err := readJSON(r, kindRequest, &req, "request"); err != nil {
		return Request{}, err
	}
	if req.Version != Version {
		return Request{}, fmt.Errorf("the agent speaks AWS helper protocol %d, this helper %d: the package was upgraded under a running agent; restart enroot-agent", req.Version, Version)
	}
	return req, nil
}

// WriteAnswer sends a as one frame.
func WriteAnswer(w io.Writer, a Answer) error {
	return writeJSON(w, kindAnswer, a)
}

// ReadAnswer reads the helper's answer.
func ReadAnswer(r io.Reader) (Answer, error) {
	var a Answer
	err := readJSON(r, kindAnswer, &a, "answer")
	return a, err
}

func writeJSON(w io.Writer, kind byte, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if limit := limitOf(kind); len(body) > limit {
		return fmt.Errorf("%s of %d bytes is over the %d-byte limit", aFrame(kind), len(body), limit)
	}
	return writeFrame(w, kind, body)
}

// readJSON reads one frame of kind and decodes it into v. A decoding error
// says where, never what: the payload may hold a credential, and Go's
// decoding errors quote the input.
func readJSON(r io.Reader, kind byte, v any, what string) error {
	got, body, err := readFrame(r)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if got != kind {
		return fmt.Errorf("%s: %s came instead", what, aFrame(got))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: %d bytes that are not its JSON (not shown: they may hold a credential)", what, len(body))
	}
	return nil
}

func writeFrame(w io.Writer, kind byte, body []byte) error {
	var head [5]byte
	head[0] = kind
	binary.BigEndian.PutUint32(head[1:], uint32(len(body)))
	if _, err := w.Write(head[:]); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

// ErrTruncated means the stream ended inside a frame or before one was due:
// the helper died, or was killed, mid-answer.
var ErrTruncated = errors.New("cut short")

// readFrame reads one frame, whose length its kind bounds.
func readFrame(r io.Reader) (byte, []byte, error) {
	var head [5]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return 0, nil, truncated(err)
	}
	kind, n := head[0], binary.BigEndian.Uint32(head[1:])
	limit := limitOf(kind)
	if limit == 0 {
		return 0, nil, fmt.Errorf("not an AWS helper frame (first byte %#02x)", kind)
	}
	if uint64(n) > uint64(limit) {
		return 0, nil, fmt.Errorf("%s of %d bytes is over the %d-byte limit", aFrame(kind), n, limit)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, truncated(err)
	}
	return kind, body, nil
}

func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ErrTruncated
	}
	return err
}

// limitOf is the bound of a kind's frames, 0 for no kind.
func limitOf(k byte) int {
	switch k {
	case kindRequest:
		return MaxRequest
	case kindAnswer, kindEnd:
		return MaxAnswer
	case kindData:
		return MaxData
	}
	return 0
}

// aFrame names a kind's frame in an error.
func aFrame(k byte) string {
	switch k {
	case kindRequest:
		return "a request frame"
	case kindAnswer:
		return "an answer frame"
	case kindData:
		return "a data frame"
	case kindEnd:
		return "an end frame"
	}
	return fmt.Sprintf("a frame of unknown kind %#02x", k)
}
