package awsproc

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/awswire"
)

// The test binary is also the helper these tests run: with childEnv set it
// behaves as the helper, well or badly, instead of running the tests.
const childEnv = "AWSPROC_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(child(mode))
	}
	os.Exit(m.Run())
}

const token = "s3cretTOKEN"

func frame(kind byte, body string) []byte {
	out := []byte{kind, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(out[1:], uint32(len(body)))
	return append(out, body...)
}

// child is one helper behaviour.
func child(mode string) int {
	req, err := awswire.ReadRequest(os.Stdin)
	if err != nil {
		return 3
	}
	switch mode {
	case "echo": // the request's deadline and op, as the answer's fields
		_ = awswire.WriteAnswer(os.Stdout, awswire.Answer{Region: req.Op, Account: req.Deadline.Format(time.RFC3339Nano), Password: token})
	case "stderr-secret": // a panic with a value, then death
		os.Stderr.WriteString("panic: bad token " + token + "\n\ngoroutine 1 [running]:\n")
		return 2
	case "runtime-fatal":
		os.Stderr.WriteString("fatal error: runtime: out of memory\n")
		return 2
	case "huge":
		os.Stdout.Write([]byte{'A', 0x7f, 0xff, 0xff, 0xff})
		os.Stdout.WriteString(token)
	case "malformed":
		os.Stdout.Write(frame('A', `{"password":"`+token+`"`))
	case "hang": // answers at the request's deadline, as the SDK call ends
		time.Sleep(time.Until(req.Deadline))
		_ = awswire.WriteAnswer(os.Stdout, awswire.Answer{Error: "ecr GetAuthorizationToken in us-east-1: operation error ECR: context deadline exceeded"})
	case "deaf": // never answers
		time.Sleep(time.Hour)
	case "object": // an object of 5 bytes from offset 3
		_ = awswire.WriteAnswer(os.Stdout, awswire.Answer{Start: 3})
		_ = awswire.WriteBody(os.Stdout, strings.NewReader("hello"), nil)
	case "object-cut": // 5 bytes, then death
		_ = awswire.WriteAnswer(os.Stdout, awswire.Answer{})
		os.Stdout.Write(frame('D', "hello"))
		return 1
	case "object-slow": // 5 bytes, then silence
		_ = awswire.WriteAnswer(os.Stdout, awswire.Answer{})
		os.Stdout.Write(frame('D', "hello"))
		time.Sleep(time.Hour)
	}
	return 0
}

// helper runs this test binary as the helper, in mode.
func helper(t *testing.T, mode string) Helper {
	t.Setenv(childEnv, mode)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Helper{Path: exe}
}

func TestCallPassesTheDeadline(t *testing.T) {
	deadline := time.Now().Add(time.Hour).Round(0)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	a, err := helper(t, "echo").Call(ctx, awswire.Request{Op: awswire.OpNodeRegistry})
	if err != nil || a.Region != awswire.OpNodeRegistry || a.Password != token {
		t.Fatalf("%v %v", a, err)
	}
	if got, _ := time.Parse(time.RFC3339Nano, a.Account); !got.Equal(deadline) {
		t.Fatalf("the helper got deadline %s, want %s", a.Account, deadline)
	}
}

// What the helper writes is never echoed when it may hold a credential: a
// panic on stderr, a malformed or over-long answer.
func TestBrokenHelperNeverEchoesASecret(t *testing.T) {
	for _, c := range []struct{ mode, want string }{
		{"stderr-secret", "AWS helper " + "%s" + ": answer: cut short (exit status 2); it wrote 53 bytes to stderr, not shown since they may hold a credential"},
		{"huge", "AWS helper %s: answer: an answer frame of 2147483647 bytes is over the 2097152-byte limit"},
		{"malformed", "AWS helper %s: answer: 25 bytes that are not its JSON (not shown: they may hold a credential)"},
		{"runtime-fatal", "AWS helper %s: answer: cut short (exit status 2); it said: fatal error: runtime: out of memory"},
	} {
		h := helper(t, c.mode)
		_, err := h.Call(context.Background(), awswire.Request{Op: awswire.OpPublicToken})
		want := strings.Replace(c.want, "%s", h.Path, 1)
		if err == nil || err.Error() != want || strings.Contains(err.Error(), token) {
			t.Errorf("%s:\n got %v\nwant %s", c.mode, err, want)
		}
	}
}

// At its deadline the caller still gets the helper's own account of what
// timed out; a helper that says nothing is killed a grace later.
func TestDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	a, err := helper(t, "hang").Call(ctx, awswire.Request{Op: awswire.OpToken})
	if err != nil || !strings.Contains(a.Error, "operation error ECR: context deadline exceeded") {
		t.Fatalf("%v %v", a, err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = helper(t, "deaf").Call(ctx, awswire.Request{Op: awswire.OpToken})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "signal: killed") {
		t.Fatalf("deaf helper: %v", err)
	}
	// Not killed, it would sleep an hour; the bound is for liveness.
	if d := time.Since(start); d > time.Minute {
		t.Fatalf("deaf helper ended after %s", d)
	}
}

// A cancelled caller kills the helper at once, even in an object.
func TestCancelKillsTheHelper(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	a, body, err := helper(t, "object-slow").Open(ctx, awswire.Request{Op: awswire.OpS3Get})
	if err != nil || a.Error != "" {
		t.Fatalf("%v %v", a, err)
	}
	defer body.Close()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(body, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("%q %v", buf, err)
	}
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = body.Read(buf)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, awswire.ErrTruncated) || !strings.Contains(err.Error(), "cut short after 5 bytes of the object") {
		t.Fatalf("%v", err)
	}
}

func TestOpenStreamsTheObject(t *testing.T) {
	a, body, err := helper(t, "object").Open(context.Background(), awswire.Request{Op: awswire.OpS3Get, Offset: 3})
	if err != nil || a.Start != 3 {
		t.Fatalf("%v %v", a, err)
	}
	got, err := io.ReadAll(body)
	if err != nil || string(got) != "hello" || body.Close() != nil {
		t.Fatalf("%q %v", got, err)
	}
	a, body, err = helper(t, "object-cut").Open(context.Background(), awswire.Request{Op: awswire.OpS3Get})
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(body)
	body.Close()
	if string(got) != "hello" || !errors.Is(err, awswire.ErrTruncated) || !strings.HasSuffix(err.Error(), "cut short after 5 bytes of the object, before its end (exit status 1)") {
		t.Fatalf("%q %v", got, err)
	}
}

func TestMissingHelper(t *testing.T) {
	h := Helper{Path: filepath.Join(t.TempDir(), Name)}
	_, err := h.Call(context.Background(), awswire.Request{Op: awswire.OpPublicToken})
	if err == nil || !strings.Contains(err.Error(), "cannot start the AWS helper "+h.Path) || !strings.Contains(err.Error(), "reinstall the package") {
		t.Fatalf("%v", err)
	}
}

// The helper gets the agent's environment, with a GOGC for a short life
// unless the admin chose one.
func TestHelperEnv(t *testing.T) {
	if got := helperEnv([]string{"AWS_REGION=eu-west-1"}); strings.Join(got, " ") != "AWS_REGION=eu-west-1 GOGC=400" {
		t.Errorf("%v", got)
	}
	if got := helperEnv([]string{"GOGC=50", "HTTPS_PROXY=http://proxy:3128"}); strings.Join(got, " ") != "GOGC=50 HTTPS_PROXY=http://proxy:3128" {
		t.Errorf("%v", got)
	}
}
