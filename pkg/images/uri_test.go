package images

import "testing"

func TestParseURIAndPin(t *testing.T) {
	d := Digest("sha256:" + "ab12000000000000000000000000000000000000000000000000000000000000")
	for uri, want := range map[string]string{
		"docker://123456789012.dkr.ecr.us-east-1.amazonaws.com#ml/hello:v1":  "docker://123456789012.dkr.ecr.us-east-1.amazonaws.com#ml/hello@" + string(d),
		"docker://AWS@123456789012.dkr.ecr.us-east-1.amazonaws.com#ml/hello": "docker://123456789012.dkr.ecr.us-east-1.amazonaws.com#ml/hello@" + string(d),
		"docker://nvcr.io#nvidia/pytorch:24.01-py3@sha256:" + d.Hex():        "docker://nvcr.io#nvidia/pytorch@" + string(d),
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
	for _, bad := range []string{"dockerd://ubuntu", "/tmp/x.sqsh", "docker://", "docker://a#B/C", "podman://x"} {
		if _, err := ParseURI(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
	if _, err := ParseDigest("sha256:" + d.Hex() + "\n"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"sha256:abc", "md5:" + d.Hex(), "sha256:" + d.Hex() + "/../x"} {
		if _, err := ParseDigest(bad); err == nil {
			t.Errorf("digest %q accepted", bad)
		}
	}
}
