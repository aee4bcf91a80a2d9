package config

import (
	"fmt"
	"regexp"
	"strings"
)

// repoPath is a repository name as the distribution spec allows it.
var repoPath = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$`)

var tagOrDigest = regexp.MustCompile(`^([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|sha256:[0-9a-f]{64})$`)

// ParseImage splits an enroot image name, <host>#<repo>:<tag> or
// <host>#<repo>@sha256:<hex>, into its parts.
func ParseImage(img string) (host, repo, ref string, err error) {
	host, rest, ok := strings.Cut(img, "#")
	if !ok || !bareHost.MatchString(host) {
		return "", "", "", fmt.Errorf("%q is not <registry host>#<repository>:<tag> (as enroot names an image)", clip(img, maxQuoted))
	}
	repo, ref, ok = strings.Cut(rest, "@")
	if !ok {
		i := strings.LastIndexByte(rest, ':')
		if i < 0 {
			return "", "", "", fmt.Errorf("%q names no tag: write <repository>:<tag>", clip(img, maxQuoted))
		}
		repo, ref = rest[:i], rest[i+1:]
	}
	if !repoPath.MatchString(repo) || !tagOrDigest.MatchString(ref) {
		return "", "", "", fmt.Errorf("%q is not <registry host>#<repository>:<tag>", clip(img, maxQuoted))
	}
	return host, repo, ref, nil
}
