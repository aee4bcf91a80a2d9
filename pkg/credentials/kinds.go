package credentials

import (
	"strings"

	"github.com/enroot-agent/enroot-agent/pkg/config"
)

// The registry kinds besides private ECR (ECR Public, secrets) share the
// refresher's held map, netrc writer, expiry rule and status with it: each
// is a set of hosts holding one Token whose Login says how enroot logs in.

func (t Token) login() string {
	if t.Login == "" {
		return "AWS"
	}
	return t.Login
}

// otherHosts are the hosts of ECR Public and of the secrets registries, in
// config order; they follow the private ECR registries in every file.
func otherHosts(cfg config.Config) []string {
	var out []string
	if cfg.ECR.Public {
		out = append(out, config.PublicHost)
	}
	for _, s := range cfg.Secrets.Registries {
		out = append(out, s.HostsOf()...)
	}
	return out
}

// ServedHosts lists every host the config keeps a line for; the node's own
// registry, found at run time when ecr.registries is empty, is not among them.
func ServedHosts(cfg config.Config) []string {
	var out []string
	for _, g := range cfg.ECR.Registries {
		out = append(out, g.Host)
	}
	return append(out, otherHosts(cfg)...)
}

// served are the hosts whose lines may stay; nil (the private registries
// unknown) lets only time decide.
func (r *Refresher) served(regs []config.Registry, known bool) []string {
	if !known {
		return nil
	}
	var out []string
	for _, g := range regs {
		out = append(out, g.Host)
	}
	return append(out, otherHosts(r.cfg)...)
}

// owns says whether a netrc entry is the agent's to replace or remove: an
// ECR or ECR Public line with login AWS (so a registry dropped from the
// config loses its line), or a configured secrets registry's host with its
// login. A password starting with $ is a user's command, never ours.
func (r *Refresher) owns(e Entry) bool {
	if strings.HasPrefix(e.Password.Reveal(), "$") {
		return false
	}
	if e.Login == "AWS" && (isECRHost(e.Host) || e.Host == config.PublicHost) {
		return true
	}
	for _, s := range r.cfg.Secrets.Registries {
		for _, h := range s.HostsOf() {
			if h == e.Host && e.Login == s.LoginOf() {
				return true
			}
		}
	}
	return false
}
