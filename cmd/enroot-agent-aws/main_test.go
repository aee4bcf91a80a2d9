package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// terminal opens a pseudo-terminal's far end, as an admin's shell has.
func terminal(t *testing.T) *os.File {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pts.Close() })
	return pts
}

func pipeFile(t *testing.T) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// Run by hand, the helper says what it is and does nothing.
func TestRefusesToRunByHand(t *testing.T) {
	tty := terminal(t)
	for _, c := range []struct {
		name        string
		args        []string
		stdin, out  *os.File
		wantMessage string
	}{
		{"terminal stdin", nil, tty, pipeFile(t), "enroot-agent-aws: stdin or stdout is a terminal: enroot-agent-aws is enroot-agent's AWS helper"},
		{"terminal stdout", nil, pipeFile(t), tty, "enroot-agent-aws: stdin or stdout is a terminal"},
		{"argument", []string{"--region"}, pipeFile(t), pipeFile(t), `enroot-agent-aws: unknown argument "--region": enroot-agent-aws is enroot-agent's AWS helper: the agent runs it`},
		{"arguments", []string{"version", "x"}, pipeFile(t), pipeFile(t), `enroot-agent-aws: unknown argument "version"`},
	} {
		var stderr bytes.Buffer
		if code := run(c.args, c.stdin, c.out, &stderr); code != 2 || !strings.HasPrefix(stderr.String(), c.wantMessage) {
			t.Errorf("%s: exit %d, %q", c.name, code, stderr.String())
		}
		if st, _ := c.out.Stat(); c.out != tty && st.Size() != 0 {
			t.Errorf("%s: wrote to stdout", c.name)
		}
	}
}

func TestVersion(t *testing.T) {
	out := pipeFile(t)
	var stderr bytes.Buffer
	if code := run([]string{"version"}, pipeFile(t), out, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	got, _ := os.ReadFile(out.Name())
	if !strings.HasPrefix(string(got), "enroot-agent-aws dev (go") {
		t.Fatalf("%q", got)
	}
}
