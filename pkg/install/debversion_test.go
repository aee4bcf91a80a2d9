package install

import (
	"os/exec"
	"strings"
	"testing"
)

// The comparator must order versions exactly as dpkg does; the real
// `dpkg --compare-versions` is the oracle.
func TestCompareDebVersionsAgreesWithDpkg(t *testing.T) {
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Fatal("dpkg not found: install the Debian package dpkg")
	}
	versions := []string{"1.0", "1.0-1", "1.0-1.1", "1:0.9", "0:1.0", "1.0~rc1", "1.0~~", "1.0~", "1.0a", "1.0+b1",
		"1.00", "1.0.0", "4.1.2-1", "4.1.10-1", "4.2.0-1", "3.4.1-1", "1.5", "1.6-2.1", "1.5.1", "1.0-1~bpo1", "2.0-0ubuntu1",
		"20221122+ds-2", "1:4.13+dfsg1-1", "5.2.15-2+b2", "9", "10", "1.0.a", "1.0-a"}
	for _, a := range versions {
		for _, b := range versions {
			got := compareDebVersions(a, b)
			want := 0
			for op, w := range map[string]int{"lt": -1, "gt": 1} {
				if exec.Command("dpkg", "--compare-versions", a, op, b).Run() == nil {
					want = w
				}
			}
			if got != want {
				t.Errorf("compare(%q, %q) = %d, dpkg says %d", a, b, got, want)
			}
		}
	}
}

func TestParseDebDeps(t *testing.T) {
	got := parseDebDeps("bash (>= 4.2), curl, gawk | mawk, jq (>=1.5), libc6:any (<< 3) [amd64] <!nocheck>, foo (> 1), ,")
	var s []string
	for _, d := range got {
		s = append(s, d.String())
	}
	want := "bash (>= 4.2); curl; gawk | mawk; jq (>= 1.5); libc6 (<< 3); foo (>= 1)"
	if strings.Join(s, "; ") != want {
		t.Fatalf("got  %s\nwant %s", strings.Join(s, "; "), want)
	}
}

// Alternatives, versions, virtual packages, half-installed packages and
// packages installed together, on literal control stanzas.
func TestMissingDebDeps(t *testing.T) {
	batch := parseDebStanzas("Package: enroot\nVersion: 4.1.2-1\nDepends: bash (>= 4.2), gawk | mawk, jq (>= 1.5), awk-any, mail-transport (>= 2), bsdmainutils\n\n" +
		"Package: enroot+caps\nVersion: 4.1.2-1\nDepends: enroot (= 4.1.2-1), libcap2-bin\n")
	installed := parseDebStanzas("Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\n\n" +
		"Package: mawk\nStatus: install ok installed\nVersion: 1.3.4\nProvides: awk-any\n\n" +
		"Package: jq\nStatus: install ok installed\nVersion: 1.4-1\n\n" +
		"Package: postfix\nStatus: install ok installed\nVersion: 3.7\nProvides: mail-transport\n\n" +
		"Package: bsdmainutils\nStatus: install ok unpacked\nVersion: 12.1.8\n\n" +
		"Package: enroot\nStatus: install ok installed\nVersion: 3.4.1-1\n\n" +
		"Package: libcap2-bin\nStatus: deinstall ok config-files\nVersion: 1:2.66-4\n")
	var got []string
	for _, m := range missingDebDeps(batch, installed) {
		got = append(got, m.String()+" -> "+m.Install)
	}
	want := []string{
		"jq (>= 1.5) (needed by enroot 4.1.2-1) -> jq",
		"mail-transport (>= 2) (needed by enroot 4.1.2-1) -> mail-transport", // an unversioned Provides
		"bsdmainutils (needed by enroot 4.1.2-1) -> bsdmainutils",
		"libcap2-bin (needed by enroot+caps 4.1.2-1) -> libcap2-bin",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseRPMFailedDeps(t *testing.T) {
	out := "rpm: RPM should not be used directly\nerror: Failed dependencies:\n\tjq >= 1.5 is needed by enroot-4.1.2-1.el8.x86_64\n\tlibcap is needed by enroot+caps-4.1.2-1.el8.x86_64\n"
	got := parseRPMFailedDeps(out)
	if len(got) != 2 || got[0].String() != "jq >= 1.5 (needed by enroot-4.1.2-1.el8.x86_64)" || got[0].Install != "jq" || got[1].Install != "libcap" {
		t.Fatalf("%+v", got)
	}
}
