package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/enroot-agent/enroot-agent/internal/lazyre"
	"go.yaml.in/yaml/v3"
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

// Registry is an ECR registry host, parsed and checked when the config loads
// (decodeNode, below, decodes it).
type Registry struct {
	Host      string
	Account   string
	Region    string
	FIPS      bool
	DualStack bool
	Suffix    string
	// RoleARN, when set, is assumed (STS AssumeRole) for this registry's
	// token alone: a registry in another account whose repository policy
	// does not trust the node's own role.
	RoleARN string
}

func (r Registry) String() string { return r.Host }

// ecrHost follows amazon-ecr-credential-helper's pattern: a 12-digit account,
// dkr.ecr (or dual-stack dkr-ecr), an optional -fips, a region, and one of the
// partitions' DNS suffixes. Anchored at both ends, so look-alikes such as
// "...amazonaws.com.evil.example" do not match.
var ecrHost = lazyre.New(`^(\d{12})\.dkr([.-])ecr(-fips)?\.([a-z0-9][a-z0-9-]*)\.` +
	`(amazonaws\.com|amazonaws\.com\.cn|amazonaws\.eu|on\.aws|on\.amazonwebservices\.com\.cn|` +
	`sc2s\.sgov\.gov|c2s\.ic\.gov|cloud\.adc-e\.uk|csp\.hci\.ic\.gov)$`)

// dualStackSuffix says which suffixes belong to the dual-stack (dkr-ecr)
// names; mixing the two forms names a host that does not exist.
func dualStackSuffix(suffix string) bool {
	return suffix == "on.aws" || suffix == "on.amazonwebservices.com.cn"
}

// ParseRegistry checks that host is an ECR registry host name. A scheme, a
// path or a port is an error: enroot matches the credentials by bare host.
func ParseRegistry(host string) (Registry, error) {
	switch {
	case host == "":
		return Registry{}, fmt.Errorf("registry host is empty")
	case strings.Contains(host, "://"), strings.ContainsAny(host, "/:#@ "):
		return Registry{}, fmt.Errorf("%q is not a bare registry host (write it like 123456789012.dkr.ecr.us-east-1.amazonaws.com, with no scheme, port or path)", host)
	}
	m := ecrHost.FindStringSubmatch(strings.ToLower(host))
	if m == nil || (m[2] == "-") != dualStackSuffix(m[5]) {
		return Registry{}, fmt.Errorf("%q is not an ECR registry host (<12-digit account>.dkr.ecr.<region>.amazonaws.com)", host)
	}
	return Registry{
		Host:      m[0],
		Account:   m[1],
		FIPS:      m[3] != "",
		Region:    m[4],
		DualStack: m[2] == "-",
		Suffix:    m[5],
	}, nil
}

// NodeRegistry names the account's private registry in region, for a node
// that discovered both from its instance identity document.
func NodeRegistry(account, region string) (Registry, error) {
	suffix := "amazonaws.com"
	for _, p := range partitionSuffix {
		if strings.HasPrefix(region, p.prefix) {
			suffix = p.suffix
		}
	}
	return ParseRegistry(account + ".dkr.ecr." + region + "." + suffix)
}

// partitionSuffix maps a region prefix to its partition's DNS suffix; every
// other region is in the aws partition. A slice, not a map: the compiler
// lays it out in the binary, where a map is built by the package's init.
var partitionSuffix = []struct{ prefix, suffix string }{
	{"cn-", "amazonaws.com.cn"},
	{"us-iso-", "c2s.ic.gov"},
	{"us-isob-", "sc2s.sgov.gov"},
	{"eu-isoe-", "cloud.adc-e.uk"},
	{"us-isof-", "csp.hci.ic.gov"},
	{"eusc-", "amazonaws.eu"},
}

// roleARN is an IAM role in any partition: arn:<partition>:iam::<account>:role/<path/name>.
var roleARN = lazyre.New(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$`)

// decodeNode accepts the plain host (how ecr.registries was always written)
// or a mapping {host, role_arn} for a registry in another account whose
// pulls need a role assumed there.
func (r *Registry) decodeNode(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		parsed, err := ParseRegistry(n.Value)
		if err != nil {
			return err
		}
		*r = parsed
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("expected a registry host or a mapping {host, role_arn}")
	}
	var host, role string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: %s: expected a single value", v.Line, k.Value)
		}
		switch k.Value {
		case "host":
			host = v.Value
		case "role_arn":
			role = v.Value
		default:
			return fmt.Errorf("line %d: unknown key %q (known: host, role_arn)", k.Line, k.Value)
		}
	}
	parsed, err := ParseRegistry(host)
	if err != nil {
		return err
	}
	if role != "" && !roleARN.MatchString(role) {
		return fmt.Errorf("role_arn %q is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)", clip(role, maxQuoted))
	}
	parsed.RoleARN = role
	*r = parsed
	return nil
}
