package imageref

import (
	"fmt"
	"strings"

	"github.com/enroot-agent/enroot-agent/internal/lazyre"
)

// Digest is a sha256 manifest digest, "sha256:<64 lower-case hex>", as
// ParseDigest accepts it.
type Digest string

// Encoded is the digest's 64 hex digits, without "sha256:".
func (d Digest) Encoded() string { return strings.TrimPrefix(string(d), sha256Prefix) }

func (d Digest) String() string { return string(d) }

const sha256Prefix = "sha256:"

// ParseDigest accepts a sha256 digest, as `enroot digest` prints it (a
// trailing newline is fine): "sha256:" and 64 lower-case hex digits, the
// only form the OCI spec gives sha256 and the one registries answer. Other
// algorithms are refused, since the cache names its files by the sha256.
// It checks the form only; the daemon checks that the registry's manifest
// hashes to it.
func ParseDigest(s string) (Digest, error) {
	t := strings.TrimSpace(s)
	hex, ok := strings.CutPrefix(t, sha256Prefix)
	if !ok || !lowerHex(hex, 64) {
		return "", fmt.Errorf("%q is not a sha256 manifest digest (sha256: and 64 lower-case hex digits)", cut(s))
	}
	return Digest(t), nil
}

// lowerHex says whether s is n digits of 0-9a-f.
func lowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// cut keeps an error readable when a user sends a megabyte of digest.
func cut(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}

// DockerHub is the registry enroot pulls from when a name has none.
const DockerHub = "registry-1.docker.io"

// Image is a registry image as enroot names it, without tag or digest.
type Image struct {
	Registry string // "" for Docker Hub's short forms
	Sep      string // "#" (enroot's form) or "/" (Docker's)
	Repo     string
}

// enroot's URI grammar (docker.sh _parse_uri), without the credentials
// selector USER@ and without a tag or digest, which are cut off first.
var (
	userRE   = lazyre.New(`^[[:alnum:]_.!~*'()%;:&=+$,-]+@`)
	enrootRE = lazyre.New(`^([^#/@]+)#([a-z0-9/._-]+)$`)
	dockerRE = lazyre.New(`^(?:([^/#@]+)/)?([a-z0-9/._-]+)$`)
	tagRE    = lazyre.New(`:[[:alnum:]._-]+$`)
	atDigest = lazyre.New(`@sha256:[[:alnum:]]+$`)
	hostRE   = lazyre.New(`^[a-zA-Z0-9.-]+(:[0-9]{1,5})?$`)
)

// maxURI bounds what is parsed at all: an image name is short.
const maxURI = 1024

// ParseURI reads a docker:// URI as Pyxis hands it to the importer
// (docker://[USER@][REGISTRY#]IMAGE[:TAG][@DIGEST], or Docker's
// REGISTRY/IMAGE form). A bare REGISTRY#IMAGE[:TAG] is read as docker://.
// Anything else (dockerd://, podman://, a squashfs path) is not cacheable.
func ParseURI(uri string) (Image, error) {
	if len(uri) > maxURI {
		return Image{}, fmt.Errorf("%q is longer than %d bytes: not an image name", cut(uri), maxURI)
	}
	rest, ok := strings.CutPrefix(uri, "docker://")
	if !ok && (strings.Contains(uri, "://") || !strings.Contains(uri, "#")) {
		return Image{}, fmt.Errorf("%q is not a docker:// image: only registry images are cached", cut(uri))
	}
	rest = tagRE.ReplaceAllString(atDigest.ReplaceAllString(rest, ""), "")
	if m := userRE.FindString(rest); m != "" && strings.Count(rest, "@") == 1 {
		rest = rest[len(m):]
	}
	im, ok := match(rest)
	if !ok || (im.Registry != "" && !hostRE.MatchString(im.Registry)) {
		return Image{}, fmt.Errorf("%q is not an image name enroot can import", cut(uri))
	}
	return im, nil
}

func match(rest string) (Image, bool) {
	if m := enrootRE.FindStringSubmatch(rest); m != nil {
		return Image{Registry: m[1], Sep: "#", Repo: m[2]}, true
	}
	if m := dockerRE.FindStringSubmatch(rest); m != nil && m[2] != "" {
		return dockerImage(m[1], m[2]), true
	}
	return Image{}, false
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

// Pinned is the image at exactly d as a URI, with no USER@.
func (im Image) Pinned(d Digest) string {
	return "docker://" + im.Registry + im.Sep + im.Repo + "@" + string(d)
}

func (im Image) String() string { return im.Registry + im.Sep + im.Repo }

// Host is the registry enroot talks to (Docker Hub for a name without one).
func (im Image) Host() string {
	if im.Registry == "" {
		return DockerHub
	}
	return im.Registry
}

// Path is the repository path on Host, as the registry API names it:
// Docker Hub's official images live under library/.
func (im Image) Path() string {
	if im.Registry == "" && !strings.Contains(im.Repo, "/") {
		return "library/" + im.Repo
	}
	return im.Repo
}

// Source names where the image comes from, host and path: two requests
// share an import only when they name the same source.
func (im Image) Source() string { return im.Host() + "/" + im.Path() }
