package config

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// located matches an error that says where: file:line: something.
var located = regexp.MustCompile(`^c\.yaml:[1-9][0-9]*: \S`)

// parseErr parses in and returns its error's lines, failing when it parsed.
func parseErr(t *testing.T, in string) []string {
	t.Helper()
	_, err := Parse("c.yaml", []byte(in))
	if err == nil {
		t.Fatalf("accepted:\n%s", in)
	}
	return strings.Split(err.Error(), "\n")
}

// A path with .. would leave --root (Root.Path joins it lexically) and is
// not where it says anyway; every configured path must be clean.
func TestDotDotPathsRejected(t *testing.T) {
	in := "state_dir: /../../../../tmp/elsewhere\ncache_dir: /var/cache/x/\npyxis:\n  libdir: /usr/local/lib/../slurm\n" +
		"  args: {runtime_path: /run/../pyxis}\ncredentials:\n  enroot_config_path: /run/a/./b\n  files:\n    - {path: /root/../etc/x}\n" +
		"enroot:\n  conf: {ENROOT_DATA_PATH: \"/run/enroot/../../etc/user-$(id -u)\"}\n"
	got := parseErr(t, in)
	for _, want := range []string{
		`c.yaml:1: state_dir: "/../../../../tmp/elsewhere" has a .. element`,
		`c.yaml:2: cache_dir: "/var/cache/x/" is not a clean path (write it as "/var/cache/x")`,
		`c.yaml:4: pyxis.libdir: "/usr/local/lib/../slurm" has a .. element`,
		`c.yaml:5: pyxis.args.runtime_path: "/run/../pyxis" has a .. element`,
		`c.yaml:7: credentials.enroot_config_path: "/run/a/./b" is not a clean path`,
		`c.yaml:9: credentials.files[0].path: "/root/../etc/x" has a .. element`,
		`c.yaml:11: enroot.conf.ENROOT_DATA_PATH: "/run/enroot/../../etc/user-$(id -u)" has a .. element`,
	} {
		if !hasPrefixLine(got, want) {
			t.Errorf("missing %q in:\n%s", want, strings.Join(got, "\n"))
		}
	}
	if r := Root("/tmp/r").Path("/../../etc/shadow"); r != "/tmp/r/etc/shadow" {
		t.Errorf("Root.Path left the root: %s", r)
	}
}

func hasPrefixLine(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// Duplicate keys, a second document and an impossible port are mistakes an
// admin must hear about, each with its line.
func TestConfigThatShouldNotBeAccepted(t *testing.T) {
	for in, want := range map[string]string{
		"state_dir: /var/lib/a\nstate_dir: /var/lib/b\n":                    `c.yaml:2: state_dir: is set twice (first on line 1)`,
		"enroot:\n  conf:\n    ENROOT_X: a\n    ENROOT_X: b\n":              `c.yaml:4: enroot.conf.ENROOT_X: is set twice (first on line 3)`,
		"ecr:\n  refresh_interval: 6h\n---\necr:\n  refresh_interval: 1h\n": `c.yaml:3: a second YAML document`,
		"verify:\n  listen: 127.0.0.1:99999\n":                              `c.yaml:2: verify.listen: "127.0.0.1:99999" is not host:port`,
		"verify:\n  listen: 127.0.0.1:http\n":                               `c.yaml:2: verify.listen:`,
	} {
		if got := parseErr(t, in); len(got) != 1 || !strings.HasPrefix(got[0], want) {
			t.Errorf("%q:\n got %q\nwant prefix %q", in, got, want)
		}
	}
}

// Every config error says file:line:, syntax errors included, and a long
// value is cut to a readable length.
func TestEveryErrorHasALine(t *testing.T) {
	huge := strings.Repeat("x", 5<<20)
	for in, want := range map[string]string{
		"enroot: [\n":                                    `c.yaml:1: did not find expected node content`,
		"ecr:\n  registries: [a\n  b: c\n":               `c.yaml:`,
		"ecr:\n  refresh_interval: \xff\xfe\n":           `c.yaml:2: invalid`,
		"state_dir: /a\ncache_dir: /b\x00\n":             `c.yaml:2: `,
		"state_dir: *nothere\n":                          `c.yaml:1: unknown anchor`,
		"- a\n- b\n":                                     `c.yaml:1: expected a mapping, found a list`,
		"just a scalar\n":                                `c.yaml:1: expected a mapping`,
		"\n\nverify: {listen: " + huge + "}\n":           `c.yaml:3: verify.listen: "xxxx`,
		"enroot:\n  conf:\n    " + huge[:1000] + ": 1\n": `c.yaml:3: enroot.conf.xxxx`,
	} {
		got := parseErr(t, in)
		for _, line := range got {
			if !located.MatchString(line) {
				t.Errorf("%.40q: error without file:line: %.200q", in, line)
			}
			if len(line) > 600 {
				t.Errorf("%.40q: error of %d bytes", in, len(line))
			}
		}
		if !strings.HasPrefix(got[0], want) {
			t.Errorf("%.40q: got %.200q, want prefix %q", in, got[0], want)
		}
	}
}

// checkLocated is what the fuzz target holds every input to.
func checkLocated(t *testing.T, in string) {
	_, err := Parse("c.yaml", []byte(in))
	if err == nil {
		return
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("%q: error is not an Errors: %v", in, err)
	}
	for _, e := range errs {
		if e.Line <= 0 || !located.MatchString(e.Error()) {
			t.Fatalf("%q: error without a line: %q", in, e.Error())
		}
	}
}
