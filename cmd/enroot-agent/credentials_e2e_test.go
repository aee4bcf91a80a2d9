package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// The test registry answers for a production ECR host name: the name is
// mapped to 127.0.0.1 on the client side (curl --resolve, as /etc/hosts
// would), so the config keeps production validation and the netrc machine is
// exactly what enroot and curl match on a node (the host, no port).
const e2eHost = "123456789012.dkr.ecr.us-east-1.amazonaws.com"

func TestE2EEveryUserPullsWithFreshToken(t *testing.T) {
	needRoot(t, "useradd", "runuser", "curl")
	aws := awsFor(t)
	first, second := token(), token()
	aws.ecr.SetPassword(first)
	reg := testenv.StartRegistry(t, []string{e2eHost}, first)
	ref := e2eHost + ":" + reg.Port + "/ml/train:v1"
	digest, err := reg.PushImage(ref, first)
	if err != nil {
		t.Fatal(err)
	}
	// A node root where every step converges, so apply really renders
	// /etc/enroot/enroot.conf before it refreshes.
	root := sandbox(t)
	openToOthers(t, root)
	cfg := filepath.Join(root, "etc/enroot-agent/config.yaml")
	appendFile(t, cfg, "ecr:\n  registries: ["+e2eHost+"]\ncredentials:\n  files: [{path: /root/.config/enroot/.credentials}]\n")
	user := testUser(t)
	ca, _ := os.ReadFile(reg.CAFile)
	caFile := filepath.Join(root, "ca.pem") // where the user can read it
	testenv.WriteFile(t, caFile, ca, 0o644)
	var printed strings.Builder
	agent := func(want int, args ...string) {
		t.Helper()
		if args[0] == "--debug" {
			args = append([]string{"--debug", "--root", root}, args[1:]...)
		} else {
			args = append([]string{"--root", root}, args...)
		}
		out, errOut, code := runAgent(t, args...)
		printed.WriteString(out + errOut)
		if code != want {
			t.Fatalf("%v: exit %d, want %d\n%s%s", args, code, want, out, errOut)
		}
	}

	agent(0, "apply")
	netrc := filepath.Join(root, enrootCredentials(t, user, filepath.Join(root, "etc/enroot/enroot.conf")))
	if netrc != filepath.Join(root, "run/enroot-agent/enroot-config/.credentials") {
		t.Fatalf("under the installed enroot.conf, %s's enroot reads %s, not the agent's shared file", user, netrc)
	}
	pull := func() string { return curlManifest(t, user, netrc, caFile, reg.Port, "/v2/ml/train/manifests/v1") }
	if got := pull(); got != "200 "+digest {
		t.Fatalf("user %s pulling with the agent's token: %s", user, got)
	}
	verifyCreds := func() map[string]string {
		out, errOut, _ := runAgent(t, "--root", root, "verify", "--local", "--json")
		printed.WriteString(out + errOut)
		var rep struct {
			Results []struct{ Name, Status, Message string } `json:"checks"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("verify --json: %v\n%s%s", err, out, errOut)
		}
		got := map[string]string{}
		for _, r := range rep.Results {
			if strings.HasPrefix(r.Name, "credentials-") {
				got[r.Name] = r.Status + ": " + r.Message
			}
		}
		return got
	}
	if v := verifyCreds(); !strings.HasPrefix(v["credentials-refresh"], "ok") || !strings.HasPrefix(v["credentials-tokens"], "ok: 1 registry") {
		t.Fatalf("verify after apply: %v", v)
	}
	// The seed's root-only file is kept too, with the seed's mode.
	if st, err := os.Stat(filepath.Join(root, "root/.config/enroot/.credentials")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("root's credentials file: %v %v", st, err)
	}

	// ECR rotates: the registry now wants the next token only.
	aws.ecr.SetPassword(second)
	if err := reg.SetPassword(second); err != nil {
		t.Fatal(err)
	}
	if got := pull(); !strings.HasPrefix(got, "401") {
		t.Fatalf("the old token still works after rotation: %s", got)
	}
	agent(0, "--debug", "refresh")
	if got := pull(); got != "200 "+digest {
		t.Fatalf("after refresh: %s", got)
	}

	// ECR refuses the node: refresh says so, keeps the still-valid token.
	aws.ecr.SetAccessKey("AKIAREVOKEDKEY000000")
	agent(1, "refresh")
	if got := pull(); got != "200 "+digest {
		t.Fatalf("a failed refresh broke pulls with a valid token: %s", got)
	}
	if v := verifyCreds(); !strings.Contains(v["credentials-refresh"], "fail: refreshes failing since") ||
		!strings.Contains(v["credentials-refresh"], "UnrecognizedClientException") || !strings.HasPrefix(v["credentials-tokens"], "ok") {
		t.Fatalf("verify after a refused refresh: %v", v)
	}

	state, _ := os.ReadFile(filepath.Join(root, "var/lib/enroot-agent/credentials-status.json"))
	everything := printed.String() + string(state)
	for _, tok := range append(aws.ecr.Issued(), first, second) {
		if strings.Contains(everything, tok) {
			t.Fatalf("a token appears in the agent's output or state:\n%s", everything)
		}
	}
	if !strings.Contains(printed.String(), "sha256:") {
		t.Fatalf("no fingerprint printed to tell tokens apart:\n%s", printed.String())
	}
}

// enrootCredentials resolves, as user and the way enroot does, which
// .credentials file enroot reads: ENROOT_CONFIG_PATH from enroot.conf
// (evaluated by the user's shell), else ${XDG_CONFIG_HOME:-$HOME/.config}/enroot.
func enrootCredentials(t *testing.T, user, conf string) string {
	t.Helper()
	script := `unset ENROOT_CONFIG_PATH XDG_CONFIG_HOME
line=$(grep -E '^[[:space:]]*ENROOT_CONFIG_PATH([[:space:]]|=)' "$1" | head -n1)
if [ -n "$line" ]; then
  val=$(printf '%s' "$line" | sed -E 's/^[[:space:]]*ENROOT_CONFIG_PATH([[:space:]]+|=)//')
  eval "ENROOT_CONFIG_PATH=$val"
fi
printf '%s/.credentials' "${ENROOT_CONFIG_PATH:-${XDG_CONFIG_HOME:-$HOME/.config}/enroot}"`
	out, err := exec.Command("runuser", "-u", user, "--", "bash", "-c", script, "bash", conf).CombinedOutput()
	if err != nil {
		t.Fatalf("resolve enroot's credentials path as %s: %v\n%s", user, err, out)
	}
	return string(out)
}

// curlManifest fetches a manifest as user, with curl's netrc as enroot uses
// it, and returns "<status> <Docker-Content-Digest>".
func curlManifest(t *testing.T, user, netrc, caFile, port, path string) string {
	t.Helper()
	out, err := exec.Command("runuser", "-u", user, "--", "curl", "-sS", "--http1.1", "-o", "/dev/null",
		"--netrc-file", netrc, "--cacert", caFile, "--resolve", e2eHost+":"+port+":127.0.0.1",
		"-H", "Accept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json",
		"-w", "%{http_code} %header{docker-content-digest}", "https://"+e2eHost+":"+port+path).CombinedOutput()
	if err != nil {
		t.Fatalf("curl as %s: %v\n%s", user, err, out)
	}
	return strings.TrimSpace(string(out))
}

func needRoot(t *testing.T, bins ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test creates a user and needs root; run make test as root")
	}
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("%s not found: install it (scripts/test-deps.sh: passwd, util-linux, curl)", b)
		}
	}
}

// testUser creates a non-root user with no special groups, removed at cleanup.
func testUser(t *testing.T) string {
	t.Helper()
	name := "eae2e" + token()[6:14]
	home := filepath.Join(worldTraversableDir(t), "home")
	if out, err := exec.Command("useradd", "-m", "-d", home, "-s", "/bin/bash", "-U", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("userdel", "-r", name).Run() })
	return name
}

// openToOthers lets other users traverse from / down to dir: t.TempDir and
// its parent are 0700.
func openToOthers(t *testing.T, dir string) {
	t.Helper()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// worldTraversableDir is a temp dir other users can reach (t.TempDir is 0700).
func worldTraversableDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "enroot-agent-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func token() string {
	b := make([]byte, 20)
	rand.Read(b)
	return "ecrtok" + hex.EncodeToString(b)
}

// A cluster booting at once: many nodes refresh in the same second against a
// rate-limited ECR; the SDK's retryer spreads them and every node ends with
// a fresh token.
func TestE2EThrottledClusterAllFresh(t *testing.T) {
	aws := awsFor(t)
	const nodes, perSecond = 12, 4
	aws.ecr.RateLimit(perSecond)
	errs := make(chan string, nodes)
	for i := 0; i < nodes; i++ {
		go func() {
			root := t.TempDir()
			cfg := filepath.Join(root, "c.yaml")
			testenv.WriteFile(t, cfg, []byte("ecr:\n  registries: ["+e2eHost+"]\n"), 0o644)
			out, errOut, code := runAgent(t, "--config", cfg, "--root", root, "refresh")
			if code != 0 {
				errs <- out + errOut
				return
			}
			b, _ := os.ReadFile(filepath.Join(root, "run/enroot-agent/enroot-config/.credentials"))
			if !strings.HasPrefix(string(b), "machine "+e2eHost+" login AWS password ecrtok") {
				errs <- "no token in " + root
				return
			}
			errs <- ""
		}()
	}
	for i := 0; i < nodes; i++ {
		if e := <-errs; e != "" {
			t.Fatalf("a node ended without a fresh token:\n%s", e)
		}
	}
	if calls := aws.ecr.Calls(""); calls <= nodes {
		t.Fatalf("%d calls for %d nodes: the rate limit never throttled, the test proves nothing", calls, nodes)
	}
}

func TestDryRunSaysItWouldRefresh(t *testing.T) {
	aws := awsFor(t)
	root := t.TempDir()
	cfg := filepath.Join(root, "c.yaml")
	testenv.WriteFile(t, cfg, []byte("ecr:\n  registries: ["+e2eHost+"]\n"), 0o644)
	out, errOut, code := runAgent(t, "--config", cfg, "--root", root, "apply", "--dry-run")
	want := "+ credentials      planned: would refresh the token for " + e2eHost + " (unless still fresh) into " + root + "/run/enroot-agent/enroot-config/.credentials"
	if !strings.Contains(out, want) {
		t.Fatalf("dry run (exit %d) does not say %q:\n%s%s", code, want, out, errOut)
	}
	if aws.ecr.Calls("") != 0 {
		t.Fatal("a dry run called ECR")
	}
	if _, err := os.Stat(filepath.Join(root, "run")); !os.IsNotExist(err) {
		t.Fatalf("a dry run wrote under %s/run", root)
	}
}
