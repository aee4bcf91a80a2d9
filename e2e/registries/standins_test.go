package registries

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enroot-agent/enroot-agent/internal/fake/aws"
	"github.com/enroot-agent/enroot-agent/internal/fake/registry"
	"github.com/enroot-agent/enroot-agent/internal/realchain"
	"github.com/enroot-agent/enroot-agent/internal/testenv"
)

// The acceptance config's registries, as the README's example names them.
const (
	roleHost = "210987654321.dkr.ecr.eu-west-1.amazonaws.com"
	roleARN  = "arn:aws:iam::210987654321:role/ecr-pull"
	roleKey  = "ASIAROLEKEY" // the access key id STS hands out for the role
	ngcSrc   = "secretsmanager:cluster/ngc-api-key"
	hubSrc   = "ssm:/cluster/dockerhub-token"
	hubLogin = "hpcbot"
	harbor   = "harbor.example.com" // a generic registry
	robotSrc = "ssm:/cluster/harbor"
	robot    = "robot-pull"
)

// stands are the stand-ins beyond the real chain's: the AWS services of the
// other kinds, and Debian's docker-registry playing every host the agent
// writes a line for, one instance per password (htpasswd is Basic: enroot
// sends each host's own line to it).
type stands struct {
	pub    *aws.ECRPublic
	sts    *aws.STS
	store  *aws.SecretStore
	role   *registry.Registry // roleHost, AWS / the role's token
	public *registry.Registry // public.ecr.aws, AWS / the ECR Public token
	named  *registry.Registry // NGC's, Docker Hub's and Harbor's hosts: $oauthtoken, hpcbot, robot-pull
	proxy  *aws.ConnectProxy

	// secrets are every value the agent handles, for the leak scans.
	roleTok, pubTok, ngcKey, hubTok, robotPw string
	digests                                  map[string]string // host -> digest of ml/hello:v1 there
}

// ngcHosts and hubHosts are the two lines each of these kinds writes.
var (
	ngcHosts = []string{"nvcr.io", "authn.nvidia.com"}
	hubHosts = []string{"auth.docker.io", "registry-1.docker.io"}
)

func startStands(t *testing.T, c *realchain.Chain) *stands {
	s := &stands{roleTok: "role" + hex(20), pubTok: "pub" + hex(20), ngcKey: "nvapi-" + hex(20), hubTok: "dckr_pat_" + hex(12),
		robotPw: "robot" + hex(16), digests: map[string]string{}}
	s.pub = testenv.StartECRPublic(t, s.pubTok)
	s.sts = testenv.StartSTS(t, map[string]string{roleARN: roleKey})
	s.store = testenv.StartSecretStore(t)
	s.store.Set(ngcSrc, s.ngcKey)
	s.store.Set(hubSrc, s.hubTok)
	s.store.Set(robotSrc, s.robotPw)
	// The node's key signs its own ECR call, the role's key the other
	// account's: each gets its own token.
	c.ECR.SetAccessKey("")
	c.ECR.SetPasswordFor(roleKey, s.roleTok)
	c.Env = append(c.Env, "AWS_ENDPOINT_URL_ECR_PUBLIC="+s.pub.URL, "AWS_ENDPOINT_URL_STS="+s.sts.URL,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER="+s.store.URL, "AWS_ENDPOINT_URL_SSM="+s.store.URL)

	s.digests[c.Host] = push(t, c.Registry, c.Host, c.Token())
	s.role = s.registry(t, c, "role", []string{roleHost}, s.roleTok)
	s.public = s.registry(t, c, "public", []string{"public.ecr.aws"}, s.pubTok)
	names := append(append([]string{harbor}, ngcHosts...), hubHosts...)
	s.named = s.registry(t, c, "named", names, "push"+hex(12))
	if err := s.named.SetLogins(s.namedLogins(s.ngcKey)); err != nil {
		t.Fatal(err)
	}
	routes := map[string]string{c.Host: c.Registry.Addr, roleHost: s.role.Addr, "public.ecr.aws": s.public.Addr}
	for _, h := range names {
		routes[h] = s.named.Addr
	}
	var err error
	if s.proxy, err = aws.StartConnectProxy(routes); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.proxy.Close)
	return s
}

// namedLogins are the users of the registry playing NGC, Docker Hub and Harbor.
func (s *stands) namedLogins(ngcKey string) map[string]string {
	return map[string]string{"$oauthtoken": ngcKey, hubLogin: s.hubTok, robot: s.robotPw}
}

// registry starts one more docker-registry in the chain's work dir, for
// hosts, and pushes ml/hello:v1 as user AWS with password; every host it
// plays gets that image's digest.
func (s *stands) registry(t *testing.T, c *realchain.Chain, name string, hosts []string, password string) *registry.Registry {
	dir := filepath.Join(c.Dir, "registry-"+name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	r, err := registry.Start(dir, hosts, password)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close) // before the chain removes its work dir
	d := push(t, r, hosts[0], password)
	for _, h := range hosts {
		s.digests[h] = d
	}
	return r
}

func push(t *testing.T, r *registry.Registry, host, password string) string {
	d, err := r.PushImage(host+":"+r.Port+"/ml/hello:v1", password)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// caBundle is every registry's CA in one file, for enroot.conf's SSL_CERT_FILE.
func (s *stands) caBundle(t *testing.T, c *realchain.Chain, path string) {
	var all []byte
	for _, f := range []string{c.Registry.CAFile, s.role.CAFile, s.public.CAFile, s.named.CAFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if err := os.WriteFile(path, all, 0o644); err != nil {
		t.Fatal(err)
	}
}

// secrets are every value that must never reach the agent's output.
func (s *stands) secrets(c *realchain.Chain, more ...string) []string {
	return append([]string{c.Token(), s.roleTok, s.pubTok, s.ngcKey, s.hubTok, s.robotPw}, more...)
}

func leaks(text string, secrets []string) bool {
	for _, v := range secrets {
		if v != "" && strings.Contains(text, v) {
			return true
		}
	}
	return false
}
