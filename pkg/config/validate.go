package config

import (
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// minEnroot is the first enroot release that authenticates to ECR (enroot#143).
var minEnroot = [3]int{3, 5, 0}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// validate records every problem in c; it never stops at the first.
func (p *problems) validate(c *Config) {
	p.absolute("state_dir", c.StateDir)
	p.absolute("cache_dir", c.CacheDir)
	p.validateEnroot(&c.Enroot)
	p.validatePyxis(&c.Pyxis)
	p.validateECR(&c.ECR)
	p.validateCredentials(&c.Credentials)
	if _, _, err := net.SplitHostPort(c.Verify.Listen); err != nil {
		p.addf("verify.listen", "%q is not host:port", c.Verify.Listen)
	}
}

func (p *problems) validateEnroot(e *Enroot) {
	if v, ok := parseVersion(e.Version); !ok {
		p.addf("enroot.version", "%q is not a version like 4.1.2", e.Version)
	} else if less(v, minEnroot) {
		p.addf("enroot.version", "%q is older than 3.5.0, the first enroot that can authenticate to ECR", e.Version)
	}
	if e.Flavor != "caps" && e.Flavor != "plain" {
		p.addf("enroot.flavor", "%q is not caps or plain", e.Flavor)
	}
	p.source("enroot.source", e.Source)
	for name, sum := range e.Checksums {
		p.digest("enroot.checksums."+name, sum)
	}
}

func (p *problems) validatePyxis(x *Pyxis) {
	if _, ok := parseVersion(x.Version); !ok {
		p.addf("pyxis.version", "%q is not a version like 0.24.0", x.Version)
	}
	p.source("pyxis.source", x.Source)
	if x.SHA256 != "" {
		p.digest("pyxis.sha256", x.SHA256)
	}
	p.absolute("pyxis.slurm_prefix", x.SlurmPrefix)
	p.absolute("pyxis.libdir", x.Libdir)
	p.absolute("pyxis.plugstack", x.Plugstack)
}

func (p *problems) validateECR(e *ECR) {
	seen := map[string]bool{}
	for i, r := range e.Registries {
		if seen[r.Host] {
			p.addf("ecr.registries["+strconv.Itoa(i)+"]", "%s is listed twice", r.Host)
		}
		seen[r.Host] = true
	}
	// A token lives 12 hours; the interval must leave room for retries.
	if d := e.RefreshInterval.D(); d < time.Minute || d > 11*time.Hour {
		p.addf("ecr.refresh_interval", "%s is outside 1m..11h (an ECR token lives 12h)", d)
	}
	if d := e.RefreshBeforeExpiry.D(); d < time.Minute || d > 11*time.Hour {
		p.addf("ecr.refresh_before_expiry", "%s is outside 1m..11h (an ECR token lives 12h)", d)
	}
}

func (p *problems) validateCredentials(c *Credentials) {
	for i, f := range c.Files {
		p.absolute("credentials.files["+strconv.Itoa(i)+"].path", f.Path)
	}
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

// parseVersion reads "X.Y.Z" (an "X.Y" reads as X.Y.0).
func parseVersion(s string) ([3]int, bool) {
	var v [3]int
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return v, false
	}
	for i, part := range parts {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return v, false
		}
		v[i] = n
	}
	return v, true
}

func less(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}
