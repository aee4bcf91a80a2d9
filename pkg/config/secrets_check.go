package config

import (
	"regexp"
	"strings"
)

// secretName is a metrics label and a log field: short and plain.
var secretName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// maxLogin and maxHost bound a netrc line's fixed part (a DNS name is at
// most 253 bytes), so a line keeps over 3500 bytes for the secret.
const maxLogin, maxHost = 255, 253

// bareHost is a DNS name as enroot and curl match netrc entries: no scheme,
// port or path.
var bareHost = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)

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
