package imageref

import (
	"strings"
	"testing"
)

func TestParseURIAndPin(t *testing.T) {
	d := Digest("sha256:" + "ab12000000000000000000000000000000000000000000000000000000000000")
	for uri, want := range map[string]string{
		"docker://123456789012.dkr.ecr.us-east-1.amazonaws.com#ml/hello:v1":  "docker://123456789012.dkr.ecr.us-east-1.amazonaws.com#ml/hello@" + string(d),
		"docker://AWS@123456789012.dkr.ecr.us-east-1.amazonaws.com#ml/hello": "docker://123456789012.dkr.ecr.us-east-1.amazonaws.com#ml/hello@" + string(d),
		"docker://nvcr.io#nvidia/pytorch:24.01-py3@sha256:" + d.Encoded():    "docker://nvcr.io#nvidia/pytorch@" + string(d),
		"docker://registry.example.com:5000/team/app:1.2":                    "docker://registry.example.com:5000/team/app@" + string(d),
		"docker://ubuntu:24.04":                                    "docker://ubuntu@" + string(d),
		"docker://library/ubuntu":                                  "docker://library/ubuntu@" + string(d),
		"123456789012.dkr.ecr.us-east-1.amazonaws.com#ml/hello:v1": "docker://123456789012.dkr.ecr.us-east-1.amazonaws.com#ml/hello@" + string(d),
		"docker://host.example.com:5000#a/b:c":                     "docker://host.example.com:5000#a/b@" + string(d),
	} {
		im, err := ParseURI(uri)
		if err != nil {
			t.Errorf("%s: %v", uri, err)
			continue
		}
		if got := im.Pinned(d); got != want {
			t.Errorf("%s pinned: %s, want %s", uri, got, want)
		}
	}
	for _, bad := range []string{"dockerd://ubuntu", "/tmp/x.sqsh", "docker://", "docker://a#B/C", "podman://x",
		"docker://a b#x/y", "docker://" + strings.Repeat("a", 2000) + "#x"} {
		if _, err := ParseURI(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func TestSourceNamesHostAndPath(t *testing.T) {
	for uri, want := range map[string]string{
		"docker://ubuntu:24.04":                  "registry-1.docker.io/library/ubuntu",
		"docker://nvidia/cuda":                   "registry-1.docker.io/nvidia/cuda",
		"docker://nvcr.io#nvidia/pytorch:24.01":  "nvcr.io/nvidia/pytorch",
		"docker://127.0.0.1:5000#x/evil:latest":  "127.0.0.1:5000/x/evil",
		"docker://registry.example.com/team/app": "registry.example.com/team/app",
	} {
		im, err := ParseURI(uri)
		if err != nil || im.Source() != want {
			t.Errorf("%s: source %q, %v; want %q", uri, im.Source(), err, want)
		}
	}
}

// The form only, on literal strings: "sha256:" and 64 lower-case hex
// digits, as go-digest and the OCI spec have it (the daemon hashes the
// manifest against it).
func TestParseDigest(t *testing.T) {
	hex := strings.Repeat("0123456789abcdef", 4)
	for in, want := range map[string]string{
		"sha256:" + hex:            "sha256:" + hex,
		"sha256:" + hex + "\n":     "sha256:" + hex,
		" \tsha256:" + hex + " \n": "sha256:" + hex,
	} {
		d, err := ParseDigest(in)
		if err != nil || string(d) != want || d.String() != want || d.Encoded() != hex {
			t.Errorf("%q: %q (encoded %q), %v; want %q", in, d, d.Encoded(), err, want)
		}
	}
	for _, bad := range []string{"sha256:abc", "md5:" + hex, "sha256:" + hex + "/../x", "sha256:" + strings.ToUpper(hex),
		"sha512:" + hex + hex, "", strings.Repeat("x", 1<<20), "sha256:", "sha256:" + hex[1:], "sha256:" + hex + "0",
		"sha256:" + hex[1:] + "g", "sha256:" + hex[1:] + "A", "SHA256:" + hex, "sha256 :" + hex, "sha256::" + hex[1:],
		hex, "sha256:" + hex[:32] + " " + hex[33:], "sha256:" + hex[1:] + "\x00", "sha256:" + hex + "\nsha256:" + hex,
		"xsha256:" + hex} {
		if _, err := ParseDigest(bad); err == nil {
			t.Errorf("digest %q accepted", cut(bad))
		} else if len(err.Error()) > 400 {
			t.Errorf("error not cut: %d bytes", len(err.Error()))
		}
	}
}

// What enroot digest asks the registry for, read from literal URIs.
func TestParseReference(t *testing.T) {
	pin := "sha256:" + strings.Repeat("ab", 32)
	for uri, want := range map[string]string{
		"docker://123456789012.dkr.ecr.us-east-1.amazonaws.com#ml/hello:v1":         "v1",
		"docker://AWS@123456789012.dkr.ecr.us-east-1.amazonaws.com#ml/hello":        "latest",
		"docker://nvcr.io#nvidia/pytorch:24.01-py3@" + pin:                          pin,
		"docker://nvcr.io#nvidia/pytorch@" + pin:                                    pin,
		"docker://registry.example.com:5000/team/app":                               "latest",
		"docker://registry.example.com:5000/team/app:1.2":                           "1.2",
		"docker://ubuntu:24.04":                                                     "24.04",
		"docker://user:pass@host.example.com:5000#a/b:c":                            "c",
		"123456789012.dkr.ecr.us-east-1.amazonaws.com#ml/hello:v1.2_rc-3":           "v1.2_rc-3",
		"docker://123456789012.dkr.ecr.us-east-1.amazonaws.com#ml/hello@sha256:abc": "sha256:abc",
	} {
		_, ref, err := ParseReference(uri)
		if err != nil || ref != want {
			t.Errorf("%s: %q, %v; want %q", uri, ref, err, want)
		}
	}
	if _, ref, err := ParseReference("docker://a#B/C"); err == nil || ref != "" {
		t.Errorf("a bad name gave %q, %v", ref, err)
	}
}
