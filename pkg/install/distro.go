package install

import (
	"fmt"
	"slices"
	"strings"
)

// Family is the packaging world a distribution belongs to.
type Family string

const (
	RPM Family = "rpm" // Amazon Linux, RHEL, Rocky, Alma: dnf or yum
	Deb Family = "deb" // Ubuntu, Debian: apt
)

// Platform is what decides which Enroot assets and which package manager a
// node uses.
type Platform struct {
	ID        string // os-release ID: amzn, rocky, ubuntu, ...
	VersionID string // os-release VERSION_ID: 2, 2023, 9.4, 22.04
	Name      string // PRETTY_NAME, for messages
	Family    Family
	// Frontend is the repository tool: dnf, yum or apt-get.
	Frontend string
	Arch     string // rpm arch: x86_64, aarch64
	DebArch  string // deb arch: amd64, arm64
}

// Detect reads a platform from the content of /etc/os-release and the output
// of `uname -m`. It is pure, so every supported distribution is a table test.
func Detect(osRelease, machine string) (Platform, error) {
	kv := ParseOSRelease(osRelease)
	p := Platform{ID: kv["ID"], VersionID: kv["VERSION_ID"], Name: kv["PRETTY_NAME"]}
	if p.Name == "" {
		p.Name = strings.TrimSpace(firstOf(kv["NAME"], p.ID) + " " + p.VersionID)
	}
	like := append([]string{p.ID}, strings.Fields(kv["ID_LIKE"])...)
	switch {
	case p.ID == "":
		return p, fmt.Errorf("/etc/os-release has no ID: cannot tell the distribution")
	case hasAny(like, "rhel", "fedora", "centos", "amzn"):
		p.Family, p.Frontend = RPM, "dnf"
		if (p.ID == "amzn" && p.VersionID == "2") || strings.HasPrefix(p.VersionID, "7") && p.ID != "amzn" {
			p.Family, p.Frontend = RPM, "yum" // Amazon Linux 2 and EL7 have no dnf
		}
	case hasAny(like, "debian", "ubuntu"):
		p.Family, p.Frontend = Deb, "apt-get"
	default:
		return p, fmt.Errorf("distribution %q is not supported: Enroot ships .rpm packages for dnf/yum distributions (Amazon Linux, RHEL, Rocky) and .deb packages for apt distributions (Ubuntu)", p.Name)
	}
	switch strings.TrimSpace(machine) {
	case "x86_64", "amd64":
		p.Arch, p.DebArch = "x86_64", "amd64"
	case "aarch64", "arm64":
		p.Arch, p.DebArch = "aarch64", "arm64"
	default:
		return p, fmt.Errorf("architecture %q is not supported: Enroot ships x86_64 and aarch64 packages", strings.TrimSpace(machine))
	}
	return p, nil
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func hasAny(have []string, want ...string) bool {
	for _, w := range want {
		if slices.Contains(have, w) {
			return true
		}
	}
	return false
}

// ParseOSRelease reads os-release(5): KEY=value lines, values optionally in
// single or double quotes with backslash escapes; comments and junk skipped.
func ParseOSRelease(data string) map[string]string {
	kv := map[string]string{}
	for _, line := range strings.Split(data, "\n") {
		line = strings.TrimSpace(line)
		key, val, ok := strings.Cut(line, "=")
		if !ok || key == "" || strings.HasPrefix(line, "#") || strings.ContainsAny(key, " \t") {
			continue
		}
		kv[key] = unquote(val)
	}
	return kv
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		v = v[1 : len(v)-1]
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}
