package awswire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// frame is one frame as the helper writes it.
func frame(kind byte, body string) string {
	var head [5]byte
	head[0] = kind
	binary.BigEndian.PutUint32(head[1:], uint32(len(body)))
	return string(head[:]) + body
}

func TestRequestAndAnswerRoundTrip(t *testing.T) {
	deadline := time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC)
	req := Request{Version: Version, Op: OpToken, Deadline: deadline, Region: "eu-west-1", RoleARN: "arn:aws:iam::1:role/r", FIPS: true}
	var buf bytes.Buffer
	if err := WriteRequest(&buf, req); err != nil {
		t.Fatal(err)
	}
	got, err := ReadRequest(&buf)
	if err != nil || got != req {
		t.Fatalf("request: %+v %v", got, err)
	}
	ans := Answer{Password: "tok", ExpiresAt: deadline}
	buf.Reset()
	if err := WriteAnswer(&buf, ans); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadAnswer(&buf); err != nil || got != ans {
		t.Fatalf("answer: %v %v", got, err)
	}
}

// A helper of another protocol version is told to have the agent restarted.
func TestRequestOfAnotherVersionIsRefused(t *testing.T) {
	_, err := ReadRequest(strings.NewReader(frame('Q', `{"version":2,"op":"ecr-token"}`)))
	if err == nil || !strings.Contains(err.Error(), "protocol 2, this helper 1") || !strings.Contains(err.Error(), "restart enroot-agent") {
		t.Fatalf("%v", err)
	}
}

// An answer's size is checked before anything is read or allocated; a
// malformed one, a cut one and a foreign one are clear errors that never
// quote what came: an answer holds tokens.
func TestAnswerBounds(t *testing.T) {
	huge := string([]byte{'A', 0xff, 0xff, 0xff, 0xff})
	for _, c := range []struct{ in, want string }{
		{huge, "answer: an answer frame of 4294967295 bytes is over the 2097152-byte limit"},
		{frame('A', `{"password":"s3cretTOKEN"`), "answer: 25 bytes that are not its JSON (not shown: they may hold a credential)"},
		{frame('A', `{"expires_at":"s3cretTOKEN"}`), "answer: 28 bytes that are not its JSON (not shown: they may hold a credential)"},
		{frame('A', `{"password":"s3cretTOKEN"}`)[:20], "answer: cut short"},
		{"", "answer: cut short"},
		{"Hello s3cretTOKEN", "answer: not an AWS helper frame (first byte 0x48)"},
		{frame('D', "s3cretTOKEN"), "answer: a data frame came instead"},
	} {
		_, err := ReadAnswer(strings.NewReader(c.in))
		if err == nil || err.Error() != c.want || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: %v, want %s", c.in, err, c.want)
		}
	}
	// One byte over the bound is refused, the bound itself is read.
	big := Answer{Value: strings.Repeat("v", MaxAnswer-len(`{"value":""}`))}
	var buf bytes.Buffer
	if err := WriteAnswer(&buf, big); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadAnswer(&buf); err != nil || got.Value != big.Value {
		t.Fatalf("an answer of exactly MaxAnswer bytes: %v", err)
	}
	big.Value += "v"
	if err := WriteAnswer(io.Discard, big); err == nil || !strings.Contains(err.Error(), "over the 2097152-byte limit") {
		t.Fatalf("an answer over MaxAnswer was written: %v", err)
	}
}

func TestAnswerNeverPrintsItsSecrets(t *testing.T) {
	a := Answer{Password: "s3cretTOKEN", Value: "s3cretVALUE", Region: "us-east-1"}
	for _, s := range []string{fmt.Sprint(a), fmt.Sprintf("%v %+v %#v %s", a, a, a, a)} {
		if strings.Contains(s, "s3cret") || !strings.Contains(s, "us-east-1") {
			t.Errorf("%s", s)
		}
	}
}

func TestBodyRoundTrip(t *testing.T) {
	obj := strings.Repeat("0123456789", 20000) // several data frames
	var buf bytes.Buffer
	if err := WriteBody(&buf, strings.NewReader(obj), nil); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(NewBodyReader(&buf))
	if err != nil || string(got) != obj {
		t.Fatalf("%d bytes, %v", len(got), err)
	}
	// A read error of the source ends the stream with its text.
	buf.Reset()
	src := io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(errors.New("connection reset by peer")))
	if err := WriteBody(&buf, src, func(err error) string { return "s3 read: " + err.Error() }); err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(NewBodyReader(&buf))
	if string(got) != "abc" || err == nil || err.Error() != "s3 read: connection reset by peer" {
		t.Fatalf("%q %v", got, err)
	}
}

// An object whose stream ends without its end frame is a read error, never
// a short object; so is anything but data and end inside it.
func TestBodyCutShortIsAnError(t *testing.T) {
	for _, c := range []struct{ in, data, want string }{
		{frame('D', "hello"), "hello", "cut short after 5 bytes of the object, before its end"},
		{frame('D', "hello") + frame('D', "wor")[:6], "hello", "cut short after 5 bytes of the object, before its end"},
		{frame('D', "hello") + frame('A', "{}"), "hello", "an answer frame inside the object's bytes"},
		{frame('D', "hello") + frame('Z', `{"error":`), "hello", "the end of the object: 9 bytes that are not its JSON"},
		{string([]byte{'D', 0, 1, 0, 1}), "", "a data frame of 65537 bytes is over the 65536-byte limit"},
	} {
		got, err := io.ReadAll(NewBodyReader(strings.NewReader(c.in)))
		if string(got) != c.data || err == nil || err.Error() != c.want {
			t.Errorf("%q: read %q, %v; want %s", c.in, got, err, c.want)
		}
		if c.want[:3] == "cut" && !errors.Is(err, ErrTruncated) {
			t.Errorf("%q: %v is not ErrTruncated", c.in, err)
		}
	}
}

func TestRangeStart(t *testing.T) {
	for cr, want := range map[string]int64{
		"bytes 100-199/200": 100,
		"bytes 0-0/1":       0,
		"bytes */200":       -1,
		"items 1-2/3":       -1,
		"":                  -1,
		"bytes x-1/2":       -1,
	} {
		if got := RangeStart(cr); got != want {
			t.Errorf("RangeStart(%q) = %d, want %d", cr, got, want)
		}
	}
}
