package imageref

import (
	"fmt"
	"strings"
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

// maxURI bounds what is parsed at all: an image name is short.
const maxURI = 1024

// ParseURI reads a docker:// URI as Pyxis hands it to the importer
// (docker://[USER@][REGISTRY#]IMAGE[:TAG][@DIGEST], or Docker's
// REGISTRY/IMAGE form). A bare REGISTRY#IMAGE[:TAG] is read as docker://.
// Anything else (dockerd://, podman://, a squashfs path) is not cacheable.
//
// The grammar is enroot's (docker.sh _parse_uri), written as these regular
// expressions there; the code below matches exactly what they match
// (FuzzParseURIIsTheGrammar checks it against them) without compiling
// them in every importer's start:
//
//	digest  @sha256:[[:alnum:]]+$            cut off first
//	tag     :[[:alnum:]._-]+$                then this
//	user    ^[[:alnum:]_.!~*'()%;:&=+$,-]+@  then this, when the only @
//	enroot  ^([^#/@]+)#([a-z0-9/._-]+)$      REGISTRY#IMAGE
//	docker  ^(?:([^/#@]+)/)?([a-z0-9/._-]+)$ [FIRST/]IMAGE
//	host    ^[a-zA-Z0-9.-]+(:[0-9]{1,5})?$   the registry, when named
func ParseURI(uri string) (Image, error) {
	im, _, err := ParseReference(uri)
	return im, err
}

// ParseReference is ParseURI with what enroot asks the registry for: the
// URI's digest when it pins one (a tag beside it is ignored, as enroot
// does), else its tag, else latest.
func ParseReference(uri string) (Image, string, error) {
	if len(uri) > maxURI {
		return Image{}, "", fmt.Errorf("%q is longer than %d bytes: not an image name", cut(uri), maxURI)
	}
	rest, ok := strings.CutPrefix(uri, "docker://")
	if !ok && (strings.Contains(uri, "://") || !strings.Contains(uri, "#")) {
		return Image{}, "", fmt.Errorf("%q is not a docker:// image: only registry images are cached", cut(uri))
	}
	rest, digest := cutSuffix(rest, "@sha256:", alnum)
	rest, tag := cutSuffix(rest, ":", tagByte)
	if i := strings.IndexByte(rest, '@'); i > 0 && all(rest[:i], userByte) && strings.Count(rest, "@") == 1 {
		rest = rest[i+1:]
	}
	im, ok := match(rest)
	if !ok || (im.Registry != "" && !host(im.Registry)) {
		return Image{}, "", fmt.Errorf("%q is not an image name enroot can import", cut(uri))
	}
	switch {
	case digest != "":
		return im, "sha256:" + digest, nil
	case tag != "":
		return im, tag, nil
	}
	return im, "latest", nil
}

// match reads REGISTRY#IMAGE or [FIRST/]IMAGE.
func match(rest string) (Image, bool) {
	if reg, repo, ok := strings.Cut(rest, "#"); ok && reg != "" && !strings.ContainsAny(reg, "/@") && repo != "" && all(repo, repoByte) {
		return Image{Registry: reg, Sep: "#", Repo: repo}, true
	}
	if first, repo, ok := strings.Cut(rest, "/"); ok && first != "" && !strings.ContainsAny(first, "#@") && repo != "" && all(repo, repoByte) {
		return dockerImage(first, repo), true
	}
	if rest != "" && all(rest, repoByte) {
		return dockerImage("", rest), true
	}
	return Image{}, false
}

// cutSuffix cuts the last sep and what follows it off s when what follows
// is one or more bytes of class: the regular expression sep[class]+$ when
// class lacks a byte of sep (then no earlier sep can start a match). It
// returns what is left and what followed sep ("" when nothing was cut).
func cutSuffix(s, sep string, class func(byte) bool) (string, string) {
	if i := strings.LastIndex(s, sep); i >= 0 && len(s) > i+len(sep) && all(s[i+len(sep):], class) {
		return s[:i], s[i+len(sep):]
	}
	return s, ""
}

// host is a registry host: [a-zA-Z0-9.-]+ with an optional :port of 1 to 5
// digits.
func host(s string) bool {
	name, port, hasPort := strings.Cut(s, ":")
	return name != "" && all(name, hostByte) && (!hasPort || len(port) >= 1 && len(port) <= 5 && all(port, digit))
}

func all(s string, class func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !class(s[i]) {
			return false
		}
	}
	return true
}

// The byte classes of the grammar; [[:alnum:]] is ASCII in it, as here.
func digit(c byte) bool    { return '0' <= c && c <= '9' }
func lower(c byte) bool    { return 'a' <= c && c <= 'z' }
func alnum(c byte) bool    { return digit(c) || lower(c) || 'A' <= c && c <= 'Z' }
func tagByte(c byte) bool  { return alnum(c) || strings.IndexByte("._-", c) >= 0 }
func userByte(c byte) bool { return alnum(c) || strings.IndexByte("_.!~*'()%;:&=+$,-", c) >= 0 }
func repoByte(c byte) bool { return digit(c) || lower(c) || strings.IndexByte("/._-", c) >= 0 }
func hostByte(c byte) bool { return alnum(c) || c == '.' || c == '-' }

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
