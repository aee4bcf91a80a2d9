package cluster

import "testing"

func TestMirrorFromDeb822(t *testing.T) {
	const sources = `Types: deb
# a comment
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main
`
	for _, tc := range []struct{ data, suite, want string }{
		{sources, "bookworm", "http://mirror.example/debian"},
		{sources, "bookworm-security", "http://security.example/debian-security"},
		{sources, "trixie", ""},
		// A deb-src stanza or a disabled one is not a mirror of packages.
		{"Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n", "bookworm", ""},
		{"Enabled: no\nTypes: deb\nURIs: http://off.example/debian\nSuites: bookworm\n\nTypes: deb\nURIs: http://on.example/d\nSuites: bookworm\n",
			"bookworm", "http://on.example/d"},
	} {
		got, ok := mirrorFromDeb822(tc.data, tc.suite)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("mirrorFromDeb822(%q, %s) = %q, %v; want %q", tc.data, tc.suite, got, ok, tc.want)
		}
	}
}

func TestMirrorFromList(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{"deb http://mirror.example/debian bookworm main\n", "http://mirror.example/debian"},
		{"# deb http://old.example/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://m.example/d bookworm main contrib\n",
			"http://m.example/d"},
		{"deb http://m.example/d bookworm-updates main\ndeb-src http://m.example/d bookworm main\n", ""},
	} {
		got, ok := mirrorFromList(tc.data, "bookworm")
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("mirrorFromList(%q) = %q, %v; want %q", tc.data, got, ok, tc.want)
		}
	}
}
