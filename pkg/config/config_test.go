package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEmptyConfigIsDefaults(t *testing.T) {
	for _, in := range []string{"", "# nothing\n", "---\n"} {
		c, err := Parse("config.yaml", []byte(in))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if c.Enroot.Version != "4.1.2" || c.ECR.RefreshInterval.D() != 6*time.Hour || c.Verify.Listen != "127.0.0.1:9464" {
			t.Fatalf("%q: defaults lost: %+v", in, c)
		}
	}
}

func TestFiveMistakesAllReported(t *testing.T) {
	in := `enroot:
  version: "3.4.1"
  colour: blue
pyxis:
  slurm_prefix: opt/slurm
ecr:
  registries:
    - 123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example
  refresh_interval: 6x
verify:
  listen: 9464
`
	_, err := Parse("config.yaml", []byte(in))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v, want Errors", err)
	}
	want := []string{
		`config.yaml:2: enroot.version: "3.4.1" is older than 3.5.0, the first enroot that can authenticate to ECR`,
		`config.yaml:3: enroot.colour: unknown key (known: checksums, conf, flavor, hooks, install, require_checksums, source, version, version_policy)`,
		`config.yaml:5: pyxis.slurm_prefix: "opt/slurm" is not an absolute path`,
		`config.yaml:8: ecr.registries[0]: "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example" is not an ECR registry host (<12-digit account>.dkr.ecr.<region>.amazonaws.com)`,
		`config.yaml:9: ecr.refresh_interval: "6x" is not a duration (write it like 6h or 90m)`,
		`config.yaml:11: verify.listen: "9464" is not host:port`,
	}
	if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}

func TestTypeErrors(t *testing.T) {
	in := "enroot:\n  install: maybe\n  conf: [a, b]\necr:\n  registries: 123456789012.dkr.ecr.us-east-1.amazonaws.com\ncredentials:\n  files:\n    - {path: /x, mode: \"0999\"}\n"
	_, err := Parse("c.yaml", []byte(in))
	want := []string{
		`c.yaml:2: enroot.install: "maybe" is not a boolean (use true or false)`,
		`c.yaml:3: enroot.conf: expected a mapping, found a list`,
		`c.yaml:5: ecr.registries: expected a list, found a single value`,
		`c.yaml:8: credentials.files[0].mode: "0999" is not a file mode (write it in octal, like "0600")`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Fatalf("got:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}

func TestOverridesMergeIntoDefaults(t *testing.T) {
	in := "enroot:\n  conf: {ENROOT_SQUASH_OPTIONS: -comp zstd}\necr:\n  registries: [123456789012.dkr.ecr.eu-west-1.amazonaws.com]\n  refresh_interval: 3h\ncredentials:\n  files: [{path: /root/.config/enroot/.credentials, mode: 0600}]\n"
	c, err := Parse("c.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if c.Enroot.Conf["ENROOT_SQUASH_OPTIONS"] != "-comp zstd" || c.Enroot.Version != "4.1.2" {
		t.Fatalf("enroot: %+v", c.Enroot)
	}
	if r := c.ECR.Registries[0]; r.Account != "123456789012" || r.Region != "eu-west-1" || c.ECR.RefreshInterval.D() != 3*time.Hour {
		t.Fatalf("ecr: %+v", c.ECR)
	}
	if m := c.Credentials.Files[0].Mode; m.FileMode() != 0o600 {
		t.Fatalf("mode %v", m)
	}
}

func TestSyntaxError(t *testing.T) {
	_, err := Parse("c.yaml", []byte("ecr:\n  registries: [\n"))
	if err == nil || err.Error() != "c.yaml:2: did not find expected node content" {
		t.Fatalf("err = %v", err)
	}
}

func TestRoot(t *testing.T) {
	if got := Root("/tmp/r").Path("/etc/enroot/enroot.conf"); got != "/tmp/r/etc/enroot/enroot.conf" {
		t.Fatal(got)
	}
	if got := Root("").Path("/etc//x"); got != "/etc/x" {
		t.Fatal(got)
	}
}

// FuzzParse holds the loader to its promise on any input: no panic, and
// every error names its file and line (make fuzz runs it; the seeds are in
// testdata/fuzz/FuzzParse).
func FuzzParse(f *testing.F) {
	f.Add("enroot: {version: 4.1.2}\necr: {registries: [123456789012.dkr.ecr.us-east-1.amazonaws.com]}\n")
	f.Add("a: &x {b: 1}\nc: *x\n")
	f.Fuzz(checkLocated)
}

func TestEnrootConfKeys(t *testing.T) {
	in := "enroot:\n  conf:\n    ENROOT_CACHE_PATH: /var/enroot/cache\n    FOO: bar\n    https_proxy: http://p:3128\n    HTTPS_PROXY: http://p:3128\n    NVIDIA_DRIVER_CAPABILITIES: all\n    ENROOT_TEMP_PATH: \"\"\n    SSL_CERT_FILE: \"a\\nb\"\n"
	_, err := Parse("c.yaml", []byte(in))
	want := []string{
		`c.yaml:4: enroot.conf.FOO: enroot does not read this key`,
		`c.yaml:6: enroot.conf.HTTPS_PROXY: enroot does not read this key`,
		`c.yaml:9: enroot.conf.SSL_CERT_FILE: the value must be a single line`,
	}
	if err == nil {
		t.Fatal("accepted")
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != len(want) {
		t.Fatalf("got:\n%v", err)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("line %d: %q, want prefix %q", i, got[i], want[i])
		}
	}
}

func TestVerifyKeys(t *testing.T) {
	c, err := Parse("c.yaml", []byte("verify:\n  cache_ttl: 2s\n  drain_on_failure: true\n  node_name: queue1-st-p5-1\n"))
	if err != nil || c.Verify.CacheTTL.D() != 2*time.Second || !c.Verify.DrainOnFailure || c.Verify.NodeName != "queue1-st-p5-1" || c.Verify.Interval.D() != time.Minute {
		t.Fatalf("%+v %v", c.Verify, err)
	}
	_, err = Parse("c.yaml", []byte("verify:\n  listen: \"127.0.0.1:\"\n  cache_ttl: 1h\n  interval: 1s\n  timeout: 2m\n  node_name: a b\n"))
	want := []string{
		`c.yaml:2: verify.listen: "127.0.0.1:" is not host:port`,
		`c.yaml:3: verify.cache_ttl: 1h0m0s is outside 0s..5m`,
		`c.yaml:4: verify.interval: 1s is outside 10s..1h`,
		`c.yaml:5: verify.timeout: 2m0s is outside 1s..50s (Slurm kills a HealthCheckProgram after 60s)`,
		`c.yaml:6: verify.node_name: "a b" is not a Slurm node name`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Fatalf("got:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}
