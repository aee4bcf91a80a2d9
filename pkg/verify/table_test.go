package verify

import (
	"strings"
	"testing"
)

func TestWriteTable(t *testing.T) {
	rep := Report{Status: Fail, Node: "gpu-1", Results: []Result{
		{Name: "enroot-version", Status: OK, Message: "enroot 4.1.2 runs"},
		{Name: "pyxis", Status: Fail, Message: "plugin missing", Fix: "run enroot-agent apply"},
		{Name: "nfs", Status: Unknown, Message: "timed out"},
	}}
	var b strings.Builder
	WriteTable(&b, rep, "locally")
	want := `✓ enroot-version  enroot 4.1.2 runs
✗ pyxis           plugin missing
                  fix: run enroot-agent apply
? nfs             timed out
node gpu-1: fail (1 ok, 1 fail, 1 unknown), checked locally
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	WriteTable(&b, Report{Status: Unknown}, "by the daemon on "+DaemonSocket)
	if b.String() != "node: unknown (), checked by the daemon on /run/enroot-agent/verify.sock\n" {
		t.Errorf("empty report: %q", b.String())
	}
}
