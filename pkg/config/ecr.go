package config

import (
	"strconv"
	"time"
)

// ECR lists the registries to keep credentials for and when to refresh them.
type ECR struct {
	Registries []Registry `yaml:"registries"`
	// Public keeps a token for ECR Public (public.ecr.aws), from the
	// ecr-public API in us-east-1: authenticated pulls are rate-limited
	// far less than anonymous ones.
	Public              bool     `yaml:"public"`
	RefreshInterval     Duration `yaml:"refresh_interval"`
	RefreshBeforeExpiry Duration `yaml:"refresh_before_expiry"`
	// RefreshJitter is the most each interval is stretched at random, so
	// nodes booted together drift apart; left out, a tenth of the interval.
	// Only a node with no IPv4 address uses it: the others refresh at the
	// fixed slot their address gives them (pkg/credentials, schedule.go).
	RefreshJitter Duration `yaml:"refresh_jitter"`
	// RetryInitial and RetryMax bound the backoff after a failed refresh.
	RetryInitial Duration `yaml:"retry_initial"`
	RetryMax     Duration `yaml:"retry_max"`
	// Timeout bounds one refresh of one region, SDK retries included.
	Timeout Duration `yaml:"timeout"`
}

func defaultECR() ECR {
	return ECR{
		RefreshInterval:     Duration(6 * time.Hour),
		RefreshBeforeExpiry: Duration(2 * time.Hour),
		RefreshJitter:       Duration(36 * time.Minute),
		RetryInitial:        Duration(30 * time.Second),
		RetryMax:            Duration(15 * time.Minute),
		Timeout:             Duration(2 * time.Minute),
	}
}

// PublicHost is ECR Public's registry; its token comes from us-east-1 only.
const PublicHost = "public.ecr.aws"

// hosts are the hosts the ecr section serves (the node's own registry,
// found at run time, aside).
func (e ECR) hosts() map[string]bool {
	out := map[string]bool{}
	for _, r := range e.Registries {
		out[r.Host] = true
	}
	if e.Public {
		out[PublicHost] = true
	}
	return out
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
	p.between("ecr.refresh_interval", e.RefreshInterval, time.Minute, 11*time.Hour, " (an ECR token lives 12h)")
	p.between("ecr.refresh_before_expiry", e.RefreshBeforeExpiry, time.Minute, 11*time.Hour, " (an ECR token lives 12h)")
	// Left out, the jitter follows the interval: a tenth of it.
	if _, set := p.lines["ecr.refresh_jitter"]; !set {
		e.RefreshJitter = e.RefreshInterval / 10
	}
	p.between("ecr.refresh_jitter", e.RefreshJitter, 0, e.RefreshInterval.D()/2, " (at most half of ecr.refresh_interval)")
	p.between("ecr.retry_initial", e.RetryInitial, time.Second, time.Hour, "")
	p.between("ecr.retry_max", e.RetryMax, e.RetryInitial.D(), 2*time.Hour, " (at least ecr.retry_initial)")
	p.between("ecr.timeout", e.Timeout, 5*time.Second, 30*time.Minute, "")
}

func (p *problems) between(path string, d Duration, lo, hi time.Duration, why string) {
	if d.D() < lo || d.D() > hi {
		p.addf(path, "%s is outside %s..%s%s", d, short(lo), short(hi), why)
	}
}

// short prints 6h rather than 6h0m0s, as an admin would write it.
func short(d time.Duration) string {
	s := d.String()
	for _, z := range []string{"m0s", "h0m"} {
		if len(s) > len(z) && s[len(s)-len(z):] == z {
			s = s[:len(s)-len(z)+1]
		}
	}
	return s
}
