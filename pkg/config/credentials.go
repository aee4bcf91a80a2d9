package config

import (
	"strconv"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/lazyre"
)

// Credentials says where registry credentials are written and for whom.
type Credentials struct {
	// EnrootConfigPath is the node-local directory that enroot.conf points
	// ENROOT_CONFIG_PATH at, so every user's enroot reads the .credentials the
	// agent keeps there. Empty disables the shared file.
	EnrootConfigPath string `yaml:"enroot_config_path"`
	// Group, when set, narrows the shared file to root:<group> mode 0640.
	Group string           `yaml:"group"`
	Files []CredentialFile `yaml:"files"`
}

// CredentialFile is an extra netrc file kept like the default one.
type CredentialFile struct {
	Path  string `yaml:"path"`
	Owner string `yaml:"owner"`
	Group string `yaml:"group"`
	Mode  Mode   `yaml:"mode"`
}

// DefaultEnrootConfigPath is on tmpfs, so tokens never reach a disk.
const DefaultEnrootConfigPath = "/run/enroot-agent/enroot-config"

func defaultCredentials() Credentials {
	return Credentials{EnrootConfigPath: DefaultEnrootConfigPath}
}

// principal is a user or group name, or a numeric id. Directory services
// name them more freely than useradd: SSSD's fully qualified
// "hpc-users@corp.example.com", Active Directory's "Domain Users", winbind's
// "CORP\hpc". What no name may hold is kept out: the ':' and ',' of the
// passwd and group formats, a leading '-' (an option to getent), control
// characters, and more than 256 bytes.
var principal = lazyre.New(`^[A-Za-z0-9_]([A-Za-z0-9_.@\\ $-]{0,254}[A-Za-z0-9_.@\\$-])?$`)

func (p *problems) validateCredentials(c *Credentials) {
	switch {
	case c.EnrootConfigPath != "":
		p.absolute("credentials.enroot_config_path", c.EnrootConfigPath)
	case len(c.Files) == 0:
		p.addf("credentials.enroot_config_path", "is empty and credentials.files lists nothing: no user's enroot would get ECR credentials")
	}
	if c.Group != "" && !principal.MatchString(c.Group) {
		p.addf("credentials.group", "%q is not a group name or id", c.Group)
	}
	seen := map[string]bool{}
	for i := range c.Files {
		f := &c.Files[i]
		path := "credentials.files[" + strconv.Itoa(i) + "]"
		p.absolute(path+".path", f.Path)
		if seen[f.Path] {
			p.addf(path+".path", "%s is listed twice", f.Path)
		}
		seen[f.Path] = true
		for _, kv := range [][2]string{{".owner", f.Owner}, {".group", f.Group}} {
			if !principal.MatchString(kv[1]) {
				p.addf(path+kv[0], "%q is not a user or group name or id", kv[1])
			}
		}
		// A token file anyone can write lets anyone redirect pulls; one
		// anyone can read hands out the token: the shared file is the only
		// place where world-readable is the documented choice.
		if f.Mode.FileMode()&0o022 != 0 || f.Mode.FileMode()&0o7000 != 0 {
			p.addf(path+".mode", "%s is writable by group or others, or has special bits: a credentials file must not be", f.Mode)
		}
	}
}

// defaultFiles fills what each credentials.files entry leaves out, before
// validation: a mode is "left out" when the file had no line for it.
func (p *problems) defaultFiles(c *Credentials) {
	for i := range c.Files {
		defaultFile(&c.Files[i], p.lines["credentials.files["+strconv.Itoa(i)+"].mode"] != 0)
	}
}

// defaultFile fills what the file entry leaves out: root:root, mode 0600.
func defaultFile(f *CredentialFile, modeSet bool) {
	if f.Owner == "" {
		f.Owner = "root"
	}
	if f.Group == "" {
		f.Group = "root"
	}
	if !modeSet {
		f.Mode = 0o600
	}
}

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

// kindHosts are the hosts a well-known kind needs, in the order enroot
// asks them; nil for a kind with none of its own. NGCLogin is the fixed
// login NGC expects.
func kindHosts(kind string) []string {
	switch kind {
	case KindNGC:
		return []string{"nvcr.io", "authn.nvidia.com"}
	case KindDockerHub:
		return []string{"auth.docker.io", "registry-1.docker.io"}
	}
	return nil
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
	if h := kindHosts(s.Kind); h != nil {
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

// secretName is a metrics label and a log field: short and plain.
var secretName = lazyre.New(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// maxLogin and maxHost bound a netrc line's fixed part (a DNS name is at
// most 253 bytes), so a line keeps over 3500 bytes for the secret.
const maxLogin, maxHost = 255, 253

// bareHost is a DNS name as enroot and curl match netrc entries: no scheme,
// port or path.
var bareHost = lazyre.New(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)

func (p *problems) secretRegistry(path string, r *SecretRegistry) {
	if !secretName.MatchString(r.Name) {
		p.addf(path+".name", "%q is not a name (lower-case letters, digits, - and _)", r.Name)
	}
	switch r.Kind {
	case KindNGC:
		if r.Login != "" && r.Login != NGCLogin {
			p.addf(path+".login", "NGC's login is always %s: leave login out", NGCLogin)
		}
	case KindDockerHub, KindGeneric:
		if r.Login == "" {
			p.addf(path+".login", "is required for kind %s (the user the token belongs to)", r.Kind)
		}
	default:
		p.addf(path+".kind", "%q is not ngc, dockerhub or generic", r.Kind)
	}
	if strings.ContainsAny(r.Login, " \t\r\n\"#") || strings.Contains(r.Login, "\x00") {
		p.addf(path+".login", "holds characters a netrc line cannot carry")
	}
	if len(r.Login) > maxLogin {
		p.addf(path+".login", "is %d bytes, more than %d: its netrc lines would leave little room for the secret", len(r.Login), maxLogin)
	}
	switch {
	case r.Kind == KindGeneric && len(r.Hosts) == 0:
		p.addf(path+".hosts", "lists no host: name the registry hosts the secret logs in to")
	case r.Kind != KindGeneric && len(r.Hosts) > 0:
		p.addf(path+".hosts", "is only for kind generic: kind %s has its own hosts", r.Kind)
	}
	for _, h := range r.Hosts {
		if !bareHost.MatchString(h) || len(h) > maxHost {
			p.addf(path+".hosts", "%q is not a bare host name (no scheme, port or path; lower case; at most 253 bytes)", h)
		}
	}
	store, id := SourceOf(r.Source)
	if (store != "secretsmanager" && store != "ssm") || id == "" {
		p.addf(path+".source", "%q is not secretsmanager:<secret id or ARN> or ssm:<parameter name>", r.Source)
	}
}
