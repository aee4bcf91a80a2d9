package config

import (
	"strconv"
	"strings"
	"time"
)

// Secrets lists registries whose credentials are a static secret (an NGC
// API key, a Docker Hub access token, a Harbor robot's password) kept in
// AWS Secrets Manager or SSM Parameter Store and read with the node's role.
type Secrets struct {
	Registries []SecretRegistry `yaml:"registries"`
	// RefreshInterval is how often every secret is read again (SIGHUP and
	// apply read them too), so a rotation reaches the file within it.
	RefreshInterval Duration `yaml:"refresh_interval"`
	// MaxAge is how long the last good value is served while it can no
	// longer be read (store unreachable, a value refused); a secret deleted
	// from its store is withdrawn at once.
	MaxAge Duration `yaml:"max_age"`
}

// SecretRegistry is one registry served from a secret.
type SecretRegistry struct {
	// Name labels the registry in errors, logs and metrics.
	Name string `yaml:"name"`
	// Kind decides which netrc lines the secret becomes: ngc (nvcr.io and
	// authn.nvidia.com, login $oauthtoken), dockerhub (auth.docker.io and
	// registry-1.docker.io) or generic (Hosts).
	Kind  string   `yaml:"kind"`
	Login string   `yaml:"login"`
	Hosts []string `yaml:"hosts"`
	// Source is secretsmanager:<secret id or ARN> or ssm:<parameter name>.
	Source string `yaml:"source"`
}

// Secret registry kinds.
const (
	KindNGC       = "ngc"
	KindDockerHub = "dockerhub"
	KindGeneric   = "generic"
)

// KindHosts are the hosts each well-known kind needs, in the order enroot
// asks them; NGCLogin is the fixed login NGC expects.
var KindHosts = map[string][]string{
	KindNGC:       {"nvcr.io", "authn.nvidia.com"},
	KindDockerHub: {"auth.docker.io", "registry-1.docker.io"},
}

// NGCLogin is literal: enroot does not evaluate a login field.
const NGCLogin = "$oauthtoken"

func defaultSecrets() Secrets {
	return Secrets{RefreshInterval: Duration(time.Hour), MaxAge: Duration(24 * time.Hour)}
}

// SourceOf splits a source into its store and the secret's name there.
func SourceOf(src string) (store, id string) {
	store, id, _ = strings.Cut(src, ":")
	return store, id
}

// HostsOf lists the hosts the registry's lines are written for.
func (s SecretRegistry) HostsOf() []string {
	if h, ok := KindHosts[s.Kind]; ok {
		return h
	}
	return s.Hosts
}

// LoginOf is the login written on the registry's lines.
func (s SecretRegistry) LoginOf() string {
	if s.Kind == KindNGC {
		return NGCLogin
	}
	return s.Login
}

func (p *problems) validateSecrets(s *Secrets, ecrHosts map[string]bool) {
	p.between("secrets.refresh_interval", s.RefreshInterval, time.Minute, 24*time.Hour, "")
	p.between("secrets.max_age", s.MaxAge, s.RefreshInterval.D(), 7*24*time.Hour, " (at least secrets.refresh_interval)")
	names, hosts := map[string]bool{}, map[string]string{}
	for i := range s.Registries {
		r := &s.Registries[i]
		path := "secrets.registries[" + strconv.Itoa(i) + "]"
		p.secretRegistry(path, r)
		if names[r.Name] {
			p.addf(path+".name", "%q is used twice", r.Name)
		}
		names[r.Name] = true
		for _, h := range r.HostsOf() {
			if other, dup := hosts[h]; dup {
				p.addf(path, "host %s is also served by secrets registry %q", h, other)
			} else if ecrHosts[h] {
				p.addf(path, "host %s is also served by the ecr section", h)
			}
			hosts[h] = r.Name
		}
	}
}

// MaxRegistryHosts bounds the hosts the agent writes credentials lines for.
// Each line is at most 4095 bytes (what enroot's curl reads, netrc.MaxLine
// in pkg/credentials/netrc), so 128 of them fill at most half of the 1 MiB
// the agent reads back from a credentials file: the agent can never
// write a file it would then refuse to read, and half is left to the lines
// an admin adds.
const MaxRegistryHosts = 128

// registryHosts counts every host the credentials files get a line for:
// the ECR registries (the node's own when none is listed), ECR Public, and
// each secrets registry's hosts.
func (p *problems) registryHosts(c *Config) {
	n := max(len(c.ECR.Registries), 1)
	if c.ECR.Public {
		n++
	}
	for _, r := range c.Secrets.Registries {
		n += len(r.HostsOf())
	}
	if n > MaxRegistryHosts {
		path := "secrets.registries"
		if len(c.Secrets.Registries) == 0 {
			path = "ecr.registries"
		}
		p.addf(path, "the ecr and secrets sections name %d registry hosts, more than the %d whose credentials lines a credentials file can hold", n, MaxRegistryHosts)
	}
}
