package packaging

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// node is a scratch "compute node" for on-node-configured.sh: the package
// manager and systemctl are stubs on PATH (no systemd PID 1 here) that log
// their calls; the stub package manager installs with the real rpm or dpkg
// into a scratch root whose usr/bin is on PATH. Everything else is real:
// curl against a local HTTP server, the packaged enroot-agent's validate
// and verify.
type node struct {
	dir, root, stubs, log, config string
	url                           string
	env                           []string // on top of the test's environment
}

// stubSystemctl logs its calls and keeps a unit state: start and restart
// make it active with a new InvocationID, as systemd does.
const stubSystemctl = `#!/bin/sh
echo "systemctl $*" >>"$STUB_LOG"
unit=$STUB_ROOT/stub-unit
case $1 in
status) echo "enroot-agent.service - stub status" ;;
show)
  [ -f "$unit.$3" ] && cat "$unit.$3"
  [ "$3" = ActiveState ] && [ ! -f "$unit.$3" ] && echo inactive ;;
restart) echo active >"$unit.ActiveState"; echo "run-$(date +%s%N)" >"$unit.InvocationID" ;;
start)
  if [ ! -f "$unit.InvocationID" ]; then
    echo active >"$unit.ActiveState"; echo "run-$(date +%s%N)" >"$unit.InvocationID"
  fi ;;
esac
exit 0
`

const stubDnf = `#!/bin/sh
echo "dnf $*" >>"$STUB_LOG"
for f; do :; done
exec rpm --root "$STUB_ROOT" -U --replacepkgs --nodeps --noscripts "$f"
`

const stubAptGet = `#!/bin/sh
echo "apt-get $*" >>"$STUB_LOG"
for f; do :; done
exec dpkg --root="$STUB_ROOT" --force-script-chrootless -i "$f" >/dev/null
`

// stubAws stands in for the AWS CLI's "aws s3 cp --only-show-errors SRC DEST",
// reading s3://bucket/key from $STUB_S3/bucket/key.
const stubAws = `#!/bin/sh
echo "aws $*" >>"$STUB_LOG"
[ "$1 $2 $3" = "s3 cp --only-show-errors" ] || exit 2
exec cp "$STUB_S3/${4#s3://}" "$5"
`

func newNode(t *testing.T, p pkgs) *node {
	t.Helper()
	dir := t.TempDir()
	return newNodeAt(t, p, dir, filepath.Join(dir, "root"))
}

// newNodeAt prepares a node whose packages install into root.
func newNodeAt(t *testing.T, p pkgs, dir, root string) *node {
	t.Helper()
	// This machine is no EC2 instance: the SDK must not wait on IMDS.
	n := &node{dir: dir, env: []string{"AWS_EC2_METADATA_DISABLED=true"}}
	n.root, n.stubs = root, filepath.Join(n.dir, "stubs")
	n.log, n.config = filepath.Join(n.dir, "calls.log"), filepath.Join(n.root, "etc/enroot-agent/config.yaml")
	writeFile(t, filepath.Join(n.stubs, "systemctl"), stubSystemctl, 0o755)
	writeFile(t, filepath.Join(n.stubs, "dnf"), stubDnf, 0o755)
	writeFile(t, filepath.Join(n.stubs, "apt-get"), stubAptGet, 0o755)
	writeFile(t, filepath.Join(n.stubs, "aws"), stubAws, 0o755)
	run(t, "rpm", "--root", n.root, "--initdb")
	if _, err := os.Stat(filepath.Join(n.root, "var/lib/dpkg/status")); os.IsNotExist(err) {
		mkdir(t, filepath.Join(n.root, "var/lib/dpkg/info"))
		mkdir(t, filepath.Join(n.root, "var/lib/dpkg/updates"))
		writeFile(t, filepath.Join(n.root, "var/lib/dpkg/status"), "", 0o644)
	}

	srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Dir(p.rpm))))
	t.Cleanup(srv.Close)
	n.url = srv.URL
	return n
}

// serve puts a file next to the packages and returns its URL.
func (n *node) serve(t *testing.T, name, data string) string {
	writeFile(t, filepath.Join(filepath.Dir(built.rpm), name), data, 0o644)
	return n.url + "/" + name
}

// bootstrap runs the script and returns its combined output and exit code.
func (n *node) bootstrap(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("./parallelcluster/on-node-configured.sh", args...)
	cmd.Env = append(os.Environ(),
		"PATH="+n.stubs+":"+filepath.Join(n.root, "usr/bin")+":"+os.Getenv("PATH"),
		"STUB_LOG="+n.log, "STUB_ROOT="+n.root, "STUB_S3="+filepath.Join(n.dir, "s3"),
		"ENROOT_AGENT_CONFIG="+n.config, "ENROOT_AGENT_POLL=1")
	cmd.Env = append(cmd.Env, n.env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// calls returns the stub calls logged since the last call to calls.
func (n *node) calls(t *testing.T) string {
	data, _ := os.ReadFile(n.log)
	if err := os.Remove(n.log); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(data)
}

func fileDigest(t *testing.T, path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
