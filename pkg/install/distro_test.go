package install

import (
	"strings"
	"testing"
)

const (
	al2 = `NAME="Amazon Linux"
VERSION="2"
ID="amzn"
ID_LIKE="centos rhel fedora"
VERSION_ID="2"
PRETTY_NAME="Amazon Linux 2"
`
	al2023 = `NAME="Amazon Linux"
VERSION="2023"
ID="amzn"
ID_LIKE="fedora"
VERSION_ID="2023"
PLATFORM_ID="platform:al2023"
PRETTY_NAME="Amazon Linux 2023.6.20241212"
`
	rocky9 = `NAME="Rocky Linux"
VERSION="9.4 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.4"
PRETTY_NAME="Rocky Linux 9.4 (Blue Onyx)"
`
	ubuntu2204 = `PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
ID=ubuntu
ID_LIKE=debian
`
	ubuntu2404 = `PRETTY_NAME="Ubuntu 24.04.1 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
ID=ubuntu
ID_LIKE=debian
`
	debian12 = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"
	alpine   = "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.0\n"
)

func TestDetect(t *testing.T) {
	cases := []struct {
		name, osr, machine string
		want               Platform
		err                string
	}{
		{"al2", al2, "x86_64", Platform{ID: "amzn", VersionID: "2", Family: RPM, Frontend: "yum", Arch: "x86_64", DebArch: "amd64"}, ""},
		{"al2023 arm", al2023, "aarch64\n", Platform{ID: "amzn", VersionID: "2023", Family: RPM, Frontend: "dnf", Arch: "aarch64", DebArch: "arm64"}, ""},
		{"rocky9", rocky9, "x86_64", Platform{ID: "rocky", VersionID: "9.4", Family: RPM, Frontend: "dnf", Arch: "x86_64", DebArch: "amd64"}, ""},
		{"ubuntu2204", ubuntu2204, "x86_64", Platform{ID: "ubuntu", VersionID: "22.04", Family: Deb, Frontend: "apt-get", Arch: "x86_64", DebArch: "amd64"}, ""},
		{"ubuntu2404 arm", ubuntu2404, "aarch64", Platform{ID: "ubuntu", VersionID: "24.04", Family: Deb, Frontend: "apt-get", Arch: "aarch64", DebArch: "arm64"}, ""},
		{"debian12", debian12, "x86_64", Platform{ID: "debian", VersionID: "12", Family: Deb, Frontend: "apt-get", Arch: "x86_64", DebArch: "amd64"}, ""},
		{"unknown distro", alpine, "x86_64", Platform{}, `distribution "Alpine Linux 3.20.0" is not supported`},
		{"no os-release", "", "x86_64", Platform{}, "no ID"},
		{"unknown arch", ubuntu2204, "ppc64le", Platform{}, `architecture "ppc64le" is not supported`},
	}
	for _, c := range cases {
		got, err := Detect(c.osr, c.machine)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err = %v, want %q", c.name, err, c.err)
			}
			continue
		}
		got.Name = ""
		if err != nil || got != c.want {
			t.Errorf("%s: got %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
}

func TestParseOSRelease(t *testing.T) {
	kv := ParseOSRelease("# c\nID=\"rocky\"\nNAME='Rocky \\\"L\\\"'\n  VERSION_ID=9 \nbad line\n=x\n")
	if kv["ID"] != "rocky" || kv["NAME"] != `Rocky "L"` || kv["VERSION_ID"] != "9" || len(kv) != 3 {
		t.Fatalf("%q", kv)
	}
}

func FuzzDetect(f *testing.F) {
	for _, s := range []string{al2, al2023, rocky9, ubuntu2204, alpine, ""} {
		f.Add(s, "x86_64")
	}
	f.Fuzz(func(t *testing.T, osr, machine string) {
		p, err := Detect(osr, machine)
		if err == nil && (p.Family == "" || p.Arch == "" || p.DebArch == "" || p.Frontend == "") {
			t.Fatalf("incomplete platform %+v", p)
		}
	})
}
