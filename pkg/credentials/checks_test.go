package credentials

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/secret"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/credentials/probe"
	"github.com/enroot-agent/enroot-agent/pkg/verify"
)

const (
	vHost = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
	vTok  = "ecrtokVERIFYSECRET0123456789"
)

var now = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// node writes a credentials file and a recorded status as a refresh would.
func node(t *testing.T, yaml, lines string, st *Status) checker {
	t.Helper()
	cfg, err := config.Parse("c.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	root := config.Root(t.TempDir())
	file := root.Path(credentialsFile(cfg.Credentials))
	testenv.MkdirAll(t, filepath.Dir(file), 0o755)
	testenv.WriteFile(t, file, []byte(lines), 0o644)
	if st != nil {
		b, _ := json.Marshal(st)
		testenv.MkdirAll(t, root.Path(cfg.StateDir), 0o700)
		testenv.WriteFile(t, statusPath(cfg, root), b, 0o600)
	}
	return checker{Config: cfg, Root: root, Now: func() time.Time { return now }}
}

func healthy(exp time.Time) *Status {
	return &Status{LastAttempt: now.Add(-time.Hour), LastSuccess: now.Add(-time.Hour), Successes: 1,
		Registries: []RegistryStatus{{Host: vHost, ExpiresAt: exp, Fingerprint: secret.New(vTok).Fingerprint()}}}
}

const vYAML = "ecr:\n  registries: [" + vHost + "]\n"
const vLine = "machine " + vHost + " login AWS password " + vTok + "\n"

func TestCredentialsChecks(t *testing.T) {
	failing := healthy(now.Add(11 * time.Hour))
	failing.LastError, failing.FailingSince, failing.ConsecutiveFailures = "ecr GetAuthorizationToken in us-east-1: ThrottlingException", now.Add(-time.Hour), 3
	cases := []struct {
		name          string
		netrc         string
		st            *Status
		refresh, toks verify.Status
		msg           string
	}{
		{"healthy", "machine nvcr.io login u password p\n" + vLine, healthy(now.Add(11 * time.Hour)), verify.OK, verify.OK, "1 registry with a token valid for more than 1h0m0s"},
		{"within the margin", vLine, healthy(now.Add(30 * time.Minute)), verify.OK, verify.Fail, "expires in 30m0s, less than verify.token_margin 1h0m0s"},
		{"expired", vLine, healthy(now.Add(-time.Minute)), verify.OK, verify.Fail, "expired at 2026-03-04T05:05:07Z"},
		{"no entry", "machine nvcr.io login u password p\n", healthy(now.Add(11 * time.Hour)), verify.OK, verify.Fail, "no entry for " + vHost},
		{"a token the agent did not issue", "machine " + vHost + " login AWS password HANDMADE\n", healthy(now.Add(11 * time.Hour)), verify.OK, verify.Fail, "is not the one the agent last issued"},
		{"refresh failing", vLine, failing, verify.Fail, verify.OK, "refreshes failing since 2026-03-04T04:06:07Z (3 failures): ecr GetAuthorizationToken"},
		{"never refreshed", vLine, nil, verify.Fail, verify.Unknown, "no refresh has run on this node yet"},
		{"unreadable by users", "", healthy(now.Add(11 * time.Hour)), verify.OK, verify.Fail, "/run/enroot-agent/enroot-config/.credentials: mode 0600 uid 0 gid 0, want mode 0644"},
	}
	for _, c := range cases {
		n := node(t, vYAML, c.netrc, c.st)
		if c.netrc == "" { // the unreadable case: right content, wrong mode
			file := n.Root.Path(credentialsFile(n.Config.Credentials))
			testenv.WriteFile(t, file, []byte(vLine), 0o600)
			os.Chmod(file, 0o600)
		}
		checks := n.checks()
		res := verify.RunAll(context.Background(), checks)
		if len(res) != 3 || res[0].Status != c.refresh || res[1].Status != c.toks || res[2].Name != "credentials-readers" {
			t.Errorf("%s: %+v", c.name, res)
			continue
		}
		all, _ := json.Marshal(res)
		if !strings.Contains(string(all), c.msg) {
			t.Errorf("%s: %q not in %s", c.name, c.msg, all)
		}
		if strings.Contains(string(all), vTok) || strings.Contains(string(all), "HANDMADE") {
			t.Fatalf("%s: a token in verify output: %s", c.name, all)
		}
	}
}

// The probe logs in to Debian's real docker-registry with the file's token.
func TestCredentialsProbe(t *testing.T) {
	reg := testenv.StartRegistry(t, []string{vHost}, vTok)
	c := node(t, vYAML+"verify:\n  probe_registries: true\n", vLine, healthy(now.Add(11*time.Hour)))
	c.Transport = reg.Transport()
	res := verify.RunAll(context.Background(), c.checks())
	if len(res) != 4 || res[2].Name != "credentials-probe" || res[2].Status != verify.OK {
		t.Fatalf("probe with the right token: %+v", res)
	}
	if err := reg.SetPassword("ecrtokROTATEDAWAY"); err != nil {
		t.Fatal(err)
	}
	res = verify.RunAll(context.Background(), c.checks())
	if res[2].Status != verify.Fail || !strings.Contains(res[2].Message, "401 Unauthorized") || strings.Contains(res[2].Message, vTok) {
		t.Fatalf("probe with a refused token: %+v", res[2])
	}
}

// The probe pulls through Debian's real docker-registry behind a front that
// redirects blobs to an S3 stand-in, as ECR does. With the stand-in
// stopped, login and manifest stay ok and layer fails naming S3. The stages
// are kept in the daemon's record for the metrics.
func TestProbePullsALayerThroughS3(t *testing.T) {
	reg := testenv.StartRegistry(t, []string{vHost}, vTok)
	if _, err := reg.PushFileImage(reg.Addr+"/ml/hello:v1", vTok, map[string]string{"/etc/greeting": "hi\n"}); err != nil {
		t.Fatal(err)
	}
	front := testenv.StartBlobRedirect(t, reg, vTok)
	yaml := vYAML + "verify:\n  probe_registries: true\n  probe_images: [\"" + vHost + "#ml/hello:v1\"]\n"
	c := node(t, yaml, vLine, healthy(now.Add(11*time.Hour)))
	c.Transport, c.Probes = front.Transport(), &probe.Record{}
	res := c.probe(context.Background())
	want := vHost + "#ml/hello:v1: login ok, manifest ok, layer ok"
	if res.Status != verify.OK || !strings.Contains(res.Message, want) {
		t.Fatalf("probe through a reachable S3: %+v", res)
	}
	front.StopS3()
	res = c.probe(context.Background())
	msg := vHost + "#ml/hello:v1: login ok, manifest ok, layer: S3 unreachable (redirected to " + front.S3Addr + "):"
	if res.Status != verify.Fail || !strings.Contains(res.Message, msg) || !strings.Contains(res.Message, "connection refused") {
		t.Fatalf("probe with S3 stopped: %+v", res)
	}
	if !strings.Contains(res.Fix, "S3 gateway endpoint") || strings.Contains(res.Message+res.Fix, vTok) {
		t.Fatalf("fix %q", res.Fix)
	}
	stages := c.Probes.Stages()
	if len(stages) != 3 || stages[2].Name != "layer" || stages[2].Err == "" || stages[0].Err != "" || stages[1].Err != "" {
		t.Fatalf("recorded stages %+v", stages)
	}
}

// verify says who can read the shared file: everyone, or root and a group.
func TestCredentialsReaders(t *testing.T) {
	for yaml, want := range map[string]string{
		vYAML:                                    "every local user's enroot reads /run/enroot-agent/enroot-config/.credentials (0644 root:root)",
		vYAML + "credentials:\n  group: users\n": "only root and members of group users (gid 100) read /run/enroot-agent/enroot-config/.credentials (0640); other users' enroot pulls anonymously",
	} {
		c := node(t, yaml, vLine, healthy(now.Add(11*time.Hour)))
		res := verify.RunAll(context.Background(), c.checks())
		last := res[len(res)-1]
		if last.Name != "credentials-readers" || last.Status != verify.OK || !strings.Contains(last.Message, want) {
			t.Errorf("%q: %+v", yaml, last)
		}
	}
}

// A credentials.group the node's user database does not know is why no
// credentials file is written: verify fails and says what to check.
func TestCredentialsReadersUnknownGroup(t *testing.T) {
	c := node(t, vYAML+"credentials:\n  group: no-such-group-here\n", vLine, healthy(now.Add(11*time.Hour)))
	res := verify.RunAll(context.Background(), c.checks())
	last := res[len(res)-1]
	if last.Name != "credentials-readers" || last.Status != verify.Fail ||
		!strings.Contains(last.Message, "credentials.group no-such-group-here is unknown on this node, so no credentials file is written for anyone") ||
		!strings.Contains(last.Fix, "getent group no-such-group-here must answer") {
		t.Fatalf("%+v", last)
	}
}
