package config

import (
	"net/url"
	"path/filepath"
	"regexp"
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
	p.validateVerify(&c.Verify)
}

func (p *problems) absolute(path, value string) {
	if !filepath.IsAbs(value) {
		p.addf(path, "%q is not an absolute path", value)
	}
}

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
