package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/awsproc"
	"github.com/enroot-agent/enroot-agent/internal/fake/pkgrepo"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// fast is a Fetcher with test-sized backoff and timeouts.
func fast(t *testing.T) (*Fetcher, *observer.ObservedLogs) {
	core, logs := observer.New(zap.DebugLevel)
	f := New(filepath.Join(t.TempDir(), "cache"), zap.New(core))
	f.MinBackoff, f.MaxBackoff = 10*time.Millisecond, 40*time.Millisecond
	// Generous enough for a loaded CI machine; the timeout tests shorten them.
	f.Timeouts = Timeouts{Connect: 2 * time.Second, Header: 2 * time.Second, Stall: 2 * time.Second}
	return f, logs
}

var payload = []byte(strings.Repeat("enroot package bytes\n", 5000))

func TestPinnedDownloadThenCache(t *testing.T) {
	srv := testenv.StartArtifactServer(t)
	srv.Put("enroot_4.1.2-1_amd64.deb", payload)
	f, _ := fast(t)
	req := Request{URL: srv.URL + "enroot_4.1.2-1_amd64.deb", SHA256: digest(payload)}
	res, err := f.Fetch(context.Background(), req)
	if err != nil || res.PinnedBy != PinnedByConfig || res.Cached || res.SHA256 != digest(payload) {
		t.Fatalf("first fetch: %+v %v", res, err)
	}
	if got, _ := os.ReadFile(res.Path); string(got) != string(payload) {
		t.Fatal("cached content differs")
	}
	res, err = f.Fetch(context.Background(), req)
	if err != nil || !res.Cached || srv.Requests("") != 1 {
		t.Fatalf("second fetch: %+v %v, %d requests", res, err, srv.Requests(""))
	}
	if st, _ := os.Stat(f.Dir); st.Mode().Perm() != 0o700 {
		t.Fatalf("cache dir mode %v", st.Mode())
	}
}

