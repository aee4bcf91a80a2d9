package importer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// gatedEnroot is an enroot whose digest answers only once gate exists:
// the daemon's side of the test makes it when the request's first line
// has come.
func gatedEnroot(t *testing.T, gate string) {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\ncase \"$1\" in\ndigest)\n  i=0\n  while [ ! -e " + gate + " ]; do\n    i=$((i+1)); [ $i -gt 400 ] && { echo 'gate never opened' >&2; exit 1; }\n    sleep 0.05\n  done\n  echo sha256:" + strings.Repeat("ab", 32) + " ;;\nimport) printf hsqs > \"$3\" ;;\nesac\n"
	if err := os.WriteFile(filepath.Join(dir, "enroot"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
}

// /v2/get: the request's first line reaches the daemon before the user's
// enroot digest has answered (it waits here for the daemon to have read
// it), and the digest follows on its own line.
func TestRequestGoesBeforeTheDigest(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "first-line-read")
	gatedEnroot(t, gate)
	var got struct {
		first Request
		line  string
	}
	sock := wedged(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != PathGetV2 {
			http.Error(w, "not v2", http.StatusNotFound)
			return
		}
		body := bufio.NewReader(r.Body)
		first, _ := body.ReadBytes('\n')
		_ = json.Unmarshal(first, &got.first)
		_ = os.WriteFile(gate, nil, 0o644)
		rest, _ := io.ReadAll(body)
		got.line = string(rest)
		stream(w, Event{Path: "/cache/sha256/x.sqsh"})
	})
	env := map[string]string{"SLURM_JOB_ID": "42", "SLURM_STEP_ID": "0"}
	var stderr bytes.Buffer
	im := &Importer{Socket: sock, Getenv: func(k string) string { return env[k] }, Stderr: &stderr}
	uri := "docker://registry.example.com#ml/hello:v1"
	path, err := im.Get(context.Background(), uri)
	if err != nil || path != "/cache/sha256/x.sqsh" {
		t.Fatalf("%q, %v\n%s", path, err, stderr.String())
	}
	if got.first != (Request{URI: uri, Job: "42", Step: "0"}) || got.line != "sha256:"+strings.Repeat("ab", 32)+"\n" || len(got.line) != DigestLine {
		t.Fatalf("the daemon read %+v, then %q", got.first, got.line)
	}
}

// A daemon older than its importer (a package upgrade, before the daemon
// restarts) serves /v1/get only: the importer asks it there, with the
// digest, and the job still gets the cached image.
func TestOlderDaemonAskedV1(t *testing.T) {
	fakeEnroot(t)
	var mu sync.Mutex
	var paths []string
	var v1 Request
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathGet, func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&v1)
		stream(w, Event{Path: "/cache/sha256/old.sqsh"})
	})
	sock := wedged(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		mux.ServeHTTP(w, r)
	})
	env := map[string]string{"SLURM_JOB_ID": "42", "SLURM_STEP_ID": "0"}
	var stderr bytes.Buffer
	im := &Importer{Socket: sock, Getenv: func(k string) string { return env[k] }, Stderr: &stderr}
	uri := "docker://registry.example.com#ml/hello:v1"
	path, err := im.Get(context.Background(), uri)
	if err != nil || path != "/cache/sha256/old.sqsh" || strings.Contains(stderr.String(), "not used") {
		t.Fatalf("%q, %v\n%s", path, err, stderr.String())
	}
	if strings.Join(paths, " ") != PathGetV2+" "+PathGet || v1.Digest != "sha256:"+strings.Repeat("ab", 32) || v1.URI != uri {
		t.Fatalf("asked %v; v1 request %+v", paths, v1)
	}
}

// A digest enroot cannot give ends the request: the daemon is left no
// half of it to act on, and the job imports on its own.
func TestFailedDigestEndsTheRequest(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "enroot"), []byte("#!/bin/sh\ncase \"$1\" in\ndigest) echo 'registry said no' >&2; exit 1 ;;\nimport) printf hsqs > \"$3\" ;;\nesac\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	readErr := make(chan error, 1)
	sock := wedged(t, func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
	})
	rt := t.TempDir()
	env := map[string]string{"SLURM_JOB_ID": "42", "SLURM_STEP_ID": "0", "SLURM_JOB_UID": "0", "PYXIS_RUNTIME_PATH": rt}
	var stderr bytes.Buffer
	im := &Importer{Socket: sock, Getenv: func(k string) string { return env[k] }, Stderr: &stderr}
	path, err := im.Get(context.Background(), "docker://registry.example.com#ml/hello:v1")
	if err != nil || path != filepath.Join(rt, "0", "42.0.squashfs") || !strings.Contains(stderr.String(), "registry said no") {
		t.Fatalf("%q, %v\n%s", path, err, stderr.String())
	}
	if err := <-readErr; err == nil {
		t.Fatal("the daemon read a whole request although the digest failed")
	}
}

// No daemon at all: the request fails before the digest is known, and the
// digest's answer has nowhere to go; the importer must not wait on it.
func TestNoDaemonNoWait(t *testing.T) {
	fakeEnroot(t)
	rt := t.TempDir()
	env := map[string]string{"SLURM_JOB_ID": "42", "SLURM_STEP_ID": "0", "SLURM_JOB_UID": "0", "PYXIS_RUNTIME_PATH": rt}
	var stderr bytes.Buffer
	im := &Importer{Socket: filepath.Join(t.TempDir(), "none.sock"), Getenv: func(k string) string { return env[k] }, Stderr: &stderr}
	done := make(chan string, 1)
	go func() {
		path, _ := im.Get(context.Background(), "docker://registry.example.com#ml/hello:v1")
		done <- path
	}()
	select {
	case path := <-done:
		if path != filepath.Join(rt, "0", "42.0.squashfs") {
			t.Fatalf("%q\n%s", path, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the importer hangs when there is no daemon")
	}
}

// SIGTERM (Slurm cancelling the step) during the fallback import ends
// the user's enroot import with the importer: it would otherwise pull for
// minutes for a job that is gone. The importer installs its handler for
// that child only.
func TestInterruptEndsTheOwnImport(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "import.pid")
	script := "#!/bin/sh\ncase \"$1\" in\ndigest) exit 1 ;;\nimport) echo $$ > " + pidFile + "; exec sleep 600 ;;\nesac\n"
	if err := os.WriteFile(filepath.Join(dir, "enroot"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	rt := t.TempDir()
	env := map[string]string{"SLURM_JOB_ID": "42", "SLURM_STEP_ID": "0", "SLURM_JOB_UID": "0", "PYXIS_RUNTIME_PATH": rt}
	var stderr bytes.Buffer
	im := &Importer{Socket: filepath.Join(t.TempDir(), "none.sock"), Getenv: func(k string) string { return env[k] }, Stderr: &stderr}
	done := make(chan error, 1)
	go func() {
		_, err := im.Get(context.Background(), "docker://registry.example.com#ml/hello:v1")
		done <- err
	}()
	var pid int
	for end := time.Now().Add(30 * time.Second); pid == 0; time.Sleep(20 * time.Millisecond) {
		if data, err := os.ReadFile(pidFile); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
		}
		if time.Now().After(end) {
			t.Fatal("the fallback import never started")
		}
	}
	// The handler is in place: the import runs under it.
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("an interrupted import returned a path")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("SIGTERM did not end the fallback import")
	}
	if err := syscall.Kill(pid, 0); err == nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("the user's enroot import (pid %d) outlived the importer's interrupt", pid)
	}
}
