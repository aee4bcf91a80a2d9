package config

import (
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
