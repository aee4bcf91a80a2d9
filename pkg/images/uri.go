// Package images is the shared, poison-proof image cache behind Pyxis's
// importer interface: the daemon side (a unix socket that job users reach,
// imports by pinned digest as an unprivileged user, a per-digest lock that
// works across the nodes sharing a cache directory, holds, eviction,
// prepull) and the importer side that Pyxis runs as the job's user.
package images

import (
	"fmt"
	"regexp"
	"strings"
)

// Digest is a manifest digest, "sha256:<64 hex>".
type Digest string

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// ParseDigest accepts exactly what `enroot digest` prints.
func ParseDigest(s string) (Digest, error) {
	s = strings.TrimSpace(s)
	if !digestRE.MatchString(s) {
		return "", fmt.Errorf("%q is not a sha256 manifest digest", s)
	}
	return Digest(s), nil
}

// Hex is the digest's 64 hex characters, the cache's file name.
func (d Digest) Hex() string { return strings.TrimPrefix(string(d), "sha256:") }

// Image is a registry image as enroot names it.
type Image struct {
	Registry string // "" for Docker Hub's short forms
	Sep      string // "#" (enroot's form) or "/" (Docker's)
	Repo     string
}

// enroot's URI grammar (docker.sh _parse_uri), without the credentials
// selector USER@ and without a tag or digest, which are cut off first.
var (
	userRE   = regexp.MustCompile(`^[[:alnum:]_.!~*'()%;:&=+$,-]+@`)
	enrootRE = regexp.MustCompile(`^([^#/@]+)#([a-z0-9/._-]+)$`)
	dockerRE = regexp.MustCompile(`^(?:([^/#@]+)/)?([a-z0-9/._-]+)$`)
	tagRE    = regexp.MustCompile(`:[[:alnum:]._-]+$`)
	atDigest = regexp.MustCompile(`@sha256:[[:alnum:]]+$`)
)

// ParseURI reads a docker:// URI as Pyxis hands it to the importer
// (docker://[USER@][REGISTRY#]IMAGE[:TAG][@DIGEST], or Docker's
// REGISTRY/IMAGE form). A bare REGISTRY#IMAGE[:TAG] is read as docker://.
// Anything else (dockerd://, podman://, a squashfs path) is not cacheable.
func ParseURI(uri string) (Image, error) {
	rest, ok := strings.CutPrefix(uri, "docker://")
	if !ok && strings.Contains(uri, "://") {
		return Image{}, fmt.Errorf("%q is not a docker:// image: only registry images are cached", uri)
	}
	if !ok && !strings.Contains(uri, "#") {
		return Image{}, fmt.Errorf("%q is not a docker:// image: only registry images are cached", uri)
	}
	rest = tagRE.ReplaceAllString(atDigest.ReplaceAllString(rest, ""), "")
	if m := userRE.FindString(rest); m != "" && strings.Count(rest, "@") == 1 {
		rest = rest[len(m):]
	}
	if m := enrootRE.FindStringSubmatch(rest); m != nil {
		return Image{Registry: m[1], Sep: "#", Repo: m[2]}, nil
	}
	if m := dockerRE.FindStringSubmatch(rest); m != nil && m[2] != "" {
		return dockerImage(m[1], m[2]), nil
	}
	return Image{}, fmt.Errorf("%q is not an image name enroot can import", uri)
}

// dockerImage applies Docker's rule: a first component with a dot or a
// colon is a registry, anything else is a Docker Hub namespace.
func dockerImage(first, rest string) Image {
	if first == "" {
		return Image{Repo: rest}
	}
	if strings.ContainsAny(first, ".:") {
		return Image{Registry: first, Sep: "/", Repo: rest}
	}
	return Image{Repo: first + "/" + rest}
}

// Pinned is the URI the daemon imports: the image at exactly d, with the
// agent's own credentials (no USER@).
func (im Image) Pinned(d Digest) string {
	return "docker://" + im.Registry + im.Sep + im.Repo + "@" + string(d)
}

func (im Image) String() string { return im.Registry + im.Sep + im.Repo }
