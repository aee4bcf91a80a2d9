package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestCredentialsAndECRKeys(t *testing.T) {
	c, err := Parse("c.yaml", []byte("ecr:\n  refresh_interval: 3h\ncredentials:\n  files: [{path: /root/.config/enroot/.credentials}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.ECR.RefreshJitter.D() != 18*time.Minute {
		t.Errorf("jitter %s, want a tenth of the 3h interval", c.ECR.RefreshJitter)
	}
	if f := c.Credentials.Files[0]; f.Owner != "root" || f.Group != "root" || f.Mode != 0o600 {
		t.Errorf("file defaults %+v", f)
	}
	if c.Credentials.EnrootConfigPath != "/run/enroot-agent/enroot-config" || c.Verify.TokenMargin.D() != time.Hour {
		t.Errorf("defaults %+v %+v", c.Credentials, c.Verify)
	}
	in := `ecr:
  refresh_jitter: 4h
  retry_initial: 10m
  retry_max: 1m
credentials:
  enroot_config_path: run/x
  group: "bad:group"
  files:
    - {path: /a, mode: "0666"}
    - {path: /a, owner: "Bob!"}
`
	_, err = Parse("c.yaml", []byte(in))
	want := []string{
		`c.yaml:2: ecr.refresh_jitter: 4h0m0s is outside 0s..3h (at most half of ecr.refresh_interval)`,
		`c.yaml:4: ecr.retry_max: 1m0s is outside 10m..2h (at least ecr.retry_initial)`,
		`c.yaml:6: credentials.enroot_config_path: "run/x" is not an absolute path`,
		`c.yaml:7: credentials.group: "bad:group" is not a group name or id`,
		`c.yaml:9: credentials.files[0].mode: 0666 is writable by group or others, or has special bits: a credentials file must not be`,
		`c.yaml:10: credentials.files[1].path: /a is listed twice`,
		`c.yaml:10: credentials.files[1].owner: "Bob!" is not a user or group name or id`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Fatalf("got:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}

func TestCredentialsGoSomewhere(t *testing.T) {
	_, err := Parse("c.yaml", []byte("credentials:\n  enroot_config_path: \"\"\n"))
	want := `c.yaml:2: credentials.enroot_config_path: is empty and credentials.files lists nothing: no user's enroot would get ECR credentials`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v", err)
	}
}

// Users and groups of a directory service are named more freely than
// useradd allows; what no passwd or group entry can hold is still refused.
func TestDirectoryNames(t *testing.T) {
	for _, ok := range []string{"hpc", "hpc-users@corp.example.com", "Domain Users", `CORP\hpc`, "47000", "svc_pull$", "_x"} {
		if _, err := Parse("c.yaml", []byte("credentials:\n  group: '"+ok+"'\n")); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"-hpc", "a:b", "a,b", "a\tb", "hpc ", " hpc", "a/b", strings.Repeat("g", 257)} {
		if _, err := Parse("c.yaml", []byte("credentials:\n  group: \""+strings.ReplaceAll(bad, "\t", "\\t")+"\"\n")); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The acceptance config: the node's registry, one in another account
// through a role, ECR Public, NGC in Secrets Manager, Docker Hub in SSM.
const kindsConfig = `ecr:
  registries:
    - 123456789012.dkr.ecr.us-east-1.amazonaws.com
    - host: 210987654321.dkr.ecr.eu-west-1.amazonaws.com
      role_arn: arn:aws:iam::210987654321:role/ecr-pull
  public: true
secrets:
  registries:
    - {name: ngc, kind: ngc, source: "secretsmanager:cluster/ngc-api-key"}
    - {name: dockerhub, kind: dockerhub, login: hpcbot, source: "ssm:/cluster/dockerhub-token"}
    - {name: harbor, kind: generic, login: robot, hosts: [harbor.example.com], source: "ssm:/h"}
verify:
  probe_images: ["123456789012.dkr.ecr.us-east-1.amazonaws.com#ml/hello:v1", "nvcr.io#nvidia/cuda@sha256:0123456789012345678901234567890123456789012345678901234567890123"]
`

func TestRegistryKinds(t *testing.T) {
	c, err := Parse("c.yaml", []byte(kindsConfig))
	if err != nil {
		t.Fatal(err)
	}
	r := c.ECR.Registries[1]
	if r.Host != "210987654321.dkr.ecr.eu-west-1.amazonaws.com" || r.Region != "eu-west-1" || r.RoleARN != "arn:aws:iam::210987654321:role/ecr-pull" {
		t.Errorf("role registry %+v", r)
	}
	if c.ECR.Registries[0].RoleARN != "" || !c.ECR.Public {
		t.Errorf("ecr %+v", c.ECR)
	}
	ngc, hub, harbor := c.Secrets.Registries[0], c.Secrets.Registries[1], c.Secrets.Registries[2]
	if ngc.LoginOf() != "$oauthtoken" || strings.Join(ngc.HostsOf(), ",") != "nvcr.io,authn.nvidia.com" {
		t.Errorf("ngc %+v", ngc)
	}
	if hub.LoginOf() != "hpcbot" || strings.Join(hub.HostsOf(), ",") != "auth.docker.io,registry-1.docker.io" {
		t.Errorf("dockerhub %+v", hub)
	}
	if store, id := SourceOf(harbor.Source); store != "ssm" || id != "/h" || harbor.HostsOf()[0] != "harbor.example.com" {
		t.Errorf("harbor %+v", harbor)
	}
	if c.Secrets.RefreshInterval.String() != "1h0m0s" || c.Secrets.MaxAge.String() != "24h0m0s" {
		t.Errorf("secrets defaults %+v", c.Secrets)
	}
}

func TestRegistryKindErrors(t *testing.T) {
	in := `ecr:
  registries:
    - host: 210987654321.dkr.ecr.eu-west-1.amazonaws.com
      role_arn: arn:aws:iam::21098765:role/x
    - {host: 123456789012.dkr.ecr.us-east-1.amazonaws.com, role: x}
  public: true
secrets:
  registries:
    - {name: ngc, kind: ngc, login: me, source: "vault:x"}
    - {name: hub, kind: dockerhub, source: "ssm:/a", hosts: [a.example]}
    - {name: h, kind: generic, login: "a b", hosts: ["https://x.example", public.ecr.aws], source: "secretsmanager:"}
    - {name: "Bad Name", kind: quay, source: "ssm:/q"}
    - {name: h2, kind: dockerhub, login: u, source: "ssm:/b"}
verify:
  probe_images: ["nvcr.io/nvidia/cuda:12", "nvcr.io#cuda"]
`
	_, err := Parse("c.yaml", []byte(in))
	want := []string{
		`c.yaml:3: ecr.registries[0]: role_arn "arn:aws:iam::21098765:role/x" is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)`,
		`c.yaml:5: ecr.registries[1]: line 5: unknown key "role" (known: host, role_arn)`,
		`c.yaml:9: secrets.registries[0].login: NGC's login is always $oauthtoken: leave login out`,
		`c.yaml:9: secrets.registries[0].source: "vault:x" is not secretsmanager:<secret id or ARN> or ssm:<parameter name>`,
		`c.yaml:10: secrets.registries[1].login: is required for kind dockerhub (the user the token belongs to)`,
		`c.yaml:10: secrets.registries[1].hosts: is only for kind generic: kind dockerhub has its own hosts`,
		`c.yaml:11: secrets.registries[2].login: holds characters a netrc line cannot carry`,
		`c.yaml:11: secrets.registries[2].hosts: "https://x.example" is not a bare host name (no scheme, port or path; lower case; at most 253 bytes)`,
		`c.yaml:11: secrets.registries[2].source: "secretsmanager:" is not secretsmanager:<secret id or ARN> or ssm:<parameter name>`,
		`c.yaml:11: secrets.registries[2]: host public.ecr.aws is also served by the ecr section`,
		`c.yaml:12: secrets.registries[3].name: "Bad Name" is not a name (lower-case letters, digits, - and _)`,
		`c.yaml:12: secrets.registries[3].kind: "quay" is not ngc, dockerhub or generic`,
		`c.yaml:13: secrets.registries[4]: host auth.docker.io is also served by secrets registry "hub"`,
		`c.yaml:13: secrets.registries[4]: host registry-1.docker.io is also served by secrets registry "hub"`,
		`c.yaml:15: verify.probe_images[0]: "nvcr.io/nvidia/cuda:12" is not <registry host>#<repository>:<tag> (as enroot names an image)`,
		`c.yaml:15: verify.probe_images[1]: "nvcr.io#cuda" names no tag: write <repository>:<tag>`,
	}
	if err == nil {
		t.Fatal("accepted")
	}
	got := err.Error()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in\n%s", w, got)
		}
	}
}

// Every host gets a credentials line; more than MaxRegistryHosts of them
// could outgrow what the agent reads back from its own file, so the config
// is refused at the line of the list, naming the count. A login or host too
// long for a netrc line that leaves room for a secret is refused too.
func TestRegistryHostsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("ecr:\n  public: true\n  registries:\n")
	for i := range 126 {
		fmt.Fprintf(&b, "    - %012d.dkr.ecr.us-east-1.amazonaws.com\n", i)
	}
	ok := b.String()
	if _, err := Parse("c.yaml", []byte(ok)); err != nil {
		t.Fatalf("127 hosts: %v", err)
	}
	ok += "secrets:\n  registries:\n    - {name: ngc, kind: ngc, source: \"ssm:/n\"}\n"
	_, err := Parse("c.yaml", []byte(ok))
	if err == nil || !strings.Contains(err.Error(), "c.yaml:132: secrets.registries: the ecr and secrets sections name 129 registry hosts, more than the 128") {
		t.Fatalf("129 hosts: %v", err)
	}
	long := "secrets:\n  registries:\n    - {name: g, kind: generic, login: " + strings.Repeat("u", 256) + ", hosts: [" + strings.Repeat("a", 250) + ".example.com], source: \"ssm:/g\"}\n"
	_, err = Parse("c.yaml", []byte(long))
	if err == nil || !strings.Contains(err.Error(), "c.yaml:3: secrets.registries[0].login: is 256 bytes, more than 255") ||
		!strings.Contains(err.Error(), "at most 253 bytes") {
		t.Fatalf("long login and host: %v", err)
	}
}
