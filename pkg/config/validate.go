package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// validate records every problem in c; it never stops at the first. The
// defaults of credentials.files entries are filled first: they depend on
// which keys the file set, and are then checked like the rest.
func (p *problems) validate(c *Config) {
	p.defaultFiles(&c.Credentials)
	p.absolute("state_dir", c.StateDir)
	p.absolute("cache_dir", c.CacheDir)
	p.validateEnroot(&c.Enroot)
	p.validatePyxis(&c.Pyxis)
	p.validateECR(&c.ECR)
	p.validateCredentials(&c.Credentials)
	p.validateSecrets(&c.Secrets, c.ECR.hosts())
	p.registryHosts(c)
	p.validateVerify(&c.Verify)
	p.validateConverge(&c.Converge)
	p.validateImages(c)
}

func (p *problems) absolute(path, value string) {
	if msg := absolutePath(value); msg != "" {
		p.addf(path, "%q %s", value, msg)
	}
}

// absolutePath says what is wrong with a configured host path. A ..
// element is refused outright: --root joins paths lexically, so
// /../../tmp would leave the root, and such a path is not where it says.
func absolutePath(v string) string {
	switch {
	case !filepath.IsAbs(v):
		return "is not an absolute path"
	case hasDotDot(v):
		return "has a .. element: write the path it means"
	case filepath.Clean(v) != v:
		return fmt.Sprintf("is not a clean path (write it as %q)", clip(filepath.Clean(v), maxQuoted))
	}
	return ""
}

func hasDotDot(v string) bool { return slices.Contains(strings.Split(v, "/"), "..") }

func (p *problems) source(path, value string) {
	u, err := url.Parse(value)
	if err != nil || u.Scheme == "" {
		p.addf(path, "%q is not a URL (https://, http://, s3:// or file://)", value)
		return
	}
	switch u.Scheme {
	case "https", "http", "s3", "file":
	default:
		p.addf(path, "scheme %q is not supported (https, http, s3 or file)", u.Scheme)
	}
}

func (p *problems) digest(path, value string) {
	if !sha256Hex.MatchString(strings.ToLower(value)) {
		p.addf(path, "%q is not a sha256 digest (64 hex characters)", value)
	}
}
