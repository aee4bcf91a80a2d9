package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// While the daemon is down (RestartSec), any local user can bind
// verify.listen and answer "ok". `verify` and `verify --drain`, run as root,
// must not believe it: they ask only the root-only socket and otherwise
// check the node themselves, so a broken node stays failing and drained.
func TestVerifyIgnoresSpoofedListener(t *testing.T) {
	cluster := testenv.StartSlurm(t)
	root, listen, bus := healthyNode(t, "  node_name: "+cluster.Node+"\n")
	slurmRoot(t, cluster, root)
	env := append([]string{bus}, cluster.Env...)
	if out, code := runWith(t, env, "--root", root, "apply"); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	if err := os.Remove(filepath.Join(root, "run/enroot-agent/enroot-config/.credentials")); err != nil {
		t.Fatal(err)
	}
	if out, code := runWith(t, env, "--root", root, "verify", "--drain"); code != 1 {
		t.Fatalf("broken node, no daemon: exit %d\n%s", code, out)
	}
	if n := nodeState(t, cluster); !n.Drain || !strings.HasPrefix(n.Reason, "enroot-agent: ") {
		t.Fatalf("not drained by the agent: %+v", n)
	}

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	spoofed := 0
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		spoofed++
		io.WriteString(w, `{"status":"ok","node":"`+cluster.Node+`","checks":[{"name":"everything","status":"ok","message":"fine"}]}`)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	// The spoof answers whoever asks, as a real daemon would.
	if code, body := get(t, "http://"+listen+"/verify"); code != 200 || !strings.Contains(body, `"ok"`) {
		t.Fatalf("the spoofing server does not answer: %d %s", code, body)
	}

	for _, args := range [][]string{{"verify"}, {"verify", "--drain"}} {
		out, code := runWith(t, env, append([]string{"--root", root}, args...)...)
		if code != 1 || !strings.Contains(out, "checked locally") {
			t.Fatalf("%v with a spoofed listener: exit %d\n%s", args, code, out)
		}
	}
	if spoofed != 1 {
		t.Fatalf("the CLI asked the TCP listener %d times", spoofed-1)
	}
	if n := nodeState(t, cluster); !n.Drain || !strings.HasPrefix(n.Reason, "enroot-agent: ") {
		t.Fatalf("the spoofed ok resumed the node: %+v", n)
	}
}