func TestSumsFileAtSource(t *testing.T) {
	srv := testenv.StartArtifactServer(t)
	srv.Put("a.rpm", payload)
	srv.Put("SHA256SUMS", []byte(digest(payload)+"  a.rpm\n"+strings.Repeat("0", 64)+" *b.rpm\n"))
	srv.Put("b.rpm", []byte("tampered"))
	f, _ := fast(t)
	res, err := f.Fetch(context.Background(), Request{URL: srv.URL + "a.rpm"})
	if err != nil || res.PinnedBy != PinnedBySums {
		t.Fatalf("a.rpm: %+v %v", res, err)
	}
	_, err = f.Fetch(context.Background(), Request{URL: srv.URL + "b.rpm"})
	var mm *MismatchError
	if !errors.As(err, &mm) || mm.Expected != strings.Repeat("0", 64) || mm.Actual != digest([]byte("tampered")) {
		t.Fatalf("b.rpm: %v", err)
	}
	for _, want := range []string{"b.rpm", mm.Expected, mm.Actual, "SHA256SUMS"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if entries, _ := os.ReadDir(f.Dir); len(entries) != 1 {
		t.Fatalf("cache holds %v; the mismatched file must be gone", entries)
	}
}

func TestUnpinnedIsReported(t *testing.T) {
	srv := testenv.StartArtifactServer(t)
	srv.Put("x.tar.gz", payload)
	f, logs := fast(t)
	res, err := f.Fetch(context.Background(), Request{URL: srv.URL + "x.tar.gz"})
	if err != nil || !res.Unpinned() {
		t.Fatalf("%+v %v", res, err)
	}
	if logs.FilterMessageSnippet("unpinned").Len() != 1 {
		t.Fatalf("no unpinned warning: %v", logs.All())
	}
	f2, _ := fast(t)
	_, err = f2.Fetch(context.Background(), Request{URL: srv.URL + "x.tar.gz", RequirePinned: true})
	var up *UnpinnedError
	if !errors.As(err, &up) || srv.Requests("x.tar.gz") != 1 {
		t.Fatalf("require pinned: %v, %d downloads", err, srv.Requests("x.tar.gz"))
	}
}

func TestServerErrorsAreRetried(t *testing.T) {
	srv := testenv.StartArtifactServer(t)
	srv.Put("p.rpm", payload)
	srv.Fail("p.rpm", pkgrepo.Fault{Status: 500}, pkgrepo.Fault{Status: 500})
	f, _ := fast(t)
	if _, err := f.Fetch(context.Background(), Request{URL: srv.URL + "p.rpm", SHA256: digest(payload)}); err != nil {
		t.Fatal(err)
	}
	if n := srv.Requests("p.rpm"); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
	srv.Fail("q.rpm", pkgrepo.Fault{Status: 403})
	_, err := f.Fetch(context.Background(), Request{URL: srv.URL + "q.rpm", SHA256: digest(payload)})
	if err == nil || srv.Requests("q.rpm") != 1 || !strings.Contains(err.Error(), "403") {
		t.Fatalf("403 must not be retried: %v, %d requests", err, srv.Requests("q.rpm"))
	}
}

func TestSilentServerTimesOut(t *testing.T) {
	srv := testenv.StartArtifactServer(t)
	srv.Put("p.rpm", payload)
	srv.Fail("p.rpm", pkgrepo.Fault{Hang: true}, pkgrepo.Fault{Hang: true}, pkgrepo.Fault{Hang: true}, pkgrepo.Fault{Hang: true})
	f, _ := fast(t)
	f.Timeouts.Header = 300 * time.Millisecond
	start := time.Now()
	_, err := f.Fetch(context.Background(), Request{URL: srv.URL + "p.rpm", SHA256: digest(payload)})
	if err == nil || !strings.Contains(err.Error(), "no answer in time") || !strings.Contains(err.Error(), "gave up after 4 attempts") {
		t.Fatalf("err = %v", err)
	}
	// Timeouts.Header ended each attempt: the default (30s per silent
	// attempt, 2m for four) would take twice this bound.
	if took := time.Since(start); took >= time.Minute {
		t.Fatalf("took %s: Timeouts.Header was not used", took)
	}
}

func TestResumeAfterDroppedConnection(t *testing.T) {
	srv := testenv.StartArtifactServer(t)
	srv.Put("big.rpm", payload)
	srv.Fail("big.rpm", pkgrepo.Fault{CutAfter: len(payload) / 3}, pkgrepo.Fault{CutAfter: len(payload) / 2, Hang: true})
	f, _ := fast(t)
	f.Timeouts.Stall = 300 * time.Millisecond
	res, err := f.Fetch(context.Background(), Request{URL: srv.URL + "big.rpm", SHA256: digest(payload)})
	if err != nil || res.SHA256 != digest(payload) {
		t.Fatalf("%+v %v", res, err)
	}
	if srv.RangeRequests() < 1 || srv.Requests("big.rpm") != 3 {
		t.Fatalf("%d requests, %d with Range", srv.Requests("big.rpm"), srv.RangeRequests())
	}
}

func TestFileSource(t *testing.T) {
	dir := t.TempDir()
	testenv.WriteFile(t, filepath.Join(dir, "e.rpm"), payload, 0o644)
	f, _ := fast(t)
	res, err := f.Fetch(context.Background(), Request{URL: "file://" + dir + "/e.rpm", SHA256: digest(payload)})
	if err != nil || res.Path == filepath.Join(dir, "e.rpm") {
		t.Fatalf("%+v %v", res, err)
	}
	_, err = f.Fetch(context.Background(), Request{URL: "file://" + dir + "/missing.rpm"})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
}

// s3 URLs are read by the AWS helper, built as the packages ship it, with
// the real SDK against the S3 emulator.
func TestS3ThroughTheHelper(t *testing.T) {
	s3 := testenv.StartS3Server(t)
	for _, kv := range s3.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	s3.Put("mirror", "enroot/v4.1.2/enroot_4.1.2-1_amd64.deb", payload)
	s3.Put("mirror", "enroot/v4.1.2/SHA256SUMS", []byte(digest(payload)+"  enroot_4.1.2-1_amd64.deb\n"))
	f, _ := fast(t)
	f.S3 = S3Helper{Helper: awsproc.Helper{Path: testenv.AWSHelper(t)}}
	res, err := f.Fetch(context.Background(), Request{URL: "s3://mirror/enroot/v4.1.2/enroot_4.1.2-1_amd64.deb"})
	if err != nil || res.PinnedBy != PinnedBySums {
		t.Fatalf("%+v %v", res, err)
	}
	if got, _ := os.ReadFile(res.Path); string(got) != string(payload) {
		t.Fatal("cached content differs")
	}
	_, err = f.Fetch(context.Background(), Request{URL: "s3://mirror/enroot/v4.1.2/nope.deb", SHA256: digest(payload)})
	if !errors.Is(err, ErrNotFound) || err.Error() != "s3://mirror/enroot/v4.1.2/nope.deb: not found at the source" {
		t.Fatalf("missing key: %v", err)
	}
	if total, unsigned := s3.Requests(); total < 3 || unsigned != 0 {
		t.Fatalf("%d requests, %d unsigned", total, unsigned)
	}
}

// fakeHelper is an AWS helper that writes out (octal escapes, as printf
// reads them) and exits with status 1.
func fakeHelper(t *testing.T, out string) awsproc.Helper {
	path := filepath.Join(t.TempDir(), "enroot-agent-aws")
	if err := os.WriteFile(path, []byte("#!/bin/sh\ncat >/dev/null\nprintf '"+out+"'\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return awsproc.Helper{Path: path}
}

// A helper that dies in the middle of an object fails the download with a
// read error on every attempt: the bytes it sent are never taken for the
// whole file.
func TestS3HelperDyingMidObjectIsAReadError(t *testing.T) {
	f, _ := fast(t)
	// The answer (start at 0), then 5 of the object's bytes, then nothing.
	f.S3 = S3Helper{Helper: fakeHelper(t, `A\000\000\000\002{}D\000\000\000\005hello`)}
	_, err := f.Fetch(context.Background(), Request{URL: "s3://mirror/x.rpm", SHA256: digest([]byte("hello"))})
	if err == nil || !strings.Contains(err.Error(), "read s3://mirror/x.rpm") || !strings.Contains(err.Error(), "cut short after 5 bytes of the object") ||
		!strings.Contains(err.Error(), "gave up after 4 attempts") {
		t.Fatalf("helper died mid-object: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.Dir, "x.rpm")); !os.IsNotExist(err) {
		t.Fatalf("a cut object reached the cache: %v", err)
	}
}
func TestExpandAndJoin(t *testing.T) {
	base := Expand("https://github.com/NVIDIA/enroot/releases/download/v{version}/", "4.1.2")
	if got := Join(base, "enroot-4.1.2-1.el8.x86_64.rpm"); got != "https://github.com/NVIDIA/enroot/releases/download/v4.1.2/enroot-4.1.2-1.el8.x86_64.rpm" {
		t.Fatal(got)
	}
	if got := Join("s3://b/p", "f"); got != "s3://b/p/f" {
		t.Fatal(got)
	}
}

func TestPasswordsInURLsAreRedacted(t *testing.T) {
	srv := testenv.StartArtifactServer(t)
	srv.Fail("p.rpm", pkgrepo.Fault{Status: 500}, pkgrepo.Fault{Status: 500}, pkgrepo.Fault{Status: 500}, pkgrepo.Fault{Status: 500})
	f, logs := fast(t)
	url := strings.Replace(srv.URL, "http://", "http://mirror:hunter2@", 1) + "p.rpm"
	_, err := f.Fetch(context.Background(), Request{URL: url, SHA256: digest(payload)})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v", err)
	}
	for _, e := range logs.All() {
		for _, fld := range e.Context {
			if strings.Contains(fld.String, "hunter2") || (fld.Interface != nil && strings.Contains(fmt.Sprint(fld.Interface), "hunter2")) {
				t.Fatalf("log leaks the password: %v", e)
			}
		}
	}
}

func TestConcurrentFetchersShareTheCache(t *testing.T) {
	srv := testenv.StartArtifactServer(t)
	srv.Put("p.rpm", payload)
	srv.Fail("p.rpm", pkgrepo.Fault{Delay: 200 * time.Millisecond})
	a, _ := fast(t)
	b, _ := fast(t)
	b.Dir = a.Dir
	req := Request{URL: srv.URL + "p.rpm", SHA256: digest(payload)}
	errs := make(chan error, 2)
	for _, f := range []*Fetcher{a, b} {
		go func() { _, err := f.Fetch(context.Background(), req); errs <- err }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Requests("p.rpm"); n != 1 {
		t.Fatalf("%d downloads, want 1: the second fetcher must wait and use the cache", n)
	}
}

func TestParseSums(t *testing.T) {
	a, b := strings.Repeat("a", 64), strings.Repeat("B", 64)
	got, err := ParseSums("# release 4.1.2\n" + a + "  enroot.rpm\r\n\n" + b + " *dist/enroot.deb\n")
	if err != nil || got["enroot.rpm"] != a || got["enroot.deb"] != strings.ToLower(b) || len(got) != 2 {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"abc  x\n", a + "\n", a + "  x\n" + strings.Repeat("c", 64) + "  x\n"} {
		if _, err := ParseSums(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := ParseSums("ok\n" + "zz"); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("line number missing: %v", err)
	}
}

func FuzzParseSums(f *testing.F) {
	f.Add(strings.Repeat("a", 64) + "  enroot.rpm\n")
	f.Add("# c\n\n" + strings.Repeat("0", 64) + " *a/b\n")
	f.Fuzz(func(t *testing.T, in string) {
		sums, err := ParseSums(in)
		if err != nil {
			return
		}
		for name, d := range sums {
			if name == "" || strings.Contains(name, "/") || !isHexDigest(d) {
				t.Fatalf("bad entry %q=%q from %q", name, d, in)
			}
		}
	})
}
